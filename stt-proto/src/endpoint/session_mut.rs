//! [`SessionMut`]: the application's commands on one session, as a view of the endpoint.
//!
//! Each command is the session's own (`session::commands`); this view finds the session, passes
//! what the command needs of the endpoint (configuration, time), and, in one place for every
//! command ([`SessionMut::command`]), puts the session on the ready queue when the command
//! changed it, so that the next `poll_transmit` sends what it queued.

use bytes::Bytes;

use super::Endpoint;
use crate::config::EndpointConfig;
use crate::handshake::initiator::EarlyDataError;
use crate::message::{Channel, Message, MessageError, MessageId};
use crate::names::{NameAddress, NameError, RequestId};
use crate::session::{FrameError, KeyUpdateError, Session, SessionRef, Then};
use crate::stream::{StreamError, StreamId, StreamMode, StreamRead};
use crate::time::Instant;
use crate::types::{Remote, Role, SessionHandle};

/// Commands on a session. Obtained from [`Endpoint::session_mut`]; nothing is sent until the
/// next [`Endpoint::poll_transmit`].
pub struct SessionMut<'a> {
    ep: &'a mut Endpoint,
    handle: SessionHandle,
}

/// A command that succeeded changed the session.
fn succeeded<T, E>(r: &Result<T, E>) -> bool {
    r.is_ok()
}

impl<'a> SessionMut<'a> {
    pub(super) fn new(ep: &'a mut Endpoint, handle: SessionHandle) -> Self {
        SessionMut { ep, handle }
    }

    fn s(&mut self) -> &mut Session {
        self.ep.sessions.get_mut(self.handle).expect("SessionMut is only made for live sessions")
    }

    /// Runs a command on the session; if `changed` says the result changed it, the session goes
    /// on the ready queue (once) so the next `poll_transmit` sends what the command queued.
    fn command<T, E>(
        &mut self,
        changed: fn(&Result<T, E>) -> bool,
        f: impl FnOnce(&mut Session, &EndpointConfig, Instant) -> Result<T, E>,
    ) -> Result<T, E> {
        let now = self.ep.last_now;
        let s = self.ep.sessions.get_mut(self.handle).expect("SessionMut is only made for live sessions");
        let r = f(s, &self.ep.config, now);
        if changed(&r) {
            self.ep.after(now, self.handle, Then::Transmit);
        }
        r
    }

    /// Read-only view.
    pub fn as_ref(&self) -> SessionRef<'_> {
        self.ep.session(self.handle).expect("SessionMut is only made for live sessions")
    }

    /// Queues a custom frame (type 0x80–0xFF). It is sent encrypted in order with the session's
    /// other custom frames; before the handshake completes it waits in the queue. Delivery is
    /// best-effort, like a datagram: a frame lost on the network is not retransmitted.
    pub fn send_frame(&mut self, frame_type: u8, payload: impl Into<Bytes>) -> Result<(), FrameError> {
        let payload = payload.into();
        self.command(succeeded, |s, cfg, _| s.send_frame(cfg, frame_type, payload))
    }

    /// Queues one whole message of up to `max_message_size` bytes to `channel`: reliable and
    /// ordered, unlike `send_frame` and `route`. The peer takes it whole with
    /// [`SessionMut::recv_message`] (announced by `Event::MessageReadable`), in the order this
    /// side sent its messages, whatever their channel. The returned id names the message if the
    /// peer refuses it (`Event::MessagesRefused`: too large for the peer, or a name it does not
    /// serve). `Blocked` when the lane's send buffer is full: wait for `Event::MessageWritable`.
    /// The payload is kept without copying until acknowledged. Usable before the handshake
    /// completes.
    pub fn send_message(&mut self, channel: Channel, payload: impl Into<Bytes>) -> Result<MessageId, MessageError> {
        let payload = payload.into();
        self.command(succeeded, |s, cfg, _| s.send_message(cfg, channel, payload))
    }

    /// The oldest whole message the peer sent that was not taken yet. Taking messages makes room
    /// for more: the peer's lane stops (by flow control) while `max_message_size` bytes of
    /// messages wait here.
    pub fn recv_message(&mut self) -> Option<Message> {
        let now = self.ep.last_now;
        let (s, mut ctx) =
            self.ep.session_and_ctx(now, self.handle).expect("SessionMut is only made for live sessions");
        let m = s.recv_message(&mut ctx)?;
        let then = s.after_messages_read();
        self.ep.after(now, self.handle, then);
        Some(m)
    }

    /// Asks the peer whether it serves `name`. The answer comes as `Event::NameReply` with the
    /// returned id: `NameReply::Ok` or `NameReply::UnknownName`. The request is repeated if lost.
    pub fn resolve(&mut self, name: NameAddress) -> Result<RequestId, NameError> {
        self.command(succeeded, |s, cfg, _| s.request_name(cfg, false, name, Bytes::new()))
    }

    /// Routes `data` to `name` on the peer. The answer comes as `Event::NameReply`: `Ok` once the
    /// bytes are in the name's queue (at most once, even if the request had to be repeated),
    /// `UnknownName`, or `QueueFull` (nothing was queued; send again later). At most
    /// `max_route_payload` bytes; routed data counts against the congestion window.
    pub fn route(&mut self, name: NameAddress, data: impl Into<Bytes>) -> Result<RequestId, NameError> {
        let data = data.into();
        self.command(succeeded, |s, cfg, _| s.request_name(cfg, true, name, data))
    }

    /// Sends this session's frames to `remote` from now on, for example after the driver opened
    /// a WebSocket connection to the peer to replace a UDP path. The choice is pinned: frames
    /// still arriving on the old path are accepted but no longer move the session back (without
    /// a pin, the session follows the newest authenticated frame's source, after validating it).
    /// The peer moves when it receives the first authenticated frame from the new path (after
    /// validating it). Stream segments never exceed a UDP datagram, so a move either way keeps
    /// every segment in flight sendable.
    pub fn set_remote(&mut self, remote: Remote) {
        let _ = self.command(succeeded, |s, _, _| {
            s.set_remote(remote);
            Ok::<(), ()>(())
        });
    }

    /// How long this session must hear nothing before its unanswered probes end it as
    /// [`crate::CloseReason::Unreachable`], instead of
    /// [`crate::EndpointConfig::unreachable_after`]: for a session whose driver has a better
    /// move than giving up first (a fallback to another transport).
    pub fn set_unreachable_after(&mut self, after: core::time::Duration) {
        let _ = self.command(succeeded, |s, _, _| {
            s.set_unreachable_after(after);
            Ok::<(), ()>(())
        });
    }

    /// Checks whether the peer answers at `remote` (for example its UDP address, while the
    /// session runs over WebSocket): PATH_CHALLENGE goes there, at most twice, a probe timeout
    /// apart, and if the peer's PATH_RESPONSE comes back from `remote` the session moves there
    /// (`Event::SessionMigrated`), even if a `set_remote` had pinned it elsewhere, and is pinned
    /// there (as by `set_remote`: the application chose the path). The peer, seeing authentic
    /// frames from a new address, validates it in turn and moves too. Nothing moves if no answer comes; frames in flight on the old path are still
    /// accepted, and stream segments always fit a UDP datagram, so nothing is lost either way.
    /// Call it again to retry.
    pub fn probe_path(&mut self, remote: Remote) {
        let now = self.ep.last_now;
        if let Some((s, mut ctx)) = self.ep.session_and_ctx(now, self.handle) {
            s.request_probe(&mut ctx, remote);
            self.ep.after(now, self.handle, Then::Transmit);
        }
    }

    /// Queues a KEEPALIVE: an ack-eliciting frame that carries nothing, sent at once (at most one
    /// is queued at a time). The peer's acknowledgement, or its acknowledgement of anything sent
    /// later, ends the ping with `Event::PingAnswered` and the round trip, less the time the peer
    /// says it held the acknowledgement back; calls while a ping is outstanding share its answer.
    /// No answer comes if the peer never acknowledges (the session then ends as `Unreachable` or
    /// by idle timeout). A driver that moved to a new local address (a rebound socket) pings every
    /// session so that peers follow at once rather than at the next data or keepalive interval.
    pub fn ping(&mut self) -> Result<(), FrameError> {
        self.command(succeeded, |s, _, _| s.ping())
    }

    /// Replaces this node's send key with the next generation as soon as the rotation rules allow
    /// (the peer has confirmed the current generation, and it is at least the key retention time
    /// old), independently of the rotation policy; `Event::KeyRotated` reports it. The new key is
    /// a one-way function of the old one (see `docs/PROTOCOL.md` §6).
    pub fn rotate_keys(&mut self) -> Result<(), KeyUpdateError> {
        self.command(succeeded, |s, _, _| s.rotate_keys())
    }

    /// Seals a frame with any type, stream id, sequence, flags and payload under this session's
    /// send keys into `out` and returns its length (`None` without keys or room). Nothing is
    /// queued or tracked: the caller delivers the datagram. Feature `fuzzing` only: it lets fuzz
    /// targets reach the frame handlers inside the encryption.
    #[cfg(feature = "fuzzing")]
    pub fn seal_arbitrary_frame(
        &mut self,
        frame_type: u8,
        stream_id: u32,
        sequence: u32,
        flags: u8,
        payload: &[u8],
        out: &mut [u8],
    ) -> Option<usize> {
        let header = (crate::wire::FrameType(frame_type), stream_id, sequence, crate::wire::Flags(flags));
        self.command(|_| false, |s, cfg, now| s.seal_arbitrary(now, cfg, out, header, payload).ok_or(())).ok()
    }

    /// Opens a stream. Usable before the handshake completes (frames wait until it does).
    pub fn open_stream(&mut self, mode: StreamMode) -> Result<StreamId, StreamError> {
        self.command(succeeded, |s, _, _| s.open_stream(mode, &[]))
    }

    /// Opens a stream with a label that says what it carries (1 to
    /// [`crate::MAX_STREAM_LABEL`] bytes, never interpreted): the peer reads it before the
    /// stream's data ([`SessionRef::stream_label`], [`SessionMut::accept_labeled_stream`]).
    /// [`StreamError::LabelsUnsupported`] if the peer's version of STT has no labels, or before
    /// the handshake completed (the peer's version is not known yet).
    pub fn open_labeled_stream(&mut self, mode: StreamMode, label: &[u8]) -> Result<StreamId, StreamError> {
        if label.is_empty() {
            return Err(StreamError::BadLabel(0));
        }
        self.command(succeeded, |s, _, _| s.open_stream(mode, label))
    }

    /// The next stream the peer opened that was not accepted yet.
    pub fn accept_stream(&mut self) -> Option<StreamId> {
        self.s().accept_stream()
    }

    /// The first stream the peer opened with `label` that was not accepted yet; streams with
    /// other labels, or none, stay for [`SessionMut::accept_stream`].
    pub fn accept_labeled_stream(&mut self, label: &[u8]) -> Option<StreamId> {
        self.s().accept_labeled_stream(label)
    }

    /// The mode of an open stream.
    pub fn stream_mode(&mut self, stream: StreamId) -> Option<StreamMode> {
        self.s().stream_mode(stream)
    }

    /// Writes bytes to a stream; returns how many were taken (all of them unless the send buffer
    /// filled up). `Blocked` when none could be taken: wait for `Event::StreamWritable`.
    pub fn write(&mut self, stream: StreamId, data: &[u8]) -> Result<usize, StreamError> {
        self.command(succeeded, |s, _, now| s.write_with(now, stream, data.len(), |send, now| send.write(now, data)))
    }

    /// Like [`SessionMut::write`], but hands `data` over without copying it (the stream keeps
    /// slices of it until acknowledged). Returns how many bytes were taken; send the rest
    /// (`data.slice(n..)`) after `Event::StreamWritable`.
    pub fn write_bytes(&mut self, stream: StreamId, data: &Bytes) -> Result<usize, StreamError> {
        self.command(succeeded, |s, _, now| {
            s.write_with(now, stream, data.len(), |send, now| send.write_bytes(now, data))
        })
    }

    /// Lets what the application queues on this session before its INIT goes out (custom
    /// frames, messages, stream data, as much as fits beside the INIT in one datagram) travel
    /// with it as 0-RTT data, when the handshake resumes with a ticket: the responder gets it
    /// half a round trip after the INIT left instead of one and a half. Call it right after
    /// [`Endpoint::connect_to`], before the first `poll_transmit`.
    ///
    /// 0-RTT data is delivered at most once (each ticket opens one session, and the responder
    /// records it used), but it is not forward-secret until the handshake completes: whoever
    /// later gets the ticket's secret and the shared seed can read it. If the responder does not
    /// take the ticket (a restart, its load, expiry) the handshake takes its usual course, and
    /// stream data and messages go again under the session's keys; custom frames are sent once,
    /// as always. Errors: [`EarlyDataError::NotResumed`] when no ticket is used,
    /// [`EarlyDataError::TooLate`] after the INIT went.
    pub fn allow_early_data(&mut self) -> Result<(), EarlyDataError> {
        let s = self.s();
        if s.role() == Role::Responder {
            return Err(EarlyDataError::NotResumed);
        }
        match s.handshake_mut() {
            Some(h) => h.allow_early_data(),
            None => Err(EarlyDataError::TooLate),
        }
    }

    /// Ends the sending side of a stream after what was written (FIN). Streams are
    /// bidirectional: a stream is forgotten once both sides finished (or reset) their direction,
    /// the FIN was acknowledged, and this side read everything, so finish streams you only read.
    pub fn finish(&mut self, stream: StreamId) -> Result<(), StreamError> {
        self.command(succeeded, |s, _, _| s.finish(stream))
    }

    /// Abandons the sending side of a stream: unsent and unacknowledged data is dropped and the
    /// peer gets STREAM_CLOSE with `code`.
    pub fn reset(&mut self, stream: StreamId, code: u32) -> Result<(), StreamError> {
        self.command(succeeded, |s, _, _| s.reset(stream, code))
    }

    /// Reads the next piece of a stream: data (a zero-copy slice of a received datagram), a
    /// skipped gap (live streams), or the end. `Ok(None)` when nothing is ready yet: wait for
    /// `Event::StreamReadable`.
    pub fn read(&mut self, stream: StreamId) -> Result<Option<StreamRead>, StreamError> {
        self.command(|r| matches!(r, Ok(Some(_))), |s, _, _| s.read(stream))
    }

    /// Closes the session with a code and reason the peer receives in DISCONNECT. Custom frames
    /// queued before are sent first; stream data not yet acknowledged is abandoned (finish streams
    /// and wait for `Event::StreamFinished` on the peer, or for acknowledgement, before closing).
    /// A session still handshaking is dropped at once (no keys yet).
    /// `Event::SessionClosed` follows once DISCONNECT has been written by `poll_transmit`.
    pub fn close(mut self, now: Instant, code: u32, reason: &str) {
        let then = self.s().close(code, reason);
        self.ep.after(now, self.handle, then);
    }
}
