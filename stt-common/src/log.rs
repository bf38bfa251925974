//! What both drivers log, logged the same way: the core's events (the core logs nothing: it
//! returns events and counts drops), dropped input summed at most once a second, and what the
//! fallback policy does. Levels: a handshake this node started that failed is a warning;
//! established, closed and migrated sessions, and falling back to WebSocket, are info; key
//! rotations and failed attempts of others (anyone can send a bad INIT) are debug; single dropped
//! datagrams (only when the core is asked to report them) are trace, rate-limited. Nothing is
//! logged per datagram otherwise.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stt_proto::{EndpointDrops, Event, Remote, Transport};
use tracing::{debug, info, trace, warn};

/// How often dropped input is summarised at most.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The name of a transport in `tracing` fields: `udp`, `websocket`, or `custom` for one a
/// driver brings.
pub fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::WebSocket => "websocket",
        Transport::Custom(_) => "custom",
    }
}

fn transport(remote: &Remote) -> &'static str {
    transport_name(remote.transport)
}

/// Logs one core event. A driver that keeps a span per session enters it first; the session's
/// handle is a field either way.
pub fn core_event(ev: &Event) {
    match ev {
        Event::SessionEstablished { session, peer, session_id, remote, role } => info!(
            session = ?session,
            id = %format_args!("{session_id:016x}"),
            peer = %peer,
            remote = %remote.addr,
            transport = transport(remote),
            role = ?role,
            "session established"
        ),
        Event::HandshakeFailed { session: Some(session), remote, peer, reason } => warn!(
            session = ?session,
            remote = %remote.addr,
            transport = transport(remote),
            peer = peer.map(tracing::field::display),
            reason = ?reason,
            "handshake failed: {reason}"
        ),
        Event::HandshakeFailed { session: None, remote, peer, reason } => debug!(
            remote = %remote.addr,
            transport = transport(remote),
            peer = peer.map(tracing::field::display),
            reason = ?reason,
            "refused a handshake: {reason}"
        ),
        Event::SessionClosed { session, reason } => info!(session = ?session, reason = %reason, "session closed"),
        Event::SessionMigrated { session, remote } => info!(
            session = ?session,
            remote = %remote.addr,
            transport = transport(remote),
            "session moved to a new path"
        ),
        Event::KeyRotated { session, direction, generation } => {
            debug!(session = ?session, direction = ?direction, generation, "traffic key rotated")
        }
        Event::MessagesRefused { session, first, count, reason } => {
            warn!(session = ?session, first = first.0, count, "the peer refused {count} message(s): {reason}")
        }
        Event::Dropped { remote, session_id, reasons } => dropped(remote, *session_id, reasons),
        _ => {}
    }
}

/// Datagrams reported dropped that are logged in one second at most; the others are counted and
/// the count logged with the next one shown.
const DROPS_SHOWN_PER_SECOND: u32 = 20;

/// One dropped datagram at trace level (the core's `report_drops`), rate-limited.
fn dropped(remote: &Remote, session_id: Option<u64>, reasons: &[&'static str]) {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    static SECOND: AtomicU64 = AtomicU64::new(0);
    static SHOWN: AtomicU32 = AtomicU32::new(0);
    static HIDDEN: AtomicU32 = AtomicU32::new(0);
    let second = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if SECOND.swap(second, Ordering::Relaxed) != second {
        SHOWN.store(0, Ordering::Relaxed);
    }
    if SHOWN.fetch_add(1, Ordering::Relaxed) >= DROPS_SHOWN_PER_SECOND {
        HIDDEN.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let hidden = HIDDEN.swap(0, Ordering::Relaxed);
    trace!(
        remote = %remote.addr,
        transport = transport(remote),
        session_id = session_id.map(|id| format!("{id:016x}")),
        reasons = %reasons.join(","),
        not_shown_before = hidden,
        "dropped a datagram: {}",
        reasons.join(", ")
    );
}

/// What a driver logs as it carries out the core's fallback policy
/// ([`stt_proto::FallbackPolicy`]).
pub mod fallback {
    use super::*;

    /// The UDP handshake brought no answer in time: the session opens over WebSocket.
    pub fn falling_back(addr: SocketAddr, url: &str) {
        info!(%addr, url, "no answer over UDP: falling back to WebSocket");
    }

    /// A session that came back to UDP stopped hearing from it: the WebSocket path is dialled
    /// again and probed.
    pub fn probing_websocket(addr: SocketAddr, url: &str) {
        info!(%addr, url, "nothing received over UDP: probing WebSocket");
    }

    /// Dialling the WebSocket path for a probe failed; the policy tries again later.
    pub fn websocket_unreachable(url: &str, error: &dyn std::fmt::Display) {
        info!(url, "cannot reach the WebSocket path: {error}");
    }
}

/// What a driver logs about WebSocket connections, at debug level (listening at info).
pub mod websocket {
    use super::*;

    /// The WebSocket listener is bound.
    pub fn listening(addr: SocketAddr) {
        info!(addr = %addr, "listening for WebSocket connections");
    }

    /// A TCP connection was accepted by the WebSocket listener; its upgrade starts.
    pub fn accepted(peer: SocketAddr) {
        debug!(peer = %peer, transport = "websocket", "accepted a TCP connection");
    }

    /// A WebSocket connection completed its upgrade and carries datagrams from now on.
    pub fn open(peer: SocketAddr, accepted: bool) {
        let side = if accepted { "accepted" } else { "dialled" };
        debug!(peer = %peer, transport = "websocket", side, "WebSocket connection open");
    }

    /// A WebSocket connection was closed (or refused), and why.
    pub fn closed(peer: SocketAddr, reason: &str) {
        debug!(peer = %peer, transport = "websocket", reason, "WebSocket connection closed: {reason}");
    }

    /// The listener's `accept` failed (out of descriptors, say); it pauses before trying again.
    pub fn accept_failed(e: &std::io::Error) {
        debug!(error = %e, "accepting a WebSocket connection failed; pausing the listener");
    }
}

/// Sums of dropped input (the core's [`EndpointDrops`]), reported at debug level when they
/// changed, at most once per second. Nothing is logged per datagram.
#[derive(Debug, Default)]
pub struct DropReport {
    last: EndpointDrops,
    at: Option<Instant>,
}

impl DropReport {
    /// A report with nothing reported yet.
    pub fn new() -> Self {
        DropReport::default()
    }

    /// Reports what was dropped since the last report, if a second has passed since it and
    /// debug logging is on; `drops` is only called then.
    pub fn tick(&mut self, now: Instant, drops: impl FnOnce() -> EndpointDrops) {
        if !tracing::enabled!(tracing::Level::DEBUG) || self.at.is_some_and(|t| now - t < DROP_REPORT_INTERVAL) {
            return;
        }
        let d = drops();
        if d.total() == self.last.total() {
            return;
        }
        let l = self.last;
        debug!(
            dropped = d.total() - l.total(),
            malformed = d.malformed - l.malformed,
            unknown_session = d.unknown_session - l.unknown_session,
            unexpected_handshake = d.unexpected_handshake - l.unexpected_handshake,
            handshake_authentication = d.handshake_authentication - l.handshake_authentication,
            invalid_cookie = d.invalid_cookie - l.invalid_cookie,
            replayed_handshake = d.replayed_handshake - l.replayed_handshake,
            session_authentication = d.session.authentication - l.session.authentication,
            session_replayed = d.session.replayed - l.session.replayed,
            session_malformed = d.session.malformed - l.session.malformed,
            "dropped input since the last report"
        );
        self.last = d;
        self.at = Some(now);
    }
}
