//! The endpoint: one node's sans-IO state machine. It routes; sessions work.
//!
//! It owns the session table (`table.rs`: slots, the session-id map, the ready queue, and each
//! session's place in the timer queue of `timer_queue.rs`), parses each incoming frame's
//! cleartext header and sends it where it belongs: handshake messages to `initiator.rs` /
//! `responder.rs`, encrypted frames to their session's `handle_frame`. Due timers go to the
//! session's `handle_timeout`, and `poll_transmit` (`transmit.rs`) asks ready sessions for
//! datagrams. It never reaches into a session's fields.
//! Inputs are `handle_*`, commands are plain verbs, outputs are `poll_*`; see the crate docs for
//! the run loop. `SessionMut` (`session_mut.rs`) is the application's command view of one session;
//! `peers.rs` changes who may connect while the endpoint runs.

mod initiator;
#[cfg(feature = "offload")]
mod offload;
mod peers;
mod responder;
#[cfg(feature = "resumption")]
mod resumption;
mod session_mut;
mod table;
mod timer_queue;
mod transmit;

#[cfg(feature = "offload")]
pub use offload::{HandshakeDone, HandshakeWork, MAX_HANDSHAKE_WORK};
pub use session_mut::SessionMut;
pub use table::ShardChange;
pub use transmit::Transmit;

/// Where a datagram belongs among the shards of a node ([`Endpoint::route`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Its header names one of this endpoint's sessions or handshakes.
    Known,
    /// No session or handshake of this endpoint has the id in its header; `owner` is the shard
    /// whose ids include it (this one for a new INIT that was steered here, or for input the
    /// endpoint will drop and count). A session this node opened as initiator has the id its
    /// peer chose, which may fall in any shard: the driver keeps those ids, and looks there
    /// first.
    Unknown {
        /// The shard whose ids include the datagram's.
        owner: u16,
        /// The id in its first header (`None` for a datagram too short or without STT's magic).
        session_id: Option<u64>,
    },
}

/// The session id (or handshake tag) in the first frame header of `datagram`, if it is long
/// enough to have one.
fn header_session_id(datagram: &[u8]) -> Option<u64> {
    datagram.get(3..11).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
}

#[cfg(feature = "resumption")]
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::BytesMut;
use zeroize::Zeroizing;

use crate::config::{ConfigError, EndpointConfig, Identity};
use crate::crypto::HandshakeKeys;
use crate::event::{CloseReason, Event};
use crate::handshake::known::KnownPeers;
use crate::handshake::load::HandshakeLoad;
use crate::handshake::static_shared::StaticShared;
#[cfg(feature = "resumption")]
use crate::handshake::tickets::{TicketSealer, TicketStore};
use crate::handshake::CookieJar;
use crate::names::{NameAddress, NameError, NameQueueLimits, Registry, RoutedMessage};
use crate::rng::Rng;
use crate::session::{Ctx, Session, SessionEnd, SessionRef, Then};
use crate::stats::EndpointStats;
use crate::time::Instant;
use crate::types::{NodeId, Remote, SessionHandle};
use crate::wire::{parse_frame, FrameLayout, FrameType};
use peers::PreviousSeed;
use table::SessionTable;

/// Why `connect` refused to start a handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No shared seed is configured for the peer (and no default shared seed).
    #[error("no shared seed configured for this peer: set a default shared seed or a per-peer seed")]
    NoSharedSeed,
    /// The expected peer is not on this node's allow-list.
    #[error("the peer's node id is not on this node's allow-list")]
    PeerNotAllowed,
    /// The endpoint already holds `max_sessions` sessions.
    #[error("too many sessions: close some or raise max_sessions")]
    TooManySessions,
}

/// A stateless reply (CHALLENGE, REJECT) waiting to be sent.
struct Reply {
    remote: Remote,
    len: usize,
    bytes: [u8; 192],
}

/// Most stateless replies queued at once.
const MAX_REPLIES: usize = 4096;

/// One node's protocol state: sessions, handshakes, timers. See the crate docs for the run loop.
pub struct Endpoint {
    config: EndpointConfig,
    identity: Identity,
    rng: Rng,
    default_hs_keys: Option<HandshakeKeys>,
    /// During a seed rotation: the previous default seed's keys, still accepted from peers, and
    /// the sessions opened (or being opened) under it, closed when it is retired.
    previous_seed: Option<PreviousSeed>,
    /// How many times the default seed was rotated.
    seed_rotations: u64,
    cookies: Option<CookieJar>,
    /// `ss` of recent peers (handshake).
    statics: StaticShared,
    /// Static keys of peers met, for one-round-trip handshakes with them.
    known: KnownPeers,
    /// INITs, half-open sessions and failed sources: whether a one-round-trip INIT gets a
    /// cookie first.
    load: HandshakeLoad,
    /// The key of the responder's nonces for one-round-trip INITs (drawn at the first).
    fast_nonce_key: Option<Zeroizing<[u8; 32]>>,
    /// Responder: the key its tickets are sealed with and the tickets used (at the first).
    #[cfg(feature = "resumption")]
    ticket_sealer: Option<Box<TicketSealer>>,
    /// Initiator: tickets received, by peer.
    #[cfg(feature = "resumption")]
    tickets: TicketStore,
    /// Responder: the session the INIT of version 4 being handled opened, its handshake tag and
    /// the key of the 0-RTT frames behind it; for the rest of that INIT's datagram only.
    #[cfg(feature = "resumption")]
    early: Option<resumption::EarlyRoute>,
    sessions: SessionTable,
    replies: VecDeque<Reply>,
    events: VecDeque<Event>,
    stats: EndpointStats,
    /// The latest `now` any input or output call gave; commands without a `now` act at it.
    last_now: Instant,
    /// Scratch list of the sessions whose timers are being run (kept to avoid allocating per call).
    due: Vec<SessionHandle>,
    /// The names this node serves, with their queues.
    names: Registry,
    /// Handshake work handed to the driver (`offload.rs`).
    #[cfg(feature = "offload")]
    offload: offload::Offload,
}

/// How an encrypted frame arrived, besides its bytes.
struct Arrival<'k> {
    /// Length of the datagram it came in (a payload kept for the application pins it).
    datagram_len: usize,
    /// It follows, in the same datagram, the frame that confirmed its session.
    confirming: bool,
    /// 0-RTT data behind a resumed INIT: the session that INIT opened, and the early key.
    early: Option<(SessionHandle, &'k crate::crypto::PacketKey)>,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("node_id", &self.identity.node_id())
            .field("sessions", &self.sessions.len())
            .finish()
    }
}

impl Endpoint {
    /// A new endpoint. `rng_seed` must come from a cryptographically secure source (drivers use
    /// the OS); the same seed and the same inputs reproduce a run byte for byte.
    pub fn new(config: EndpointConfig, identity: Identity, rng_seed: [u8; 32]) -> Result<Endpoint, ConfigError> {
        config.validate()?;
        let default_hs_keys =
            config.default_shared_seed.as_ref().map(|s| HandshakeKeys::from_shared_seed(s.as_bytes()));
        let mut known = KnownPeers::default();
        for key in &config.peer_keys {
            known.learn(NodeId::of_public_key(key), *key, None);
        }
        let sessions = SessionTable::new(config.shard);
        Ok(Endpoint {
            config,
            identity,
            rng: Rng::from_seed(rng_seed),
            default_hs_keys,
            previous_seed: None,
            seed_rotations: 0,
            cookies: None,
            statics: StaticShared::default(),
            known,
            load: HandshakeLoad::default(),
            fast_nonce_key: None,
            #[cfg(feature = "resumption")]
            ticket_sealer: None,
            #[cfg(feature = "resumption")]
            tickets: TicketStore::default(),
            #[cfg(feature = "resumption")]
            early: None,
            sessions,
            replies: VecDeque::new(),
            events: VecDeque::new(),
            stats: EndpointStats::default(),
            last_now: Instant::ZERO,
            due: Vec::new(),
            names: Registry::default(),
            #[cfg(feature = "offload")]
            offload: offload::Offload::default(),
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.identity.node_id()
    }

    /// This node's static public key: what a peer gives [`Endpoint::add_peer_key`] to open its
    /// first session with this node in one round trip.
    pub fn public_key(&self) -> [u8; 32] {
        self.identity.public_key()
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Turns accepting incoming sessions on or off. Existing sessions are not affected.
    pub fn set_server_mode(&mut self, on: bool) {
        self.config.server_mode = on;
    }

    /// Turns [`EndpointConfig::key_log`] on or off for the sessions established from now on.
    pub fn set_key_log(&mut self, on: bool) {
        self.config.key_log = on;
    }

    /// Endpoint-wide statistics.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Sessions held: established, closing, the initiator's handshakes in progress, and the
    /// responder's sessions not yet confirmed by the initiator's first authentic frame. The
    /// responder holds no state for handshakes before a valid RESPONSE.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Handles of every session the application knows of (a responder's session is known once
    /// `Event::SessionEstablished` reported it).
    pub fn sessions(&self) -> impl Iterator<Item = SessionHandle> + '_ {
        self.sessions.handles().filter(|&h| self.sessions.get(h).is_some_and(Session::is_confirmed))
    }

    /// Read access to a session, or `None` if the handle is stale (or names a responder's session
    /// not yet reported).
    pub fn session(&self, handle: SessionHandle) -> Option<SessionRef<'_>> {
        self.sessions.get(handle).filter(|s| s.is_confirmed()).map(|s| SessionRef::new(handle, s, &self.config))
    }

    /// True if some session uses `remote`: handshaking, established, or a responder's session
    /// waiting for the initiator's first frame (drivers close a WebSocket connection that
    /// carries none). Walks the sessions.
    pub fn has_session_on(&self, remote: Remote) -> bool {
        self.sessions.handles().any(|h| self.sessions.get(h).is_some_and(|s| s.remote() == remote))
    }

    /// Where `datagram`, received by this endpoint's shard of a node (see
    /// [`crate::EndpointConfig::shard`]), belongs: read from the first frame's header, without
    /// decrypting. A driver that runs several shards hands a datagram whose route is another
    /// shard's to that shard, in arrival order.
    pub fn route(&self, datagram: &[u8]) -> Route {
        let id = header_session_id(datagram).filter(|_| datagram.starts_with(&crate::wire::MAGIC));
        let Some(id) = id else { return Route::Unknown { owner: self.config.shard.index(), session_id: None } };
        if self.sessions.by_id(id).is_some() || self.sessions.by_tag(id).is_some() {
            return Route::Known;
        }
        Route::Unknown { owner: self.config.shard.owner_of(id), session_id: Some(id) }
    }

    /// The next change to the ids of this endpoint's sessions that another shard of its node
    /// owns (sessions it opened as initiator; never with a single shard). A driver running
    /// several shards keeps these ids in a map shared by the shards and, for a datagram whose
    /// [`Endpoint::route`] is [`Route::Unknown`], looks there before the `owner` it names.
    /// Poll after every call that takes input, before the next datagram is routed.
    pub fn poll_shard_change(&mut self) -> Option<ShardChange> {
        self.sessions.poll_shard_change()
    }

    /// Commands on a session (custom frames, streams, close), or `None` if the handle is stale
    /// (or names a responder's session not yet reported).
    pub fn session_mut(&mut self, handle: SessionHandle) -> Option<SessionMut<'_>> {
        self.sessions.get(handle).filter(|s| s.is_confirmed())?;
        Some(SessionMut::new(self, handle))
    }

    // ---- named endpoints ------------------------------------------------------------------

    /// Serves `name` on this node: peers can resolve it and route bytes to it, which wait in a
    /// queue bounded by `limits` (`recv_named` takes them; a route to a full queue is answered
    /// `NameReply::QueueFull`). Every established session is told the new list of names.
    pub fn register_name(&mut self, name: NameAddress, limits: NameQueueLimits) -> Result<(), NameError> {
        self.names.register(name, limits)?;
        self.announce_names();
        Ok(())
    }

    /// Stops serving `name` and drops what its queue held. False if it was not served.
    pub fn unregister_name(&mut self, name: &NameAddress) -> bool {
        let removed = self.names.unregister(name);
        if removed {
            self.announce_names();
        }
        removed
    }

    /// The oldest message routed to `name` that is still queued.
    pub fn recv_named(&mut self, name: &NameAddress) -> Option<RoutedMessage> {
        self.names.pop(name)
    }

    /// The node-wide directory of names: the established sessions whose peer announced `name`,
    /// best first (the lowest smoothed round-trip time, then the session established first).
    /// Empty when no connected peer serves it. Drivers route "to a name" through the first.
    pub fn sessions_serving(&self, name: &NameAddress) -> Vec<SessionHandle> {
        let mut found: Vec<(core::time::Duration, Instant, SessionHandle)> = self
            .sessions()
            .filter_map(|h| {
                let s = self.session(h)?;
                (s.state() == crate::SessionState::Established && s.peer_names().contains(name))
                    .then(|| (s.path_stats().rtt, s.stats().created, h))
            })
            .collect();
        found.sort_by_key(|&(rtt, created, _)| (rtt, created));
        found.into_iter().map(|(_, _, h)| h).collect()
    }

    /// The names this node serves.
    pub fn registered_names(&self) -> impl Iterator<Item = NameAddress> + '_ {
        self.names.addresses().map(|a| NameAddress(*a))
    }

    fn announce_names(&mut self) {
        let now = self.last_now;
        let handles: Vec<SessionHandle> = self.sessions.handles().collect();
        for h in handles {
            if self.sessions.get_mut(h).expect("listed").announce_names() {
                self.after(now, h, Then::Transmit);
            }
        }
    }

    // ---- inputs and outputs ---------------------------------------------------------------

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called. A deadline equal to `now` is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions.next_timer()
    }

    /// Feeds one received datagram. It is decrypted in place; payloads handed out in events are
    /// zero-copy slices of it (those under a quarter of its length are copied out, so that a small
    /// payload does not keep a large datagram alive). Bad input is dropped and counted, never
    /// fatal to other sessions.
    pub fn handle_datagram(&mut self, now: Instant, remote: Remote, datagram: BytesMut) {
        if !self.config.report_drops {
            return self.process_datagram(now, remote, datagram);
        }
        let before = self.stats.dropped;
        let session_id = header_session_id(&datagram);
        self.process_datagram(now, remote, datagram);
        let reasons: alloc::vec::Vec<&'static str> = self.stats.dropped.grown_since(&before).collect();
        if !reasons.is_empty() {
            self.diagnostic(Event::Dropped { remote, session_id, reasons });
        }
    }

    /// Turns drop reports ([`EndpointConfig::report_drops`]) on or off while running.
    pub fn set_report_drops(&mut self, on: bool) {
        self.config.report_drops = on;
    }

    fn process_datagram(&mut self, now: Instant, remote: Remote, mut datagram: BytesMut) {
        let datagram_len = datagram.len();
        self.last_now = self.last_now.max(now);
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += datagram.len() as u64;
        // The session the datagram's first frames confirmed, if any: its later frames are part of
        // the initiator's first flight, not probes.
        let mut confirmed_by_this: Option<u64> = None;
        // Behind a resumed INIT that opened a session: its 0-RTT frames' route and key.
        #[cfg(feature = "resumption")]
        let mut behind_init: Option<resumption::EarlyRoute> = None;
        while !datagram.is_empty() {
            let layout = match parse_frame(&datagram) {
                Ok(l) => l,
                Err(_) => {
                    self.stats.dropped.malformed += 1;
                    return;
                }
            };
            let frame = if layout.len == datagram.len() {
                core::mem::take(&mut datagram)
            } else {
                datagram.split_to(layout.len)
            };
            match layout.header.frame_type {
                #[cfg(feature = "resumption")]
                t if behind_init.is_some() && t.is_handshake() => self.stats.dropped.unexpected_handshake += 1,
                FrameType::INIT => {
                    self.handle_init(now, remote, &frame, &layout);
                    #[cfg(feature = "resumption")]
                    {
                        behind_init = self.early.take();
                    }
                }
                FrameType::CHALLENGE => self.handle_challenge(now, &frame, &layout),
                FrameType::REJECT => self.handle_reject(now, &frame, &layout),
                FrameType::RESPONSE => self.handle_response(now, remote, &frame, &layout),
                FrameType::CONFIRM => self.handle_confirm(now, &frame, &layout),
                _ => {
                    let session_id = layout.header.session_id;
                    let confirming = confirmed_by_this == Some(session_id);
                    #[cfg(feature = "resumption")]
                    let early = behind_init.as_mut().and_then(|r| r.route(session_id, self.config.crypto_backend));
                    #[cfg(not(feature = "resumption"))]
                    let early = None;
                    let arrival = Arrival { datagram_len, confirming, early };
                    if self.handle_encrypted(now, remote, frame, &layout, arrival) {
                        confirmed_by_this = Some(session_id);
                    }
                }
            }
        }
    }

    /// Runs every timer that is due at `now`: handshake retransmission and timeout, keepalive,
    /// idle timeout, key rotation by age, discarding retained keys, loss detection, pacing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        // Take only what is due now: a session may stay due until `poll_transmit` runs (a
        // delayed ACK), and must not be processed again within this call.
        let mut due = core::mem::take(&mut self.due);
        self.sessions.take_due(now, &mut due);
        for &handle in &due {
            if !self.sessions.claim_timer(handle) {
                continue;
            }
            let Some((s, mut ctx)) = self.session_and_ctx(now, handle) else { continue };
            let then = s.handle_timeout(&mut ctx);
            self.after(now, handle, then);
        }
        due.clear();
        self.due = due;
        self.sessions.expire_retired(now);
    }

    /// Hands one encrypted frame to its session; true if the frame confirmed the session.
    fn handle_encrypted(
        &mut self,
        now: Instant,
        remote: Remote,
        frame: BytesMut,
        layout: &FrameLayout,
        arrival: Arrival<'_>,
    ) -> bool {
        let Arrival { datagram_len, confirming, early } = arrival;
        let found = match early {
            Some((handle, _)) => Some(handle),
            None => self.sessions.by_id(layout.header.session_id),
        };
        let Some(handle) = found else {
            self.stats.dropped.unknown_session += 1;
            return false;
        };
        let peer = self.sessions.get(handle).filter(|s| !s.is_confirmed()).and_then(|s| s.peer());
        let peer_admitted = peer.is_some_and(|p| self.sessions.admits_peer(p, self.config.max_sessions_per_peer));
        let Some((s, mut ctx)) = self.session_and_ctx(now, handle) else {
            // An early frame after one that ended its session.
            self.stats.dropped.unknown_session += 1;
            return false;
        };
        ctx.datagram_len = datagram_len;
        ctx.peer_admitted = peer_admitted;
        ctx.confirming = confirming;
        let then = s.handle_frame(&mut ctx, remote, frame, layout, early.map(|(_, key)| key));
        #[cfg(feature = "resumption")]
        let received_ticket = ctx.ticket.take();
        let confirmed = ctx.confirmed;
        if confirmed {
            self.load.half_open_removed();
            if let Some(peer) = peer {
                self.sessions.count_peer(handle, peer);
                #[cfg(feature = "resumption")]
                self.issue_ticket(now, handle, peer);
            }
        }
        #[cfg(feature = "resumption")]
        if let Some(t) = received_ticket {
            self.keep_ticket(now, handle, t);
        }
        self.after(now, handle, then);
        confirmed
    }

    // ---- the session table ----------------------------------------------------------------

    /// A session and what it needs of the endpoint to do its work.
    fn session_and_ctx(&mut self, now: Instant, handle: SessionHandle) -> Option<(&mut Session, Ctx<'_>)> {
        let s = self.sessions.get_mut(handle)?;
        let ctx = Ctx {
            now,
            cfg: &self.config,
            handle,
            node_id: self.identity.node_id(),
            events: &mut self.events,
            names: &mut self.names,
            stats: &mut self.stats,
            rng: &mut self.rng,
            datagram_len: 0,
            peer_admitted: false,
            confirmed: false,
            confirming: false,
            #[cfg(feature = "resumption")]
            ticket: None,
        };
        Some((s, ctx))
    }

    /// Does what a session asked for after one of its methods ran, and re-arms its timer.
    fn after(&mut self, now: Instant, handle: SessionHandle, then: Then) {
        match then {
            Then::End(end) => return self.end(now, handle, end),
            Then::Transmit => self.sessions.mark_ready(now, handle),
            Then::Wait => {}
        }
        self.sessions.reschedule(&self.config, now, handle);
    }

    /// Until when a session id that ended (or a handshake that failed) at `now` stays retired:
    /// past the lifetime of any cookie that could make it again.
    fn retire_until(&self, now: Instant) -> Instant {
        now + self.config.cookie_lifetime + core::time::Duration::from_secs(1)
    }

    /// Removes a session and reports why it ended.
    fn end(&mut self, now: Instant, handle: SessionHandle, end: SessionEnd) {
        let Some(s) = self.sessions.remove(handle, self.retire_until(now)) else { return };
        if !s.is_confirmed() {
            // The application never learnt of it. If it expired (not refused for the peer's
            // session limit), its source gets cookies for a while.
            self.load.half_open_removed();
            if matches!(end, SessionEnd::Closed(CloseReason::IdleTimeout)) {
                self.stats.half_open_expired += 1;
                self.load.failed(now, s.remote().addr.ip());
            }
            return;
        }
        let ev = match end {
            SessionEnd::Closed(reason) => {
                if s.is_established() {
                    self.stats.sessions_ended.count(&reason);
                }
                Event::SessionClosed { session: handle, reason }
            }
            SessionEnd::HandshakeFailed(reason) => {
                Event::HandshakeFailed { session: Some(handle), remote: s.remote(), peer: s.peer(), reason }
            }
        };
        self.events.push_back(ev);
    }

    /// Queues a diagnostic event about unauthenticated input, unless too many are undrained.
    fn diagnostic(&mut self, ev: Event) {
        if self.events.len() < self.config.max_diagnostic_events {
            self.events.push_back(ev);
        } else {
            self.stats.dropped.events += 1;
        }
    }

    fn queue_reply(&mut self, remote: Remote, received: usize, write: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        if self.replies.len() >= MAX_REPLIES {
            self.stats.dropped.reply_queue_full += 1;
            return false;
        }
        let mut reply = Reply { remote, len: 0, bytes: [0u8; 192] };
        let Some(n) = write(&mut reply.bytes) else { return false };
        // Anti-amplification: before the remote is validated, never answer with more than 3x
        // the bytes it sent.
        if n > 3 * received {
            return false;
        }
        reply.len = n;
        self.replies.push_back(reply);
        true
    }
}
