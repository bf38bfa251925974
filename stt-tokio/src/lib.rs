//! # stt-tokio: STT on tokio
//!
//! The tokio driver for the sans-IO core in [`stt_proto`]: it owns the UDP socket (batched with
//! GSO/GRO through `quinn-udp`, or plain), optional WebSocket connections
//! (`tokio-tungstenite`, one datagram per binary message), the timers, and an async API in the
//! shape of tokio's networking types:
//!
//! - [`Node`]: bind, [`Node::connect`] / [`Node::connect_ws`], [`Node::accept`], custom-frame
//!   handlers ([`Node::on_frame`]), [`Node::broadcast`], session events ([`Node::events`]), one
//!   receive loop for every arrival ([`Node::incoming`]), totals ([`Node::stats`]),
//!   [`Node::rebind`] and a graceful [`Node::shutdown`];
//! - [`Session`]: streams ([`Session::open_stream`], [`Session::accept_stream`]), custom frames,
//!   statistics, [`Session::switch_to_websocket`], close with a reason;
//! - [`Stream`]: `AsyncRead + AsyncWrite`, with [`SendStream`] and [`RecvStream`] halves;
//! - named endpoints: [`Node::serve_name`] gives a [`NamedEndpoint`] to receive from, and
//!   [`Session::resolve`] / [`Session::route`] reach a peer's names.
//!
//! ```no_run
//! use stt_tokio::{Node, NodeConfig, Seed, StreamMode};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let seed = Seed::new(&[7u8; 32])?;
//! let server = Node::bind(NodeConfig::new(seed.clone()).bind("127.0.0.1:0".parse()?)).await?;
//! let client = Node::bind(NodeConfig::new(seed).bind("127.0.0.1:0".parse()?)).await?;
//! let session = client.connect(server.local_addr()).await?;
//! let mut stream = session.open_stream(StreamMode::Reliable)?;
//! stream.write_all(b"hello").await?;
//! stream.shutdown().await?;
//! let incoming = server.accept().await.unwrap();
//! let mut s = incoming.accept_stream().await?;
//! let mut got = Vec::new();
//! s.read_to_end(&mut got).await?;
//! assert_eq!(got, b"hello");
//! # Ok(()) }
//! ```
//!
//! The `stt` command-line tool and the file-transfer and fetch protocols it speaks are in the
//! `stt-cli` package, built on this crate's public API.

#![warn(unreachable_pub)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod driver;
pub mod events;
mod inbox;
mod log;
mod names;
mod node;
mod session;
mod shards;
mod shared;
mod stream;
mod tls;
mod udp;
mod ws;

/// Internals for the fuzz targets in `fuzz/` (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    pub use tokio_tungstenite::tungstenite;

    /// The WebSocket limits the driver applies to every connection, for a path whose datagrams
    /// are at most `max_datagram` bytes.
    pub fn websocket_config(max_datagram: usize) -> tungstenite::protocol::WebSocketConfig {
        stt_common::websocket_config(max_datagram)
    }
}

pub use config::NodeConfig;
pub use inbox::{Inbox, Incoming};
pub use names::{NamedEndpoint, Routed};
pub use node::{FrameHandler, Node, Targets};
pub use session::Session;
pub use stream::{RecvStream, SendStream, Stream};
pub use stt_common::{
    random_bytes, DriverStats, EarlyData, Error, Metadata, NodeState, NodeStats, WebSocketLimits, WebSocketStats,
};
pub use stt_proto;
pub use stt_proto::{
    Channel, CloseReason, Event, ExportError, Fallback, HandshakeError, Message, MessageId, MessageRefusal,
    NameAddress, NameQueueLimits, NodeId, Remote, SavedTicket, Seed, Shard, StreamMode, StreamRead, Transport,
};
pub use tls::{TlsIdentity, TlsRoots};
