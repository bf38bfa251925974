//! Streams: many independent byte streams inside one session.
//!
//! Each stream is bidirectional and has a mode chosen at open: *reliable* (ordered, complete,
//! retransmitted) or *live* (ordered, never retransmitted; a gap older than the deadline is
//! skipped and reported). Ids: the initiator opens odd ids, the responder even ids; 0 is the
//! session's control channel. This module owns the per-session table, stream-level and
//! session-level flow control, and the bookkeeping of which control frames are owed to the peer.

mod incoming;
mod outgoing;
mod peer_ids;
pub(crate) mod recv;
pub(crate) mod send;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::time::Duration;

pub(crate) use incoming::{PeerReset, PeerStream};
pub(crate) use outgoing::{Control, NextSegment, Turn, Wake};
use peer_ids::PeerIds;
pub(crate) use recv::Delivered;
pub(crate) use recv::RecvHalf;
pub use recv::StreamRead;
pub(crate) use send::{Segment, SendHalf};

use crate::config::EndpointConfig;
use crate::time::Instant;
use crate::types::Role;

/// A stream's id within its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

/// How a stream delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StreamMode {
    /// Ordered, complete, retransmitted.
    #[default]
    Reliable,
    /// Ordered, never retransmitted; gaps older than `deadline` are skipped and reported.
    Live {
        /// How long later data may wait behind a gap.
        deadline: Duration,
    },
}

impl StreamMode {
    /// True for live streams.
    pub fn is_live(&self) -> bool {
        matches!(self, StreamMode::Live { .. })
    }
}

/// Why a stream operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// No such stream (never opened, or already closed and forgotten).
    #[error("unknown stream {0}")]
    UnknownStream(u32),
    /// The send buffer is full: wait for `Event::StreamWritable`, then write again.
    #[error("stream blocked: the send buffer is full until the peer acknowledges or grants credit")]
    Blocked,
    /// `finish` or `reset` was already called on this stream's sending side.
    #[error("the stream's sending side is already finished or reset")]
    Finished,
    /// The peer reset the stream with this code.
    #[error("the peer reset the stream (code {0})")]
    Reset(u32),
    /// This side has `max_concurrent_streams` streams open.
    #[error("too many open streams: finish some or raise max_concurrent_streams")]
    TooManyStreams,
    /// This side has used every stream id of the session (about two billion streams).
    #[error("the session has used all of its stream ids: open a new session")]
    IdsExhausted,
    /// The session is closing.
    #[error("session is closing")]
    Closing,
    /// A stream label must be 1 to [`MAX_STREAM_LABEL`] bytes.
    #[error("a stream label must be 1 to 64 bytes, not {0}")]
    BadLabel(usize),
    /// The peer runs a version of STT without stream labels (its handshake did not announce
    /// them): open the stream without a label, or update the peer.
    #[error("the peer's version of STT does not take stream labels: open the stream without one")]
    LabelsUnsupported,
}

/// Longest stream label, in bytes.
pub const MAX_STREAM_LABEL: usize = crate::wire::stream::MAX_STREAM_LABEL;

/// Credit each side starts with per stream, before any MAX_DATA (protocol constant).
pub(crate) const INITIAL_STREAM_CREDIT: u64 = 64 * 1024;
/// A receiver announces new credit (MAX_DATA) once this fraction of its window has been read
/// since the last announcement. Frequent small updates keep a sender that is near its limit
/// going when one update is lost: the next follows about a round trip later, long before the
/// rest of the window is used up (announcing at half the window left a sender blocked for a
/// round trip or a probe timeout every time an update was lost).
pub(crate) const CREDIT_UPDATE_FRACTION: u64 = 8;
/// Credit each side starts with per session, before any MAX_DATA (protocol constant).
pub(crate) const INITIAL_SESSION_CREDIT: u64 = 1024 * 1024;

/// Refusals (STREAM_CLOSE with [`close::STREAM_REFUSED`](crate::close::STREAM_REFUSED)) a session
/// makes before it closes with [`close::STREAM_LIMIT_ABUSED`](crate::close::STREAM_LIMIT_ABUSED).
/// A peer that respects refusals makes a handful: the frames it had in flight on a refused
/// stream.
pub const MAX_REFUSALS: u64 = 16_384;

/// Refusals owed at once (each is sent, and sent again if lost, until acknowledged). A peer
/// that makes this many refusals outstanding is not respecting them: the session ends with
/// [`close::STREAM_LIMIT_ABUSED`](crate::close::STREAM_LIMIT_ABUSED), as after [`MAX_REFUSALS`].
pub(crate) const MAX_REFUSALS_OWED: usize = 1024;

/// One stream.
#[derive(Debug)]
struct Stream {
    /// Delivery mode.
    mode: StreamMode,
    /// Sending half.
    send: SendHalf,
    /// Receiving half.
    recv: RecvHalf,
    /// Opened by this side.
    local: bool,
    /// A message lane (`crate::message`): its frames carry the MESSAGE flag, and the session
    /// reads it, not the application.
    message: bool,
    /// STREAM_OPEN still owed to the peer (local streams, until acknowledged).
    open_owed: bool,
    /// STREAM_OPEN is in flight (sent, not yet acknowledged or lost).
    open_in_flight: bool,
    /// Reset code to send (STREAM_CLOSE) now: set by `reset`, and again if it was lost.
    reset_owed: Option<u32>,
    /// Reset code sent at least once.
    reset_sent: Option<u32>,
    /// The peer acknowledged the reset.
    reset_acked: bool,
    /// The peer reset its sending side with this code.
    peer_reset: Option<u32>,
    /// A MAX_DATA for this stream is owed.
    credit_owed: bool,
    /// On the send queue.
    in_send_queue: bool,
    /// On the control queue.
    in_control_queue: bool,
    /// What the opener says the stream carries (from its STREAM_OPEN).
    label: Option<Box<[u8]>>,
    /// A peer's stream first seen through DATA, kept from the application until its STREAM_OPEN
    /// (which may carry a label) arrives.
    awaiting_open: bool,
}

impl Stream {
    /// A new stream; `local` if this side opened it (it then owes the peer a STREAM_OPEN).
    fn new(mode: StreamMode, local: bool, message: bool, limits: &StreamLimits) -> Stream {
        let deadline = match mode {
            StreamMode::Live { deadline } => Some(deadline),
            StreamMode::Reliable => None,
        };
        Stream {
            mode,
            send: SendHalf::new(mode.is_live(), INITIAL_STREAM_CREDIT, limits.send_buffer),
            recv: RecvHalf::new(INITIAL_STREAM_CREDIT, limits.stream_window, deadline),
            local,
            message,
            open_owed: local,
            open_in_flight: false,
            reset_owed: None,
            reset_sent: None,
            reset_acked: false,
            peer_reset: None,
            credit_owed: false,
            in_send_queue: false,
            in_control_queue: local,
            label: None,
            awaiting_open: false,
        }
    }

    /// True when this side's sending direction has nothing left to deliver: everything written
    /// (and the FIN, if requested) is acknowledged, or the stream was reset and the reset
    /// acknowledged.
    fn is_send_flushed(&self) -> bool {
        if self.reset_owed.is_some() || self.reset_sent.is_some() {
            return self.reset_acked;
        }
        self.send.is_flushed()
    }

    /// True once `finish` or `reset` was called on the sending side.
    fn is_send_ended(&self) -> bool {
        self.send.is_finishing() || self.reset_sent.is_some() || self.reset_owed.is_some()
    }

    /// Gives up this side's sending direction for good: nothing more is sent or resent, no
    /// STREAM_OPEN is owed, and no reset needs acknowledging (the peer refused or reset the
    /// stream, so it reads nothing more of it).
    fn give_up_sending(&mut self) {
        self.send.abandon();
        self.open_owed = false;
        self.reset_acked = true;
    }

    /// True once both directions are over and the application has read everything.
    fn is_closed(&self) -> bool {
        let send_over = self.send.is_done() || self.reset_acked;
        let recv_over = self.recv.is_done() || self.peer_reset.is_some();
        send_over && recv_over && !self.open_owed
    }
}

/// Limits for the streams of one session, from the endpoint's configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamLimits {
    /// Most streams open at once per direction of opening.
    max_concurrent: usize,
    /// Credit granted per stream (receive window), bytes.
    stream_window: u64,
    /// Credit granted for the whole session, bytes.
    session_window: u64,
    /// Send buffer per stream (unsent plus unacknowledged bytes).
    send_buffer: u64,
    /// Deadline applied to a live stream until its STREAM_OPEN arrives.
    default_live_deadline: Duration,
}

impl StreamLimits {
    /// The limits `cfg` sets.
    pub(crate) fn from_config(cfg: &EndpointConfig) -> Self {
        StreamLimits {
            max_concurrent: cfg.max_concurrent_streams,
            stream_window: cfg.stream_receive_window,
            session_window: cfg.session_receive_window,
            send_buffer: cfg.stream_send_buffer,
            default_live_deadline: cfg.default_live_deadline,
        }
    }
}

/// The stream table of one session, with session-level flow control. The session hands it the
/// peer's stream frames (`incoming.rs`), asks it what to send (`outgoing.rs`) and tells it what
/// became of what was sent; the session never reaches into a stream.
#[derive(Debug)]
pub(crate) struct Streams {
    /// Open streams.
    map: BTreeMap<u32, Stream>,
    limits: StreamLimits,
    /// The next id this side opens; past `u32::MAX` the ids are used up.
    next_local: u64,
    /// Which peer ids are opened, awaited, over or refused.
    peer_ids: PeerIds,
    /// Peer-opened streams not yet accepted by the application.
    accept_queue: VecDeque<u32>,
    /// Streams with new data or FIN to send, round robin.
    send_queue: VecDeque<u32>,
    /// Streams that owe a control frame (STREAM_OPEN, STREAM_CLOSE, MAX_DATA) or a retransmission,
    /// each at most once (`Stream::in_control_queue`).
    control_queue: VecDeque<u32>,
    /// Peer stream ids refused (limit), each owed one STREAM_CLOSE, in order.
    refusals: VecDeque<u32>,
    /// The same ids, for membership (at most `MAX_REFUSALS_OWED`).
    refused: BTreeSet<u32>,
    /// A refusal was needed with `MAX_REFUSALS_OWED` owed already.
    refusals_overflowed: bool,
    /// Refusals queued over the session's life.
    refusals_total: u64,
    /// Live streams that hold data behind a gap, ascending: the only streams with a gap deadline.
    gaps: Vec<u32>,
    /// Peer's credit for the whole session (offset sum limit).
    send_max: u64,
    /// Sum of new bytes sent on all streams.
    sent_total: u64,
    /// Credit this side granted for the whole session.
    recv_limit: u64,
    /// Sum of the highest offsets received on all streams, closed ones included.
    recv_total: u64,
    /// Sum of bytes the application read on all streams, closed ones included.
    read_total: u64,
    /// A session-level MAX_DATA is owed.
    session_credit_owed: bool,
    local_open: usize,
    peer_open: usize,
    /// The peer's handshake announced stream labels: it may label what it opens (so a stream
    /// first seen through DATA waits for its STREAM_OPEN), and it takes labels.
    peer_labels: bool,
}

impl Streams {
    /// An empty table for the given side (the initiator opens odd ids).
    pub(crate) fn new(role: Role, limits: StreamLimits) -> Self {
        Streams {
            map: BTreeMap::new(),
            limits,
            next_local: if role == Role::Initiator { 1 } else { 2 },
            peer_ids: PeerIds::new(if role == Role::Initiator { 2 } else { 1 }),
            accept_queue: VecDeque::new(),
            send_queue: VecDeque::new(),
            control_queue: VecDeque::new(),
            refusals: VecDeque::new(),
            refused: BTreeSet::new(),
            refusals_overflowed: false,
            refusals_total: 0,
            gaps: Vec::new(),
            send_max: INITIAL_SESSION_CREDIT,
            sent_total: 0,
            recv_limit: INITIAL_SESSION_CREDIT,
            recv_total: 0,
            read_total: 0,
            session_credit_owed: false,
            local_open: 0,
            peer_open: 0,
            peer_labels: false,
        }
    }

    fn is_local_id(&self, id: u32) -> bool {
        u64::from(id) % 2 == self.next_local % 2
    }

    /// The peer's handshake announced stream labels.
    pub(crate) fn set_peer_labels(&mut self, on: bool) {
        self.peer_labels = on;
    }

    /// Opens a local stream (`message`: a message lane, always reliable), with a label for the
    /// peer if `label` is not empty.
    pub(crate) fn open(&mut self, mode: StreamMode, message: bool, label: &[u8]) -> Result<StreamId, StreamError> {
        if !label.is_empty() && !self.peer_labels {
            return Err(StreamError::LabelsUnsupported);
        }
        if label.len() > MAX_STREAM_LABEL {
            return Err(StreamError::BadLabel(label.len()));
        }
        if self.local_open >= self.limits.max_concurrent {
            return Err(StreamError::TooManyStreams);
        }
        let id = u32::try_from(self.next_local).map_err(|_| StreamError::IdsExhausted)?;
        self.next_local += 2;
        let mut stream = Stream::new(mode, true, message, &self.limits);
        stream.label = (!label.is_empty()).then(|| label.into());
        self.map.insert(id, stream);
        self.local_open += 1;
        self.control_queue.push_back(id);
        Ok(StreamId(id))
    }

    /// The next stream the peer opened that the application has not taken.
    pub(crate) fn accept(&mut self) -> Option<StreamId> {
        self.accept_queue.pop_front().map(StreamId)
    }

    /// The first stream the peer opened with `label` that the application has not taken; the
    /// others stay for [`Streams::accept`].
    pub(crate) fn accept_labeled(&mut self, label: &[u8]) -> Option<StreamId> {
        let map = &self.map;
        let at =
            self.accept_queue.iter().position(|id| map.get(id).and_then(|st| st.label.as_deref()) == Some(label))?;
        self.accept_queue.remove(at).map(StreamId)
    }

    /// The label of an open stream of the application's, if its opener gave one.
    pub(crate) fn label(&self, id: u32) -> Option<&[u8]> {
        self.app_stream(id)?.label.as_deref()
    }

    /// True if stream `id` is open.
    pub(crate) fn contains(&self, id: u32) -> bool {
        self.map.contains_key(&id)
    }

    /// The mode of an open stream of the application's (not a message lane).
    pub(crate) fn mode(&self, id: u32) -> Option<StreamMode> {
        self.app_stream(id).map(|st| st.mode)
    }

    /// An open stream of the application's: message lanes belong to the session.
    fn app_stream(&self, id: u32) -> Option<&Stream> {
        self.map.get(&id).filter(|st| !st.message)
    }

    /// The same, to change, or the error the application gets.
    fn app_stream_mut(&mut self, id: u32) -> Result<&mut Stream, StreamError> {
        self.map.get_mut(&id).filter(|st| !st.message).ok_or(StreamError::UnknownStream(id))
    }

    /// Streams the application has open (message lanes not counted).
    pub(crate) fn app_stream_count(&self) -> usize {
        self.map.values().filter(|st| !st.message).count()
    }

    /// Bytes received and held for reading, over every stream.
    pub(crate) fn buffered(&self) -> u64 {
        self.map.values().map(|st| st.recv.buffered()).sum()
    }

    /// True if stream `id`'s sending side has nothing left to deliver (or the stream is gone).
    pub(crate) fn is_send_flushed(&self, id: u32) -> bool {
        self.map.get(&id).is_none_or(|st| st.is_send_flushed())
    }

    /// True if no stream has anything left to deliver.
    pub(crate) fn all_send_flushed(&self) -> bool {
        self.map.values().all(|st| st.is_send_flushed())
    }

    /// True if some stream holds written bytes not yet sent.
    pub(crate) fn any_unsent(&self) -> bool {
        self.map.values().any(|s| s.send.pending() > 0)
    }

    /// Queues a stream for sending new data, once.
    fn queue_send(&mut self, id: u32) {
        if let Some(s) = self.map.get_mut(&id) {
            if !s.in_send_queue {
                s.in_send_queue = true;
                self.send_queue.push_back(id);
            }
        }
    }

    /// Queues every stream that has new data it may send now (after the session's credit grew:
    /// streams that stopped for want of it left the send queue).
    fn requeue_sendable(&mut self) {
        let room = self.session_room();
        for (&id, s) in self.map.iter_mut() {
            if !s.in_send_queue && s.send.has_new(room) {
                s.in_send_queue = true;
                self.send_queue.push_back(id);
            }
        }
    }

    /// Queues a stream for control frames or retransmission, once.
    fn queue_control(&mut self, id: u32) {
        if let Some(s) = self.map.get_mut(&id) {
            if !s.in_control_queue {
                s.in_control_queue = true;
                self.control_queue.push_back(id);
            }
        }
    }

    /// Takes the stream at the front of the control queue off it.
    fn pop_control(&mut self) {
        if let Some(id) = self.control_queue.pop_front() {
            if let Some(s) = self.map.get_mut(&id) {
                s.in_control_queue = false;
            }
        }
    }

    /// Queues a refusal of `id` (once; again after it was lost).
    fn owe_refusal(&mut self, id: u32) {
        if self.refused.contains(&id) {
            return;
        }
        if self.refusals.len() >= MAX_REFUSALS_OWED {
            self.refusals_overflowed = true;
            return;
        }
        self.refused.insert(id);
        self.refusals.push_back(id);
    }

    /// True if the peer keeps opening streams it was refused: more than [`MAX_REFUSALS`]
    /// refusals, or more than [`MAX_REFUSALS_OWED`] at once.
    pub(crate) fn refusals_abused(&self) -> bool {
        self.refusals_total > MAX_REFUSALS || self.refusals_overflowed
    }

    /// Notes whether a stream's receiving side now holds data behind a gap (live streams only:
    /// their gaps have deadlines).
    fn note_gap(&mut self, id: u32) {
        let gap = self.map.get(&id).is_some_and(|s| s.mode.is_live() && s.recv.gap_deadline().is_some());
        match (self.gaps.binary_search(&id), gap) {
            (Err(i), true) => self.gaps.insert(i, id),
            (Ok(i), false) => {
                self.gaps.remove(i);
            }
            _ => {}
        }
    }

    /// Session credit left for new bytes.
    fn session_room(&self) -> u64 {
        self.send_max.saturating_sub(self.sent_total)
    }

    /// Forgets a stream that is over. Returns true if it was removed.
    pub(crate) fn collect(&mut self, id: u32) -> bool {
        if !self.map.get(&id).is_some_and(|s| s.is_closed()) {
            return false;
        }
        let s = self.map.remove(&id).expect("checked");
        if let Ok(i) = self.gaps.binary_search(&id) {
            self.gaps.remove(i);
        }
        if s.local {
            self.local_open -= 1;
        } else {
            self.peer_open -= 1;
        }
        true
    }

    /// Gives up this side's sending direction of stream `id` (see `Stream::give_up_sending`).
    #[cfg(feature = "messages")]
    pub(crate) fn give_up_sending(&mut self, id: u32) {
        if let Some(st) = self.map.get_mut(&id) {
            st.give_up_sending();
        }
    }

    /// Earliest live-gap deadline over the streams that have a gap.
    pub(crate) fn next_gap_deadline(&self) -> Option<crate::Instant> {
        self.gaps.iter().filter_map(|id| self.map.get(id)?.recv.gap_deadline()).min()
    }

    /// Live streams: skips gaps whose deadline passed, calling `readable` with each stream that
    /// became readable. Only streams with a gap are looked at.
    pub(crate) fn skip_expired_gaps(&mut self, now: Instant, mut readable: impl FnMut(StreamId)) {
        let mut i = 0;
        while let Some(&id) = self.gaps.get(i) {
            let st = self.map.get_mut(&id).expect("gaps names open streams");
            if st.recv.skip_expired(now) {
                readable(StreamId(id));
            }
            self.note_gap(id);
            if self.gaps.get(i) == Some(&id) {
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> StreamLimits {
        StreamLimits {
            max_concurrent: 4,
            stream_window: 1 << 16,
            session_window: 1 << 20,
            send_buffer: 1 << 16,
            default_live_deadline: Duration::from_millis(100),
        }
    }

    #[test]
    fn the_end_of_the_id_space_is_its_own_error() {
        let limits = limits();
        let mut streams = Streams::new(Role::Initiator, limits);
        streams.next_local = u64::from(u32::MAX - 2);
        assert_eq!(streams.open(StreamMode::Reliable, false, &[]), Ok(StreamId(u32::MAX - 2)));
        assert_eq!(streams.open(StreamMode::Reliable, false, &[]), Ok(StreamId(u32::MAX)), "the last id is used too");
        assert_eq!(streams.open(StreamMode::Reliable, false, &[]), Err(StreamError::IdsExhausted));
        assert_eq!(streams.open(StreamMode::Reliable, false, &[]), Err(StreamError::IdsExhausted));
    }

    // Not visible through the API: that a stream was held at all (the simulator test checks
    // that every accepted stream already has its label).
    #[test]
    fn a_labeling_peers_stream_first_seen_through_data_waits_for_its_stream_open() {
        let limits = limits();
        let mut old_peer = Streams::new(Role::Responder, limits);
        assert_eq!(old_peer.peer_stream(1, false, false, true), incoming::PeerStream::Created);
        assert_eq!(old_peer.accept(), Some(StreamId(1)), "a peer without labels: offered at once");

        let mut streams = Streams::new(Role::Responder, limits);
        streams.set_peer_labels(true);
        assert_eq!(streams.peer_stream(1, false, false, true), incoming::PeerStream::Held);
        assert_eq!(streams.peer_stream(3, false, false, false), incoming::PeerStream::Created, "by STREAM_OPEN");
        assert!(!streams.on_peer_open(3, b"audio"), "not held: nothing to release");
        assert_eq!(streams.accept(), Some(StreamId(3)));
        assert_eq!(streams.accept(), None, "stream 1 waits for its STREAM_OPEN");
        assert!(streams.is_held(1));
        assert!(streams.on_peer_open(1, b"video"));
        assert_eq!(streams.accept_labeled(b"video"), Some(StreamId(1)));
        assert_eq!(streams.label(1), Some(&b"video"[..]));
        assert_eq!(streams.peer_stream(5, false, false, true), incoming::PeerStream::Held);
        assert!(streams.release_held(5), "a STREAM_CLOSE releases it without a label");
        assert_eq!((streams.accept(), streams.label(5)), (Some(StreamId(5)), None));
    }
}
