//! [`NodeStats`]: what a node reports about itself as a whole (sessions open, the core's totals
//! and drops by reason, the WebSocket listener's counters). Per-session figures are on
//! [`crate::Session`].

use stt_proto::EndpointStats;

use crate::WebSocketStats;

/// Totals of one node, from [`crate::Node::stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeStats {
    /// Established sessions open now.
    pub sessions: usize,
    /// When the node was bound.
    pub started: std::time::Instant,
    /// The core's counters since the node started: datagrams and bytes in and out, handshakes,
    /// sessions established, and every drop by its reason (`endpoint.dropped`).
    pub endpoint: EndpointStats,
    /// The WebSocket side (all zero without a WebSocket listener or client sessions).
    pub websocket: WebSocketStats,
}
