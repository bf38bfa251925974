//! The drivers' error type: one enum whose variants say what went wrong and what to do. Both
//! drivers return it (as `stt_tokio::Error` and `stt_mio::Error`); a variant that only one of
//! them can return says which.

use std::io;
use std::net::SocketAddr;

use stt_proto::{CloseReason, ConfigError, HandshakeError};

/// Everything a node, session, stream or driver operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was refused before any I/O.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// A socket (UDP, or the WebSocket listener's TCP socket) could not be bound.
    #[error("could not bind {addr}: {source} (is the address in use or not local?)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// The handshake failed; the reason says whether the seed was wrong or the peer unreachable.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The core refused to start a handshake (no seed for the peer, allow-list, session limit).
    #[error("cannot connect: {0}")]
    Connect(#[from] stt_proto::ConnectError),
    /// A host name did not resolve to an address this node can reach.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// A TLS certificate, key or trust store could not be used, or a `wss://` server could not
    /// be verified (`stt-tokio` only: `stt-mio` has no TLS).
    #[error("TLS: {0}")]
    Tls(String),
    /// A WebSocket URL was refused, or its connection could not be opened, upgraded or kept;
    /// the message says which and why.
    #[error("WebSocket: {0}")]
    WebSocket(String),
    /// The session ended; the reason says why.
    #[error("session closed: {0}")]
    SessionClosed(CloseReason),
    /// The handle names no session this node knows (never opened here, or closed long ago).
    #[error("unknown session: the handle does not belong to an open session of this node")]
    UnknownSession,
    /// The node was shut down (or dropped); bind a new one.
    #[error("the node was shut down")]
    NodeClosed,
    /// A blocking call ran past the node's timeout (`stt_mio::Node::set_timeout`).
    #[error("timed out: the peer did not answer within the node's timeout")]
    TimedOut,
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
    /// 0-RTT data could not be allowed on the session (see `connect_early`).
    #[error(transparent)]
    EarlyData(#[from] stt_proto::EarlyDataError),
    /// A name could not be served, or a resolve or route request not sent.
    #[error(transparent)]
    Name(#[from] stt_proto::NameError),
    /// The peer serves no endpoint of this name.
    #[error("the peer serves no endpoint named {0:?}")]
    UnknownName(String),
    /// The named endpoint's queue on the peer is full; nothing was queued. Send again later.
    #[error("the queue of endpoint {0:?} on the peer is full; send again later")]
    NameQueueFull(String),
    /// A fetch from a peer's store gave no content: not found, refused, too large, or bytes
    /// that do not hash to the address.
    #[error(transparent)]
    Fetch(#[from] stt_proto::fetch::FetchFailure),
    /// No connected peer announced this name: connect to a peer that serves it, or wait for its
    /// announcement (a peer tells its sessions each time its list of names changes).
    #[error("no connected peer serves an endpoint named {0:?}")]
    NoPeerServes(String),
    /// The key log could not be opened.
    #[error("cannot open the key log {}: {source}", path.display())]
    KeyLog {
        /// The file named.
        path: std::path::PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Another I/O error (creating or polling a `mio::Poll`, registering a socket, ...).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// True if the peer does not hold the same shared seed.
    pub fn is_authentication_failure(&self) -> bool {
        matches!(self, Error::Handshake(HandshakeError::AuthenticationFailed))
    }

    /// True if the peer did not answer in time (unreachable, not running, or stealthy): the
    /// handshake timed out, a blocking call ran past the node's timeout, or the session ended
    /// because the peer stopped answering ([`CloseReason::Unreachable`]) or sent nothing for the
    /// idle timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Error::Handshake(HandshakeError::Timeout)
                | Error::TimedOut
                | Error::SessionClosed(CloseReason::Unreachable { .. } | CloseReason::IdleTimeout)
        )
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io(inner) => inner.kind(),
            Error::Stream(stt_proto::StreamError::Reset(_)) => io::ErrorKind::ConnectionReset,
            Error::Stream(stt_proto::StreamError::Finished) => io::ErrorKind::BrokenPipe,
            Error::SessionClosed(_) | Error::NodeClosed => io::ErrorKind::ConnectionAborted,
            Error::Handshake(HandshakeError::Timeout) | Error::TimedOut => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_told_apart_from_other_failures() {
        assert!(Error::TimedOut.is_timeout());
        assert!(Error::Handshake(HandshakeError::Timeout).is_timeout());
        assert!(!Error::NodeClosed.is_timeout());
        assert!(Error::Handshake(HandshakeError::AuthenticationFailed).is_authentication_failure());
        assert_eq!(io::Error::from(Error::TimedOut).kind(), io::ErrorKind::TimedOut);
        assert_eq!(io::Error::from(Error::NodeClosed).kind(), io::ErrorKind::ConnectionAborted);
    }
}
