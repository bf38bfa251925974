//! The static–static Diffie–Hellman results (the `ss` term of the handshake) of recent peers,
//! so that repeated handshakes with one peer pay three X25519 operations per side instead of
//! four (WireGuard implementations precompute the same value per peer). Bounded; the oldest
//! entry goes first; entries are erased when dropped.

use alloc::collections::{BTreeMap, VecDeque};

use zeroize::Zeroizing;

use crate::config::Identity;
use crate::crypto::{LowOrderPoint, DH_LEN};

/// Peers remembered.
const CAPACITY: usize = 64;

/// `DH(our static secret, peer's static public key)` by peer public key.
#[derive(Default)]
pub(crate) struct StaticShared {
    by_peer: BTreeMap<[u8; DH_LEN], Zeroizing<[u8; DH_LEN]>>,
    order: VecDeque<[u8; DH_LEN]>,
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
        if self.order.len() == CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.by_peer.remove(&old);
            }
        }
        self.order.push_back(*peer);
        self.by_peer.insert(*peer, v.clone());
        Ok(v)
    }
}
