//! Statistics: per session ([`SessionStats`], [`PathStats`], [`DropCounters`]) and per endpoint
//! ([`EndpointStats`], [`EndpointDrops`]). Plain counters; the layers that count own the updates.

use crate::time::Instant;
use core::time::Duration;

/// Counters of frames a session received but did not accept, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Failed AEAD authentication (tampered, corrupted, or under an unknown key).
    pub authentication: u64,
    /// Packet number already seen or older than the replay window.
    pub replayed: u64,
    /// Authenticated, but the payload is malformed.
    pub malformed: u64,
    /// Authenticated frame of a type this version does not handle yet.
    pub unsupported: u64,
}

impl DropCounters {
    /// Sum of all counters.
    pub fn total(&self) -> u64 {
        self.authentication + self.replayed + self.malformed + self.unsupported
    }
}

/// Statistics of one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionStats {
    /// When the session was created (connect, or the responder's receipt of RESPONSE).
    pub created: Instant,
    /// When an authentic frame last arrived.
    pub last_active: Instant,
    /// Frames sent (all types, handshake included).
    pub frames_sent: u64,
    /// Bytes of frames sent, headers included.
    pub bytes_sent: u64,
    /// Authentic frames received.
    pub frames_received: u64,
    /// Bytes of authentic frames received, headers included.
    pub bytes_received: u64,
    /// Datagrams sent carrying this session's frames.
    pub datagrams_sent: u64,
    /// Of those, datagrams that carried an ACK and nothing else.
    pub ack_only_datagrams_sent: u64,
    /// Frames dropped, by reason.
    pub dropped: DropCounters,
    /// Current send and receive key generations.
    pub key_generations: (u32, u32),
    /// Handshake round-trip time as measured by the initiator.
    pub handshake_rtt: Option<Duration>,
}

impl SessionStats {
    pub(crate) fn new(now: Instant) -> Self {
        SessionStats {
            created: now,
            last_active: now,
            frames_sent: 0,
            bytes_sent: 0,
            frames_received: 0,
            bytes_received: 0,
            datagrams_sent: 0,
            ack_only_datagrams_sent: 0,
            dropped: DropCounters::default(),
            key_generations: (0, 0),
            handshake_rtt: None,
        }
    }
}

/// Recovery and congestion figures of a session's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathStats {
    /// Smoothed round-trip time.
    pub rtt: core::time::Duration,
    /// Congestion window in bytes.
    pub congestion_window: u64,
    /// Bytes of ack-eliciting frames in flight.
    pub in_flight: u64,
    /// Frames declared lost (including those later found to have arrived).
    pub lost_frames: u64,
    /// Frames declared lost that were acknowledged after all (reordering, not loss).
    pub spurious_losses: u64,
    /// Bytes of ack-eliciting frames delivered (acknowledged) so far.
    pub delivered: u64,
    /// The rate the sender paces at now, bytes per second (`None`: the controller does not pace).
    pub pacing_rate: Option<u64>,
    /// The controller's phase, for diagnostics (the default controller's `"startup"`, `"drain"`,
    /// `"probe_bw"`, `"probe_bw, bounded by loss"`, `"probe_rtt"`; CUBIC's and NewReno's
    /// `"slow_start"`, `"congestion_avoidance"`; empty if a controller does not say).
    pub congestion_phase: &'static str,
    /// RACK's reordering window: how much longer than the RTT a frame may take to be
    /// acknowledged, after a later one was, before it counts as lost.
    pub reordering_window: core::time::Duration,
    /// Probe timeouts in a row without an acknowledgement.
    pub probe_timeouts: u32,
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
    /// Valid RESPONSEs refused because their address or peer holds `max_sessions_per_address`
    /// or `max_sessions_per_peer` sessions.
    pub source_limit: u64,
    /// Queued frames larger than the buffer given to `poll_transmit` (a driver bug).
    pub transmit_buffer_too_small: u64,
    /// Stateless replies not sent because the reply queue was full.
    pub reply_queue_full: u64,
    /// First Noise messages dropped because the work of an earlier copy was under way, or
    /// `MAX_HANDSHAKE_WORK` handshakes were (only with `EndpointConfig::offload_handshakes`).
    pub handshake_backlog: u64,
    /// Frames dropped inside sessions, summed over all sessions, live and closed.
    pub session: DropCounters,
    /// Diagnostic events not queued because too many events were undrained.
    pub events: u64,
}

impl EndpointDrops {
    /// Every counter with its name, endpoint-wide then inside sessions (`session_*`).
    pub fn named(&self) -> [(&'static str, u64); 16] {
        [
            ("malformed", self.malformed),
            ("unknown_session", self.unknown_session),
            ("unexpected_handshake", self.unexpected_handshake),
            ("handshake_authentication", self.handshake_authentication),
            ("invalid_cookie", self.invalid_cookie),
            ("replayed_handshake", self.replayed_handshake),
            ("session_limit", self.session_limit),
            ("source_limit", self.source_limit),
            ("transmit_buffer_too_small", self.transmit_buffer_too_small),
            ("reply_queue_full", self.reply_queue_full),
            ("handshake_backlog", self.handshake_backlog),
            ("events", self.events),
            ("session_authentication", self.session.authentication),
            ("session_replayed", self.session.replayed),
            ("session_malformed", self.session.malformed),
            ("session_unsupported", self.session.unsupported),
        ]
    }

    /// The names of the counters that grew since `earlier`: why input was dropped in between.
    pub fn grown_since(&self, earlier: &EndpointDrops) -> impl Iterator<Item = &'static str> {
        let (now, then) = (self.named(), earlier.named());
        (0..now.len()).filter(move |&i| now[i].1 > then[i].1).map(move |i| now[i].0)
    }

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

/// Established sessions that ended, by [`crate::CloseReason`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionEnds {
    /// The peer sent DISCONNECT.
    pub closed_by_peer: u64,
    /// This node closed them (the application, a shutdown, a seed's retirement).
    pub closed_locally: u64,
    /// Nothing authentic arrived for the idle timeout.
    pub idle_timeout: u64,
    /// The peer stopped answering probes.
    pub unreachable: u64,
    /// Packet numbers exhausted.
    pub other: u64,
}

impl SessionEnds {
    /// Counts one more end for `reason`.
    pub(crate) fn count(&mut self, reason: &crate::CloseReason) {
        use crate::CloseReason as R;
        *match reason {
            R::ClosedByPeer { .. } => &mut self.closed_by_peer,
            R::ClosedLocally { .. } => &mut self.closed_locally,
            R::IdleTimeout => &mut self.idle_timeout,
            R::Unreachable { .. } => &mut self.unreachable,
            R::PacketNumbersExhausted => &mut self.other,
        } += 1;
    }

    /// Every end, all reasons together.
    pub fn total(&self) -> u64 {
        self.closed_by_peer + self.closed_locally + self.idle_timeout + self.unreachable + self.other
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
    /// One-round-trip INITs answered at once with CONFIRM (a session opened in one round trip).
    pub one_round_trip_accepted: u64,
    /// One-round-trip INITs answered with CHALLENGE because the node was under load or the
    /// source had failed before.
    pub one_round_trip_challenged: u64,
    /// Sessions opened by resumption (INIT and CONFIRM of version 4), in either role.
    pub sessions_resumed: u64,
    /// Resumption tickets given to initiators (NEW_TICKET).
    pub tickets_issued: u64,
    /// Resumption tickets received and kept, as initiator.
    pub tickets_received: u64,
    /// Tickets presented that did not open a session (another node's or altered, expired,
    /// already used, or the record of used tickets full): a full handshake followed.
    pub tickets_refused: u64,
    /// REJECTs sent.
    pub rejects_sent: u64,
    /// Sessions established since start (a responder's once the initiator confirmed it).
    pub sessions_established: u64,
    /// Established sessions that ended since start, by why: `sessions_established` is their
    /// total plus the sessions open now.
    pub sessions_ended: SessionEnds,
    /// Responder sessions removed before the initiator's first authentic frame confirmed them
    /// (within the handshake timeout); the application never learnt of them.
    pub half_open_expired: u64,
    /// X25519 operations of handshakes (key generations and agreements): the handshake's CPU
    /// cost. A responder performs none before a RESPONSE returns a valid cookie or, when it is
    /// not under load, a one-round-trip INIT proves the shared seed.
    pub diffie_hellman: u64,
    /// Dropped input, by reason.
    pub dropped: EndpointDrops,
}
