//! # stt-common: what the STT drivers share
//!
//! `stt-tokio` and `stt-mio` drive the same sans-IO core ([`stt_proto`]) on two event loops. What
//! does not depend on the loop lives here once, so the two cannot drift apart: the [`Error`] type
//! their calls return, the WebSocket listener's [`WebSocketLimits`] and [`WebSocketStats`], what a WebSocket read
//! error means ([`peer_left`]), the
//! [`RecvPool`] received datagrams are cut from, the [`DropReport`] of dropped input, what a node reports about itself
//! ([`NodeStats`], [`DriverStats`], [`NodeState`]), the application's [`Metadata`] on a session,
//! the core's [`Clock`], and [`random_bytes`]. The policy by which a connection falls back from UDP to WebSocket and
//! returns is the core's own ([`stt_proto::FallbackPolicy`]); each driver carries it out.
//!
//! Applications do not need this crate: each driver re-exports what its API names.

#![warn(unreachable_pub)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod error;
mod log;
mod metadata;
mod pool;
mod state;
mod stats;
mod ws;

pub use clock::Clock;
pub use error::Error;
pub use log::{transport_name, DropReport};
pub use metadata::Metadata;
pub use pool::RecvPool;
pub use state::NodeState;
pub use stats::{DriverStats, NodeStats};
pub use ws::{peer_left, WebSocketLimits, WebSocketStats};

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
