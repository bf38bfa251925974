//! The sending half of a stream: buffered bytes, immutable segments, retransmission queue, and
//! the peer's flow-control credit.
//!
//! Written bytes wait in order: chunks handed over as `Bytes` (no copy), and bytes copied from
//! `&[u8]` writes into one growing buffer. A segment is split off the front (no copy) when it is
//! first sent and keeps its index, offset and bytes for life; it never spans two chunks. Reliable segments stay until acknowledged
//! and go back on the retransmission queue when lost; live segments are never kept.

use alloc::collections::VecDeque;
use bytes::{Bytes, BytesMut};

use crate::time::Instant;

/// One DATA segment as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Segment index (the frame's `sequence`).
    seq: u32,
    /// Stream offset of the first byte.
    offset: u64,
    /// The bytes.
    data: Bytes,
    /// Last segment of the stream.
    fin: bool,
}

impl Segment {
    /// Segment index (the frame's `sequence`).
    pub(crate) fn seq(&self) -> u32 {
        self.seq
    }

    /// Stream offset of the first byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The bytes.
    pub(crate) fn data(&self) -> &Bytes {
        &self.data
    }

    /// Last segment of the stream.
    pub(crate) fn fin(&self) -> bool {
        self.fin
    }
}

/// Sending half.
#[derive(Debug)]
pub(crate) struct SendHalf {
    live: bool,
    /// Chunks waiting to be sent, in order, before `tail`.
    chunks: VecDeque<Bytes>,
    /// Bytes copied in by `write`, after every chunk.
    tail: BytesMut,
    pending_len: u64,
    next_offset: u64,
    next_seq: u32,
    /// Reliable segments not yet acknowledged, indexed by `seq - base_seq`; `None` once acked.
    unacked: VecDeque<Option<Segment>>,
    base_seq: u32,
    unacked_bytes: u64,
    retransmit: VecDeque<u32>,
    fin_requested: bool,
    fin_sent: bool,
    fin_acked: bool,
    /// Sequence number of the segment that last carried FIN: its acknowledgement sets
    /// `fin_acked` (both modes), and on a live stream its loss makes the FIN owed again.
    fin_seq: Option<u32>,
    /// Highest offset the peer allows (exclusive).
    max_data: u64,
    buffer_limit: u64,
    /// A write returned less than asked: report writability when space frees.
    blocked: bool,
    /// Live streams: when each write ended (its end offset), to drop what went stale unsent.
    written_at: VecDeque<(u64, Instant)>,
}

impl SendHalf {
    /// A new half; `initial_credit` is the peer's initial stream window.
    pub(crate) fn new(live: bool, initial_credit: u64, buffer_limit: u64) -> Self {
        SendHalf {
            live,
            chunks: VecDeque::new(),
            tail: BytesMut::new(),
            pending_len: 0,
            next_offset: 0,
            next_seq: 0,
            unacked: VecDeque::new(),
            base_seq: 0,
            unacked_bytes: 0,
            retransmit: VecDeque::new(),
            fin_requested: false,
            fin_sent: false,
            fin_acked: false,
            fin_seq: None,
            max_data: initial_credit,
            buffer_limit,
            blocked: false,
            written_at: VecDeque::new(),
        }
    }

    /// Live streams: drops unsent bytes written more than `deadline` before `now` (fresh data
    /// goes first; the receiver reports the gap). Returns how many bytes were dropped.
    pub(crate) fn drop_stale(&mut self, now: Instant, deadline: core::time::Duration) -> u64 {
        let mut dropped = 0;
        while let Some(&(end, at)) = self.written_at.front() {
            if at + deadline > now {
                break;
            }
            self.written_at.pop_front();
            let credit_end = end.min(self.max_data);
            while credit_end > self.next_offset && self.pending_len > 0 {
                let n = self.take((credit_end - self.next_offset) as usize).len() as u64;
                self.next_offset += n;
                dropped += n;
            }
        }
        dropped
    }

    /// The peer's MAX_DATA: it allows bytes below `limit` (a lower limit than before changes
    /// nothing).
    pub(crate) fn raise_credit(&mut self, limit: u64) {
        self.max_data = self.max_data.max(limit);
    }

    /// Notes that a writer was turned away for want of room, to be woken when room frees.
    #[cfg(feature = "messages")]
    pub(crate) fn set_blocked(&mut self) {
        self.blocked = true;
    }

    /// True, once, when a writer was turned away and there is room now: it should be woken.
    pub(crate) fn unblock(&mut self) -> bool {
        if self.blocked && self.capacity() > 0 {
            self.blocked = false;
            return true;
        }
        false
    }

    /// Bytes written and not yet sent.
    pub(crate) fn pending(&self) -> u64 {
        self.pending_len
    }

    /// Bytes the buffer can still take.
    pub(crate) fn capacity(&self) -> u64 {
        self.buffer_limit.saturating_sub(self.pending_len + self.unacked_bytes)
    }

    fn accepted(&mut self, now: Instant, n: usize, asked: usize) {
        self.pending_len += n as u64;
        if self.live && n > 0 {
            self.written_at.push_back((self.next_offset + self.pending_len, now));
        }
        if n < asked {
            self.blocked = true;
        }
    }

    /// Copies up to `capacity()` bytes of `data`, written at `now`; returns how many were taken.
    pub(crate) fn write(&mut self, now: Instant, data: &[u8]) -> usize {
        let n = (data.len() as u64).min(self.capacity()) as usize;
        self.tail.extend_from_slice(&data[..n]);
        self.accepted(now, n, data.len());
        n
    }

    /// Takes up to `capacity()` bytes of `data` without copying; returns how many were taken.
    pub(crate) fn write_bytes(&mut self, now: Instant, data: &Bytes) -> usize {
        let n = (data.len() as u64).min(self.capacity()) as usize;
        if n > 0 {
            if !self.tail.is_empty() {
                self.chunks.push_back(self.tail.split().freeze());
            }
            self.chunks.push_back(data.slice(..n));
        }
        self.accepted(now, n, data.len());
        n
    }

    /// Takes a whole message, `head` copied and `body` without copying, whatever the capacity
    /// (the caller checks that some is left, so the buffer overshoots by at most one message).
    /// Reliable streams only.
    #[cfg(feature = "messages")]
    pub(crate) fn append_message(&mut self, head: &[u8], body: &Bytes) {
        debug_assert!(!self.live, "messages go on reliable lanes");
        self.tail.extend_from_slice(head);
        if !body.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
            self.chunks.push_back(body.clone());
        }
        self.pending_len += (head.len() + body.len()) as u64;
    }

    /// Removes up to `len` bytes from the front of what waits, without copying; never more than
    /// the front chunk holds.
    fn take(&mut self, len: usize) -> Bytes {
        let out = match self.chunks.front_mut() {
            Some(front) => {
                let out = front.split_to(len.min(front.len()));
                if front.is_empty() {
                    self.chunks.pop_front();
                }
                out
            }
            None => self.tail.split_to(len.min(self.tail.len())).freeze(),
        };
        self.pending_len -= out.len() as u64;
        out
    }

    /// Marks the end of the stream after what was written.
    pub(crate) fn finish(&mut self) {
        self.fin_requested = true;
    }

    /// True once `finish` was called.
    pub(crate) fn is_finishing(&self) -> bool {
        self.fin_requested
    }

    /// True when everything, FIN included, is delivered (reliable), or sent with the FIN
    /// delivered (live: lost data is not resent, but a lost FIN is, so the reader learns the end).
    pub(crate) fn is_done(&self) -> bool {
        self.fin_requested && self.pending_len == 0 && self.fin_acked
    }

    /// True when nothing written waits to be sent or acknowledged (and a requested FIN was
    /// acknowledged).
    pub(crate) fn is_flushed(&self) -> bool {
        let fin_over = !self.fin_requested || self.fin_acked;
        self.pending_len == 0 && self.unacked_bytes == 0 && fin_over
    }

    /// True if a new segment could go out given `session_room` bytes of session credit.
    pub(crate) fn has_new(&self, session_room: u64) -> bool {
        self.fin_owed() || (self.pending_len > 0 && self.next_offset < self.max_data && session_room > 0)
    }

    /// True if lost segments wait to be sent again.
    pub(crate) fn has_retransmit(&self) -> bool {
        !self.retransmit.is_empty()
    }

    /// True if a FIN must be sent (again): requested, everything before it sent, FIN not out.
    pub(crate) fn fin_owed(&self) -> bool {
        self.fin_requested && !self.fin_sent && self.pending_len == 0
    }

    /// Splits off the next new segment of at most `max_len` bytes within the stream's and the
    /// session's credit. `None` if nothing can be sent.
    pub(crate) fn next_segment(&mut self, max_len: usize, session_room: u64) -> Option<Segment> {
        let credit = self.max_data.saturating_sub(self.next_offset).min(session_room);
        let len = self.pending_len.min(max_len as u64).min(credit) as usize;
        if len == 0 && !self.fin_owed() {
            return None;
        }
        let data = self.take(len);
        let len = data.len();
        let fin = self.fin_requested && self.pending_len == 0;
        let seg = Segment { seq: self.next_seq, offset: self.next_offset, data, fin };
        self.next_seq += 1;
        self.next_offset += len as u64;
        self.fin_sent |= fin;
        if fin {
            self.fin_seq = Some(seg.seq);
        }
        if !self.live {
            if self.unacked.is_empty() {
                self.base_seq = seg.seq;
            }
            self.unacked_bytes += len as u64;
            self.unacked.push_back(Some(seg.clone()));
        }
        Some(seg)
    }

    fn slot(&mut self, seq: u32) -> Option<&mut Option<Segment>> {
        let i = seq.checked_sub(self.base_seq)? as usize;
        self.unacked.get_mut(i)
    }

    /// A segment was acknowledged. Returns true if buffer space was freed.
    pub(crate) fn on_acked(&mut self, seq: u32) -> bool {
        if self.fin_seq == Some(seq) {
            self.fin_acked = true;
        }
        let Some(slot) = self.slot(seq) else { return false };
        let Some(seg) = slot.take() else { return false };
        self.unacked_bytes -= seg.data.len() as u64;
        while self.unacked.front().is_some_and(|s| s.is_none()) {
            self.unacked.pop_front();
            self.base_seq += 1;
        }
        !seg.data.is_empty()
    }

    /// A segment was lost: queue it again if it is still unacknowledged (reliable only). On a
    /// live stream only a lost FIN is sent again (as an empty segment with a new number).
    pub(crate) fn on_lost(&mut self, seq: u32) {
        if self.live && self.fin_seq == Some(seq) && !self.fin_acked {
            self.fin_sent = false;
            self.fin_seq = None;
        }
        if self.slot(seq).is_some_and(|s| s.is_some()) {
            self.retransmit.push_back(seq);
        }
    }

    /// The next lost segment to send again, if any fits `max_len` bytes.
    pub(crate) fn next_retransmit(&mut self, max_len: usize) -> Option<Segment> {
        while let Some(&seq) = self.retransmit.front() {
            match self.slot(seq).and_then(|s| s.clone()) {
                None => {
                    self.retransmit.pop_front();
                }
                Some(seg) if seg.data.len() <= max_len => {
                    self.retransmit.pop_front();
                    return Some(seg);
                }
                Some(_) => return None,
            }
        }
        None
    }

    /// Drops everything (reset): nothing more is sent or retransmitted.
    pub(crate) fn abandon(&mut self) {
        self.chunks.clear();
        self.tail.clear();
        self.pending_len = 0;
        self.unacked.clear();
        self.unacked_bytes = 0;
        self.retransmit.clear();
        self.fin_requested = true;
        self.fin_sent = true;
        self.fin_acked = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_retransmit_until_acked_and_respect_credit() {
        let mut s = SendHalf::new(false, 10, 100);
        assert_eq!(s.write(Instant::ZERO, b"hello world, this is long"), 25);
        let a = s.next_segment(4, u64::MAX).unwrap();
        assert_eq!((a.seq, a.offset, &a.data[..], a.fin), (0, 0, &b"hell"[..], false));
        let b = s.next_segment(100, u64::MAX).unwrap();
        assert_eq!((b.seq, b.offset, &b.data[..]), (1, 4, &b"o worl"[..]), "stream credit of 10 bytes");
        assert!(s.next_segment(100, u64::MAX).is_none());
        s.max_data = 1000;
        s.on_lost(0);
        assert_eq!(s.next_retransmit(100).unwrap(), a);
        assert!(s.on_acked(0));
        s.on_lost(0);
        assert!(s.next_retransmit(100).is_none(), "an acked segment is not resent");
        s.finish();
        let c = s.next_segment(100, u64::MAX).unwrap();
        assert!(c.fin);
        assert!(!s.is_done());
        s.on_acked(1);
        s.on_acked(2);
        assert!(s.is_done());
        assert_eq!(s.capacity(), 100);
    }

    #[test]
    fn chunks_and_copies_keep_their_order_and_are_not_copied() {
        let mut s = SendHalf::new(false, 1 << 20, 100);
        s.write(Instant::ZERO, b"ab");
        let chunk = Bytes::from_static(b"cdef");
        assert_eq!(s.write_bytes(Instant::ZERO, &chunk), 4);
        s.write(Instant::ZERO, b"gh");
        let mut got = alloc::vec::Vec::new();
        while let Some(seg) = s.next_segment(3, u64::MAX) {
            assert_eq!(seg.offset as usize, got.len());
            if &seg.data[..] == b"cde" {
                assert!(core::ptr::eq(seg.data.as_ptr(), chunk.as_ptr()), "a handed-over chunk is not copied");
            }
            got.extend_from_slice(&seg.data);
        }
        assert_eq!(got, b"abcdefgh");
        assert_eq!(s.capacity(), 100 - 8);
    }

    #[test]
    fn writes_stop_at_the_buffer_limit() {
        let mut s = SendHalf::new(false, 1 << 20, 8);
        assert_eq!(s.write(Instant::ZERO, b"0123456789"), 8);
        assert!(s.blocked);
        assert_eq!(s.capacity(), 0);
    }

    #[test]
    fn live_data_goes_stale_unsent() {
        let mut s = SendHalf::new(true, 1 << 20, 100);
        let d = core::time::Duration::from_millis(100);
        s.write(Instant::from_nanos(0), b"old!");
        s.write(Instant::from_nanos(150_000_000), b"new");
        assert_eq!(s.drop_stale(Instant::from_nanos(120_000_000), d), 4);
        let seg = s.next_segment(100, u64::MAX).unwrap();
        assert_eq!((seg.offset, &seg.data[..]), (4, &b"new"[..]));
    }

    #[test]
    fn live_segments_are_not_kept() {
        let mut s = SendHalf::new(true, 1 << 20, 100);
        s.write(Instant::ZERO, b"abc");
        let seg = s.next_segment(100, u64::MAX).unwrap();
        s.on_lost(seg.seq);
        assert!(s.next_retransmit(100).is_none());
        assert_eq!(s.capacity(), 100);
    }
}
