//! Many sessions, custom frames, key rotation, keepalive, idle timeout and DISCONNECT.

mod common;

use std::time::Duration;

use common::*;
use stt_proto::{CloseReason, Direction, Event, FrameError, KeyRotationPolicy, SessionHandle, StreamMode};
use stt_tests::{Impairment, NodeIdx, Sim};

#[test]
fn a_thousand_concurrent_sessions_on_one_endpoint_all_deliver() {
    let mut sim = Sim::new(40);
    let server = sim.add_node(config(), seed(0xFF));
    let clients: Vec<usize> = (0..1000u32).map(|i| sim.add_node(config(), seed_for(i))).collect();
    let handles: Vec<SessionHandle> = clients.iter().map(|&c| sim.connect(c, server)).collect();
    assert!(sim.run_until(Duration::from_secs(10), |sim| sim.established(server) == 1000));
    assert_eq!(sim.nodes[server].endpoint.session_count(), 1000);
    for (i, (&c, &h)) in clients.iter().zip(&handles).enumerate() {
        send(&mut sim, c, h, 0x80, format!("hello from {i}").as_bytes());
    }
    sim.run_for(Duration::from_millis(100));
    // The server answers each session on its own handle with what it got.
    let received: Vec<(SessionHandle, Vec<u8>)> = sim
        .events_of(server, |e| match e {
            Event::Frame { session, payload, .. } => Some((*session, payload.to_vec())),
            _ => None,
        })
        .collect();
    assert_eq!(received.len(), 1000);
    for (h, p) in &received {
        let mut reply = b"echo: ".to_vec();
        reply.extend_from_slice(p);
        send(&mut sim, server, *h, 0x81, &reply);
    }
    sim.run_for(Duration::from_millis(100));
    for (i, (&c, &h)) in clients.iter().zip(&handles).enumerate() {
        assert_eq!(custom_payloads(&sim, c, h), vec![format!("echo: hello from {i}").into_bytes()], "client {i}");
    }
}

fn seed_for(i: u32) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..4].copy_from_slice(&i.to_be_bytes());
    s[31] = 1;
    s
}

/// "missing [..], duplicated [..]" for a sorted list against the range it should equal.
fn describe_gaps(got: &[u32], want: std::ops::Range<u32>) -> String {
    let missing: Vec<u32> = want.filter(|x| got.binary_search(x).is_err()).collect();
    let dups: Vec<u32> = got.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    format!("missing {missing:?}, duplicated {dups:?}")
}

fn rotating_pair(sim_seed: u64, imp: Impairment) -> (Sim, usize, usize) {
    let mut sim = Sim::new(sim_seed);
    sim.default_link = imp;
    let mut cfg = config();
    cfg.key_rotation = KeyRotationPolicy { max_bytes: 20_000, max_frames: 50, max_age: Duration::from_secs(3600) };
    // Keys may rotate every 50 ms; the old key is kept 50 ms, beyond the 45 ms worst-case reordering.
    cfg.key_retention = Duration::from_millis(50);
    let c = sim.add_node(cfg.clone(), seed(1));
    let s = sim.add_node(cfg, seed(2));
    (sim, c, s)
}

fn exchange_and_check(sim: &mut Sim, c: usize, s: usize, n: u32) {
    let (hc, hs) = establish(sim, c, s);
    for i in 0..n {
        send(sim, c, hc, 0x80, &i.to_be_bytes());
        send(sim, s, hs, 0x80, &(n + i).to_be_bytes());
        if i % 16 == 15 {
            sim.run_for(Duration::from_millis(10));
        }
    }
    sim.run_for(Duration::from_secs(1));
    let mut got_s: Vec<u32> =
        custom_payloads(sim, s, hs).iter().map(|p| u32::from_be_bytes(p[..].try_into().unwrap())).collect();
    let mut got_c: Vec<u32> =
        custom_payloads(sim, c, hc).iter().map(|p| u32::from_be_bytes(p[..].try_into().unwrap())).collect();
    got_s.sort_unstable();
    got_c.sort_unstable();
    assert!(got_s == (0..n).collect::<Vec<_>>(), "towards the server: {}", describe_gaps(&got_s, 0..n));
    assert!(got_c == (n..2 * n).collect::<Vec<_>>(), "towards the client: {}", describe_gaps(&got_c, n..2 * n));
    for node in [c, s] {
        let rotations = |dir: Direction| {
            sim.events_of(node, move |e| match e {
                Event::KeyRotated { direction, generation, .. } if *direction == dir => Some(*generation),
                _ => None,
            })
            .count()
        };
        assert!(
            rotations(Direction::Send) >= 10,
            "node {node} rotated its send key {} times",
            rotations(Direction::Send)
        );
        assert!(rotations(Direction::Receive) >= 10);
    }
    let (send_gen, recv_gen) = sim.nodes[c].endpoint.session(hc).unwrap().stats().key_generations;
    assert!(send_gen >= 10 && recv_gen >= 10);
}

#[test]
fn key_rotation_during_a_long_exchange_loses_and_duplicates_nothing() {
    let (mut sim, c, s) = rotating_pair(41, Impairment::default());
    exchange_and_check(&mut sim, c, s, 2000);
}

#[test]
fn key_rotation_survives_reordering_and_duplication() {
    let imp = Impairment {
        duplicate: 0.1,
        reorder: 0.2,
        reorder_window: Duration::from_millis(30),
        jitter: Duration::from_millis(5),
        ..Default::default()
    };
    let (mut sim, c, s) = rotating_pair(42, imp);
    exchange_and_check(&mut sim, c, s, 2000);
}

#[test]
fn keys_rotate_by_age_too() {
    let mut sim = Sim::new(43);
    let mut cfg = config();
    cfg.key_rotation.max_age = Duration::from_secs(5);
    let c = sim.add_node(cfg.clone(), seed(1));
    let s = sim.add_node(cfg, seed(2));
    let (hc, _) = establish(&mut sim, c, s);
    sim.run_for(Duration::from_secs(60));
    let (send_gen, recv_gen) = sim.nodes[c].endpoint.session(hc).unwrap().stats().key_generations;
    assert!(send_gen >= 3, "send generation {send_gen}");
    assert!(recv_gen >= 3, "receive generation {recv_gen}");
}

#[test]
fn keepalive_holds_an_idle_session_open() {
    let (mut sim, c, s) = pair(44);
    let (hc, hs) = establish(&mut sim, c, s);
    sim.run_for(Duration::from_secs(300));
    assert!(sim.nodes[c].endpoint.session(hc).is_some());
    assert!(sim.nodes[s].endpoint.session(hs).is_some());
    assert!(sim.nodes[c].endpoint.session(hc).unwrap().stats().frames_sent >= 300 / 15);
}

#[test]
fn idle_timeout_closes_both_sides() {
    let mut sim = Sim::new(45);
    let mut cfg = config();
    cfg.keep_alive_interval = None;
    cfg.idle_timeout = Duration::from_secs(20);
    let c = sim.add_node(cfg.clone(), seed(1));
    let s = sim.add_node(cfg, seed(2));
    let (hc, hs) = establish(&mut sim, c, s);
    let t0 = sim.now;
    sim.run_for(Duration::from_secs(30));
    for (node, h) in [(c, hc), (s, hs)] {
        let closed: Vec<_> = sim
            .events_of(node, |e| match e {
                Event::SessionClosed { session, reason } => Some((*session, reason.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(closed, vec![(h, CloseReason::IdleTimeout)]);
        assert_eq!(sim.nodes[node].endpoint.session_count(), 0);
        let stats = sim.nodes[node].endpoint.stats();
        assert_eq!(
            (stats.sessions_established, stats.sessions_ended.idle_timeout, stats.sessions_ended.total()),
            (1, 1, 1)
        );
    }
    assert!(sim.now - t0 >= Duration::from_secs(20));
}

/// A peer that vanishes is noticed by the first keepalive it leaves unanswered: probe timeouts
/// in a row, 3 s or more after anything arrived and after the keepalive, end the session as
/// `Unreachable`.
#[test]
fn a_vanished_peer_is_noticed_at_the_first_unanswered_keepalive() {
    let (mut sim, c, s) = pair(46);
    let (hc, _) = establish(&mut sim, c, s);
    let t0 = sim.now;
    sim.set_online(s, false);
    assert!(sim.run_until(Duration::from_secs(61), |sim| sim.nodes[c].endpoint.session(hc).is_none()));
    let closed_after = sim.now - t0;
    let reason = sim.nodes[c].events.iter().find_map(|e| match e {
        Event::SessionClosed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(matches!(reason, Some(CloseReason::Unreachable { probes }) if probes >= 2), "{reason:?}");
    assert_eq!(sim.nodes[c].endpoint.stats().sessions_ended.unreachable, 1);
    // The keepalive goes out after 15 s of silence; its probes give up seconds later, not at
    // the 60 s idle timeout.
    assert!(closed_after > Duration::from_secs(15) && closed_after < Duration::from_secs(22), "{closed_after:?}");
}

/// With the probe-timeout rule off, the idle timeout ends the session, keepalives or not.
#[test]
fn idle_timeout_fires_when_the_peer_vanishes_despite_keepalives() {
    let mut sim = Sim::new(46);
    let mut cfg = config();
    cfg.max_probe_timeouts = 0;
    let c = sim.add_node(cfg.clone(), seed(1));
    let s = sim.add_node(cfg, seed(2));
    let (hc, _) = establish(&mut sim, c, s);
    sim.set_online(s, false);
    sim.run_for(Duration::from_secs(61));
    assert!(sim.nodes[c].endpoint.session(hc).is_none());
    assert!(sim.nodes[c]
        .events
        .iter()
        .any(|e| matches!(e, Event::SessionClosed { reason: CloseReason::IdleTimeout, .. })));
}

/// With data outstanding, a vanished peer is noticed within seconds.
#[test]
fn a_vanished_peer_is_noticed_within_seconds_during_a_transfer() {
    let (mut sim, c, s) = pair(47);
    let (hc, _) = establish(&mut sim, c, s);
    let st = sim.nodes[c].endpoint.session_mut(hc).unwrap().open_stream(StreamMode::Reliable).unwrap();
    sim.nodes[c].endpoint.session_mut(hc).unwrap().write(st, &vec![7u8; 200_000]).unwrap();
    sim.run_for(Duration::from_millis(20));
    let t0 = sim.now;
    sim.set_online(s, false);
    assert!(sim.run_until(Duration::from_secs(30), |sim| sim.nodes[c].endpoint.session(hc).is_none()));
    let closed_after = sim.now - t0;
    // Probe timeouts from about 150 ms, doubling: the first past 3 s of silence, not the 60 s
    // idle timeout.
    assert!(closed_after < Duration::from_secs(6), "noticed after {closed_after:?}");
    assert!(sim.nodes[c]
        .events
        .iter()
        .any(|e| matches!(e, Event::SessionClosed { reason: CloseReason::Unreachable { .. }, .. })));
}

#[test]
fn disconnect_carries_its_reason_to_the_peer_after_pending_frames() {
    let (mut sim, c, s) = pair(47);
    let (hc, hs) = establish(&mut sim, c, s);
    sim.nodes[c].endpoint.session_mut(hc).unwrap().send_frame(0x80, &b"last words"[..]).unwrap();
    let now = sim.now;
    sim.nodes[c].endpoint.session_mut(hc).unwrap().close(now, 42, "maintenance window");
    assert_eq!(
        sim.nodes[c].endpoint.session_mut(hc).map(|mut m| m.send_frame(0x80, &b"x"[..])),
        Some(Err(FrameError::Closing))
    );
    sim.flush(c);
    sim.run_for(Duration::from_millis(100));
    assert_eq!(custom_payloads(&sim, s, hs), vec![b"last words".to_vec()], "queued frames go before DISCONNECT");
    let peer_saw = sim.events_of(s, |e| match e {
        Event::SessionClosed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        peer_saw.collect::<Vec<_>>(),
        vec![CloseReason::ClosedByPeer { code: 42, reason: "maintenance window".into() }]
    );
    let we_saw = sim.events_of(c, |e| match e {
        Event::SessionClosed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        we_saw.collect::<Vec<_>>(),
        vec![CloseReason::ClosedLocally { code: 42, reason: "maintenance window".into() }]
    );
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);
    assert_eq!(sim.nodes[c].endpoint.session_count(), 0);
    // Each end counts the session's end by its reason.
    let ends = |n: usize| sim.nodes[n].endpoint.stats().sessions_ended;
    assert_eq!((ends(s).closed_by_peer, ends(s).total()), (1, 1));
    assert_eq!((ends(c).closed_locally, ends(c).total()), (1, 1));
}

#[test]
fn custom_frames_below_0x80_are_refused_and_limits_are_typed() {
    let (mut sim, c, s) = pair(48);
    let (hc, _) = establish(&mut sim, c, s);
    let mut m = sim.nodes[c].endpoint.session_mut(hc).unwrap();
    for t in [0x00u8, 0x01, 0x10, 0x7F] {
        assert_eq!(m.send_frame(t, &b"x"[..]), Err(FrameError::ReservedFrameType(t)));
    }
    let max = m.as_ref().max_frame_payload();
    assert_eq!(max, 1472 - 52);
    assert_eq!(m.send_frame(0x80, vec![0u8; max + 1]), Err(FrameError::TooLarge { len: max + 1, max }));
    assert!(m.send_frame(0x80, vec![0u8; max]).is_ok());
    let msg = FrameError::ReservedFrameType(0x10).to_string();
    assert!(msg.contains("0x80"), "{msg}");
    for _ in 1..1024 {
        m.send_frame(0xFF, &b"q"[..]).unwrap();
    }
    assert_eq!(m.send_frame(0xFF, &b"q"[..]), Err(FrameError::QueueFull));
    sim.flush(c);
    assert!(
        sim.nodes[c].endpoint.session_mut(hc).unwrap().send_frame(0xFF, &b"q"[..]).is_ok(),
        "drained queue accepts again"
    );
}

#[test]
fn frames_sent_before_establishment_are_delivered_after_it() {
    let (mut sim, c, s) = pair(49);
    let hc = sim.connect(c, s);
    for i in 0..5u8 {
        sim.nodes[c].endpoint.session_mut(hc).unwrap().send_frame(0x80, vec![i]).unwrap();
    }
    sim.flush(c);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(s) == 1));
    sim.run_for(Duration::from_millis(100));
    let hs = last_established(&sim, s);
    assert_eq!(custom_payloads(&sim, s, hs), (0..5u8).map(|i| vec![i]).collect::<Vec<_>>());
}

/// The round trips `Event::PingAnswered` reports, in order.
fn ping_answers(sim: &Sim, node: NodeIdx, session: SessionHandle) -> Vec<Duration> {
    sim.events_of(node, move |e| match e {
        Event::PingAnswered { session: s, rtt } if *s == session => Some(*rtt),
        _ => None,
    })
    .collect()
}

#[test]
fn a_ping_measures_one_round_trip_without_the_time_the_peer_held_its_ack() {
    let (mut sim, c, s) = pair(73);
    sim.default_link = Impairment { delay: Duration::from_millis(25), ..Default::default() };
    let (hc, hs) = establish(&mut sim, c, s);
    // Let the handshake's own acknowledgements settle: nothing is in flight.
    drive(&mut sim, Duration::from_secs(1), |_| false);
    let ping = |sim: &mut Sim, round: usize| {
        sim.nodes[c].endpoint.session_mut(hc).unwrap().ping().unwrap();
        sim.flush(c);
        let sent = sim.now;
        assert!(drive(sim, Duration::from_secs(2), |sim| ping_answers(sim, c, hc).len() == round), "ping {round}");
        let rtt = ping_answers(sim, c, hc)[round - 1];
        println!("ping {round}: rtt {rtt:?}, answered after {:?}", sim.now - sent);
        // The path's round trip is 50 ms.
        assert!(rtt >= Duration::from_millis(50) && rtt < Duration::from_millis(52), "rtt {rtt:?}");
        (rtt, sim.now - sent)
    };
    for round in 1..=3 {
        // An idle peer acknowledges a lone KEEPALIVE at once.
        let (rtt, took) = ping(&mut sim, round);
        assert!(took < rtt + Duration::from_millis(2), "answered at once ({took:?})");
    }
    // A peer with data of its own in flight holds its ACK for its delayed-ACK time (the ACK may
    // ride with more data), says so, and the ping takes that off. (Its stream's first write also
    // grants credit, which a KEEPALIVE makes it send again at once: the second is data alone.)
    let stream = sim.nodes[s].endpoint.session_mut(hs).unwrap().open_stream(StreamMode::Reliable).unwrap();
    let write = |sim: &mut Sim| {
        sim.nodes[s].endpoint.session_mut(hs).unwrap().write(stream, &[7u8; 500]).unwrap();
        sim.flush(s);
    };
    write(&mut sim);
    drive(&mut sim, Duration::from_secs(1), |_| false);
    write(&mut sim);
    let (rtt, took) = ping(&mut sim, 4);
    assert!(took > rtt + Duration::from_millis(5), "the peer's ACK was delayed ({took:?}), and that was taken off");
}

#[test]
fn a_ping_to_a_peer_that_stopped_answering_is_answered_by_nothing_and_the_session_ends() {
    let (mut sim, c, s) = pair(74);
    let (hc, _) = establish(&mut sim, c, s);
    sim.default_link = Impairment { loss: 1.0, ..Default::default() };
    sim.nodes[c].endpoint.session_mut(hc).unwrap().ping().unwrap();
    sim.flush(c);
    drive(&mut sim, Duration::from_secs(30), |_| false);
    assert!(ping_answers(&sim, c, hc).is_empty(), "no answer comes through a dead path");
    let closed = sim.events_of(c, |e| match e {
        Event::SessionClosed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        closed.into_iter().any(|r| matches!(r, CloseReason::Unreachable { .. })),
        "the session ends as unreachable"
    );
}

#[test]
fn a_ping_from_a_side_that_only_receives_is_answered() {
    // The pinging side is receiving a stream: it sends ACKs, which nothing tracks, around its
    // KEEPALIVE, and the peer's acknowledgements name them. The ping is answered within a round
    // trip or two all the same (the recovery unit test pins down the rule that makes sure).
    let (mut sim, c, s) = pair(75);
    sim.default_link = Impairment { delay: Duration::from_millis(10), ..Default::default() };
    let (hc, hs) = establish(&mut sim, c, s);
    // 10 Mbit/s towards the pinging side: the 4 MiB take over three seconds.
    sim.set_bottleneck(c, stt_tests::Bottleneck { rate_bps: 10_000_000, queue_bytes: 64_000 });
    let stream = sim.nodes[s].endpoint.session_mut(hs).unwrap().open_stream(StreamMode::Reliable).unwrap();
    let mut t = Transfer::new(stream, vec![7; 4 << 20], 64 << 10);
    drive(&mut sim, Duration::from_millis(300), |sim| {
        t.pump_write(sim, s, hs);
        t.pump_read(sim, c, hc);
        false
    });
    assert!(!t.got_fin, "the stream is still flowing when the ping goes");
    sim.nodes[c].endpoint.session_mut(hc).unwrap().ping().unwrap();
    let sent = sim.now;
    let answered = drive(&mut sim, Duration::from_secs(1), |sim| {
        t.pump_write(sim, s, hs);
        t.pump_read(sim, c, hc);
        !ping_answers(sim, c, hc).is_empty()
    });
    assert!(answered, "the ping is answered while the stream flows");
    let rtt = ping_answers(&sim, c, hc)[0];
    println!("ping while receiving: rtt {rtt:?}, answered after {:?}", sim.now - sent);
    assert!(rtt >= Duration::from_millis(20) && sim.now - sent < Duration::from_millis(200), "rtt {rtt:?}");
}

/// An idle session costs two datagrams a keepalive interval: the initiator's KEEPALIVE and the
/// responder's ACK. The responder sends no keepalive of its own while the initiator's arrive
/// (both coming due together made three datagrams an interval), but does when they stop.
#[test]
fn an_idle_session_costs_two_datagrams_a_keepalive_interval() {
    let (mut sim, c, s) = pair(44);
    establish(&mut sim, c, s);
    sim.run_for(Duration::from_secs(1));
    let (c0, s0) = (sim.nodes[c].endpoint.stats(), sim.nodes[s].endpoint.stats());
    sim.run_for(Duration::from_secs(300));
    let (c1, s1) = (sim.nodes[c].endpoint.stats(), sim.nodes[s].endpoint.stats());
    assert_eq!((c1.datagrams_sent - c0.datagrams_sent, s1.datagrams_sent - s0.datagrams_sent), (20, 20));
    assert_eq!(s1.datagrams_received - s0.datagrams_received, 20);
    // An initiator that does not keep the session alive: the responder's keepalives do, 18.75 s
    // (a quarter past the interval) after the answer to the last arrived, rounded up to the
    // keepalive grid (134 ms), so a little more than 18.75 s apart: 16 in 300 s, each answered.
    let mut sim = Sim::new(44);
    let mut quiet = config();
    quiet.keep_alive_interval = None;
    let c = sim.add_node(quiet, seed(1));
    let s = sim.add_node(config(), seed(2));
    let (hc, hs) = establish(&mut sim, c, s);
    sim.run_for(Duration::from_secs(1));
    let s2 = sim.nodes[s].endpoint.stats();
    sim.run_for(Duration::from_secs(300));
    let s3 = sim.nodes[s].endpoint.stats();
    assert!(sim.nodes[c].endpoint.session(hc).is_some() && sim.nodes[s].endpoint.session(hs).is_some());
    assert_eq!(s3.datagrams_sent - s2.datagrams_sent, 16);
}

/// A pair of nodes with `n` sessions from the first to the second, each with a PING queued.
fn sessions_with_a_ping_each(sim_seed: u64, n: usize) -> (Sim, NodeIdx, NodeIdx, Vec<SessionHandle>) {
    let (mut sim, c, s) = pair(sim_seed);
    let handles: Vec<SessionHandle> = (0..n).map(|_| establish(&mut sim, c, s).0).collect();
    sim.run_for(Duration::from_secs(1));
    for &h in &handles {
        sim.nodes[c].endpoint.session_mut(h).unwrap().ping().unwrap();
    }
    (sim, c, s, handles)
}

/// The sessions of `node` whose PING was answered.
fn sessions_answered(sim: &Sim, node: NodeIdx) -> std::collections::HashSet<SessionHandle> {
    sim.events_of(node, |e| match e {
        Event::PingAnswered { session, .. } => Some(*session),
        _ => None,
    })
    .collect()
}

#[test]
fn idle_sessions_to_one_node_share_one_send_of_their_keepalives() {
    let (mut sim, c, s, handles) = sessions_with_a_ping_each(46, 20);
    // One call with room for 64 datagrams takes the twenty sessions' KEEPALIVEs as one batch of
    // equal segments (what a driver sends with one GSO call)...
    let now = sim.now;
    let mut buf = vec![0u8; 64 * 1500];
    let batch = sim.nodes[c].endpoint.poll_transmit(now, 64, &mut buf).expect("datagrams to send");
    assert_eq!(batch.datagrams(), handles.len());
    let segment = batch.segment_size.expect("a batch");
    assert_eq!(batch.len, segment * handles.len(), "all of one size");
    assert!(sim.nodes[c].endpoint.poll_transmit(now, 64, &mut buf).is_none(), "nothing left");
    // ...each of which the peer opens on its own session and answers.
    let from = sim.nodes[c].addr;
    for d in buf[..batch.len].to_vec().chunks(segment) {
        sim.inject(s, from, d);
    }
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sessions_answered(&sim, c).len(), handles.len(), "every ping answered");

    // A custom frame might not fit behind a small datagram: each session's goes in a call of its
    // own, and none is dropped.
    for &h in &handles {
        sim.nodes[c].endpoint.session_mut(h).unwrap().send_frame(0x80, vec![7u8; 50]).unwrap();
    }
    let now = sim.now;
    let mut calls = 0;
    while let Some(t) = sim.nodes[c].endpoint.poll_transmit(now, 64, &mut buf) {
        assert_eq!(t.datagrams(), 1);
        calls += 1;
        let d = buf[..t.len].to_vec();
        sim.inject(s, from, &d);
    }
    assert_eq!(calls, handles.len());
    assert_eq!(sim.nodes[c].endpoint.stats().dropped.transmit_buffer_too_small, 0);
    let got: std::collections::HashSet<SessionHandle> = sim
        .events_of(s, |e| match e {
            Event::Frame { session, frame_type: 0x80, .. } => Some(*session),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), handles.len(), "each frame arrived, on its own session");
}

#[test]
fn a_session_with_stream_data_is_not_cut_to_the_size_of_small_datagrams_before_it() {
    let (mut sim, c, s) = pair(47);
    let (small, _) = establish(&mut sim, c, s);
    let (bulk, _) = establish(&mut sim, c, s);
    sim.run_for(Duration::from_secs(1));
    sim.nodes[c].endpoint.session_mut(small).unwrap().send_frame(0x80, vec![1u8; 20]).unwrap();
    let mut ep = sim.nodes[c].endpoint.session_mut(bulk).unwrap();
    let stream = ep.open_stream(StreamMode::Reliable).unwrap();
    ep.write(stream, &[2u8; 8000]).unwrap();
    let now = sim.now;
    let mut buf = vec![0u8; 64 * 1500];
    let first = sim.nodes[c].endpoint.poll_transmit(now, 64, &mut buf).unwrap();
    assert_eq!((first.datagrams(), first.segment_size), (1, None), "the small datagram goes alone");
    let second = sim.nodes[c].endpoint.poll_transmit(now, 64, &mut buf).unwrap();
    let full = sim.nodes[c].endpoint.config().max_udp_datagram;
    assert_eq!(second.segment_size, Some(full), "the stream's data in full datagrams");
}

#[test]
fn sessions_waiting_their_turn_to_send_are_not_handled_again_at_every_timeout() {
    // A hub whose driver sends one datagram per turn, with two hundred sessions owing an ACK:
    // the ACKs come due once, and from then on the hub's timer asks for nothing until their
    // sessions have sent (before, every turn handled all of those still waiting, and a node with
    // a backlog of thousands fell ever further behind).
    let (mut sim, c, s, handles) = sessions_with_a_ping_each(48, 200);
    let mut buf = vec![0u8; 64 * 1500];
    let mut pings = Vec::new();
    while let Some(t) = sim.nodes[c].endpoint.poll_transmit(sim.now, 64, &mut buf) {
        pings.extend(buf[..t.len].chunks(t.segment_size.unwrap_or(t.len)).map(<[u8]>::to_vec));
    }
    assert_eq!(pings.len(), handles.len());
    let from = sim.nodes[c].addr;
    let hub = &mut sim.nodes[s].endpoint;
    let start = sim.now;
    for d in &pings {
        hub.handle_datagram(start, stt_proto::Remote::udp(from), bytes::BytesMut::from(&d[..]));
    }
    let (mut answers, mut turns, mut timer_turns) = (Vec::new(), 0u32, 0u32);
    while answers.len() < pings.len() && turns < 1_000 {
        let now = start + Duration::from_millis(u64::from(turns));
        turns += 1;
        if hub.poll_timeout().is_some_and(|t| t <= now) {
            timer_turns += 1;
            hub.handle_timeout(now);
        }
        if let Some(t) = hub.poll_transmit(now, 1, &mut buf) {
            answers.push(buf[..t.len].to_vec());
        }
    }
    assert_eq!(answers.len(), pings.len(), "one answer per ping, one per turn");
    assert!(timer_turns <= 2, "the timer asked for {timer_turns} of {turns} turns");
    sim.now = start + Duration::from_millis(u64::from(turns));
    let to = sim.nodes[s].addr;
    for d in &answers {
        sim.inject(c, to, d);
    }
    assert_eq!(sessions_answered(&sim, c).len(), handles.len(), "every ping answered");
}

/// An idle session costs its nodes what its keepalives need and nothing more: per 15 s
/// interval, three steps of the simulator (the initiator's keepalive timer, its KEEPALIVE
/// delivered, the responder's ACK delivered), and no wake-up for a deadline that moved later (the
/// probe timeout the ACK cancelled, the responder's own keepalive that the initiator's made
/// unnecessary). With a timer heap that kept such deadlines as stale entries it took 6.95.
#[test]
fn an_idle_session_wakes_its_nodes_only_for_what_its_keepalives_need() {
    let (mut sim, c, s) = pair(49);
    let (hc, hs) = establish(&mut sim, c, s);
    sim.run_for(Duration::from_secs(30));
    let (steps, sent) = (sim.steps, sim.nodes[c].endpoint.session(hc).unwrap().stats().datagrams_sent);
    let intervals = 40;
    sim.run_for(Duration::from_secs(15 * intervals));
    let keepalives = sim.nodes[c].endpoint.session(hc).unwrap().stats().datagrams_sent - sent;
    assert!(sim.nodes[s].endpoint.session(hs).is_some(), "the session stayed open");
    assert_eq!(keepalives, intervals, "one KEEPALIVE an interval");
    let per_interval = (sim.steps - steps) as f64 / intervals as f64;
    assert!(per_interval <= 3.0, "{per_interval} steps of the simulator an interval");
}
