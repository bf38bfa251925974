//! Node configuration: identity, who may connect, which sockets to bind, and the core's endpoint
//! settings (timers, limits, suites) passed through unchanged.

use std::net::SocketAddr;
use std::path::PathBuf;

use stt_proto::{EndpointConfig, Identity, NodeId, Seed};

use crate::tls::{TlsIdentity, TlsRoots};
use crate::{Fallback, WebSocketLimits};

/// How to build a [`crate::Node`]. Start from [`NodeConfig::new`] (one shared seed for every
/// peer) or [`NodeConfig::per_peer`] (a seed table), then chain the setters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeConfig {
    /// This node's secret seed; its identity key and node id are derived from it. `None` (and no
    /// `identity`): a random identity.
    pub node_seed: Option<Seed>,
    /// This node's identity given as a key pair ([`Identity::from_secret_key`]); takes precedence
    /// over `node_seed`.
    pub identity: Option<Identity>,
    /// The core's settings: shared seeds, allow-list, server mode, timers, limits.
    pub endpoint: EndpointConfig,
    /// UDP address to bind. Default `0.0.0.0:0` (any interface, a free port).
    pub bind: SocketAddr,
    /// TCP address for the WebSocket listener; `None` (default): no listener.
    pub ws_bind: Option<SocketAddr>,
    /// Batch UDP I/O (GSO and `recvmmsg` where the OS has them). Default `true`; `false` sends
    /// and receives one datagram per system call.
    pub udp_batching: bool,
    /// What one client, or all together, may hold of the WebSocket listener before it has a
    /// session.
    pub ws_limits: WebSocketLimits,
    /// How [`crate::Node::connect_with_fallback`] falls back to WebSocket and comes back.
    pub fallback: Fallback,
    /// The certificate the WebSocket listener presents: with it the listener speaks `wss://`
    /// (TLS) only. `None` (default): plain `ws://`.
    pub wss: Option<TlsIdentity>,
    /// The authorities trusted when dialling `wss://` URLs. `None` (default): the system's.
    pub tls_roots: Option<TlsRoots>,
    /// Append each session's secrets to this file ([`NodeConfig::key_log`]). `None` (default):
    /// no key log.
    pub key_log: Option<PathBuf>,
}

impl NodeConfig {
    /// A node that uses `shared_seed` with every peer.
    ///
    /// WebSocket paths use the UDP datagram size (1472 bytes) by default, as in every driver
    /// (`stt_common::driver_endpoint_config`), which bounds what one WebSocket message may hold;
    /// raise `endpoint.max_websocket_datagram` to carry several frames per message. Either way a
    /// session moves between UDP and WebSocket safely (stream segments never exceed a UDP
    /// datagram).
    pub fn new(shared_seed: Seed) -> NodeConfig {
        Self::from_endpoint(stt_common::driver_endpoint_config(Some(shared_seed)))
    }

    /// A node with no default shared seed: add peers with [`NodeConfig::peer_seed`].
    pub fn per_peer() -> NodeConfig {
        Self::from_endpoint(stt_common::driver_endpoint_config(None))
    }

    fn from_endpoint(mut endpoint: EndpointConfig) -> NodeConfig {
        // The driver runs handshakes' Diffie–Hellman on blocking threads (driver.rs).
        endpoint.offload_handshakes = true;
        NodeConfig {
            node_seed: None,
            identity: None,
            endpoint,
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            ws_bind: None,
            udp_batching: true,
            ws_limits: WebSocketLimits::default(),
            fallback: Fallback::default(),
            wss: None,
            tls_roots: None,
            key_log: None,
        }
    }

    /// The identity the node takes: the one given, else the one of `node_seed`, else a new
    /// random one.
    pub(crate) fn resolved_identity(&self) -> Identity {
        match (&self.identity, &self.node_seed) {
            (Some(identity), _) => identity.clone(),
            (None, Some(seed)) => Identity::from_seed(seed),
            (None, None) => stt_common::random_identity(),
        }
    }

    /// Appends one line per session to the file at `path` (created with mode 0600 if missing)
    /// with the secrets that decrypt the session, for `stt decrypt` and Wireshark; the format is
    /// in `docs/PROTOCOL.md`, section 14. Anyone who reads the file can decrypt every session it
    /// lists (captured or not): use it to debug your own traffic only. Off by default.
    pub fn key_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_log = Some(path.into());
        self
    }

    /// Sets this node's seed (its identity).
    pub fn node_seed(mut self, seed: Seed) -> Self {
        self.node_seed = Some(seed);
        self
    }

    /// Sets this node's identity key pair (for example from `stt keygen --identity`).
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Sets the UDP address to bind.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Listens for WebSocket connections on `addr`.
    pub fn ws_bind(mut self, addr: SocketAddr) -> Self {
        self.ws_bind = Some(addr);
        self
    }

    /// Accepts incoming sessions (`true`, the default) or only makes outgoing ones.
    pub fn server_mode(mut self, on: bool) -> Self {
        self.endpoint.server_mode = on;
        self
    }

    /// Uses `seed` with the peer whose node id is `peer`.
    pub fn peer_seed(mut self, peer: NodeId, seed: Seed) -> Self {
        self.endpoint.peer_seeds.insert(peer, seed);
        self
    }

    /// Knows a peer's static public key in advance (what its `Node::public_key` gives):
    /// `connect_to` its node id opens in one round trip from the first session.
    pub fn peer_key(mut self, static_public_key: [u8; 32]) -> Self {
        self.endpoint.peer_keys.push(static_public_key);
        self
    }

    /// Resumption, both ways (see `stt_proto::EndpointConfig::resumption`): give the initiators
    /// of this node's sessions tickets, and open the next session to a peer that gave this node
    /// one in one round trip with one X25519 agreement a side. Off by default.
    pub fn resumption(mut self, on: bool) -> Self {
        self.endpoint.resumption = on;
        self
    }

    /// Adds `peer` to the allow-list; once any peer is allowed, only allowed peers may connect.
    pub fn allow(mut self, peer: NodeId) -> Self {
        self.endpoint.allow_list.get_or_insert_with(Default::default).insert(peer);
        self
    }

    /// Sets the WebSocket listener's limits.
    pub fn ws_limits(mut self, limits: WebSocketLimits) -> Self {
        self.ws_limits = limits;
        self
    }

    /// Makes the WebSocket listener (`ws_bind`) speak `wss://` with this certificate and key.
    pub fn wss(mut self, identity: TlsIdentity) -> Self {
        self.wss = Some(identity);
        self
    }

    /// Trusts these authorities (instead of the system's) when dialling `wss://` URLs.
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.tls_roots = Some(roots);
        self
    }

    /// Sets how [`crate::Node::connect_with_fallback`] falls back to WebSocket and comes back.
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// Turns UDP batching on or off.
    pub fn udp_batching(mut self, on: bool) -> Self {
        self.udp_batching = on;
        self
    }
}
