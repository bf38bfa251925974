//! Who may hold a session with this node, changed while it runs: per-peer shared seeds, the
//! default shared seed and its rotation (the previous seed accepted until it is retired), the
//! allow-list, peers' static keys (for one-round-trip handshakes), and removing a peer (its
//! sessions are closed with a reason).

use alloc::vec::Vec;

use super::Endpoint;
use crate::close;
use crate::config::Seed;
use crate::crypto::HandshakeKeys;
use crate::event::HandshakeError;
use crate::session::SessionEnd;
use crate::time::Instant;
use crate::types::{NodeId, SessionHandle};

/// The default shared seed a rotation replaced, while it is still accepted.
pub(super) struct PreviousSeed {
    keys: HandshakeKeys,
    /// Sessions opened, or being opened, under it.
    sessions: Vec<SessionHandle>,
}

impl Endpoint {
    /// Replaces the default shared seed while the node runs (seed rotation). Handshakes this
    /// node starts use `seed` from now on; as responder it accepts both `seed` and the seed it
    /// replaces, and every session opened under the old one goes on, until
    /// [`Endpoint::retire_previous_seed`] (drivers call it when the grace period they were given
    /// ends). Peers with a seed of their own ([`Endpoint::set_peer_seed`]) are not affected. A
    /// rotation while an earlier one is still in its grace period retires that one first.
    /// Returns how many sessions that retirement closed.
    pub fn rotate_shared_seed(&mut self, now: Instant, seed: Seed) -> usize {
        let closed = self.retire_previous_seed(now, "the shared seed was replaced twice");
        // Every session opened with the default seed: the open ones, the handshakes under way,
        // and responders' sessions not yet confirmed (each knows the seed it was opened with,
        // whatever the peer table says since).
        let sessions =
            self.sessions.handles().filter(|&h| self.sessions.get(h).is_some_and(|s| s.on_default_seed())).collect();
        let keys = HandshakeKeys::from_shared_seed(seed.as_bytes());
        let previous = self.default_hs_keys.replace(keys);
        self.config.default_shared_seed = Some(seed);
        self.previous_seed = previous.map(|keys| PreviousSeed { keys, sessions });
        self.seed_rotations += 1;
        closed
    }

    /// How many times the default seed was rotated: a driver that retires the previous seed
    /// after a grace period checks that no later rotation started a grace period of its own.
    pub fn seed_rotations(&self) -> u64 {
        self.seed_rotations
    }

    /// True while a rotation's previous seed is still accepted.
    pub fn in_seed_grace_period(&self) -> bool {
        self.previous_seed.is_some()
    }

    /// Ends a seed rotation's grace period: the previous default seed is no longer accepted, and
    /// every session opened under it is closed with DISCONNECT code [`close::SEED_RETIRED`] and
    /// `reason` (a handshake still under way with it fails with
    /// [`HandshakeError::SeedRetired`]). Returns how many sessions were closed; 0 when no
    /// rotation is in its grace period.
    pub fn retire_previous_seed(&mut self, now: Instant, reason: &str) -> usize {
        let Some(previous) = self.previous_seed.take() else { return 0 };
        let mut closed = 0;
        for h in previous.sessions {
            let Some(s) = self.sessions.get(h) else { continue };
            if s.is_confirmed() && s.handshake().is_none() {
                if let Some(s) = self.session_mut(h) {
                    s.close(now, close::SEED_RETIRED, reason);
                    closed += 1;
                }
            } else {
                self.end(now, h, SessionEnd::HandshakeFailed(HandshakeError::SeedRetired));
            }
        }
        closed
    }

    /// The keys under which a handshake message of `peer` is `authentic`: its own seed's, the
    /// default seed's, or during a rotation the previous default seed's; `true` for the last.
    pub(super) fn authentic_keys(
        &self,
        peer: &NodeId,
        authentic: &dyn Fn(&HandshakeKeys) -> bool,
    ) -> Option<(HandshakeKeys, bool)> {
        let keys = self.handshake_keys_for(peer)?;
        if authentic(&keys) {
            return Some((keys, false));
        }
        if self.config.peer_seeds.contains_key(peer) {
            return None;
        }
        let previous = &self.previous_seed.as_ref()?.keys;
        authentic(previous).then(|| (previous.clone(), true))
    }

    /// A session opened under the previous default seed (as responder, in its grace period):
    /// closed with the others when it is retired.
    pub(super) fn opened_under_previous_seed(&mut self, handle: SessionHandle) {
        let Some(p) = self.previous_seed.as_mut() else { return };
        if p.sessions.len() == p.sessions.capacity() {
            // Handshakes under the old seed may come and go for the whole grace period: the
            // list keeps the live ones only, so it grows with them and not with the churn.
            let table = &self.sessions;
            p.sessions.retain(|&h| table.get(h).is_some());
        }
        p.sessions.push(handle);
    }

    /// Uses `seed` as the shared seed with `peer` from now on (replacing an earlier entry).
    /// Sessions already open keep their keys; the next handshake with `peer`, in either
    /// direction, uses the new seed.
    pub fn set_peer_seed(&mut self, peer: NodeId, seed: Seed) {
        self.config.peer_seeds.insert(peer, seed);
    }

    /// Remembers a peer's static public key (as [`crate::Identity::public_key`] gives it) and
    /// returns the peer's node id: `connect_to` that node id then opens the session in one round
    /// trip, as it does with a peer met before (the endpoint remembers the keys of the last 1,024
    /// peers it completed a handshake with, 8 with the `small` feature). A peer that no longer
    /// holds the key answers with CHALLENGE, which names the key it holds: as its node id then
    /// differs, `connect_to` fails with `UnexpectedPeer`.
    pub fn add_peer_key(&mut self, static_public_key: [u8; 32]) -> NodeId {
        let peer = NodeId::of_public_key(&static_public_key);
        self.known.learn(peer, static_public_key, None);
        peer
    }

    /// Adds `peer` to the allow-list. Without an allow-list every node that holds a seed may
    /// connect; the first call creates the list, so that from then on only listed peers may.
    pub fn allow(&mut self, peer: NodeId) {
        self.config.allow_list.get_or_insert_with(Default::default).insert(peer);
    }

    /// Forgets `peer`: removes its shared seed entry and its place on the allow-list, and closes
    /// its sessions (and handshakes in progress with it) with DISCONNECT code
    /// [`close::PEER_REMOVED`] and `reason`. Returns how many sessions were closed.
    ///
    /// With an allow-list, `peer` cannot connect again until allowed again. Without one, a peer
    /// that holds the default shared seed can: add an allow-list to keep it out.
    pub fn remove_peer(&mut self, now: Instant, peer: &NodeId, reason: &str) -> usize {
        self.config.peer_seeds.remove(peer);
        if let Some(list) = self.config.allow_list.as_mut() {
            list.remove(peer);
        }
        let of_peer: Vec<SessionHandle> = self
            .sessions()
            .filter(|h| {
                self.sessions
                    .get(*h)
                    .is_some_and(|s| s.peer() == Some(*peer) || s.handshake().is_some_and(|hs| hs.expects(peer)))
            })
            .collect();
        for &h in &of_peer {
            if let Some(s) = self.session_mut(h) {
                s.close(now, close::PEER_REMOVED, reason);
            }
        }
        of_peer.len()
    }
}
