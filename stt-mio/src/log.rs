//! `tracing` output of the mio driver: the core's session-level events as `tracing` events (a
//! failed handshake this node started at warn; established, closed and migrated sessions at
//! info; key rotations and refused handshakes of others at debug), and dropped input summed and
//! reported at debug at most once a second; WebSocket connections (listening, accepted,
//! upgraded, closed with the reason, refused at a cap) at debug. Nothing is logged per datagram.

use std::time::{Duration, Instant};

use stt_proto::{EndpointDrops, Event, Transport};
use tracing::{debug, info, warn};

const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(1);

fn transport(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::WebSocket => "websocket",
    }
}

/// Logs one core event.
pub(crate) fn event(ev: &Event) {
    match ev {
        Event::SessionEstablished { session, peer, session_id, remote, role } => info!(
            session = ?session,
            id = %format_args!("{session_id:016x}"),
            peer = %peer,
            remote = %remote.addr,
            transport = transport(remote.transport),
            role = ?role,
            "session established"
        ),
        Event::HandshakeFailed { session: Some(session), remote, reason, .. } => warn!(
            session = ?session,
            remote = %remote.addr,
            reason = ?reason,
            "handshake failed: {reason}"
        ),
        Event::HandshakeFailed { session: None, remote, reason, .. } => {
            debug!(remote = %remote.addr, reason = ?reason, "refused a handshake: {reason}")
        }
        Event::SessionClosed { session, reason } => info!(session = ?session, reason = %reason, "session closed"),
        Event::SessionMigrated { session, remote } => {
            info!(session = ?session, remote = %remote.addr, "session moved to a new path")
        }
        Event::KeyRotated { session, direction, generation } => {
            debug!(session = ?session, direction = ?direction, generation, "traffic key rotated")
        }
        _ => {}
    }
}

/// The WebSocket listener is bound.
pub(crate) fn ws_listening(addr: std::net::SocketAddr) {
    info!(addr = %addr, "listening for WebSocket connections");
}

/// A TCP connection was accepted by the WebSocket listener; its upgrade starts.
pub(crate) fn ws_accepted(peer: std::net::SocketAddr) {
    debug!(peer = %peer, transport = "websocket", "accepted a TCP connection");
}

/// A WebSocket connection completed its upgrade and carries datagrams from now on.
pub(crate) fn ws_open(peer: std::net::SocketAddr, accepted: bool) {
    let side = if accepted { "accepted" } else { "dialled" };
    debug!(peer = %peer, transport = "websocket", side, "WebSocket connection open");
}

/// A WebSocket connection was closed (or refused), and why.
pub(crate) fn ws_closed(peer: std::net::SocketAddr, reason: &str) {
    debug!(peer = %peer, transport = "websocket", reason, "WebSocket connection closed: {reason}");
}

/// The listener's `accept` failed (out of descriptors, say); it pauses before trying again.
pub(crate) fn ws_accept_failed(e: &std::io::Error) {
    debug!(error = %e, "accepting a WebSocket connection failed; pausing the listener");
}

/// Sums of dropped input, reported when they changed, at most once per interval.
#[derive(Debug)]
pub(crate) struct DropReport {
    last: u64,
    at: Option<Instant>,
}

impl DropReport {
    pub(crate) fn new() -> Self {
        DropReport { last: 0, at: None }
    }

    pub(crate) fn tick(&mut self, drops: impl FnOnce() -> EndpointDrops) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let now = Instant::now();
        if self.at.is_some_and(|t| now - t < DROP_REPORT_INTERVAL) {
            return;
        }
        let d = drops();
        if d.total() == self.last {
            return;
        }
        debug!(
            dropped = d.total() - self.last,
            malformed = d.malformed,
            unknown_session = d.unknown_session,
            handshake_authentication = d.handshake_authentication,
            session_authentication = d.session.authentication,
            "dropped input since the last report (the counts by reason are totals)"
        );
        self.last = d.total();
        self.at = Some(now);
    }
}
