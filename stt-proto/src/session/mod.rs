//! Sessions: one authenticated, encrypted association with one peer.
//!
//! A session is created by `connect` (initiator, state `Handshaking`) or by a valid RESPONSE
//! (responder, state `Established`). It owns its keys, its outgoing queue, its streams, its
//! recovery state, its timers and its statistics, and does all of its own work: the endpoint
//! finds the session (by session id, or by the timer queue) and calls one of three methods, each
//! in a file of its own:
//!
//! - [`Session::handle_frame`] (`receive.rs`): open one encrypted frame and act on it;
//! - [`Session::handle_timeout`] (`timers.rs`): run whatever of its timers is due;
//! - [`Session::write_datagram`] (`send.rs`): fill one datagram with what is owed to the peer.
//!
//! Each returns [`Then`]: wait, transmit, or end. Commands from the application are in
//! `commands.rs`, the read-only view in `view.rs`, the named-endpoint share in `names.rs`, the
//! reliable messages in `messages.rs`.
//!
//! ```text
//! Handshaking --CONFIRM--> Established --close()--> Closing --DISCONNECT sent--> (removed)
//!      |                                                 |
//!      +--reject / timeout--> (removed)                  +--DISCONNECT received / idle timeout--> (removed)
//! ```

mod commands;
pub(crate) mod keys;
#[cfg(feature = "messages")]
mod messages;
#[cfg(not(feature = "messages"))]
#[path = "messages_off.rs"]
mod messages;
#[cfg(feature = "names")]
pub(crate) mod names;
#[cfg(not(feature = "names"))]
#[path = "names_off.rs"]
pub(crate) mod names;
mod receive;
mod send;
mod timers;
mod view;

pub use commands::{FrameError, KeyUpdateError};
pub use view::SessionRef;

use crate::config::EndpointConfig;
use crate::event::{CloseReason, Event, HandshakeError};
use crate::handshake::initiator::InitiatorHandshake;
use crate::names::Registry;
use crate::recovery::{Outcome, Recovery, SentPayload};
use crate::stats::{DropCounters, EndpointStats, SessionStats};
use crate::stream::{StreamLimits, Streams, Wake};
use crate::time::Instant;
use crate::types::{NodeId, Remote, Role, SessionHandle};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use bytes::Bytes;
use keys::SessionKeys;
use names::SessionNames;
use receive::ack::AckTracker;

/// A session's state, as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// The handshake is in progress (initiator only).
    Handshaking,
    /// Data can flow.
    Established,
    /// `close` was called; DISCONNECT is queued behind the frames already accepted.
    Closing,
}

/// Responder: the CONFIRM sent, kept to answer a retransmitted RESPONSE (recognised by its tag)
/// until the initiator's first authentic frame shows CONFIRM arrived.
pub(crate) struct ConfirmRecord {
    pub response_tag: [u8; crate::crypto::TAG_LEN],
    pub frame: heapless::Vec<u8, 128>,
    /// When CONFIRM goes again if the initiator's first frame has not come (never, after one
    /// round trip: the address is not proven), and the wait after.
    pub resend_at: Option<Instant>,
    pub resend_interval: core::time::Duration,
    /// Confirmed by 0-RTT frames, whose datagram proves no address: what it may still send
    /// there (three times what it received) besides CONFIRM, until a frame under the session's
    /// keys arrives (and this record goes).
    pub budget: Option<usize>,
}

pub(crate) enum State {
    Handshaking(Box<InitiatorHandshake>),
    Established,
    Closing,
}

/// A frame waiting to be sent.
pub(crate) enum Outgoing {
    /// INIT or RESPONSE, by handshake stage.
    Handshake,
    /// CONFIRM (responder: for a RESPONSE received again, or again while unconfirmed).
    Confirm,
    /// The initiator's KEEPALIVE right after CONFIRM (again for each CONFIRM repeated before the
    /// responder's first frame): the responder's proof that this side holds its key. Not
    /// recorded for loss recovery; the responder repeats CONFIRM until it arrives.
    Confirmation,
    Custom {
        frame_type: u8,
        payload: Bytes,
    },
    Keepalive,
    /// The echo of a PATH_CHALLENGE, on the session's path.
    PathResponse([u8; 8]),
    Disconnect {
        code: u32,
        reason: String,
    },
}

/// What a session needs of its endpoint while it handles an input or writes a datagram.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub cfg: &'a EndpointConfig,
    /// This session's handle, for the events it reports.
    pub handle: SessionHandle,
    /// This node's id (handshake frames carry it).
    pub node_id: NodeId,
    pub events: &'a mut VecDeque<Event>,
    /// The names this node serves.
    pub names: &'a mut Registry,
    /// Endpoint-wide counters the session contributes to.
    pub stats: &'a mut EndpointStats,
    /// The endpoint's random source (path challenges).
    pub rng: &'a mut crate::rng::Rng,
    /// Length of the datagram the frame being handled came in (0 outside `handle_frame`): a
    /// payload kept for the application pins it.
    pub datagram_len: usize,
    /// For a responder's session not yet confirmed: whether its peer may hold one more session
    /// (the per-peer cap counts confirmed sessions only).
    pub peer_admitted: bool,
    /// Set by the session when the initiator's first authentic frame confirmed it: the endpoint
    /// counts it against its peer from then on.
    pub confirmed: bool,
    /// Set by the endpoint for the frames that follow, in the same datagram, the frame that
    /// confirmed the session: the initiator's first flight, not a probe.
    pub confirming: bool,
    /// Set by an initiator's session when a NEW_TICKET arrived: the endpoint keeps it.
    #[cfg(feature = "resumption")]
    pub ticket: Option<ReceivedTicket>,
}

/// A new address the peer's authentic frames came from, being validated before the session
/// moves there: PATH_CHALLENGE goes to it (at most `PATH_CHALLENGES` times, a PTO apart: two
/// 60-byte datagrams, under 3x the smallest authentic datagram that can trigger them), and
/// only a PATH_RESPONSE with the same bytes arriving from it moves the session.
#[derive(Debug)]
pub(crate) struct PathProbe {
    pub remote: Remote,
    pub data: [u8; 8],
    pub sent: u8,
    pub next_send: Instant,
    /// Asked for by the application (`SessionMut::probe_path`): a success moves the session
    /// there even if its remote was pinned, and pins it there.
    pub requested: bool,
}

/// What a datagram of a session carries, and so where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathDatagram {
    /// The session's frames, to its remote.
    Frames,
    /// One PATH_CHALLENGE, to the address being validated.
    Challenge,
    /// One PATH_RESPONSE, to the address a PATH_CHALLENGE came from when that is not the
    /// session's remote (the peer validates the path it came on).
    Response,
}

/// Challenges sent to one candidate address before it is given up.
pub(crate) const PATH_CHALLENGES: u8 = 2;

/// Why a session is over; the endpoint removes it and reports this.
#[derive(Debug)]
pub(crate) enum SessionEnd {
    /// An established session closed.
    Closed(CloseReason),
    /// The initiator's handshake failed.
    HandshakeFailed(HandshakeError),
}

/// What the endpoint does with a session after one of its methods ran.
#[derive(Debug)]
#[must_use]
pub(crate) enum Then {
    /// Nothing until its next deadline.
    Wait,
    /// Put it on the ready queue: it may have something to send.
    Transmit,
    /// Remove it and report why.
    End(SessionEnd),
}

pub(crate) struct Session {
    session_id: u64,
    role: Role,
    remote: Remote,
    /// The application chose `remote` (`SessionMut::set_remote`): authenticated frames from
    /// elsewhere are accepted but do not move the session.
    remote_pinned: bool,
    /// Opened with the node's default shared seed (not a peer's own): a seed rotation's
    /// retirement closes it.
    on_default_seed: bool,
    /// A new address being validated (the session stays on `remote` until it is).
    path_probe: Option<Box<PathProbe>>,
    /// A PATH_RESPONSE owed to an address other than `remote`, and its bytes.
    path_response: Option<Box<(Remote, [u8; 8])>>,
    peer: Option<NodeId>,
    state: State,
    keys: Option<SessionKeys>,
    /// Responder: the CONFIRM to repeat if RESPONSE comes again.
    confirm: Option<Box<ConfirmRecord>>,
    /// False for a responder's session until the initiator's first authentic frame: until then
    /// only the responder's static key and the seed are proven to have been used (an attacker
    /// holding both could have sent the RESPONSE in anyone's name), so the application is not
    /// told of it, it does not count against its peer, and it expires after the handshake
    /// timeout.
    confirmed: bool,
    /// This session's floor for `Unreachable` in milliseconds (`SessionMut::set_unreachable_after`),
    /// 0 for the endpoint's.
    unreachable_after_ms: u32,
    stats: SessionStats,
    queue: VecDeque<Outgoing>,
    custom_queued: usize,
    keepalive_queued: bool,
    /// The application's ping, until answered (`SessionMut::ping`).
    ping: Option<Ping>,
    last_sent: Instant,
    streams: Streams,
    recovery: Recovery,
    acks: AckTracker,
    /// New stream data waits for the pacer until then.
    pacing_until: Option<Instant>,
    /// Probe frames that may go out whatever the congestion window (after a probe timeout).
    probes_owed: u8,
    /// Named-endpoint announcements, requests and replies.
    names: SessionNames,
    /// Reliable messages, both directions (allocated at the first one).
    #[cfg_attr(not(feature = "messages"), allow(dead_code))]
    messages: Option<Box<messages::Messages>>,
    /// Responder: the resumption ticket for the peer, until it is acknowledged.
    ticket: Option<Box<PendingTicket>>,
}

/// A NEW_TICKET payload a responder owes its peer: sent once, again if lost, dropped when
/// acknowledged (never made without the `resumption` feature).
#[cfg_attr(not(feature = "resumption"), allow(dead_code))]
pub(crate) struct PendingTicket {
    payload: Box<[u8]>,
    /// Not in flight: the next datagram carries it.
    owed: bool,
}

/// A ticket NEW_TICKET brought the initiator, with its secret: the endpoint keeps it for the
/// session's peer.
#[cfg(feature = "resumption")]
pub(crate) struct ReceivedTicket {
    pub ticket: Box<[u8]>,
    pub secret: Box<zeroize::Zeroizing<[u8; 32]>>,
    pub lifetime: core::time::Duration,
}

/// The application's ping (`SessionMut::ping`): the first ACK that newly acknowledges a frame
/// sent after it (its KEEPALIVE, or anything later) gives the round trip
/// (`Event::PingAnswered`). Holds the first packet number that answers it, plus one, so that
/// `Option<Ping>` takes one word in every session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ping(core::num::NonZeroU64);

impl Ping {
    /// A ping that frames from packet number `pn` on answer.
    pub(crate) fn answered_from(pn: u64) -> Option<Ping> {
        core::num::NonZeroU64::new(pn.wrapping_add(1)).map(Ping)
    }

    /// Whether an acknowledgement of packet number `pn` answers it.
    pub(crate) fn answered_by(self, pn: u64) -> bool {
        pn >= self.0.get() - 1
    }
}

impl Session {
    fn new(
        now: Instant,
        role: Role,
        remote: Remote,
        state: State,
        queue: VecDeque<Outgoing>,
        cfg: &EndpointConfig,
    ) -> Self {
        let limits = StreamLimits::from_config(cfg);
        let mss = cfg.max_datagram(remote.transport) as u64;
        Session {
            session_id: 0,
            role,
            remote,
            remote_pinned: false,
            on_default_seed: false,
            path_probe: None,
            path_response: None,
            peer: None,
            state,
            keys: None,
            confirm: None,
            confirmed: true,
            unreachable_after_ms: 0,
            stats: SessionStats::new(now),
            queue,
            custom_queued: 0,
            keepalive_queued: false,
            ping: None,
            last_sent: now,
            streams: Streams::new(role, limits),
            recovery: Recovery::new((cfg.congestion)(mss.min(1500)), cfg.max_ack_delay, mss.min(1500)),
            acks: AckTracker::new(cfg.ack_frequency),
            pacing_until: None,
            probes_owed: 0,
            names: SessionNames::default(),
            messages: None,
            ticket: None,
        }
    }

    /// An initiator's session: INIT is queued, the handshake is in progress.
    pub(crate) fn initiator(now: Instant, remote: Remote, hs: InitiatorHandshake, cfg: &EndpointConfig) -> Self {
        let mut queue = VecDeque::new();
        queue.push_back(Outgoing::Handshake);
        Session::new(now, Role::Initiator, remote, State::Handshaking(Box::new(hs)), queue, cfg)
    }

    /// A responder's session after a valid RESPONSE: keys in place, CONFIRM queued, not yet
    /// confirmed (see [`Session::confirm_by_initiator`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn responder(
        now: Instant,
        remote: Remote,
        cfg: &EndpointConfig,
        handshake_rtt: Option<core::time::Duration>,
        session_id: u64,
        peer: NodeId,
        confirm: ConfirmRecord,
        keys: SessionKeys,
    ) -> Self {
        let mut queue = VecDeque::new();
        queue.push_back(Outgoing::Confirm);
        let mut s = Session::new(now, Role::Responder, remote, State::Established, queue, cfg);
        if let Some(rtt) = handshake_rtt {
            s.recovery.seed_rtt(rtt);
        }
        s.session_id = session_id;
        s.peer = Some(peer);
        s.confirm = Some(Box::new(confirm));
        s.confirmed = false;
        s.keys = Some(keys);
        s
    }

    /// False for a responder's session that the initiator has not confirmed yet.
    pub(crate) fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    /// Responder: the initiator's first authentic frame proves it holds the keys, and so its
    /// static key. Reports the session (before anything the frame carries), owes the peer the
    /// names this node serves, and has the endpoint count it against its peer; or, when the
    /// peer holds its limit of sessions already, closes it without telling the application.
    fn confirm_by_initiator(&mut self, ctx: &mut Ctx<'_>) -> Option<Then> {
        if !ctx.peer_admitted {
            ctx.stats.dropped.source_limit += 1;
            return Some(self.close(0, "this node holds its limit of sessions with your node id"));
        }
        self.confirmed = true;
        ctx.confirmed = true;
        self.names.announce_owed = !ctx.names.is_empty();
        self.report_established(ctx);
        None
    }

    pub(crate) fn session_id(&self) -> u64 {
        self.session_id
    }

    /// Which side of the handshake this node was.
    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// The session's exported secret under `label` and `context` (see
    /// [`SessionRef::export_secret`]).
    #[cfg(feature = "resumption")]
    pub(crate) fn export(&self, label: &[u8], context: &[u8], out: &mut [u8]) -> Result<(), crate::ExportError> {
        self.keys.as_ref().ok_or(crate::ExportError::NotEstablished)?.export(label, context, out)
    }

    /// Responder: owes the peer this NEW_TICKET payload (sent with the next datagram, again if
    /// lost).
    #[cfg(feature = "resumption")]
    pub(crate) fn owe_ticket(&mut self, payload: Box<[u8]>) {
        self.ticket = Some(Box::new(PendingTicket { payload, owed: true }));
    }

    pub(crate) fn remote(&self) -> Remote {
        self.remote
    }

    pub(crate) fn peer(&self) -> Option<NodeId> {
        self.peer
    }

    /// The initiator's handshake state, while the handshake is in progress.
    pub(crate) fn handshake(&self) -> Option<&InitiatorHandshake> {
        match &self.state {
            State::Handshaking(h) => Some(h),
            _ => None,
        }
    }

    /// The same, to feed it a handshake frame.
    pub(crate) fn handshake_mut(&mut self) -> Option<&mut InitiatorHandshake> {
        match &mut self.state {
            State::Handshaking(h) => Some(h),
            _ => None,
        }
    }

    /// The initiator's handshake answered a CHALLENGE from `peer`: the session has its id, and
    /// RESPONSE replaces INIT.
    pub(crate) fn on_challenge_accepted(&mut self, session_id: u64, peer: NodeId) {
        self.peer = Some(peer);
        self.session_id = session_id;
        self.queue_handshake();
    }

    /// The initiator's one-round-trip handshake got its CONFIRM from `peer`: the session has its
    /// id.
    pub(crate) fn on_fast_confirm_accepted(&mut self, session_id: u64, peer: NodeId) {
        self.peer = Some(peer);
        self.session_id = session_id;
    }

    /// Records the peer a CHALLENGE named, before the handshake is refused.
    pub(crate) fn set_peer(&mut self, peer: NodeId) {
        self.peer = Some(peer);
    }

    /// Responder: RESPONSE arrived again for this session (CONFIRM was lost). False if it is not
    /// the RESPONSE this session was made from, or CONFIRM is known to have arrived.
    pub(crate) fn on_response_repeated(&mut self, now: Instant, response_tag: &[u8; crate::crypto::TAG_LEN]) -> bool {
        let Some(c) = self.confirm.as_mut().filter(|c| c.response_tag == *response_tag) else { return false };
        // This CONFIRM answers the initiator's own retransmission: the timer waits again.
        if c.resend_at.is_some() {
            c.resend_at = Some(now + c.resend_interval);
        }
        self.push_front_once(Outgoing::Confirm, |o| matches!(o, Outgoing::Confirm));
        true
    }

    /// Responder, unconfirmed: queues CONFIRM again when its time came (the initiator's first
    /// frame, or CONFIRM itself, was lost), each wait twice the last up to the handshake's
    /// maximum. True if it queued it.
    pub(crate) fn resend_confirm_if_due(&mut self, now: Instant, cfg: &EndpointConfig) -> bool {
        let Some(c) = self.confirm.as_mut().filter(|c| c.resend_at.is_some_and(|at| now >= at)) else { return false };
        c.resend_interval = (c.resend_interval * 2).min(cfg.handshake_retransmit_max);
        c.resend_at = Some(now + c.resend_interval);
        self.push_front_once(Outgoing::Confirm, |o| matches!(o, Outgoing::Confirm));
        true
    }

    /// Initiator: CONFIRM arrived again (the responder has not seen this side's first frame).
    /// False unless this session is established and has heard nothing else from the responder.
    pub(crate) fn on_confirm_repeated(&mut self) -> bool {
        if !matches!(self.state, State::Established) || self.role != Role::Initiator || self.stats.frames_received > 0 {
            return false;
        }
        self.push_front_once(Outgoing::Confirmation, |o| matches!(o, Outgoing::Confirmation));
        true
    }

    /// Puts the handshake message (INIT or RESPONSE) at the front of the queue, once.
    pub(crate) fn queue_handshake(&mut self) {
        self.push_front_once(Outgoing::Handshake, |o| matches!(o, Outgoing::Handshake));
    }

    /// Puts `item` at the front of the queue unless an item `is` already waits there.
    fn push_front_once(&mut self, item: Outgoing, is: fn(&Outgoing) -> bool) {
        if !self.queue.iter().any(is) {
            self.queue.push_front(item);
        }
    }

    /// The session is (being) opened with the node's default shared seed.
    pub(crate) fn set_on_default_seed(&mut self, on: bool) {
        self.on_default_seed = on;
    }

    /// True if the session was opened with the node's default shared seed.
    pub(crate) fn on_default_seed(&self) -> bool {
        self.on_default_seed
    }

    /// What the peer's handshake said it accepts in the session.
    pub(crate) fn set_peer_features(&mut self, features: crate::wire::handshake::Features) {
        self.streams.set_peer_labels(features.stream_labels);
    }

    /// Completes the initiator's handshake with the traffic keys CONFIRM gave: reports the
    /// session, owes the peer the list of names this node serves, and queues the KEEPALIVE that
    /// confirms the session to the responder. The handshake state (and its
    /// ephemeral secret) is dropped, which erases it.
    ///
    /// After two round trips the responder repeats CONFIRM until that KEEPALIVE arrives (its
    /// address is proven). After one (`one_round_trip`) it does not send to an address it has
    /// not validated unasked, so the KEEPALIVE is an ordinary one, recorded for loss recovery:
    /// the probe timeout sends it again until the responder's ACK shows it arrived.
    pub(crate) fn establish(&mut self, ctx: &mut Ctx<'_>, mut keys: SessionKeys, one_round_trip: bool) {
        let now = ctx.now;
        // 0-RTT frames took the first packet numbers; unless the resumed attempt is what opened
        // the session, the responder dropped them unread, and what they carried goes again now.
        let mut abandoned_early = 0;
        if let State::Handshaking(h) = &self.state {
            keys.continue_after(h.early_packet_numbers());
            if !h.is_resumed() {
                abandoned_early = h.early_packet_numbers();
            }
        }
        if abandoned_early > 0 {
            let Session { recovery, streams, names, ticket, .. } = self;
            recovery.abandon_before(abandoned_early, now, |p| {
                apply_outcome(streams, names, ticket, ctx.events, ctx.handle, p, crate::recovery::Outcome::Lost);
            });
        }
        self.keys = Some(keys);
        if let State::Handshaking(h) = &self.state {
            self.stats.handshake_rtt.get_or_insert(now - h.started());
            self.recovery.seed_rtt(now - h.started());
        }
        self.state = State::Established;
        self.names.announce_owed = !ctx.names.is_empty();
        self.stats.last_active = now;
        self.last_sent = now;
        // The responder reports the session only on this side's first authentic frame (it proves
        // this side's static key): send one now, whatever the application does.
        if one_round_trip {
            self.keepalive_queued = true;
            self.queue.push_back(Outgoing::Keepalive);
        } else {
            self.queue.push_back(Outgoing::Confirmation);
        }
        self.report_established(ctx);
    }

    /// Counts the session as established and reports it to the application, in its role.
    fn report_established(&self, ctx: &mut Ctx<'_>) {
        ctx.stats.sessions_established += 1;
        ctx.events.push_back(Event::SessionEstablished {
            session: ctx.handle,
            peer: self.peer.expect("a session with keys knows its peer"),
            session_id: self.session_id,
            remote: self.remote,
            role: self.role,
        });
    }

    /// The peer must be told the new list of served names. True if this session owes it now.
    pub(crate) fn announce_names(&mut self) -> bool {
        if matches!(self.state, State::Established) {
            self.names.announce_owed = true;
            return true;
        }
        false
    }

    /// Queues a KEEPALIVE unless one is queued already; true if it queued one.
    fn queue_keepalive(&mut self) -> bool {
        if self.keepalive_queued {
            return false;
        }
        self.keepalive_queued = true;
        self.queue.push_back(Outgoing::Keepalive);
        true
    }

    /// True once the handshake completed.
    pub(crate) fn is_established(&self) -> bool {
        matches!(self.state, State::Established | State::Closing)
    }

    fn public_state(&self) -> SessionState {
        match self.state {
            State::Handshaking(_) => SessionState::Handshaking,
            State::Established => SessionState::Established,
            State::Closing => SessionState::Closing,
        }
    }

    /// Tells recovery that the sender is application-limited when no stream has new data it
    /// may send (nothing written, or no credit) and nothing waits to be sent again, so that rate
    /// samples say so and windows do not grow for nothing.
    fn note_app_limited(&mut self) {
        if matches!(self.state, State::Established) && !self.streams.has_queued_streams() {
            self.recovery.on_app_limited();
        }
    }

    /// Counts a frame this session refused, here and in the endpoint's sum.
    fn count_drop(&mut self, ctx: &mut Ctx<'_>, field: fn(&mut DropCounters) -> &mut u64) {
        *field(&mut self.stats.dropped) += 1;
        *field(&mut ctx.stats.dropped.session) += 1;
    }
}

/// Applies an acknowledgement or a loss to the stream table (or, for named-endpoint frames, to
/// the session's named-endpoint state).
fn apply_outcome(
    streams: &mut Streams,
    names: &mut SessionNames,
    #[cfg_attr(not(feature = "resumption"), allow(unused_variables))] ticket: &mut Option<Box<PendingTicket>>,
    events: &mut VecDeque<Event>,
    session: SessionHandle,
    p: SentPayload,
    o: Outcome,
) {
    let acked = o == Outcome::Acked;
    match p {
        SentPayload::Ping => {}
        #[cfg(feature = "resumption")]
        SentPayload::Ticket if acked => *ticket = None,
        #[cfg(feature = "resumption")]
        SentPayload::Ticket => {
            if let Some(t) = ticket.as_mut() {
                t.owed = true;
            }
        }
        SentPayload::Refusal { stream } => {
            if !acked {
                streams.on_refusal_lost(stream);
            }
        }
        SentPayload::NameAnnounce { .. } | SentPayload::NameRequest { .. } | SentPayload::NameReply { .. } => {
            names.on_outcome(p, o);
        }
        SentPayload::MaxData { stream: 0 } => {
            if !acked {
                streams.on_session_credit_lost();
            }
        }
        SentPayload::Data { stream, seq } => match streams.on_data_outcome(stream, seq, acked) {
            Some(Wake::Stream(stream)) => events.push_back(Event::StreamWritable { session, stream }),
            Some(Wake::Messages) => events.push_back(Event::MessageWritable { session }),
            None => {}
        },
        SentPayload::StreamOpen { stream } => streams.on_open_outcome(stream, acked),
        SentPayload::StreamClose { stream } => streams.on_reset_outcome(stream, acked),
        SentPayload::MaxData { stream } => streams.on_credit_outcome(stream, acked),
    }
}
