//! # stt-common: what the STT drivers share
//!
//! `stt-tokio` and `stt-mio` drive the same sans-IO core ([`stt_proto`]) on two event loops. What
//! does not depend on the loop lives here once, so the two cannot drift apart: the [`Error`] type
//! their calls return, the WebSocket listener's [`WebSocketLimits`] and [`WebSocketStats`], what a WebSocket read
//! error means ([`peer_left`]), the
//! [`RecvPool`] received datagrams are cut from, the [`DropReport`] of dropped input, what a node reports about itself
//! ([`NodeStats`], [`DriverStats`], [`NodeState`]), the application's [`Metadata`] on a session,
//! the [`EarlyData`] a new session sends with its handshake, the core's [`Clock`], [`random_bytes`] and [`random_identity`], the [`KeyLog`] file, the
//! logging of the core's events ([`log_core_event`]), the WebSocket listener's
//! [`ConnectionCaps`] and [`AcceptBackoff`], what a [`WebSocketUrl`] names, the bounded
//! [`FrameQueue`] and [`ArrivalNotes`] between the core's events and the application's calls, how a
//! UDP socket is set up for batching ([`batched_udp`]), and the core configuration both drivers
//! start from ([`driver_endpoint_config`]). The policy by which a connection falls back from UDP to WebSocket and
//! returns is the core's own ([`stt_proto::FallbackPolicy`]); each driver carries it out.
//!
//! Applications do not need this crate: each driver re-exports what its API names.

#![warn(unreachable_pub)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod early;
mod error;
mod keylog;
mod log;
mod metadata;
mod pool;
mod queue;
mod state;
mod stats;
mod udp;
mod ws;

pub use clock::Clock;
pub use early::EarlyData;
pub use error::Error;
pub use keylog::KeyLog;
pub use log::{
    core_event as log_core_event, fallback as log_fallback, transport_name, websocket as log_websocket, DropReport,
};
pub use metadata::Metadata;
pub use pool::RecvPool;
pub use queue::{ArrivalNotes, FrameQueue, MAX_ARRIVAL_NOTES, MAX_QUEUED_FRAMES};
pub use state::NodeState;
pub use stats::{DriverStats, NodeStats};
pub use udp::{batched_udp, UDP_BUFFER_BYTES};
pub use ws::{
    peer_left, websocket_config, AcceptBackoff, ConnectionCaps, WebSocketLimits, WebSocketStats, WebSocketUrl,
};

use stt_proto::{EndpointConfig, Identity, Seed};

/// 32 bytes from the operating system's random source, for RNG seeds and random identities.
///
/// # Panics
///
/// If the operating system has no random source (`getrandom` fails); no STT node can run
/// without one.
pub fn random_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    getrandom::fill(&mut out).expect("the operating system's random source failed");
    out
}

/// A new identity from the operating system's random source: a node that need not be
/// recognised across restarts.
///
/// # Panics
///
/// As [`random_bytes`].
pub fn random_identity() -> Identity {
    match Seed::new(&random_bytes()) {
        Ok(seed) => Identity::from_seed(&seed),
        Err(_) => unreachable!("32 random bytes are a valid seed"),
    }
}

/// The core configuration both drivers start from, with `shared_seed` for every peer or none
/// (peers added one by one). WebSocket paths use the UDP datagram size (1472 bytes), which bounds
/// what one WebSocket message may hold, so the two drivers interoperate with their defaults;
/// either way a session moves between UDP and WebSocket safely (stream segments never exceed a
/// UDP datagram).
pub fn driver_endpoint_config(shared_seed: Option<Seed>) -> EndpointConfig {
    let mut config = match shared_seed {
        Some(seed) => EndpointConfig::with_shared_seed(seed),
        None => EndpointConfig::default(),
    };
    config.max_websocket_datagram = config.max_udp_datagram;
    config
}
