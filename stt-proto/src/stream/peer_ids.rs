//! Which stream ids the peer has used, so that a frame naming a peer stream that is not in the
//! table can be told apart: the late first frame of a stream the peer opened (its earlier
//! frames lost or overtaken by a later stream's), a stray frame of a stream that is over, or a
//! stream this side refused.
//!
//! The peer opens its ids in order (one parity, step 2), so a frame naming id `x` proves that the
//! peer opened every id of its parity below `x`. Those whose first frame has not arrived are
//! *awaited*: they count against the limit and are created when their frame comes. Ids refused
//! for the limit are remembered for the session's life, so a later frame on one is refused again
//! (never created after the peer gave it up, never ignored in silence).

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// Runs of refused ids remembered at once; past this the two closest runs are joined, which
/// refuses the ids between them too unless they are open or awaited (each refusal is reported to
/// the peer, so nothing is lost silently).
const REFUSED_RUNS: usize = 16;

/// What to do with a frame naming a peer stream that is not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admission {
    /// Create the stream: the peer opened it and there is room (or it was awaited).
    Create,
    /// Refuse it (STREAM_CLOSE with `close::STREAM_REFUSED`): the peer's open streams and the ones
    /// awaited fill the limit, or the id was refused before.
    Refuse,
    /// Ignore the frame: the stream existed and is over.
    Over,
}

/// The peer's side of the id space of one session.
#[derive(Debug)]
pub(super) struct PeerIds {
    /// The lowest peer id above every id the peer is known to have opened (its first id before
    /// any). A `u64` because it can pass `u32::MAX`.
    next: u64,
    /// Ids below `next` the peer opened whose first frame has not arrived.
    awaited: BTreeSet<u32>,
    /// Refused ids, as sorted, disjoint runs `(first, last)` of the peer's parity.
    refused: Vec<(u32, u32)>,
}

impl PeerIds {
    /// The id space of a peer whose first id is `first` (1 for an initiator, 2 for a responder).
    pub(super) fn new(first: u32) -> Self {
        PeerIds { next: u64::from(first), awaited: BTreeSet::new(), refused: Vec::new() }
    }

    /// Decides about `id` (of the peer's parity, not 0, not open), given the peer streams open
    /// now and the limit on them.
    pub(super) fn admit(&mut self, id: u32, open: usize, limit: usize) -> Admission {
        if u64::from(id) < self.next && self.awaited.remove(&id) {
            return Admission::Create;
        }
        if self.is_refused(id) {
            return Admission::Refuse;
        }
        if u64::from(id) < self.next {
            return Admission::Over;
        }
        let skipped = self.skipped_below(id);
        if open + self.awaited.len() + skipped >= limit {
            self.refuse(id);
            return Admission::Refuse;
        }
        let mut candidate = self.next;
        while candidate < u64::from(id) {
            let c = candidate as u32;
            match self.refused.iter().find(|&&(first, last)| first <= c && c <= last) {
                Some(&(_, last)) => candidate = u64::from(last) + 2,
                None => {
                    self.awaited.insert(c);
                    candidate += 2;
                }
            }
        }
        self.next = u64::from(id) + 2;
        Admission::Create
    }

    fn is_refused(&self, id: u32) -> bool {
        self.refused.iter().any(|&(first, last)| first <= id && id <= last)
    }

    /// Ids in `[next, id)` that are not refused: the ones `id` proves opened.
    fn skipped_below(&self, id: u32) -> usize {
        let (low, high) = (self.next, u64::from(id));
        let all = (high - low) / 2;
        let refused: u64 = self
            .refused
            .iter()
            .map(|&(first, last)| (u64::from(first).max(low), u64::from(last).min(high.saturating_sub(2))))
            .filter(|&(first, last)| first <= last)
            .map(|(first, last)| (last - first) / 2 + 1)
            .sum();
        (all - refused) as usize
    }

    /// Remembers `id` (above every opened id) as refused.
    fn refuse(&mut self, id: u32) {
        let at = self.refused.partition_point(|&(first, _)| first < id);
        self.refused.insert(at, (id, id));
        // Join with the neighbours it touches.
        if at + 1 < self.refused.len() && u64::from(self.refused[at + 1].0) == u64::from(id) + 2 {
            self.refused[at].1 = self.refused[at + 1].1;
            self.refused.remove(at + 1);
        }
        if at > 0 && u64::from(self.refused[at - 1].1) + 2 == u64::from(id) {
            self.refused[at - 1].1 = self.refused[at].1;
            self.refused.remove(at);
        }
        if self.refused.len() > REFUSED_RUNS {
            let closest = (1..self.refused.len())
                .min_by_key(|&i| self.refused[i].0 - self.refused[i - 1].1)
                .expect("more than one run");
            self.refused[closest - 1].1 = self.refused[closest].1;
            self.refused.remove(closest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_order_are_created_once_and_then_over() {
        let mut p = PeerIds::new(1);
        assert_eq!(p.admit(1, 0, 4), Admission::Create);
        assert_eq!(p.admit(3, 1, 4), Admission::Create);
        assert_eq!(p.admit(1, 1, 4), Admission::Over, "stream 1 was collected");
        assert_eq!(p.awaited.len(), 0);
    }

    #[test]
    fn a_later_id_makes_the_lower_ones_awaited_and_counted() {
        let mut p = PeerIds::new(2);
        assert_eq!(p.admit(8, 0, 10), Admission::Create);
        assert_eq!(p.awaited.len(), 3, "2, 4 and 6 were opened first");
        assert_eq!(p.admit(4, 1, 10), Admission::Create);
        assert_eq!(p.awaited.len(), 2);
        assert_eq!(p.admit(4, 2, 10), Admission::Over);
        // 2 and 6 awaited, 8 and 4 open: 4 of a limit of 5 used; id 12 would need 10 as well.
        assert_eq!(p.admit(12, 2, 5), Admission::Refuse);
        assert_eq!(p.admit(10, 2, 5), Admission::Create);
    }

    #[test]
    fn refused_ids_stay_refused_and_are_not_awaited_once_passed() {
        let mut p = PeerIds::new(1);
        assert_eq!(p.admit(1, 0, 1), Admission::Create);
        assert_eq!(p.admit(3, 1, 1), Admission::Refuse);
        assert_eq!(p.admit(5, 1, 1), Admission::Refuse);
        // Stream 1 ends; a stray frame of refused stream 3 is refused again, not created.
        assert_eq!(p.admit(3, 0, 1), Admission::Refuse);
        assert_eq!(p.admit(7, 0, 1), Admission::Create);
        assert_eq!(p.awaited.len(), 0, "3 and 5 were refused, not awaited");
        assert_eq!(p.admit(5, 1, 1), Admission::Refuse, "refused for good, never ignored in silence");
        assert_eq!(p.admit(1, 1, 1), Admission::Over, "stream 1 was opened and is over");
    }

    #[test]
    fn a_huge_id_cannot_reserve_more_than_the_limit() {
        let mut p = PeerIds::new(1);
        assert_eq!(p.admit(u32::MAX, 0, 256), Admission::Refuse);
        assert_eq!(p.awaited.len(), 0);
        assert_eq!(p.admit(511, 0, 256), Admission::Create);
        assert_eq!(p.awaited.len(), 255);
        assert_eq!(p.admit(u32::MAX, 1, 257), Admission::Refuse, "still refused");
    }

    #[test]
    fn refused_runs_stay_bounded_and_over_refuse_rather_than_forget() {
        let mut p = PeerIds::new(1);
        assert_eq!(p.admit(1, 0, 1), Admission::Create);
        for i in 0..100u32 {
            assert_eq!(p.admit(5 + 4 * i, 1, 1), Admission::Refuse);
        }
        assert!(p.refused.len() <= REFUSED_RUNS);
        for i in 0..100u32 {
            assert_eq!(p.admit(5 + 4 * i, 0, 1), Admission::Refuse, "every refused id stays refused");
        }
    }
}
