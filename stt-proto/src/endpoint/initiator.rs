//! The initiator's side of the handshake: `connect`, then CHALLENGE / REJECT / CONFIRM.

use alloc::boxed::Box;

use super::{ConnectError, Endpoint};
use crate::crypto::{node_id_from_public_key, verify_mac16, DhSecret, HandshakeKeys, SessionSecrets, Suite};
use crate::event::{Event, HandshakeError};
use crate::handshake::ik::{self, Prologue};
use crate::handshake::{handshake_tag, session_id, write_response_frame};
use crate::session::keys::SessionKeys;
use crate::session::{InitiatorHandshake, ResponseState, Session, SessionEnd};
use crate::time::Instant;
use crate::types::{NodeId, Remote, SessionHandle};
use crate::wire::handshake::{Challenge, Confirm, Reject, Response};
use crate::wire::FrameLayout;

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
        let mut nonce_i = self.rng.bytes32();
        while self.sessions.by_tag(handshake_tag(&nonce_i)).is_some() {
            nonce_i = self.rng.bytes32();
        }
        let interval = self.config.handshake_retransmit_initial;
        let hs = InitiatorHandshake {
            nonce_i,
            keys,
            expected_peer: expected,
            started: now,
            deadline: now + self.config.handshake_timeout,
            next_retransmit: now + interval,
            interval,
            response: None,
        };
        let handle = self.sessions.insert(Session::initiator(now, remote, hs, &self.config));
        self.sessions.index_tag(handshake_tag(&nonce_i), handle);
        self.sessions.mark_ready(now, handle);
        self.sessions.reschedule(&self.config, handle);
        Ok(handle)
    }

    fn fail_handshake(&mut self, now: Instant, handle: SessionHandle, reason: HandshakeError) {
        self.end(now, handle, SessionEnd::HandshakeFailed(reason));
    }

    pub(super) fn handle_challenge(&mut self, now: Instant, frame: &[u8], layout: &FrameLayout) {
        let Some(handle) = self.sessions.by_tag(layout.header.session_id) else {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        let Ok(ch) = Challenge::decode(&frame[layout.payload.clone()]) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let s = self.sessions.get(handle).expect("the tag map names live sessions");
        let Some(h) = s.handshake() else {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        if h.response.is_some() || ch.nonce_i != h.nonce_i {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        // A CHALLENGE that fails its MAC is corruption or forgery, not a verdict from the peer
        // (a responder with another seed answers REJECT): ignore it and keep waiting.
        if !verify_mac16(&h.keys.k_hs, &[layout.mac_input(frame)], &layout.tag) {
            self.stats.dropped.handshake_authentication += 1;
            return;
        }
        let peer = NodeId(node_id_from_public_key(&ch.static_key));
        let suite = Suite::from_id(ch.suite).filter(|s| self.config.suites.contains(s));
        let verdict = match suite {
            None => Err(HandshakeError::SuiteMismatch),
            Some(_) if h.expected_peer.is_some_and(|e| e != peer) => Err(HandshakeError::UnexpectedPeer),
            Some(_) if !self.config.allows(&peer) => Err(HandshakeError::PeerNotAllowed),
            // `connect` used the default seed; the table wins for a peer listed in it.
            Some(_) if h.expected_peer.is_none() && self.config.peer_seeds.contains_key(&peer) => {
                Err(HandshakeError::PeerHasOwnSeed)
            }
            Some(suite) => Ok(suite),
        };
        let suite = match verdict {
            Ok(suite) => suite,
            Err(reason) => {
                self.sessions.get_mut(handle).expect("still live").set_peer(peer);
                return self.fail_handshake(now, handle, reason);
            }
        };
        let me = self.identity.node_id().0;
        let sid = session_id(&h.nonce_i, &ch.nonce_r, &me, &peer.0);
        if self.sessions.by_id(sid).is_some() {
            // A 64-bit collision with a live session: retrying with a fresh nonce is the only fix.
            self.sessions.get_mut(handle).expect("still live").set_peer(peer);
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        // The first Noise message: e, es, s, ss, psk, then the payload tag over the frame.
        let ephemeral = DhSecret::from_bytes(*self.rng.secret32());
        let prologue = Prologue { suite, node_id_i: &me, nonce_i: &h.nonce_i, nonce_r: &ch.nonce_r };
        let mut noise = ik::start(self.config.crypto_backend, &prologue, &ch.static_key);
        let written = ik::initiator_write_response(
            &mut noise,
            &ephemeral,
            &self.identity,
            &ch.static_key,
            &h.keys.psk,
            &mut self.statics,
            &mut self.stats.diffie_hellman,
        );
        let Ok((e_pub, encrypted_static)) = written else {
            // A low-order static key, from a responder that holds the seed: not a usable peer.
            self.sessions.get_mut(handle).expect("still live").set_peer(peer);
            return self.fail_handshake(now, handle, HandshakeError::AuthenticationFailed);
        };
        let resp = Response {
            node_id_i: me,
            static_r: ch.static_key,
            nonce_i: h.nonce_i,
            nonce_r: ch.nonce_r,
            suite: suite.id(),
            cookie: ch.cookie,
            ephemeral: e_pub,
            encrypted_static,
            seed_mac: [0; 16],
            extensions: &[],
        };
        let response_frame =
            write_response_frame(&resp, sid, &h.keys.k_hs, |prefix| ik::seal_frame(&mut noise, prefix));
        let tag = handshake_tag(&h.nonce_i);
        let response = ResponseState { frame: response_frame.into(), noise, ephemeral, suite };
        let s = self.sessions.get_mut(handle).expect("still live");
        s.on_challenge_accepted(now, &self.config, sid, peer, response);
        self.sessions.index_id(sid, Some(tag), handle);
        self.sessions.mark_ready(now, handle);
        self.sessions.reschedule(&self.config, handle);
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
        if rj.nonce_i != h.nonce_i {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        self.fail_handshake(now, handle, HandshakeError::rejected(rj.reason));
    }

    pub(super) fn handle_confirm(&mut self, now: Instant, frame: &[u8], layout: &FrameLayout) {
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
                self.sessions.mark_ready(now, handle);
            } else {
                self.stats.dropped.unexpected_handshake += 1;
            }
            return;
        };
        let Some(r) = &h.response else { return };
        let Ok(confirm) = Confirm::decode(&frame[layout.payload.clone()]) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        // The second Noise message, read on a copy so that a forged CONFIRM leaves the state as it
        // was for the real one.
        let mut noise = r.noise.clone();
        let dh = &mut self.stats.diffie_hellman;
        let read = ik::initiator_read_confirm(&mut noise, &r.ephemeral, &self.identity, &confirm.ephemeral, dh)
            .and_then(|()| ik::open_frame(&mut noise, layout.mac_input(frame), &layout.tag));
        if read.is_err() {
            self.stats.dropped.handshake_authentication += 1;
            return;
        }
        let (i2r, r2i) = noise.split();
        if self.config.key_log {
            let secrets = SessionSecrets {
                session_id: layout.header.session_id,
                suite: r.suite,
                initiator_to_responder: i2r.clone(),
                responder_to_initiator: r2i.clone(),
            };
            self.events.push_back(Event::KeyLog { session: handle, secrets: Box::new(secrets) });
        }
        let (backend, retention) = (self.config.crypto_backend, self.config.key_retention);
        let keys = SessionKeys::new(now, r.suite, backend, retention, i2r, r2i);
        let (s, mut ctx) = self.session_and_ctx(now, handle).expect("still live");
        s.establish(&mut ctx, keys);
        self.sessions.mark_ready(now, handle);
        self.sessions.reschedule(&self.config, handle);
    }
}
