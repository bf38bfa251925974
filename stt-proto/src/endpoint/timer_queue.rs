//! The endpoint's timer queue: each session's one deadline, earliest first.
//!
//! A 4-ary min-heap of `(deadline, slot index)` that knows where each slot's entry is, so a
//! session whose deadline moves, earlier or later, has its one entry moved in place. No entry
//! goes stale, so none is popped for nothing and no session is handed to `handle_timeout`
//! before its latest deadline; and with four children to a node, a heap of a million sessions
//! is ten levels deep instead of twenty. Ties go to the lower slot index, so the order of due
//! sessions is the same from run to run.

use alloc::vec::Vec;

use crate::time::Instant;

/// Children per node of the heap.
const ARITY: usize = 4;
/// `position` of a slot with no entry.
const ABSENT: u32 = u32::MAX;

/// Deadlines by slot index, the earliest first.
#[derive(Default)]
pub(super) struct TimerQueue {
    /// `(deadline, slot index)`, heap-ordered: no entry is earlier than its parent.
    heap: Vec<(Instant, u32)>,
    /// Where each slot's entry is in `heap` (`ABSENT` if it has none), by slot index.
    position: Vec<u32>,
}

impl TimerQueue {
    /// The deadline slot `index` is queued for, if any.
    pub(super) fn deadline(&self, index: u32) -> Option<Instant> {
        match self.position.get(index as usize) {
            Some(&at) if at != ABSENT => Some(self.heap[at as usize].0),
            _ => None,
        }
    }

    /// Queues slot `index` for `deadline`, moving its entry if it had one.
    pub(super) fn set(&mut self, index: u32, deadline: Instant) {
        let i = index as usize;
        if self.position.len() <= i {
            self.position.resize(i + 1, ABSENT);
        }
        match self.position[i] {
            ABSENT => {
                self.heap.push((deadline, index));
                self.sift_up(self.heap.len() - 1);
            }
            at => {
                let at = at as usize;
                if self.heap[at].0 == deadline {
                    // Unchanged (most inputs to a busy session leave its deadline where it was):
                    // nothing to move, and no children to read.
                    return;
                }
                let earlier = (deadline, index) < self.heap[at];
                self.heap[at].0 = deadline;
                if earlier {
                    self.sift_up(at);
                } else {
                    self.sift_down(at);
                }
            }
        }
    }

    /// Takes slot `index` out of the queue.
    pub(super) fn remove(&mut self, index: u32) {
        let Some(&at) = self.position.get(index as usize).filter(|&&at| at != ABSENT) else { return };
        self.take(at as usize);
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.heap.first().map(|&(t, _)| t)
    }

    /// Takes out the earliest entry if it is due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, u32)> {
        let &first = self.heap.first()?;
        if first.0 > now {
            return None;
        }
        self.take(0);
        Some(first)
    }

    /// Removes the entry at heap position `at`, filling its place from the end.
    fn take(&mut self, at: usize) {
        let (_, index) = self.heap.swap_remove(at);
        self.position[index as usize] = ABSENT;
        if at < self.heap.len() {
            let moved = self.heap[at].1;
            self.sift_up(at);
            self.sift_down(self.position[moved as usize] as usize);
        }
    }

    /// Records where the entry at `at` now is.
    fn place(&mut self, at: usize) {
        self.position[self.heap[at].1 as usize] = at as u32;
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / ARITY;
            if self.heap[parent] <= self.heap[at] {
                break;
            }
            self.heap.swap(parent, at);
            self.place(at);
            at = parent;
        }
        self.place(at);
    }

    fn sift_down(&mut self, mut at: usize) {
        loop {
            let first = at * ARITY + 1;
            let mut smallest = at;
            for c in first..(first + ARITY).min(self.heap.len()) {
                if self.heap[c] < self.heap[smallest] {
                    smallest = c;
                }
            }
            if smallest == at {
                break;
            }
            self.heap.swap(at, smallest);
            self.place(at);
            at = smallest;
        }
        self.place(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    /// Every entry is no earlier than its parent, and every position points at its entry.
    fn check(q: &TimerQueue) {
        for (i, &(t, index)) in q.heap.iter().enumerate() {
            if i > 0 {
                assert!(q.heap[(i - 1) / ARITY] <= (t, index));
            }
            assert_eq!(q.position[index as usize], i as u32);
        }
        let queued = q.position.iter().filter(|&&p| p != ABSENT).count();
        assert_eq!(queued, q.heap.len());
    }

    #[test]
    fn deadlines_moved_both_ways_come_out_in_order_once_each() {
        let mut q = TimerQueue::default();
        // A small deterministic shuffle of deadlines over 40 slots, then moves of each.
        let mut x = 7u64;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        let mut want = alloc::vec![None; 40];
        for index in 0..40u32 {
            let t = at(next() % 1000);
            q.set(index, t);
            want[index as usize] = Some(t);
            check(&q);
        }
        for _ in 0..200 {
            let index = (next() % 40) as u32;
            match next() % 3 {
                0 => {
                    q.remove(index);
                    want[index as usize] = None;
                }
                _ => {
                    let t = at(next() % 1000);
                    q.set(index, t);
                    want[index as usize] = Some(t);
                }
            }
            check(&q);
            assert_eq!(q.deadline(index), want[index as usize]);
        }
        let mut expected: Vec<(Instant, u32)> =
            want.iter().enumerate().filter_map(|(i, t)| t.map(|t| (t, i as u32))).collect();
        expected.sort();
        assert_eq!(q.next(), expected.first().map(|&(t, _)| t));
        let mut got = Vec::new();
        while let Some(e) = q.pop_due(at(1000)) {
            check(&q);
            got.push(e);
        }
        assert_eq!(got, expected);
        assert_eq!(q.next(), None);
    }

    #[test]
    fn only_what_is_due_comes_out() {
        let mut q = TimerQueue::default();
        q.set(3, at(20));
        q.set(1, at(10));
        q.set(2, at(10));
        assert_eq!(q.pop_due(at(5)), None);
        assert_eq!(q.pop_due(at(10)), Some((at(10), 1)));
        assert_eq!(q.pop_due(at(10)), Some((at(10), 2)));
        assert_eq!(q.pop_due(at(10)), None);
        assert_eq!(q.deadline(3), Some(at(20)));
        assert_eq!(q.deadline(1), None);
        q.remove(3);
        assert_eq!(q.next(), None);
        q.remove(3);
    }
}
