//! Which packet numbers this side received, and when to acknowledge them.
//!
//! Every authentic frame's number is recorded (so ranges stay contiguous); ack-eliciting frames
//! make an ACK due: at once after two of them, else after `max_ack_delay`. Up to 32 ranges are
//! kept, the oldest forgotten first. While the numbers received form one range (nothing lost or
//! reordered yet: every idle session, most quiet ones) it is held inline; the fixed-capacity array
//! of 33 is allocated the first time a second range appears, and a busy session never
//! reallocates after that.

use core::time::Duration;

use crate::time::Instant;
use crate::wire::stream::{AckRange, MAX_ACK_RANGES};

/// Up to 32 ranges, plus one spare slot that holds a new range until the oldest is dropped.
type RangeList = heapless::Vec<(u64, u64), { MAX_ACK_RANGES + 1 }>;

/// The ranges received: none, one held inline, or many in their array.
#[derive(Debug)]
enum Ranges {
    None,
    One([(u64, u64); 1]),
    Many(alloc::boxed::Box<RangeList>),
}

/// Received packet numbers and the ACK schedule.
#[derive(Debug)]
pub(crate) struct AckTracker {
    /// Ascending, disjoint, non-adjacent inclusive ranges; one spare slot holds a new range
    /// until the oldest is dropped.
    ranges: Ranges,
    unacked_eliciting: u32,
    /// Ack-eliciting frames that make an ACK due at once.
    every: u32,
    deadline: Option<Instant>,
    largest_at: Option<Instant>,
}

impl Default for AckTracker {
    fn default() -> Self {
        AckTracker::new(2)
    }
}

impl AckTracker {
    /// A tracker that makes an ACK due at once after `every` ack-eliciting frames.
    pub(crate) fn new(every: u32) -> Self {
        AckTracker { ranges: Ranges::None, unacked_eliciting: 0, every: every.max(1), deadline: None, largest_at: None }
    }

    /// Records a received packet number.
    pub(crate) fn on_received(&mut self, now: Instant, pn: u64, eliciting: bool, max_ack_delay: Duration) {
        // A gap below this number means something was lost or reordered: acknowledge at once so
        // the sender detects it quickly.
        let out_of_order = self.ranges().last().is_some_and(|r| pn != r.1 + 1);
        self.insert(pn);
        if self.ranges().last().is_some_and(|r| r.1 == pn) {
            self.largest_at = Some(now);
        }
        if eliciting {
            self.unacked_eliciting += 1;
            if out_of_order {
                self.unacked_eliciting = self.unacked_eliciting.max(self.every);
            }
            if self.deadline.is_none() {
                self.deadline = Some(now + max_ack_delay);
            }
        }
    }

    /// The ranges kept, ascending.
    fn ranges(&self) -> &[(u64, u64)] {
        match &self.ranges {
            Ranges::None => &[],
            Ranges::One(one) => one,
            Ranges::Many(many) => many.as_slice(),
        }
    }

    fn insert(&mut self, pn: u64) {
        const FREE: &str = "at most 32 ranges are kept, so the spare slot is free";
        match &mut self.ranges {
            Ranges::None => {
                self.ranges = Ranges::One([(pn, pn)]);
                return;
            }
            Ranges::One([one]) if pn == one.1 + 1 => {
                one.1 = pn;
                return;
            }
            Ranges::One([one]) if one.0 <= pn && pn <= one.1 => return,
            Ranges::One([one]) => {
                let mut many = alloc::boxed::Box::new(RangeList::new());
                many.push(*one).expect(FREE);
                self.ranges = Ranges::Many(many);
            }
            Ranges::Many(_) => {}
        }
        let Ranges::Many(ranges) = &mut self.ranges else { unreachable!("promoted above") };
        match ranges.last_mut() {
            Some(last) if pn == last.1 + 1 => last.1 = pn,
            Some(last) if pn > last.1 + 1 => ranges.push((pn, pn)).expect(FREE),
            None => ranges.push((pn, pn)).expect(FREE),
            _ => {
                // Out of order: find its place and merge neighbours.
                let i = ranges.partition_point(|r| r.1 + 1 < pn);
                match ranges.get_mut(i) {
                    Some(r) if r.0 <= pn && pn <= r.1 => return,
                    Some(r) if pn + 1 == r.0 => r.0 = pn,
                    Some(r) if r.1 + 1 == pn => r.1 = pn,
                    _ => ranges.insert(i, (pn, pn)).expect(FREE),
                }
                if let (Some(&a), Some(&b)) = (ranges.get(i), ranges.get(i + 1)) {
                    if a.1 + 1 >= b.0 {
                        ranges[i] = (a.0, b.1);
                        ranges.remove(i + 1);
                    }
                }
                if i > 0 {
                    let (a, b) = (ranges[i - 1], ranges[i]);
                    if a.1 + 1 >= b.0 {
                        ranges[i - 1] = (a.0, b.1);
                        ranges.remove(i);
                    }
                }
            }
        }
        while ranges.len() > MAX_ACK_RANGES {
            ranges.remove(0);
        }
    }

    /// True if an ACK should go out now.
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.unacked_eliciting >= self.every || self.deadline.is_some_and(|d| d <= now)
    }

    /// True if some ack-eliciting frame is not yet acknowledged (an ACK may ride along).
    pub(crate) fn pending(&self) -> bool {
        self.unacked_eliciting > 0
    }

    /// When the delayed ACK is due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Number of ranges an ACK would carry.
    pub(crate) fn range_count(&self) -> usize {
        self.ranges().len()
    }

    /// The ranges, largest first, and the delay since the largest arrived in microseconds. Marks
    /// everything acknowledged.
    pub(crate) fn take_ack(&mut self, now: Instant) -> (u32, impl ExactSizeIterator<Item = AckRange> + '_) {
        self.unacked_eliciting = 0;
        self.deadline = None;
        let delay = self.largest_at.map_or(0, |t| (now - t).as_micros().min(u32::MAX as u128) as u32);
        (delay, self.ranges().iter().rev().map(|&(smallest, largest)| AckRange { largest, smallest }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    fn ranges(t: &mut AckTracker) -> Vec<(u64, u64)> {
        t.take_ack(Instant::ZERO).1.map(|r| (r.smallest, r.largest)).collect()
    }

    #[test]
    fn merges_out_of_order_numbers() {
        let mut t = AckTracker::default();
        let d = Duration::from_millis(25);
        for pn in [0, 1, 2, 5, 6, 9, 4, 3, 8, 8, 7] {
            t.on_received(Instant::ZERO, pn, true, d);
        }
        assert_eq!(ranges(&mut t), [(0, 9)]);
        let mut t = AckTracker::default();
        for pn in [10, 12, 14, 11] {
            t.on_received(Instant::ZERO, pn, false, d);
        }
        assert_eq!(ranges(&mut t), [(14, 14), (10, 12)]);
    }

    #[test]
    fn schedules_acks() {
        let mut t = AckTracker::default();
        let d = Duration::from_millis(25);
        let now = Instant::from_nanos(1);
        t.on_received(now, 0, false, d);
        assert!(!t.pending() && !t.due(now));
        t.on_received(now, 1, true, d);
        assert!(t.pending() && !t.due(now));
        assert!(t.due(now + d));
        t.on_received(now, 2, true, d);
        assert!(t.due(now));
        let _ = t.take_ack(now);
        assert!(!t.pending());
    }

    #[test]
    fn a_gap_makes_the_ack_due_at_once() {
        let mut t = AckTracker::default();
        let d = Duration::from_millis(25);
        t.on_received(Instant::ZERO, 0, true, d);
        let _ = t.take_ack(Instant::ZERO);
        t.on_received(Instant::ZERO, 2, true, d);
        assert!(t.due(Instant::ZERO));
    }

    #[test]
    fn keeps_at_most_32_ranges() {
        let mut t = AckTracker::default();
        for i in 0..100 {
            t.on_received(Instant::ZERO, i * 2, true, Duration::ZERO);
        }
        assert_eq!(t.range_count(), MAX_ACK_RANGES);
        assert_eq!(ranges(&mut t)[0], (198, 198));
    }
}
