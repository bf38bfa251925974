//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod handshakes;
pub mod noise;

use std::time::Duration;

use stt_proto::{EndpointConfig, Event, HandshakeError, Seed, SessionHandle};
use stt_tests::{Impairment, NodeIdx, Sim};

pub const SHARED: [u8; 32] = [0x5E; 32];

/// The harshest simulated path: 30% loss each way, 20% of datagrams reordered within 20 ms, 5%
/// duplicated, 5% corrupted, 10 ms each way with 5 ms of jitter.
pub fn harsh() -> Impairment {
    Impairment {
        loss: 0.3,
        duplicate: 0.05,
        reorder: 0.2,
        reorder_window: Duration::from_millis(20),
        corrupt: 0.05,
        delay: Duration::from_millis(10),
        jitter: Duration::from_millis(5),
        ..Default::default()
    }
}

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
        Event::Frame { session: s, payload, .. } if *s == session => Some(payload.to_vec()),
        _ => None,
    })
    .collect()
}

pub fn send(sim: &mut Sim, node: NodeIdx, session: SessionHandle, ty: u8, payload: &[u8]) {
    sim.nodes[node].endpoint.session_mut(session).expect("live session").send_frame(ty, payload.to_vec()).unwrap();
    sim.flush(node);
}

/// Steps the simulation, calling `f` after every step, until `f` returns true or `limit` of
/// virtual time passes. Returns whether `f` returned true.
pub fn drive(sim: &mut Sim, limit: Duration, mut f: impl FnMut(&mut Sim) -> bool) -> bool {
    let end = sim.now + limit;
    loop {
        if f(sim) {
            return true;
        }
        match sim.next_event_time() {
            Some(t) if t <= end => {
                sim.step();
            }
            _ => return f(sim),
        }
    }
}

/// One stream transfer's progress: what is left to write and what was read.
pub struct Transfer {
    pub stream: stt_proto::StreamId,
    pub data: Vec<u8>,
    pub written: usize,
    pub chunk: usize,
    pub finished_writing: bool,
    pub received: Vec<u8>,
    pub got_fin: bool,
}

impl Transfer {
    /// A transfer of `data` on `stream`, nothing written or read yet, written in `chunk`-byte
    /// writes.
    pub fn new(stream: stt_proto::StreamId, data: Vec<u8>, chunk: usize) -> Transfer {
        Transfer {
            stream,
            data,
            written: 0,
            chunk: chunk.max(1),
            finished_writing: false,
            received: Vec::new(),
            got_fin: false,
        }
    }

    /// Writes as much as the stream takes, in `chunk`-sized writes, then FIN.
    pub fn pump_write(&mut self, sim: &mut Sim, node: NodeIdx, session: SessionHandle) {
        let Some(mut m) = sim.nodes[node].endpoint.session_mut(session) else { return };
        while self.written < self.data.len() {
            let end = (self.written + self.chunk).min(self.data.len());
            match m.write(self.stream, &self.data[self.written..end]) {
                Ok(n) => self.written += n,
                Err(stt_proto::StreamError::Blocked) => break,
                Err(e) => panic!("write failed: {e}"),
            }
        }
        if self.written == self.data.len() && !self.finished_writing {
            m.finish(self.stream).unwrap();
            self.finished_writing = true;
        }
        sim.flush(node);
    }

    /// Reads everything available on the receiving side's stream of the same id.
    pub fn pump_read(&mut self, sim: &mut Sim, node: NodeIdx, session: SessionHandle) {
        let Some(mut m) = sim.nodes[node].endpoint.session_mut(session) else { return };
        loop {
            match m.read(self.stream) {
                Ok(Some(stt_proto::StreamRead::Data(b))) => self.received.extend_from_slice(&b),
                Ok(Some(stt_proto::StreamRead::Finished)) => {
                    self.got_fin = true;
                    break;
                }
                Ok(Some(stt_proto::StreamRead::Skipped { .. })) => panic!("reliable streams never skip"),
                Ok(None) | Err(stt_proto::StreamError::UnknownStream(_)) => break,
                Err(e) => panic!("read failed: {e}"),
            }
        }
        sim.flush(node);
    }
}

/// Sends `data` over a new reliable stream from `c` to `s` and returns it when all arrived (or
/// panics after `limit`).
pub fn transfer(
    sim: &mut Sim,
    (c, hc): (NodeIdx, SessionHandle),
    (s, hs): (NodeIdx, SessionHandle),
    data: Vec<u8>,
    chunk: usize,
    limit: Duration,
) -> Transfer {
    let stream = sim.nodes[c].endpoint.session_mut(hc).unwrap().open_stream(stt_proto::StreamMode::Reliable).unwrap();
    let mut t = Transfer::new(stream, data, chunk);
    let ok = drive(sim, limit, |sim| {
        t.pump_write(sim, c, hc);
        t.pump_read(sim, s, hs);
        t.got_fin
    });
    assert!(
        ok,
        "transfer incomplete after {limit:?}: wrote {} of {}, received {}",
        t.written,
        t.data.len(),
        t.received.len()
    );
    t
}
