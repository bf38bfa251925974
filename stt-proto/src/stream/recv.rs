//! A stream's data in: [`Streams::on_data`] checks a DATA frame against the session's credit and
//! stores it in its stream's receiving half, which reassembles in order, skips gaps in live mode,
//! hands the bytes to reads and says when this side owes the peer credit.
//!
//! Received data is kept as `Bytes` slices of the datagrams (no copy). Everything held is within
//! the credit granted, so memory is bounded by the stream window.

// `RecvHalf` is public to the property tests through `stt_proto::fuzzing`; without that feature
// its interface is the crate's own.
#![cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub))]

use alloc::collections::{BTreeMap, VecDeque};
use bytes::Bytes;
use core::time::Duration;

use super::Streams;
use crate::time::Instant;

/// What a DATA frame did to its stream (see [`Streams::on_data`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// The stream is gone, or the peer reset it before: the data is ignored.
    Ignored,
    /// Stored on a message lane; `readable` if the lane has new bytes to read.
    Lane { readable: bool },
    /// Stored on a stream of the application's: `readable` if it has new bytes to read,
    /// `finished` if this frame completed it (every byte up to the FIN has arrived).
    Stream { readable: bool, finished: bool },
}

/// What a read returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamRead {
    /// The next bytes, in order.
    Data(Bytes),
    /// Live streams: data the sender sent was not received within the deadline and is skipped.
    Skipped {
        /// Bytes skipped.
        bytes: u64,
        /// Segments skipped.
        segments: u32,
    },
    /// The sender finished the stream and everything was read.
    Finished,
}

#[derive(Debug)]
struct Pending {
    seq: u32,
    data: Bytes,
    arrived: Instant,
}

/// Why received data was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Beyond the credit this side granted.
    FlowControl,
    /// Contradicts an earlier FIN.
    FinalOffset,
}

/// Receiving half.
#[derive(Debug)]
pub struct RecvHalf {
    ready: VecDeque<StreamRead>,
    next_offset: u64,
    next_seq: u32,
    out_of_order: BTreeMap<u64, Pending>,
    fin_offset: Option<u64>,
    finished_queued: bool,
    fin_read: bool,
    /// Credit granted: the peer may send bytes below this offset.
    limit: u64,
    window: u64,
    read_offset: u64,
    /// Live streams: how long a gap may hold later data back.
    deadline: Option<Duration>,
    highest: u64,
}

impl RecvHalf {
    /// A new half: `initial` bytes of credit to start with (the protocol's initial credit), grown
    /// to `window` bytes beyond what was read by [`RecvHalf::credit_update`].
    pub fn new(initial: u64, window: u64, deadline: Option<Duration>) -> Self {
        RecvHalf {
            ready: VecDeque::new(),
            next_offset: 0,
            next_seq: 0,
            out_of_order: BTreeMap::new(),
            fin_offset: None,
            finished_queued: false,
            fin_read: false,
            limit: initial,
            window,
            read_offset: 0,
            deadline,
            highest: 0,
        }
    }

    /// Credit granted: the peer may send bytes below this offset.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The peer's STREAM_OPEN of a live stream: gaps may hold later data back for `deadline`.
    pub fn set_deadline(&mut self, deadline: Duration) {
        self.deadline = Some(deadline);
    }

    /// Highest offset received (for session-level accounting).
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Bytes held: readable plus out of order.
    pub fn buffered(&self) -> u64 {
        self.highest.saturating_sub(self.read_offset)
    }

    /// True if a read would return something.
    pub fn is_readable(&self) -> bool {
        !self.ready.is_empty()
    }

    /// True once the peer's FIN and everything before it arrived.
    pub fn fin_complete(&self) -> bool {
        self.finished_queued
    }

    /// True once the application read the end (nothing more will come).
    pub fn is_done(&self) -> bool {
        self.fin_read
    }

    /// Takes in one segment. Returns whether new readable data (or the end) became available.
    pub fn on_data(
        &mut self,
        now: Instant,
        seq: u32,
        offset: u64,
        mut data: Bytes,
        fin: bool,
    ) -> Result<bool, RecvError> {
        let end = offset + data.len() as u64;
        if end > self.limit {
            return Err(RecvError::FlowControl);
        }
        if fin && self.fin_offset.is_some_and(|f| f != end) || self.fin_offset.is_some_and(|f| end > f) {
            return Err(RecvError::FinalOffset);
        }
        if fin {
            self.fin_offset = Some(end);
        }
        self.highest = self.highest.max(end);
        if end < self.next_offset || (end == self.next_offset && !(fin && data.is_empty() && offset == end)) {
            // Already delivered (a duplicate), or inside a skipped gap.
            return Ok(self.check_fin());
        }
        if offset > self.next_offset {
            self.out_of_order.entry(offset).or_insert(Pending { seq, data, arrived: now });
            return Ok(false);
        }
        // Segments never overlap when the peer follows the protocol; trim if one does (only
        // then: slicing a freshly copied payload would allocate its shared header).
        if offset < self.next_offset {
            data = data.slice((self.next_offset - offset) as usize..);
        }
        let was_readable = self.is_readable();
        self.push_in_order(seq, data, end);
        self.drain_contiguous();
        let fin_now = self.check_fin();
        Ok((!was_readable && self.is_readable()) || fin_now)
    }

    fn push_in_order(&mut self, seq: u32, data: Bytes, end: u64) {
        if !data.is_empty() {
            self.ready.push_back(StreamRead::Data(data));
        }
        self.next_offset = end;
        self.next_seq = seq.wrapping_add(1);
    }

    fn drain_contiguous(&mut self) {
        while let Some(entry) = self.out_of_order.first_entry() {
            let offset = *entry.key();
            if offset > self.next_offset {
                break;
            }
            let mut p = entry.remove();
            let end = offset + p.data.len() as u64;
            if end > self.next_offset {
                if offset < self.next_offset {
                    p.data = p.data.slice((self.next_offset - offset) as usize..);
                }
                self.push_in_order(p.seq, p.data, end);
            }
        }
    }

    fn check_fin(&mut self) -> bool {
        if !self.finished_queued && self.fin_offset == Some(self.next_offset) {
            self.finished_queued = true;
            self.ready.push_back(StreamRead::Finished);
            return true;
        }
        false
    }

    /// Live streams: when the oldest gap must be skipped.
    pub fn gap_deadline(&self) -> Option<Instant> {
        let d = self.deadline?;
        self.out_of_order.first_key_value().map(|(_, p)| p.arrived + d)
    }

    /// Live streams: skips every gap whose deadline passed. Returns true if something became
    /// readable.
    pub fn skip_expired(&mut self, now: Instant) -> bool {
        let mut any = false;
        while self.gap_deadline().is_some_and(|t| t <= now) {
            let (&offset, p) = self.out_of_order.first_key_value().expect("a gap deadline implies a segment");
            let skipped =
                StreamRead::Skipped { bytes: offset - self.next_offset, segments: p.seq.wrapping_sub(self.next_seq) };
            self.ready.push_back(skipped);
            self.next_offset = offset;
            self.next_seq = p.seq;
            self.drain_contiguous();
            self.check_fin();
            any = true;
        }
        any
    }

    /// The next piece for the application, or `None` if nothing is ready.
    pub fn read(&mut self) -> Option<StreamRead> {
        let r = self.ready.pop_front()?;
        match &r {
            StreamRead::Data(b) => self.read_offset += b.len() as u64,
            StreamRead::Skipped { bytes, .. } => self.read_offset += bytes,
            StreamRead::Finished => {
                self.fin_read = true;
                self.ready.push_front(StreamRead::Finished);
            }
        }
        Some(r)
    }

    /// Bytes the application consumed so far.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn read_offset(&self) -> u64 {
        self.read_offset
    }

    /// A new credit limit to announce, once an eighth of the window has been consumed (see
    /// [`crate::stream::CREDIT_UPDATE_FRACTION`]).
    pub fn credit_update(&mut self) -> Option<u64> {
        let keep = self.window - self.window / super::CREDIT_UPDATE_FRACTION;
        if self.fin_offset.is_some() || self.limit.saturating_sub(self.read_offset) > keep {
            return None;
        }
        self.limit = self.read_offset + self.window;
        Some(self.limit)
    }
}

impl Streams {
    /// Stores a DATA frame's bytes on open stream `id` (found with `peer_stream`): `data` at
    /// `offset`, segment `sequence`, `fin` if the frame carries the FIN. Refused when it exceeds
    /// the stream's or the session's credit or contradicts the FIN: the peer is broken.
    pub(crate) fn on_data(
        &mut self,
        now: Instant,
        id: u32,
        sequence: u32,
        offset: u64,
        data: Bytes,
        fin: bool,
    ) -> Result<Delivered, RecvError> {
        let Some(st) = self.map.get_mut(&id) else { return Ok(Delivered::Ignored) };
        if st.peer_reset.is_some() {
            return Ok(Delivered::Ignored);
        }
        let before = st.recv.highest();
        let end = offset + data.len() as u64;
        // `end` may be near 2^64 (the decoder only checks that it does not overflow).
        if self.recv_total.saturating_add(end.saturating_sub(before)) > self.recv_limit {
            return Err(RecvError::FlowControl);
        }
        let fin_before = st.recv.fin_complete();
        let readable = st.recv.on_data(now, sequence, offset, data, fin)?;
        self.recv_total += st.recv.highest() - before;
        if st.message {
            return Ok(Delivered::Lane { readable });
        }
        let finished = !fin_before && st.recv.fin_complete();
        self.note_gap(id);
        Ok(Delivered::Stream { readable, finished })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    fn data(r: Option<StreamRead>) -> Vec<u8> {
        match r {
            Some(StreamRead::Data(b)) => b.to_vec(),
            other => panic!("expected data, got {other:?}"),
        }
    }

    extern crate std;
    use std::vec::Vec;

    #[test]
    fn reassembles_in_order_and_ignores_duplicates() {
        let mut r = RecvHalf::new(100, 100, None);
        assert!(!r.on_data(t(0), 1, 3, Bytes::from_static(b"def"), true).unwrap());
        assert!(r.read().is_none());
        assert!(r.on_data(t(1), 0, 0, Bytes::from_static(b"abc"), false).unwrap());
        assert!(!r.on_data(t(2), 0, 0, Bytes::from_static(b"abc"), false).unwrap());
        assert_eq!(data(r.read()), b"abc");
        assert_eq!(data(r.read()), b"def");
        assert_eq!(r.read(), Some(StreamRead::Finished));
        assert_eq!(r.read(), Some(StreamRead::Finished), "the end stays readable");
        assert!(r.is_done());
    }

    #[test]
    fn credit_is_enforced_and_renewed() {
        let mut r = RecvHalf::new(10, 10, None);
        assert_eq!(r.on_data(t(0), 0, 5, Bytes::from_static(b"123456"), false), Err(RecvError::FlowControl));
        r.on_data(t(0), 0, 0, Bytes::from_static(b"123456"), false).unwrap();
        assert_eq!(r.credit_update(), None);
        r.read();
        assert_eq!(r.credit_update(), Some(16));
        assert_eq!(r.on_data(t(0), 1, 6, Bytes::from_static(b"x"), true), Ok(true));
        assert_eq!(r.on_data(t(0), 2, 7, Bytes::from_static(b"y"), false), Err(RecvError::FinalOffset));
    }

    #[test]
    fn live_gaps_are_skipped_after_the_deadline_and_reported() {
        let mut r = RecvHalf::new(1000, 1000, Some(Duration::from_millis(50)));
        r.on_data(t(0), 0, 0, Bytes::from_static(b"aa"), false).unwrap();
        r.on_data(t(10), 3, 6, Bytes::from_static(b"dd"), false).unwrap();
        assert_eq!(r.gap_deadline(), Some(t(60)));
        assert!(!r.skip_expired(t(59)));
        assert!(r.skip_expired(t(60)));
        assert_eq!(data(r.read()), b"aa");
        assert_eq!(r.read(), Some(StreamRead::Skipped { bytes: 4, segments: 2 }));
        assert_eq!(data(r.read()), b"dd");
        // A late segment from the skipped gap is dropped, never delivered out of order.
        assert!(!r.on_data(t(70), 1, 2, Bytes::from_static(b"bb"), false).unwrap());
        assert!(r.read().is_none());
        assert_eq!(r.read_offset(), 8);
    }
}
