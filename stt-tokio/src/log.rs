//! `tracing` output of the driver: a span per session (`session`: id, peer, remote, transport)
//! that holds the events of that session. The events themselves are logged as in every driver
//! (`stt_common::log_core_event`, which says the levels); drops by reason are summed and reported
//! at debug at most once a second (`stt_common::DropReport`). Nothing is logged per datagram.

use stt_proto::{Event, NodeId, Remote, Role};
use tracing::{debug, info_span, Span};

/// The span of one session: every event about it is recorded inside.
pub(crate) fn session_span(session_id: u64, peer: &NodeId, remote: &Remote, role: Role) -> Span {
    info_span!(
        "session",
        id = %format_args!("{session_id:016x}"),
        peer = %peer,
        remote = %remote.addr,
        transport = stt_common::transport_name(remote.transport),
        role = ?role,
    )
}

/// A handshake this node starts.
pub(crate) fn handshake_started(remote: &Remote) {
    debug!(remote = %remote.addr, transport = stt_common::transport_name(remote.transport), "handshake started");
}

/// Logs one core event, inside `span` when it concerns a known session.
pub(crate) fn event(ev: &Event, span: Option<&Span>) {
    let _entered = span.map(Span::enter);
    stt_common::log_core_event(ev);
}
