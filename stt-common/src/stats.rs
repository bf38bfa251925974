//! What a node reports about itself as a whole, the same in both drivers: sessions open, the
//! core's totals and drops by reason, what the driver dropped on its own side (socket errors,
//! datagrams without a WebSocket connection, the WebSocket counters) and the custom frames its
//! API dropped.

use stt_proto::EndpointStats;

use crate::WebSocketStats;

/// Counters of what a driver itself dropped (the core counts its own drops in its stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverStats {
    /// Datagrams the OS refused to send with an error other than "would block" (each one is
    /// treated like a lost datagram and recovered by the protocol).
    pub send_errors: u64,
    /// Receive calls that failed with an error other than "would block" (an ICMP error reported
    /// on the socket, say).
    pub receive_errors: u64,
    /// Datagrams the core addressed to a WebSocket remote that has no connection (never
    /// opened, or closed since), and, in a sharded node, datagrams for a shard that has stopped.
    pub unroutable: u64,
    /// The WebSocket listener's and connections' counters.
    pub websocket: WebSocketStats,
    /// For a shard of a sharded node: datagrams its socket received that belong to another
    /// shard, handed on to it (sessions this shard's node opened, whose ids the peer chose, or
    /// everything the kernel could not steer by session id).
    pub handed_on: u64,
}

/// Totals of one node, from its `stats()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeStats {
    /// Established sessions open now.
    pub sessions: usize,
    /// When the node was bound.
    pub started: std::time::Instant,
    /// The core's counters since the node started: datagrams and bytes in and out, handshakes,
    /// sessions established, and every drop by its reason (`endpoint.dropped`).
    pub endpoint: EndpointStats,
    /// Socket errors, datagrams the driver could not route, and the WebSocket counters
    /// (connections open, refused, failed upgrades, closed idle or for errors).
    pub driver: DriverStats,
    /// Custom frames dropped because a session had 1,024 unread ones and no handler took its
    /// frame type: the oldest goes for the newest (custom frames are best-effort).
    pub frames_dropped: u64,
}
