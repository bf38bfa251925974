//! Reliable messages in a build without the `messages` feature: the application's messages are
//! refused with [`MessageError::NotBuilt`], and a lane the peer opens is refused like a stream
//! past the limit (STREAM_CLOSE with `close::STREAM_REFUSED`, so the peer reports
//! `MessageRefusal::LaneRefused`); it is marked reset at once, so whatever arrives on it is
//! ignored, and it is forgotten once the refusal is acknowledged. Same interface as
//! `messages.rs`.

use bytes::Bytes;

use super::{Ctx, Session, Then};
use crate::close::STREAM_REFUSED;
use crate::config::EndpointConfig;
use crate::message::{Channel, Message, MessageError, MessageId};

/// Nothing to keep.
#[derive(Debug, Default)]
pub(crate) struct Messages;

impl Session {
    pub(crate) fn send_message(&mut self, _: &EndpointConfig, _: Channel, _: Bytes) -> Result<MessageId, MessageError> {
        Err(MessageError::NotBuilt)
    }

    pub(crate) fn recv_message(&mut self, _: &mut Ctx<'_>) -> Option<Message> {
        None
    }

    /// Refuses the lane: its data is ignored from now on (as after a reset), and the stream is
    /// forgotten once the refusal is acknowledged, so refused lanes do not hold stream slots.
    pub(super) fn on_peer_lane(&mut self, id: u32) -> bool {
        self.streams.refuse_lane(id, STREAM_REFUSED);
        true
    }

    /// Never reached: a refused lane is marked reset, so its data is ignored before it is
    /// stored.
    pub(super) fn on_lane_data(&mut self, _: &mut Ctx<'_>, _: u32) {}

    pub(super) fn on_lane_reset(&mut self, _: &mut Ctx<'_>, _: u32, _: u32) {}

    pub(crate) fn after_messages_read(&mut self) -> Then {
        Then::Wait
    }

    pub(super) fn lane_broken(&self) -> bool {
        false
    }

    pub(crate) fn messages_ready(&self) -> usize {
        0
    }
}
