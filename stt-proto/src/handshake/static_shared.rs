//! The static–static Diffie–Hellman results (the `ss` term of the handshake) of recent peers,
//! so that repeated handshakes with one peer pay three X25519 operations per side instead of
//! four (WireGuard implementations precompute the same value per peer). Bounded; the oldest
//! entry goes first; entries are erased when dropped. Handshake work done away from the endpoint
//! (`endpoint/offload.rs`) takes a copy of one peer's entry and gives back what it computed.

use alloc::collections::{BTreeMap, VecDeque};

use zeroize::Zeroizing;

use crate::config::Identity;
use crate::crypto::{node_id_from_public_key, LowOrderPoint, DH_LEN};

/// Peers remembered.
const CAPACITY: usize = 64;

/// `DH(our static secret, peer's static public key)` by peer public key.
#[derive(Default)]
pub(crate) struct StaticShared {
    by_peer: BTreeMap<[u8; DH_LEN], Zeroizing<[u8; DH_LEN]>>,
    /// Each entry's public key and the node id it hashes to; the oldest first.
    order: VecDeque<([u8; DH_LEN], [u8; 32])>,
}

impl StaticShared {
    /// The `ss` value with `peer`, computed once and then remembered.
    /// Counts a computation in `dh`.
    pub(crate) fn get(
        &mut self,
        me: &Identity,
        peer: &[u8; DH_LEN],
        dh: &mut u64,
    ) -> Result<Zeroizing<[u8; DH_LEN]>, LowOrderPoint> {
        if let Some(v) = self.by_peer.get(peer) {
            return Ok(v.clone());
        }
        *dh += 1;
        let v = me.secret().agree(peer)?;
        self.insert(*peer, v.clone());
        Ok(v)
    }

    fn insert(&mut self, peer: [u8; DH_LEN], shared: Zeroizing<[u8; DH_LEN]>) {
        if self.by_peer.contains_key(&peer) {
            return;
        }
        if self.order.len() == CAPACITY {
            if let Some((old, _)) = self.order.pop_front() {
                self.by_peer.remove(&old);
            }
        }
        self.order.push_back((peer, node_id_from_public_key(&peer)));
        self.by_peer.insert(peer, shared);
    }

    /// A cache holding only the entry of the peer with node id `node_id`, if there is one: for
    /// handshake work that runs away from the endpoint.
    #[cfg(feature = "offload")]
    pub(crate) fn copy_for(&self, node_id: &[u8; 32]) -> StaticShared {
        let mut one = StaticShared::default();
        if let Some((key, _)) = self.order.iter().find(|(_, id)| id == node_id) {
            if let Some(v) = self.by_peer.get(key) {
                one.insert(*key, v.clone());
            }
        }
        one
    }

    /// Takes in the entries of `other` (a copy made by [`StaticShared::copy_for`], after use).
    #[cfg(feature = "offload")]
    pub(crate) fn merge(&mut self, mut other: StaticShared) {
        while let Some((key, _)) = other.order.pop_front() {
            if let Some(v) = other.by_peer.remove(&key) {
                self.insert(key, v);
            }
        }
    }
}
