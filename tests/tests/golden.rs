//! Golden wire hashes: fixed simulator scenarios whose every datagram (time, addresses, bytes) is
//! hashed and compared with a recorded value.
//!
//! A refactor must leave every hash unchanged: that is the proof that it changed no behaviour and
//! no wire byte. A change that alters behaviour on purpose (a new controller, a new ACK policy)
//! changes some hashes; record the new values here in the same commit and say why there.
//! `STT_GOLDEN_PRINT=1 cargo test -p stt-tests --test golden -- --nocapture` prints them.

mod common;

use std::time::Duration;

use common::*;
use stt_proto::{KeyRotationPolicy, NameAddress, NameQueueLimits, StreamMode, StreamRead};
use stt_tests::{Bottleneck, BurstLoss, Impairment, Sim};

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = stt_tests::sim::TestRng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

fn hex(h: [u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Handshake, a few custom frames both ways, a keepalive period.
fn handshake_and_frames() -> Sim {
    let (mut sim, c, s) = pair(7);
    sim.record();
    let (hc, hs) = establish(&mut sim, c, s);
    for i in 0..5u8 {
        send(&mut sim, c, hc, 0x90, &[i; 100]);
        send(&mut sim, s, hs, 0x91, &[i; 200]);
    }
    sim.run_for(Duration::from_secs(20));
    sim
}

/// 200 KB over one reliable stream through loss, bursts, reordering, duplication, corruption.
fn impaired_stream() -> Sim {
    let (mut sim, c, s) = pair(70);
    sim.default_link = Impairment {
        loss: 0.1,
        reorder: 0.1,
        reorder_window: Duration::from_millis(15),
        duplicate: 0.02,
        corrupt: 0.02,
        jitter: Duration::from_millis(3),
        burst: Some(BurstLoss { enter: 0.01, leave: 0.3, loss_in_bad: 0.8 }),
        ..Default::default()
    };
    sim.record();
    let (hc, hs) = establish(&mut sim, c, s);
    let data = pattern(200_000, 70);
    let t = transfer(&mut sim, (c, hc), (s, hs), data.clone(), 3000, Duration::from_secs(600));
    assert!(t.received == data);
    sim
}

/// Two sessions with two streams each through a 10 Mbit/s bottleneck for 3 s.
fn shared_bottleneck() -> Sim {
    let mut sim = Sim::new(64);
    let server = sim.add_node(config(), seed(9));
    let a = sim.add_node(config(), seed(1));
    let b = sim.add_node(config(), seed(2));
    sim.default_link = Impairment { delay: Duration::from_millis(25), ..Default::default() };
    sim.set_bottleneck(server, Bottleneck { rate_bps: 10_000_000, queue_bytes: 32_000 });
    sim.record();
    let (ha, hsa) = establish(&mut sim, a, server);
    let (hb, hsb) = establish(&mut sim, b, server);
    let mut ts = Vec::new();
    for (node, h, hs) in [(a, ha, hsa), (a, ha, hsa), (b, hb, hsb), (b, hb, hsb)] {
        let stream = sim.nodes[node].endpoint.session_mut(h).unwrap().open_stream(StreamMode::Reliable).unwrap();
        let t = Transfer {
            stream,
            data: pattern(4 << 20, ts.len() as u64),
            written: 0,
            chunk: 50_000,
            finished_writing: false,
            received: Vec::new(),
            got_fin: false,
        };
        ts.push((node, h, hs, t));
    }
    drive(&mut sim, Duration::from_secs(3), |sim| {
        for (node, h, hs, t) in ts.iter_mut() {
            t.pump_write(sim, *node, *h);
            t.pump_read(sim, server, *hs);
        }
        false
    });
    sim
}

/// Keys rotating every 40 frames during a 300 KB transfer with reordering.
fn key_rotation() -> Sim {
    let mut sim = Sim::new(90);
    let mut cfg = config();
    cfg.key_rotation = KeyRotationPolicy { max_frames: 40, ..Default::default() };
    cfg.key_retention = Duration::from_millis(100);
    let c = sim.add_node(cfg.clone(), seed(1));
    let s = sim.add_node(cfg, seed(2));
    sim.default_link =
        Impairment { reorder: 0.2, reorder_window: Duration::from_millis(8), duplicate: 0.02, ..Default::default() };
    sim.record();
    let (hc, hs) = establish(&mut sim, c, s);
    let data = pattern(300_000, 9);
    let t = transfer(&mut sim, (c, hc), (s, hs), data.clone(), 10_000, Duration::from_secs(120));
    assert!(t.received == data);
    sim
}

/// Named endpoints: routes and resolves under 20% loss.
fn names() -> Sim {
    let (mut sim, c, s) = pair(120);
    sim.default_link = Impairment { loss: 0.2, ..Default::default() };
    sim.record();
    let (hc, _) = establish(&mut sim, c, s);
    sim.nodes[s].endpoint.register_name(NameAddress::of("sink"), NameQueueLimits::default()).unwrap();
    sim.run_for(Duration::from_millis(500));
    for i in 0..50u32 {
        let mut m = sim.nodes[c].endpoint.session_mut(hc).unwrap();
        m.route(NameAddress::of("sink"), i.to_be_bytes().to_vec()).unwrap();
        if i % 10 == 0 {
            m.resolve(NameAddress::of("nowhere")).unwrap();
        }
        sim.flush(c);
        sim.run_for(Duration::from_millis(20));
    }
    sim.run_for(Duration::from_secs(5));
    sim
}

/// A live stream under 20% loss with jitter, read as it arrives.
fn live_stream() -> Sim {
    let (mut sim, c, s) = pair(62);
    sim.record();
    let (hc, hs) = establish(&mut sim, c, s);
    sim.default_link = Impairment { loss: 0.2, jitter: Duration::from_millis(5), ..Default::default() };
    let stream = sim.nodes[c]
        .endpoint
        .session_mut(hc)
        .unwrap()
        .open_stream(StreamMode::Live { deadline: Duration::from_millis(100) })
        .unwrap();
    let start = sim.now;
    let mut written = 0u32;
    drive(&mut sim, Duration::from_secs(4), |sim| {
        let due = ((sim.now - start).as_millis() / 20 + 1).min(200) as u32;
        while written < due {
            sim.nodes[c].endpoint.session_mut(hc).unwrap().write(stream, &[written as u8; 400]).unwrap();
            written += 1;
            sim.wake_at(start + Duration::from_millis(20) * written);
        }
        sim.flush(c);
        let mut m = sim.nodes[s].endpoint.session_mut(hs).unwrap();
        while let Ok(Some(r)) = m.read(stream) {
            if r == StreamRead::Finished {
                break;
            }
        }
        sim.flush(s);
        false
    });
    sim
}

/// The client moves to a new address in the middle of a transfer.
fn migration() -> Sim {
    let (mut sim, c, s) = pair(33);
    sim.record();
    let (hc, hs) = establish(&mut sim, c, s);
    let stream = sim.nodes[c].endpoint.session_mut(hc).unwrap().open_stream(StreamMode::Reliable).unwrap();
    let mut t = Transfer {
        stream,
        data: pattern(500_000, 3),
        written: 0,
        chunk: 20_000,
        finished_writing: false,
        received: Vec::new(),
        got_fin: false,
    };
    let mut moved = false;
    assert!(drive(&mut sim, Duration::from_secs(60), |sim| {
        t.pump_write(sim, c, hc);
        t.pump_read(sim, s, hs);
        if !moved && t.received.len() > 200_000 {
            sim.rebind(c, "10.9.9.9:5555".parse().unwrap());
            moved = true;
        }
        t.got_fin
    }));
    assert!(t.received == t.data);
    sim
}

/// A scenario, its recorded wire hash and its datagram count.
type Golden = (&'static str, fn() -> Sim, &'static str, usize);

/// Recorded (hash, datagram count) of each scenario.
const GOLDEN: &[Golden] = &[
    (
        "handshake_and_frames",
        handshake_and_frames,
        "5f3062ae153cdc196107349a62a879cd717fe37b894ff18c359d1a15bd18d4de",
        17,
    ),
    ("impaired_stream", impaired_stream, "a1f70903e09d28c4c1803cbb8d09de2f3eaf5bdf8c3e4be6810e057ffe9047c9", 298),
    ("shared_bottleneck", shared_bottleneck, "3f0c6b6473eccc1850b6e96e8d61d929ad625e15f2a16da7db971b20cd0bbfe7", 3818),
    ("key_rotation", key_rotation, "004d5fb7c068c9f27783a7b70d81cfed7ee5b34e6b8164655e0d4a6891ed94c1", 345),
    ("names", names, "0fe582b1911373f7a98482660738997f930a135ee13044a8d6cd7de6e7015ba5", 140),
    ("live_stream", live_stream, "feeeb4b4fc22105e6e3b5980e302538a7e73a60f34d322e6f521844ed6783038", 308),
    ("migration", migration, "7bfde87c1ce3140cb6628b641e9906128bd0a9a5fbf6b13cea84ec05c867d511", 540),
];

#[test]
fn every_scenario_puts_the_recorded_bytes_on_the_wire() {
    let print = std::env::var_os("STT_GOLDEN_PRINT").is_some();
    let mut mismatches = Vec::new();
    for (name, run, want_hash, want_count) in GOLDEN {
        let sim = run();
        let got = (hex(sim.wire_hash()), sim.tap.as_ref().map_or(0, Vec::len));
        if print {
            println!("    (\"{name}\", {name}, \"{}\", {}),", got.0, got.1);
        }
        if (got.0.as_str(), got.1) != (*want_hash, *want_count) {
            mismatches
                .push(format!("{name}: got {} ({} datagrams), recorded {want_hash} ({want_count})", got.0, got.1));
        }
    }
    assert!(
        mismatches.is_empty(),
        "the wire changed; if on purpose, record the new values and say why in the commit:\n{}",
        mismatches.join("\n")
    );
}
