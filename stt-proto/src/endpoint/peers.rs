//! Who may hold a session with this node, changed while it runs: per-peer shared seeds, the
//! allow-list, peers' static keys (for one-round-trip handshakes), and removing a peer (its
//! sessions are closed with a reason).

use alloc::vec::Vec;

use super::Endpoint;
use crate::close;
use crate::config::Seed;
use crate::time::Instant;
use crate::types::{NodeId, SessionHandle};

impl Endpoint {
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
