//! Helpers of the handshake tests in the simulator (`fast_open.rs`, `resumption.rs`): a pair
//! 25 ms apart each way, a timed connect, a close, and the handshake frames a tap recorded.

use std::net::SocketAddr;
use std::time::Duration;

use stt_proto::{EndpointConfig, SessionHandle};
use stt_tests::sim::Datagram;
use stt_tests::{Impairment, NodeIdx, Sim};

use super::seed;

pub const INIT: u8 = 0x01;
pub const CHALLENGE: u8 = 0x02;
pub const CONFIRM: u8 = 0x04;

/// The version byte of a handshake frame (the first byte of its payload).
pub fn version(d: &Datagram) -> u8 {
    d.bytes[24]
}

/// A pair 25 ms apart each way (RTT 50 ms) with the given configurations.
pub fn pair_with(sim_seed: u64, client: EndpointConfig, server: EndpointConfig) -> (Sim, NodeIdx, NodeIdx) {
    let mut sim = Sim::new(sim_seed);
    sim.default_link = Impairment { delay: Duration::from_millis(25), ..Default::default() };
    let c = sim.add_node(client, seed(1));
    let s = sim.add_node(server, seed(2));
    (sim, c, s)
}

/// Connects `c` to `s` and returns how long the initiator took to be established, and its handle.
pub fn timed_connect(sim: &mut Sim, c: NodeIdx, s: NodeIdx) -> (Duration, SessionHandle) {
    let before = sim.established(c);
    let started = sim.now;
    let h = sim.connect(c, s);
    assert!(sim.run_until(Duration::from_secs(15), |sim| sim.established(c) > before), "no session");
    (sim.now - started, h)
}

/// Closes `node`'s session `h` and lets a second pass.
pub fn close(sim: &mut Sim, node: NodeIdx, h: SessionHandle) {
    let now = sim.now;
    sim.nodes[node].endpoint.session_mut(h).unwrap().close(now, 0, "done");
    sim.flush(node);
    sim.run_for(Duration::from_secs(1));
}

/// The handshake frames (type and version) in the tap from `from`'s address.
pub fn handshake_frames(tap: &[Datagram], from: SocketAddr) -> Vec<(u8, u8)> {
    tap.iter()
        .filter(|d| d.from == from && matches!(d.bytes[2], INIT..=CONFIRM))
        .map(|d| (d.bytes[2], version(d)))
        .collect()
}

/// The REJECT "unsupported version" a node of an earlier version answers `init` (an INIT's
/// datagram) with: no MAC, so anyone who saw the INIT can make it too.
pub fn version_reject(init: &[u8]) -> Vec<u8> {
    use stt_proto::wire::handshake::{Reject, RejectReason, VERSION};
    let mut nonce_i = [0u8; 32];
    nonce_i.copy_from_slice(&init[24 + 33..24 + 65]);
    let reject = Reject { version: VERSION, nonce_i, reason: RejectReason::UnsupportedVersion };
    let mut payload = [0u8; Reject::LEN];
    reject.encode(&mut payload);
    let tag = u64::from_be_bytes(init[3..11].try_into().unwrap());
    super::noise::frame(stt_proto::wire::FrameType::REJECT, tag, &payload, |_| [0; 16])
}
