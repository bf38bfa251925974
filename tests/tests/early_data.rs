//! 0-RTT data (`SessionMut::allow_early_data`, `docs/PROTOCOL.md` §4.12) through the
//! simulator, on a path 25 ms each way: custom frames and stream data queued before a resumed
//! INIT travel with it and arrive half a round trip after it left; stream data sent early is
//! acknowledged like any other (never sent twice); a replayed INIT with 0-RTT data delivers it
//! once; when the INIT is lost, or the responder refuses the ticket, the stream data goes again
//! under the session's keys; and the errors when 0-RTT data cannot be allowed.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::handshakes::*;
use common::*;
use stt_proto::wire::handshake::RESUME_VERSION;
use stt_proto::{
    Channel, EarlyDataError, EndpointConfig, Event, Remote, SessionHandle, StreamId, StreamMode, StreamRead,
};
use stt_tests::sim::Verdict;
use stt_tests::{NodeIdx, Sim};

fn resuming() -> EndpointConfig {
    let mut c = config();
    c.resumption = true;
    c
}

/// A pair where `c` holds a ticket for `s` (one session opened, used and closed).
fn pair_with_ticket(sim_seed: u64) -> (Sim, NodeIdx, NodeIdx) {
    let (mut sim, c, s) = pair_with(sim_seed, resuming(), resuming());
    let (_, h) = timed_connect(&mut sim, c, s);
    send(&mut sim, c, h, 0x80, b"first");
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.nodes[c].endpoint.stats().tickets_received == 1));
    close(&mut sim, c, h);
    (sim, c, s)
}

/// Connects `c` to `s` (resuming), allows 0-RTT data, and queues a custom frame, a message and a
/// stream with `stream_bytes` (finished) before the INIT goes; returns the handle and the stream.
fn connect_early(sim: &mut Sim, c: NodeIdx, s: NodeIdx, stream_bytes: &[u8]) -> (SessionHandle, StreamId) {
    let now = sim.now;
    let remote = Remote::udp(sim.nodes[s].addr);
    let h = sim.nodes[c].endpoint.connect(now, remote).unwrap();
    let mut sm = sim.nodes[c].endpoint.session_mut(h).unwrap();
    sm.allow_early_data().unwrap();
    sm.send_frame(0x80, &b"early"[..]).unwrap();
    sm.send_message(Channel::Frame(0x81), &b"a message"[..]).unwrap();
    let stream = sm.open_stream(StreamMode::Reliable).unwrap();
    assert_eq!(sm.write(stream, stream_bytes).unwrap(), stream_bytes.len());
    sm.finish(stream).unwrap();
    sim.flush(c);
    (h, stream)
}

/// Everything `node` can read of the streams its peer opened on `session`, once finished.
fn read_streams(sim: &mut Sim, node: NodeIdx, session: SessionHandle) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sm = sim.nodes[node].endpoint.session_mut(session).unwrap();
    while let Some(stream) = sm.accept_stream() {
        while let Ok(Some(r)) = sm.read(stream) {
            match r {
                StreamRead::Data(d) => out.extend_from_slice(&d),
                StreamRead::Finished => break,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    out
}

#[test]
fn zero_rtt_data_arrives_half_a_round_trip_after_the_init_and_is_not_sent_again() {
    let (mut sim, c, s) = pair_with_ticket(1);
    sim.record();
    let started = sim.now;
    let data: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    let (hc, _) = connect_early(&mut sim, c, s, &data);
    let events_before = sim.nodes[s].events.len();
    // The responder has it all after one trip: 25 ms.
    assert!(sim.run_until(Duration::from_millis(26), |sim| sim.established(s) == 2));
    assert_eq!(sim.now - started, Duration::from_millis(25), "the responder opened it with the INIT");
    let hs = last_established(&sim, s);
    assert_eq!(custom_payloads(&sim, s, hs), vec![b"early".to_vec()]);
    assert_eq!(read_streams(&mut sim, s, hs), data, "the stream's bytes with the INIT");
    let m = sim.nodes[s].endpoint.session_mut(hs).unwrap().recv_message().expect("the message with the INIT");
    assert_eq!((m.channel, &m.payload[..]), (Channel::Frame(0x81), &b"a message"[..]));
    let opened: Vec<&Event> = sim.nodes[s].events[events_before..].iter().collect();
    assert!(matches!(opened[0], Event::SessionEstablished { .. }), "reported before its data: {opened:?}");
    // The initiator is open after one round trip; its early frames are acknowledged, not lost.
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 2));
    assert_eq!(sim.now - started, Duration::from_millis(50));
    sim.run_for(Duration::from_secs(2));
    let ps = sim.nodes[c].endpoint.session(hc).unwrap().path_stats();
    assert_eq!((ps.lost_frames, ps.in_flight), (0, 0), "{ps:?}");
    let tap = sim.tap.take().unwrap();
    let from_c: Vec<_> = tap.iter().filter(|d| d.from == sim.nodes[c].addr).collect();
    assert_eq!((from_c[0].bytes[2], version(from_c[0])), (INIT, RESUME_VERSION));
    assert!(from_c[0].bytes.len() > 600, "the 0-RTT frames ride in the INIT's datagram");
    // Nothing of the stream went again: no other datagram from c is that large.
    assert!(
        from_c[1..].iter().all(|d| d.bytes.len() < 200),
        "{:?}",
        from_c.iter().map(|d| d.bytes.len()).collect::<Vec<_>>()
    );
    assert_eq!(custom_payloads(&sim, s, hs).len(), 1);
    assert_eq!(sim.nodes[s].endpoint.stats().sessions_resumed, 1);
}

#[test]
fn a_replayed_init_with_zero_rtt_data_delivers_it_once() {
    let (mut sim, c, s) = pair_with_ticket(2);
    let captured: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let cap = captured.clone();
    let from = sim.nodes[c].addr;
    sim.intercept(move |d| {
        if d.from == from && d.bytes[2] == INIT {
            cap.borrow_mut().push(d.bytes.clone());
        }
        Verdict::Deliver
    });
    let events_before = sim.nodes[s].events.len();
    let (hc, _) = connect_early(&mut sim, c, s, b"stream bytes");
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 2));
    let init = captured.borrow()[0].clone();
    sim.clear_interceptor();
    // Again at once (the session lives), from the same address and from elsewhere.
    sim.inject(s, from, &init);
    sim.inject(s, "10.9.9.9:4000".parse().unwrap(), &init);
    sim.run_for(Duration::from_millis(100));
    // And after the session closed and its id's retirement passed: the ticket is used.
    close(&mut sim, c, hc);
    sim.run_for(Duration::from_secs(12));
    sim.inject(s, from, &init);
    sim.run_for(Duration::from_secs(11));
    let all: Vec<Vec<u8>> = sim.nodes[s].events[events_before..]
        .iter()
        .filter_map(|e| match e {
            Event::Frame { payload, .. } => Some(payload.to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(all, vec![b"early".to_vec()], "delivered once");
    assert_eq!(sim.established(s), 2, "no second session");
    let opened =
        sim.nodes[s].events[events_before..].iter().filter(|e| matches!(e, Event::StreamOpened { .. })).count();
    assert_eq!(opened, 1);
    assert_eq!(sim.nodes[s].endpoint.stats().tickets_refused, 1, "the used ticket is refused");
}

/// Connects `c` to `s` early (whatever the test did to the path); returns the custom frames
/// `s` got, its stream bytes, and how long after the connect they were all there.
fn early_with(sim: &mut Sim, c: NodeIdx, s: NodeIdx, data: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>, Duration) {
    let started = sim.now;
    let before = sim.established(s);
    connect_early(sim, c, s, data);
    let mut got = Vec::new();
    let mut at = Duration::ZERO;
    let done = drive(sim, Duration::from_secs(10), |sim| {
        if sim.established(s) > before {
            let hs = last_established(sim, s);
            got.extend(read_streams(sim, s, hs));
            if got.len() == data.len() && at.is_zero() {
                at = sim.now - started;
            }
        }
        got.len() == data.len()
    });
    assert!(done, "the stream's bytes arrived: {} of {}", got.len(), data.len());
    let hs = last_established(sim, s);
    (custom_payloads(sim, s, hs), got, at)
}

#[test]
fn a_lost_init_takes_its_zero_rtt_data_with_it_and_the_stream_goes_again() {
    let (mut sim, c, s) = pair_with_ticket(3);
    let from = sim.nodes[c].addr;
    let mut dropped = false;
    sim.intercept(move |d| {
        if !dropped && d.from == from && d.bytes[2] == INIT {
            dropped = true;
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    let data = vec![7u8; 300];
    let (frames, got, at) = early_with(&mut sim, c, s, &data);
    assert_eq!(got, data);
    assert!(frames.is_empty(), "a custom frame is sent once: lost with its INIT");
    // The INIT again after 200 ms, CONFIRM, then the stream under the session's keys.
    assert!(at > Duration::from_millis(250), "{at:?}");
    assert_eq!(sim.nodes[s].endpoint.stats().sessions_resumed, 1);
}

#[test]
fn a_refused_ticket_drops_the_zero_rtt_data_and_the_stream_goes_after_the_full_handshake() {
    // The responder restarted (same identity and address, a new endpoint): the ticket does not
    // open, CHALLENGE answers, and the 0-RTT frames behind the INIT are dropped unread.
    let (mut sim, c, s) = pair_with_ticket(4);
    let addr = sim.nodes[s].addr;
    sim.set_online(s, false);
    let s2 = sim.add_node_at(resuming(), seed(2), addr);
    let data = vec![9u8; 400];
    let (frames, got, at) = early_with(&mut sim, c, s2, &data);
    assert_eq!(got, data);
    assert!(frames.is_empty());
    // Two round trips, then the stream at once under the session's keys (its 0-RTT copy is
    // given up when the session opens, not left to a probe timeout): 125 ms.
    assert_eq!(at, Duration::from_millis(125), "after two round trips and one way");
    let hc = sim.nodes[c].endpoint.sessions().next().unwrap();
    assert_eq!(sim.nodes[c].endpoint.session(hc).unwrap().path_stats().lost_frames, 0, "not counted as path loss");
    let st = sim.nodes[s2].endpoint.stats();
    assert_eq!((st.tickets_refused, st.sessions_resumed, st.challenges_sent), (1, 0, 1));
    assert!(st.dropped.unknown_session >= 1, "the 0-RTT frames, under a tag no session has");
}

#[test]
fn zero_rtt_data_is_refused_without_a_ticket_and_after_the_init() {
    let (mut sim, c, s) = pair_with(5, resuming(), resuming());
    let now = sim.now;
    let remote = Remote::udp(sim.nodes[s].addr);
    let h = sim.nodes[c].endpoint.connect(now, remote).unwrap();
    let r = sim.nodes[c].endpoint.session_mut(h).unwrap().allow_early_data();
    assert_eq!(r, Err(EarlyDataError::NotResumed), "a first handshake has no ticket");
    sim.flush(c);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.nodes[c].endpoint.stats().tickets_received == 0
        && sim.established(c) == 1));
    send(&mut sim, c, h, 0x80, b"hello");
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.nodes[c].endpoint.stats().tickets_received == 1));
    close(&mut sim, c, h);
    // Resuming, but the INIT went already.
    let now = sim.now;
    let h = sim.nodes[c].endpoint.connect(now, remote).unwrap();
    sim.flush(c);
    let r = sim.nodes[c].endpoint.session_mut(h).unwrap().allow_early_data();
    assert_eq!(r, Err(EarlyDataError::TooLate));
    // Open: too late too.
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 2));
    let r = sim.nodes[c].endpoint.session_mut(h).unwrap().allow_early_data();
    assert_eq!(r, Err(EarlyDataError::TooLate));
    // Resumption off: never.
    let (mut sim, c, s) = pair_with(6, config(), config());
    let now = sim.now;
    let remote = Remote::udp(sim.nodes[s].addr);
    let h = sim.nodes[c].endpoint.connect(now, remote).unwrap();
    let r = sim.nodes[c].endpoint.session_mut(h).unwrap().allow_early_data();
    assert_eq!(r, Err(EarlyDataError::NotResumed));
}

/// Drops every INIT `c` sends from now on, and keeps a copy of each, as sent.
fn drop_inits(sim: &mut Sim, c: NodeIdx) -> Rc<RefCell<Vec<Vec<u8>>>> {
    let from = sim.nodes[c].addr;
    let inits: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let kept = inits.clone();
    sim.intercept(move |d| {
        if d.from == from && d.bytes[2] == INIT {
            kept.borrow_mut().push(d.bytes.clone());
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    inits
}

/// The version byte of a handshake frame's bytes.
fn version_of(bytes: &[u8]) -> u8 {
    bytes[24]
}

/// The bytes the tap saw go from `from` to `to`.
fn sent_by(tap: &[stt_tests::sim::Datagram], from: std::net::SocketAddr, to: std::net::SocketAddr) -> usize {
    tap.iter().filter(|d| d.from == from && d.to == to).map(|d| d.bytes.len()).sum()
}

#[test]
fn after_zero_rtt_data_a_reject_ends_the_handshake_and_silence_does_not_fall_back_to_version_2() {
    use stt_proto::HandshakeError;
    // A REJECT (unauthenticated) after the 0-RTT data went: the responder may have taken it, so
    // the handshake ends instead of sending it again in a second session.
    let (mut sim, c, s) = pair_with_ticket(7);
    let inits = drop_inits(&mut sim, c);
    connect_early(&mut sim, c, s, b"stream bytes");
    sim.run_for(Duration::from_millis(10));
    let init = inits.borrow()[0].clone();
    let s_addr = sim.nodes[s].addr;
    sim.inject(c, s_addr, &version_reject(&init));
    sim.run_for(Duration::from_secs(1));
    assert_eq!(handshake_failures(&sim, c), vec![HandshakeError::UnsupportedVersion]);
    assert!(inits.borrow().iter().all(|d| version_of(d) == RESUME_VERSION), "no INIT of version 2");

    // No answer at all (every CONFIRM lost): the resumed INIT goes on until the timeout, never
    // an INIT of version 2, and the responder took the data once.
    let (mut sim, c, s) = pair_with_ticket(8);
    let (from, s_addr) = (sim.nodes[c].addr, sim.nodes[s].addr);
    let versions: Rc<RefCell<Vec<u8>>> = Rc::default();
    let seen = versions.clone();
    sim.intercept(move |d| {
        if d.from == from && d.bytes[2] == INIT {
            seen.borrow_mut().push(version_of(&d.bytes));
        }
        if d.from == s_addr && d.bytes[2] == CONFIRM {
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    let events_before = sim.nodes[s].events.len();
    connect_early(&mut sim, c, s, b"stream bytes");
    sim.run_for(Duration::from_secs(15));
    assert_eq!(handshake_failures(&sim, c), vec![HandshakeError::Timeout]);
    assert!(
        versions.borrow().len() > 3 && versions.borrow().iter().all(|&v| v == RESUME_VERSION),
        "{:?}",
        versions.borrow()
    );
    let frames = sim.nodes[s].events[events_before..].iter().filter(|e| matches!(e, Event::Frame { .. })).count();
    assert_eq!(frames, 1, "the responder took the 0-RTT data once");
}

/// A copy of `c`'s next INIT datagram (0-RTT data behind it) whose original never arrived,
/// replayed from `victim`: the session it opens at `s`, whose application then writes 64 KiB on
/// a stream and a custom frame of 1,000 bytes at once. Returns the session and the datagram.
fn opened_from_a_victim(
    sim: &mut Sim,
    c: NodeIdx,
    s: NodeIdx,
    victim: std::net::SocketAddr,
) -> (SessionHandle, Vec<u8>) {
    let inits = drop_inits(sim, c);
    connect_early(sim, c, s, b"stream bytes");
    sim.run_for(Duration::from_millis(10));
    let init = inits.borrow()[0].clone();
    sim.clear_interceptor();
    sim.record();
    sim.inject(s, victim, &init);
    assert_eq!(sim.established(s), 2, "opened by the 0-RTT data");
    let hs = last_established(sim, s);
    let mut sm = sim.nodes[s].endpoint.session_mut(hs).unwrap();
    let stream = sm.open_stream(StreamMode::Reliable).unwrap();
    sm.write(stream, &vec![1u8; 65536]).unwrap();
    sm.send_frame(0x81, &[2u8; 1000][..]).unwrap();
    sim.flush(s);
    (hs, init)
}

#[test]
fn a_session_opened_by_zero_rtt_data_sends_at_most_three_times_what_came_until_the_address_is_proven() {
    // The victim of a reflection gets only three times the datagram's size, CONFIRM aside, until
    // the session gives up on the address.
    let (mut sim, c, s) = pair_with_ticket(9);
    let victim: std::net::SocketAddr = "10.9.9.9:4000".parse().unwrap();
    let (_, init) = opened_from_a_victim(&mut sim, c, s, victim);
    sim.run_for(Duration::from_secs(20));
    let tap = sim.tap.take().unwrap();
    let confirm_len: usize =
        tap.iter().filter(|d| d.to == victim && d.bytes[2] == CONFIRM).map(|d| d.bytes.len()).sum();
    let total = sent_by(&tap, sim.nodes[s].addr, victim);
    assert!(total > confirm_len, "something within the budget went");
    assert!(
        total - confirm_len <= 3 * init.len(),
        "{} bytes besides CONFIRM for a {}-byte datagram",
        total - confirm_len,
        init.len()
    );
    assert_eq!(sim.nodes[s].endpoint.stats().dropped.transmit_buffer_too_small, 0, "held back, not dropped");

    // Closed by its application while the budget holds data back: DISCONNECT goes, ahead of
    // it, and the session ends rather than staying to close forever.
    let (mut sim, c, s) = pair_with_ticket(10);
    let (hs, _) = opened_from_a_victim(&mut sim, c, s, victim);
    sim.run_for(Duration::from_millis(100));
    sim.record();
    let now = sim.now;
    sim.nodes[s].endpoint.session_mut(hs).unwrap().close(now, 0, "bye");
    sim.flush(s);
    sim.run_for(Duration::from_secs(1));
    assert!(sim.nodes[s].endpoint.session(hs).is_none(), "the session ended");
    let tap = sim.tap.take().unwrap();
    let to_victim: Vec<(u8, usize)> =
        tap.iter().filter(|d| d.to == victim).map(|d| (d.bytes[2], d.bytes.len())).collect();
    assert_eq!(to_victim.len(), 1, "one datagram: {to_victim:?}");
    assert_eq!(to_victim[0].0, 0x15, "DISCONNECT first: {to_victim:?}");
}
