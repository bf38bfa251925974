//! The responder's side of the handshake: INIT → CHALLENGE (or REJECT) statelessly, and
//! RESPONSE → session + CONFIRM. No state is kept for an attempt until a valid RESPONSE.

use super::Endpoint;
use crate::crypto::{verify_mac16, HandshakeKeys, SessionSecrets, Suite};
use crate::event::Event;
use crate::handshake::cookie::CookieFields;
use crate::handshake::{handshake_tag, session_id, write_handshake_frame, CookieJar};
use crate::session::keys::SessionKeys;
use crate::session::Session;
use crate::time::Instant;
use crate::types::{NodeId, Remote, Role};
use crate::wire::handshake::{Challenge, Init, Reject, RejectReason, Response, VERSION};
use crate::wire::{FrameLayout, FrameType};

impl Endpoint {
    fn handshake_keys_for(&self, peer: &NodeId) -> Option<HandshakeKeys> {
        if let Some(seed) = self.config.peer_seeds.get(peer) {
            return Some(HandshakeKeys::from_shared_seed(seed.as_bytes()));
        }
        self.default_hs_keys.clone()
    }

    fn reject(&mut self, remote: Remote, received: usize, nonce_i: [u8; 32], peer: NodeId, reason: RejectReason) {
        self.diagnostic(Event::HandshakeFailed { session: None, remote, peer: Some(peer), reason: reason.into() });
        if self.config.stealth {
            return;
        }
        let rj = Reject { nonce_i, reason };
        let tag = handshake_tag(&nonce_i);
        let sent = self.queue_reply(remote, received, |out| {
            write_handshake_frame(out, FrameType::REJECT, tag, Reject::LEN, |p| rj.encode(p), None)
        });
        if sent {
            self.stats.rejects_sent += 1;
        }
    }

    pub(super) fn handle_init(&mut self, now: Instant, remote: Remote, frame: &[u8], layout: &FrameLayout) {
        self.stats.inits_received += 1;
        let Ok(init) = Init::decode(&frame[layout.payload.clone()]) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let peer = NodeId(init.node_id);
        if !self.config.server_mode {
            return self.reject(remote, frame.len(), init.nonce, peer, RejectReason::ServerModeOff);
        }
        let keys = if self.config.allows(&peer) { self.handshake_keys_for(&peer) } else { None };
        let Some(keys) = keys else {
            return self.reject(remote, frame.len(), init.nonce, peer, RejectReason::PeerNotAllowed);
        };
        if !verify_mac16(&keys.k_hs, &[layout.mac_input(frame)], &layout.tag) {
            self.stats.dropped.handshake_authentication += 1;
            return self.reject(remote, frame.len(), init.nonce, peer, RejectReason::AuthenticationFailed);
        }
        let suite = init.suites.iter().filter_map(|&id| Suite::from_id(id)).find(|s| self.config.suites.contains(s));
        let Some(suite) = suite else {
            return self.reject(remote, frame.len(), init.nonce, peer, RejectReason::SuiteMismatch);
        };
        let nonce_r = self.rng.bytes32();
        let jar = self.cookies.get_or_insert_with(|| CookieJar::new(now, self.config.cookie_lifetime, &mut self.rng));
        let fields = CookieFields {
            remote: &remote,
            node_id_i: &init.node_id,
            nonce_i: &init.nonce,
            nonce_r: &nonce_r,
            suite: suite.id(),
        };
        let cookie = jar.make(now, &mut self.rng, &fields);
        let ch = Challenge {
            node_id: self.identity.node_id().0,
            nonce_i: init.nonce,
            nonce_r,
            suite: suite.id(),
            cookie,
            extensions: &[],
        };
        let tag = handshake_tag(&init.nonce);
        let sent = self.queue_reply(remote, frame.len(), |out| {
            write_handshake_frame(out, FrameType::CHALLENGE, tag, ch.len(), |p| ch.encode(p), Some(&keys.k_hs))
        });
        if sent {
            self.stats.challenges_sent += 1;
        }
    }

    pub(super) fn handle_response(&mut self, now: Instant, remote: Remote, frame: &[u8], layout: &FrameLayout) {
        let Ok(resp) = Response::decode(&frame[layout.payload.clone()]) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let me = self.identity.node_id();
        let peer = NodeId(resp.node_id_i);
        let suite = Suite::from_id(resp.suite).filter(|s| self.config.suites.contains(s));
        let seed = self.config.seed_for(&peer).filter(|_| self.config.allows(&peer)).cloned();
        let (Some(suite), Some(seed)) = (suite, seed) else {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        if resp.node_id_r != me.0 || !self.config.server_mode {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        let fields = CookieFields {
            remote: &remote,
            node_id_i: &resp.node_id_i,
            nonce_i: &resp.nonce_i,
            nonce_r: &resp.nonce_r,
            suite: suite.id(),
        };
        let cookie_ok = match self.cookies.as_mut() {
            Some(jar) => jar.check(now, &mut self.rng, &fields, &resp.cookie),
            None => false,
        };
        if !cookie_ok {
            self.stats.dropped.invalid_cookie += 1;
            return;
        }
        let secrets = SessionSecrets::derive(
            seed.as_bytes(),
            VERSION,
            suite,
            &resp.node_id_i,
            &me.0,
            &resp.nonce_i,
            &resp.nonce_r,
        );
        if !verify_mac16(&secrets.k_response, &[layout.mac_input(frame)], &layout.tag) {
            self.stats.dropped.handshake_authentication += 1;
            return;
        }
        let sid = session_id(&resp.nonce_i, &resp.nonce_r, &resp.node_id_i, &me.0);
        if layout.header.session_id != sid {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        if let Some(handle) = self.sessions.by_id(sid) {
            // A retransmitted RESPONSE: CONFIRM was lost. Send it again.
            let s = self.sessions.get_mut(handle).expect("the id map names live sessions");
            if s.on_response_repeated((resp.nonce_i, resp.nonce_r)) {
                self.sessions.mark_ready(now, handle);
            } else {
                self.stats.dropped.unexpected_handshake += 1;
            }
            return;
        }
        if self.sessions.is_retired(sid) {
            self.stats.dropped.replayed_handshake += 1;
            return;
        }
        if self.sessions.len() >= self.config.max_sessions {
            self.stats.dropped.session_limit += 1;
            return;
        }
        let (per_address, per_peer) = (self.config.max_sessions_per_address, self.config.max_sessions_per_peer);
        if !self.sessions.admits(remote.addr.ip(), peer, per_address, per_peer) {
            self.stats.dropped.source_limit += 1;
            return;
        }
        let keys = SessionKeys::new(
            now,
            suite,
            self.config.crypto_backend,
            self.config.key_retention,
            secrets.r2i.clone(),
            secrets.i2r.clone(),
        );
        let s = Session::responder(
            now,
            remote,
            &self.config,
            now - Instant::from_nanos(resp.cookie.time),
            sid,
            peer,
            (resp.nonce_i, resp.nonce_r),
            secrets.k_confirm,
            !self.names.is_empty(),
            keys,
        );
        let handle = self.sessions.insert_accepted(s, remote.addr.ip(), peer);
        self.sessions.index_id(sid, None, handle);
        self.stats.sessions_established += 1;
        self.events.push_back(Event::SessionEstablished {
            session: handle,
            peer,
            session_id: sid,
            remote,
            role: Role::Responder,
        });
        self.sessions.mark_ready(now, handle);
        self.sessions.reschedule(&self.config, handle);
    }
}
