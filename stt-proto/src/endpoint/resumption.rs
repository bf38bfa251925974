//! Resumption as the endpoint runs it (with [`crate::EndpointConfig::resumption`]): a responder
//! gives each session's initiator a ticket once the session is confirmed, and answers an INIT of
//! version 4 that presents one with a CONFIRM of version 4 (one round trip, one X25519
//! agreement per side); an initiator keeps the tickets NEW_TICKET brings, by peer, and the
//! application may take them out and put them back (`saved_tickets`, `restore_ticket`). The
//! initiator's side of the resumed handshake is in `initiator.rs`.

use alloc::boxed::Box;
use alloc::vec::Vec;

use zeroize::Zeroizing;

use super::responder::{fast_confirm_frame, MessageOneRead, Opening};
use super::Endpoint;
use crate::crypto::{labels, CryptoBackend, DhSecret, HandshakeKeys, PacketKey, Suite};
use crate::handshake::tickets::{HeldTicket, Met, OpenedTicket, SavedTicket, TicketSealer};
use crate::handshake::{ik, resume, session_id};
use crate::session::ReceivedTicket;
use crate::time::Instant;
use crate::types::{NodeId, Remote, Role, SessionHandle, Transport};
use crate::wire::control::NewTicket;
use crate::wire::handshake::{Features, ResumeInit, RESUME_VERSION};
use crate::wire::FrameLayout;

impl Endpoint {
    /// The resumption tickets this node holds (as an initiator) that are still valid at `now`,
    /// to keep beyond this endpoint's life (see [`SavedTicket`]; each still opens one session).
    pub fn saved_tickets(&self, now: Instant) -> Vec<SavedTicket> {
        self.tickets.saved(now)
    }

    /// Holds `ticket` again (one [`Endpoint::saved_tickets`] gave, perhaps in an earlier run):
    /// the next session to its peer resumes with it, if [`crate::EndpointConfig::resumption`]
    /// is on.
    pub fn restore_ticket(&mut self, now: Instant, ticket: SavedTicket) {
        let held = ticket.into_held(now);
        // Where the peer was met, and its key: `connect` to that address finds it again.
        if let Some(met) = held.met {
            let remote = met.udp.map(Remote::udp);
            if !self.known.has(&held.peer) {
                self.known.learn(held.peer, met.static_key, remote);
            }
        }
        self.tickets.add(held);
    }

    /// True if this node holds a resumption ticket for `peer`.
    pub fn has_ticket_for(&self, peer: &NodeId) -> bool {
        self.tickets.has(peer)
    }

    /// A responder's session with `peer` was just confirmed: it owes the peer a ticket.
    pub(super) fn issue_ticket(&mut self, now: Instant, handle: SessionHandle, peer: NodeId) {
        if !self.config.resumption {
            return;
        }
        let Endpoint { config, rng, ticket_sealer, sessions, stats, .. } = self;
        let Some(s) = sessions.get_mut(handle).filter(|s| s.role() == Role::Responder) else { return };
        let sealer = ticket_sealer.get_or_insert_with(|| {
            let (suite, backend) = (config.suites[0], config.crypto_backend);
            Box::new(TicketSealer::new(&rng.secret32(), suite, backend, config.max_used_tickets))
        });
        let number = sealer.next_number();
        let mut secret = Zeroizing::new([0u8; 32]);
        if s.export(labels::RESUMPTION_EXPORT, &number.to_be_bytes(), &mut *secret).is_err() {
            return;
        }
        let ticket = sealer.seal(now, &peer, &secret);
        let lifetime_seconds = u32::try_from(config.ticket_lifetime.as_secs()).unwrap_or(u32::MAX);
        let nt = NewTicket { lifetime_seconds, ticket_nonce: number, ticket: &ticket };
        let mut payload = alloc::vec![0u8; nt.len()];
        nt.encode(&mut payload);
        s.owe_ticket(payload.into_boxed_slice());
        stats.tickets_issued += 1;
        sessions.mark_ready(now, handle);
    }

    /// An initiator's session `handle` received ticket `t`: kept for its peer.
    pub(super) fn keep_ticket(&mut self, now: Instant, handle: SessionHandle, t: ReceivedTicket) {
        let Some(s) = self.sessions.get(handle) else { return };
        let Some(peer) = s.peer() else { return };
        let udp = (s.remote().transport == Transport::Udp).then_some(s.remote().addr);
        let met = self.known.key_of(&peer).map(|static_key| Met { static_key, udp });
        let ReceivedTicket { ticket, secret, lifetime } = t;
        self.tickets.add(HeldTicket { peer, ticket, secret, expires: now + lifetime, met });
        self.stats.tickets_received += 1;
    }

    fn use_up(&mut self, ticket: OpenedTicket) {
        if let Some(sealer) = self.ticket_sealer.as_mut() {
            sealer.use_up(ticket);
        }
    }

    /// The ticket to resume with `peer`, if resumption is on and one is held (it is taken: a
    /// ticket opens one session).
    pub(super) fn ticket_for(&mut self, now: Instant, peer: &NodeId) -> Option<HeldTicket> {
        if !self.config.resumption {
            return None;
        }
        self.tickets.take(now, peer)
    }

    /// An authentic INIT of version 4 (`init`, from `frame`, its seed MAC verified under
    /// `keys`) with `suite` chosen: resumes the session at once (CONFIRM of version 4 queued) and
    /// returns true, or answers a repeated INIT with its CONFIRM again, or drops it; returns
    /// false, for a CHALLENGE (a full handshake), when this node does not resume, the node is
    /// under load or the ticket does not open.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open_resumed(
        &mut self,
        now: Instant,
        remote: Remote,
        frame: &[u8],
        layout: &FrameLayout,
        init: &ResumeInit<'_>,
        suite: Suite,
        (keys, previous_seed): (&HandshakeKeys, bool),
    ) -> bool {
        if !self.config.resumption || Suite::from_id(init.suites[0]) != Some(suite) {
            return false;
        }
        let me = self.identity.node_id();
        let nonce_r = self.fast_nonce(&init.node_id_i, &init.nonce_i);
        let sid = session_id(&init.nonce_i, &nonce_r, &init.node_id_i, &me.0);
        if self.answered_before(now, sid, remote, &layout.tag) {
            return true;
        }
        // The ticket first (symmetric work only): one that does not open gets CHALLENGE.
        let peer = NodeId(init.node_id_i);
        let lifetime = self.config.ticket_lifetime;
        let opened = match self.ticket_sealer.as_mut() {
            Some(sealer) => sealer.open(now, init.ticket, &peer, lifetime).ok(),
            None => None,
        };
        let Some((secret, ticket)) = opened else {
            self.stats.tickets_refused += 1;
            return false;
        };
        // Under load or at the limits the INIT does not resume, and its initiator never presents
        // that ticket again (it takes the full handshake): the ticket is used up now, so that a
        // recorded copy of this INIT replayed later opens nothing either.
        let (max_inits, max_half_open) =
            (self.config.cookie_above_inits_per_second, self.config.cookie_above_half_open);
        if self.load.wants_cookie(now, remote.addr.ip(), max_inits, max_half_open) {
            self.use_up(ticket);
            self.stats.one_round_trip_challenged += 1;
            return false;
        }
        if !self.admits_session(remote) {
            self.use_up(ticket);
            return true;
        }
        let backend = self.config.crypto_backend;
        let mut noise = resume::start(backend, suite, &init.node_id_i, &init.nonce_i, &secret, &keys.psk);
        resume::read_e(&mut noise, &init.ephemeral);
        if ik::open_frame(&mut noise, layout.mac_input(frame), &layout.tag).is_err() {
            self.stats.dropped.handshake_authentication += 1;
            self.one_round_trip_failed(now, sid, remote);
            return true;
        }
        // The message's tag proves the ticket's secret (a copy with its packet number or tag
        // changed fails above and uses nothing up): from here the ticket opens nothing again.
        self.use_up(ticket);
        // The state 0-RTT frames behind this INIT are keyed from (derived only if some follow).
        let early_state = noise.clone();
        let ephemeral = DhSecret::from_bytes(*self.rng.secret32());
        let dh = &mut self.stats.diffie_hellman;
        let Ok(e_pub) = resume::responder_write_confirm(&mut noise, &ephemeral, &init.ephemeral, dh) else {
            self.stats.dropped.handshake_authentication += 1;
            self.one_round_trip_failed(now, sid, remote);
            return true;
        };
        drop(ephemeral);
        let confirm_frame = fast_confirm_frame(RESUME_VERSION, nonce_r, e_pub, &init.nonce_i, &mut noise);
        let (i2r, r2i) = noise.split();
        let features = Features::from_extensions(init.extensions);
        let opening = Opening {
            remote,
            sid,
            peer,
            suite,
            handshake_rtt: None,
            one_round_trip: Some(nonce_r),
            features,
            previous_seed,
        };
        self.stats.sessions_resumed += 1;
        let handle = self.install_accepted(now, opening, layout.tag, MessageOneRead { confirm_frame, i2r, r2i });
        self.early = Some(EarlyRoute { tag: layout.header.session_id, handle, state: early_state, suite, key: None });
        true
    }
}

/// What the rest of a resumed INIT's datagram needs: the session it opened, its handshake tag
/// (the header's session id of its 0-RTT frames), and the Noise state after the first message,
/// which keys them (`docs/PROTOCOL.md` §4.12). Frames under the tag are that session's 0-RTT
/// data, opened with the early key (the first confirms the session: the ticket and the early
/// key prove the initiator, and the ticket, now used, keeps a copy of the INIT from opening
/// anything again); others are routed by their own header as always.
pub(super) struct EarlyRoute {
    tag: u64,
    handle: SessionHandle,
    state: crate::crypto::noise::SymmetricState,
    suite: Suite,
    /// The early key, derived at the first 0-RTT frame.
    key: Option<PacketKey>,
}

impl EarlyRoute {
    /// For a frame whose header names `session_id`: the session and the early key, if it is
    /// one of the 0-RTT frames.
    pub(super) fn route(&mut self, session_id: u64, backend: CryptoBackend) -> Option<(SessionHandle, &PacketKey)> {
        if session_id != self.tag {
            return None;
        }
        let (state, suite) = (&self.state, self.suite);
        let key = self.key.get_or_insert_with(|| state.early_secret(labels::EARLY_DATA).packet_key(suite, backend));
        Some((self.handle, key))
    }
}
