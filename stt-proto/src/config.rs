//! Identity, seeds and endpoint configuration, validated before any I/O.
//!
//! A [`Seed`] is secret key material of at least 32 bytes (never padded). A node's [`Identity`]
//! is a static X25519 key pair (from its node seed or given); its [`NodeId`] is public.
//! [`EndpointConfig`] says who may connect, with which shared seed, which suites are allowed,
//! and every timer and limit.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::time::Duration;

use crate::crypto::{node_id_from_public_key, static_key_from_seed, CryptoBackend, DhSecret, Suite, DH_LEN};
use crate::types::{NodeId, Transport};

/// Shortest seed accepted, in bytes.
pub const MIN_SEED_LEN: usize = 32;

/// Secret seed material: a node seed or a pre-shared seed. At least 32 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Seed(Box<[u8]>);

impl Drop for Seed {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut *self.0);
    }
}

impl core::fmt::Debug for Seed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Seed({} bytes, redacted)", self.0.len())
    }
}

impl Seed {
    /// A seed from raw bytes. Refuses fewer than 32 bytes rather than padding them.
    pub fn new(bytes: &[u8]) -> Result<Seed, ConfigError> {
        if bytes.len() < MIN_SEED_LEN {
            return Err(ConfigError::SeedTooShort { len: bytes.len() });
        }
        Ok(Seed(bytes.into()))
    }

    /// The seed's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A node's identity: its static X25519 key pair and the node id derived from the public key.
///
/// Every handshake proves possession of the secret key, so a node id seen in a session (and the
/// allow-list, and [`crate::Endpoint::connect_to`]'s check) means what it says. The key comes
/// from a node seed ([`Identity::from_seed`]) or is given as is ([`Identity::from_secret_key`]).
#[derive(Clone, Debug)]
pub struct Identity {
    node_id: NodeId,
    public_key: [u8; DH_LEN],
    secret: DhSecret,
}

impl Identity {
    /// The identity of `node_seed`: static secret key = HKDF(node seed, "stt/v2 static key").
    pub fn from_seed(node_seed: &Seed) -> Identity {
        Identity::from_dh_secret(static_key_from_seed(node_seed.as_bytes()))
    }

    /// The identity for raw seed bytes; refuses seeds shorter than 32 bytes.
    pub fn from_seed_bytes(bytes: &[u8]) -> Result<Identity, ConfigError> {
        Ok(Identity::from_seed(&Seed::new(bytes)?))
    }

    /// The identity of a 32-byte X25519 secret key (for example one made by `stt keygen
    /// --identity`).
    pub fn from_secret_key(secret_key: [u8; DH_LEN]) -> Identity {
        Identity::from_dh_secret(DhSecret::from_bytes(secret_key))
    }

    fn from_dh_secret(secret: DhSecret) -> Identity {
        let public_key = secret.public_key();
        Identity { node_id: NodeId(node_id_from_public_key(&public_key)), public_key, secret }
    }

    /// This node's id: SHA3-256("stt/v2 node id" || public key).
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// This node's static public key.
    pub fn public_key(&self) -> [u8; DH_LEN] {
        self.public_key
    }

    /// The static secret key, for the handshake.
    pub(crate) fn secret(&self) -> &DhSecret {
        &self.secret
    }
}

/// When a direction's traffic key is replaced by the next one. Whichever comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRotationPolicy {
    /// Payload bytes sealed under one key (default 1 GiB).
    pub max_bytes: u64,
    /// Frames sealed under one key (default 100,000).
    pub max_frames: u64,
    /// Age of a key (default 1 hour).
    pub max_age: Duration,
}

impl Default for KeyRotationPolicy {
    fn default() -> Self {
        KeyRotationPolicy { max_bytes: 1 << 30, max_frames: 100_000, max_age: Duration::from_secs(3600) }
    }
}

/// Endpoint configuration. Start from [`EndpointConfig::default`] and set what you need.
///
/// The defaults quoted below are those of a default build. The `small` feature lowers the limits
/// for a small device: 8 sessions (8 per address, 4 per peer), 8 streams per side, 16 KiB stream
/// windows and send buffers, a 64 KiB session window, 16 KiB messages, 32 queued custom frames
/// and diagnostic events.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Accept incoming sessions (server mode). Default `true`.
    pub server_mode: bool,
    /// Stay silent towards INITs that fail authentication or come from unknown peers, as
    /// WireGuard does. The price: a peer with the wrong seed sees a timeout, not
    /// "authentication failed". Default `false`.
    pub stealth: bool,
    /// Shared seed used with any peer that has no entry in `peer_seeds`.
    pub default_shared_seed: Option<Seed>,
    /// Shared seed per peer node id; takes precedence over `default_shared_seed`.
    pub peer_seeds: BTreeMap<NodeId, Seed>,
    /// If set, only these node ids may hold a session with this node (in either direction).
    pub allow_list: Option<BTreeSet<NodeId>>,
    /// Static public keys of peers known in advance (as [`Identity::public_key`] gives them):
    /// `connect_to` their node ids opens in one round trip from the first session, as
    /// [`crate::Endpoint::add_peer_key`] does while running.
    pub peer_keys: Vec<[u8; 32]>,
    /// AEAD suites this node allows, in preference order.
    pub suites: Vec<Suite>,
    /// AEAD implementation.
    pub crypto_backend: CryptoBackend,
    /// A handshake not complete after this long fails with `Timeout`. Default 10 s.
    pub handshake_timeout: Duration,
    /// First handshake retransmission delay; doubles up to `handshake_retransmit_max`. Default 200 ms.
    pub handshake_retransmit_initial: Duration,
    /// Largest handshake retransmission delay. Default 1 s.
    pub handshake_retransmit_max: Duration,
    /// How long a CHALLENGE cookie stays valid; the cookie secret rotates at this period. Default 10 s.
    pub cookie_lifetime: Duration,
    /// Open sessions in one round trip with peers whose static key this node knows (from an
    /// earlier handshake with them, or [`crate::Endpoint::add_peer_key`]), and answer such
    /// handshakes in one round trip when not under load. Off: every handshake takes two round
    /// trips. Default `true`.
    pub fast_open: bool,
    /// Resumption, both ways: as a responder, give each confirmed session's initiator a ticket
    /// (NEW_TICKET); as an initiator, keep the tickets received (per peer, in memory;
    /// [`crate::Endpoint::saved_tickets`] takes them out) and open the next session to that
    /// peer with one: one round trip and one X25519 agreement per side, forward secrecy kept.
    /// A ticket opens one session; one the responder cannot use (another node's, expired,
    /// used, or the responder restarted) costs the two-round-trip handshake. What survives a
    /// resumption: the peer's identity (proven by the session the ticket came from), the seed,
    /// the settings; not streams, messages or keys. Needs the `resumption` feature (in `full`);
    /// without it this setting does nothing. Default `false`.
    pub resumption: bool,
    /// How long a ticket this node issues stays valid. Default 2 hours.
    pub ticket_lifetime: Duration,
    /// Most tickets a responder remembers as used (each opens one session: a replayed resumed
    /// INIT opens none); while this many unexpired ones are used, tickets are refused (a full
    /// handshake instead). Default 65,536 (64 with the `small` feature).
    pub max_used_tickets: usize,
    /// Under load, a one-round-trip INIT is answered with CHALLENGE (a cookie first, as in the
    /// two-round-trip handshake): when more INITs than this arrived in the last second...
    /// Default 2,000.
    pub cookie_above_inits_per_second: u32,
    /// ...or this many sessions wait for their initiator's first frame (half-open). A source
    /// whose half-open session expired, or whose one-round-trip INIT failed, gets cookies for a
    /// minute whatever the load. Default 256.
    pub cookie_above_half_open: usize,
    /// Leave the Diffie–Hellman of accepted handshakes to the driver: `handle_datagram` queues
    /// it for [`crate::Endpoint::poll_handshake_work`] instead of doing it (a quarter of a
    /// millisecond each), so that a burst of new sessions does not hold up the data of
    /// established ones while the work runs elsewhere. Only for a driver that takes the work;
    /// otherwise no handshake completes. Default `false` (the tokio driver turns it on).
    #[cfg(feature = "offload")]
    pub offload_handshakes: bool,
    /// Which shard of its node this endpoint is, when one node runs several endpoints behind
    /// one address (one per thread, each with a socket of a `SO_REUSEPORT` group): the session
    /// ids and handshake tags this endpoint picks say so, and [`crate::Endpoint::route`] tells
    /// a driver which shard a datagram belongs to. Default [`Shard::SINGLE`] (no sharding; the
    /// bytes on the wire are the same either way, only the choice of nonces differs).
    pub shard: Shard,
    /// A session that receives nothing authentic for this long closes with `IdleTimeout`. Default 60 s.
    pub idle_timeout: Duration,
    /// A session with something unacknowledged in flight (data, or a keepalive) closes with
    /// [`crate::CloseReason::Unreachable`] at a probe timeout once at least this many came in a
    /// row, nothing authentic arrived for [`EndpointConfig::unreachable_after`], and the frame
    /// the row waits on went out as long ago: a peer that vanished is noticed in seconds, not after
    /// the idle timeout (as TCP's user timeout does). The probe timeouts double from the path's
    /// first (about 30 ms on a LAN, 150 ms on a 40 ms path): the session ends at the first of
    /// them past `unreachable_after`, 3.4 s and 4.5 s after the last answer with the defaults.
    /// 0 never closes for this. Default 2.
    pub max_probe_timeouts: u32,
    /// How long nothing authentic must have arrived before unanswered probes close a session.
    /// Raise it where outages are expected to pass (a session can set its own:
    /// `SessionMut::set_unreachable_after`). Default 3 s.
    pub unreachable_after: Duration,
    /// The initiator sends a KEEPALIVE after this long without sending anything; the responder
    /// after 1.25 times this long without sending or receiving anything (so that it only
    /// acknowledges while the initiator's arrive). `None` disables. Default 15 s.
    pub keep_alive_interval: Option<Duration>,
    /// When traffic keys rotate.
    pub key_rotation: KeyRotationPolicy,
    /// How long the previous receive key is kept for reordered frames after a rotation; also the
    /// shortest time between two rotations of one direction, so a frame reordered by less than
    /// this is never lost to a rotation. Default 3 s.
    pub key_retention: Duration,
    /// Largest datagram sent on UDP paths. Default 1472 (1500-byte MTU minus IPv4 and UDP headers).
    pub max_udp_datagram: usize,
    /// Largest message sent on WebSocket paths. Default 2 MiB + frame overhead.
    pub max_websocket_datagram: usize,
    /// Largest datagram sent on a transport a driver brings ([`crate::Transport::Custom`]).
    /// Default 1472, as for UDP; at least 308 (a handshake message must fit).
    pub max_custom_datagram: usize,
    /// Most sessions (established or handshaking) at once. Default 1,000,000.
    pub max_sessions: usize,
    /// Most sessions accepted from one IP address at once (any port). Default 4,096: room for
    /// many nodes behind one NAT, not for one host to take the table.
    pub max_sessions_per_address: usize,
    /// Most sessions accepted from one peer (node id) at once. Default 256.
    pub max_sessions_per_peer: usize,
    /// Most custom frames queued per session before `send_frame` reports `QueueFull`. Default 1024.
    pub max_queued_frames: usize,
    /// Most undrained events before diagnostic events about unauthenticated input are dropped
    /// (session events are never dropped). Default 4096.
    pub max_diagnostic_events: usize,
    /// Most streams open at once per session, counted separately for each side's streams.
    /// Default 256; at most [`MAX_CONCURRENT_STREAMS`].
    pub max_concurrent_streams: usize,
    /// Credit granted per stream: bytes the peer may send beyond what the application read.
    /// Default 4 MiB: on a lossy path a hole holds the window's left edge for a few round trips
    /// while it is repaired, and everything behind it must still fit.
    /// (Memory stays bounded by `session_receive_window`.)
    pub stream_receive_window: u64,
    /// Credit granted for a whole session. Default 16 MiB.
    pub session_receive_window: u64,
    /// Send buffer per stream (written but unacknowledged bytes); `write` takes no more.
    /// Default 4 MiB.
    pub stream_send_buffer: u64,
    /// Largest reliable message (`SessionMut::send_message`) this node sends or accepts, bytes; at
    /// most `u32::MAX`. A peer's larger message is refused and the peer told. Received messages
    /// wait for the application up to this many bytes (or one message, if larger), then the
    /// message lane's credit stops the sender. Default 16 MiB.
    pub max_message_size: usize,
    /// Deadline used for a peer's live stream until its STREAM_OPEN arrives. Default 200 ms.
    pub default_live_deadline: Duration,
    /// Longest this side delays an ACK. Default 25 ms.
    pub max_ack_delay: Duration,
    /// Ack-eliciting frames received before an ACK is sent at once; fewer wait at most
    /// `max_ack_delay`. A frame that arrives out of order is acknowledged at once. Default 2.
    pub ack_frequency: u32,
    /// Makes the congestion controller of each session: [`crate::congestion::bbr`] (default),
    /// [`crate::congestion::cubic`], [`crate::congestion::new_reno`], or your own.
    pub congestion: crate::congestion::CongestionFactory,
    /// Report each new session's traffic secrets as [`crate::Event::KeyLog`], once per session,
    /// so that a driver can write a key log for decrypting its own captures (`stt decrypt`,
    /// Wireshark). Whoever reads those secrets reads the session: leave it off except to debug
    /// one's own traffic. Costs nothing when off. Default `false`.
    pub key_log: bool,
    /// Report each datagram that was dropped, whole or in part, as [`crate::Event::Dropped`]
    /// with the reasons (which check failed) and the session id it named, within the bound of
    /// diagnostic events: for debugging a new peer implementation. Costs a copy of the drop
    /// counters per datagram when on, nothing when off. Default `false`.
    pub report_drops: bool,
}

/// The largest `max_concurrent_streams` accepted: a peer's frame naming a high stream id makes
/// the ids below it awaited, up to this many.
pub const MAX_CONCURRENT_STREAMS: usize = 65_536;

/// The default limits of [`EndpointConfig`]: for servers, or with the `small` feature for a
/// small device (a few sessions and streams, windows of tens of KiB).
#[cfg(not(feature = "small"))]
mod limits {
    pub(super) const MAX_SESSIONS: usize = 1_000_000;
    pub(super) const MAX_SESSIONS_PER_ADDRESS: usize = 4096;
    pub(super) const MAX_SESSIONS_PER_PEER: usize = 256;
    pub(super) const MAX_QUEUED_FRAMES: usize = 1024;
    pub(super) const MAX_DIAGNOSTIC_EVENTS: usize = 4096;
    pub(super) const MAX_CONCURRENT_STREAMS: usize = 256;
    pub(super) const STREAM_RECEIVE_WINDOW: u64 = 4 << 20;
    pub(super) const SESSION_RECEIVE_WINDOW: u64 = 16 << 20;
    pub(super) const STREAM_SEND_BUFFER: u64 = 4 << 20;
    pub(super) const MAX_MESSAGE_SIZE: usize = 16 << 20;
}

/// The default limits of [`EndpointConfig`] for a small device (feature `small`).
#[cfg(feature = "small")]
mod limits {
    pub(super) const MAX_SESSIONS: usize = 8;
    pub(super) const MAX_SESSIONS_PER_ADDRESS: usize = 8;
    pub(super) const MAX_SESSIONS_PER_PEER: usize = 4;
    pub(super) const MAX_QUEUED_FRAMES: usize = 32;
    pub(super) const MAX_DIAGNOSTIC_EVENTS: usize = 32;
    pub(super) const MAX_CONCURRENT_STREAMS: usize = 8;
    pub(super) const STREAM_RECEIVE_WINDOW: u64 = 16 << 10;
    pub(super) const SESSION_RECEIVE_WINDOW: u64 = 64 << 10;
    pub(super) const STREAM_SEND_BUFFER: u64 = 16 << 10;
    pub(super) const MAX_MESSAGE_SIZE: usize = 16 << 10;
}

/// One endpoint's place among the `count` endpoints (shards) of a node that shares one address
/// across threads. A shard owns the session ids and handshake tags `x` with
/// `x mod count == index`: the responder picks its nonce so that the session id falls in its
/// own shard, and the initiator picks its nonce so that its handshake tag does (the session id
/// of a session it opens is the responder's choice and may belong to another shard; the driver
/// keeps a map of those). A datagram's first header names the id, so any shard, and a
/// `SO_REUSEPORT` steering program, can tell where a datagram goes without decrypting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u16,
    count: u16,
}

impl Shard {
    /// Most shards of one node.
    pub const MAX_COUNT: u16 = 1024;
    /// A node of one endpoint: it owns every id.
    pub const SINGLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count` (1 to [`Shard::MAX_COUNT`], `index < count`; a count of 1 only
    /// in a build without the feature `shards`).
    pub fn new(index: u16, count: u16) -> Result<Shard, ConfigError> {
        let max = if cfg!(feature = "shards") { Self::MAX_COUNT } else { 1 };
        if count == 0 || count > max || index >= count {
            return Err(ConfigError::Shard);
        }
        Ok(Shard { index, count })
    }

    /// This shard's index.
    pub fn index(self) -> u16 {
        self.index
    }

    /// How many shards the node has.
    pub fn count(self) -> u16 {
        self.count
    }

    /// The shard that owns session id or handshake tag `id`.
    pub fn owner_of(self, id: u64) -> u16 {
        if !cfg!(feature = "shards") {
            return 0;
        }
        (id % u64::from(self.count)) as u16
    }

    /// The id nearest `id` (the same but for its low bits) that this shard owns; `id` itself
    /// for a single shard.
    pub(crate) fn claim(self, id: u64) -> u64 {
        if !cfg!(feature = "shards") {
            return id; // A build without shards has only `Shard::SINGLE`.
        }
        let (count, index) = (u64::from(self.count), u64::from(self.index));
        let base = id - id % count;
        // Near u64::MAX the shard's id above may not exist; the one below does (base >= count).
        base.checked_add(index).unwrap_or(base - count + index)
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::SINGLE
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            server_mode: true,
            stealth: false,
            default_shared_seed: None,
            peer_seeds: BTreeMap::new(),
            allow_list: None,
            peer_keys: Vec::new(),
            suites: Suite::default_preference(),
            crypto_backend: CryptoBackend::default(),
            handshake_timeout: Duration::from_secs(10),
            handshake_retransmit_initial: Duration::from_millis(200),
            handshake_retransmit_max: Duration::from_secs(1),
            cookie_lifetime: Duration::from_secs(10),
            fast_open: true,
            resumption: false,
            ticket_lifetime: Duration::from_secs(2 * 3600),
            max_used_tickets: if cfg!(feature = "small") { 64 } else { 65_536 },
            cookie_above_inits_per_second: 2_000,
            cookie_above_half_open: 256,
            #[cfg(feature = "offload")]
            offload_handshakes: false,
            shard: Shard::SINGLE,
            idle_timeout: Duration::from_secs(60),
            max_probe_timeouts: 2,
            unreachable_after: Duration::from_secs(3),
            keep_alive_interval: Some(Duration::from_secs(15)),
            key_rotation: KeyRotationPolicy::default(),
            key_retention: Duration::from_secs(3),
            max_udp_datagram: 1472,
            max_websocket_datagram: crate::wire::MAX_PAYLOAD_LEN + crate::wire::FRAME_OVERHEAD,
            max_custom_datagram: 1472,
            max_sessions: limits::MAX_SESSIONS,
            max_sessions_per_address: limits::MAX_SESSIONS_PER_ADDRESS,
            max_sessions_per_peer: limits::MAX_SESSIONS_PER_PEER,
            max_queued_frames: limits::MAX_QUEUED_FRAMES,
            max_diagnostic_events: limits::MAX_DIAGNOSTIC_EVENTS,
            max_concurrent_streams: limits::MAX_CONCURRENT_STREAMS,
            stream_receive_window: limits::STREAM_RECEIVE_WINDOW,
            session_receive_window: limits::SESSION_RECEIVE_WINDOW,
            stream_send_buffer: limits::STREAM_SEND_BUFFER,
            max_message_size: limits::MAX_MESSAGE_SIZE,
            default_live_deadline: Duration::from_millis(200),
            max_ack_delay: Duration::from_millis(25),
            ack_frequency: 2,
            congestion: crate::congestion::bbr,
            key_log: false,
            report_drops: false,
        }
    }
}

impl EndpointConfig {
    /// A default configuration using `seed` as the shared seed with every peer.
    pub fn with_shared_seed(seed: Seed) -> Self {
        EndpointConfig { default_shared_seed: Some(seed), ..Default::default() }
    }

    /// Largest datagram this node sends on a path of `transport`.
    pub fn max_datagram(&self, transport: Transport) -> usize {
        match transport {
            Transport::Udp => self.max_udp_datagram,
            Transport::WebSocket => self.max_websocket_datagram,
            Transport::Custom(_) => self.max_custom_datagram,
        }
    }

    /// The shared seed to use with `peer`, if any.
    pub fn seed_for(&self, peer: &NodeId) -> Option<&Seed> {
        self.peer_seeds.get(peer).or(self.default_shared_seed.as_ref())
    }

    /// True if the allow-list (if any) admits `peer`.
    pub fn allows(&self, peer: &NodeId) -> bool {
        self.allow_list.as_ref().is_none_or(|l| l.contains(peer))
    }

    /// Checks the configuration; [`crate::Endpoint::new`] calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.suites.is_empty() || self.suites.len() > crate::wire::handshake::MAX_SUITES {
            return Err(ConfigError::Suites);
        }
        if let Some(&suite) = self.suites.iter().find(|s| !s.is_available()) {
            return Err(ConfigError::SuiteNotBuilt(suite));
        }
        let min = crate::wire::FRAME_OVERHEAD + 256;
        if self.max_udp_datagram < min || self.max_websocket_datagram < min || self.max_custom_datagram < min {
            return Err(ConfigError::DatagramTooSmall { min });
        }
        if self.handshake_retransmit_initial.is_zero()
            || self.handshake_timeout.is_zero()
            || self.cookie_lifetime.is_zero()
        {
            return Err(ConfigError::ZeroTimer);
        }
        if self.idle_timeout.is_zero() || self.keep_alive_interval.is_some_and(|k| k.is_zero()) {
            return Err(ConfigError::ZeroTimer);
        }
        if self.ack_frequency == 0 {
            return Err(ConfigError::ZeroTimer);
        }
        if self.max_concurrent_streams == 0
            || self.max_concurrent_streams > MAX_CONCURRENT_STREAMS
            || self.stream_receive_window < 4096
            || self.stream_send_buffer == 0
        {
            return Err(ConfigError::StreamLimits);
        }
        if self.session_receive_window < self.stream_receive_window
            || self.max_message_size as u64 > u64::from(u32::MAX)
        {
            return Err(ConfigError::StreamLimits);
        }
        if self.key_rotation.max_frames == 0 || self.key_rotation.max_bytes == 0 || self.key_rotation.max_age.is_zero()
        {
            return Err(ConfigError::ZeroTimer);
        }
        Ok(())
    }
}

/// A configuration or identity problem, reported before any I/O.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A seed shorter than 32 bytes.
    #[error("seed is {len} bytes; STT needs at least 32 random bytes (use `stt keygen` or 32 bytes from a CSPRNG)")]
    SeedTooShort {
        /// Length given.
        len: usize,
    },
    /// The suite list is empty or longer than 8.
    #[error("the suite list must name between 1 and 8 AEAD suites")]
    Suites,
    /// A suite this build does not include (features `aes-gcm`, `chacha20-poly1305`).
    #[error("the suite {0:?} is not in this build of stt-proto: enable its feature or remove it from the list")]
    SuiteNotBuilt(Suite),
    /// A datagram size below what STT needs.
    #[error("maximum datagram sizes must be at least {min} bytes")]
    DatagramTooSmall {
        /// Smallest accepted size.
        min: usize,
    },
    /// Stream limits that cannot work.
    #[error("stream limits: max_concurrent_streams must be 1 to 65,536, stream_send_buffer non-zero, the stream window at least 4096 bytes and the session window at least the stream window; max_message_size at most 4 GiB - 1")]
    StreamLimits,
    /// A timer, interval, rotation threshold or ACK frequency of zero.
    #[error("timeouts, intervals, key-rotation thresholds and the ACK frequency must be non-zero")]
    ZeroTimer,
    /// A shard index not below the shard count, or a count of 0 or above [`Shard::MAX_COUNT`].
    #[error("a shard's count must be 1 to 1024 (1 without the feature `shards`) and its index below the count")]
    Shard,
}
