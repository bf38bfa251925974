//! The static public keys of peers this node has met, or was given, so that the next handshake
//! with one of them takes one round trip (INIT of version 3): found by node id (for
//! `connect_to`) and by the remote last used with it (for `connect`). Bounded; the oldest entry
//! goes first. A public key is no secret: nothing here needs erasing.

use alloc::collections::VecDeque;

use crate::types::{NodeId, Remote};
use crate::wire::handshake::KEY_LEN;

/// Peers remembered (fewer on a small device). Entries are searched in order: a thousand
/// comparisons cost less than a microsecond, beside the tens a handshake's Diffie–Hellman takes,
/// and a plain list keeps the firmware small.
const CAPACITY: usize = if cfg!(feature = "small") { 8 } else { 1024 };

/// What is known of one peer.
#[derive(Clone, Copy)]
struct Known {
    peer: NodeId,
    static_key: [u8; KEY_LEN],
    /// False once the peer answered a one-round-trip INIT with "unsupported version": it speaks
    /// only the two-round-trip handshake, and is offered only that.
    fast: bool,
    /// Where the peer was last met, if anywhere.
    remote: Option<Remote>,
}

/// Peers' static keys, each with the remote it was last met at; the oldest first.
#[derive(Default)]
pub(crate) struct KnownPeers {
    peers: VecDeque<Known>,
}

impl KnownPeers {
    /// Remembers `peer`'s static key (and, with `remote`, that it was met there). A key that
    /// changed replaces the old one.
    pub(crate) fn learn(&mut self, peer: NodeId, static_key: [u8; KEY_LEN], remote: Option<Remote>) {
        if let Some(remote) = remote {
            // A remote leads to the peer met there last.
            for k in self.peers.iter_mut().filter(|k| k.remote == Some(remote) && k.peer != peer) {
                k.remote = None;
            }
        }
        match self.peers.iter_mut().find(|k| k.peer == peer) {
            Some(k) => {
                if k.static_key != static_key {
                    k.static_key = static_key;
                    k.fast = true;
                }
                if remote.is_some() {
                    k.remote = remote;
                }
            }
            None => {
                if self.peers.len() >= CAPACITY {
                    self.peers.pop_front();
                }
                self.peers.push_back(Known { peer, static_key, fast: true, remote });
            }
        }
    }

    /// The static key to open a one-round-trip handshake with `peer`, if known and the peer
    /// speaks it.
    pub(crate) fn key_of(&self, peer: &NodeId) -> Option<[u8; KEY_LEN]> {
        self.peers.iter().find(|k| k.peer == *peer && k.fast).map(|k| k.static_key)
    }

    /// True if anything is known of `peer`.
    #[cfg(feature = "resumption")]
    pub(crate) fn has(&self, peer: &NodeId) -> bool {
        self.peers.iter().any(|k| k.peer == *peer)
    }

    /// The node last met at `remote` and its static key, as [`KnownPeers::key_of`].
    pub(crate) fn at(&self, remote: &Remote) -> Option<(NodeId, [u8; KEY_LEN])> {
        let k = self.peers.iter().find(|k| k.remote.as_ref() == Some(remote) && k.fast)?;
        Some((k.peer, k.static_key))
    }

    /// `peer` answered a one-round-trip INIT with "unsupported version": offer it only the
    /// two-round-trip handshake from now on.
    pub(crate) fn speaks_only_version_2(&mut self, peer: &NodeId) {
        if let Some(k) = self.peers.iter_mut().find(|k| k.peer == *peer) {
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
        assert_eq!(k.peers.len(), CAPACITY);
    }
}
