//! The stream table's sending side: what the application and the message lanes write, what the
//! table owes the peer (control frames, retransmissions and new data, in the order the session
//! writes them) and what became of what was sent (acknowledged or lost).
//!
//! The session writes the frames; the table says what goes next ([`Streams::next_control`],
//! [`Streams::take_turn`], [`Streams::take_segment`]) and is told what went
//! ([`Streams::control_sent`], [`Streams::end_turn`]).

use super::{Segment, SendHalf, StreamError, StreamId, StreamMode, Streams};
use crate::time::Instant;

/// A control frame the table owes the peer, or a retransmission (see [`Streams::next_control`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    /// MAX_DATA for the session.
    SessionCredit { limit: u64 },
    /// STREAM_CLOSE refusing a stream the peer opened past the limit.
    Refusal { id: u32 },
    /// STREAM_OPEN of a stream this side opened.
    Open { id: u32, mode: StreamMode, message: bool },
    /// STREAM_CLOSE: this side reset its sending side with `code`.
    Reset { id: u32, code: u32, message: bool },
    /// MAX_DATA for one stream.
    Credit { id: u32, limit: u64 },
    /// Lost DATA to send again ([`Streams::next_retransmit`]).
    Retransmit { id: u32, live: bool, message: bool },
}

/// The stream whose turn it is to send new data (see [`Streams::take_turn`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Turn {
    /// It has new data it may send, `pending` bytes written and not yet sent.
    Ready { id: u32, pending: u64 },
    /// It has nothing it may send now (or is gone) and left the send queue.
    Skip,
}

/// The next segment of the stream whose turn it is (see [`Streams::take_segment`]).
#[derive(Debug)]
pub(crate) enum NextSegment {
    /// This segment, counted as sent.
    Segment { segment: Segment, live: bool, message: bool },
    /// Nothing fits now, but the stream keeps its place at the front of the queue.
    Stop,
    /// Nothing to send after all: the stream left the send queue.
    Skip,
}

/// Whom an outcome of sent data wakes (see [`Streams::on_data_outcome`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The writer of this stream (one of the application's, not a message lane).
    Stream(StreamId),
    /// The sender of messages (the lane has room again).
    Messages,
}

impl Streams {
    /// The application writes to stream `id`: `take` moves up to `len` bytes into the send
    /// buffer and says how many it took.
    pub(crate) fn write_with(
        &mut self,
        now: Instant,
        id: u32,
        len: usize,
        take: impl FnOnce(&mut SendHalf, Instant) -> usize,
    ) -> Result<usize, StreamError> {
        let st = self.app_stream_mut(id)?;
        if st.is_send_ended() {
            return Err(StreamError::Finished);
        }
        let n = take(&mut st.send, now);
        if n == 0 && len > 0 {
            return Err(StreamError::Blocked);
        }
        self.queue_send(id);
        Ok(n)
    }

    /// The application ends the sending side of stream `id` after what it wrote (FIN).
    pub(crate) fn finish(&mut self, id: u32) -> Result<(), StreamError> {
        let st = self.app_stream_mut(id)?;
        if st.is_send_ended() {
            return Err(StreamError::Finished);
        }
        st.send.finish();
        self.queue_send(id);
        Ok(())
    }

    /// The application abandons the sending side of stream `id` with `code` (STREAM_CLOSE).
    pub(crate) fn reset(&mut self, id: u32, code: u32) -> Result<(), StreamError> {
        let st = self.app_stream_mut(id)?;
        if st.reset_sent.is_some() || st.reset_owed.is_some() {
            return Err(StreamError::Finished);
        }
        st.send.abandon();
        st.reset_owed = Some(code);
        self.queue_control(id);
        Ok(())
    }

    /// Appends one message (its header `head`, then `body`) to this side's lane `id`. `false`
    /// when the lane's buffer is full: the sender is told when it has room again
    /// ([`Wake::Messages`]).
    #[cfg(feature = "messages")]
    pub(crate) fn append_message(&mut self, id: u32, head: &[u8], body: &bytes::Bytes) -> bool {
        let st = self.map.get_mut(&id).expect("the lane is open while it is set");
        if st.send.capacity() == 0 {
            st.send.set_blocked();
            return false;
        }
        st.send.append_message(head, body);
        self.queue_send(id);
        true
    }

    /// Lets `write` add to the sending side of lane `id` (the answers to a peer's lane), and
    /// queues what it wrote for sending. False if the lane is not open.
    #[cfg(feature = "messages")]
    pub(crate) fn write_lane(&mut self, id: u32, write: impl FnOnce(&mut SendHalf)) -> bool {
        let Some(st) = self.map.get_mut(&id) else { return false };
        write(&mut st.send);
        if st.send.pending() > 0 {
            self.queue_send(id);
        }
        true
    }

    /// Ends the sending side of lane `id` (FIN) after what was written.
    #[cfg(feature = "messages")]
    pub(crate) fn finish_lane(&mut self, id: u32) {
        if let Some(st) = self.map.get_mut(&id) {
            st.send.finish();
            self.queue_send(id);
        }
    }

    /// Refuses the peer's lane `id` with `code` in both directions (a build without messages).
    #[cfg(not(feature = "messages"))]
    pub(crate) fn refuse_lane(&mut self, id: u32, code: u32) {
        if let Some(st) = self.map.get_mut(&id) {
            st.send.abandon();
            st.reset_owed = Some(code);
            st.peer_reset = Some(code);
            self.queue_control(id);
        }
    }

    /// True if control frames or retransmissions are owed.
    pub(crate) fn wants_control(&self) -> bool {
        !self.control_queue.is_empty() || !self.refusals.is_empty() || self.session_credit_owed
    }

    /// True if some stream waits to send new data.
    pub(crate) fn has_queued_data(&self) -> bool {
        !self.send_queue.is_empty()
    }

    /// True if some stream waits to send something, new or again (owed refusals and session
    /// credit are not streams: `wants_control` counts them).
    pub(crate) fn has_queued_streams(&self) -> bool {
        !self.send_queue.is_empty() || !self.control_queue.is_empty()
    }

    /// The next control frame owed, in the order they are sent: the session's credit, refusals,
    /// then each stream on the control queue (its STREAM_OPEN, STREAM_CLOSE, MAX_DATA, then its
    /// retransmissions). The same answer until [`Streams::control_sent`] says it went; for a
    /// retransmission, until the stream has no lost segment left to send again.
    pub(crate) fn next_control(&mut self) -> Option<Control> {
        if self.session_credit_owed {
            return Some(Control::SessionCredit { limit: self.recv_limit });
        }
        if let Some(&id) = self.refusals.front() {
            return Some(Control::Refusal { id });
        }
        while let Some(&id) = self.control_queue.front() {
            let Some(st) = self.map.get(&id) else {
                self.pop_control();
                continue;
            };
            if st.open_owed && !st.open_in_flight {
                return Some(Control::Open { id, mode: st.mode, message: st.message });
            }
            if let Some(code) = st.reset_owed {
                return Some(Control::Reset { id, code, message: st.message });
            }
            if st.credit_owed {
                return Some(Control::Credit { id, limit: st.recv.limit() });
            }
            if st.send.has_retransmit() {
                return Some(Control::Retransmit { id, live: st.mode.is_live(), message: st.message });
            }
            self.pop_control();
        }
        None
    }

    /// The control frame `c` (from `next_control`) was written. A retransmission needs nothing
    /// noted: `next_retransmit` took the segment.
    pub(crate) fn control_sent(&mut self, c: Control) {
        match c {
            Control::SessionCredit { .. } => self.session_credit_owed = false,
            Control::Refusal { .. } => {
                if let Some(id) = self.refusals.pop_front() {
                    self.refused.remove(&id);
                }
            }
            Control::Open { id, .. } => {
                if let Some(st) = self.map.get_mut(&id) {
                    st.open_in_flight = true;
                }
            }
            Control::Reset { id, .. } => {
                if let Some(st) = self.map.get_mut(&id) {
                    st.reset_sent = st.reset_owed.take();
                }
            }
            Control::Credit { id, .. } => {
                if let Some(st) = self.map.get_mut(&id) {
                    st.credit_owed = false;
                }
            }
            Control::Retransmit { .. } => {}
        }
    }

    /// The next lost segment of stream `id` to send again, at most `max_len` bytes of data.
    pub(crate) fn next_retransmit(&mut self, id: u32, max_len: usize) -> Option<Segment> {
        self.map.get_mut(&id)?.send.next_retransmit(max_len)
    }

    /// Segment `seq` of stream `id` was taken but could not be written: it is sent again later.
    pub(crate) fn segment_unsent(&mut self, id: u32, seq: u32) {
        if let Some(st) = self.map.get_mut(&id) {
            st.send.on_lost(seq);
        }
        self.queue_control(id);
    }

    /// Streams waiting to send new data (each takes one turn in a round).
    pub(crate) fn send_queue_len(&self) -> usize {
        self.send_queue.len()
    }

    /// Takes the stream at the front of the send queue off it for a turn; `None` if the queue is
    /// empty. A live stream first drops what went stale unsent (`woke` gets it if that freed
    /// room for a stopped writer). After a `Ready` turn the session either gives the turn back
    /// with `yield_turn` (nothing fits now), or calls `take_segment`, and after a segment,
    /// `end_turn` (`Stop` and `Skip` end the turn themselves).
    pub(crate) fn take_turn(&mut self, now: Instant, mut woke: impl FnMut(u32)) -> Option<Turn> {
        let id = self.send_queue.pop_front()?;
        let Some(st) = self.map.get_mut(&id) else { return Some(Turn::Skip) };
        if let StreamMode::Live { deadline } = st.mode {
            let dropped = st.send.drop_stale(now, deadline);
            self.sent_total += dropped;
            // Dropped bytes free the buffer without a segment whose outcome would wake a
            // stopped writer: wake it now.
            if dropped > 0 && st.send.unblock() {
                woke(id);
            }
        }
        let session_room = self.session_room();
        let st = self.map.get_mut(&id).expect("present");
        if !st.send.has_new(session_room) {
            st.in_send_queue = false;
            return Some(Turn::Skip);
        }
        Some(Turn::Ready { id, pending: st.send.pending() })
    }

    /// Puts the stream whose turn it is back at the front of the send queue: nothing more is
    /// sent this time, and it goes first next time.
    pub(crate) fn yield_turn(&mut self, id: u32) {
        self.send_queue.push_front(id);
    }

    /// The next segment of new data of stream `id` (whose turn it is), at most `max_len` bytes.
    pub(crate) fn take_segment(&mut self, id: u32, max_len: usize) -> NextSegment {
        let session_room = self.session_room();
        let st = self.map.get_mut(&id).expect("the stream whose turn it is");
        let (live, message) = (st.mode.is_live(), st.message);
        let Some(segment) = st.send.next_segment(max_len, session_room) else {
            // Whatever the reason, a stream that still has something to send keeps its place:
            // nothing else would put it back once the application stopped writing.
            if st.send.has_new(session_room) {
                self.send_queue.push_front(id);
                return NextSegment::Stop;
            }
            st.in_send_queue = false;
            return NextSegment::Skip;
        };
        self.sent_total += segment.data().len() as u64;
        NextSegment::Segment { segment, live, message }
    }

    /// Ends the turn of stream `id` after a segment went: back at the end of the queue if it has
    /// more to send (true), else off it.
    pub(crate) fn end_turn(&mut self, id: u32) -> bool {
        let session_room = self.session_room();
        let st = self.map.get_mut(&id).expect("the stream whose turn it is");
        if st.send.has_new(session_room) {
            self.send_queue.push_back(id);
            true
        } else {
            st.in_send_queue = false;
            false
        }
    }

    /// A refusal of `id` was lost: it is owed again.
    pub(crate) fn on_refusal_lost(&mut self, id: u32) {
        self.owe_refusal(id);
    }

    /// The session's MAX_DATA was lost: it is owed again (with the newest limit).
    pub(crate) fn on_session_credit_lost(&mut self) {
        self.session_credit_owed = true;
    }

    /// Segment `seq` of stream `id` was acknowledged (`acked`) or lost. Says whom it wakes: the
    /// outcome of a live stream's segment is the moment for a stopped writer (its data left the
    /// buffer when sent), an acknowledgement that freed room is for a reliable one.
    pub(crate) fn on_data_outcome(&mut self, id: u32, seq: u32, acked: bool) -> Option<Wake> {
        let st = self.map.get_mut(&id)?;
        let mut wake = None;
        if st.mode.is_live() && st.send.unblock() {
            wake = Some(Wake::Stream(StreamId(id)));
        }
        let mut repair = false;
        if acked {
            if st.send.on_acked(seq) && st.send.unblock() {
                wake = Some(if st.message { Wake::Messages } else { Wake::Stream(StreamId(id)) });
            }
        } else {
            st.send.on_lost(seq);
            repair = st.send.has_retransmit();
            if st.send.fin_owed() {
                // A live stream's FIN was lost: it goes out again with the new data.
                self.queue_send(id);
            }
        }
        self.after_outcome(id, repair);
        wake
    }

    /// The STREAM_OPEN of stream `id` was acknowledged or lost.
    pub(crate) fn on_open_outcome(&mut self, id: u32, acked: bool) {
        let Some(st) = self.map.get_mut(&id) else { return };
        st.open_in_flight = false;
        let repair = if acked {
            st.open_owed = false;
            false
        } else {
            st.open_owed
        };
        self.after_outcome(id, repair);
    }

    /// The STREAM_CLOSE (reset) of stream `id` was acknowledged or lost.
    pub(crate) fn on_reset_outcome(&mut self, id: u32, acked: bool) {
        let Some(st) = self.map.get_mut(&id) else { return };
        let mut repair = false;
        if acked {
            st.reset_acked = true;
        } else if !st.reset_acked {
            st.reset_owed = st.reset_sent;
            repair = true;
        }
        self.after_outcome(id, repair);
    }

    /// The MAX_DATA of stream `id` was acknowledged or lost (then it is owed again).
    pub(crate) fn on_credit_outcome(&mut self, id: u32, acked: bool) {
        let Some(st) = self.map.get_mut(&id) else { return };
        if !acked {
            st.credit_owed = true;
        }
        self.after_outcome(id, !acked);
    }

    /// After any outcome on stream `id`: back on the control queue if something must be sent
    /// again, and forgotten if the stream is over.
    fn after_outcome(&mut self, id: u32, repair: bool) {
        if repair {
            self.queue_control(id);
        }
        self.collect(id);
    }
}
