//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use stt_proto::{EndpointConfig, Event, HandshakeError, Seed, SessionHandle};
use stt_tests::{NodeIdx, Sim};

pub const SHARED: [u8; 32] = [0x5E; 32];

pub fn seed(b: u8) -> [u8; 32] {
    [b; 32]
}

pub fn config() -> EndpointConfig {
    EndpointConfig::with_shared_seed(Seed::new(&SHARED).unwrap())
}

pub fn config_with(shared: [u8; 32]) -> EndpointConfig {
    EndpointConfig::with_shared_seed(Seed::new(&shared).unwrap())
}

/// A client (node 0) and a server (node 1) with the same shared seed.
pub fn pair(sim_seed: u64) -> (Sim, NodeIdx, NodeIdx) {
    let mut sim = Sim::new(sim_seed);
    let c = sim.add_node(config(), seed(1));
    let s = sim.add_node(config(), seed(2));
    (sim, c, s)
}

/// Connects `c` to `s` and runs until both sides report the session; returns both handles.
pub fn establish(sim: &mut Sim, c: NodeIdx, s: NodeIdx) -> (SessionHandle, SessionHandle) {
    let before_c = sim.established(c);
    let before_s = sim.established(s);
    let hc = sim.connect(c, s);
    assert!(
        sim.run_until(Duration::from_secs(30), |sim| sim.established(c) > before_c && sim.established(s) > before_s),
        "handshake did not complete"
    );
    let hs = last_established(sim, s);
    (hc, hs)
}

pub fn last_established(sim: &Sim, node: NodeIdx) -> SessionHandle {
    sim.nodes[node]
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::SessionEstablished { session, .. } => Some(*session),
            _ => None,
        })
        .expect("an established session")
}

pub fn handshake_failures(sim: &Sim, node: NodeIdx) -> Vec<HandshakeError> {
    sim.events_of(node, |e| match e {
        Event::HandshakeFailed { reason, .. } => Some(*reason),
        _ => None,
    })
    .collect()
}

/// Custom-frame payloads received by `node` on `session`, in order.
pub fn custom_payloads(sim: &Sim, node: NodeIdx, session: SessionHandle) -> Vec<Vec<u8>> {
    sim.events_of(node, move |e| match e {
        Event::CustomFrame { session: s, payload, .. } if *s == session => Some(payload.to_vec()),
        _ => None,
    })
    .collect()
}

pub fn send(sim: &mut Sim, node: NodeIdx, session: SessionHandle, ty: u8, payload: &[u8]) {
    sim.nodes[node].endpoint.session_mut(session).expect("live session").send_custom(ty, payload.to_vec()).unwrap();
    sim.flush(node);
}
