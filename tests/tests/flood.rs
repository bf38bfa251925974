//! An INIT flood: the responder keeps no state, computes no Diffie–Hellman and never amplifies.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use common::*;
use stt_tests::sim::Verdict;
use stt_tests::Sim;

#[test]
fn one_hundred_thousand_inits_from_as_many_remotes_allocate_nothing() {
    let mut sim = Sim::new(30);
    // One genuine initiator (right seed) and one impostor (wrong seed) provide valid-format INITs.
    let genuine = sim.add_node(config(), seed(1));
    let impostor = sim.add_node(config_with([0xEE; 32]), seed(3));
    let s = sim.add_node(config(), seed(2));
    sim.record();
    sim.intercept(|d| if d.bytes[2] == 0x01 { Verdict::Drop } else { Verdict::Deliver });
    sim.connect(genuine, s);
    sim.connect(impostor, s);
    let tap = sim.tap.take().unwrap();
    let inits: Vec<Vec<u8>> = tap.iter().filter(|d| d.bytes[2] == 0x01).map(|d| d.bytes.clone()).collect();
    assert_eq!(inits.len(), 2);
    sim.clear_interceptor();
    // The captured initiators go quiet; only their INIT bytes are reused.
    sim.set_online(genuine, false);
    sim.set_online(impostor, false);

    let remote =
        |i: u32| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(0xC000_0000 + i), (i % 60_000 + 1024) as u16));
    for i in 0..100_000u32 {
        sim.inject(s, remote(i), &inits[(i % 2) as usize]);
        if i % 1000 == 999 {
            sim.run_for(Duration::from_millis(1));
        }
    }
    sim.run_for(Duration::from_secs(1));
    let ep = &sim.nodes[s].endpoint;
    assert_eq!(ep.session_count(), 0, "no per-attempt state before a valid RESPONSE");
    assert_eq!(ep.stats().inits_received, 100_000);
    assert_eq!(ep.stats().challenges_sent, 50_000);
    assert_eq!(ep.stats().rejects_sent, 50_000);
    assert_eq!(ep.stats().diffie_hellman, 0, "no Diffie-Hellman before a cookie comes back");
    for i in 0..100_000u32 {
        let r = remote(i);
        let received = sim.bytes_from[&r];
        let sent = sim.bytes_to.get(&r).copied().unwrap_or(0);
        assert!(sent <= 3 * received, "remote {r}: sent {sent} bytes for {received} received");
    }
    // After the flood, real clients still get in.
    sim.set_online(genuine, true);
    assert!(sim.run_until(Duration::from_secs(10), |sim| sim.established(genuine) == 1));
    assert_eq!(sim.nodes[s].endpoint.session_count(), 1);
    // The genuine handshake: a key generation and three agreements (es, ss, and ee + se).
    assert_eq!(sim.nodes[s].endpoint.stats().diffie_hellman, 5);
}
