//! The initiator's side of the handshake: `connect`, then CHALLENGE / REJECT / CONFIRM.

use alloc::boxed::Box;
use alloc::collections::VecDeque;

use super::{ConnectError, Endpoint, Remote};
use crate::config::NodeId;
use crate::crypto::{verify_mac16, HandshakeKeys, SessionSecrets, Suite};
use crate::event::{Event, HandshakeError};
use crate::handshake::{handshake_tag, session_id};
use crate::session::keys::SessionKeys;
use crate::session::{InitiatorHandshake, Outgoing, ResponseState, Role, Session, SessionHandle, State};
use crate::time::Instant;
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
        if self.live >= self.config.max_sessions {
            return Err(ConnectError::TooManySessions);
        }
        let mut nonce_i = self.rng.bytes32();
        while self.by_tag.contains_key(&handshake_tag(&nonce_i)) {
            nonce_i = self.rng.bytes32();
        }
        let k_hs = HandshakeKeys::from_shared_seed(seed.as_bytes()).k_hs;
        let interval = self.config.handshake_retransmit_initial;
        let hs = InitiatorHandshake {
            nonce_i,
            seed,
            k_hs,
            expected_peer: expected,
            started: now,
            deadline: now + self.config.handshake_timeout,
            next_retransmit: now + interval,
            interval,
            response: None,
        };
        let mut queue = VecDeque::new();
        queue.push_back(Outgoing::Handshake);
        let handle = self.insert(Session::new(
            now,
            Role::Initiator,
            remote,
            State::Handshaking(Box::new(hs)),
            queue,
            &self.config,
        ));
        self.by_tag.insert(handshake_tag(&nonce_i), handle.index);
        self.mark_ready(now, handle);
        self.reschedule(handle);
        Ok(handle)
    }

    fn pending_by_tag(&self, tag: u64) -> Option<SessionHandle> {
        let index = *self.by_tag.get(&tag)?;
        Some(SessionHandle { index, generation: self.slots[index as usize].generation })
    }

    fn fail_handshake(&mut self, now: Instant, handle: SessionHandle, reason: HandshakeError) {
        if let Some(s) = self.remove(now, handle) {
            self.events.push_back(Event::HandshakeFailed {
                session: Some(handle),
                remote: s.remote,
                peer: s.peer,
                reason,
            });
        }
    }

    pub(super) fn handle_challenge(&mut self, now: Instant, frame: &[u8], layout: &FrameLayout) {
        let Some(handle) = self.pending_by_tag(layout.header.session_id) else {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        let Ok(ch) = Challenge::decode(&frame[layout.payload.clone()]) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let s = self.slots[handle.index as usize].session.as_mut().expect("by_tag only names live sessions");
        let State::Handshaking(h) = &mut s.state else {
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
        s.peer = Some(peer);
        let suite = match verdict {
            Ok(suite) => suite,
            Err(reason) => return self.fail_handshake(now, handle, reason),
        };
        let me = self.identity.node_id().0;
        let secrets =
            SessionSecrets::derive(h.seed.as_bytes(), VERSION, suite, &me, &ch.node_id, &h.nonce_i, &ch.nonce_r);
        let sid = session_id(&h.nonce_i, &ch.nonce_r, &me, &ch.node_id);
        if self.by_id.contains_key(&sid) {
            // A 64-bit collision with a live session: retrying with a fresh nonce is the only fix.
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        h.response = Some(ResponseState {
            node_id_r: ch.node_id,
            nonce_r: ch.nonce_r,
            suite,
            cookie: ch.cookie,
            k_response: secrets.k_response,
            k_confirm: secrets.k_confirm,
        });
        h.interval = self.config.handshake_retransmit_initial;
        h.next_retransmit = now + h.interval;
        let tag = handshake_tag(&h.nonce_i);
        s.session_id = sid;
        s.keys = Some(SessionKeys::new(
            now,
            suite,
            self.config.crypto_backend,
            self.config.key_retention,
            secrets.i2r,
            secrets.r2i,
        ));
        if !s.queue.iter().any(|o| matches!(o, Outgoing::Handshake)) {
            s.queue.push_front(Outgoing::Handshake);
        }
        self.by_tag.remove(&tag);
        self.by_id.insert(sid, handle.index);
        self.mark_ready(now, handle);
        self.reschedule(handle);
    }

    pub(super) fn handle_reject(&mut self, now: Instant, frame: &[u8], layout: &FrameLayout) {
        let Some(handle) = self.pending_by_tag(layout.header.session_id) else {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        let Ok(rj) = Reject::decode(&frame[layout.payload.clone()]) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let s = self.get(handle).expect("by_tag only names live sessions");
        let State::Handshaking(h) = &s.state else { return };
        if rj.nonce_i != h.nonce_i {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        self.fail_handshake(now, handle, rj.reason.into());
    }

    pub(super) fn handle_confirm(&mut self, now: Instant, frame: &[u8], layout: &FrameLayout) {
        let Some(&index) = self.by_id.get(&layout.header.session_id) else {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        let handle = SessionHandle { index, generation: self.slots[index as usize].generation };
        let s = self.get(handle).expect("by_id only names live sessions");
        let State::Handshaking(h) = &s.state else {
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
        self.establish(now, handle);
        self.reschedule(handle);
    }
}
