//! Moving a session between WebSocket and UDP in the simulator, with stream data in flight and
//! loss on the way: the application asks for the move with `probe_path`, both sides validate the
//! new path, and every byte arrives. WebSocket datagrams here are large (the core's 2 MiB
//! default), UDP ones 1,472 bytes: segments are cut to the UDP size whatever the path, so
//! segments sent over WebSocket can be resent over UDP.

mod common;

use std::time::Duration;

use common::*;
use stt_proto::{Event, Remote, StreamMode, Transport};
use stt_tests::sim::{NodeIdx, Sim, Verdict};
use stt_tests::Impairment;

fn migrations(sim: &Sim, node: NodeIdx) -> Vec<Transport> {
    sim.events_of(node, |e| match e {
        Event::SessionMigrated { remote, .. } => Some(remote.transport),
        _ => None,
    })
    .collect()
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = stt_tests::sim::TestRng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn a_session_moves_from_websocket_to_udp_and_back_with_large_segments_lost_at_the_move() {
    for seed in 0..3u64 {
        let (mut sim, c, s) = pair(4000 + seed);
        let server = sim.nodes[s].addr;
        let now = sim.now;
        let hc = sim.nodes[c].endpoint.connect(now, Remote::websocket(server)).unwrap();
        sim.flush(c);
        assert!(sim.run_until(Duration::from_secs(10), |sim| sim.established(c) == 1 && sim.established(s) == 1));
        let hs = last_established(&sim, s);
        sim.default_link = Impairment { loss: 0.03, delay: Duration::from_millis(10), ..Default::default() };
        let data = pattern(4 << 20, seed);
        let stream = sim.nodes[c].endpoint.session_mut(hc).unwrap().open_stream(StreamMode::Reliable).unwrap();
        let mut t = Transfer::new(stream, data.clone(), 64 * 1024);
        // When the move to UDP starts, the client's large WebSocket datagrams of the moment are
        // lost: their segments can only be resent over UDP.
        let lost_large = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let budget = lost_large.clone();
        let client_addr = sim.nodes[c].addr;
        sim.intercept(move |d| {
            let large = d.transport == Transport::WebSocket && d.from == client_addr && d.bytes.len() > 1500;
            if large && budget.get() > 0 {
                budget.set(budget.get() - 1);
                return Verdict::Drop;
            }
            Verdict::Deliver
        });
        let (mut losing, mut on_udp, mut back) = (false, false, false);
        let ok = drive(&mut sim, Duration::from_secs(300), |sim| {
            t.pump_write(sim, c, hc);
            t.pump_read(sim, s, hs);
            if !losing && t.received.len() > 1 << 20 {
                losing = true;
                lost_large.set(8);
            }
            if losing && !on_udp && lost_large.get() == 0 {
                // The lost segments are resent on the new path, where datagrams are smaller.
                on_udp = true;
                sim.nodes[c].endpoint.session_mut(hc).unwrap().set_remote(Remote::udp(server));
                sim.flush(c);
            }
            if on_udp && !back && t.received.len() > 3 << 20 {
                back = true;
                sim.nodes[c].endpoint.session_mut(hc).unwrap().probe_path(Remote::websocket(server));
                sim.flush(c);
            }
            t.got_fin
        });
        assert!(ok, "seed {seed}: {} of {} bytes", t.received.len(), data.len());
        assert_eq!(lost_large.get(), 0, "seed {seed}: large WebSocket datagrams were lost at the move");
        assert!(t.received == data, "seed {seed}: the bytes differ");
        // The server follows once it validated the client's new path (keepalives keep coming).
        sim.run_for(Duration::from_secs(20));
        assert_eq!(migrations(&sim, c), [Transport::WebSocket], "seed {seed}: the client's validated move");
        assert_eq!(migrations(&sim, s), [Transport::Udp, Transport::WebSocket], "seed {seed}: the server's moves");
    }
}

#[test]
fn a_probe_that_gets_no_answer_leaves_the_session_where_it_was() {
    let (mut sim, c, s) = pair(51);
    let server = sim.nodes[s].addr;
    let now = sim.now;
    let hc = sim.nodes[c].endpoint.connect(now, Remote::websocket(server)).unwrap();
    sim.flush(c);
    assert!(sim.run_until(Duration::from_secs(10), |sim| sim.established(c) == 1));
    // Nothing answers at this address.
    let nowhere: std::net::SocketAddr = "10.9.9.9:9".parse().unwrap();
    sim.nodes[c].endpoint.session_mut(hc).unwrap().probe_path(Remote::udp(nowhere));
    sim.flush(c);
    sim.run_for(Duration::from_secs(5));
    let session = sim.nodes[c].endpoint.session(hc).expect("the session lives on");
    assert_eq!(session.remote(), Remote::websocket(server));
    assert!(migrations(&sim, c).is_empty());
    let hs = last_established(&sim, s);
    let data = pattern(100_000, 1);
    let t = transfer(&mut sim, (c, hc), (s, hs), data.clone(), 10_000, Duration::from_secs(30));
    assert!(t.received == data);
}
