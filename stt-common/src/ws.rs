//! The WebSocket transport's policy, the same in both drivers: the listener's limits and the
//! caps that enforce them, its back-off when `accept` fails, the size limits every connection
//! gets, what a `ws://` URL names, the counters, and how a read error ends a connection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use tungstenite::protocol::WebSocketConfig;

use crate::Error;

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

/// Connections a listener holds open now, in all and per IP address, against the caps of
/// [`WebSocketLimits`].
#[derive(Debug, Default)]
pub struct ConnectionCaps {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl ConnectionCaps {
    /// Takes a place for a connection from `ip`, or says which cap is reached. A place taken is
    /// given back with [`ConnectionCaps::release`].
    pub fn admit(&mut self, ip: IpAddr, limits: &WebSocketLimits) -> Result<(), &'static str> {
        let from_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
        if self.total >= limits.max_connections {
            return Err("the listener's connection cap is reached");
        }
        if from_ip >= limits.max_connections_per_ip {
            return Err("the per-address connection cap is reached");
        }
        self.total += 1;
        self.per_ip.insert(ip, from_ip + 1);
        Ok(())
    }

    /// Gives back the place of a connection from `ip`.
    pub fn release(&mut self, ip: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    /// Connections holding a place now.
    pub fn open(&self) -> usize {
        self.total
    }
}

/// How long a listener pauses after `accept` fails (out of descriptors, say) instead of
/// spinning: 10 ms, doubling with each failure in a row up to 1 s, back to 10 ms after a success.
#[derive(Debug)]
pub struct AcceptBackoff {
    next: Duration,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);

    /// A listener that has not failed yet.
    pub fn new() -> AcceptBackoff {
        AcceptBackoff { next: AcceptBackoff::FIRST }
    }

    /// `accept` failed: how long to pause.
    pub fn failed(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(AcceptBackoff::MOST);
        pause
    }

    /// `accept` succeeded.
    pub fn succeeded(&mut self) {
        self.next = AcceptBackoff::FIRST;
    }
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff::new()
    }
}

/// The limits every WebSocket connection gets, accepted or dialled: messages and frames no
/// larger than one datagram (`max_websocket_datagram`), so a peer cannot make the node buffer
/// more than that for one message.
pub fn websocket_config(max_datagram: usize) -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(max_datagram)).max_frame_size(Some(max_datagram))
}

/// A `ws://` or `wss://` URL, checked before any network work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSocketUrl {
    /// `wss://`: the connection runs over TLS.
    pub tls: bool,
    /// The host, a name or an address (without the brackets of an IPv6 literal).
    pub host: String,
    /// The port: the URL's, or 80 (`ws://`) and 443 (`wss://`).
    pub port: u16,
}

impl WebSocketUrl {
    /// Parses `url`; anything but a `ws://` or `wss://` URL with a host is refused with a message
    /// that says what to use.
    pub fn parse(url: &str) -> Result<WebSocketUrl, Error> {
        let tls = if url.starts_with("wss://") {
            true
        } else if url.starts_with("ws://") {
            false
        } else {
            return Err(Error::WebSocket(format!("unsupported URL {url:?}: use ws://host:port or wss://host:port")));
        };
        let uri: tungstenite::http::Uri =
            url.parse().map_err(|e| Error::WebSocket(format!("invalid URL {url:?}: {e}")))?;
        let host = uri.host().ok_or_else(|| Error::WebSocket(format!("invalid URL {url:?}: no host")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(WebSocketUrl { tls, host, port })
    }

    /// The addresses the URL's host names, by the system's resolver.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, Error> {
        let (host, port) = (self.host.as_str(), self.port);
        let found: Vec<SocketAddr> =
            (host, port).to_socket_addrs().map_err(|e| Error::Resolve(format!("{host}:{port}: {e}")))?.collect();
        if found.is_empty() {
            return Err(Error::Resolve(format!("{host}:{port} resolves to no address")));
        }
        Ok(found)
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
    fn caps_hold_per_address_and_in_all() {
        let limits = WebSocketLimits { max_connections: 3, max_connections_per_ip: 2, ..Default::default() };
        let (a, b, c): (IpAddr, IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        let mut caps = ConnectionCaps::default();
        assert_eq!(caps.admit(a, &limits), Ok(()));
        assert_eq!(caps.admit(a, &limits), Ok(()));
        assert_eq!(caps.admit(a, &limits), Err("the per-address connection cap is reached"));
        assert_eq!(caps.admit(b, &limits), Ok(()));
        assert_eq!(caps.admit(c, &limits), Err("the listener's connection cap is reached"));
        caps.release(a);
        assert_eq!(caps.open(), 2);
        assert_eq!(caps.admit(c, &limits), Ok(()));
        assert_eq!(caps.admit(a, &limits), Err("the listener's connection cap is reached"));
    }

    #[test]
    fn accept_backs_off_and_recovers() {
        let mut b = AcceptBackoff::new();
        let pauses: Vec<u128> = (0..9).map(|_| b.failed().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_millis(10));
    }

    #[test]
    fn urls_are_checked_before_dialling() {
        let u = WebSocketUrl::parse("ws://127.0.0.1:9000/stt").unwrap();
        assert_eq!(u, WebSocketUrl { tls: false, host: "127.0.0.1".into(), port: 9000 });
        assert_eq!(u.resolve().unwrap(), vec!["127.0.0.1:9000".parse().unwrap()]);
        assert_eq!(WebSocketUrl::parse("wss://[::1]/").unwrap().port, 443);
        assert_eq!(WebSocketUrl::parse("wss://[::1]/").unwrap().host, "::1");
        assert_eq!(WebSocketUrl::parse("ws://example.com").unwrap().port, 80);
        assert!(matches!(WebSocketUrl::parse("http://a:1"), Err(Error::WebSocket(m)) if m.contains("use ws://")));
        assert!(matches!(WebSocketUrl::parse("ws://"), Err(Error::WebSocket(_))));
    }

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
