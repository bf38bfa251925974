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

#[test]
fn a_flood_makes_the_responder_loaded_and_one_round_trip_inits_then_cost_no_diffie_hellman() {
    let mut sim = Sim::new(31);
    let s = sim.add_node(config(), seed(2));
    let genuine = sim.add_node(config(), seed(1));
    let fast = sim.add_node(config(), seed(5));
    // `fast` knows the responder's key: its INITs carry the first Noise message (version 3).
    let key = sim.nodes[s].endpoint.public_key();
    let peer = sim.nodes[fast].endpoint.add_peer_key(key);
    sim.record();
    sim.intercept(|d| if d.bytes[2] == 0x01 { Verdict::Drop } else { Verdict::Deliver });
    sim.connect(genuine, s);
    let server = stt_proto::Remote::udp(sim.nodes[s].addr);
    for _ in 0..2_500 {
        let now = sim.now;
        sim.nodes[fast].endpoint.connect_to(now, server, peer).unwrap();
        sim.flush(fast);
    }
    let tap = sim.tap.take().unwrap();
    let inits: Vec<&Vec<u8>> = tap.iter().filter(|d| d.bytes[2] == 0x01).map(|d| &d.bytes).collect();
    let (v2, v3): (Vec<_>, Vec<_>) = inits.into_iter().partition(|b| b[24] == 2);
    assert_eq!((v2.len(), v3.len()), (1, 2_500));
    sim.clear_interceptor();
    sim.set_online(genuine, false);
    sim.set_online(fast, false);

    // 100,000 INITs from as many addresses at once, one in forty of version 3 (each a distinct
    // handshake that proves the seed): past 2,000 INITs in a second the responder is loaded.
    let remote =
        |i: u32| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(0xC000_0000 + i), (i % 60_000 + 1024) as u16));
    let mut dh_when_loaded = 0;
    for i in 0..100_000u32 {
        let init = if i % 40 == 0 { v3[(i / 40) as usize] } else { v2[0] };
        sim.inject(s, remote(i), init);
        if i == 1_999 {
            dh_when_loaded = sim.nodes[s].endpoint.stats().diffie_hellman;
        }
        if i % 1000 == 999 {
            sim.run_for(Duration::from_millis(1));
        }
    }
    let stats = sim.nodes[s].endpoint.stats();
    assert_eq!(stats.one_round_trip_accepted, 50, "the version 3 INITs among the first 2,000");
    assert_eq!(stats.one_round_trip_challenged, 2_450);
    assert_eq!(stats.challenges_sent, 100_000 - 50);
    // e, es, ee and se for each (ss once: the responder remembers it per peer).
    assert_eq!(dh_when_loaded, 50 * 4 + 1);
    assert_eq!(stats.diffie_hellman, dh_when_loaded, "no Diffie-Hellman once loaded");
    // The 50 half-open sessions expire unconfirmed, and nothing was amplified.
    sim.run_for(Duration::from_secs(11));
    let ep = &sim.nodes[s].endpoint;
    assert_eq!((ep.session_count(), ep.stats().half_open_expired), (0, 50));
    for i in 0..100_000u32 {
        let r = remote(i);
        let received = sim.bytes_from[&r];
        let sent = sim.bytes_to.get(&r).copied().unwrap_or(0);
        assert!(sent <= 3 * received, "remote {r}: sent {sent} bytes for {received} received");
    }
}
