//! Handshake work away from the endpoint. With [`crate::EndpointConfig::offload_handshakes`],
//! the Diffie–Hellman of an accepted first Noise message (an INIT of version 3, or a RESPONSE:
//! four X25519 operations, a quarter of a millisecond) is not done inside `handle_datagram`:
//! every cheap check runs there as before, then the work waits in a bounded queue for the driver,
//! which takes it with [`Endpoint::poll_handshake_work`], runs [`HandshakeWork::run`] where it
//! likes (another thread: the work owns all it needs and is `Send`) and gives the outcome back
//! with [`Endpoint::handle_handshake_done`]. Meanwhile the endpoint goes on with the datagrams of
//! established sessions: a burst of new sessions no longer holds up their data. The outcome is
//! what the endpoint would have done at once (the same session, the same CONFIRM); the checks
//! that may have changed meanwhile (session limits, a RESPONSE that superseded a one-round-trip
//! INIT, server mode, the peer's removal or seed) run again when it comes back, and work not yet
//! back counts against the session limits, in all and per address.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::IpAddr;

use zeroize::Zeroizing;

use super::responder::{read_message_one, MessageOneInput, MessageOneRead, Opening};
use super::Endpoint;
use crate::config::Identity;
use crate::crypto::{CryptoBackend, DhSecret, Suite, TAG_LEN};
use crate::handshake::ik::{MessageOne, Prologue};
use crate::handshake::static_shared::StaticShared;
use crate::time::Instant;
use crate::wire::handshake::{ENCRYPTED_STATIC_LEN, KEY_LEN};

/// Handshakes whose work is queued or out with the driver at once; a first Noise message beyond
/// this is dropped (its initiator sends it again) and counted in
/// [`crate::EndpointDrops::handshake_backlog`].
pub const MAX_HANDSHAKE_WORK: usize = 1024;

/// The endpoint's side: work not yet taken, and the session ids of all work not yet back.
#[derive(Default)]
pub(super) struct Offload {
    queued: VecDeque<HandshakeWork>,
    /// Session id and source address of each piece not yet back.
    in_progress: Vec<(u64, IpAddr)>,
}

impl Offload {
    /// True if the work of session `sid` is queued or out.
    pub(super) fn has(&self, sid: u64) -> bool {
        self.in_progress.iter().any(|&(s, _)| s == sid)
    }

    /// Work not yet back, in all and from `ip`: it counts against the session limits.
    pub(super) fn pending(&self, ip: IpAddr) -> (usize, usize) {
        (self.in_progress.len(), self.in_progress.iter().filter(|&&(_, from)| from == ip).count())
    }
}

/// The Diffie–Hellman of one accepted handshake message, taken from
/// [`Endpoint::poll_handshake_work`]. Owns copies of what it needs (the message, this node's
/// static key, the seed's handshake key, the responder's ephemeral secret, drawn already), so it
/// can run on any thread; every secret in it is erased when it is dropped. Give what
/// [`HandshakeWork::run`] returns to [`Endpoint::handle_handshake_done`]: until then the
/// handshake counts against [`MAX_HANDSHAKE_WORK`].
pub struct HandshakeWork {
    backend: CryptoBackend,
    identity: Identity,
    psk: Zeroizing<[u8; 32]>,
    suite: Suite,
    node_id_i: [u8; 32],
    nonce_i: [u8; 32],
    nonce_r: Option<[u8; 32]>,
    ephemeral_i: [u8; KEY_LEN],
    encrypted_static: [u8; ENCRYPTED_STATIC_LEN],
    mac_input: Vec<u8>,
    tag: [u8; TAG_LEN],
    ephemeral: DhSecret,
    statics: StaticShared,
    opened: Opening,
}

impl core::fmt::Debug for HandshakeWork {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HandshakeWork").field("session_id", &self.opened.sid).finish_non_exhaustive()
    }
}

/// The outcome of a [`HandshakeWork`], for [`Endpoint::handle_handshake_done`].
pub struct HandshakeDone {
    opened: Opening,
    /// The seed's handshake key the work used: the peer's seed may have changed meanwhile.
    psk: Zeroizing<[u8; 32]>,
    tag: [u8; TAG_LEN],
    read: Option<MessageOneRead>,
    statics: StaticShared,
    diffie_hellman: u64,
}

impl core::fmt::Debug for HandshakeDone {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HandshakeDone")
            .field("session_id", &self.opened.sid)
            .field("read", &self.read.is_some())
            .finish_non_exhaustive()
    }
}

impl HandshakeWork {
    /// Does the work: reads the first Noise message and writes the CONFIRM that answers it.
    /// Pure computation (about four X25519 operations); touches nothing shared.
    pub fn run(self) -> HandshakeDone {
        let HandshakeWork {
            backend,
            identity,
            psk,
            suite,
            node_id_i,
            nonce_i,
            nonce_r,
            ephemeral_i,
            encrypted_static,
            mac_input,
            tag,
            ephemeral,
            mut statics,
            opened,
        } = self;
        let prologue = Prologue { suite, node_id_i: &node_id_i, nonce_i: &nonce_i, nonce_r: nonce_r.as_ref() };
        let message =
            MessageOne { node_id_i: &node_id_i, ephemeral: &ephemeral_i, encrypted_static: &encrypted_static };
        let input = MessageOneInput {
            prologue: &prologue,
            message: &message,
            psk: &psk,
            mac_input: &mac_input,
            tag: &tag,
            sid: opened.sid,
            one_round_trip: opened.one_round_trip,
        };
        let mut diffie_hellman = 0;
        let read = read_message_one(backend, &identity, &input, || ephemeral, &mut statics, &mut diffie_hellman);
        HandshakeDone { opened, psk, tag, read, statics, diffie_hellman }
    }
}

impl Endpoint {
    /// Queues the work of `input` (all its cheap checks passed), or drops it when the same
    /// handshake's work is under way or too much is.
    pub(super) fn offload_message_one(&mut self, input: &MessageOneInput<'_>, opened: Opening) {
        let offload = &mut self.offload;
        if offload.has(opened.sid) || offload.in_progress.len() >= MAX_HANDSHAKE_WORK {
            self.stats.dropped.handshake_backlog += 1;
            return;
        }
        offload.in_progress.push((opened.sid, opened.remote.addr.ip()));
        // Counted as half-open while it waits: the load that asks for cookies sees it.
        self.load.half_open_added();
        let (prologue, message) = (input.prologue, input.message);
        let work = HandshakeWork {
            backend: self.config.crypto_backend,
            identity: self.identity.clone(),
            psk: Zeroizing::new(*input.psk),
            suite: prologue.suite,
            node_id_i: *prologue.node_id_i,
            nonce_i: *prologue.nonce_i,
            nonce_r: prologue.nonce_r.copied(),
            ephemeral_i: *message.ephemeral,
            encrypted_static: *message.encrypted_static,
            mac_input: input.mac_input.to_vec(),
            tag: *input.tag,
            ephemeral: DhSecret::from_bytes(*self.rng.secret32()),
            statics: self.statics.copy_for(prologue.node_id_i),
            opened,
        };
        self.offload.queued.push_back(work);
    }

    /// Handshake work to run, with [`crate::EndpointConfig::offload_handshakes`] on: call after
    /// `handle_datagram` until `None`, run each (on any thread) and give the outcome to
    /// [`Endpoint::handle_handshake_done`].
    pub fn poll_handshake_work(&mut self) -> Option<HandshakeWork> {
        self.offload.queued.pop_front()
    }

    /// Handshakes taken with [`Endpoint::poll_handshake_work`] or waiting for it, whose outcome
    /// has not come back.
    pub fn handshake_work_in_progress(&self) -> usize {
        self.offload.in_progress.len()
    }

    /// The outcome of a [`HandshakeWork`]: the half-open session is made and its CONFIRM queued,
    /// as `handle_datagram` would have done, unless the message did not read (counted in
    /// [`crate::EndpointDrops::handshake_authentication`]), or meanwhile the handshake was
    /// superseded, the session limits filled, the node left server mode, or the peer was removed
    /// or given another seed.
    pub fn handle_handshake_done(&mut self, now: Instant, done: HandshakeDone) {
        self.last_now = self.last_now.max(now);
        let HandshakeDone { opened, psk, tag, read, statics, diffie_hellman } = done;
        let Some(at) = self.offload.in_progress.iter().position(|&(sid, _)| sid == opened.sid) else {
            return; // Not this endpoint's work.
        };
        self.offload.in_progress.swap_remove(at);
        self.load.half_open_removed();
        self.stats.diffie_hellman += diffie_hellman;
        self.statics.merge(statics);
        let Some(read) = read else {
            self.stats.dropped.handshake_authentication += 1;
            if opened.one_round_trip.is_some() {
                self.one_round_trip_failed(now, opened.sid, opened.remote);
            }
            return;
        };
        if self.sessions.by_id(opened.sid).is_some() || self.sessions.is_retired(opened.sid, now) {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        }
        // What `handle_datagram` checked before handing the work out may have changed: the node
        // left server mode, or the peer was removed or given another seed.
        let allowed = self.config.server_mode && self.config.allows(&opened.peer);
        let keys = if allowed { self.authentic_keys(&opened.peer, &|k| k.psk == *psk) } else { None };
        let Some((_, previous_seed)) = keys else {
            self.stats.dropped.unexpected_handshake += 1;
            return;
        };
        if !self.admits_session(opened.remote) {
            return;
        }
        // A rotation while the work was out makes the seed it used the previous one.
        let opened = Opening { previous_seed, ..opened };
        self.install_accepted(now, opened, tag, read);
    }
}
