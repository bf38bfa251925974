//! The application's commands on one session: custom frames, named-endpoint requests, streams
//! (open, write, finish, reset; reads are in `receive.rs`), path choice, ping and close. Each only changes the
//! session's state and queues; nothing is sent until the endpoint's `poll_transmit`. The public
//! entry point is `SessionMut`, a view of the endpoint that marks the session ready afterwards.

use alloc::string::String;
use bytes::Bytes;

use super::view::max_frame_payload;
use super::{Outgoing, Ping, Session, SessionEnd, State, Then};
use crate::config::EndpointConfig;
use crate::event::CloseReason;
use crate::names::{NameAddress, NameError, RequestId};
use crate::stream::{SendHalf, StreamError, StreamId, StreamMode};
use crate::time::Instant;
use crate::types::Remote;

/// Why [`crate::SessionMut::rotate_keys`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyUpdateError {
    /// The handshake has not completed: there is no traffic key to replace yet.
    #[error("the session is not established yet: rotate keys once SessionEstablished was reported")]
    NotEstablished,
    /// The session is closing.
    #[error("the session is closing")]
    Closing,
}

/// Why a custom frame (or a ping) was not queued. Nothing was queued when this is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
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

impl Session {
    /// Queues a custom frame (type 0x80–0xFF) behind the session's other custom frames.
    pub(crate) fn send_frame(
        &mut self,
        cfg: &EndpointConfig,
        frame_type: u8,
        payload: Bytes,
    ) -> Result<(), FrameError> {
        if frame_type < 0x80 {
            return Err(FrameError::ReservedFrameType(frame_type));
        }
        let max = max_frame_payload(cfg, &self.remote);
        if matches!(self.state, State::Closing) {
            return Err(FrameError::Closing);
        }
        if payload.len() > max {
            return Err(FrameError::TooLarge { len: payload.len(), max });
        }
        if self.custom_queued >= cfg.max_queued_frames {
            return Err(FrameError::QueueFull);
        }
        self.custom_queued += 1;
        self.queue.push_back(Outgoing::Custom { frame_type, payload });
        Ok(())
    }

    /// Numbers and queues a resolve (`route` false) or route request.
    pub(crate) fn request_name(
        &mut self,
        cfg: &EndpointConfig,
        route: bool,
        name: NameAddress,
        data: Bytes,
    ) -> Result<RequestId, NameError> {
        if route {
            let max = max_frame_payload(cfg, &self.remote) - crate::wire::names::REQUEST_HEADER_LEN;
            if data.len() > max {
                return Err(NameError::TooLarge { len: data.len(), max });
            }
        }
        if !matches!(self.state, State::Established) {
            return Err(NameError::NotEstablished);
        }
        self.names.request(route, name, data)
    }

    /// Sends to `remote` from now on, whatever the source of later frames.
    pub(crate) fn set_remote(&mut self, remote: Remote) {
        self.remote = remote;
        self.remote_pinned = true;
    }

    /// This session's own floor for [`crate::CloseReason::Unreachable`] (milliseconds, 0 for the
    /// endpoint's).
    pub(crate) fn set_unreachable_after(&mut self, after: core::time::Duration) {
        self.unreachable_after_ms = u32::try_from(after.as_millis()).unwrap_or(u32::MAX).max(1);
    }

    /// Asks for the next send key generation as soon as the rotation rules allow.
    pub(crate) fn rotate_keys(&mut self) -> Result<(), KeyUpdateError> {
        match (&self.state, self.keys.as_mut()) {
            (State::Closing, _) => Err(KeyUpdateError::Closing),
            (State::Established, Some(keys)) => {
                keys.request_rotation();
                Ok(())
            }
            _ => Err(KeyUpdateError::NotEstablished),
        }
    }

    /// Queues a KEEPALIVE (at most one at a time).
    pub(crate) fn ping(&mut self) -> Result<(), FrameError> {
        if matches!(self.state, State::Closing) {
            return Err(FrameError::Closing);
        }
        if self.ping.is_none() {
            // Every frame from here on is sent after the ping; the KEEPALIVE is one of them.
            self.ping = Ping::answered_from(self.recovery.next_pn());
        }
        self.queue_keepalive();
        Ok(())
    }

    /// Opens a local stream, labeled for the peer if `label` is not empty.
    pub(crate) fn open_stream(&mut self, mode: StreamMode, label: &[u8]) -> Result<StreamId, StreamError> {
        self.check_not_closing()?;
        let id = self.streams.open(mode, false, label)?;
        self.streams.grant_credit(id.0);
        Ok(id)
    }

    /// The next stream the peer opened that the application has not taken.
    pub(crate) fn accept_stream(&mut self) -> Option<StreamId> {
        self.streams.accept()
    }

    /// The first stream the peer opened with `label` that the application has not taken.
    pub(crate) fn accept_labeled_stream(&mut self, label: &[u8]) -> Option<StreamId> {
        self.streams.accept_labeled(label)
    }

    /// The label the peer (or this side) gave an open stream.
    pub(crate) fn stream_label(&self, stream: StreamId) -> Option<&[u8]> {
        self.streams.label(stream.0)
    }

    /// The mode of an open stream.
    pub(crate) fn stream_mode(&self, stream: StreamId) -> Option<StreamMode> {
        self.streams.mode(stream.0)
    }

    fn check_not_closing(&self) -> Result<(), StreamError> {
        match self.state {
            State::Closing => Err(StreamError::Closing),
            _ => Ok(()),
        }
    }

    /// The common part of `write` and `write_bytes`: checks, hands `len` bytes to `take`, and
    /// schedules sending.
    pub(crate) fn write_with(
        &mut self,
        now: Instant,
        stream: StreamId,
        len: usize,
        take: impl FnOnce(&mut SendHalf, Instant) -> usize,
    ) -> Result<usize, StreamError> {
        self.check_not_closing()?;
        self.streams.write_with(now, stream.0, len, take)
    }

    /// Ends the sending side of a stream after what was written (FIN).
    pub(crate) fn finish(&mut self, stream: StreamId) -> Result<(), StreamError> {
        self.check_not_closing()?;
        self.streams.finish(stream.0)
    }

    /// Abandons the sending side of a stream with `code`.
    pub(crate) fn reset(&mut self, stream: StreamId, code: u32) -> Result<(), StreamError> {
        self.check_not_closing()?;
        self.streams.reset(stream.0, code)
    }

    /// Closes the session: DISCONNECT goes out behind what is queued. A session still
    /// handshaking has no keys and ends at once.
    pub(crate) fn close(&mut self, code: u32, reason: &str) -> Then {
        match self.state {
            State::Established => {
                self.state = State::Closing;
                let disconnect = Outgoing::Disconnect { code, reason: String::from(reason) };
                if self.confirm.as_ref().is_some_and(|c| c.budget.is_some()) {
                    // Opened by 0-RTT data, its address not proven: what is queued may never get
                    // through the budget, so DISCONNECT goes first (behind CONFIRM, if queued).
                    let at = usize::from(matches!(self.queue.front(), Some(Outgoing::Confirm)));
                    self.queue.insert(at, disconnect);
                } else {
                    self.queue.push_back(disconnect);
                }
                Then::Transmit
            }
            State::Handshaking(_) => {
                Then::End(SessionEnd::Closed(CloseReason::ClosedLocally { code, reason: String::from(reason) }))
            }
            State::Closing => Then::Wait,
        }
    }
}
