//! Resumption (INIT and CONFIRM of version 4, NEW_TICKET) through the simulator: a resumed
//! session in one round trip with one X25519 agreement a side, a ticket per session, the loss of
//! each message, a replayed resumed INIT (while the session lives, after, from elsewhere),
//! tickets that do not open (another responder's, expired, altered, from before a restart,
//! used), a changed copy of a resumed INIT (it must not use the ticket up), the load that
//! switches the responder to cookies, nodes that do not resume or do not speak version 4, and
//! tickets saved out of one endpoint and restored into another run.

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::handshakes::*;
use common::*;
use stt_proto::wire::handshake::{RESUME_VERSION, VERSION};
use stt_proto::{EndpointConfig, Remote, SavedTicket, SessionHandle};
use stt_tests::sim::{Datagram, Verdict};
use stt_tests::{NodeIdx, Sim};

fn resuming() -> EndpointConfig {
    let mut c = config();
    c.resumption = true;
    c
}

/// A session from `c` to `s`, used (custom frames both ways), until `c` holds a ticket; closed.
fn session_with_ticket(sim: &mut Sim, c: NodeIdx, s: NodeIdx) -> Duration {
    let tickets = sim.nodes[c].endpoint.stats().tickets_received;
    let (t, h) = timed_connect(sim, c, s);
    send(sim, c, h, 0x80, b"hello");
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.nodes[c].endpoint.stats().tickets_received > tickets));
    close(sim, c, h);
    t
}

#[test]
fn a_resumed_session_takes_one_round_trip_and_one_agreement_a_side() {
    let (mut sim, c, s) = pair_with(1, resuming(), resuming());
    assert_eq!(session_with_ticket(&mut sim, c, s), Duration::from_millis(100), "the first: two round trips");
    let peer = sim.nodes[s].endpoint.node_id();
    assert!(sim.nodes[c].endpoint.has_ticket_for(&peer));
    for round in 0..3 {
        sim.record();
        let dh = (sim.nodes[c].endpoint.stats().diffie_hellman, sim.nodes[s].endpoint.stats().diffie_hellman);
        let (t, hc) = timed_connect(&mut sim, c, s);
        assert_eq!(t, Duration::from_millis(50), "resumed in one round trip (round {round})");
        assert!(!sim.nodes[c].endpoint.has_ticket_for(&peer), "a ticket opens one session");
        send(&mut sim, c, hc, 0x80, b"resumed");
        assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(s) == round + 2));
        let hs = last_established(&sim, s);
        send(&mut sim, s, hs, 0x81, b"and back");
        sim.run_for(Duration::from_millis(200));
        assert_eq!(custom_payloads(&sim, s, hs), vec![b"resumed".to_vec()]);
        assert_eq!(custom_payloads(&sim, c, hc), vec![b"and back".to_vec()]);
        // Generating e and ee, on each side: forward secrecy for one agreement each.
        assert_eq!(sim.nodes[c].endpoint.stats().diffie_hellman - dh.0, 2);
        assert_eq!(sim.nodes[s].endpoint.stats().diffie_hellman - dh.1, 2);
        let tap = sim.tap.take().unwrap();
        assert_eq!(handshake_frames(&tap, sim.nodes[c].addr), vec![(INIT, RESUME_VERSION)]);
        assert_eq!(handshake_frames(&tap, sim.nodes[s].addr), vec![(CONFIRM, RESUME_VERSION)]);
        // The resumed session gives a ticket for the next one.
        assert!(sim.nodes[c].endpoint.has_ticket_for(&peer));
        close(&mut sim, c, hc);
    }
    let st = sim.nodes[s].endpoint.stats();
    assert_eq!((st.sessions_resumed, st.tickets_issued, st.tickets_refused, st.challenges_sent), (3, 4, 0, 1));
    assert_eq!(sim.nodes[c].endpoint.stats().tickets_received, 4);
}

/// Runs a resumed handshake with the first datagram `matching` dropped; returns its duration.
fn resumed_with_a_loss(sim_seed: u64, matching: impl Fn(&Datagram) -> bool + 'static) -> Duration {
    let (mut sim, c, s) = pair_with(sim_seed, resuming(), resuming());
    session_with_ticket(&mut sim, c, s);
    let mut dropped = false;
    sim.intercept(move |d| {
        if !dropped && matching(d) {
            dropped = true;
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    let (t, h) = timed_connect(&mut sim, c, s);
    send(&mut sim, c, h, 0x80, b"after a loss");
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(s) == 2), "the responder reports it");
    let hs = last_established(&sim, s);
    assert_eq!(custom_payloads(&sim, s, hs), vec![b"after a loss".to_vec()]);
    assert_eq!(sim.nodes[s].endpoint.stats().sessions_resumed, 1, "still resumed, not a full handshake");
    t
}

#[test]
fn a_lost_resumed_init_is_sent_again() {
    let t = resumed_with_a_loss(2, |d| d.bytes[2] == INIT && version(d) == RESUME_VERSION);
    assert_eq!(t, Duration::from_millis(250), "again after the 200 ms retransmission timer");
}

#[test]
fn a_lost_resumed_confirm_is_answered_again_for_the_repeated_init() {
    let t = resumed_with_a_loss(3, |d| d.bytes[2] == CONFIRM && version(d) == RESUME_VERSION);
    assert_eq!(t, Duration::from_millis(250));
}

#[test]
fn a_lost_ticket_is_sent_again() {
    let (mut sim, c, s) = pair_with(4, resuming(), resuming());
    let mut dropped = false;
    sim.intercept(move |d| {
        if !dropped && d.bytes[2] == 0x1A {
            dropped = true;
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    let (_, h) = timed_connect(&mut sim, c, s);
    send(&mut sim, c, h, 0x80, b"hello");
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.nodes[c].endpoint.stats().tickets_received == 1));
    assert_eq!(sim.nodes[s].endpoint.stats().tickets_issued, 1, "one ticket, sent twice");
    close(&mut sim, c, h);
    let (t, _) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(50));
}

/// Connects `c` to `s` with `c`'s resumed INITs dropped, and returns the first as sent.
fn capture_resumed_init(sim: &mut Sim, c: NodeIdx, s: NodeIdx) -> (SessionHandle, Vec<u8>) {
    let captured: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let cap = captured.clone();
    let from = sim.nodes[c].addr;
    sim.intercept(move |d| {
        if d.from == from && d.bytes[2] == INIT && version(d) == RESUME_VERSION {
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
    sim.intercept(|_| Verdict::Deliver);
    (h, init)
}

#[test]
fn a_replayed_resumed_init_opens_no_second_session() {
    let (mut sim, c, s) = pair_with(5, resuming(), resuming());
    session_with_ticket(&mut sim, c, s);
    let (hc, init) = capture_resumed_init(&mut sim, c, s);
    let c_addr = sim.nodes[c].addr;
    // The original arrives (late) and opens the session.
    sim.inject(s, c_addr, &init);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 2));
    send(&mut sim, c, hc, 0x80, b"once");
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(s) == 2));
    let resumed = sim.nodes[s].endpoint.stats().sessions_resumed;
    // A copy from elsewhere while the session lives: nothing.
    let elsewhere: SocketAddr = "10.9.9.9:4000".parse().unwrap();
    sim.inject(s, elsewhere, &init);
    sim.run_for(Duration::from_millis(100));
    let dropped = sim.nodes[s].endpoint.stats().dropped.unexpected_handshake;
    assert!(dropped >= 1);
    // After the session closed and its id's retirement passed, the ticket is still used: a copy
    // gets CHALLENGE (a full handshake the replayer cannot finish), never a session.
    close(&mut sim, c, hc);
    sim.run_for(Duration::from_secs(12));
    let challenges = sim.nodes[s].endpoint.stats().challenges_sent;
    sim.inject(s, c_addr, &init);
    sim.run_for(Duration::from_secs(11));
    let st = sim.nodes[s].endpoint.stats();
    assert_eq!(st.sessions_resumed, resumed);
    assert_eq!(st.tickets_refused, 1, "the used ticket is refused");
    assert_eq!(st.challenges_sent, challenges + 1);
    assert_eq!(sim.established(s), 2, "no second session");
    let all: usize = sim.nodes[s].endpoint.sessions().map(|h| custom_payloads(&sim, s, h).len()).sum();
    assert_eq!(all, 0, "nothing was delivered again");
}

/// A copy of `c`'s ticket for `s`, out of its endpoint (so that the test can present it as it
/// likes).
fn take_saved(sim: &mut Sim, c: NodeIdx, s: NodeIdx) -> SavedTicket {
    let peer = sim.nodes[s].endpoint.node_id();
    let now = sim.now;
    let saved = sim.nodes[c].endpoint.saved_tickets(now);
    // The one held stays; a restored ticket is the newest, and presented first.
    saved.into_iter().find(|t| t.peer == peer).expect("a ticket for the peer")
}

/// Restores `ticket` into `c`, connects to `s` and returns how long it took and what `s` counted
/// as refused.
fn present(sim: &mut Sim, c: NodeIdx, s: NodeIdx, ticket: SavedTicket) -> (Duration, u64) {
    let now = sim.now;
    sim.nodes[c].endpoint.restore_ticket(now, ticket);
    sim.record();
    let before = sim.established(c);
    let (remote, peer) = (Remote::udp(sim.nodes[s].addr), sim.nodes[s].endpoint.node_id());
    sim.nodes[c].endpoint.connect_to(now, remote, peer).unwrap();
    sim.flush(c);
    assert!(sim.run_until(Duration::from_secs(15), |sim| sim.established(c) > before), "no session");
    let t = sim.now - now;
    let tap = sim.tap.take().unwrap();
    assert_eq!(handshake_frames(&tap, sim.nodes[c].addr)[0], (INIT, RESUME_VERSION), "the ticket was presented");
    assert_eq!(handshake_frames(&tap, sim.nodes[s].addr)[0], (CHALLENGE, VERSION), "and refused");
    (t, sim.nodes[s].endpoint.stats().tickets_refused)
}

#[test]
fn tickets_that_do_not_open_fall_back_to_a_full_handshake() {
    // Another responder's ticket (presented as if it were this one's).
    let (mut sim, c, s) = pair_with(6, resuming(), resuming());
    let s2 = sim.add_node(resuming(), seed(3));
    session_with_ticket(&mut sim, c, s2);
    let mut foreign = take_saved(&mut sim, c, s2);
    foreign.peer = sim.nodes[s].endpoint.node_id();
    let (t, refused) = present(&mut sim, c, s, foreign);
    assert_eq!((t, refused), (Duration::from_millis(100), 1));

    // An expired one: the responder's lifetime is 3 s; the initiator is told it lasts longer.
    let mut short = resuming();
    short.ticket_lifetime = Duration::from_secs(3);
    let (mut sim, c, s) = pair_with(7, resuming(), short);
    session_with_ticket(&mut sim, c, s);
    let mut expired = take_saved(&mut sim, c, s);
    expired.valid_for = Duration::from_secs(3600);
    sim.run_for(Duration::from_secs(3));
    let (t, refused) = present(&mut sim, c, s, expired);
    assert_eq!((t, refused), (Duration::from_millis(100), 1));

    // An altered one.
    let (mut sim, c, s) = pair_with(8, resuming(), resuming());
    session_with_ticket(&mut sim, c, s);
    let mut bytes = take_saved(&mut sim, c, s).to_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    let altered = SavedTicket::from_bytes(&bytes).unwrap();
    let (t, refused) = present(&mut sim, c, s, altered);
    assert_eq!((t, refused), (Duration::from_millis(100), 1));

    // One from before the responder restarted (same identity, same address, a new endpoint).
    let (mut sim, c, s) = pair_with(9, resuming(), resuming());
    session_with_ticket(&mut sim, c, s);
    let ticket = take_saved(&mut sim, c, s);
    let addr = sim.nodes[s].addr;
    sim.set_online(s, false);
    let s2 = sim.add_node_at(resuming(), seed(2), addr);
    let (t, refused) = present(&mut sim, c, s2, ticket);
    assert_eq!((t, refused), (Duration::from_millis(100), 1));
}

#[test]
fn a_saved_ticket_resumes_from_another_endpoint_of_the_same_node() {
    let (mut sim, c, s) = pair_with(10, resuming(), resuming());
    session_with_ticket(&mut sim, c, s);
    let bytes = take_saved(&mut sim, c, s).to_bytes();
    // The same node (same identity) in a new run, at another address.
    sim.set_online(c, false);
    let c2 = sim.add_node(resuming(), seed(1));
    let now = sim.now;
    sim.nodes[c2].endpoint.restore_ticket(now, SavedTicket::from_bytes(&bytes).unwrap());
    // The ticket says where its peer was met: `connect` to that address finds it.
    let (t, _) = timed_connect(&mut sim, c2, s);
    assert_eq!(t, Duration::from_millis(50));
    assert_eq!(sim.nodes[s].endpoint.stats().sessions_resumed, 1);
}

#[test]
fn under_load_a_resumed_init_gets_a_cookie_first() {
    let mut loaded = resuming();
    loaded.cookie_above_inits_per_second = 0;
    let (mut sim, c, s) = pair_with(11, resuming(), loaded);
    session_with_ticket(&mut sim, c, s);
    sim.record();
    let (t, _) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(100));
    let tap = sim.tap.take().unwrap();
    assert_eq!(handshake_frames(&tap, sim.nodes[s].addr)[0], (CHALLENGE, VERSION));
    let st = sim.nodes[s].endpoint.stats();
    assert_eq!((st.sessions_resumed, st.tickets_refused), (0, 0), "a cookie for the load, not a refused ticket");
    assert!(st.one_round_trip_challenged >= 1);
}

#[test]
fn a_ticket_presented_under_load_is_used_up_so_a_recorded_copy_opens_nothing_later() {
    let mut loaded = resuming();
    loaded.cookie_above_half_open = 1;
    let (mut sim, c, s) = pair_with(17, resuming(), loaded);
    let other = sim.add_node(resuming(), seed(4));
    session_with_ticket(&mut sim, c, s);
    // One half-open session (from another node whose first frame never comes) loads the
    // responder: the resumed INIT gets a cookie and the handshake goes on in two round trips.
    let from_other = sim.nodes[other].addr;
    let handshake_only = move |d: &mut Datagram| d.from != from_other || matches!(d.bytes[2], 0x01 | 0x03);
    sim.intercept(move |d| if handshake_only(d) { Verdict::Deliver } else { Verdict::Drop });
    sim.connect(other, s);
    sim.run_for(Duration::from_millis(60));
    let (hc, init) = capture_resumed_init(&mut sim, c, s);
    let c_addr = sim.nodes[c].addr;
    sim.inject(s, c_addr, &init);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 2));
    assert_eq!(sim.nodes[s].endpoint.stats().sessions_resumed, 0);
    close(&mut sim, c, hc);
    // Long after (the half-open session expired, the load is gone, the INIT's id no longer
    // retired), the recorded INIT again: its ticket was used up, so CHALLENGE, no session.
    sim.run_for(Duration::from_secs(75));
    let (refused, established) = (sim.nodes[s].endpoint.stats().tickets_refused, sim.established(s));
    sim.inject(s, c_addr, &init);
    sim.run_for(Duration::from_secs(12));
    let st = sim.nodes[s].endpoint.stats();
    assert_eq!((st.sessions_resumed, st.tickets_refused), (0, refused + 1));
    assert_eq!(sim.established(s), established, "no session from the copy");
}

#[test]
fn resumption_works_with_fast_open_off() {
    let mut off = resuming();
    off.fast_open = false;
    let (mut sim, c, s) = pair_with(18, off.clone(), off);
    session_with_ticket(&mut sim, c, s);
    let (t, _) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(50));
    assert_eq!(sim.nodes[s].endpoint.stats().sessions_resumed, 1);
}

#[test]
fn nodes_that_do_not_resume_neither_issue_nor_take_tickets() {
    // A responder with resumption off issues no ticket: the second session is one round trip
    // by its static key (version 3), as before.
    let (mut sim, c, s) = pair_with(12, resuming(), config());
    let (_, h) = timed_connect(&mut sim, c, s);
    send(&mut sim, c, h, 0x80, b"x");
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.nodes[c].endpoint.stats().tickets_received, 0);
    close(&mut sim, c, h);
    let (t, _) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(50));
    assert_eq!(sim.nodes[s].endpoint.stats().one_round_trip_accepted, 1);

    // A responder that turned it off since it issued the ticket answers CHALLENGE.
    let (mut sim, c, s) = pair_with(13, resuming(), resuming());
    session_with_ticket(&mut sim, c, s);
    let ticket = take_saved(&mut sim, c, s);
    let addr = sim.nodes[s].addr;
    sim.set_online(s, false);
    let s2 = sim.add_node_at(config(), seed(2), addr);
    let (t, refused) = present(&mut sim, c, s2, ticket);
    assert_eq!((t, refused), (Duration::from_millis(100), 0));

    // An initiator with resumption off keeps no ticket.
    let (mut sim, c, s) = pair_with(14, config(), resuming());
    let (_, h) = timed_connect(&mut sim, c, s);
    send(&mut sim, c, h, 0x80, b"x");
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.nodes[s].endpoint.stats().tickets_issued, 1);
    assert_eq!(sim.nodes[c].endpoint.stats().tickets_received, 0);
    assert!(!sim.nodes[c].endpoint.has_ticket_for(&sim.nodes[s].endpoint.node_id()));
}

#[test]
fn a_changed_copy_of_a_resumed_init_does_not_use_the_ticket_up() {
    let (mut sim, c, s) = pair_with(15, resuming(), resuming());
    session_with_ticket(&mut sim, c, s);
    // A copy of the ticket, to present again later (as the same node would in another run).
    let spare = take_saved(&mut sim, c, s);
    let (_, init) = capture_resumed_init(&mut sim, c, s);
    // The copy arrives first with its packet number changed (the seed MAC does not cover it):
    // its tag fails, the session id is retired, the source gets cookies for a while.
    let mut changed = init.clone();
    let at = changed.len() - 20;
    changed[at] ^= 1;
    let c_addr = sim.nodes[c].addr;
    sim.inject(s, c_addr, &changed);
    sim.run_for(Duration::from_millis(10));
    let st = sim.nodes[s].endpoint.stats();
    assert_eq!((st.sessions_resumed, st.tickets_refused), (0, 0));
    assert!(st.dropped.handshake_authentication >= 1);
    // The ticket was not used up: presented again (a new handshake, a new nonce) after the
    // source's cookie minute, it opens a session.
    let _ = sim.run_until(Duration::from_secs(30), |sim| sim.established(c) == 2);
    sim.run_for(Duration::from_secs(61));
    let now = sim.now;
    sim.nodes[c].endpoint.restore_ticket(now, spare);
    let before = sim.nodes[s].endpoint.stats().sessions_resumed;
    timed_connect(&mut sim, c, s);
    assert_eq!(sim.nodes[s].endpoint.stats().sessions_resumed, before + 1, "the same ticket opened a session");
}

#[test]
fn a_node_that_does_not_speak_version_4_rejects_it_and_the_handshake_goes_on() {
    let (mut sim, c, s) = pair_with(16, resuming(), resuming());
    session_with_ticket(&mut sim, c, s);
    // Play a node of an earlier version: its answer to an INIT of version 4 is REJECT(5).
    let (hc, init) = capture_resumed_init(&mut sim, c, s);
    sim.record();
    let frame = version_reject(&init);
    let s_addr = sim.nodes[s].addr;
    sim.inject(c, s_addr, &frame);
    // A second REJECT (for a copy of the INIT sent again before the first REJECT came back)
    // does not end the handshake that fell back.
    sim.run_for(Duration::from_millis(1));
    sim.inject(c, s_addr, &frame);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.established(c) == 2), "no hang: INIT of version 2 at once");
    assert!(handshake_failures(&sim, c).is_empty());
    assert!(sim.nodes[c].endpoint.session(hc).is_some());
    let tap = sim.tap.take().unwrap();
    assert_eq!(handshake_frames(&tap, sim.nodes[c].addr)[0], (INIT, VERSION));
    // The peer is not marked as a node of version 2: the next handshake is one round trip.
    close(&mut sim, c, hc);
    let (t, _) = timed_connect(&mut sim, c, s);
    assert_eq!(t, Duration::from_millis(50));
}
