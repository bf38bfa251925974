//! The initiator's side of the handshake as the endpoint routes it: `connect` (one round trip to a
//! peer whose static key it knows, two otherwise), then CHALLENGE / REJECT / CONFIRM, each looked
//! up by its tag or session id and fed to the session's `InitiatorHandshake`
//! (`handshake/initiator.rs`), which holds the state and does the checks and the Noise messages.
//! An established handshake teaches the endpoint the responder's static key for next time.

use alloc::boxed::Box;

use super::{ConnectError, Endpoint};
use crate::crypto::{DhSecret, ExporterSecret, HandshakeKeys, SessionSecrets};
use crate::event::{Event, HandshakeError};
use crate::handshake::handshake_tag;
use crate::handshake::initiator::{ChallengeRefusal, Established, InitiatorHandshake};
use crate::session::keys::SessionKeys;
use crate::session::{Session, SessionEnd, Then};
use crate::time::Instant;
use crate::types::{NodeId, Remote, SessionHandle};
use crate::wire::handshake::{
    Challenge, Confirm, FastConfirm, Features, Reject, RejectReason, FAST_VERSION, RESUME_VERSION,
};
use crate::wire::{DecodeError, FrameLayout};

impl Endpoint {
    /// Starts a handshake with `remote` using the default shared seed. The returned handle is
    /// valid at once; `Event::SessionEstablished` or `Event::HandshakeFailed` follows. Custom
    /// frames sent before establishment are queued and go out once the session is up.
    pub fn connect(&mut self, now: Instant, remote: Remote) -> Result<SessionHandle, ConnectError> {
        self.start_handshake(now, remote, None)
    }

    /// Like [`Endpoint::connect`], but for a known peer: uses its entry in `peer_seeds` (or the
    /// default seed) and fails with `UnexpectedPeer` if another node answers.
    pub fn connect_to(&mut self, now: Instant, remote: Remote, peer: NodeId) -> Result<SessionHandle, ConnectError> {
        self.start_handshake(now, remote, Some(peer))
    }

    fn start_handshake(
        &mut self,
        now: Instant,
        remote: Remote,
        expected: Option<NodeId>,
    ) -> Result<SessionHandle, ConnectError> {
        let seed = match &expected {
            Some(p) if !self.config.allows(p) => return Err(ConnectError::PeerNotAllowed),
            Some(p) => self.config.seed_for(p),
            None => self.config.default_shared_seed.as_ref(),
        }
        .ok_or(ConnectError::NoSharedSeed)?;
        let keys = HandshakeKeys::from_shared_seed(seed.as_bytes());
        if self.sessions.len() >= self.config.max_sessions {
            return Err(ConnectError::TooManySessions);
        }
        // The handshake tag (the nonce's first eight bytes) belongs to this shard, so that the
        // responder's answers come back to it.
        let nonce_i = loop {
            let mut nonce = self.rng.bytes32();
            if cfg!(feature = "shards") {
                let tag = self.config.shard.claim(handshake_tag(&nonce));
                nonce[..8].copy_from_slice(&tag.to_be_bytes());
            }
            if self.sessions.by_tag(handshake_tag(&nonce)).is_none() {
                break nonce;
            }
        };
        let mut hs = InitiatorHandshake::new(now, nonce_i, keys, expected, &self.config);
        let peer = self.fast_open_peer(remote, expected);
        #[cfg(feature = "resumption")]
        let ticket = peer.and_then(|peer| self.ticket_for(now, &peer));
        #[cfg(not(feature = "resumption"))]
        let ticket: Option<core::convert::Infallible> = None;
        if let Some(ticket) = ticket {
            let ephemeral = DhSecret::from_bytes(*self.rng.secret32());
            hs.open_resumed(&self.config, &self.identity, ticket, ephemeral, &mut self.stats.diffie_hellman);
        } else if let Some((peer, static_r)) = peer.filter(|_| self.config.fast_open).and_then(|p| self.known_key(p)) {
            let ephemeral = DhSecret::from_bytes(*self.rng.secret32());
            let dh = &mut self.stats.diffie_hellman;
            // A low-order key cannot have been learnt from a handshake; if one was given, the
            // two-round-trip handshake runs and its CHALLENGE decides.
            let _ = hs.open_fast(&self.config, &self.identity, peer, &static_r, &mut self.statics, ephemeral, dh);
        }
        let tag = hs.tag();
        let mut s = Session::initiator(now, remote, hs, &self.config);
        s.set_on_default_seed(expected.is_none_or(|p| !self.config.peer_seeds.contains_key(&p)));
        let handle = self.sessions.insert(s);
        self.sessions.index_tag(tag, handle);
        self.after(now, handle, Then::Transmit);
        Ok(handle)
    }

    /// `peer` and its static key, if known (for a one-round-trip handshake).
    fn known_key(&self, peer: NodeId) -> Option<(NodeId, [u8; 32])> {
        Some((peer, self.known.key_of(&peer)?))
    }

    /// The peer a one-round-trip or resumed handshake to `remote` would be for: the expected
    /// one, or without one the node last met at `remote`, if it is one the checks of a
    /// CHALLENGE would accept (allowed, and not listed with its own seed when the default seed
    /// is used).
    fn fast_open_peer(&self, remote: Remote, expected: Option<NodeId>) -> Option<NodeId> {
        match expected {
            Some(peer) => Some(peer),
            None => self
                .known
                .at(&remote)
                .map(|(peer, _)| peer)
                .filter(|peer| self.config.allows(peer) && !self.config.peer_seeds.contains_key(peer)),
        }
    }

    fn fail_handshake(&mut self, now: Instant, handle: SessionHandle, reason: HandshakeError) {
        self.end(now, handle, SessionEnd::HandshakeFailed(reason));
    }

    /// The handshake in progress a frame routed by its tag (CHALLENGE, CONFIRM of version 3)
    /// is for, and its payload decoded by `decode`; `None`, with the drop counted, otherwise.
    fn handshake_for<'f, P>(
        &mut self,
        frame: &'f [u8],
        layout: &FrameLayout,
        decode: impl FnOnce(&'f [u8]) -> Result<P, DecodeError>,
    ) -> Option<(SessionHandle, P)> {
        let Some(handle) = self.sessions.by_tag(layout.header.session_id) else {
            self.stats.dropped.unexpected_handshake += 1;
            return None;
        };
        let Ok(payload) = decode(&frame[layout.payload.clone()]) else {
            self.stats.dropped.malformed += 1;
            return None;
        };
        let s = self.sessions.get(handle).expect("the tag map names live sessions");
        if s.handshake().is_none() {
            self.stats.dropped.unexpected_handshake += 1;
            return None;
        }
        Some((handle, payload))
    }

    pub(super) fn handle_challenge(&mut self, now: Instant, frame: &[u8], layout: &FrameLayout) {
        let Some((handle, ch)) = self.handshake_for(frame, layout, Challenge::decode) else { return };
        let s = self.sessions.get(handle).expect("live");
        let h = s.handshake().expect("checked by handshake_for");
        let accepted = match h.check_challenge(&ch, frame, layout, &self.config) {
            Ok(accepted) => accepted,
            Err(ChallengeRefusal::Unexpected) => {
                self.stats.dropped.unexpected_handshake += 1;
                return;
            }
            Err(ChallengeRefusal::Forged) => {
                self.stats.dropped.handshake_authentication += 1;
                return;
            }
            Err(ChallengeRefusal::Fails { peer, reason }) => {
                self.sessions.get_mut(handle).expect("still live").set_peer(peer);
                return self.fail_handshake(now, handle, reason);
            }
        };
        let (peer, tag) = (accepted.peer(), h.tag());
        let sid = h.session_id(&ch, &self.identity.node_id(), &accepted);
        if self.sessions.by_id(sid).is_some() {
            // A 64-bit collision with a live session: retrying with a fresh nonce is the only fix.
            self.sessions.get_mut(handle).expect("still live").set_peer(peer);
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        let ephemeral = DhSecret::from_bytes(*self.rng.secret32());
        let s = self.sessions.get_mut(handle).expect("still live");
        let h = s.handshake_mut().expect("checked above");
        let dh = &mut self.stats.diffie_hellman;
        let answered =
            h.respond(now, &self.config, &ch, &accepted, sid, &self.identity, &mut self.statics, ephemeral, dh);
        if let Err(reason) = answered {
            s.set_peer(peer);
            return self.fail_handshake(now, handle, reason);
        }
        s.on_challenge_accepted(sid, peer);
        self.sessions.index_id(sid, Some(tag), handle);
        self.after(now, handle, Then::Transmit);
    }

    pub(super) fn handle_reject(&mut self, now: Instant, frame: &[u8], layout: &FrameLayout) {
        let Some(handle) = self.sessions.by_tag(layout.header.session_id) else {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        let Ok(rj) = Reject::decode(&frame[layout.payload.clone()]) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let s = self.sessions.get(handle).expect("the tag map names live sessions");
        let Some(h) = s.handshake() else { return };
        if !h.is_rejected_by(&rj.nonce_i) {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        if rj.reason == RejectReason::UnsupportedVersion && h.fell_back() {
            // For the INIT of version 3 or 4 sent before the fall back (a second copy of it was
            // answered too): INIT of version 2 is on its way.
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        if rj.reason == RejectReason::UnsupportedVersion && h.is_fast() && !h.early_data_went() {
            // A node of version 2: the two-round-trip handshake, now and from now on.
            let s = self.sessions.get_mut(handle).expect("still live");
            let h = s.handshake_mut().expect("checked above");
            // A node of version 3 does not resume: it is not marked (it speaks version 3).
            let resumed = h.is_resumed();
            match h.fall_back_to_version_2(now, &self.config) {
                Some(peer) if !resumed => self.known.speaks_only_version_2(&peer),
                _ => {}
            }
            s.queue_handshake();
            self.after(now, handle, Then::Transmit);
            return;
        }
        self.fail_handshake(now, handle, HandshakeError::rejected(rj.reason));
    }

    pub(super) fn handle_confirm(&mut self, now: Instant, frame: &[u8], layout: &FrameLayout) {
        if matches!(frame[layout.payload.clone()].first(), Some(&FAST_VERSION | &RESUME_VERSION)) {
            return self.handle_fast_confirm(now, frame, layout);
        }
        let Some(handle) = self.sessions.by_id(layout.header.session_id) else {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        let s = self.sessions.get(handle).expect("the id map names live sessions");
        let Some(h) = s.handshake() else {
            // Already established: CONFIRM again, because the responder has not had this side's
            // first frame; send it again (at most one per CONFIRM, to the session's own remote).
            let s = self.sessions.get_mut(handle).expect("the id map names live sessions");
            if s.on_confirm_repeated() {
                self.after(now, handle, Then::Transmit);
            } else {
                self.stats.dropped.unexpected_handshake += 1;
            }
            return;
        };
        if !h.has_responded() {
            return;
        }
        let Ok(confirm) = Confirm::decode(&frame[layout.payload.clone()]) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let dh = &mut self.stats.diffie_hellman;
        let Some(established) = h.read_confirm(&confirm, frame, layout, &self.identity, dh) else {
            self.stats.dropped.handshake_authentication += 1;
            return;
        };
        let sid = layout.header.session_id;
        let features = Features::from_extensions(confirm.extensions);
        self.establish_initiator(now, handle, sid, established, false, features);
    }

    /// CONFIRM of version 3 or 4, routed by the handshake tag: the answer to a one-round-trip or
    /// resumed INIT.
    fn handle_fast_confirm(&mut self, now: Instant, frame: &[u8], layout: &FrameLayout) {
        let Some((handle, confirm)) = self.handshake_for(frame, layout, FastConfirm::decode) else { return };
        let s = self.sessions.get(handle).expect("live");
        let h = s.handshake().expect("checked by handshake_for");
        if !h.is_fast() {
            // For an INIT of version 3 sent before this handshake took the cookie round.
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        let dh = &mut self.stats.diffie_hellman;
        let Some(fast) = h.read_fast_confirm(&confirm, frame, layout, &self.identity, dh) else {
            self.stats.dropped.handshake_authentication += 1;
            return;
        };
        if self.sessions.by_id(fast.session_id).is_some() {
            // A 64-bit collision with a live session; the responder made its session, which
            // expires unconfirmed. Only a new handshake (a fresh nonce) can do better.
            return self.fail_handshake(now, handle, HandshakeError::Timeout);
        }
        let tag = h.tag();
        let s = self.sessions.get_mut(handle).expect("still live");
        s.on_fast_confirm_accepted(fast.session_id, fast.peer);
        self.sessions.index_id(fast.session_id, Some(tag), handle);
        let features = Features::from_extensions(confirm.extensions);
        self.establish_initiator(now, handle, fast.session_id, fast.established, true, features);
    }

    /// Establishes the initiator's session `handle` (id `sid`) with the keys a CONFIRM gave (of
    /// version 3 if `one_round_trip`), and remembers the responder's static key for a
    /// one-round-trip handshake next time.
    fn establish_initiator(
        &mut self,
        now: Instant,
        handle: SessionHandle,
        sid: u64,
        established: Established,
        one_round_trip: bool,
        features: Features,
    ) {
        let s = self.sessions.get(handle).expect("still live");
        match (s.peer(), established.static_r()) {
            (Some(peer), Some(static_r)) => self.known.learn(peer, static_r, Some(s.remote())),
            // Resumed: the ticket stood for the static keys.
            (_, None) => self.stats.sessions_resumed += 1,
            (None, Some(_)) => {}
        }
        let (suite, i2r, r2i) = established.into_parts();
        if self.config.key_log {
            let secrets = SessionSecrets {
                session_id: sid,
                suite,
                initiator_to_responder: i2r.clone(),
                responder_to_initiator: r2i.clone(),
            };
            self.events.push_back(Event::KeyLog { session: handle, secrets: Box::new(secrets) });
        }
        let (backend, retention) = (self.config.crypto_backend, self.config.key_retention);
        let exporter = ExporterSecret::new(&i2r, &r2i);
        let keys = SessionKeys::new(now, suite, backend, retention, i2r, r2i, exporter);
        let (s, mut ctx) = self.session_and_ctx(now, handle).expect("still live");
        s.set_peer_features(features);
        s.establish(&mut ctx, keys, one_round_trip);
        self.after(now, handle, Then::Transmit);
    }
}
