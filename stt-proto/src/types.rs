//! Plain value types every layer shares: where a datagram travels ([`Transport`], [`Remote`],
//! [`CustomAddress`] for a transport a driver brings),
//! who a node is ([`NodeId`]), which session ([`SessionHandle`]), which side of the handshake
//! ([`Role`]) and which direction of traffic ([`Direction`]).
//!
//! This module imports nothing of the crate, so every other module may import it.

use core::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

/// The kind of path a datagram travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// A UDP socket.
    Udp,
    /// A WebSocket connection; each binary message is one datagram.
    WebSocket,
    /// A transport a driver brings (a serial line, a radio, an in-memory pipe), numbered by the
    /// driver; it carries whole datagrams of up to `EndpointConfig::max_custom_datagram` bytes,
    /// and its peers' addresses are [`CustomAddress`]es ([`Remote::custom`]). The core treats
    /// it as it treats UDP: it may lose, reorder or duplicate datagrams.
    Custom(u8),
}

/// A peer's address on a transport a driver brings ([`Transport::Custom`]): up to 18 bytes the
/// driver chooses (a station number, a radio node id, a pipe's index), opaque to the core. The
/// first 16 bytes play the part of an IP address (sessions and handshakes are counted per them,
/// as per IP address), the last 2 that of a port: put what tells two peers apart in the first 16.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomAddress(pub [u8; 18]);

impl CustomAddress {
    /// An address made of a number (big-endian in bytes 8 to 16; the "port" bytes are zero), so
    /// that every number counts as an address of its own.
    pub const fn from_u64(n: u64) -> CustomAddress {
        let b = n.to_be_bytes();
        CustomAddress([0, 0, 0, 0, 0, 0, 0, 0, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], 0, 0])
    }
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

    /// A peer at `address` on the driver's own transport number `kind`. Its `addr` holds the
    /// address's 18 bytes as an IPv6 socket address (16 bytes and a port): read it back with
    /// [`Remote::custom_address`].
    pub fn custom(kind: u8, address: CustomAddress) -> Remote {
        let a = address.0;
        let mut ip = [0u8; 16];
        ip.copy_from_slice(&a[..16]);
        let ip = Ipv6Addr::from(ip);
        let port = u16::from_be_bytes([a[16], a[17]]);
        Remote { transport: Transport::Custom(kind), addr: SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0)) }
    }

    /// The address on a driver's own transport, or `None` for UDP and WebSocket.
    pub fn custom_address(&self) -> Option<CustomAddress> {
        let Transport::Custom(_) = self.transport else { return None };
        let SocketAddr::V6(a) = self.addr else { return None };
        let mut out = [0u8; 18];
        out[..16].copy_from_slice(&a.ip().octets());
        out[16..].copy_from_slice(&a.port().to_be_bytes());
        Some(CustomAddress(out))
    }

    /// Canonical bytes for MACs: transport (0 UDP, 1 WebSocket, 2 + the number of a driver's own
    /// transport, at most 255: transports 253 to 255 share 255), IPv6 or IPv4-mapped address, port
    /// big-endian (a custom address's 18 bytes).
    pub fn to_bytes(&self) -> [u8; 19] {
        let mut out = [0u8; 19];
        out[0] = match self.transport {
            Transport::Udp => 0,
            Transport::WebSocket => 1,
            Transport::Custom(kind) => kind.saturating_add(2),
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
