//! Sharded nodes: one node as several endpoints (shards) behind one UDP port, each with its own
//! socket of a `SO_REUSEPORT` group and its own driver task, so that a multi-threaded runtime
//! runs them on as many threads ([`crate::Node::bind_shards`]).
//!
//! The kernel steers each datagram to the socket of the shard its session id names (the
//! program `udp.rs` attaches); the [`ShardRouter`] handles the rest: a datagram whose session
//! another shard holds is handed to that shard's queue, in arrival order. That happens for
//! sessions a shard opened itself (their id is the peer's choice), which the shards announce
//! here as the core reports them, and for every datagram where the kernel could not steer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, Weak};

use bytes::BytesMut;
use stt_proto::{Endpoint, Remote, Route, ShardChange};
use tokio::sync::Notify;

/// Most datagrams waiting in one shard's inbox; more are dropped (as a full socket buffer
/// would), so a shard that stopped or fell behind holds a bounded amount.
const MAX_WAITING: usize = 8192;

/// Datagrams other shards received for one shard, in arrival order, and what wakes its driver.
#[derive(Default)]
pub(crate) struct ShardInbox {
    datagrams: Mutex<Vec<(Remote, BytesMut)>>,
    pub(crate) wake: Notify,
}

impl ShardInbox {
    /// Moves what waits into `into`.
    pub(crate) fn take(&self, into: &mut Vec<(Remote, BytesMut)>) {
        into.append(&mut self.datagrams.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// What the shards of one node share to route datagrams among themselves.
pub(crate) struct ShardRouter {
    /// Each shard's inbox, in shard order, filled in as the shards start.
    shards: Mutex<Vec<Weak<ShardInbox>>>,
    /// Sessions a shard opened whose id another shard owns: id -> the shard holding it.
    foreign: RwLock<HashMap<u64, u16>>,
}

impl ShardRouter {
    pub(crate) fn new() -> Arc<ShardRouter> {
        Arc::new(ShardRouter { shards: Mutex::new(Vec::new()), foreign: RwLock::new(HashMap::new()) })
    }

    /// Adds the next shard; returns its inbox.
    pub(crate) fn join(&self) -> Arc<ShardInbox> {
        let inbox = Arc::new(ShardInbox::default());
        self.shards.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::downgrade(&inbox));
        inbox
    }

    /// The shard other than `ep`'s that `datagram`, received by `ep`'s socket, belongs to, or
    /// `None` if it is `ep`'s own.
    pub(crate) fn elsewhere(&self, ep: &Endpoint, datagram: &[u8]) -> Option<u16> {
        let me = ep.config().shard.index();
        let owner = match ep.route(datagram) {
            Route::Known => return None,
            Route::Unknown { owner, session_id } => {
                let foreign = self.foreign.read().unwrap_or_else(|p| p.into_inner());
                session_id.and_then(|id| foreign.get(&id).copied()).unwrap_or(owner)
            }
        };
        (owner != me).then_some(owner)
    }

    /// Takes in what the core of shard `me` reports about the ids of its sessions that other
    /// shards own.
    pub(crate) fn note_changes(&self, ep: &mut Endpoint) {
        let me = ep.config().shard.index();
        let mut changes = std::iter::from_fn(|| ep.poll_shard_change()).peekable();
        if changes.peek().is_none() {
            return;
        }
        let mut foreign = self.foreign.write().unwrap_or_else(|p| p.into_inner());
        for change in changes {
            match change {
                ShardChange::Claimed(id) => foreign.insert(id, me),
                ShardChange::Released(id) => foreign.remove(&id),
            };
        }
    }

    /// Hands datagrams to the shards they belong to and wakes them. Returns how many found no
    /// shard, or a full inbox (dropped, as on a lossy path).
    pub(crate) fn hand_on(&self, datagrams: &mut Vec<(u16, Remote, BytesMut)>) -> u64 {
        if datagrams.is_empty() {
            return 0;
        }
        let shards = self.shards.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut lost = 0;
        let mut woken = vec![false; shards.len()];
        for (to, remote, d) in datagrams.drain(..) {
            let Some(inbox) = shards.get(usize::from(to)).and_then(Weak::upgrade) else {
                lost += 1;
                continue;
            };
            let mut waiting = inbox.datagrams.lock().unwrap_or_else(|p| p.into_inner());
            if waiting.len() < MAX_WAITING {
                waiting.push((remote, d));
                woken[usize::from(to)] = true;
            } else {
                lost += 1;
            }
        }
        for (shard, woken) in shards.iter().zip(woken) {
            if let Some(shard) = woken.then(|| shard.upgrade()).flatten() {
                shard.wake.notify_one();
            }
        }
        lost
    }
}
