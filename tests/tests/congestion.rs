//! Congestion control in the deterministic simulator: a 10 Mbit/s bottleneck with a 50 ms round
//! trip and a 32 KB drop-tail queue (half the bandwidth-delay product), one flow, one flow with
//! random loss, two STT flows, and STT beside a NewReno flow; STT beside a CUBIC flow with a queue
//! of one bandwidth-delay product, and one STT flow in front of a queue of four; then the
//! live-stream and harsh-loss figures. Every figure is virtual time and byte counts, so each run is
//! exact and repeatable.

mod common;

use std::time::Duration;

use common::*;
use stt_proto::congestion::CongestionFactory;
use stt_proto::{EndpointConfig, SessionHandle, StreamMode};
use stt_tests::{Bottleneck, Impairment, NodeIdx, Sim};

const RATE: u64 = 10_000_000;
const LINK: f64 = RATE as f64 / 8.0;
/// The bottleneck's usual queue: half the bandwidth-delay product.
const QUEUE: usize = 32_000;
const BASE_RTT: Duration = Duration::from_millis(50);
/// The bandwidth-delay product: 62.5 KB.
const BDP: usize = (LINK * 0.050) as usize;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn config_with_cc(cc: Option<CongestionFactory>) -> EndpointConfig {
    let mut c = config();
    if let Some(f) = cc {
        c.congestion = f;
    }
    c
}

/// What each flow delivered in the measured window, the queue's drops over the whole run, and
/// the first flow's smoothed RTT every 10 ms of the measured window.
struct Shares {
    goodput: Vec<f64>,
    drop_rate: f64,
    rtt: Vec<Duration>,
}

impl Shares {
    fn total(&self) -> f64 {
        self.goodput.iter().sum()
    }

    fn jain(&self) -> f64 {
        let n = self.goodput.len() as f64;
        self.total().powi(2) / (n * self.goodput.iter().map(|x| x * x).sum::<f64>())
    }
}

/// Runs one bulk flow per controller through the bottleneck (its queue `QUEUE` bytes); warm-up,
/// then `measure`.
fn bottleneck(
    seed: u64,
    ccs: &[Option<CongestionFactory>],
    random_loss: f64,
    warmup: Duration,
    measure: Duration,
) -> Shares {
    bottleneck_with_queue(seed, ccs, random_loss, QUEUE, warmup, measure)
}

/// [`bottleneck`] with a queue of `queue_bytes`.
fn bottleneck_with_queue(
    seed: u64,
    ccs: &[Option<CongestionFactory>],
    random_loss: f64,
    queue_bytes: usize,
    warmup: Duration,
    measure: Duration,
) -> Shares {
    let mut sim = Sim::new(seed);
    let server = sim.add_node(config(), seed_bytes(9));
    sim.default_link = Impairment { delay: BASE_RTT / 2, loss: random_loss, ..Default::default() };
    sim.set_bottleneck(server, Bottleneck { rate_bps: RATE, queue_bytes });
    let mut flows: Vec<(NodeIdx, SessionHandle, SessionHandle, Transfer)> = Vec::new();
    for (i, cc) in ccs.iter().enumerate() {
        let node = sim.add_node(config_with_cc(*cc), seed_bytes(i as u8 + 1));
        let (h, hs) = establish(&mut sim, node, server);
        let stream = sim.nodes[node].endpoint.session_mut(h).unwrap().open_stream(StreamMode::Reliable).unwrap();
        let t = Transfer {
            stream,
            data: pattern(64 << 20),
            written: 0,
            chunk: 64 << 10,
            finished_writing: false,
            received: Vec::new(),
            got_fin: false,
        };
        flows.push((node, h, hs, t));
    }
    let sent_at = |sim: &Sim| sim.nodes.iter().map(|n| n.endpoint.stats().datagrams_sent).sum::<u64>();
    let sent0 = sent_at(&sim);
    let drops0 = sim.queue_drops;
    let pump = |sim: &mut Sim, flows: &mut Vec<(NodeIdx, SessionHandle, SessionHandle, Transfer)>| {
        for (node, h, hs, t) in flows.iter_mut() {
            t.pump_write(sim, *node, *h);
            t.pump_read(sim, server, *hs);
        }
        false
    };
    drive(&mut sim, warmup, |sim| pump(sim, &mut flows));
    let before: Vec<usize> = flows.iter().map(|f| f.3.received.len()).collect();
    let (first, mut rtt, mut next_sample) = ((flows[0].0, flows[0].1), Vec::new(), sim.now);
    drive(&mut sim, measure, |sim| {
        if sim.now >= next_sample {
            rtt.extend(sim.nodes[first.0].endpoint.session(first.1).map(|s| s.path_stats().rtt));
            next_sample = sim.now + Duration::from_millis(10);
        }
        pump(sim, &mut flows)
    });
    let secs = measure.as_secs_f64();
    let goodput = flows.iter().zip(&before).map(|(f, b)| (f.3.received.len() - b) as f64 / secs).collect();
    let sent = sent_at(&sim) - sent0;
    rtt.sort();
    Shares { goodput, drop_rate: (sim.queue_drops - drops0) as f64 / sent.max(1) as f64, rtt }
}

fn seed_bytes(b: u8) -> [u8; 32] {
    [b; 32]
}

fn report(name: &str, s: &Shares) {
    let shares: Vec<String> = s.goodput.iter().map(|g| format!("{:.1}%", g / LINK * 100.0)).collect();
    println!(
        "{name}: {} of the link each, {:.1}% together, Jain {:.3}, queue drops {:.2}% of datagrams",
        shares.join(" / "),
        s.total() / LINK * 100.0,
        s.jain(),
        s.drop_rate * 100.0
    );
}

#[test]
fn one_flow_fills_the_bottleneck_without_overflowing_its_queue() {
    let s = bottleneck(1, &[None], 0.0, Duration::from_secs(2), Duration::from_secs(20));
    report("one STT flow", &s);
    assert!(s.total() >= 0.90 * LINK, "goodput {:.1}% of the link", s.total() / LINK * 100.0);
    assert!(s.drop_rate <= 0.02, "queue drops {:.2}%", s.drop_rate * 100.0);
}

#[test]
fn one_percent_random_loss_keeps_most_of_the_link() {
    let s = bottleneck(2, &[None], 0.01, Duration::from_secs(2), Duration::from_secs(20));
    report("one STT flow, 1% random loss", &s);
    assert!(s.total() >= 0.80 * LINK, "goodput {:.1}% of the link", s.total() / LINK * 100.0);
    let reno =
        bottleneck(2, &[Some(stt_proto::congestion::new_reno)], 0.01, Duration::from_secs(2), Duration::from_secs(20));
    report("one NewReno flow, 1% random loss", &reno);
    assert!(
        reno.total() < 0.80 * LINK,
        "NewReno is held back by the random loss ({:.1}%)",
        reno.total() / LINK * 100.0
    );
}

#[test]
fn two_flows_share_fairly() {
    let s = bottleneck(3, &[None, None], 0.0, Duration::from_secs(5), Duration::from_secs(30));
    report("two STT flows", &s);
    assert!(s.jain() >= 0.9, "Jain fairness {:.3}", s.jain());
    assert!(s.total() >= 0.85 * LINK, "together {:.1}% of the link", s.total() / LINK * 100.0);
}

#[test]
fn beside_a_new_reno_flow_each_gets_a_fifth_at_least() {
    let s = bottleneck(
        4,
        &[None, Some(stt_proto::congestion::new_reno)],
        0.0,
        Duration::from_secs(5),
        Duration::from_secs(30),
    );
    report("STT beside NewReno", &s);
    for (who, g) in ["STT", "NewReno"].iter().zip(&s.goodput) {
        assert!(*g >= 0.20 * LINK, "{who} got {:.1}% of the link", g / LINK * 100.0);
    }
}

#[test]
fn beside_a_cubic_flow_it_takes_half_to_twice_its_share() {
    let cubic: Option<CongestionFactory> = Some(stt_proto::congestion::cubic);
    let s = bottleneck_with_queue(5, &[cubic, None], 0.0, BDP, Duration::from_secs(5), Duration::from_secs(30));
    report("STT beside CUBIC, a queue of one bandwidth-delay product", &s);
    let ratio = s.goodput[1] / s.goodput[0];
    assert!((0.5..=2.0).contains(&ratio), "STT took {ratio:.2}x CUBIC's share");
    assert!(s.total() >= 0.85 * LINK, "together {:.1}% of the link", s.total() / LINK * 100.0);
}

#[test]
fn a_deep_queue_stays_nearly_empty() {
    let s = bottleneck_with_queue(6, &[None], 0.0, 4 * BDP, Duration::from_secs(5), Duration::from_secs(30));
    report("one STT flow, a queue of four bandwidth-delay products", &s);
    let median = s.rtt[s.rtt.len() / 2];
    let p95 = s.rtt[s.rtt.len() * 95 / 100];
    println!("  smoothed RTT: median {median:?}, 95th percentile {p95:?}, base {BASE_RTT:?}");
    assert!(median < BASE_RTT + BASE_RTT / 4, "a standing queue of {:?}", median - BASE_RTT);
    assert!(p95 < 2 * BASE_RTT, "the queue reached {:?}", p95 - BASE_RTT);
    assert!(s.total() >= 0.90 * LINK, "goodput {:.1}% of the link", s.total() / LINK * 100.0);
}

/// Virtual time the five 300 KB transfers of the harsh profile (30% loss each way, 20%
/// reordering, 5% duplication, 5% corruption) took with NewReno and the packet- and
/// time-threshold loss detection they replaced: 20.26 + 23.73 + 16.88 + 13.18 + 21.84 s.
const HARSH_BEFORE: Duration = Duration::from_millis(95_890);

#[test]
fn thirty_percent_loss_each_way_takes_under_a_tenth_of_the_old_time() {
    let mut total = Duration::ZERO;
    for seed in 0..5u64 {
        let (mut sim, c, s) = pair(600 + seed);
        let (hc, hs) = establish(&mut sim, c, s);
        sim.default_link = harsh();
        let data: Vec<u8> = (0..300_000usize).map(|i| (i * 13 + seed as usize) as u8).collect();
        let start = sim.now;
        let t = transfer(&mut sim, (c, hc), (s, hs), data.clone(), 7_000, Duration::from_secs(600));
        assert!(t.received == data, "seed {seed}: the bytes arrive intact");
        let took = sim.now - start;
        println!("harsh profile, seed {seed}: 300 KB in {took:?} of virtual time");
        total += took;
    }
    println!(
        "harsh profile: {total:?} in all, {:.1}x faster than before",
        HARSH_BEFORE.as_secs_f64() / total.as_secs_f64()
    );
    assert!(total * 10 < HARSH_BEFORE, "{total:?} is not under a tenth of {HARSH_BEFORE:?}");
}

#[test]
fn no_window_grows_while_the_sender_is_limited_by_credit() {
    let controllers: [(&str, CongestionFactory); 3] = [
        ("BBR", stt_proto::congestion::bbr),
        ("CUBIC", stt_proto::congestion::cubic),
        ("NewReno", stt_proto::congestion::new_reno),
    ];
    for (name, cc) in controllers {
        // A fast link (no bottleneck) and 1 MiB of stream credit: the credit, not the path,
        // limits the sender.
        let mut sim = Sim::new(7);
        let mut cfg = config_with_cc(Some(cc));
        cfg.stream_receive_window = 1 << 20;
        cfg.stream_send_buffer = 1 << 20;
        let c = sim.add_node(cfg.clone(), seed_bytes(1));
        let s = sim.add_node(cfg, seed_bytes(2));
        let (hc, hs) = establish(&mut sim, c, s);
        let data = pattern(32 << 20);
        let t = transfer(&mut sim, (c, hc), (s, hs), data.clone(), 256 << 10, Duration::from_secs(120));
        assert!(t.received == data);
        let window = sim.nodes[c].endpoint.session(hc).unwrap().path_stats().congestion_window;
        println!("{name}: window {window} B after 32 MiB limited by 1 MiB of credit");
        assert!(window <= 4 << 20, "{name}'s window grew to {window} B while credit held the sender to 1 MiB");
    }
}

/// The profile on which transfers used to collapse: 10% loss each way, 10% of datagrams held back
/// 0–20 ms, 2% duplicated, 1% corrupted, 5 ms each way, through a 400 Mbit/s bottleneck with a
/// 256 KiB queue in front of the receiver.
fn heavy_reordering(sim: &mut Sim, receiver: NodeIdx) {
    sim.default_link = Impairment {
        loss: 0.10,
        duplicate: 0.02,
        reorder: 0.10,
        reorder_window: Duration::from_millis(20),
        corrupt: 0.01,
        delay: Duration::from_millis(5),
        ..Default::default()
    };
    sim.set_bottleneck(receiver, Bottleneck { rate_bps: 400_000_000, queue_bytes: 256 << 10 });
}

/// Goodput (bytes per second of virtual time) of an 8 MiB transfer on the heavy-reordering
/// profile, and the longest time in a row the sender had nothing in flight (sampled every
/// millisecond).
fn heavy_reordering_transfer(seed: u64) -> (f64, Duration) {
    let (mut sim, c, s) = pair(9000 + seed);
    let (hc, hs) = establish(&mut sim, c, s);
    heavy_reordering(&mut sim, s);
    let data = pattern(8 << 20);
    let stream = sim.nodes[c].endpoint.session_mut(hc).unwrap().open_stream(StreamMode::Reliable).unwrap();
    let mut t = Transfer::new(stream, data.clone(), 64 << 10);
    let start = sim.now;
    let (mut idle_since, mut longest_idle) = (None, Duration::ZERO);
    let mut next_sample = start;
    let done = drive(&mut sim, Duration::from_secs(120), |sim| {
        t.pump_write(sim, c, hc);
        t.pump_read(sim, s, hs);
        if sim.now >= next_sample && !t.got_fin && sim.now > start + Duration::from_millis(100) {
            next_sample = sim.now + Duration::from_millis(1);
            let idle = sim.nodes[c].endpoint.session(hc).unwrap().path_stats().in_flight == 0;
            match (idle, idle_since) {
                (true, None) => idle_since = Some(sim.now),
                (false, Some(since)) => {
                    longest_idle = longest_idle.max(sim.now - since);
                    idle_since = None;
                }
                _ => {}
            }
        }
        t.got_fin
    });
    assert!(done && t.received == data, "seed {seed}: the transfer completed intact");
    ((8 << 20) as f64 / (sim.now - start).as_secs_f64(), longest_idle)
}

/// Seeds of this profile used to leave the sender blocked on credit with nothing in flight for up
/// to a second (a lost MAX_DATA, announced only once per half window, waited for the receiver's
/// probe timeout or the sender's blocked probe), so that goodput ranged from 14 to 36 MB/s over 16
/// seeds of 30 MiB. Now every seed stays within a fifth of the median, and no stall is longer than
/// a few round trips.
#[test]
fn heavy_reordering_on_heavy_loss_does_not_collapse() {
    let runs: Vec<(f64, Duration)> = (0..6).map(heavy_reordering_transfer).collect();
    let mut rates: Vec<f64> = runs.iter().map(|r| r.0).collect();
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = rates[rates.len() / 2];
    for (seed, (rate, idle)) in runs.iter().enumerate() {
        println!("heavy reordering, seed {seed}: {:.1} MB/s, longest time with nothing in flight {idle:?}", rate / 1e6);
    }
    println!(
        "heavy reordering: min / median / max {:.1} / {:.1} / {:.1} MB/s",
        rates[0] / 1e6,
        median / 1e6,
        rates[rates.len() - 1] / 1e6
    );
    assert!(
        rates[0] >= 0.8 * median,
        "the slowest run {:.1} MB/s against a median of {:.1}",
        rates[0] / 1e6,
        median / 1e6
    );
    for (seed, (_, idle)) in runs.iter().enumerate() {
        assert!(*idle <= Duration::from_millis(60), "seed {seed}: nothing in flight for {idle:?}");
    }
}
