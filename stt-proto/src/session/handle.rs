//! The user's view of one session: [`SessionRef`] to read it, [`SessionMut`] to command it.

use alloc::string::String;
use bytes::Bytes;

use super::{Outgoing, Role, Session, SessionHandle, SessionState, SessionStats, State};
use crate::config::{EndpointConfig, NodeId};
use crate::crypto::Suite;
use crate::endpoint::{Endpoint, Remote};
use crate::event::CloseReason;
use crate::names::{NameAddress, NameError, RequestId};
use crate::stream::{StreamError, StreamId, StreamMode, StreamRead};
use crate::time::Instant;
use crate::wire::FRAME_OVERHEAD;

/// Why a custom frame was not queued. Nothing was queued when this is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Types 0x01–0x7F belong to STT; applications use 0x80–0xFF.
    #[error("frame type {0:#04x} is reserved for STT; custom frames use 0x80-0xFF")]
    ReservedFrameType(u8),
    /// The payload does not fit one datagram on the session's current path.
    #[error("payload of {len} bytes exceeds the {max}-byte limit of this path; use a stream for larger data")]
    TooLarge {
        /// Payload length given.
        len: usize,
        /// Largest payload on this path.
        max: usize,
    },
    /// `max_queued_frames` frames are waiting to be sent; drive `poll_transmit` and retry.
    #[error("send queue full: call poll_transmit to drain it, then retry")]
    QueueFull,
    /// The session is closing.
    #[error("session is closing")]
    Closing,
}

fn max_custom_payload(cfg: &EndpointConfig, remote: &Remote) -> usize {
    cfg.max_datagram(remote.transport) - FRAME_OVERHEAD
}

/// Recovery and congestion figures of a session's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathStats {
    /// Smoothed round-trip time.
    pub rtt: core::time::Duration,
    /// Congestion window in bytes.
    pub congestion_window: u64,
    /// Bytes of ack-eliciting frames in flight.
    pub in_flight: u64,
    /// Frames declared lost.
    pub lost_frames: u64,
}

/// Read-only view of a session.
#[derive(Clone, Copy)]
pub struct SessionRef<'a> {
    handle: SessionHandle,
    s: &'a Session,
    cfg: &'a EndpointConfig,
}

impl<'a> SessionRef<'a> {
    pub(crate) fn new(handle: SessionHandle, s: &'a Session, cfg: &'a EndpointConfig) -> Self {
        SessionRef { handle, s, cfg }
    }

    /// The handle.
    pub fn handle(&self) -> SessionHandle {
        self.handle
    }
    /// Handshaking, established or closing.
    pub fn state(&self) -> SessionState {
        self.s.public_state()
    }
    /// Which side of the handshake this node was.
    pub fn role(&self) -> Role {
        self.s.role
    }
    /// The session id (zero until the initiator has received CHALLENGE).
    pub fn session_id(&self) -> u64 {
        self.s.session_id
    }
    /// The peer's node id, once known.
    pub fn peer(&self) -> Option<NodeId> {
        self.s.peer
    }
    /// Where the peer is now.
    pub fn remote(&self) -> Remote {
        self.s.remote
    }
    /// The negotiated AEAD suite, once known.
    pub fn suite(&self) -> Option<Suite> {
        self.s.keys.as_ref().map(|k| k.suite())
    }
    /// Statistics.
    pub fn stats(&self) -> SessionStats {
        self.s.stats
    }
    /// Bytes received on this session's streams and not yet read by the application (in order
    /// or out of order). Never more than the credit this side granted.
    pub fn receive_buffered(&self) -> u64 {
        self.s.streams.map.values().map(|st| st.recv.buffered()).sum()
    }

    /// Open streams.
    pub fn stream_count(&self) -> usize {
        self.s.streams.map.len()
    }

    /// Smoothed round-trip time, congestion window and frames declared lost.
    pub fn path_stats(&self) -> PathStats {
        let r = &self.s.recovery;
        PathStats {
            rtt: r.rtt().smoothed(),
            congestion_window: r.window(),
            in_flight: r.in_flight(),
            lost_frames: r.lost_frames(),
        }
    }

    /// True when `stream`'s sending side has delivered everything written to it: every byte
    /// (and the FIN, if requested) acknowledged by the peer. A stream that is no longer open
    /// (finished both ways and forgotten, or never opened) counts as flushed.
    pub fn stream_flushed(&self, stream: StreamId) -> bool {
        self.s.streams.map.get(&stream.0).is_none_or(|st| st.is_send_flushed())
    }

    /// True when every open stream is flushed (see [`SessionRef::stream_flushed`]). Drivers
    /// wait for this before closing a session gracefully.
    pub fn streams_flushed(&self) -> bool {
        self.s.streams.map.values().all(|st| st.is_send_flushed())
    }

    /// Largest custom-frame payload on the current path.
    pub fn max_custom_payload(&self) -> usize {
        max_custom_payload(self.cfg, &self.s.remote)
    }

    /// Largest message `SessionMut::route` takes on the current path.
    pub fn max_route_payload(&self) -> usize {
        max_custom_payload(self.cfg, &self.s.remote) - crate::wire::names::REQUEST_HEADER_LEN
    }

    /// The names the peer last announced it serves (empty until it announces any).
    pub fn peer_names(&self) -> &'a [NameAddress] {
        self.s.names.peer_names()
    }
}

/// Commands on a session. Obtained from [`Endpoint::session_mut`].
pub struct SessionMut<'a> {
    ep: &'a mut Endpoint,
    handle: SessionHandle,
}

impl<'a> SessionMut<'a> {
    pub(crate) fn new(ep: &'a mut Endpoint, handle: SessionHandle) -> Self {
        SessionMut { ep, handle }
    }

    fn s(&mut self) -> &mut Session {
        self.ep.get_mut(self.handle).expect("SessionMut is only made for live sessions")
    }

    /// Read-only view.
    pub fn as_ref(&self) -> SessionRef<'_> {
        self.ep.session(self.handle).expect("SessionMut is only made for live sessions")
    }

    /// Queues a custom frame (type 0x80–0xFF). It is sent encrypted in order with the session's
    /// other custom frames; before the handshake completes it waits in the queue. Delivery is
    /// best-effort, like a datagram: a frame lost on the network is not retransmitted.
    pub fn send_custom(&mut self, frame_type: u8, payload: impl Into<Bytes>) -> Result<(), SendError> {
        if frame_type < 0x80 {
            return Err(SendError::ReservedFrameType(frame_type));
        }
        let payload = payload.into();
        let max_queued = self.ep.config.max_queued_frames;
        let remote = self.s().remote;
        let max = max_custom_payload(&self.ep.config, &remote);
        let s = self.s();
        if matches!(s.state, State::Closing) {
            return Err(SendError::Closing);
        }
        if payload.len() > max {
            return Err(SendError::TooLarge { len: payload.len(), max });
        }
        if s.custom_queued >= max_queued {
            return Err(SendError::QueueFull);
        }
        s.custom_queued += 1;
        s.queue.push_back(Outgoing::Custom { frame_type, payload });
        self.ep.mark_ready(self.ep.last_now, self.handle);
        Ok(())
    }

    /// Asks the peer whether it serves `name`. The answer comes as `Event::NameReply` with the
    /// returned id: `NameReply::Ok` or `NameReply::UnknownName`. The request is repeated if lost.
    pub fn resolve(&mut self, name: NameAddress) -> Result<RequestId, NameError> {
        self.name_request(false, name, Bytes::new())
    }

    /// Routes `data` to `name` on the peer. The answer comes as `Event::NameReply`: `Ok` once the
    /// bytes are in the name's queue (at most once, even if the request had to be repeated),
    /// `UnknownName`, or `QueueFull` (nothing was queued; send again later). At most
    /// `max_route_payload` bytes; routed data counts against the congestion window.
    pub fn route(&mut self, name: NameAddress, data: impl Into<Bytes>) -> Result<RequestId, NameError> {
        let data = data.into();
        let max = self.as_ref().max_route_payload();
        if data.len() > max {
            return Err(NameError::TooLarge { len: data.len(), max });
        }
        self.name_request(true, name, data)
    }

    fn name_request(&mut self, route: bool, name: NameAddress, data: Bytes) -> Result<RequestId, NameError> {
        let s = self.s();
        if !matches!(s.state, State::Established) {
            return Err(NameError::NotEstablished);
        }
        let id = s.names.request(route, name, data)?;
        self.ep.mark_ready(self.ep.last_now, self.handle);
        Ok(id)
    }

    /// Sends this session's frames to `remote` from now on, for example after the driver opened
    /// a WebSocket connection to the peer to replace a UDP path. The choice is pinned: frames
    /// still arriving on the old path are accepted but no longer move the session back (without
    /// a pin, the session follows the newest authenticated frame's source). The peer moves when
    /// it receives the first authenticated frame from the new path. Segments already sent keep
    /// their size, so move only to a path whose maximum datagram is at least the old one's.
    pub fn set_remote(&mut self, remote: Remote) {
        let s = self.s();
        s.remote = remote;
        s.remote_pinned = true;
        self.ep.mark_ready(self.ep.last_now, self.handle);
    }

    /// Queues a KEEPALIVE: an ack-eliciting frame that carries nothing, sent at once (at most one
    /// is queued at a time). The peer's acknowledgement refreshes the RTT; and a driver that
    /// moved to a new local address (a rebound socket) pings every session so that peers follow
    /// at once rather than at the next data or keepalive interval.
    pub fn ping(&mut self) -> Result<(), SendError> {
        let s = self.s();
        if matches!(s.state, State::Closing) {
            return Err(SendError::Closing);
        }
        s.queue_keepalive();
        self.ep.mark_ready(self.ep.last_now, self.handle);
        Ok(())
    }

    /// Opens a stream. Usable before the handshake completes (frames wait until it does).
    pub fn open_stream(&mut self, mode: StreamMode) -> Result<StreamId, StreamError> {
        let s = self.s();
        if matches!(s.state, State::Closing) {
            return Err(StreamError::Closing);
        }
        let id = s.streams.open(mode)?;
        s.grant_stream_credit(id.0);
        self.ep.mark_ready(self.ep.last_now, self.handle);
        Ok(id)
    }

    /// The next stream the peer opened that was not accepted yet.
    pub fn accept_stream(&mut self) -> Option<StreamId> {
        self.s().streams.accept_queue.pop_front().map(StreamId)
    }

    /// The mode of an open stream.
    pub fn stream_mode(&mut self, stream: StreamId) -> Option<StreamMode> {
        self.s().streams.map.get(&stream.0).map(|st| st.mode)
    }

    fn stream(&mut self, stream: StreamId) -> Result<&mut crate::stream::Stream, StreamError> {
        let s = self.s();
        if matches!(s.state, State::Closing) {
            return Err(StreamError::Closing);
        }
        s.streams.map.get_mut(&stream.0).ok_or(StreamError::UnknownStream(stream.0))
    }

    /// The common part of `write` and `write_bytes`: checks, hands `len` bytes to `take`, and
    /// schedules sending.
    fn write_with(
        &mut self,
        stream: StreamId,
        len: usize,
        take: impl FnOnce(&mut crate::stream::SendHalf, Instant) -> usize,
    ) -> Result<usize, StreamError> {
        let now = self.ep.last_now;
        let st = self.stream(stream)?;
        if st.send.is_finishing() || st.reset_sent.is_some() || st.reset_owed.is_some() {
            return Err(StreamError::Finished);
        }
        let n = take(&mut st.send, now);
        if n == 0 && len > 0 {
            return Err(StreamError::Blocked);
        }
        self.s().streams.queue_send(stream.0);
        self.ep.mark_ready(now, self.handle);
        Ok(n)
    }

    /// Writes bytes to a stream; returns how many were taken (all of them unless the send buffer
    /// filled up). `Blocked` when none could be taken: wait for `Event::StreamWritable`.
    pub fn write(&mut self, stream: StreamId, data: &[u8]) -> Result<usize, StreamError> {
        self.write_with(stream, data.len(), |send, now| send.write(now, data))
    }

    /// Like [`SessionMut::write`], but hands `data` over without copying it (the stream keeps
    /// slices of it until acknowledged). Returns how many bytes were taken; send the rest
    /// (`data.slice(n..)`) after `Event::StreamWritable`.
    pub fn write_bytes(&mut self, stream: StreamId, data: &Bytes) -> Result<usize, StreamError> {
        self.write_with(stream, data.len(), |send, now| send.write_bytes(now, data))
    }

    /// Ends the sending side of a stream after what was written (FIN). Streams are
    /// bidirectional: a stream is forgotten once both sides finished (or reset) their direction,
    /// the FIN was acknowledged, and this side read everything, so finish streams you only read.
    pub fn finish(&mut self, stream: StreamId) -> Result<(), StreamError> {
        let st = self.stream(stream)?;
        if st.send.is_finishing() || st.reset_sent.is_some() || st.reset_owed.is_some() {
            return Err(StreamError::Finished);
        }
        st.send.finish();
        self.s().streams.queue_send(stream.0);
        self.ep.mark_ready(self.ep.last_now, self.handle);
        Ok(())
    }

    /// Abandons the sending side of a stream: unsent and unacknowledged data is dropped and the
    /// peer gets STREAM_CLOSE with `code`.
    pub fn reset(&mut self, stream: StreamId, code: u32) -> Result<(), StreamError> {
        let st = self.stream(stream)?;
        if st.reset_sent.is_some() || st.reset_owed.is_some() {
            return Err(StreamError::Finished);
        }
        st.send.abandon();
        st.reset_owed = Some(code);
        self.s().streams.queue_control(stream.0);
        self.ep.mark_ready(self.ep.last_now, self.handle);
        Ok(())
    }

    /// Reads the next piece of a stream: data (a zero-copy slice of a received datagram), a
    /// skipped gap (live streams), or the end. `Ok(None)` when nothing is ready yet: wait for
    /// `Event::StreamReadable`.
    pub fn read(&mut self, stream: StreamId) -> Result<Option<StreamRead>, StreamError> {
        let st = self.stream(stream)?;
        if let Some(code) = st.peer_reset {
            return Err(StreamError::Reset(code));
        }
        let Some(r) = st.recv.read() else { return Ok(None) };
        let consumed = match &r {
            StreamRead::Data(b) => b.len() as u64,
            StreamRead::Skipped { bytes, .. } => *bytes,
            StreamRead::Finished => 0,
        };
        let s = self.s();
        s.streams.read_total += consumed;
        s.grant_stream_credit(stream.0);
        if matches!(r, StreamRead::Finished) {
            s.streams.collect(stream.0);
        }
        self.ep.mark_ready(self.ep.last_now, self.handle);
        Ok(Some(r))
    }

    /// Closes the session with a code and reason the peer receives in DISCONNECT. Custom frames
    /// queued before are sent first; stream data not yet acknowledged is abandoned (finish streams
    /// and wait for `Event::StreamFinished` on the peer, or for acknowledgement, before closing).
    /// A session still handshaking is dropped at once (no keys yet).
    /// `Event::SessionClosed` follows once DISCONNECT has been written by `poll_transmit`.
    pub fn close(mut self, now: Instant, code: u32, reason: &str) {
        let handle = self.handle;
        let s = self.s();
        match s.state {
            State::Established => {
                s.state = State::Closing;
                s.queue.push_back(Outgoing::Disconnect { code, reason: String::from(reason) });
                self.ep.mark_ready(now, handle);
            }
            State::Handshaking(_) => {
                self.ep.close_now(now, handle, CloseReason::ClosedLocally { code, reason: String::from(reason) });
            }
            State::Closing => {}
        }
    }
}
