//! The responder's side of the handshake: INIT → CHALLENGE (or REJECT) statelessly, and
//! RESPONSE → session + CONFIRM; or, for an INIT of version 3 that carries the first Noise
//! message to this node's static key while the node is not under load (`handshake/load.rs`),
//! INIT → session + CONFIRM of version 3 in one round trip. No state is kept for an attempt
//! until then; the session it makes stays half-open (unreported, not counted against its peer)
//! until the initiator's first authentic frame.

use alloc::boxed::Box;

use super::Endpoint;
use crate::config::Identity;
use crate::crypto::noise::SymmetricState;
use crate::crypto::{
    labels, mac32, verify_mac16, CryptoBackend, DhSecret, ExporterSecret, HandshakeKeys, SessionSecrets, Suite,
    TrafficSecret, TAG_LEN,
};
use crate::event::{Event, HandshakeError};
use crate::handshake::cookie::CookieFields;
use crate::handshake::ik::{self, MessageOne, Prologue};
use crate::handshake::static_shared::StaticShared;
use crate::handshake::{
    handshake_tag, seed_mac_at, session_id, write_handshake_frame, write_handshake_frame_sealed, CookieJar,
    RESPONSE_SEED_MAC_AT,
};
use crate::session::keys::SessionKeys;
use crate::session::{ConfirmRecord, Session, Then};
use crate::time::Instant;
use crate::types::{NodeId, Remote, SessionHandle};
use crate::wire::handshake::{
    Challenge, Confirm, FastConfirm, FastInit, Features, Init, InitPrefix, Reject, RejectReason, Response,
    FAST_VERSION, VERSION,
};
#[cfg(feature = "resumption")]
use crate::wire::handshake::{ResumeInit, RESUME_VERSION};
use crate::wire::{frame_len, FrameLayout, FrameType};
use zeroize::Zeroizing;

impl Endpoint {
    /// True if `peer` may hold a session and this node has a seed to share with it.
    fn has_seed_for(&self, peer: &NodeId) -> bool {
        self.config.allows(peer) && (self.config.peer_seeds.contains_key(peer) || self.default_hs_keys.is_some())
    }

    pub(super) fn handshake_keys_for(&self, peer: &NodeId) -> Option<HandshakeKeys> {
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
        self.load.on_init(now);
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
        let decoded = match prefix.version {
            VERSION => Init::decode(payload).map(|init| (init, Offered::Cookie)),
            FAST_VERSION => FastInit::decode(payload).map(|fast| (fast.as_init(), Offered::KnownKey(fast))),
            #[cfg(feature = "resumption")]
            RESUME_VERSION => ResumeInit::decode(payload).map(|r| (r.as_init(), Offered::Ticket(r))),
            _ => return self.reject(remote, frame.len(), prefix.nonce, peer, RejectReason::UnsupportedVersion),
        };
        let Ok((init, offered)) = decoded else {
            self.stats.dropped.malformed += 1;
            return;
        };
        if !self.has_seed_for(&peer) {
            return self.reject(remote, frame.len(), init.nonce, peer, RejectReason::PeerNotAllowed);
        }
        // Version 2's MAC is the frame's tag; versions 3 and 4 have a seed MAC (the tag is
        // Noise's).
        let seed_maced = |at: usize, mac: &[u8; 16], keys: &HandshakeKeys| {
            verify_mac16(&keys.k_hs, &[&frame[..seed_mac_at(at)]], mac)
        };
        let authentic = |keys: &HandshakeKeys| match &offered {
            Offered::Cookie => verify_mac16(&keys.k_hs, &[layout.mac_input(frame)], &layout.tag),
            Offered::KnownKey(f) => seed_maced(f.seed_mac_offset(), &f.seed_mac, keys),
            #[cfg(feature = "resumption")]
            Offered::Ticket(r) => seed_maced(r.seed_mac_offset(), &r.seed_mac, keys),
        };
        let Some((keys, previous_seed)) = self.authentic_keys(&peer, &authentic) else {
            self.stats.dropped.handshake_authentication += 1;
            return self.reject(remote, frame.len(), init.nonce, peer, RejectReason::AuthenticationFailed);
        };
        let suite = init.suites.iter().filter_map(|&id| Suite::from_id(id)).find(|s| self.config.suites.contains(s));
        let Some(suite) = suite else {
            return self.reject(remote, frame.len(), init.nonce, peer, RejectReason::SuiteMismatch);
        };
        let answered = match &offered {
            Offered::Cookie => false,
            Offered::KnownKey(fast) => {
                self.open_in_one_round_trip(now, remote, frame, layout, fast, suite, (&keys, previous_seed))
            }
            #[cfg(feature = "resumption")]
            Offered::Ticket(r) => self.open_resumed(now, remote, frame, layout, r, suite, (&keys, previous_seed)),
        };
        if answered {
            return;
        }
        let nonce_r = self.rng.bytes32();
        let nonce_r = self.in_own_shard(nonce_r, &init.nonce, &init.node_id);
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

    /// An authentic INIT of version 3 (`init`, from `frame`) with `suite` chosen: opens the
    /// session at once (the first Noise message read, CONFIRM of version 3 queued) and returns
    /// true, or answers a repeated INIT with its CONFIRM again, or drops it; returns false, for a
    /// CHALLENGE, when the INIT is not for this node's static key or suite or the node is under
    /// load.
    #[allow(clippy::too_many_arguments)]
    fn open_in_one_round_trip(
        &mut self,
        now: Instant,
        remote: Remote,
        frame: &[u8],
        layout: &FrameLayout,
        init: &FastInit<'_>,
        suite: Suite,
        (keys, previous_seed): (&HandshakeKeys, bool),
    ) -> bool {
        let first = Suite::from_id(init.suites[0]);
        if !self.config.fast_open || first != Some(suite) || init.static_r != self.identity.public_key() {
            return false;
        }
        let me = self.identity.node_id();
        let nonce_r = self.fast_nonce(&init.node_id_i, &init.nonce_i);
        let sid = session_id(&init.nonce_i, &nonce_r, &init.node_id_i, &me.0);
        if self.answered_before(now, sid, remote, &layout.tag) {
            return true;
        }
        let (max_inits, max_half_open) =
            (self.config.cookie_above_inits_per_second, self.config.cookie_above_half_open);
        if self.load.wants_cookie(now, remote.addr.ip(), max_inits, max_half_open) {
            self.stats.one_round_trip_challenged += 1;
            return false;
        }
        if !self.admits_session(remote) {
            return true;
        }
        let prologue = Prologue { suite, node_id_i: &init.node_id_i, nonce_i: &init.nonce_i, nonce_r: None };
        let message = MessageOne {
            node_id_i: &init.node_id_i,
            ephemeral: &init.ephemeral,
            encrypted_static: &init.encrypted_static,
        };
        let peer = NodeId(init.node_id_i);
        let features = Features::from_extensions(init.extensions);
        let opened = Opening {
            remote,
            sid,
            peer,
            suite,
            handshake_rtt: None,
            one_round_trip: Some(nonce_r),
            features,
            previous_seed,
        };
        if !self.accept_message_one(now, frame, layout, &prologue, &message, &keys.psk, opened) {
            self.one_round_trip_failed(now, sid, remote);
        }
        true
    }

    /// A one-round-trip INIT (of version 3 or 4) whose session would be `sid`, tagged `tag`,
    /// from `remote`: true if it was seen before and is answered (its CONFIRM again) or dropped
    /// here; false if it is new.
    pub(super) fn answered_before(&mut self, now: Instant, sid: u64, remote: Remote, tag: &[u8; TAG_LEN]) -> bool {
        if let Some(handle) = self.sessions.by_id(sid) {
            // The same INIT again (the responder's nonce is a function of it): CONFIRM was lost.
            // From another address it is a copy, and CONFIRM would go where the INIT did not
            // come from.
            if self.sessions.get(handle).is_some_and(|s| s.remote() == remote) {
                self.confirm_again(now, handle, tag);
            } else {
                self.stats.dropped.unexpected_handshake += 1;
            }
            return true;
        }
        if self.sessions.is_retired(sid, now) {
            self.stats.dropped.replayed_handshake += 1;
            return true;
        }
        #[cfg(feature = "offload")]
        if self.offload.has(sid) {
            // The same INIT again while its work is out: that work's CONFIRM answers it.
            self.stats.dropped.handshake_backlog += 1;
            return true;
        }
        false
    }

    /// The seed MAC of a one-round-trip INIT (session `sid`, from `remote`) verified but its Noise
    /// message did not (a copy whose packet number or tag was changed, or a stale key): that INIT
    /// cost Diffie–Hellman once; its session id is retired and its source gets cookies.
    pub(super) fn one_round_trip_failed(&mut self, now: Instant, sid: u64, remote: Remote) {
        let until = self.retire_until(now);
        self.sessions.retire(sid, until);
        self.load.failed(now, remote.addr.ip());
    }

    /// A first Noise message (tagged `tag`) came again for the session `handle` it made: its
    /// CONFIRM goes again, unless the session was made from another one or is confirmed.
    fn confirm_again(&mut self, now: Instant, handle: SessionHandle, tag: &[u8; TAG_LEN]) {
        let s = self.sessions.get_mut(handle).expect("the id map names live sessions");
        if s.on_response_repeated(now, tag) {
            self.after(now, handle, Then::Transmit);
        } else {
            self.stats.dropped.unexpected_handshake += 1;
        }
    }

    /// The responder's nonce for a one-round-trip INIT: a keyed hash of the initiator's node id
    /// and nonce, so that the same INIT again finds the session it made.
    pub(super) fn fast_nonce(&mut self, node_id_i: &[u8; 32], nonce_i: &[u8; 32]) -> [u8; 32] {
        let rng = &mut self.rng;
        let key = self.fast_nonce_key.get_or_insert_with(|| Zeroizing::new(rng.bytes32()));
        let nonce_r = mac32(key, &[labels::FAST_NONCE, node_id_i, nonce_i]);
        self.in_own_shard(nonce_r, nonce_i, node_id_i)
    }

    /// `nonce_r` with its first eight bytes changed so that the session id it makes with
    /// `nonce_i` and the two node ids belongs to this endpoint's shard (unchanged for a node of
    /// one shard).
    fn in_own_shard(&self, mut nonce_r: [u8; 32], nonce_i: &[u8; 32], node_id_i: &[u8; 32]) -> [u8; 32] {
        if !cfg!(feature = "shards") {
            return nonce_r;
        }
        let sid = session_id(nonce_i, &nonce_r, node_id_i, &self.identity.node_id().0);
        let change = (sid ^ self.config.shard.claim(sid)).to_be_bytes();
        for (b, c) in nonce_r.iter_mut().zip(change) {
            *b ^= c;
        }
        nonce_r
    }

    /// The initiator of `node_id_i` and `nonce_i` took the cookie round: a session its INIT of
    /// version 3 made (sent before the CHALLENGE, answered once the load fell) is nobody's and
    /// goes quietly, and a copy of that INIT arriving later makes none.
    fn supersede_one_round_trip(&mut self, now: Instant, node_id_i: &[u8; 32], nonce_i: &[u8; 32]) {
        if self.fast_nonce_key.is_none() {
            return; // No one-round-trip session was ever made.
        }
        let nonce_r = self.fast_nonce(node_id_i, nonce_i);
        let sid = session_id(nonce_i, &nonce_r, node_id_i, &self.identity.node_id().0);
        let until = self.retire_until(now);
        match self.sessions.by_id(sid) {
            Some(handle) if self.sessions.get(handle).is_some_and(|s| !s.is_confirmed()) => {
                self.sessions.remove(handle, until);
                self.load.half_open_removed();
            }
            Some(_) => {}
            None => self.sessions.retire(sid, until),
        }
    }

    /// True if one more accepted session fits the session limits, total and for `remote`'s
    /// address (counting a drop otherwise).
    pub(super) fn admits_session(&mut self, remote: Remote) -> bool {
        // Handshakes whose work is out count as the sessions they will make.
        #[cfg(feature = "offload")]
        let (pending, pending_here) = self.offload.pending(remote.addr.ip());
        #[cfg(not(feature = "offload"))]
        let (pending, pending_here) = (0, 0);
        if self.sessions.len() + pending >= self.config.max_sessions {
            self.stats.dropped.session_limit += 1;
            return false;
        }
        // The per-peer cap counts confirmed sessions (see `Session::confirm_by_initiator`): the
        // first Noise message proves the seed and this node's static key were used, not the
        // initiator's key.
        let per_address = self.config.max_sessions_per_address.saturating_sub(pending_here);
        if !self.sessions.admits_from(remote.addr.ip(), per_address) {
            self.stats.dropped.source_limit += 1;
            return false;
        }
        true
    }

    pub(super) fn handle_response(&mut self, now: Instant, remote: Remote, frame: &[u8], layout: &FrameLayout) {
        let Ok(resp) = Response::decode(&frame[layout.payload.clone()]) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let me = self.identity.node_id();
        let peer = NodeId(resp.node_id_i);
        let suite = Suite::from_id(resp.suite).filter(|s| self.config.suites.contains(s));
        let (Some(suite), true) = (suite, self.has_seed_for(&peer)) else {
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
        let authentic =
            |keys: &HandshakeKeys| verify_mac16(&keys.k_hs, &[&frame[..RESPONSE_SEED_MAC_AT]], &resp.seed_mac);
        let Some((keys, previous_seed)) = self.authentic_keys(&peer, &authentic) else {
            self.stats.dropped.handshake_authentication += 1;
            return;
        };
        // The address is proven: from here on the work is Diffie–Hellman, so every cheap check
        // comes first.
        let sid = session_id(&resp.nonce_i, &resp.nonce_r, &resp.node_id_i, &me.0);
        if layout.header.session_id != sid {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        if let Some(handle) = self.sessions.by_id(sid) {
            // The same RESPONSE again: CONFIRM was lost. Send it again.
            return self.confirm_again(now, handle, &layout.tag);
        }
        if self.sessions.is_retired(sid, now) {
            self.stats.dropped.replayed_handshake += 1;
            return;
        }
        if !self.admits_session(remote) {
            return;
        }
        let prologue =
            Prologue { suite, node_id_i: &resp.node_id_i, nonce_i: &resp.nonce_i, nonce_r: Some(&resp.nonce_r) };
        let message = MessageOne {
            node_id_i: &resp.node_id_i,
            ephemeral: &resp.ephemeral,
            encrypted_static: &resp.encrypted_static,
        };
        self.supersede_one_round_trip(now, &resp.node_id_i, &resp.nonce_i);
        let handshake_rtt = Some(now - Instant::from_nanos(resp.cookie.time));
        let features = Features::from_extensions(resp.extensions);
        let opened = Opening { remote, sid, peer, suite, handshake_rtt, one_round_trip: None, features, previous_seed };
        self.accept_message_one(now, frame, layout, &prologue, &message, &keys.psk, opened);
    }

    /// Reads the first Noise message (`e, es, s, ss, psk` and the payload tag over `frame`),
    /// writes the second in a CONFIRM (of version 3 with the responder's nonce, for a
    /// one-round-trip INIT) and makes the half-open session. False if the message does not read.
    /// With [`crate::EndpointConfig::offload_handshakes`], the work is queued for
    /// [`Endpoint::poll_handshake_work`] instead (and true returned: the outcome comes later).
    #[allow(clippy::too_many_arguments)]
    fn accept_message_one(
        &mut self,
        now: Instant,
        frame: &[u8],
        layout: &FrameLayout,
        prologue: &Prologue<'_>,
        message: &MessageOne<'_>,
        psk: &[u8; 32],
        opened: Opening,
    ) -> bool {
        let input = MessageOneInput {
            prologue,
            message,
            psk,
            mac_input: layout.mac_input(frame),
            tag: &layout.tag,
            sid: opened.sid,
            one_round_trip: opened.one_round_trip,
        };
        #[cfg(feature = "offload")]
        if self.config.offload_handshakes {
            self.offload_message_one(&input, opened);
            return true;
        }
        let backend = self.config.crypto_backend;
        let Endpoint { identity, statics, rng, stats, .. } = self;
        let dh = &mut stats.diffie_hellman;
        match read_message_one(backend, identity, &input, || DhSecret::from_bytes(*rng.secret32()), statics, dh) {
            Some(read) => {
                self.install_accepted(now, opened, layout.tag, read);
                true
            }
            None => {
                self.stats.dropped.handshake_authentication += 1;
                false
            }
        }
    }

    /// Makes the half-open session of a first Noise message that read (tagged `response_tag`),
    /// its CONFIRM ready to send.
    pub(super) fn install_accepted(
        &mut self,
        now: Instant,
        opened: Opening,
        response_tag: [u8; TAG_LEN],
        read: MessageOneRead,
    ) -> SessionHandle {
        let Opening { remote, sid, peer, suite, handshake_rtt, one_round_trip, features, previous_seed } = opened;
        let MessageOneRead { confirm_frame, i2r, r2i } = read;
        let key_log = self.config.key_log.then(|| SessionSecrets {
            session_id: sid,
            suite,
            initiator_to_responder: i2r.clone(),
            responder_to_initiator: r2i.clone(),
        });
        let backend = self.config.crypto_backend;
        let exporter = ExporterSecret::new(&i2r, &r2i);
        let keys = SessionKeys::new(now, suite, backend, self.config.key_retention, r2i, i2r, exporter);
        // A lost CONFIRM is the initiator's to recover (it repeats RESPONSE or INIT); this timer
        // is for a lost first frame of the initiator's, so it starts later. After one round trip
        // the address is not proven: CONFIRM goes again only for a repeated INIT (each answer
        // smaller than what it answers), and the initiator's first frame is recovered by its own
        // loss recovery.
        let interval = self.config.handshake_retransmit_initial * 2;
        let record = ConfirmRecord {
            response_tag,
            frame: confirm_frame,
            resend_at: one_round_trip.is_none().then(|| now + interval),
            resend_interval: interval,
            budget: None,
        };
        let mut s = Session::responder(now, remote, &self.config, handshake_rtt, sid, peer, record, keys);
        s.set_peer_features(features);
        s.set_on_default_seed(!self.config.peer_seeds.contains_key(&peer));
        let handle = self.sessions.insert_accepted(s, remote.addr.ip());
        self.sessions.index_id(sid, None, handle);
        if previous_seed {
            self.opened_under_previous_seed(handle);
        }
        self.load.half_open_added();
        if one_round_trip.is_some() {
            self.stats.one_round_trip_accepted += 1;
        }
        if let Some(secrets) = key_log {
            self.events.push_back(Event::KeyLog { session: handle, secrets: Box::new(secrets) });
        }
        // Reported to the application once the initiator's first authentic frame confirms it.
        self.after(now, handle, Then::Transmit);
        handle
    }
}

/// A first Noise message to read, and what its CONFIRM answers.
pub(super) struct MessageOneInput<'a> {
    pub prologue: &'a Prologue<'a>,
    pub message: &'a MessageOne<'a>,
    pub psk: &'a [u8; 32],
    /// The frame but its tag, and the tag.
    pub mac_input: &'a [u8],
    pub tag: &'a [u8; TAG_LEN],
    pub sid: u64,
    /// The responder's nonce, for CONFIRM of version 3.
    pub one_round_trip: Option<[u8; 32]>,
}

/// What reading a first Noise message and writing the second gave: the CONFIRM frame and the
/// session's traffic secrets.
pub(super) struct MessageOneRead {
    pub(super) confirm_frame: heapless::Vec<u8, 128>,
    pub(super) i2r: TrafficSecret,
    pub(super) r2i: TrafficSecret,
}

/// What an INIT offers beyond the cookie round. Lives on the stack for one `handle_init`.
#[allow(clippy::large_enum_variant)]
enum Offered<'a> {
    /// Nothing (version 2): CHALLENGE.
    Cookie,
    /// The first Noise message to this node's static key (version 3).
    KnownKey(FastInit<'a>),
    /// A resumption ticket (version 4).
    #[cfg(feature = "resumption")]
    Ticket(ResumeInit<'a>),
}

/// The Diffie–Hellman half of accepting a first Noise message, touching nothing of the
/// endpoint's but the `statics` cache: reads the message with this node's `identity`, draws the
/// responder's `ephemeral`, and writes CONFIRM. None if the message does not read.
pub(super) fn read_message_one(
    backend: CryptoBackend,
    identity: &Identity,
    input: &MessageOneInput<'_>,
    ephemeral: impl FnOnce() -> DhSecret,
    statics: &mut StaticShared,
    dh: &mut u64,
) -> Option<MessageOneRead> {
    let MessageOneInput { prologue, message, psk, mac_input, tag, sid, one_round_trip } = *input;
    let mut noise = ik::start(backend, prologue, &identity.public_key());
    let s_i = ik::responder_read_message_one(&mut noise, identity, message, psk, statics, dh).ok()?;
    ik::open_frame(&mut noise, mac_input, tag).ok()?;
    let ephemeral = ephemeral();
    let e_pub = ik::responder_write_confirm(&mut noise, &ephemeral, message.ephemeral, &s_i, dh).ok()?;
    drop(ephemeral);
    let confirm_frame = match one_round_trip {
        None => {
            let mut confirm_frame = heapless::Vec::new();
            let seal = |prefix: &[u8]| ik::seal_frame(&mut noise, prefix);
            let confirm = Confirm { ephemeral: e_pub, extensions: Features::ALL.extensions() };
            confirm_frame.resize(frame_len(confirm.len()), 0).expect("CONFIRM fits its record");
            let encode = |p: &mut [u8]| confirm.encode(p);
            write_handshake_frame_sealed(&mut confirm_frame, FrameType::CONFIRM, sid, confirm.len(), encode, seal)
                .expect("the buffer is sized for the frame");
            confirm_frame
        }
        Some(nonce_r) => fast_confirm_frame(FAST_VERSION, nonce_r, e_pub, prologue.nonce_i, &mut noise),
    };
    let (i2r, r2i) = noise.split();
    Some(MessageOneRead { confirm_frame, i2r, r2i })
}

/// The CONFIRM of `version` 3 or 4 that answers a one-round-trip or resumed INIT of nonce
/// `nonce_i`: the responder's nonce and ephemeral key, routed by the handshake tag, its tag the
/// second Noise message's payload tag (sealed with `noise`).
pub(super) fn fast_confirm_frame(
    version: u8,
    nonce_r: [u8; 32],
    e_pub: [u8; 32],
    nonce_i: &[u8; 32],
    noise: &mut SymmetricState,
) -> heapless::Vec<u8, 128> {
    let confirm = FastConfirm { version, nonce_r, ephemeral: e_pub, extensions: Features::ALL.extensions() };
    let mut frame = heapless::Vec::new();
    frame.resize(frame_len(confirm.len()), 0).expect("CONFIRM fits its record");
    let (tag, encode) = (handshake_tag(nonce_i), |p: &mut [u8]| confirm.encode(p));
    let seal = |prefix: &[u8]| ik::seal_frame(noise, prefix);
    write_handshake_frame_sealed(&mut frame, FrameType::CONFIRM, tag, confirm.len(), encode, seal)
        .expect("the buffer is sized for the frame");
    frame
}

/// Who a first Noise message being accepted opens a session with.
pub(super) struct Opening {
    pub(super) remote: Remote,
    pub(super) sid: u64,
    pub(super) peer: NodeId,
    pub(super) suite: Suite,
    /// The cookie's age: the round trip from CHALLENGE to RESPONSE (none after one round trip).
    pub(super) handshake_rtt: Option<core::time::Duration>,
    /// The responder's nonce, for a one-round-trip INIT (CONFIRM of version 3 carries it).
    pub(super) one_round_trip: Option<[u8; 32]>,
    /// What the initiator's extensions say it accepts in the session.
    pub(super) features: Features,
    /// The handshake used the previous default seed (a rotation's grace period).
    pub(super) previous_seed: bool,
}
