//! Handshake: agreement, determinism, authentication failures, loss, timeouts, policy.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use stt_proto::{
    ConfigError, ConnectError, CryptoBackend, EndpointConfig, Event, HandshakeError, Identity, Role, Seed,
    SessionState, Suite,
};
use stt_tests::{Impairment, Sim};

#[test]
fn handshake_completes_and_both_sides_agree() {
    let (mut sim, c, s) = pair(1);
    let hc = sim.connect(c, s);
    assert_eq!(sim.nodes[c].endpoint.session(hc).unwrap().state(), SessionState::Handshaking);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 1 && sim.established(s) == 1));
    let get = |n: usize| {
        sim.nodes[n]
            .events
            .iter()
            .find_map(|e| match e {
                Event::SessionEstablished { session_id, peer, role, .. } => {
                    Some((*session_id, *peer, *role == Role::Initiator))
                }
                _ => None,
            })
            .unwrap()
    };
    let (sid_c, peer_of_c, init_c) = get(c);
    let (sid_s, peer_of_s, init_s) = get(s);
    assert_eq!(sid_c, sid_s, "both sides derive the same session id");
    assert_ne!(sid_c, 0);
    assert_eq!(peer_of_c, sim.nodes[s].endpoint.node_id());
    assert_eq!(peer_of_s, sim.nodes[c].endpoint.node_id());
    assert!(init_c && !init_s);
    let hs = last_established(&sim, s);
    let cs = sim.nodes[c].endpoint.session(hc).unwrap();
    let ss = sim.nodes[s].endpoint.session(hs).unwrap();
    assert_eq!(cs.state(), SessionState::Established);
    assert_eq!(ss.state(), SessionState::Established);
    assert_eq!(cs.suite(), ss.suite());
    assert!(cs.stats().handshake_rtt.unwrap() >= Duration::from_millis(40), "two round trips of 10 ms each way");
}

fn run_recorded(seed: u64) -> ([u8; 32], usize) {
    let (mut sim, c, s) = pair(seed);
    sim.record();
    let (hc, _) = establish(&mut sim, c, s);
    send(&mut sim, c, hc, 0x90, b"determinism");
    sim.run_for(Duration::from_secs(1));
    (sim.wire_hash(), sim.tap.as_ref().unwrap().len())
}

#[test]
fn same_inputs_and_seed_give_the_same_bytes_on_the_wire() {
    let (a, n) = run_recorded(7);
    let (b, m) = run_recorded(7);
    assert!(n >= 5, "INIT, CHALLENGE, RESPONSE, CONFIRM and a custom frame at least");
    assert_eq!((a, n), (b, m));
    let (c, _) = run_recorded(8);
    assert_ne!(a, c, "another RNG seed gives other nonces");
}

#[test]
fn different_shared_seeds_fail_with_authentication_on_both_sides() {
    let mut sim = Sim::new(2);
    let c = sim.add_node(config_with([1; 32]), seed(1));
    let s = sim.add_node(config_with([2; 32]), seed(2));
    sim.connect(c, s);
    sim.run_for(Duration::from_secs(15));
    assert_eq!(handshake_failures(&sim, c), vec![HandshakeError::AuthenticationFailed]);
    assert_eq!(handshake_failures(&sim, s), vec![HandshakeError::AuthenticationFailed]);
    let failed_at = sim.nodes[c].events.len();
    assert_eq!(failed_at, 1);
    assert_eq!(sim.nodes[c].endpoint.session_count(), 0);
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);
    assert_eq!(sim.established(c) + sim.established(s), 0);
}

#[test]
fn wrong_seed_is_reported_within_one_round_trip() {
    let mut sim = Sim::new(3);
    let c = sim.add_node(config_with([1; 32]), seed(1));
    let s = sim.add_node(config_with([2; 32]), seed(2));
    sim.connect(c, s);
    let start = sim.now;
    assert!(sim.run_until(Duration::from_secs(10), |sim| !handshake_failures(sim, c).is_empty()));
    assert!(sim.now - start <= Duration::from_millis(25), "took {:?}", sim.now - start);
}

#[test]
fn stealth_responder_stays_silent_to_unauthenticated_inits() {
    let mut sim = Sim::new(4);
    let c = sim.add_node(config_with([1; 32]), seed(1));
    let mut cfg = config_with([2; 32]);
    cfg.stealth = true;
    let s = sim.add_node(cfg, seed(2));
    sim.connect(c, s);
    sim.run_for(Duration::from_secs(15));
    assert_eq!(handshake_failures(&sim, c), vec![HandshakeError::Timeout]);
    assert_eq!(sim.nodes[s].endpoint.stats().datagrams_sent, 0, "not a single byte back");
    assert!(handshake_failures(&sim, s).iter().all(|r| *r == HandshakeError::AuthenticationFailed));
    assert!(!handshake_failures(&sim, s).is_empty(), "the responder's operator still learns about it");
}

#[test]
fn handshake_completes_under_30_percent_loss() {
    for seed_ in 0..20 {
        let (mut sim, c, s) = pair(100 + seed_);
        sim.default_link = Impairment::lossy(0.30);
        sim.connect(c, s);
        assert!(
            sim.run_until(Duration::from_secs(10), |sim| sim.established(c) == 1 && sim.established(s) == 1),
            "seed {seed_}: handshake did not complete under 30% loss"
        );
        assert!(handshake_failures(&sim, c).is_empty());
    }
}

#[test]
fn handshake_times_out_when_the_peer_is_gone() {
    let (mut sim, c, s) = pair(5);
    sim.set_online(s, false);
    let hc = sim.connect(c, s);
    let start = sim.now;
    assert!(sim.run_until(Duration::from_secs(60), |sim| !handshake_failures(sim, c).is_empty()));
    assert_eq!(handshake_failures(&sim, c), vec![HandshakeError::Timeout]);
    assert_eq!(sim.now - start, Duration::from_secs(10), "fails exactly at the handshake timeout");
    assert!(sim.nodes[c].endpoint.session(hc).is_none());
    assert_eq!(sim.nodes[c].endpoint.session_count(), 0);
    assert!(sim.nodes[c].endpoint.stats().datagrams_sent >= 8, "INIT was retransmitted");
}

#[test]
fn server_mode_off_is_reported() {
    let mut sim = Sim::new(6);
    let c = sim.add_node(config(), seed(1));
    let mut cfg = config();
    cfg.server_mode = false;
    let s = sim.add_node(cfg, seed(2));
    sim.connect(c, s);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(handshake_failures(&sim, c), vec![HandshakeError::ServerModeOff]);
    // Turning it on lets the next attempt in.
    sim.nodes[s].endpoint.set_server_mode(true);
    establish(&mut sim, c, s);
}

#[test]
fn allow_list_is_enforced_on_both_sides() {
    let mut sim = Sim::new(7);
    let c = sim.add_node(config(), seed(1));
    let stranger = Identity::from_seed_bytes(&seed(9)).unwrap().node_id();
    let mut cfg = config();
    cfg.allow_list = Some(BTreeSet::from([stranger]));
    let s = sim.add_node(cfg, seed(2));
    sim.connect(c, s);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(handshake_failures(&sim, c), vec![HandshakeError::PeerNotAllowed]);
    assert_eq!(handshake_failures(&sim, s), vec![HandshakeError::PeerNotAllowed]);

    // The initiator's own allow-list excludes the responder.
    let mut sim = Sim::new(8);
    let mut cfg = config();
    cfg.allow_list = Some(BTreeSet::from([stranger]));
    let c = sim.add_node(cfg, seed(1));
    let s = sim.add_node(config(), seed(2));
    sim.connect(c, s);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(handshake_failures(&sim, c), vec![HandshakeError::PeerNotAllowed]);
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0, "the responder holds nothing for an unconfirmed attempt");
}

#[test]
fn per_peer_seed_table_selects_the_seed() {
    let mut sim = Sim::new(9);
    let client_id = Identity::from_seed_bytes(&seed(1)).unwrap().node_id();
    let server_id = Identity::from_seed_bytes(&seed(2)).unwrap().node_id();
    let pairwise = Seed::new(&[0x77; 40]).unwrap();
    let mut ccfg = EndpointConfig::default();
    ccfg.peer_seeds.insert(server_id, pairwise.clone());
    let mut scfg = config_with([3; 32]);
    scfg.peer_seeds.insert(client_id, pairwise);
    let c = sim.add_node(ccfg, seed(1));
    let s = sim.add_node(scfg, seed(2));
    let remote = stt_proto::Remote::udp(sim.nodes[s].addr);
    let now = sim.now;
    assert_eq!(sim.nodes[c].endpoint.connect(now, remote), Err(ConnectError::NoSharedSeed));
    sim.nodes[c].endpoint.connect_to(now, remote, server_id).unwrap();
    sim.flush(c);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 1 && sim.established(s) == 1));
}

#[test]
fn connecting_to_an_unexpected_node_fails() {
    let (mut sim, c, s) = pair(10);
    let someone_else = Identity::from_seed_bytes(&seed(9)).unwrap().node_id();
    let remote = stt_proto::Remote::udp(sim.nodes[s].addr);
    let now = sim.now;
    sim.nodes[c].endpoint.connect_to(now, remote, someone_else).unwrap();
    sim.flush(c);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(handshake_failures(&sim, c), vec![HandshakeError::UnexpectedPeer]);
}

#[test]
fn no_common_suite_is_a_suite_mismatch() {
    let mut sim = Sim::new(11);
    let mut a = config();
    a.suites = vec![Suite::Aes256Gcm];
    let mut b = config();
    b.suites = vec![Suite::ChaCha20Poly1305];
    let c = sim.add_node(a, seed(1));
    let s = sim.add_node(b, seed(2));
    sim.connect(c, s);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(handshake_failures(&sim, c), vec![HandshakeError::SuiteMismatch]);
}

#[test]
fn responder_picks_the_initiators_first_choice_it_allows() {
    let mut sim = Sim::new(12);
    let mut a = config();
    a.suites = vec![Suite::ChaCha20Poly1305, Suite::Aes256Gcm];
    let mut b = config();
    b.suites = vec![Suite::Aes256Gcm, Suite::ChaCha20Poly1305];
    let c = sim.add_node(a, seed(1));
    let s = sim.add_node(b, seed(2));
    let (hc, _) = establish(&mut sim, c, s);
    assert_eq!(sim.nodes[c].endpoint.session(hc).unwrap().suite(), Some(Suite::ChaCha20Poly1305));
}

#[test]
fn seeds_shorter_than_32_bytes_are_refused() {
    assert_eq!(Seed::new(&[1; 31]).unwrap_err(), ConfigError::SeedTooShort { len: 31 });
    assert!(Identity::from_seed_bytes(&[1; 16]).is_err());
    assert!(Seed::new(&[1; 32]).is_ok());
    let msg = Seed::new(&[]).unwrap_err().to_string();
    assert!(msg.contains("at least 32"), "{msg}");
}

#[test]
fn backends_interoperate_in_both_suites() {
    #[cfg(feature = "ring")]
    let backends = [CryptoBackend::RustCrypto, CryptoBackend::Ring];
    #[cfg(not(feature = "ring"))]
    let backends = [CryptoBackend::RustCrypto, CryptoBackend::RustCrypto];
    for suite in [Suite::Aes256Gcm, Suite::ChaCha20Poly1305] {
        for (ca, sa) in [(backends[0], backends[1]), (backends[1], backends[0])] {
            let mut sim = Sim::new(13);
            let mut a = config();
            a.suites = vec![suite];
            a.crypto_backend = ca;
            let mut b = config();
            b.suites = vec![suite];
            b.crypto_backend = sa;
            let c = sim.add_node(a, seed(1));
            let s = sim.add_node(b, seed(2));
            let (hc, hs) = establish(&mut sim, c, s);
            send(&mut sim, c, hc, 0x81, b"from one backend");
            send(&mut sim, s, hs, 0x82, b"to the other");
            sim.run_for(Duration::from_millis(100));
            assert_eq!(custom_payloads(&sim, s, hs), vec![b"from one backend".to_vec()]);
            assert_eq!(custom_payloads(&sim, c, hc), vec![b"to the other".to_vec()]);
        }
    }
}

#[test]
fn retransmitted_response_gets_a_confirm_but_no_second_session() {
    let (mut sim, c, s) = pair(14);
    // Drop the first CONFIRM: the initiator retransmits RESPONSE, the responder re-sends CONFIRM.
    let mut dropped = false;
    sim.intercept(move |d| {
        if !dropped && d.bytes.get(2) == Some(&0x04) {
            dropped = true;
            return stt_tests::sim::Verdict::Drop;
        }
        stt_tests::sim::Verdict::Deliver
    });
    sim.record();
    sim.connect(c, s);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 1 && sim.established(s) == 1));
    let tap = sim.tap.as_ref().unwrap();
    let count = |ty: u8| tap.iter().filter(|d| d.bytes[2] == ty).count();
    assert_eq!(count(0x04), 2, "CONFIRM sent again");
    assert_eq!(count(0x03), 2, "RESPONSE retransmitted once");
    assert_eq!(sim.nodes[s].endpoint.session_count(), 1);
    assert_eq!(sim.established(s), 1);
}

/// The responder reports its session only on the initiator's first authentic frame: when that
/// frame (the KEEPALIVE right after CONFIRM) is lost, the responder sends CONFIRM again and the
/// initiator repeats it; the responder never reports the session before.
#[test]
fn a_lost_first_frame_of_the_initiator_is_recovered_by_confirm_again() {
    let (mut sim, c, s) = pair(15);
    let mut dropped = 0;
    sim.intercept(move |d| {
        if dropped < 2 && d.bytes.get(2) == Some(&0x14) {
            dropped += 1;
            return stt_tests::sim::Verdict::Drop;
        }
        stt_tests::sim::Verdict::Deliver
    });
    sim.record();
    sim.connect(c, s);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 1));
    assert_eq!(sim.established(s), 0, "not reported before the initiator's first frame");
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(s) == 1));
    let tap = sim.tap.as_ref().unwrap();
    let confirms = tap.iter().filter(|d| d.bytes[2] == 0x04).count();
    assert!(confirms >= 3, "CONFIRM went again for each lost first frame: {confirms}");
    assert_eq!(sim.nodes[s].endpoint.stats().half_open_expired, 0);
}
