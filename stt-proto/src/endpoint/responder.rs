//! The responder's side of the handshake: INIT → CHALLENGE (or REJECT) statelessly, and
//! RESPONSE → session + CONFIRM. No state is kept for an attempt until a valid RESPONSE; the
//! session it makes stays half-open (unreported, not counted against its peer) until the
//! initiator's first authentic frame.

use alloc::boxed::Box;

use super::Endpoint;
use crate::crypto::{verify_mac16, DhSecret, HandshakeKeys, SessionSecrets, Suite};
use crate::event::{Event, HandshakeError};
use crate::handshake::cookie::CookieFields;
use crate::handshake::ik::{self, Prologue};
use crate::handshake::{
    handshake_tag, session_id, write_handshake_frame, write_handshake_frame_sealed, CookieJar, RESPONSE_SEED_MAC_AT,
};
use crate::session::keys::SessionKeys;
use crate::session::{ConfirmRecord, Session};
use crate::time::Instant;
use crate::types::{NodeId, Remote};
use crate::wire::handshake::{Challenge, Confirm, Init, InitPrefix, Reject, RejectReason, Response, VERSION};
use crate::wire::{frame_len, FrameLayout, FrameType};

impl Endpoint {
    fn handshake_keys_for(&self, peer: &NodeId) -> Option<HandshakeKeys> {
        if let Some(seed) = self.config.peer_seeds.get(peer) {
            return Some(HandshakeKeys::from_shared_seed(seed.as_bytes()));
        }
        self.default_hs_keys.clone()
    }

    fn reject(&mut self, remote: Remote, received: usize, nonce_i: [u8; 32], peer: NodeId, reason: RejectReason) {
        self.diagnostic(Event::HandshakeFailed {
            session: None,
            remote,
            peer: Some(peer),
            reason: HandshakeError::rejected(reason),
        });
        if self.config.stealth {
            return;
        }
        let rj = Reject { version: VERSION, nonce_i, reason };
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
        // Every version's INIT starts with version, node id and nonce: enough to refuse it.
        let payload = &frame[layout.payload.clone()];
        let Ok(prefix) = InitPrefix::decode(payload) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let peer = NodeId(prefix.node_id);
        if !self.config.server_mode {
            return self.reject(remote, frame.len(), prefix.nonce, peer, RejectReason::ServerModeOff);
        }
        if prefix.version != VERSION {
            return self.reject(remote, frame.len(), prefix.nonce, peer, RejectReason::UnsupportedVersion);
        }
        let Ok(init) = Init::decode(payload) else {
            self.stats.dropped.malformed += 1;
            return;
        };
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
            static_key: self.identity.public_key(),
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
        let keys = if self.config.allows(&peer) { self.handshake_keys_for(&peer) } else { None };
        let (Some(suite), Some(keys)) = (suite, keys) else {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        if resp.static_r != self.identity.public_key() || !self.config.server_mode {
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
        // The address is proven; the seed MAC proves the shared seed (a replayed INIT gets anyone
        // a cookie, but not this).
        if !verify_mac16(&keys.k_hs, &[&frame[..RESPONSE_SEED_MAC_AT]], &resp.seed_mac) {
            self.stats.dropped.handshake_authentication += 1;
            return;
        }
        // The address is proven: from here on the work is Diffie–Hellman, so every cheap check
        // comes first.
        let sid = session_id(&resp.nonce_i, &resp.nonce_r, &resp.node_id_i, &me.0);
        if layout.header.session_id != sid {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        if let Some(handle) = self.sessions.by_id(sid) {
            // The same RESPONSE again: CONFIRM was lost. Send it again.
            let s = self.sessions.get_mut(handle).expect("the id map names live sessions");
            if s.on_response_repeated(now, &layout.tag) {
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
        // The per-peer cap counts confirmed sessions (see `Session::confirm_by_initiator`): a
        // RESPONSE proves the seed and this node's static key were used, not the initiator's key.
        if !self.sessions.admits_from(remote.addr.ip(), self.config.max_sessions_per_address) {
            self.stats.dropped.source_limit += 1;
            return;
        }
        // The first Noise message (e, es, s, ss, psk and the payload tag), then the second.
        let prologue = Prologue { suite, node_id_i: &resp.node_id_i, nonce_i: &resp.nonce_i, nonce_r: &resp.nonce_r };
        let backend = self.config.crypto_backend;
        let mut noise = ik::start(backend, &prologue, &resp.static_r);
        let read = ik::responder_read_response(
            &mut noise,
            &self.identity,
            &resp,
            &keys.psk,
            &mut self.statics,
            &mut self.stats.diffie_hellman,
        );
        let Ok(s_i) =
            read.and_then(|s_i| ik::open_frame(&mut noise, layout.mac_input(frame), &layout.tag).map(|()| s_i))
        else {
            self.stats.dropped.handshake_authentication += 1;
            return;
        };
        let ephemeral = DhSecret::from_bytes(*self.rng.secret32());
        let dh = &mut self.stats.diffie_hellman;
        let Ok(e_pub) = ik::responder_write_confirm(&mut noise, &ephemeral, &resp.ephemeral, &s_i, dh) else {
            self.stats.dropped.handshake_authentication += 1;
            return;
        };
        drop(ephemeral);
        let confirm = Confirm { ephemeral: e_pub, extensions: &[] };
        let mut confirm_frame = heapless::Vec::new();
        confirm_frame.resize(frame_len(confirm.len()), 0).expect("CONFIRM fits its record");
        write_handshake_frame_sealed(
            &mut confirm_frame,
            FrameType::CONFIRM,
            sid,
            confirm.len(),
            |p| confirm.encode(p),
            |prefix| ik::seal_frame(&mut noise, prefix),
        )
        .expect("the buffer is sized for the frame");
        let (i2r, r2i) = noise.split();
        let key_log = self.config.key_log.then(|| SessionSecrets {
            session_id: sid,
            suite,
            initiator_to_responder: i2r.clone(),
            responder_to_initiator: r2i.clone(),
        });
        let keys = SessionKeys::new(now, suite, backend, self.config.key_retention, r2i, i2r);
        // A lost CONFIRM is the initiator's to recover (it repeats RESPONSE); this timer is for a
        // lost first frame of the initiator's, so it starts later.
        let interval = self.config.handshake_retransmit_initial * 2;
        let record = ConfirmRecord {
            response_tag: layout.tag,
            frame: confirm_frame,
            resend_at: now + interval,
            resend_interval: interval,
        };
        let handshake_rtt = now - Instant::from_nanos(resp.cookie.time);
        let s = Session::responder(now, remote, &self.config, handshake_rtt, sid, peer, record, keys);
        let handle = self.sessions.insert_accepted(s, remote.addr.ip());
        self.sessions.index_id(sid, None, handle);
        if let Some(secrets) = key_log {
            self.events.push_back(Event::KeyLog { session: handle, secrets: Box::new(secrets) });
        }
        // Reported to the application once the initiator's first authentic frame confirms it.
        self.sessions.mark_ready(now, handle);
        self.sessions.reschedule(&self.config, handle);
    }
}
