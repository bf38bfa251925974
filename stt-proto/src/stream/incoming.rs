//! The stream table's receiving side but the data itself: the stream a peer frame names (found,
//! or created when the peer opens one, or refused past the limit), the peer's STREAM_OPEN,
//! STREAM_CLOSE and MAX_DATA, reads by the application and by the session's message lanes, and
//! the credit those reads earn the peer. A DATA frame's bytes are stored by `recv.rs`; what this
//! side sends is in `outgoing.rs`.

use core::time::Duration;

use super::peer_ids::Admission;
use super::{Stream, StreamError, StreamMode, StreamRead, Streams, CREDIT_UPDATE_FRACTION};
use crate::close;

/// What [`Streams::peer_stream`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerStream {
    /// An open stream; `message` if it is a message lane.
    Known { message: bool },
    /// A new stream the peer just opened.
    Created,
    /// A new stream the peer just opened, first seen through DATA, that waits for its
    /// STREAM_OPEN before the application hears of it (the peer may have labeled it).
    Held,
    /// A stream that is over, or id 0, or an id this side never opened: ignore the frame.
    Over,
    /// The peer exceeded the stream limit; a refusal is queued.
    Refused,
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
    /// Finds the stream a peer frame names, creating it if the peer opens a new one (`message`:
    /// a message lane, which the application does not accept; `by_data`: the frame is DATA).
    pub(crate) fn peer_stream(&mut self, id: u32, live: bool, message: bool, by_data: bool) -> PeerStream {
        if id == 0 {
            return PeerStream::Over;
        }
        if let Some(st) = self.map.get(&id) {
            return PeerStream::Known { message: st.message };
        }
        if self.is_local_id(id) {
            return PeerStream::Over;
        }
        match self.peer_ids.admit(id, self.peer_open, self.limits.max_concurrent) {
            Admission::Over => return PeerStream::Over,
            Admission::Refuse => {
                self.refusals_total += 1;
                self.owe_refusal(id);
                return PeerStream::Refused;
            }
            Admission::Create => {}
        }
        let mode =
            if live { StreamMode::Live { deadline: self.limits.default_live_deadline } } else { StreamMode::Reliable };
        let mut stream = Stream::new(mode, false, message, &self.limits);
        // A peer that labels streams sends each one's label in its STREAM_OPEN (resent until
        // acknowledged): a stream seen first through DATA waits for it.
        let held = by_data && self.peer_labels && !message;
        stream.awaiting_open = held;
        self.map.insert(id, stream);
        self.peer_open += 1;
        if held {
            return PeerStream::Held;
        }
        if !message {
            self.accept_queue.push_back(id);
        }
        PeerStream::Created
    }

    /// The peer's STREAM_OPEN of stream `id` (open), with its label (empty for none). True if
    /// this released a held stream to the application (the session then reports it).
    pub(crate) fn on_peer_open(&mut self, id: u32, label: &[u8]) -> bool {
        let Some(st) = self.map.get_mut(&id) else { return false };
        if !label.is_empty() && st.label.is_none() && !st.local && !st.message {
            st.label = Some(label.into());
        }
        self.release_held(id)
    }

    /// Offers a held stream to the application (its STREAM_OPEN arrived, or a STREAM_CLOSE that
    /// means none will). True if it was held.
    pub(crate) fn release_held(&mut self, id: u32) -> bool {
        let Some(st) = self.map.get_mut(&id) else { return false };
        if !core::mem::take(&mut st.awaiting_open) {
            return false;
        }
        self.accept_queue.push_back(id);
        true
    }

    /// True while a peer's stream waits for its STREAM_OPEN (its data is kept, unannounced).
    pub(crate) fn is_held(&self, id: u32) -> bool {
        self.map.get(&id).is_some_and(|st| st.awaiting_open)
    }

    /// The peer's STREAM_OPEN for a live stream: gaps wait `deadline` from now on.
    pub(crate) fn set_live_deadline(&mut self, id: u32, deadline: Duration) {
        if let Some(st) = self.map.get_mut(&id) {
            st.recv.set_deadline(deadline);
        }
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
