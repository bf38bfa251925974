//! The WebSocket listener's limits, the WebSocket counters, and how a read error ends a
//! connection: the same in both drivers.

use std::time::Duration;

/// Bounds on what the WebSocket listener gives clients that have not proven anything.
///
/// Messages and frames larger than the path's datagram (`max_websocket_datagram` of the core's
/// configuration) close the connection. A connection that has not completed the WebSocket upgrade
/// within `upgrade_timeout`, or that carries no session (handshaking or established) when checked
/// every `session_timeout`, is closed: a client without the seed holds a connection for at most
/// `upgrade_timeout + session_timeout`. Connections past either cap are closed as soon as they are
/// accepted. `upgrade_timeout` also bounds this node's own dials in `stt-mio` (TCP connect and
/// upgrade).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSocketLimits {
    /// Accepted connections open at once, all clients together. Default 1,024.
    pub max_connections: usize,
    /// Accepted connections open at once from one IP address. Default 32.
    pub max_connections_per_ip: usize,
    /// Time a client has to complete the WebSocket upgrade (and TLS handshake, for `wss://`).
    /// Default 5 s.
    pub upgrade_timeout: Duration,
    /// How long an accepted connection may carry no session; checked at this interval. Default
    /// 10 s.
    pub session_timeout: Duration,
}

impl Default for WebSocketLimits {
    fn default() -> Self {
        WebSocketLimits {
            max_connections: 1024,
            max_connections_per_ip: 32,
            upgrade_timeout: Duration::from_secs(5),
            session_timeout: Duration::from_secs(10),
        }
    }
}

/// The WebSocket counters of a node (all zero without a WebSocket listener or dialled sessions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebSocketStats {
    /// Connections open now, upgrading or carrying messages, accepted and dialled.
    pub connections: usize,
    /// Accepted connections closed at once because a cap of [`WebSocketLimits`] was reached.
    pub refused: u64,
    /// Connections closed before the upgrade completed: a bad request or answer, the upgrade
    /// timeout, a failed TLS handshake, or a dial that failed.
    pub upgrade_failed: u64,
    /// Accepted connections closed because they carried no session in time.
    pub closed_idle: u64,
    /// Open connections closed for breaking the protocol: a message or frame larger than one
    /// datagram, a malformed frame, or an I/O error.
    pub closed_errors: u64,
    /// Datagrams not sent because their connection was gone, not open yet, or its queue full.
    pub dropped: u64,
}

/// Whether a WebSocket read error means the peer left (a close, counted as none of
/// [`WebSocketStats`]'s errors), and why: the connection was closed, or the peer dropped the TCP
/// connection without the closing handshake (a browser tab closed, a process killed). `None`: the
/// connection broke the protocol (a message or frame too large, a malformed frame) or failed,
/// which counts in [`WebSocketStats::closed_errors`].
pub fn peer_left(error: &tungstenite::Error) -> Option<&'static str> {
    use tungstenite::error::ProtocolError;
    match error {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => Some("closed by the peer"),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Some("the peer closed the TCP connection")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_left_is_told_from_a_broken_connection() {
        use tungstenite::error::{CapacityError, ProtocolError};
        assert_eq!(peer_left(&tungstenite::Error::ConnectionClosed), Some("closed by the peer"));
        assert_eq!(peer_left(&tungstenite::Error::AlreadyClosed), Some("closed by the peer"));
        let reset = tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake);
        assert_eq!(peer_left(&reset), Some("the peer closed the TCP connection"));
        let too_big = tungstenite::Error::Capacity(CapacityError::MessageTooLong { size: 2, max_size: 1 });
        assert_eq!(peer_left(&too_big), None);
        let failed = tungstenite::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionAborted));
        assert_eq!(peer_left(&failed), None);
    }
}
