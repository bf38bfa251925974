//! `tracing` output of the driver. The core logs nothing: it returns events and counts drops;
//! this module turns them into `tracing` events. A span per session (`session`: id, peer,
//! remote, transport) holds the events of that session. Levels: a handshake this node started
//! that failed is a warning; established, closed and migrated sessions are info; key rotations
//! and failed attempts of others (anyone can send a bad INIT) are debug; drops by reason are
//! summed and reported at debug at most once a second (`stt_common::DropReport`). Nothing is
//! logged per datagram.

use stt_proto::{Event, NodeId, Remote, Role};
use tracing::{debug, info, info_span, trace, warn, Span};

/// The span of one session: every event about it is recorded inside.
pub(crate) fn session_span(session_id: u64, peer: &NodeId, remote: &Remote, role: Role) -> Span {
    info_span!(
        "session",
        id = %format_args!("{session_id:016x}"),
        peer = %peer,
        remote = %remote.addr,
        transport = transport(remote),
        role = ?role,
    )
}

fn transport(remote: &Remote) -> &'static str {
    stt_common::transport_name(remote.transport)
}

/// A handshake this node starts.
pub(crate) fn handshake_started(remote: &Remote) {
    debug!(remote = %remote.addr, transport = transport(remote), "handshake started");
}

/// Logs one core event, inside `span` when it concerns a known session.
pub(crate) fn event(ev: &Event, span: Option<&Span>) {
    let _entered = span.map(Span::enter);
    match ev {
        Event::SessionEstablished { .. } => info!("session established"),
        Event::HandshakeFailed { session: Some(_), remote, peer, reason } => warn!(
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
        Event::SessionClosed { reason, .. } => info!(reason = %reason, "session closed"),
        Event::SessionMigrated { remote, .. } => {
            info!(remote = %remote.addr, transport = transport(remote), "session moved to a new path")
        }
        Event::KeyRotated { direction, generation, .. } => {
            debug!(direction = ?direction, generation, "traffic key rotated")
        }
        Event::MessagesRefused { first, count, reason, .. } => {
            warn!(first = first.0, count, "the peer refused {count} message(s): {reason}")
        }
        Event::Dropped { remote, session_id, reasons } => dropped(remote, *session_id, reasons),
        _ => {}
    }
}

/// Datagrams reported dropped that are logged in one second at most; the others are counted and
/// the count logged with the next one shown.
const DROPS_SHOWN_PER_SECOND: u32 = 20;

/// One dropped datagram at trace level (`NodeConfig::report_drops`), rate-limited.
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
