//! [`NodeStats`]: what a node reports about itself as a whole (sessions open, the core's totals
//! and drops by reason, the WebSocket listener's counters). Per-session figures are on
//! [`crate::Session`].

use stt_proto::EndpointStats;

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

/// The WebSocket counters of a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebSocketStats {
    /// WebSocket connections open now (accepted and dialled).
    pub connections: usize,
    /// Datagrams for a WebSocket peer dropped because its connection was gone or its queue full.
    pub dropped: u64,
    /// Connections closed at accept because a connection cap was reached.
    pub refused: u64,
    /// Accepted connections closed because they carried no session within
    /// `WebSocketLimits::session_timeout`.
    pub closed_idle: u64,
}
