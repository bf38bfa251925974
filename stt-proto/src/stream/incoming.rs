//! The stream table's receiving side: the peer's stream frames (DATA, STREAM_OPEN, STREAM_CLOSE,
//! MAX_DATA) applied to the streams they name, reads by the application and by the session's
//! message lanes, and the credit those reads earn the peer. What this side sends is in
//! `outgoing.rs`.

use bytes::Bytes;
use core::time::Duration;

use super::recv::RecvError;
use super::{StreamError, StreamRead, Streams, CREDIT_UPDATE_FRACTION};
use crate::close;
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

/// The peer's first STREAM_CLOSE of a stream (see [`Streams::on_peer_reset`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerReset {
    /// Of a message lane.
    Lane,
    /// Of a stream of the application's.
    Stream,
}

impl Streams {
    /// The peer's STREAM_OPEN for a live stream: gaps wait `deadline` from now on.
    pub(crate) fn set_live_deadline(&mut self, id: u32, deadline: Duration) {
        if let Some(st) = self.map.get_mut(&id) {
            st.recv.set_deadline(deadline);
        }
    }

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

    /// The peer's STREAM_CLOSE with `code` on stream `id`. A refusal of a stream this side
    /// opened (not a message lane's: the session decides for those) ends its sending side.
    /// Says what was reset the first time only (`None` for a repeat or a stream not open); the
    /// session reports it, then calls `collect`.
    pub(crate) fn on_peer_reset(&mut self, id: u32, code: u32) -> Option<PeerReset> {
        let st = self.map.get_mut(&id)?;
        let first = st.peer_reset.is_none();
        st.peer_reset.get_or_insert(code);
        if !st.message && code == close::STREAM_REFUSED && st.local {
            // The peer refused our stream: nothing we send on it will be read.
            st.give_up_sending();
        }
        first.then_some(if st.message { PeerReset::Lane } else { PeerReset::Stream })
    }

    /// The peer's MAX_DATA: for the session (`id` 0) or for stream `id`.
    pub(crate) fn on_max_data(&mut self, id: u32, limit: u64) {
        if id == 0 {
            if limit > self.send_max {
                self.send_max = limit;
                // Streams that stopped for want of session credit may go on.
                self.requeue_sendable();
            }
        } else if let Some(st) = self.map.get_mut(&id) {
            st.send.raise_credit(limit);
            self.queue_send(id);
        }
    }

    /// Owes the peer a MAX_DATA for stream `id` (and for the session) if enough of its window
    /// was consumed.
    pub(crate) fn grant_credit(&mut self, id: u32) {
        if let Some(st) = self.map.get_mut(&id) {
            if st.recv.credit_update().is_some() {
                st.credit_owed = true;
                self.queue_control(id);
            }
        }
        if self.session_credit_update().is_some() {
            self.session_credit_owed = true;
        }
    }

    /// A session-level credit update, once an eighth of the session window has been read.
    fn session_credit_update(&mut self) -> Option<u64> {
        let window = self.limits.session_window;
        if self.recv_limit.saturating_sub(self.read_total) > window - window / CREDIT_UPDATE_FRACTION {
            return None;
        }
        self.recv_limit = self.read_total + self.limits.session_window;
        Some(self.recv_limit)
    }

    /// The application reads the next piece of stream `id`, granting credit for what it
    /// consumed; a stream read to its end is forgotten if its sending side is over too.
    pub(crate) fn read(&mut self, id: u32) -> Result<Option<StreamRead>, StreamError> {
        let st = self.app_stream_mut(id)?;
        if let Some(code) = st.peer_reset {
            return Err(StreamError::Reset(code));
        }
        let Some(r) = st.recv.read() else { return Ok(None) };
        self.read_total += consumed(&r);
        self.grant_credit(id);
        if matches!(r, StreamRead::Finished) {
            self.collect(id);
        }
        Ok(Some(r))
    }

    /// The session reads the next piece of message lane `id` (no credit granted yet: the
    /// session calls `grant_credit` when it has read what it will).
    #[cfg(feature = "messages")]
    pub(crate) fn read_lane(&mut self, id: u32) -> Option<StreamRead> {
        let r = self.map.get_mut(&id)?.recv.read()?;
        self.read_total += consumed(&r);
        Some(r)
    }
}

/// The bytes a read consumed from the receive window.
fn consumed(r: &StreamRead) -> u64 {
    match r {
        StreamRead::Data(b) => b.len() as u64,
        StreamRead::Skipped { bytes, .. } => *bytes,
        StreamRead::Finished => 0,
    }
}
