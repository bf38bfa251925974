//! # stt-mio: the STT core in a mio event loop
//!
//! Two layers, both single-threaded and non-blocking underneath:
//!
//! - [`Driver`] plugs the sans-IO core ([`stt_proto::Endpoint`]) into a `mio::Poll` **you** run:
//!   it registers its UDP socket with your `Registry` under your `Token` (and its WebSocket
//!   sockets under a range of tokens you set aside), takes readiness events
//!   ([`Driver::handle_event`]), does the work due ([`Driver::process`]), hands out the core's
//!   events ([`Driver::poll_event`]) and tells you how long to sleep ([`Driver::timeout`]).
//!   Commands go straight to the core through [`Driver::endpoint_mut`].
//! - [`Node`] is a blocking API for programs without a loop of their own: connect, accept, open
//!   and accept streams, write, read, custom frames, flush, close. It owns a `Poll` and a
//!   `Driver` and turns them until a call can answer.
//!
//! Paths are UDP and WebSocket (`ws://`; no TLS, use `stt-tokio` for `wss://`). Over WebSocket
//! each binary message carries one datagram, as in `stt-tokio`, so the two drivers interoperate
//! on either transport: [`Node::ws_bind`] listens (under [`WebSocketLimits`]: an upgrade
//! deadline, connections without a session closed, messages of one datagram at most, caps in all
//! and per address) and [`Node::connect_ws`] dials a URL, its host name resolved. At the
//! [`Driver`] level: [`Driver::set_ws_tokens`], [`Driver::ws_listen`], [`Driver::ws_dial`].
//! [`Node::connect_with_fallback`] opens a session over UDP, or over WebSocket when UDP brings no
//! answer, and moves it back to UDP when UDP opens (the core's [`stt_proto::FallbackPolicy`], as
//! in `stt-tokio`).
//!
//! The error type, [`WebSocketLimits`], [`WebSocketStats`] and [`random_bytes`] are
//! `stt-common`'s, shared with `stt-tokio`.
//!
//! ```no_run
//! # fn main() -> Result<(), stt_mio::Error> {
//! use stt_mio::stt_proto::{Seed, StreamMode};
//! use stt_mio::Node;
//!
//! let seed = Seed::new(&[7u8; 32])?;
//! let mut node = Node::bind("127.0.0.1:0".parse().unwrap(), seed)?;
//! let session = node.connect("127.0.0.1:9000".parse().unwrap())?;
//! let stream = node.open_stream(session, StreamMode::Reliable)?;
//! node.write_all(session, stream, b"hello")?;
//! node.finish(session, stream)?;
//! let echoed = node.read_to_end(session, stream)?;
//! assert_eq!(echoed, b"hello");
//! node.flush(session)?;
//! node.close(session, 0, "done");
//!
//! // Over WebSocket: listen, or dial a listener's URL.
//! let ws_addr = node.ws_bind("127.0.0.1:0".parse().unwrap())?;
//! println!("listening on ws://{ws_addr}");
//! let over_ws = node.connect_ws("ws://localhost:9001")?;
//! node.close(over_ws, 0, "done");
//! # Ok(()) }
//! ```

#![warn(unreachable_pub)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod driver;
mod node;
mod ws;

pub use driver::Driver;
pub use node::{Incoming, Node, RefusedMessages, Targets};
pub use stt_common::{
    random_bytes, DriverStats, EarlyData, Error, Metadata, NodeState, NodeStats, WebSocketLimits, WebSocketStats,
};
pub use stt_proto;
pub use stt_proto::{ExportError, SavedTicket};
