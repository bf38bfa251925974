//! The static public keys of peers this node has met, or was given, so that the next handshake
//! with one of them takes one round trip (INIT of version 3): found by node id (for
//! `connect_to`) and by the remote last used with it (for `connect`). Bounded; the oldest entry
//! goes first. A public key is no secret: nothing here needs erasing.

use alloc::collections::{BTreeMap, VecDeque};

use crate::types::{NodeId, Remote};
use crate::wire::handshake::KEY_LEN;

/// Peers remembered (fewer on a small device).
const CAPACITY: usize = if cfg!(feature = "small") { 8 } else { 1024 };

/// What is known of one peer.
#[derive(Clone, Copy)]
struct Known {
    static_key: [u8; KEY_LEN],
    /// False once the peer answered a one-round-trip INIT with "unsupported version": it speaks
    /// only the two-round-trip handshake, and is offered only that.
    fast: bool,
}

/// Peers' static keys by node id, and the node id last met at each remote.
#[derive(Default)]
pub(crate) struct KnownPeers {
    by_id: BTreeMap<NodeId, Known>,
    by_remote: BTreeMap<Remote, NodeId>,
    /// Node ids in the order they were first remembered, for eviction.
    order: VecDeque<NodeId>,
    remotes: VecDeque<Remote>,
}

impl KnownPeers {
    /// Remembers `peer`'s static key (and, with `remote`, that it was met there). A key that
    /// changed replaces the old one.
    pub(crate) fn learn(&mut self, peer: NodeId, static_key: [u8; KEY_LEN], remote: Option<Remote>) {
        match self.by_id.get_mut(&peer) {
            Some(k) if k.static_key == static_key => {}
            Some(k) => *k = Known { static_key, fast: true },
            None => {
                if self.order.len() >= CAPACITY {
                    if let Some(old) = self.order.pop_front() {
                        self.by_id.remove(&old);
                    }
                }
                self.by_id.insert(peer, Known { static_key, fast: true });
                self.order.push_back(peer);
            }
        }
        if let Some(remote) = remote {
            if self.by_remote.insert(remote, peer).is_none() {
                if self.remotes.len() >= CAPACITY {
                    if let Some(old) = self.remotes.pop_front() {
                        self.by_remote.remove(&old);
                    }
                }
                self.remotes.push_back(remote);
            }
        }
    }

    /// The static key to open a one-round-trip handshake with `peer`, if known and the peer
    /// speaks it.
    pub(crate) fn key_of(&self, peer: &NodeId) -> Option<[u8; KEY_LEN]> {
        self.by_id.get(peer).filter(|k| k.fast).map(|k| k.static_key)
    }

    /// The node last met at `remote` and its static key, as [`KnownPeers::key_of`].
    pub(crate) fn at(&self, remote: &Remote) -> Option<(NodeId, [u8; KEY_LEN])> {
        let peer = *self.by_remote.get(remote)?;
        Some((peer, self.key_of(&peer)?))
    }

    /// `peer` answered a one-round-trip INIT with "unsupported version": offer it only the
    /// two-round-trip handshake from now on.
    pub(crate) fn speaks_only_version_2(&mut self, peer: &NodeId) {
        if let Some(k) = self.by_id.get_mut(peer) {
            k.fast = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_id_and_by_remote_and_the_oldest_go_first() {
        let mut k = KnownPeers::default();
        let remote = Remote::udp("192.0.2.1:9000".parse().unwrap());
        k.learn(NodeId([1; 32]), [7; 32], Some(remote));
        assert_eq!(k.key_of(&NodeId([1; 32])), Some([7; 32]));
        assert_eq!(k.at(&remote), Some((NodeId([1; 32]), [7; 32])));
        k.speaks_only_version_2(&NodeId([1; 32]));
        assert_eq!(k.key_of(&NodeId([1; 32])), None);
        assert_eq!(k.at(&remote), None);
        // The same key again keeps what was learnt of the peer; a new key starts afresh.
        k.learn(NodeId([1; 32]), [7; 32], None);
        assert_eq!(k.key_of(&NodeId([1; 32])), None);
        k.learn(NodeId([1; 32]), [8; 32], None);
        assert_eq!(k.key_of(&NodeId([1; 32])), Some([8; 32]));
        for i in 0..CAPACITY {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64 + 2).to_be_bytes());
            k.learn(NodeId(id), [9; 32], None);
        }
        assert_eq!(k.key_of(&NodeId([1; 32])), None, "the oldest entry was evicted");
        assert_eq!(k.by_id.len(), CAPACITY);
    }
}
