//! The session table: where sessions live and how they are found.
//!
//! Slots indexed by `SessionHandle` (with a generation, so a stale handle never names another
//! session), the session-id map (O(1), identity-hashed: ids are random), the initiator's
//! handshake tags, recently closed session ids (to refuse replayed handshakes), each session's
//! place in the timer queue (`timer_queue.rs`: one entry a session, moved when its deadline
//! moves) and the ready queue
//! (sessions that may have something to send, each at most once, served round-robin), and how
//! many accepted sessions each IP address and each peer holds (for the per-source caps).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::hash::{BuildHasherDefault, Hasher};
use core::net::IpAddr;

use hashbrown::HashMap;

use super::timer_queue::TimerQueue;
use crate::config::{EndpointConfig, Shard};
use crate::session::Session;
use crate::time::Instant;
use crate::types::{NodeId, SessionHandle};

/// Pass-through hasher for session ids and handshake tags, which are already uniformly random
/// (each mixes in a fresh 32-byte nonce of this node).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

struct Slot {
    generation: u32,
    session: Option<Session>,
    /// For a session this endpoint accepted: the address it counts against (its peer, which
    /// never changes, is the other count).
    source: Option<IpAddr>,
    /// Counted against its peer (an accepted session, once confirmed).
    peer_counted: bool,
    /// On the ready queue.
    ready: bool,
}

/// Every session of an endpoint, with the indexes and queues that find them.
#[derive(Default)]
pub(super) struct SessionTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    by_id: IdMap<u32>,
    by_tag: IdMap<u32>,
    timers: TimerQueue,
    ready: VecDeque<(u32, u32)>,
    retired: IdMap<Instant>,
    retired_order: VecDeque<(u64, Instant)>,
    /// Accepted sessions per IP address and per peer node id.
    per_ip: BTreeMap<IpAddr, u32>,
    per_peer: BTreeMap<NodeId, u32>,
    /// This endpoint's shard of its node.
    shard: Shard,
    /// Ids of this endpoint's sessions that another shard owns, as they come and go, for the
    /// driver (`Endpoint::poll_shard_change`).
    shard_changes: VecDeque<ShardChange>,
}

/// A session of this endpoint got, or gave up, a session id that another shard of its node
/// owns ([`crate::Endpoint::poll_shard_change`]): only a session this endpoint opened as
/// initiator can, since the responder chooses the id. The driver hands datagrams with that id
/// to this shard while it holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardChange {
    /// Datagrams with this session id are this shard's from now on.
    Claimed(u64),
    /// This shard no longer has a session with this id.
    Released(u64),
}

impl SessionTable {
    /// An empty table for shard `shard` of its node.
    pub(super) fn new(shard: Shard) -> Self {
        SessionTable { shard, ..Default::default() }
    }

    /// The next change to the ids of this table's sessions that other shards own.
    pub(super) fn poll_shard_change(&mut self) -> Option<ShardChange> {
        self.shard_changes.pop_front()
    }

    fn owned_elsewhere(&self, session_id: u64) -> bool {
        cfg!(feature = "shards") && self.shard.owner_of(session_id) != self.shard.index()
    }

    /// Sessions held.
    pub(super) fn len(&self) -> usize {
        self.live
    }

    /// Handles of every session held.
    pub(super) fn handles(&self) -> impl Iterator<Item = SessionHandle> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.session.is_some())
            .map(|(i, s)| SessionHandle { index: i as u32, generation: s.generation })
    }

    pub(super) fn get(&self, handle: SessionHandle) -> Option<&Session> {
        let slot = self.slots.get(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        slot.session.as_ref()
    }

    pub(super) fn get_mut(&mut self, handle: SessionHandle) -> Option<&mut Session> {
        let slot = self.slots.get_mut(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        slot.session.as_mut()
    }

    fn handle_of(&self, index: u32) -> SessionHandle {
        SessionHandle { index, generation: self.slots[index as usize].generation }
    }

    /// The session holding `session_id`.
    pub(super) fn by_id(&self, session_id: u64) -> Option<SessionHandle> {
        self.by_id.get(&session_id).map(|&i| self.handle_of(i))
    }

    /// The initiator's handshake with this tag.
    pub(super) fn by_tag(&self, tag: u64) -> Option<SessionHandle> {
        self.by_tag.get(&tag).map(|&i| self.handle_of(i))
    }

    /// True if a session with this id closed recently.
    pub(super) fn is_retired(&self, session_id: u64, now: Instant) -> bool {
        self.retired.get(&session_id).is_some_and(|&until| until > now)
    }

    pub(super) fn insert(&mut self, session: Session) -> SessionHandle {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.session = Some(session);
            slot.ready = false;
            slot.source = None;
            slot.peer_counted = false;
            SessionHandle { index, generation: slot.generation }
        } else {
            let index = self.slots.len() as u32;
            self.slots.push(Slot {
                generation: 0,
                session: Some(session),
                ready: false,
                source: None,
                peer_counted: false,
            });
            SessionHandle { index, generation: 0 }
        }
    }

    /// True if one more session accepted from `ip` stays within the per-address cap.
    pub(super) fn admits_from(&self, ip: IpAddr, max_per_address: usize) -> bool {
        (self.per_ip.get(&ip).copied().unwrap_or(0) as usize) < max_per_address
    }

    /// True if `peer` may hold one more confirmed session.
    pub(super) fn admits_peer(&self, peer: NodeId, max_per_peer: usize) -> bool {
        (self.per_peer.get(&peer).copied().unwrap_or(0) as usize) < max_per_peer
    }

    /// Inserts a session this endpoint accepted, counted against `ip` until removed (and
    /// against its peer once confirmed: [`SessionTable::count_peer`]).
    pub(super) fn insert_accepted(&mut self, session: Session, ip: IpAddr) -> SessionHandle {
        let handle = self.insert(session);
        self.slots[handle.index as usize].source = Some(ip);
        *self.per_ip.entry(ip).or_insert(0) += 1;
        handle
    }

    /// Counts an accepted session against `peer` until it is removed.
    pub(super) fn count_peer(&mut self, handle: SessionHandle, peer: NodeId) {
        if let Some(slot) = self.slots.get_mut(handle.index as usize).filter(|s| s.generation == handle.generation) {
            if slot.source.is_some() && !slot.peer_counted {
                slot.peer_counted = true;
                *self.per_peer.entry(peer).or_insert(0) += 1;
            }
        }
    }

    /// Indexes an initiator's handshake by its tag.
    pub(super) fn index_tag(&mut self, tag: u64, handle: SessionHandle) {
        self.by_tag.insert(tag, handle.index);
    }

    /// The initiator's handshake got its session id: it is found by id from now on.
    pub(super) fn index_id(&mut self, session_id: u64, tag: Option<u64>, handle: SessionHandle) {
        if let Some(tag) = tag {
            self.by_tag.remove(&tag);
        }
        self.by_id.insert(session_id, handle.index);
        if self.owned_elsewhere(session_id) {
            self.shard_changes.push_back(ShardChange::Claimed(session_id));
        }
    }

    /// Removes a session from every table; its handle becomes stale. A session that had keys is
    /// remembered as retired until `retire_until`, so a replayed handshake cannot revive it.
    pub(super) fn remove(&mut self, handle: SessionHandle, retire_until: Instant) -> Option<Session> {
        let slot = self.slots.get_mut(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        let s = slot.session.take()?;
        if let Some(ip) = slot.source.take() {
            uncount(&mut self.per_ip, ip);
            if let Some(peer) = s.peer().filter(|_| core::mem::take(&mut slot.peer_counted)) {
                uncount(&mut self.per_peer, peer);
            }
        }
        slot.generation = slot.generation.wrapping_add(1);
        slot.ready = false;
        self.timers.remove(handle.index);
        self.free.push(handle.index);
        self.live -= 1;
        let sid = s.session_id();
        if self.by_id.get(&sid) == Some(&handle.index) {
            self.by_id.remove(&sid);
            if self.owned_elsewhere(sid) {
                self.shard_changes.push_back(ShardChange::Released(sid));
            }
            self.retired.insert(sid, retire_until);
            self.retired_order.push_back((sid, retire_until));
        }
        if let Some(h) = s.handshake() {
            let tag = h.tag();
            if self.by_tag.get(&tag) == Some(&handle.index) {
                self.by_tag.remove(&tag);
            }
        }
        Some(s)
    }

    /// Remembers `session_id` as retired until `until` without a session: a handshake that
    /// would make it is dropped as a replay.
    pub(super) fn retire(&mut self, session_id: u64, until: Instant) {
        self.retired.insert(session_id, until);
        self.retired_order.push_back((session_id, until));
    }

    /// Forgets retired session ids whose time is up.
    pub(super) fn expire_retired(&mut self, now: Instant) {
        while let Some(&(id, until)) = self.retired_order.front() {
            if until > now {
                break;
            }
            self.retired_order.pop_front();
            if self.retired.get(&id) == Some(&until) {
                self.retired.remove(&id);
            }
        }
    }

    /// Queues the session for `poll_transmit` if it has something to send and is not queued.
    pub(super) fn mark_ready(&mut self, now: Instant, handle: SessionHandle) {
        let Some(slot) = self.slots.get_mut(handle.index as usize) else { return };
        if slot.generation != handle.generation || slot.ready {
            return;
        }
        if slot.session.as_ref().is_some_and(|s| s.wants_transmit(now)) {
            slot.ready = true;
            self.ready.push_back((handle.index, handle.generation));
        }
    }

    /// The next session on the ready queue; it leaves the queue.
    pub(super) fn pop_ready(&mut self) -> Option<SessionHandle> {
        while let Some((index, generation)) = self.ready.pop_front() {
            let slot = &mut self.slots[index as usize];
            if slot.generation == generation {
                slot.ready = false;
                return Some(SessionHandle { index, generation });
            }
        }
        None
    }

    /// The next session on the ready queue, left on it.
    pub(super) fn peek_ready(&mut self) -> Option<SessionHandle> {
        while let Some(&(index, generation)) = self.ready.front() {
            if self.slots[index as usize].generation == generation {
                return Some(SessionHandle { index, generation });
            }
            self.ready.pop_front();
        }
        None
    }

    /// Takes `handle` back off the end of the ready queue, where a session that just sent goes
    /// when it has more. False if it is not there.
    pub(super) fn take_back_ready(&mut self, handle: SessionHandle) -> bool {
        if self.ready.back() != Some(&(handle.index, handle.generation)) {
            return false;
        }
        self.ready.pop_back();
        self.slots[handle.index as usize].ready = false;
        true
    }

    /// Queues the session for its next deadline, moving its entry in the timer queue, or, if
    /// that deadline has come and the session is on the ready queue, leaves it for
    /// `poll_transmit` to re-arm once the session has sent (what is due is mostly what it sends:
    /// an ACK, paced data).
    ///
    /// Without that exception, a session waiting behind many others on the ready queue (a driver
    /// sends a bounded batch per turn) would come out of the queue at every `handle_timeout` until
    /// its turn to send: with a backlog of thousands of sessions, each turn would process them
    /// all to send a batch, and the node would fall ever further behind.
    pub(super) fn reschedule(&mut self, cfg: &EndpointConfig, now: Instant, handle: SessionHandle) {
        let Some(slot) = self.slots.get(handle.index as usize) else { return };
        if slot.generation != handle.generation {
            return;
        }
        match slot.session.as_ref().and_then(|s| s.next_deadline(cfg)) {
            Some(d) if slot.ready && d <= now => {}
            Some(d) => self.timers.set(handle.index, d),
            None => self.timers.remove(handle.index),
        }
    }

    /// The earliest deadline queued.
    pub(super) fn next_timer(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Takes every session due at `now` out of the timer queue, into `due`.
    pub(super) fn take_due(&mut self, now: Instant, due: &mut Vec<SessionHandle>) {
        while let Some((_, index)) = self.timers.pop_due(now) {
            due.push(self.handle_of(index));
        }
    }

    /// True if the session taken out of the queue by `take_due` has not been queued again
    /// since (by the work of a session handled before it in the same call).
    pub(super) fn claim_timer(&mut self, handle: SessionHandle) -> bool {
        let Some(slot) = self.slots.get(handle.index as usize) else { return false };
        slot.generation == handle.generation && slot.session.is_some() && self.timers.deadline(handle.index).is_none()
    }
}

/// Takes one off `key`'s count, forgetting the key at zero.
fn uncount<K: Ord>(counts: &mut BTreeMap<K, u32>, key: K) {
    if let Some(n) = counts.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&key);
        }
    }
}
