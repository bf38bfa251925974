//! The endpoint: one node's sans-IO state machine.
//!
//! It owns the session table (keyed by session id, O(1)), routes every incoming frame to its
//! session or to the handshake paths, runs the timers, and produces datagrams into the caller's
//! buffer. Inputs are `handle_*`, commands are plain verbs, outputs are `poll_*`; see the crate
//! docs for the run loop. The handshake paths live in `initiator.rs` and `responder.rs`, the
//! output path in `transmit.rs`.

mod initiator;
mod responder;
mod transmit;

use alloc::collections::{BinaryHeap, VecDeque};
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::hash::{BuildHasherDefault, Hasher};
use core::net::SocketAddr;

use bytes::BytesMut;
use hashbrown::HashMap;

use crate::config::{ConfigError, EndpointConfig, Identity, NodeId};
use crate::crypto::HandshakeKeys;
use crate::event::{CloseReason, Direction, Event, HandshakeError};
use crate::handshake::CookieJar;
use crate::names::{NameAddress, NameError, NameQueueLimits, Registry, RoutedMessage};
use crate::recovery::{Outcome, SentPayload};
use crate::rng::Rng;
use crate::session::io::{apply_outcome, is_ack_eliciting, FrameVerdict};
use crate::session::keys::OpenFailure;
use crate::session::{DropCounters, Outgoing, Session, SessionHandle, SessionMut, SessionRef, State};
use crate::time::Instant;
use crate::wire::control::Disconnect;
use crate::wire::{parse_frame, FrameLayout, FrameType};

pub use transmit::Transmit;

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

/// Endpoint-wide counters of input that did not reach a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointDrops {
    /// Bytes that are not a well-formed frame (and the rest of their datagram).
    pub malformed: u64,
    /// Encrypted frames for a session id this endpoint does not hold.
    pub unknown_session: u64,
    /// Handshake frames that fit no handshake in progress (late, duplicated, forged).
    pub unexpected_handshake: u64,
    /// Handshake frames whose MAC did not verify.
    pub handshake_authentication: u64,
    /// RESPONSEs with an invalid or expired cookie.
    pub invalid_cookie: u64,
    /// RESPONSEs for a session that was recently closed (replays).
    pub replayed_handshake: u64,
    /// Valid RESPONSEs refused because the endpoint holds `max_sessions` sessions.
    pub session_limit: u64,
    /// Queued frames larger than the buffer given to `poll_transmit` (a driver bug).
    pub transmit_buffer_too_small: u64,
    /// Stateless replies not sent because the reply queue was full.
    pub reply_queue_full: u64,
    /// Frames dropped inside sessions, summed over all sessions, live and closed.
    pub session: DropCounters,
    /// Diagnostic events not queued because too many events were undrained.
    pub events: u64,
}

impl EndpointDrops {
    /// Every dropped frame, all reasons together.
    pub fn total(&self) -> u64 {
        self.malformed
            + self.unknown_session
            + self.unexpected_handshake
            + self.handshake_authentication
            + self.invalid_cookie
            + self.replayed_handshake
            + self.session.total()
    }
}

/// Endpoint-wide statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams passed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Bytes passed to `handle_datagram`.
    pub bytes_received: u64,
    /// Datagrams produced by `poll_transmit`.
    pub datagrams_sent: u64,
    /// Bytes produced by `poll_transmit`.
    pub bytes_sent: u64,
    /// INITs received.
    pub inits_received: u64,
    /// CHALLENGEs sent.
    pub challenges_sent: u64,
    /// REJECTs sent.
    pub rejects_sent: u64,
    /// Sessions established since start.
    pub sessions_established: u64,
    /// Dropped input, by reason.
    pub dropped: EndpointDrops,
}

/// Pass-through hasher for session ids and handshake tags, which are already uniformly random
/// (each mixes in a fresh 32-byte nonce of this node).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

struct Slot {
    generation: u32,
    session: Option<Session>,
}

/// A stateless reply (CHALLENGE, REJECT) waiting to be sent.
pub(crate) struct Reply {
    remote: Remote,
    len: usize,
    bytes: [u8; 192],
}

/// Most stateless replies queued at once.
const MAX_REPLIES: usize = 4096;

/// One node's protocol state: sessions, handshakes, timers. See the crate docs for the run loop.
pub struct Endpoint {
    pub(crate) config: EndpointConfig,
    identity: Identity,
    rng: Rng,
    default_hs_keys: Option<HandshakeKeys>,
    cookies: Option<CookieJar>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    by_id: IdMap<u32>,
    by_tag: IdMap<u32>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    ready: VecDeque<(u32, u32)>,
    replies: VecDeque<Reply>,
    events: VecDeque<Event>,
    retired: IdMap<Instant>,
    retired_order: VecDeque<(u64, Instant)>,
    stats: EndpointStats,
    /// The latest `now` any input or output call gave; commands without a `now` act at it.
    pub(crate) last_now: Instant,
    /// Scratch list of timer entries being processed (kept to avoid allocating per call).
    due: Vec<(Instant, u32, u32)>,
    /// The names this node serves, with their queues.
    pub(crate) names: Registry,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint").field("node_id", &self.identity.node_id()).field("sessions", &self.live).finish()
    }
}

impl Endpoint {
    /// A new endpoint. `rng_seed` must come from a cryptographically secure source (drivers use
    /// the OS); the same seed and the same inputs reproduce a run byte for byte.
    pub fn new(config: EndpointConfig, identity: Identity, rng_seed: [u8; 32]) -> Result<Endpoint, ConfigError> {
        config.validate()?;
        let default_hs_keys =
            config.default_shared_seed.as_ref().map(|s| HandshakeKeys::from_shared_seed(s.as_bytes()));
        Ok(Endpoint {
            config,
            identity,
            rng: Rng::from_seed(rng_seed),
            default_hs_keys,
            cookies: None,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            by_id: IdMap::default(),
            by_tag: IdMap::default(),
            timers: BinaryHeap::new(),
            ready: VecDeque::new(),
            replies: VecDeque::new(),
            events: VecDeque::new(),
            retired: IdMap::default(),
            retired_order: VecDeque::new(),
            stats: EndpointStats::default(),
            last_now: Instant::ZERO,
            due: Vec::new(),
            names: Registry::default(),
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.identity.node_id()
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Turns accepting incoming sessions on or off. Existing sessions are not affected.
    pub fn set_server_mode(&mut self, on: bool) {
        self.config.server_mode = on;
    }

    /// Endpoint-wide statistics.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Sessions held: established, closing, and the initiator's handshakes in progress. The
    /// responder holds no state for handshakes in progress.
    pub fn session_count(&self) -> usize {
        self.live
    }

    /// Handles of every session held.
    pub fn sessions(&self) -> impl Iterator<Item = SessionHandle> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.session.is_some())
            .map(|(i, s)| SessionHandle { index: i as u32, generation: s.generation })
    }

    /// Read access to a session, or `None` if the handle is stale.
    pub fn session(&self, handle: SessionHandle) -> Option<SessionRef<'_>> {
        let slot = self.slots.get(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        slot.session.as_ref().map(|s| SessionRef::new(handle, s, &self.config))
    }

    /// Commands on a session (custom frames, close), or `None` if the handle is stale.
    pub fn session_mut(&mut self, handle: SessionHandle) -> Option<SessionMut<'_>> {
        self.get(handle)?;
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

    /// The names this node serves.
    pub fn registered_names(&self) -> impl Iterator<Item = NameAddress> + '_ {
        self.names.addresses().map(|a| NameAddress(*a))
    }

    fn announce_names(&mut self) {
        let now = self.last_now;
        let handles: Vec<SessionHandle> = self.sessions().collect();
        for h in handles {
            let s = self.get_mut(h).expect("listed");
            if matches!(s.state, State::Established) {
                s.names.announce_owed = true;
                self.mark_ready(now, h);
            }
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must next be called. A deadline equal to `now` is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Feeds one received datagram. It is decrypted in place; payloads handed out in events are
    /// zero-copy slices of it. Bad input is dropped and counted, never fatal to other sessions.
    pub fn handle_datagram(&mut self, now: Instant, remote: Remote, mut datagram: BytesMut) {
        self.last_now = self.last_now.max(now);
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += datagram.len() as u64;
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
                FrameType::INIT => self.handle_init(now, remote, &frame, &layout),
                FrameType::CHALLENGE => self.handle_challenge(now, &frame, &layout),
                FrameType::REJECT => self.handle_reject(now, &frame, &layout),
                FrameType::RESPONSE => self.handle_response(now, remote, &frame, &layout),
                FrameType::CONFIRM => self.handle_confirm(now, &frame, &layout),
                _ => self.handle_encrypted(now, remote, frame, &layout),
            }
        }
    }

    /// Runs every timer that is due at `now`: handshake retransmission and timeout, keepalive,
    /// idle timeout, key rotation by age, discarding retained keys.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        // Take only what is due now: a session may stay due until `poll_transmit` runs (a
        // delayed ACK), and must not be processed again within this call.
        let mut due = core::mem::take(&mut self.due);
        while let Some(Reverse((t, index, generation))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            due.push((t, index, generation));
        }
        for &(t, index, generation) in &due {
            let handle = SessionHandle { index, generation };
            let Some(s) = self.get_mut(handle) else { continue };
            if s.scheduled != Some(t) {
                continue;
            }
            s.scheduled = None;
            self.session_timeout(now, handle);
            self.reschedule(handle);
        }
        due.clear();
        self.due = due;
        while let Some(&(id, until)) = self.retired_order.front() {
            if until > now {
                break;
            }
            self.retired_order.pop_front();
            if self.retired.get(&id) == Some(&until) {
                self.retired.remove(&id);
            }
        }
    }

    fn session_timeout(&mut self, now: Instant, handle: SessionHandle) {
        let cfg = &self.config;
        let Some(s) = self.slots[handle.index as usize].session.as_mut() else { return };
        match &mut s.state {
            State::Handshaking(h) => {
                if now >= h.deadline {
                    let remote = s.remote;
                    let peer = s.peer;
                    self.remove(now, handle);
                    self.events.push_back(Event::HandshakeFailed {
                        session: Some(handle),
                        remote,
                        peer,
                        reason: HandshakeError::Timeout,
                    });
                    return;
                }
                if now >= h.next_retransmit {
                    h.interval = (h.interval * 2).min(cfg.handshake_retransmit_max);
                    h.next_retransmit = now + h.interval;
                    if !s.queue.iter().any(|o| matches!(o, Outgoing::Handshake)) {
                        s.queue.push_front(Outgoing::Handshake);
                    }
                    self.mark_ready(now, handle);
                }
            }
            State::Closing => {}
            State::Established => {
                if now >= s.stats.last_active + cfg.idle_timeout {
                    self.close_now(now, handle, CloseReason::IdleTimeout);
                    return;
                }
                let Session { recovery, streams, names, .. } = s;
                let events = &mut self.events;
                if recovery.on_timeout(now, |p| apply_outcome(streams, names, events, handle, p, Outcome::Lost)) {
                    // Probe timeout: two probes, an ack-eliciting KEEPALIVE (the peer's ACK reveals
                    // what was lost) and a copy of the oldest data in flight (still useful if the
                    // original is lost; a duplicate is harmless).
                    if let Some(p @ SentPayload::Data { stream, .. }) = recovery.oldest_data_in_flight() {
                        if streams.map.contains_key(&stream) {
                            apply_outcome(streams, names, events, handle, p, Outcome::Lost);
                            // Probes are sent whatever the congestion window says.
                            s.probes_owed = 1;
                        }
                    }
                    s.queue_keepalive();
                }
                if s.pacing_until.is_some_and(|t| t <= now) {
                    s.pacing_until = None;
                }
                s.skip_live_gaps(now, handle, &mut self.events);
                if let Some(keys) = s.keys.as_mut() {
                    keys.discard_expired(now);
                    if let Some(generation) = keys.maybe_rotate_send(now, &cfg.key_rotation, cfg.key_retention) {
                        s.stats.key_generations.0 = generation;
                        self.events.push_back(Event::KeyRotated {
                            session: handle,
                            direction: Direction::Send,
                            generation,
                        });
                    }
                }
                if cfg.keep_alive_interval.is_some_and(|ka| now >= s.last_sent + ka) {
                    s.queue_keepalive();
                }
                self.mark_ready(now, handle);
            }
        }
    }

    fn handle_encrypted(&mut self, now: Instant, remote: Remote, mut frame: BytesMut, layout: &FrameLayout) {
        let Some(&index) = self.by_id.get(&layout.header.session_id) else {
            self.stats.dropped.unknown_session += 1;
            return;
        };
        let handle = SessionHandle { index, generation: self.slots[index as usize].generation };
        let s = self.slots[index as usize].session.as_mut().expect("by_id only names live sessions");
        let Some(keys) = s.keys.as_mut() else {
            self.stats.dropped.unknown_session += 1;
            return;
        };
        let aad = layout.aad(&frame);
        let h = &layout.header;
        let opened = match keys.open(
            now,
            h.flags,
            layout.packet_number,
            &aad,
            &mut frame[layout.payload.clone()],
            &layout.tag,
        ) {
            Ok(o) => o,
            Err(OpenFailure::Replayed) => return self.count_session_drop(handle, |d| &mut d.replayed),
            Err(OpenFailure::Authentication) => return self.count_session_drop(handle, |d| &mut d.authentication),
        };
        s.stats.frames_received += 1;
        s.stats.bytes_received += layout.len as u64;
        s.stats.last_active = now;
        let eliciting = is_ack_eliciting(layout.header.frame_type);
        s.acks.on_received(now, layout.packet_number, eliciting, self.config.max_ack_delay);
        if let Some(generation) = opened.rotated_to {
            s.stats.key_generations.1 = generation;
            self.events.push_back(Event::KeyRotated { session: handle, direction: Direction::Receive, generation });
            // Tell the peer promptly that we receive with its new key, so it may rotate again.
            if s.queue_keepalive() {
                self.mark_ready(now, handle);
            }
        }
        let s = self.slots[index as usize].session.as_mut().expect("still live");
        if opened.newest && s.remote != remote && !s.remote_pinned {
            s.remote = remote;
            self.events.push_back(Event::SessionMigrated { session: handle, remote });
        }
        if matches!(s.state, State::Handshaking(_)) {
            // An authentic frame under the responder's key proves it completed the handshake.
            self.establish(now, handle);
        }
        match h.frame_type {
            FrameType::KEEPALIVE => {}
            FrameType::DISCONNECT => match Disconnect::decode(&frame[layout.payload.clone()]) {
                Ok(d) => {
                    let reason = CloseReason::ClosedByPeer { code: d.code, reason: d.reason.into() };
                    self.close_now(now, handle, reason);
                }
                Err(_) => self.count_session_drop(handle, |d| &mut d.malformed),
            },
            t if t.is_custom() => {
                let payload = frame.freeze().slice(layout.payload.clone());
                self.events.push_back(Event::CustomFrame { session: handle, frame_type: t.0, payload });
            }
            FrameType::ENDPOINT_REGISTER | FrameType::ENDPOINT_RESOLVE | FrameType::ENDPOINT_ROUTE => {
                let payload = frame.freeze().slice(layout.payload.clone());
                let s = self.slots[index as usize].session.as_mut().expect("still live");
                if s.names.on_frame(handle, h, payload, &mut self.names, &mut self.events).is_err() {
                    self.count_session_drop(handle, |d| &mut d.malformed);
                }
            }
            FrameType::DATA
            | FrameType::STREAM_OPEN
            | FrameType::STREAM_CLOSE
            | FrameType::MAX_DATA
            | FrameType::ACK => {
                let payload = frame.freeze().slice(layout.payload.clone());
                let s = self.slots[index as usize].session.as_mut().expect("still live");
                match s.on_stream_frame(now, handle, h, payload, &mut self.events) {
                    FrameVerdict::Accepted => {}
                    FrameVerdict::Malformed => self.count_session_drop(handle, |d| &mut d.malformed),
                    FrameVerdict::Unsupported => self.count_session_drop(handle, |d| &mut d.unsupported),
                }
            }
            _ => self.count_session_drop(handle, |d| &mut d.unsupported),
        }
        self.mark_ready(now, handle);
        self.reschedule(handle);
    }

    fn count_session_drop(&mut self, handle: SessionHandle, field: fn(&mut DropCounters) -> &mut u64) {
        if let Some(s) = self.get_mut(handle) {
            *field(&mut s.stats.dropped) += 1;
        }
        *field(&mut self.stats.dropped.session) += 1;
    }

    // ---- session table -------------------------------------------------------------------

    pub(crate) fn get(&self, handle: SessionHandle) -> Option<&Session> {
        let slot = self.slots.get(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        slot.session.as_ref()
    }

    pub(crate) fn get_mut(&mut self, handle: SessionHandle) -> Option<&mut Session> {
        let slot = self.slots.get_mut(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        slot.session.as_mut()
    }

    fn insert(&mut self, session: Session) -> SessionHandle {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.session = Some(session);
            SessionHandle { index, generation: slot.generation }
        } else {
            let index = self.slots.len() as u32;
            self.slots.push(Slot { generation: 0, session: Some(session) });
            SessionHandle { index, generation: 0 }
        }
    }

    /// Removes a session from every table. Its handle becomes stale.
    fn remove(&mut self, now: Instant, handle: SessionHandle) -> Option<Session> {
        let slot = self.slots.get_mut(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        let s = slot.session.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(handle.index);
        self.live -= 1;
        if s.keys.is_some() && self.by_id.get(&s.session_id) == Some(&handle.index) {
            self.by_id.remove(&s.session_id);
            let until = now + self.config.cookie_lifetime + core::time::Duration::from_secs(1);
            self.retired.insert(s.session_id, until);
            self.retired_order.push_back((s.session_id, until));
        }
        if let State::Handshaking(h) = &s.state {
            let tag = crate::handshake::handshake_tag(&h.nonce_i);
            if self.by_tag.get(&tag) == Some(&handle.index) {
                self.by_tag.remove(&tag);
            }
        }
        Some(s)
    }

    /// Ends a session at once (no DISCONNECT is sent) and reports why.
    pub(crate) fn close_now(&mut self, now: Instant, handle: SessionHandle, reason: CloseReason) {
        if self.remove(now, handle).is_some() {
            self.events.push_back(Event::SessionClosed { session: handle, reason });
        }
    }

    fn establish(&mut self, now: Instant, handle: SessionHandle) {
        let serving = !self.names.is_empty();
        let Some(s) = self.get_mut(handle) else { return };
        if let State::Handshaking(h) = &s.state {
            s.stats.handshake_rtt.get_or_insert(now - h.started);
            s.recovery.seed_rtt(now - h.started);
        }
        s.state = State::Established;
        s.names.announce_owed = serving;
        s.stats.last_active = now;
        s.last_sent = now;
        let ev = Event::SessionEstablished {
            session: handle,
            peer: s.peer.expect("peer known once keys exist"),
            session_id: s.session_id,
            remote: s.remote,
            initiator: true,
        };
        self.stats.sessions_established += 1;
        self.events.push_back(ev);
        self.mark_ready(now, handle);
    }

    /// Queues the session for `poll_transmit` if it has something to send and is not queued.
    pub(crate) fn mark_ready(&mut self, now: Instant, handle: SessionHandle) {
        if let Some(s) = self.get_mut(handle) {
            if !s.in_ready_queue && s.wants_transmit(now) {
                s.in_ready_queue = true;
                self.ready.push_back((handle.index, handle.generation));
            }
        }
    }

    /// Makes sure the timer heap holds the session's next deadline.
    pub(crate) fn reschedule(&mut self, handle: SessionHandle) {
        let cfg = &self.config;
        let Some(slot) = self.slots.get_mut(handle.index as usize) else { return };
        let Some(s) = slot.session.as_mut().filter(|_| slot.generation == handle.generation) else { return };
        if let Some(d) = s.next_deadline(cfg) {
            if s.scheduled.is_none_or(|cur| d < cur) {
                s.scheduled = Some(d);
                self.timers.push(Reverse((d, handle.index, handle.generation)));
            }
        }
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
