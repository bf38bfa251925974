//! Plain value types every layer shares: where a datagram travels ([`Transport`], [`Remote`]),
//! who a node is ([`NodeId`]), which session ([`SessionHandle`]), which side of the handshake
//! ([`Role`]) and which direction of traffic ([`Direction`]).
//!
//! This module imports nothing of the crate, so every other module may import it.

use core::net::SocketAddr;

/// The kind of path a datagram travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// A UDP socket.
    Udp,
    /// A WebSocket connection; each binary message is one datagram.
    WebSocket,
}

/// Where a datagram came from or goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Remote {
    /// The transport.
    pub transport: Transport,
    /// The peer's socket address (for WebSocket, the TCP peer address).
    pub addr: SocketAddr,
}

impl Remote {
    /// A UDP remote.
    pub const fn udp(addr: SocketAddr) -> Remote {
        Remote { transport: Transport::Udp, addr }
    }

    /// A WebSocket remote.
    pub const fn websocket(addr: SocketAddr) -> Remote {
        Remote { transport: Transport::WebSocket, addr }
    }

    /// Canonical bytes for MACs: transport (0 UDP, 1 WebSocket), IPv6 or IPv4-mapped address,
    /// port big-endian.
    pub fn to_bytes(&self) -> [u8; 19] {
        let mut out = [0u8; 19];
        out[0] = match self.transport {
            Transport::Udp => 0,
            Transport::WebSocket => 1,
        };
        let ip = match self.addr {
            SocketAddr::V4(a) => a.ip().to_ipv6_mapped(),
            SocketAddr::V6(a) => *a.ip(),
        };
        out[1..17].copy_from_slice(&ip.octets());
        out[17..19].copy_from_slice(&self.addr.port().to_be_bytes());
        out
    }
}

/// A node's public identity: `SHA3-256("stt/v2 node id" || static public key)`, 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// The node id of a static public key (as [`crate::Identity::public_key`] gives it).
    pub fn of_public_key(static_public_key: &[u8; 32]) -> NodeId {
        NodeId(crate::crypto::node_id_from_public_key(static_public_key))
    }
}

impl core::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "NodeId(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl core::fmt::Display for NodeId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Identifies a session on its endpoint. Stays unique for the endpoint's lifetime: a handle of a
/// closed session never names another session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Which side of the handshake this node was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sent INIT.
    Initiator,
    /// Answered INIT.
    Responder,
}

/// A traffic direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Frames this node sends.
    Send,
    /// Frames this node receives.
    Receive,
}
