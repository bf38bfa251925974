//! The initiator's handshake state, from `connect` to CONFIRM: its nonce and seed keys, the
//! retransmission schedule, the checks a CHALLENGE must pass, the first Noise message (RESPONSE,
//! INIT of version 3 to a known static key, or INIT of version 4 with a resumption ticket) and
//! the reading of the second (CONFIRM).
//!
//! The endpoint finds the session a handshake frame names and feeds it to this state; the
//! session has it write its current frame (INIT, encoded each time, then the RESPONSE it keeps)
//! when one is due.

use alloc::boxed::Box;

use super::ik::{self, Prologue};
#[cfg(feature = "resumption")]
use super::resume;
use super::static_shared::StaticShared;
#[cfg(feature = "resumption")]
use super::tickets::HeldTicket;
/// What a resumed handshake opens with: a held ticket (nothing without resumption).
#[cfg(not(feature = "resumption"))]
type HeldTicket = core::convert::Infallible;
use super::{handshake_tag, seed_mac_at, write_handshake_frame, write_response_frame, write_seed_maced_frame};
use crate::config::{EndpointConfig, Identity};
use crate::crypto::noise::SymmetricState;
use crate::crypto::{node_id_from_public_key, verify_mac16, DhSecret, HandshakeKeys, Suite, TrafficSecret};
use crate::event::HandshakeError;
use crate::time::Instant;
use crate::types::NodeId;
use crate::wire::handshake::{
    Challenge, Confirm, FastConfirm, FastInit, Features, Init, Response, FAST_VERSION, MAX_SUITES,
};
#[cfg(feature = "resumption")]
use crate::wire::handshake::{ResumeInit, RESUME_VERSION};
use crate::wire::{FrameLayout, FrameType};

/// One initiator's handshake in progress.
pub(crate) struct InitiatorHandshake {
    nonce_i: [u8; 32],
    /// `K_hs` and `psk` of the shared seed used with this peer.
    keys: HandshakeKeys,
    expected_peer: Option<NodeId>,
    started: Instant,
    deadline: Instant,
    next_retransmit: Instant,
    interval: core::time::Duration,
    /// To a known static key, until CHALLENGE or REJECT says otherwise: the INIT of version 3
    /// sent and what its CONFIRM is checked with.
    fast: Option<FastState>,
    /// After CHALLENGE: the RESPONSE sent and what CONFIRM is checked with.
    response: Option<ResponseState>,
    /// A REJECT "unsupported version" ended a one-round-trip or resumed attempt: INIT of
    /// version 2, which every version speaks, went since, so a later such REJECT answers the
    /// earlier INIT (a copy of it still on its way) and is ignored.
    fell_back: bool,
    /// Resuming: the key of 0-RTT data behind the INIT of version 4, and what went under it.
    #[cfg(feature = "resumption")]
    early: Option<EarlyData>,
}

/// The initiator's 0-RTT data (`docs/PROTOCOL.md` §4.12): frames the application allowed to
/// travel in the datagram of the first INIT of version 4, sealed under a key the first message
/// of the resumed pattern gives. They take the session's first packet numbers; the responder's
/// ACKs, once the session is open, acknowledge them, and those it never saw are lost as any
/// other frame is (stream data goes again under the session's keys).
#[cfg(feature = "resumption")]
struct EarlyData {
    key: crate::crypto::PacketKey,
    /// The application allowed it (`SessionMut::allow_early_data`).
    allowed: bool,
    /// The first INIT's datagram is being written: early frames may join it.
    open: bool,
    /// The INIT went (at least) once: the window is past.
    sent: bool,
    /// The next packet number an early frame takes.
    next_pn: u64,
}

/// Why 0-RTT data cannot be allowed on a session ([`crate::SessionMut::allow_early_data`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EarlyDataError {
    /// The handshake does not resume (no ticket held for the peer, resumption off, or the
    /// node built without it): only a resumed handshake can carry 0-RTT data.
    #[error("this handshake does not resume with a ticket: 0-RTT data needs one (connect once, keep the ticket)")]
    NotResumed,
    /// The INIT went already (or the session is open): send the data the ordinary way.
    #[error("the INIT has gone already: allow 0-RTT data right after connect, before poll_transmit")]
    TooLate,
}

/// The initiator's one-round-trip attempt.
struct FastState {
    /// The encoded INIT of version 3, resent as is until CONFIRM (or CHALLENGE) arrives.
    frame: Box<[u8]>,
    /// The Noise state after the first message.
    noise: SymmetricState,
    /// The ephemeral secret key; erased with this state.
    ephemeral: DhSecret,
    suite: Suite,
    peer: NodeId,
    /// The responder's static key (`None` when resuming: the ticket stands for it).
    static_r: Option<[u8; 32]>,
    /// Times the INIT of version 3 or 4 went, to give up on it after [`FAST_SENDS`].
    sent: u8,
}

/// Sends of an unanswered INIT of version 3 before the handshake falls back to version 2's INIT
/// (1.4 s with the default timers): a node of version 2 in stealth mode does not REJECT it.
const FAST_SENDS: u8 = 3;

/// The initiator between RESPONSE and CONFIRM.
struct ResponseState {
    /// The encoded RESPONSE frame, resent as is until CONFIRM arrives.
    frame: Box<[u8]>,
    /// The Noise state after RESPONSE.
    noise: SymmetricState,
    /// The ephemeral secret key; erased with this state once CONFIRM is read.
    ephemeral: DhSecret,
    suite: Suite,
    static_r: [u8; 32],
}

/// What a handshake's timer says (see [`InitiatorHandshake::on_timeout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HandshakeTimer {
    /// Nothing due.
    Wait,
    /// Send the current handshake frame again.
    Retransmit,
    /// The handshake timed out.
    Expired,
}

/// A CHALLENGE this handshake does not take (see [`InitiatorHandshake::check_challenge`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChallengeRefusal {
    /// Not for this handshake, or after a CHALLENGE was taken: dropped as unexpected.
    Unexpected,
    /// Its MAC fails: corruption or forgery, not a verdict from the peer (a responder with
    /// another seed answers REJECT). Dropped; the handshake keeps waiting.
    Forged,
    /// Authentic, from `peer`, but the handshake cannot go on with it: it fails with `reason`.
    Fails { peer: NodeId, reason: HandshakeError },
}

/// What an authentic CHALLENGE gave: the responder's node id and the suite it chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChallengeAccepted {
    peer: NodeId,
    suite: Suite,
}

impl ChallengeAccepted {
    /// The responder's node id (from its static key).
    pub(crate) fn peer(&self) -> NodeId {
        self.peer
    }
}

/// The traffic secrets of an established session, from CONFIRM, and the responder's static key
/// (remembered for a one-round-trip handshake next time).
pub(crate) struct Established {
    suite: Suite,
    initiator_to_responder: TrafficSecret,
    responder_to_initiator: TrafficSecret,
    static_r: Option<[u8; 32]>,
}

impl Established {
    /// The negotiated suite and the two generation-0 traffic secrets (initiator to responder,
    /// responder to initiator).
    pub(crate) fn into_parts(self) -> (Suite, TrafficSecret, TrafficSecret) {
        (self.suite, self.initiator_to_responder, self.responder_to_initiator)
    }

    /// The responder's static public key (`None` after a resumed handshake, which did not
    /// use it).
    pub(crate) fn static_r(&self) -> Option<[u8; 32]> {
        self.static_r
    }
}

/// What a CONFIRM of version 3 gave: the session's keys, its id and the responder.
pub(crate) struct FastEstablished {
    pub(crate) established: Established,
    pub(crate) session_id: u64,
    pub(crate) peer: NodeId,
}

/// The wire ids of the suites `cfg` offers, in its order, and how many.
fn offered_suites(cfg: &EndpointConfig) -> ([u8; MAX_SUITES], usize) {
    let mut ids = [0u8; MAX_SUITES];
    for (d, suite) in ids.iter_mut().zip(&cfg.suites) {
        *d = suite.id();
    }
    (ids, cfg.suites.len())
}

impl InitiatorHandshake {
    /// A handshake started at `now` with nonce `nonce_i`, under the seed keys `keys`, with
    /// `expected_peer` if the application named the node it expects.
    pub(crate) fn new(
        now: Instant,
        nonce_i: [u8; 32],
        keys: HandshakeKeys,
        expected_peer: Option<NodeId>,
        cfg: &EndpointConfig,
    ) -> Self {
        let interval = cfg.handshake_retransmit_initial;
        InitiatorHandshake {
            nonce_i,
            keys,
            expected_peer,
            started: now,
            deadline: now + cfg.handshake_timeout,
            next_retransmit: now + interval,
            interval,
            fast: None,
            response: None,
            fell_back: false,
            #[cfg(feature = "resumption")]
            early: None,
        }
    }

    /// Lets the frames queued before the first INIT of a resumed handshake go with it as 0-RTT
    /// data.
    pub(crate) fn allow_early_data(&mut self) -> Result<(), EarlyDataError> {
        #[cfg(feature = "resumption")]
        if let Some(e) = self.early.as_mut() {
            if e.sent {
                return Err(EarlyDataError::TooLate);
            }
            e.allowed = true;
            return Ok(());
        }
        Err(EarlyDataError::NotResumed)
    }

    /// The handshake frame was just written into a datagram: if it is the first INIT of a
    /// resumed handshake and 0-RTT data is allowed, early frames may join that datagram until
    /// [`InitiatorHandshake::close_early_window`].
    pub(crate) fn on_frame_written(&mut self) {
        #[cfg(feature = "resumption")]
        {
            let resumed = self.is_resumed();
            if let Some(e) = self.early.as_mut() {
                e.open = e.allowed && !e.sent && resumed;
                e.sent = true;
            }
        }
    }

    /// True once 0-RTT frames went with the INIT: the responder may have taken them.
    pub(crate) fn early_data_went(&self) -> bool {
        self.early_packet_numbers() > 0
    }

    /// The datagram of the first INIT is complete: no more early frames.
    pub(crate) fn close_early_window(&mut self) {
        #[cfg(feature = "resumption")]
        if let Some(e) = self.early.as_mut() {
            e.open = false;
        }
    }

    /// True while early frames may join the datagram being written.
    pub(crate) fn early_window_open(&self) -> bool {
        #[cfg(feature = "resumption")]
        if let Some(e) = self.early.as_ref() {
            return e.open;
        }
        false
    }

    /// For the next early frame: its key, packet number and the header's session id (the
    /// handshake tag). `None` outside the window.
    #[cfg(feature = "resumption")]
    pub(crate) fn early_sealer(&mut self) -> Option<(&crate::crypto::PacketKey, u64, u64)> {
        let tag = self.tag();
        let e = self.early.as_mut().filter(|e| e.open)?;
        let pn = e.next_pn;
        e.next_pn += 1;
        Some((&e.key, pn, tag))
    }

    /// How many packet numbers early frames took (the session's own numbering goes on after).
    pub(crate) fn early_packet_numbers(&self) -> u64 {
        #[cfg(feature = "resumption")]
        if let Some(e) = self.early.as_ref() {
            return e.next_pn;
        }
        0
    }

    /// Makes the handshake a one-round-trip one to `peer`, whose static key is `static_r`: the
    /// first Noise message goes in an INIT of version 3 (with `cfg`'s first suite), written now
    /// and sent as the current frame. `ephemeral` is a fresh secret; `dh` counts the X25519
    /// operations. Fails (and the handshake stays a two-round-trip one) on a low-order key.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open_fast(
        &mut self,
        cfg: &EndpointConfig,
        identity: &Identity,
        peer: NodeId,
        static_r: &[u8; 32],
        statics: &mut StaticShared,
        ephemeral: DhSecret,
        dh: &mut u64,
    ) -> Result<(), HandshakeError> {
        let suite = cfg.suites[0];
        let me = identity.node_id().0;
        let prologue = Prologue { suite, node_id_i: &me, nonce_i: &self.nonce_i, nonce_r: None };
        let mut noise = ik::start(cfg.crypto_backend, &prologue, static_r);
        let written =
            ik::initiator_write_response(&mut noise, &ephemeral, identity, static_r, &self.keys.psk, statics, dh);
        let (e_pub, encrypted_static) = written.map_err(|_| HandshakeError::AuthenticationFailed)?;
        let (ids, offered) = offered_suites(cfg);
        let init = FastInit {
            node_id_i: me,
            nonce_i: self.nonce_i,
            suites: &ids[..offered],
            static_r: *static_r,
            ephemeral: e_pub,
            encrypted_static,
            seed_mac: [0; 16],
            extensions: Features::ALL.extensions(),
        };
        let payload = (init.len(), |p: &mut [u8]| init.encode(p));
        let at = seed_mac_at(init.seed_mac_offset());
        let frame = write_seed_maced_frame(FrameType::INIT, self.tag(), payload, at, &self.keys.k_hs, |prefix| {
            ik::seal_frame(&mut noise, prefix)
        });
        let static_r = Some(*static_r);
        self.fast = Some(FastState { frame: frame.into(), noise, ephemeral, suite, peer, static_r, sent: 1 });
        Ok(())
    }

    /// Without resumption no ticket exists: nothing calls this.
    #[cfg(not(feature = "resumption"))]
    pub(crate) fn open_resumed(&mut self, _: &EndpointConfig, _: &Identity, t: HeldTicket, _: DhSecret, _: &mut u64) {
        match t {}
    }

    /// Makes the handshake a resumed one with `ticket`'s peer: the first message of the
    /// resumed pattern goes in an INIT of version 4 (with `cfg`'s first suite), written now and
    /// sent as the current frame. `ephemeral` is a fresh secret; `dh` counts the X25519
    /// operations. If the responder does not take the ticket it answers CHALLENGE and the
    /// handshake goes on as a two-round-trip one.
    #[cfg(feature = "resumption")]
    pub(crate) fn open_resumed(
        &mut self,
        cfg: &EndpointConfig,
        identity: &Identity,
        ticket: HeldTicket,
        ephemeral: DhSecret,
        dh: &mut u64,
    ) {
        let suite = cfg.suites[0];
        let me = identity.node_id().0;
        let backend = cfg.crypto_backend;
        let mut noise = resume::start(backend, suite, &me, &self.nonce_i, &ticket.secret, &self.keys.psk);
        let e_pub = resume::write_e(&mut noise, &ephemeral, dh);
        let (ids, offered) = offered_suites(cfg);
        let init = ResumeInit {
            node_id_i: me,
            nonce_i: self.nonce_i,
            suites: &ids[..offered],
            ephemeral: e_pub,
            ticket: &ticket.ticket,
            seed_mac: [0; 16],
            extensions: Features::ALL.extensions(),
        };
        let payload = (init.len(), |p: &mut [u8]| init.encode(p));
        let at = seed_mac_at(init.seed_mac_offset());
        let frame = write_seed_maced_frame(FrameType::INIT, self.tag(), payload, at, &self.keys.k_hs, |prefix| {
            ik::seal_frame(&mut noise, prefix)
        });
        let early = noise.early_secret(crate::crypto::labels::EARLY_DATA).packet_key(suite, backend);
        self.early = Some(EarlyData { key: early, allowed: false, open: false, sent: false, next_pn: 0 });
        let peer = ticket.peer;
        self.fast = Some(FastState { frame: frame.into(), noise, ephemeral, suite, peer, static_r: None, sent: 1 });
    }

    /// True while a resumed attempt stands (no CHALLENGE or REJECT ended it).
    pub(crate) fn is_resumed(&self) -> bool {
        self.fast.as_ref().is_some_and(|f| f.static_r.is_none())
    }

    /// True while the one-round-trip attempt stands (no CHALLENGE or REJECT ended it).
    pub(crate) fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// True once a REJECT "unsupported version" ended the attempt (see `fell_back`).
    pub(crate) fn fell_back(&self) -> bool {
        self.fell_back
    }

    /// The responder does not speak version 3: the one-round-trip attempt ends (its ephemeral
    /// secret erased), INIT of version 2 becomes the frame to send, at once and on the initial
    /// retransmission schedule. Returns the peer it was meant for.
    pub(crate) fn fall_back_to_version_2(&mut self, now: Instant, cfg: &EndpointConfig) -> Option<NodeId> {
        let fast = self.fast.take()?;
        self.fell_back = true;
        self.interval = cfg.handshake_retransmit_initial;
        self.next_retransmit = now + self.interval;
        Some(fast.peer)
    }

    /// Reads a CONFIRM of version 3 (`confirm`, decoded from `frame` laid out as `layout`) for
    /// this node `me`: the second Noise message, on a copy of the state so that a forged one
    /// leaves it as it was. `None` unless the one-round-trip attempt stands and it is authentic.
    pub(crate) fn read_fast_confirm(
        &self,
        confirm: &FastConfirm<'_>,
        frame: &[u8],
        layout: &FrameLayout,
        identity: &Identity,
        dh: &mut u64,
    ) -> Option<FastEstablished> {
        let f = self.fast.as_ref()?;
        let mut noise = f.noise.clone();
        let read = match f.static_r {
            Some(_) if confirm.version == FAST_VERSION => {
                ik::initiator_read_confirm(&mut noise, &f.ephemeral, identity, &confirm.ephemeral, dh)
            }
            #[cfg(feature = "resumption")]
            None if confirm.version == RESUME_VERSION => {
                resume::initiator_read_confirm(&mut noise, &f.ephemeral, &confirm.ephemeral, dh)
            }
            _ => return None,
        };
        read.and_then(|()| ik::open_frame(&mut noise, layout.mac_input(frame), &layout.tag)).ok()?;
        let (initiator_to_responder, responder_to_initiator) = noise.split();
        let session_id = super::session_id(&self.nonce_i, &confirm.nonce_r, &identity.node_id().0, &f.peer.0);
        let established =
            Established { suite: f.suite, initiator_to_responder, responder_to_initiator, static_r: f.static_r };
        Some(FastEstablished { established, session_id, peer: f.peer })
    }

    /// The tag that routes CHALLENGE and REJECT to this handshake (the header's session id of
    /// INIT).
    pub(crate) fn tag(&self) -> u64 {
        handshake_tag(&self.nonce_i)
    }

    /// True if the application named `peer` as the node it expects.
    pub(crate) fn expects(&self, peer: &NodeId) -> bool {
        self.expected_peer == Some(*peer)
    }

    /// When the handshake started (its duration is the session's first RTT sample).
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// The next instant the handshake's timer is due.
    pub(crate) fn next_deadline(&self) -> Instant {
        self.next_retransmit.min(self.deadline)
    }

    /// Runs the timer at `now`: expiry, or a retransmission with the interval doubled (up to
    /// `handshake_retransmit_max`).
    pub(crate) fn on_timeout(&mut self, now: Instant, cfg: &EndpointConfig) -> HandshakeTimer {
        if now >= self.deadline {
            return HandshakeTimer::Expired;
        }
        if now >= self.next_retransmit {
            self.interval = (self.interval * 2).min(cfg.handshake_retransmit_max);
            self.next_retransmit = now + self.interval;
            if let Some(f) = self.fast.as_mut() {
                f.sent = f.sent.saturating_add(1);
                // No answer at all: perhaps a node of version 2 that stays silent. Version 2's
                // INIT gets an answer from either version (the peer is not marked). Not after
                // 0-RTT data went: the responder may have taken it (its CONFIRMs lost), and a
                // second session would get it again; the resumed INIT goes on until CONFIRM,
                // CHALLENGE or the timeout (a node that issued the ticket speaks version 4).
                if f.sent > FAST_SENDS && !self.early_data_went() {
                    self.fast = None;
                }
            }
            return HandshakeTimer::Retransmit;
        }
        HandshakeTimer::Wait
    }

    /// Writes the current handshake frame into `out`: INIT from `me` offering `cfg`'s suites
    /// before a CHALLENGE was taken (of version 3 while the one-round-trip attempt stands), then
    /// the RESPONSE. `None` if `out` is too small.
    pub(crate) fn write_frame(&self, out: &mut [u8], me: &NodeId, cfg: &EndpointConfig) -> Option<usize> {
        let kept = match (&self.response, &self.fast) {
            (Some(r), _) => Some(&r.frame),
            (None, Some(f)) => Some(&f.frame),
            (None, None) => None,
        };
        if let Some(kept) = kept {
            out.get_mut(..kept.len())?.copy_from_slice(kept);
            return Some(kept.len());
        }
        let (ids, offered) = offered_suites(cfg);
        let init = Init { node_id: me.0, nonce: self.nonce_i, suites: &ids[..offered], extensions: &[] };
        write_handshake_frame(out, FrameType::INIT, self.tag(), init.len(), |p| init.encode(p), Some(&self.keys.k_hs))
    }

    /// True if a REJECT naming `nonce_i` is for this handshake.
    pub(crate) fn is_rejected_by(&self, nonce_i: &[u8; 32]) -> bool {
        *nonce_i == self.nonce_i
    }

    /// Checks a CHALLENGE (`ch`, decoded from `frame` laid out as `layout`): for this handshake,
    /// authentic, and acceptable under `cfg` (a suite this side offers, the peer it expects and
    /// allows, and the seed the peer table names for it).
    pub(crate) fn check_challenge(
        &self,
        ch: &Challenge<'_>,
        frame: &[u8],
        layout: &FrameLayout,
        cfg: &EndpointConfig,
    ) -> Result<ChallengeAccepted, ChallengeRefusal> {
        if self.response.is_some() || ch.nonce_i != self.nonce_i {
            return Err(ChallengeRefusal::Unexpected);
        }
        if !verify_mac16(&self.keys.k_hs, &[layout.mac_input(frame)], &layout.tag) {
            return Err(ChallengeRefusal::Forged);
        }
        let peer = NodeId(node_id_from_public_key(&ch.static_key));
        let fails = |reason| Err(ChallengeRefusal::Fails { peer, reason });
        match Suite::from_id(ch.suite).filter(|s| cfg.suites.contains(s)) {
            None => fails(HandshakeError::SuiteMismatch),
            Some(_) if self.expected_peer.is_some_and(|e| e != peer) => fails(HandshakeError::UnexpectedPeer),
            Some(_) if !cfg.allows(&peer) => fails(HandshakeError::PeerNotAllowed),
            // `connect` used the default seed; the table wins for a peer listed in it.
            Some(_) if self.expected_peer.is_none() && cfg.peer_seeds.contains_key(&peer) => {
                fails(HandshakeError::PeerHasOwnSeed)
            }
            Some(suite) => Ok(ChallengeAccepted { peer, suite }),
        }
    }

    /// The session id the handshake gives with the responder of `ch`, for this node `me`.
    pub(crate) fn session_id(&self, ch: &Challenge<'_>, me: &NodeId, accepted: &ChallengeAccepted) -> u64 {
        super::session_id(&self.nonce_i, &ch.nonce_r, &me.0, &accepted.peer.0)
    }

    /// Answers an accepted CHALLENGE at `now`: the first Noise message (e, es, s, ss, psk, then
    /// the payload tag over the frame) in a RESPONSE for session `sid`, which replaces INIT as
    /// the frame to send. `ephemeral` is a fresh secret; `dh` counts the X25519 operations.
    /// Fails with `AuthenticationFailed` on a low-order static key (from a responder that holds
    /// the seed: not a usable peer).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn respond(
        &mut self,
        now: Instant,
        cfg: &EndpointConfig,
        ch: &Challenge<'_>,
        accepted: &ChallengeAccepted,
        sid: u64,
        identity: &Identity,
        statics: &mut StaticShared,
        ephemeral: DhSecret,
        dh: &mut u64,
    ) -> Result<(), HandshakeError> {
        let suite = accepted.suite;
        let me = identity.node_id().0;
        let prologue = Prologue { suite, node_id_i: &me, nonce_i: &self.nonce_i, nonce_r: Some(&ch.nonce_r) };
        let mut noise = ik::start(cfg.crypto_backend, &prologue, &ch.static_key);
        let written =
            ik::initiator_write_response(&mut noise, &ephemeral, identity, &ch.static_key, &self.keys.psk, statics, dh);
        let (e_pub, encrypted_static) = written.map_err(|_| HandshakeError::AuthenticationFailed)?;
        let resp = Response {
            node_id_i: me,
            static_r: ch.static_key,
            nonce_i: self.nonce_i,
            nonce_r: ch.nonce_r,
            suite: suite.id(),
            cookie: ch.cookie,
            ephemeral: e_pub,
            encrypted_static,
            seed_mac: [0; 16],
            extensions: Features::ALL.extensions(),
        };
        let frame = write_response_frame(&resp, sid, &self.keys.k_hs, |prefix| ik::seal_frame(&mut noise, prefix));
        // A CHALLENGE ends a one-round-trip attempt: its state (and ephemeral secret) goes.
        self.fast = None;
        self.response = Some(ResponseState { frame: frame.into(), noise, ephemeral, suite, static_r: ch.static_key });
        self.interval = cfg.handshake_retransmit_initial;
        self.next_retransmit = now + self.interval;
        Ok(())
    }

    /// Reads CONFIRM (`confirm`, decoded from `frame` laid out as `layout`): the second Noise
    /// message, on a copy of the state so that a forged CONFIRM leaves it as it was for the real
    /// one. `None` before a RESPONSE was sent or if CONFIRM is not authentic.
    pub(crate) fn read_confirm(
        &self,
        confirm: &Confirm<'_>,
        frame: &[u8],
        layout: &FrameLayout,
        identity: &Identity,
        dh: &mut u64,
    ) -> Option<Established> {
        let r = self.response.as_ref()?;
        let mut noise = r.noise.clone();
        ik::initiator_read_confirm(&mut noise, &r.ephemeral, identity, &confirm.ephemeral, dh)
            .and_then(|()| ik::open_frame(&mut noise, layout.mac_input(frame), &layout.tag))
            .ok()?;
        let (initiator_to_responder, responder_to_initiator) = noise.split();
        let static_r = Some(r.static_r);
        Some(Established { suite: r.suite, initiator_to_responder, responder_to_initiator, static_r })
    }

    /// True once a RESPONSE was sent (CONFIRM is awaited).
    pub(crate) fn has_responded(&self) -> bool {
        self.response.is_some()
    }
}
