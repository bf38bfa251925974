//! The driver's error type: one enum whose variants say what went wrong and what to do.

use std::io;
use std::net::SocketAddr;

use stt_proto::{CloseReason, ConfigError, HandshakeError};

/// Everything a driver or node operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was refused before any I/O.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The UDP socket (or the WebSocket listener's TCP socket) could not be bound.
    #[error("could not bind {addr}: {source} (is the address in use or not local?)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The handshake failed; the reason says whether the seed was wrong or the peer unreachable.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The core refused to start a handshake (no seed for the peer, allow-list, session limit).
    #[error("cannot connect: {0}")]
    Connect(#[from] stt_proto::ConnectError),
    /// The session ended; the reason says why.
    #[error("session closed: {0}")]
    SessionClosed(CloseReason),
    /// The handle names no session this node knows (never opened here, or closed long ago).
    #[error("unknown session: the handle does not belong to an open session of this node")]
    UnknownSession,
    /// A stream operation failed.
    #[error(transparent)]
    Stream(#[from] stt_proto::StreamError),
    /// A custom frame was refused.
    #[error(transparent)]
    Frame(#[from] stt_proto::FrameError),
    /// A key rotation was refused.
    #[error(transparent)]
    KeyUpdate(#[from] stt_proto::KeyUpdateError),
    /// A reliable message was refused before it was queued.
    #[error(transparent)]
    Message(#[from] stt_proto::MessageError),
    /// A WebSocket URL was refused, or its connection could not be opened or upgraded; the
    /// message says which and why.
    #[error("WebSocket: {0}")]
    WebSocket(String),
    /// A host name did not resolve to an address.
    #[error("could not resolve {0}")]
    Resolve(String),
    /// The key log file ([`crate::Node::key_log`]) could not be opened.
    #[error("cannot open the key log {}: {source}", path.display())]
    KeyLog {
        /// The file asked for.
        path: std::path::PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A blocking call ran past the node's timeout ([`crate::Node::set_timeout`]).
    #[error("timed out: the peer did not answer within the node's timeout")]
    TimedOut,
    /// Another I/O error (creating or polling the `mio::Poll`, registering the socket).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}
