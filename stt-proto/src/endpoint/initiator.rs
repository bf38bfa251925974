//! The initiator's side of the handshake: `connect`, then CHALLENGE / REJECT / CONFIRM.

use super::{ConnectError, Endpoint};
use crate::crypto::{verify_mac16, HandshakeKeys, SessionSecrets, Suite};
use crate::event::HandshakeError;
use crate::handshake::{handshake_tag, session_id};
use crate::session::keys::SessionKeys;
use crate::session::{InitiatorHandshake, ResponseState, Session, SessionEnd};
use crate::time::Instant;
use crate::types::{NodeId, Remote, SessionHandle};
use crate::wire::handshake::{Challenge, Confirm, Reject, VERSION};
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
        .ok_or(ConnectError::NoSharedSeed)?
        .clone();
        if self.sessions.len() >= self.config.max_sessions {
            return Err(ConnectError::TooManySessions);
        }
        let mut nonce_i = self.rng.bytes32();
        while self.sessions.by_tag(handshake_tag(&nonce_i)).is_some() {
            nonce_i = self.rng.bytes32();
        }
        let k_hs = HandshakeKeys::from_shared_seed(seed.as_bytes()).k_hs;
        let interval = self.config.handshake_retransmit_initial;
        let hs = InitiatorHandshake {
            nonce_i,
            seed,
            k_hs: k_hs.into(),
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
        if !verify_mac16(&h.k_hs, &[layout.mac_input(frame)], &layout.tag) {
            self.stats.dropped.handshake_authentication += 1;
            return;
        }
        let peer = NodeId(ch.node_id);
        let suite = Suite::from_id(ch.suite).filter(|s| self.config.suites.contains(s));
        let verdict = match suite {
            None => Err(HandshakeError::SuiteMismatch),
            Some(_) if h.expected_peer.is_some_and(|e| e != peer) => Err(HandshakeError::UnexpectedPeer),
            Some(_) if !self.config.allows(&peer) => Err(HandshakeError::PeerNotAllowed),
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
        let secrets =
            SessionSecrets::derive(h.seed.as_bytes(), VERSION, suite, &me, &ch.node_id, &h.nonce_i, &ch.nonce_r);
        let sid = session_id(&h.nonce_i, &ch.nonce_r, &me, &ch.node_id);
        let tag = handshake_tag(&h.nonce_i);
        if self.sessions.by_id(sid).is_some() {
            // A 64-bit collision with a live session: retrying with a fresh nonce is the only fix.
            self.sessions.get_mut(handle).expect("still live").set_peer(peer);
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        let response = ResponseState {
            node_id_r: ch.node_id,
            nonce_r: ch.nonce_r,
            suite,
            cookie: ch.cookie,
            k_response: secrets.k_response.into(),
            k_confirm: secrets.k_confirm.into(),
        };
        let keys = SessionKeys::new(
            now,
            suite,
            self.config.crypto_backend,
            self.config.key_retention,
            secrets.i2r.clone(),
            secrets.r2i.clone(),
        );
        let s = self.sessions.get_mut(handle).expect("still live");
        s.on_challenge_accepted(now, &self.config, sid, peer, response, keys);
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
        self.fail_handshake(now, handle, rj.reason.into());
    }

    pub(super) fn handle_confirm(&mut self, now: Instant, frame: &[u8], layout: &FrameLayout) {
        let Some(handle) = self.sessions.by_id(layout.header.session_id) else {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        let s = self.sessions.get(handle).expect("the id map names live sessions");
        let Some(h) = s.handshake() else {
            // Already established: a duplicate CONFIRM.
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        let Some(r) = &h.response else { return };
        if !verify_mac16(&r.k_confirm, &[layout.mac_input(frame)], &layout.tag) {
            self.stats.dropped.handshake_authentication += 1;
            return;
        }
        if Confirm::decode(&frame[layout.payload.clone()]).is_err() {
            self.stats.dropped.malformed += 1;
            return;
        }
        let (s, mut ctx) = self.session_and_ctx(now, handle).expect("still live");
        s.establish(&mut ctx);
        self.sessions.mark_ready(now, handle);
        self.sessions.reschedule(&self.config, handle);
    }
}
