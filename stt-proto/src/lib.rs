//! # stt-proto: the sans-IO core of STT
//!
//! STT is an encrypted, multiplexed, peer-to-peer binary transport for pre-authorised peers: two
//! nodes holding the same pre-shared seed open a session with a four-message handshake (two
//! messages, one round trip, with a peer whose static key the initiator knows) and then exchange
//! encrypted frames. This crate is the protocol with no I/O: it never touches a socket,
//! never reads a clock and never asks the OS for randomness. Drivers (`stt-tokio`, `stt-mio`, or
//! your own) feed it datagrams and time and send what it produces.
//!
//! It is `#![no_std]` (with `alloc`) and `#![forbid(unsafe_code)]`; it builds for
//! `thumbv7em-none-eabihf` with `--no-default-features`.
//!
//! ## Run loop
//!
//! Method classes: inputs are `handle_*`, commands are plain verbs, outputs are `poll_*`.
//!
//! ```text
//! loop {
//!     on datagram (remote, bytes)  => endpoint.handle_datagram(now, remote, bytes)
//!     on timer expiry              => endpoint.handle_timeout(now)
//!     on user command              => endpoint.connect(..) / endpoint.session_mut(h)?.send_frame(..) / .close(..)
//!     // after any of the above, in this order:
//!     while let Some(t) = endpoint.poll_transmit(now, 1, &mut buf) { send(&buf[..t.len], t.remote) }
//!     while let Some(ev) = endpoint.poll_event() { deliver(ev) }
//!     sleep until endpoint.poll_timeout() (a deadline equal to `now` is already due)
//! }
//! ```
//!
//! A driver with threads to spare may also set `EndpointConfig::offload_handshakes` and take the
//! handshakes' Diffie–Hellman out of that loop: after the inputs, `endpoint.poll_handshake_work()`
//! gives owned work to run on another thread, and `endpoint.handle_handshake_done(now, done)`
//! takes its outcome back, as one more input.
//!
//! ```
//! use bytes::BytesMut;
//! use stt_proto::{Endpoint, EndpointConfig, Event, Identity, Instant, Remote, Seed};
//!
//! let shared = Seed::new(&[7u8; 32]).unwrap();
//! let mut a = Endpoint::new(EndpointConfig::with_shared_seed(shared.clone()),
//!                           Identity::from_seed_bytes(&[1u8; 32]).unwrap(), [1u8; 32]).unwrap();
//! let mut b = Endpoint::new(EndpointConfig::with_shared_seed(shared),
//!                           Identity::from_seed_bytes(&[2u8; 32]).unwrap(), [2u8; 32]).unwrap();
//! let (a_addr, b_addr) = ("10.0.0.1:1000".parse().unwrap(), "10.0.0.2:2000".parse().unwrap());
//! let now = Instant::ZERO;
//! let h = a.connect(now, Remote::udp(b_addr)).unwrap();
//! a.session_mut(h).unwrap().send_frame(0x80, &b"hello"[..]).unwrap();
//! let mut buf = [0u8; 1500];
//! // Shuttle datagrams until both sides are quiet.
//! loop {
//!     let mut moved = false;
//!     while let Some(t) = a.poll_transmit(now, 1, &mut buf) {
//!         b.handle_datagram(now, Remote::udp(a_addr), BytesMut::from(&buf[..t.len]));
//!         moved = true;
//!     }
//!     while let Some(t) = b.poll_transmit(now, 1, &mut buf) {
//!         a.handle_datagram(now, Remote::udp(b_addr), BytesMut::from(&buf[..t.len]));
//!         moved = true;
//!     }
//!     if !moved { break; }
//! }
//! let got: Vec<Event> = std::iter::from_fn(|| b.poll_event()).collect();
//! assert!(got.iter().any(|e| matches!(e, Event::Frame { frame_type: 0x80, payload, .. } if &payload[..] == b"hello")));
//! ```
//!
//! ## What is public
//!
//! - [`Endpoint`] (the node), [`SessionRef`] / [`SessionMut`] (one session), [`Event`] and the
//!   typed errors; [`EndpointConfig`], [`Identity`], [`Seed`].
//! - [`congestion`]: the [`congestion::CongestionController`] trait and the controllers, for
//!   applications that plug their own.
//! - With feature `unstable-wire` (not a stable API): `wire`, the frame codec and payload formats
//!   (borrowing decode, typed errors), for tools that read captures; `crypto`, the seam to
//!   SHA3-256, HKDF, HMAC and the AEAD suites, and the key schedule (test vectors use it).
//! - [`segment`]: the segment encoder/decoder, usable without a session; [`storage`]: the
//!   content-addressed, encrypted store and its backend trait; [`names`]: named endpoints;
//!   [`Channel`], [`Message`]: reliable messages (`SessionMut::send_message`).
//!
//! Sessions, streams, recovery, the handshake paths and the session table are internal; their
//! layout is in `docs/ARCHITECTURE.md`.
//!
//! Custom frames and routes are best-effort (never retransmitted, one datagram each); their
//! reliable counterpart is a message ([`SessionMut::send_message`]): whole, ordered, of any size up
//! to `max_message_size`. Resolve and route requests are repeated until answered.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(unreachable_pub)]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

// The frame codec and the key schedule are the crate's own; feature `unstable-wire` makes them
// public for capture readers, vectors and fuzzers. Without it their `pub` items are the crate's
// internal interface, and what no internal caller uses is there for those tools.
#[cfg(feature = "unstable-wire")]
pub mod crypto;
#[cfg(not(feature = "unstable-wire"))]
#[allow(unreachable_pub, dead_code, unused_imports)]
mod crypto;
#[cfg(feature = "unstable-wire")]
pub mod wire;
#[cfg(not(feature = "unstable-wire"))]
#[allow(unreachable_pub, dead_code, unused_imports)]
mod wire;

pub mod close;
mod config;
pub mod congestion;
mod endpoint;
mod event;
mod fallback;
#[cfg(feature = "storage")]
pub mod fetch;
mod handshake;
mod message;
pub mod names;
mod recovery;
mod rng;
mod rtt;
#[cfg(feature = "segment")]
pub mod segment;
mod session;
mod stats;
#[cfg(feature = "storage")]
pub mod storage;
mod stream;
mod time;
mod types;

/// Internals exposed to the fuzz targets and property tests (feature `fuzzing`); not a stable
/// API.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::stream::recv::RecvHalf;
}

pub use bytes;
pub use config::{
    ConfigError, EndpointConfig, Identity, KeyRotationPolicy, Seed, Shard, MAX_CONCURRENT_STREAMS, MIN_SEED_LEN,
};
pub use crypto::{CryptoBackend, ExportError, SessionSecrets, Suite, MAX_EXPORT_LABEL, MAX_EXPORT_LEN};
pub use endpoint::{ConnectError, Endpoint, Route, SessionMut, ShardChange, Transmit};
#[cfg(feature = "offload")]
pub use endpoint::{HandshakeDone, HandshakeWork, MAX_HANDSHAKE_WORK};
pub use event::{CloseReason, Event, HandshakeError};
pub use fallback::{Fallback, FallbackAction, FallbackPolicy};
pub use handshake::initiator::EarlyDataError;
#[cfg(feature = "resumption")]
pub use handshake::tickets::SavedTicket;
pub use message::{Channel, Message, MessageError, MessageId, MessageRefusal};
pub use names::{NameAddress, NameError, NameQueueLimits, NameReply, RequestId, RoutedMessage};
pub use session::{FrameError, KeyUpdateError, SessionRef, SessionState};
pub use stats::{DropCounters, EndpointDrops, EndpointStats, PathStats, SessionEnds, SessionStats};
pub use stream::{StreamError, StreamId, StreamMode, StreamRead, MAX_REFUSALS, MAX_STREAM_LABEL};
pub use time::Instant;
pub use types::{CustomAddress, Direction, NodeId, Remote, Role, SessionHandle, Transport};
pub use wire::DecodeError;
