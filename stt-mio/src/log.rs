//! `tracing` output of the mio driver: the core's session-level events as `tracing` events (a
//! failed handshake this node started at warn; established, closed and migrated sessions at
//! info; key rotations and refused handshakes of others at debug); WebSocket connections
//! (listening, accepted, upgraded, closed with the reason, refused at a cap) at debug. Dropped
//! input is summed by `stt_common::DropReport`, which the driver ticks. Nothing is logged per
//! datagram.

use stt_proto::Event;
use tracing::{debug, info, warn};

/// Logs one core event.
pub(crate) fn event(ev: &Event) {
    match ev {
        Event::SessionEstablished { session, peer, session_id, remote, role } => info!(
            session = ?session,
            id = %format_args!("{session_id:016x}"),
            peer = %peer,
            remote = %remote.addr,
            transport = stt_common::transport_name(remote.transport),
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
