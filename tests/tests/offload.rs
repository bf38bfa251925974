//! Handshake work handed to the driver (`EndpointConfig::offload_handshakes`), through the
//! simulator standing in for the driver's worker threads (`Sim::handshake_work_delay`): the same
//! bytes on the wire as the work done at once, a worker's delay added to the handshake and to
//! nothing else, a burst of initiators, a copy arriving while the work is out, a session limit
//! that filled meanwhile, and a forged message whose work fails.

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use stt_proto::wire::handshake::FAST_VERSION;
use stt_proto::{EndpointConfig, Remote, SessionHandle};
use stt_tests::sim::{Datagram, Verdict};
use stt_tests::{Impairment, NodeIdx, Sim};

const INIT: u8 = 0x01;
const CONFIRM: u8 = 0x04;

fn offloaded() -> EndpointConfig {
    let mut c = config();
    c.offload_handshakes = true;
    c
}

/// A client and a server 25 ms apart each way; the server hands its handshake work out when
/// `offload`, and the work takes `delay` to come back.
fn pair_25ms(sim_seed: u64, offload: bool, delay: Duration) -> (Sim, NodeIdx, NodeIdx) {
    let mut sim = Sim::new(sim_seed);
    sim.default_link = Impairment { delay: Duration::from_millis(25), ..Default::default() };
    sim.handshake_work_delay = delay;
    let c = sim.add_node(config(), seed(1));
    let s = sim.add_node(if offload { offloaded() } else { config() }, seed(2));
    (sim, c, s)
}

/// Connects and returns the initiator's time to establishment, once the responder reported it.
fn timed_establish(sim: &mut Sim, c: NodeIdx, s: NodeIdx) -> (Duration, SessionHandle, SessionHandle) {
    let before_c = sim.established(c);
    let started = sim.now;
    let hc = sim.connect(c, s);
    assert!(sim.run_until(Duration::from_secs(10), |sim| sim.established(c) > before_c), "no session");
    let took = sim.now - started;
    let before_s = sim.established(s);
    send(sim, c, hc, 0x80, b"first");
    assert!(sim.run_until(Duration::from_secs(10), |sim| sim.established(s) > before_s), "responder never reported it");
    (took, hc, last_established(sim, s))
}

fn close(sim: &mut Sim, node: NodeIdx, h: SessionHandle) {
    let now = sim.now;
    sim.nodes[node].endpoint.session_mut(h).unwrap().close(now, 0, "done");
    sim.flush(node);
    sim.run_for(Duration::from_secs(1));
}

/// Both handshakes (two round trips, then one), data each way, a close: returns the wire hash
/// and the times to establishment.
fn two_sessions(offload: bool) -> ([u8; 32], Duration, Duration) {
    let (mut sim, c, s) = pair_25ms(41, offload, Duration::ZERO);
    let (first, hc, hs) = timed_establish(&mut sim, c, s);
    send(&mut sim, s, hs, 0x81, b"back");
    sim.run_for(Duration::from_millis(100));
    assert_eq!(custom_payloads(&sim, c, hc), vec![b"back".to_vec()]);
    close(&mut sim, c, hc);
    let (second, hc, hs) = timed_establish(&mut sim, c, s);
    assert_eq!(custom_payloads(&sim, s, hs), vec![b"first".to_vec()]);
    close(&mut sim, c, hc);
    assert_eq!(sim.nodes[s].endpoint.handshake_work_in_progress(), 0);
    assert_eq!(sim.nodes[s].endpoint.stats().one_round_trip_accepted, 1);
    (sim.wire_hash(), first, second)
}

#[test]
fn handing_the_work_out_changes_no_byte_on_the_wire() {
    let (inline, first, second) = two_sessions(false);
    let (offloaded, first_off, second_off) = two_sessions(true);
    assert_eq!((first, second), (Duration::from_millis(100), Duration::from_millis(50)));
    assert_eq!((first_off, second_off), (first, second));
    assert_eq!(inline, offloaded, "the same datagrams at the same times");
}

#[test]
fn a_workers_delay_is_added_to_the_handshake_and_the_counts_are_the_same() {
    let delay = Duration::from_millis(4);
    let (mut sim, c, s) = pair_25ms(42, true, delay);
    let (first, hc, _) = timed_establish(&mut sim, c, s);
    assert_eq!(first, Duration::from_millis(100) + delay, "the RESPONSE's work");
    close(&mut sim, c, hc);
    let dh = sim.nodes[s].endpoint.stats().diffie_hellman;
    let (second, _, hs) = timed_establish(&mut sim, c, s);
    assert_eq!(second, Duration::from_millis(50) + delay, "the one-round-trip INIT's work");
    // As when the work is done at once: e, es, ee, se (ss is remembered from the first).
    assert_eq!(sim.nodes[s].endpoint.stats().diffie_hellman - dh, 4);
    // Once established, the session's frames take no detour.
    send(&mut sim, s, hs, 0x81, b"now");
    let sent = sim.now;
    assert!(sim.run_until(Duration::from_secs(1), |sim| !custom_payloads(sim, c, last_established(sim, c)).is_empty()));
    assert_eq!(sim.now - sent, Duration::from_millis(25));
}

#[test]
fn a_burst_of_initiators_all_get_their_sessions() {
    let mut sim = Sim::new(43);
    sim.default_link = Impairment { delay: Duration::from_millis(10), ..Default::default() };
    sim.handshake_work_delay = Duration::from_millis(3);
    let s = sim.add_node(offloaded(), seed(200));
    let clients: Vec<NodeIdx> = (0..40).map(|i| sim.add_node(config(), seed(i + 1))).collect();
    for &c in &clients {
        sim.connect(c, s);
    }
    assert!(sim.run_until(Duration::from_secs(10), |sim| clients.iter().all(|&c| sim.established(c) == 1)));
    let handles: Vec<SessionHandle> = clients.iter().map(|&c| last_established(&sim, c)).collect();
    for (&c, &h) in clients.iter().zip(&handles) {
        send(&mut sim, c, h, 0x80, b"hello");
    }
    assert!(sim.run_until(Duration::from_secs(10), |sim| sim.established(s) == 40), "the responder reports all 40");
    let stats = sim.nodes[s].endpoint.stats();
    assert_eq!(sim.nodes[s].endpoint.handshake_work_in_progress(), 0);
    assert_eq!(stats.dropped.handshake_backlog, 0);
    assert_eq!(stats.dropped.total(), 0);
}

/// Establishes once and closes (so that the client knows the server's key), then captures the
/// client's next one-round-trip INIT instead of delivering it.
fn capture_fast_init(sim: &mut Sim, c: NodeIdx, s: NodeIdx) -> Vec<u8> {
    let (_, hc, _) = timed_establish(sim, c, s);
    close(sim, c, hc);
    let captured: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let cap = captured.clone();
    let from = sim.nodes[c].addr;
    sim.intercept(move |d: &mut Datagram| {
        if d.from == from && d.bytes[2] == INIT && d.bytes[24] == FAST_VERSION {
            cap.borrow_mut().push(d.bytes.clone());
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    let now = sim.now;
    let remote = Remote::udp(sim.nodes[s].addr);
    sim.nodes[c].endpoint.connect(now, remote).unwrap();
    sim.flush(c);
    sim.run_for(Duration::from_millis(30));
    sim.clear_interceptor();
    let init = captured.borrow()[0].clone();
    init
}

#[test]
fn a_copy_arriving_while_the_work_is_out_is_dropped_and_one_confirm_goes() {
    let (mut sim, c, s) = pair_25ms(44, true, Duration::from_millis(20));
    let init = capture_fast_init(&mut sim, c, s);
    let from = sim.nodes[c].addr;
    sim.record();
    sim.inject(s, from, &init);
    assert_eq!(sim.nodes[s].endpoint.handshake_work_in_progress(), 1);
    sim.inject(s, from, &init);
    assert_eq!(sim.nodes[s].endpoint.stats().dropped.handshake_backlog, 1);
    assert!(sim.run_until(Duration::from_secs(1), |sim| sim.established(c) == 2));
    assert_eq!(sim.nodes[s].endpoint.handshake_work_in_progress(), 0);
    let tap = sim.tap.take().unwrap();
    let confirms = tap.iter().filter(|d| d.from == sim.nodes[s].addr && d.bytes[2] == CONFIRM).count();
    assert_eq!(confirms, 1);
}

#[test]
fn work_out_counts_against_the_session_limit() {
    let mut sim = Sim::new(45);
    sim.default_link = Impairment { delay: Duration::from_millis(10), ..Default::default() };
    sim.handshake_work_delay = Duration::from_millis(5);
    let mut server = offloaded();
    server.max_sessions = 1;
    let s = sim.add_node(server, seed(9));
    let (a, b) = (sim.add_node(config(), seed(1)), sim.add_node(config(), seed(2)));
    // The RESPONSEs arrive together (30 ms); the first one's work, out, counts as the one
    // session allowed, so the second is refused on arrival and costs no Diffie–Hellman.
    sim.connect(a, s);
    sim.connect(b, s);
    sim.run_for(Duration::from_millis(32));
    assert_eq!(sim.nodes[s].endpoint.handshake_work_in_progress(), 1);
    assert_eq!(sim.nodes[s].endpoint.stats().dropped.session_limit, 1);
    sim.run_for(Duration::from_millis(500));
    assert_eq!(sim.nodes[s].endpoint.session_count(), 1);
    assert!(sim.nodes[s].endpoint.stats().dropped.session_limit >= 1);
    assert_eq!(sim.established(a) + sim.established(b), 1, "one initiator has a session");
    assert_eq!(sim.nodes[s].endpoint.handshake_work_in_progress(), 0);
}

#[test]
fn a_forged_copy_whose_work_fails_retires_its_session_id_and_costs_one_diffie_hellman() {
    let (mut sim, c, s) = pair_25ms(46, true, Duration::from_millis(10));
    let init = capture_fast_init(&mut sim, c, s);
    // The packet number is outside the seed MAC: a changed copy fails only in the Noise message.
    let pn_at = init.len() - 24;
    let mut copy = init.clone();
    copy[pn_at + 7] ^= 1;
    let elsewhere: SocketAddr = "198.51.100.9:6000".parse().unwrap();
    let dh = sim.nodes[s].endpoint.stats().diffie_hellman;
    sim.inject(s, elsewhere, &copy);
    sim.inject(s, elsewhere, &copy);
    assert_eq!(sim.nodes[s].endpoint.stats().dropped.handshake_backlog, 1, "the second copy waits for nothing");
    sim.run_for(Duration::from_millis(20));
    let stats = sim.nodes[s].endpoint.stats();
    assert_eq!(stats.diffie_hellman - dh, 1, "es only");
    assert_eq!(stats.dropped.handshake_authentication, 1);
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);
    // The session id is retired: the genuine INIT, when it comes, opens nothing.
    sim.inject(s, sim.nodes[c].addr, &init);
    assert_eq!(sim.nodes[s].endpoint.stats().dropped.replayed_handshake, 1);
    assert_eq!(sim.nodes[s].endpoint.handshake_work_in_progress(), 0);
}

/// Connects a client the server allows (by node id) and runs until the server's work for its
/// RESPONSE is out; `meanwhile` then changes the server; returns the sim and both nodes.
fn with_work_out(sim_seed: u64, meanwhile: impl FnOnce(&mut Sim, NodeIdx, NodeIdx)) -> (Sim, NodeIdx, NodeIdx) {
    let mut sim = Sim::new(sim_seed);
    sim.default_link = Impairment { delay: Duration::from_millis(10), ..Default::default() };
    sim.handshake_work_delay = Duration::from_millis(20);
    let c = sim.add_node(config(), seed(1));
    let s = sim.add_node(offloaded(), seed(2));
    let client_id = sim.nodes[c].endpoint.node_id();
    sim.nodes[s].endpoint.allow(client_id);
    sim.connect(c, s);
    sim.run_for(Duration::from_millis(32));
    assert_eq!(sim.nodes[s].endpoint.handshake_work_in_progress(), 1, "the RESPONSE's work is out");
    meanwhile(&mut sim, c, s);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.nodes[s].endpoint.handshake_work_in_progress(), 0);
    (sim, c, s)
}

#[test]
fn work_that_comes_back_for_a_peer_removed_meanwhile_makes_no_session() {
    let (sim, c, s) = with_work_out(47, |sim, c, s| {
        let (now, peer) = (sim.now, sim.nodes[c].endpoint.node_id());
        sim.nodes[s].endpoint.remove_peer(now, &peer, "removed");
    });
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);
    assert_eq!(sim.established(c) + sim.established(s), 0);
    assert!(sim.nodes[s].endpoint.stats().dropped.unexpected_handshake >= 1);
}

#[test]
fn work_that_comes_back_after_server_mode_was_turned_off_makes_no_session() {
    let (sim, c, s) = with_work_out(48, |sim, _, s| sim.nodes[s].endpoint.set_server_mode(false));
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);
    assert_eq!(sim.established(c) + sim.established(s), 0);
}

#[test]
fn work_that_comes_back_with_nothing_changed_makes_the_session() {
    // The control for the two above: the same run, nothing changed meanwhile.
    let (sim, c, _) = with_work_out(49, |_, _, _| {});
    assert_eq!(sim.established(c), 1);
}
