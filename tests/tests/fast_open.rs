//! The one-round-trip handshake (INIT and CONFIRM of version 3) to a peer whose static key the
//! initiator knows, through the simulator: one round trip where the first handshake took two,
//! the loss of each of its messages, a replayed INIT (as sent, changed, from elsewhere), the load
//! that switches the responder to cookies and back, a peer that changed its key, a peer of
//! version 2 (answering or silent), and an unconfirmed session's silence.

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::handshakes::*;
use common::*;
use stt_proto::wire::handshake::{FAST_VERSION, VERSION};
use stt_proto::{Event, HandshakeError, Remote, SessionHandle};
use stt_tests::sim::{Datagram, Verdict};
use stt_tests::{Impairment, NodeIdx, Sim};

const KEEPALIVE: u8 = 0x14;

/// Runs until `s` reports one more session than `before`.
fn responder_reports(sim: &mut Sim, s: NodeIdx, before: usize) -> bool {
    sim.run_until(Duration::from_secs(15), |sim| sim.established(s) > before)
}

#[test]
fn a_second_handshake_to_a_peer_met_before_takes_one_round_trip_and_carries_data() {
    let (mut sim, c, s) = pair_with(1, config(), config());
    let (first, h) = timed_connect(&mut sim, c, s);
    assert_eq!(first, Duration::from_millis(100), "two round trips the first time");
    assert!(responder_reports(&mut sim, s, 0));
    close(&mut sim, c, h);

    sim.record();
    let dh_c = sim.nodes[c].endpoint.stats().diffie_hellman;
    let dh_s = sim.nodes[s].endpoint.stats().diffie_hellman;
    let (second, hc) = timed_connect(&mut sim, c, s);
    assert_eq!(second, Duration::from_millis(50), "one round trip to a peer met before");
    // The initiator sends data at once; the responder reports the session with its first frame.
    send(&mut sim, c, hc, 0x80, b"with the confirmation");
    assert!(responder_reports(&mut sim, s, 1));
    let hs = last_established(&sim, s);
    send(&mut sim, s, hs, 0x81, b"and back");
    sim.run_for(Duration::from_millis(200));
    assert_eq!(custom_payloads(&sim, s, hs), vec![b"with the confirmation".to_vec()]);
    assert_eq!(custom_payloads(&sim, c, hc), vec![b"and back".to_vec()]);

    let tap = sim.tap.take().unwrap();
    assert_eq!(handshake_frames(&tap, sim.nodes[c].addr), vec![(INIT, FAST_VERSION)]);
    assert_eq!(handshake_frames(&tap, sim.nodes[s].addr), vec![(CONFIRM, FAST_VERSION)]);
    let stats = sim.nodes[s].endpoint.stats();
    assert_eq!((stats.one_round_trip_accepted, stats.challenges_sent), (1, 1), "the CHALLENGE was the first's");
    // Four X25519 operations a side (e, es, ee, se; ss is remembered from the first handshake).
    assert_eq!(sim.nodes[c].endpoint.stats().diffie_hellman - dh_c, 4);
    assert_eq!(sim.nodes[s].endpoint.stats().diffie_hellman - dh_s, 4);
    // The same peer, the same keys on both sides (the data above went both ways), a new id.
    let ids: Vec<u64> = sim
        .events_of(c, |e| match e {
            Event::SessionEstablished { session_id, peer, .. } => Some((*session_id, *peer)),
            _ => None,
        })
        .map(|(id, peer)| {
            assert_eq!(peer, sim.nodes[s].endpoint.node_id());
            id
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn a_peer_key_given_by_the_application_opens_the_first_session_in_one_round_trip() {
    let (mut sim, c, s) = pair_with(2, config(), config());
    let key = sim.nodes[s].endpoint.public_key();
    let peer = sim.nodes[c].endpoint.add_peer_key(key);
    assert_eq!(peer, sim.nodes[s].endpoint.node_id());
    let started = sim.now;
    let now = sim.now;
    let remote = Remote::udp(sim.nodes[s].addr);
    sim.nodes[c].endpoint.connect_to(now, remote, peer).unwrap();
    sim.flush(c);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 1));
    assert_eq!(sim.now - started, Duration::from_millis(50));
    assert!(responder_reports(&mut sim, s, 0));
}

#[test]
fn a_peer_key_in_the_configuration_opens_the_first_session_in_one_round_trip() {
    let mut sim = Sim::new(12);
    sim.default_link = Impairment { delay: Duration::from_millis(25), ..Default::default() };
    let s = sim.add_node(config(), seed(2));
    let mut client = config();
    client.peer_keys.push(sim.nodes[s].endpoint.public_key());
    let c = sim.add_node(client, seed(1));
    let peer = stt_proto::NodeId::of_public_key(&sim.nodes[s].endpoint.public_key());
    assert_eq!(peer, sim.nodes[s].endpoint.node_id());
    let (started, now) = (sim.now, sim.now);
    let remote = Remote::udp(sim.nodes[s].addr);
    sim.nodes[c].endpoint.connect_to(now, remote, peer).unwrap();
    sim.flush(c);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 1));
    assert_eq!(sim.now - started, Duration::from_millis(50));
}

/// Establishes once (so that `c` knows `s`), then connects again with the first datagram that
/// `lose` picks dropped, and checks both sides end with the one session.
fn one_round_trip_with_a_loss(sim_seed: u64, lose: fn(&Datagram) -> bool) {
    let (mut sim, c, s) = pair_with(sim_seed, config(), config());
    let (_, h) = timed_connect(&mut sim, c, s);
    assert!(responder_reports(&mut sim, s, 0));
    close(&mut sim, c, h);
    let lost = Rc::new(RefCell::new(0));
    let l = lost.clone();
    sim.intercept(move |d| {
        if *l.borrow() == 0 && lose(d) {
            *l.borrow_mut() += 1;
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    timed_connect(&mut sim, c, s);
    assert!(responder_reports(&mut sim, s, 1), "the responder confirms the session");
    assert_eq!(*lost.borrow(), 1, "the loss happened");
    assert_eq!(sim.nodes[s].endpoint.session_count(), 1, "one session, not two");
    assert_eq!(sim.nodes[s].endpoint.stats().one_round_trip_accepted, 1);
    let hc = last_established(&sim, c);
    let hs = last_established(&sim, s);
    send(&mut sim, c, hc, 0x80, b"after the loss");
    sim.run_for(Duration::from_millis(500));
    assert_eq!(custom_payloads(&sim, s, hs), vec![b"after the loss".to_vec()]);
}

#[test]
fn a_lost_init_of_version_3_is_sent_again() {
    one_round_trip_with_a_loss(3, |d| d.bytes[2] == INIT && version(d) == FAST_VERSION);
}

#[test]
fn a_lost_confirm_of_version_3_is_answered_again_for_the_repeated_init() {
    one_round_trip_with_a_loss(4, |d| d.bytes[2] == CONFIRM && version(d) == FAST_VERSION);
}

#[test]
fn a_lost_first_frame_of_the_initiator_is_sent_again_by_its_loss_recovery() {
    // The KEEPALIVE that confirms the session, the first encrypted frame after CONFIRM.
    one_round_trip_with_a_loss(5, |d| d.bytes[2] == KEEPALIVE);
}

#[test]
fn a_replayed_init_opens_nothing_the_application_sees_and_its_source_then_gets_cookies() {
    let (mut sim, c, s) = pair_with(6, config(), config());
    let (_, h) = timed_connect(&mut sim, c, s);
    close(&mut sim, c, h);
    sim.record();
    let (_, h) = timed_connect(&mut sim, c, s);
    assert!(responder_reports(&mut sim, s, 1));
    let tap = sim.tap.take().unwrap();
    let init = tap.iter().find(|d| d.bytes[2] == INIT).unwrap().bytes.clone();
    assert_eq!(init[24], FAST_VERSION);

    // While its session lives, the INIT again (from anywhere) opens nothing.
    let attacker: SocketAddr = "198.51.100.7:4000".parse().unwrap();
    sim.inject(s, attacker, &init);
    sim.inject(s, sim.nodes[c].addr, &init);
    assert_eq!(sim.nodes[s].endpoint.session_count(), 1);
    close(&mut sim, c, h);
    // Within the cookie lifetime after it closed, the id is retired: dropped.
    let replays = sim.nodes[s].endpoint.stats().dropped.replayed_handshake;
    sim.inject(s, attacker, &init);
    assert_eq!(sim.nodes[s].endpoint.stats().dropped.replayed_handshake, replays + 1);
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);

    // Later, the replay costs the responder its Diffie–Hellman and a half-open session that
    // nobody confirms: the application never hears of it, it expires, and its source gets
    // cookies from then on.
    sim.run_for(Duration::from_secs(12));
    let now = sim.now;
    sim.nodes[s].endpoint.handle_timeout(now); // the driver's timer forgets retired ids
    sim.inject(s, attacker, &init);
    assert_eq!(sim.nodes[s].endpoint.session_count(), 1);
    sim.run_for(Duration::from_secs(11));
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);
    assert_eq!(sim.nodes[s].endpoint.stats().half_open_expired, 1);
    assert_eq!(sim.established(s), 2, "the application saw the two real sessions only");
    // Its id is retired in turn; once that has passed, the source has failed: a cookie first.
    let replays = sim.nodes[s].endpoint.stats().dropped.replayed_handshake;
    sim.inject(s, attacker, &init);
    assert_eq!(sim.nodes[s].endpoint.stats().dropped.replayed_handshake, replays + 1);
    sim.run_for(Duration::from_secs(12));
    let now = sim.now;
    sim.nodes[s].endpoint.handle_timeout(now);
    let challenged = sim.nodes[s].endpoint.stats().one_round_trip_challenged;
    let challenges = sim.nodes[s].endpoint.stats().challenges_sent;
    sim.inject(s, attacker, &init);
    assert_eq!(sim.nodes[s].endpoint.stats().one_round_trip_challenged, challenged + 1);
    assert_eq!(sim.nodes[s].endpoint.stats().challenges_sent, challenges + 1);
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);
    // The real initiator, from its own address, still opens in one round trip.
    let (t, _) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(50));
}

#[test]
fn the_load_threshold_switches_to_cookies_and_back() {
    let mut server = config();
    server.cookie_above_inits_per_second = 5;
    server.cookie_above_half_open = 2;
    let (mut sim, c, s) = pair_with(7, config(), server);
    sim.record();
    let (_, h) = timed_connect(&mut sim, c, s);
    let init = sim.tap.take().unwrap().iter().find(|d| d.bytes[2] == INIT).unwrap().bytes.clone();
    assert_eq!(init[24], VERSION);
    close(&mut sim, c, h);

    // Six INITs in the last second (the first handshake's and five more): loaded.
    sim.run_for(Duration::from_secs(3));
    for i in 0..6u16 {
        sim.inject(s, SocketAddr::from(([198, 51, 100, 1], 5000 + i)), &init);
    }
    let (t, h) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(100), "a cookie first under load");
    assert_eq!(sim.nodes[s].endpoint.stats().one_round_trip_challenged, 1);
    assert!(responder_reports(&mut sim, s, 1));
    close(&mut sim, c, h);

    // Two seconds later the rate has fallen: one round trip again.
    sim.run_for(Duration::from_secs(2));
    let (t, h) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(50), "not loaded any more");
    assert!(responder_reports(&mut sim, s, 2));
    close(&mut sim, c, h);

    // Half-open sessions count too: two sessions whose initiators never confirm them (their
    // first frames lost) make the third handshake take the cookie.
    let other = sim.add_node(config(), seed(3));
    let third = sim.add_node(config(), seed(4));
    for n in [other, third] {
        let (_, h) = timed_connect(&mut sim, n, s);
        close(&mut sim, n, h);
    }
    let (o, t3) = (sim.nodes[other].addr, sim.nodes[third].addr);
    sim.intercept(move |d| {
        if (d.from == o || d.from == t3) && d.bytes[2] == KEEPALIVE {
            Verdict::Drop
        } else {
            Verdict::Deliver
        }
    });
    for n in [other, third] {
        timed_connect(&mut sim, n, s);
    }
    let challenged = sim.nodes[s].endpoint.stats().one_round_trip_challenged;
    let (t, _) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(100), "two half-open sessions: a cookie first");
    assert_eq!(sim.nodes[s].endpoint.stats().one_round_trip_challenged, challenged + 1);
}

#[test]
fn a_peer_that_changed_its_key_answers_with_challenge_and_the_handshake_goes_on() {
    let (mut sim, c, s) = pair_with(8, config(), config());
    let (_, h) = timed_connect(&mut sim, c, s);
    let old_id = sim.nodes[s].endpoint.node_id();
    close(&mut sim, c, h);
    // Another node takes the old one's address (a new node seed: a new static key).
    let addr = sim.nodes[s].addr;
    sim.set_online(s, false);
    let s2 = sim.add_node_at(config(), seed(9), addr);
    sim.record();
    let (t, h) = timed_connect(&mut sim, c, s2);
    assert_eq!(t, Duration::from_millis(100), "INIT of version 3, CHALLENGE, RESPONSE, CONFIRM");
    let tap = sim.tap.take().unwrap();
    assert_eq!(handshake_frames(&tap, sim.nodes[c].addr)[0], (INIT, FAST_VERSION));
    assert_eq!(handshake_frames(&tap, addr)[0], (CHALLENGE, VERSION));
    let peer = sim.events_of(c, |e| match e {
        Event::SessionEstablished { session, peer, .. } if *session == h => Some(*peer),
        _ => None,
    });
    assert_eq!(peer.last(), Some(sim.nodes[s2].endpoint.node_id()));
    // Asking for the old node by id at that address fails, as it should.
    let now = sim.now;
    sim.nodes[c].endpoint.connect_to(now, Remote::udp(addr), old_id).unwrap();
    sim.flush(c);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(handshake_failures(&sim, c), vec![HandshakeError::UnexpectedPeer]);
}

#[test]
fn a_node_of_version_2_gets_the_two_round_trip_handshake_after_its_reject() {
    let (mut sim, c, s) = pair_with(9, config(), config());
    let (_, h) = timed_connect(&mut sim, c, s);
    close(&mut sim, c, h);
    // Play a node of version 2: it answers an INIT of version 3 with REJECT(UnsupportedVersion).
    let captured: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let cap = captured.clone();
    sim.intercept(move |d| {
        if d.bytes[2] == INIT && version(d) == FAST_VERSION {
            cap.borrow_mut().push(d.bytes.clone());
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    sim.record();
    let now = sim.now;
    let remote = Remote::udp(sim.nodes[s].addr);
    let hc = sim.nodes[c].endpoint.connect(now, remote).unwrap();
    sim.flush(c);
    sim.run_for(Duration::from_millis(30));
    let init = captured.borrow()[0].clone();
    let frame = version_reject(&init);
    let s_addr = sim.nodes[s].addr;
    sim.inject(c, s_addr, &frame);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 2));
    assert!(handshake_failures(&sim, c).is_empty());
    assert_eq!(sim.nodes[c].endpoint.session(hc).unwrap().state(), stt_proto::SessionState::Established);
    let tap = sim.tap.take().unwrap();
    let from_c = handshake_frames(&tap, sim.nodes[c].addr);
    assert_eq!(from_c[..3], [(INIT, FAST_VERSION), (INIT, VERSION), (0x03, VERSION)]);
    // The next handshake with that peer is the two-round-trip one from the start.
    close(&mut sim, c, hc);
    sim.record();
    let (t, _) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(100));
    let tap = sim.tap.take().unwrap();
    assert_eq!(handshake_frames(&tap, sim.nodes[c].addr)[0], (INIT, VERSION));
}

#[test]
fn with_fast_open_off_every_handshake_takes_two_round_trips() {
    let mut off = config();
    off.fast_open = false;
    let (mut sim, c, s) = pair_with(10, off.clone(), config());
    let (_, h) = timed_connect(&mut sim, c, s);
    close(&mut sim, c, h);
    let (t, h) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(100), "an initiator with fast open off");
    close(&mut sim, c, h);
    // A responder with it off answers an INIT of version 3 with CHALLENGE.
    let (mut sim, c, s) = pair_with(11, config(), off);
    let (_, h) = timed_connect(&mut sim, c, s);
    close(&mut sim, c, h);
    let (t, _) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(100), "a responder with fast open off");
    assert_eq!(sim.nodes[s].endpoint.stats().one_round_trip_accepted, 0);
}

/// Connects `c` to `s` (which it met before) with every INIT of version 3 from `c` dropped, and
/// returns the first of them as sent.
fn capture_fast_init(sim: &mut Sim, c: NodeIdx, s: NodeIdx) -> (SessionHandle, Vec<u8>) {
    let captured: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let cap = captured.clone();
    let from = sim.nodes[c].addr;
    sim.intercept(move |d| {
        if d.from == from && d.bytes[2] == INIT && version(d) == FAST_VERSION {
            cap.borrow_mut().push(d.bytes.clone());
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    let now = sim.now;
    let remote = Remote::udp(sim.nodes[s].addr);
    let h = sim.nodes[c].endpoint.connect(now, remote).unwrap();
    sim.flush(c);
    sim.run_for(Duration::from_millis(30));
    let init = captured.borrow()[0].clone();
    (h, init)
}

#[test]
fn a_copy_of_an_init_with_its_packet_number_changed_costs_diffie_hellman_once() {
    let (mut sim, c, s) = pair_with(12, config(), config());
    let (_, h) = timed_connect(&mut sim, c, s);
    close(&mut sim, c, h);
    sim.record();
    let (hc, init) = capture_fast_init(&mut sim, c, s);
    // The seed MAC covers the frame up to itself, not the packet number after the payload: a
    // changed copy passes it, and fails only the Noise message, after `es`.
    let pn_at = init.len() - 24;
    let dh_before = sim.nodes[s].endpoint.stats().diffie_hellman;
    for i in 0..5u8 {
        let mut copy = init.clone();
        copy[pn_at + 7] ^= i + 1;
        sim.inject(s, SocketAddr::from(([198, 51, 100, 9], 6000 + u16::from(i))), &copy);
    }
    let stats = sim.nodes[s].endpoint.stats();
    assert_eq!(stats.diffie_hellman - dh_before, 1, "one X25519 (es), for the first copy only");
    assert_eq!(stats.dropped.replayed_handshake, 4, "the other four are dropped as replays");
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);
    // The real initiator's INIT is now retired too: after three unanswered sends it takes
    // version 2's INIT and the cookie round, and the session opens.
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 2));
    assert_eq!(sim.nodes[c].endpoint.session(hc).unwrap().state(), stt_proto::SessionState::Established);
    let tap = sim.tap.take().unwrap();
    let from_c = handshake_frames(&tap, sim.nodes[c].addr);
    assert_eq!(from_c[..4], [(INIT, FAST_VERSION), (INIT, FAST_VERSION), (INIT, FAST_VERSION), (INIT, VERSION)]);
}

#[test]
fn a_copy_of_an_init_from_another_address_gets_no_confirm() {
    let (mut sim, c, s) = pair_with(13, config(), config());
    let (_, h) = timed_connect(&mut sim, c, s);
    close(&mut sim, c, h);
    // CONFIRM of version 3 lost: the session waits, unconfirmed, for the INIT again.
    sim.intercept(|d| if d.bytes[2] == CONFIRM { Verdict::Drop } else { Verdict::Deliver });
    sim.record();
    let now = sim.now;
    let remote = Remote::udp(sim.nodes[s].addr);
    sim.nodes[c].endpoint.connect(now, remote).unwrap();
    sim.flush(c);
    sim.run_for(Duration::from_millis(30));
    assert_eq!(sim.nodes[s].endpoint.session_count(), 1);
    let tap = sim.tap.take().unwrap();
    let init = tap.iter().find(|d| d.bytes[2] == INIT).unwrap().bytes.clone();
    sim.record();
    let elsewhere: SocketAddr = "203.0.113.5:7000".parse().unwrap();
    let unexpected = sim.nodes[s].endpoint.stats().dropped.unexpected_handshake;
    sim.inject(s, elsewhere, &init);
    sim.run_for(Duration::from_millis(10));
    let tap = sim.tap.take().unwrap();
    assert!(tap.iter().all(|d| d.to != elsewhere), "nothing goes where the copy claims to come from");
    assert!(tap.iter().all(|d| d.to != sim.nodes[c].addr), "nor to the session's own remote");
    assert_eq!(sim.nodes[s].endpoint.stats().dropped.unexpected_handshake, unexpected + 1);
}

#[test]
fn a_silent_node_of_version_2_gets_version_2_s_init_after_three_unanswered_ones() {
    let (mut sim, c, s) = pair_with(14, config(), config());
    let (_, h) = timed_connect(&mut sim, c, s);
    close(&mut sim, c, h);
    // A node of version 2 in stealth mode: an INIT of version 3 gets no answer at all.
    sim.intercept(|d| if d.bytes[2] == INIT && version(d) == FAST_VERSION { Verdict::Drop } else { Verdict::Deliver });
    sim.record();
    let (t, _) = timed_connect(&mut sim, c, s);
    // Sent at 0, 200 and 600 ms; version 2's INIT at 1,400 ms, then two round trips.
    assert_eq!(t, Duration::from_millis(1500));
    let tap = sim.tap.take().unwrap();
    let from_c = handshake_frames(&tap, sim.nodes[c].addr);
    assert_eq!(from_c[..4], [(INIT, FAST_VERSION), (INIT, FAST_VERSION), (INIT, FAST_VERSION), (INIT, VERSION)]);
    assert!(responder_reports(&mut sim, s, 1));
}

#[test]
fn a_session_made_by_an_init_whose_initiator_took_the_cookie_round_goes_quietly() {
    let mut server = config();
    server.cookie_above_half_open = 1;
    let (mut sim, c, s) = pair_with(15, config(), server);
    let (_, h) = timed_connect(&mut sim, c, s);
    close(&mut sim, c, h);
    // Every CONFIRM of version 3 lost: the responder's one-round-trip session waits, the
    // initiator gives up on version 3 and takes the two-round-trip handshake.
    sim.intercept(
        |d| {
            if d.bytes[2] == CONFIRM && version(d) == FAST_VERSION {
                Verdict::Drop
            } else {
                Verdict::Deliver
            }
        },
    );
    let (t, h) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(1500));
    assert!(responder_reports(&mut sim, s, 1));
    assert_eq!(sim.nodes[s].endpoint.session_count(), 1, "the half-open session went with the RESPONSE");
    sim.run_for(Duration::from_secs(12));
    let stats = sim.nodes[s].endpoint.stats();
    assert_eq!(stats.half_open_expired, 0, "nothing expired unconfirmed");
    close(&mut sim, c, h);
    // No half-open session is left counted, and the initiator's address did not fail: one
    // round trip again (with a limit of one half-open session).
    sim.intercept(|_| Verdict::Deliver);
    let (t, _) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(50));
}

#[test]
fn an_unconfirmed_session_sends_nothing_on_its_timers() {
    let mut server = config();
    server.keep_alive_interval = Some(Duration::from_millis(500));
    let (mut sim, c, s) = pair_with(16, config(), server);
    let (_, h) = timed_connect(&mut sim, c, s);
    close(&mut sim, c, h);
    // Everything from the initiator after its INIT is lost: the responder's session is never
    // confirmed, and its address never proven.
    let from = sim.nodes[c].addr;
    sim.intercept(move |d| if d.from == from && d.bytes[2] != INIT { Verdict::Drop } else { Verdict::Deliver });
    sim.record();
    timed_connect(&mut sim, c, s);
    sim.run_for(Duration::from_secs(12));
    let tap = sim.tap.take().unwrap();
    let from_s: Vec<u8> = tap.iter().filter(|d| d.from == sim.nodes[s].addr).map(|d| d.bytes[2]).collect();
    assert_eq!(from_s, vec![CONFIRM], "one CONFIRM and nothing after it");
    assert_eq!(sim.nodes[s].endpoint.stats().half_open_expired, 1);
}
