//! Reliable messages in a build without the `messages` feature: the application's messages are
//! refused with [`MessageError::NotBuilt`], and a lane the peer opens is refused like a stream
//! past the limit (STREAM_CLOSE with `STREAM_REFUSED`, so the peer reports
//! `MessageRefusal::LaneRefused`); whatever arrives on it is read and dropped, so its credit
//! keeps flowing. Same interface as `messages.rs`.

use bytes::Bytes;

use super::{Ctx, Session, Then};
use crate::config::EndpointConfig;
use crate::message::{Channel, Message, MessageError, MessageId};
use crate::stream::{StreamRead, STREAM_REFUSED};

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
        if let Some(st) = self.streams.map.get_mut(&id) {
            st.send.abandon();
            st.reset_owed = Some(STREAM_REFUSED);
            st.peer_reset = Some(STREAM_REFUSED);
            self.streams.queue_control(id);
        }
        true
    }

    /// Drops what arrives on a refused lane.
    pub(super) fn on_lane_data(&mut self, _: &mut Ctx<'_>, id: u32) {
        let mut consumed = 0u64;
        while let Some(StreamRead::Data(b)) = self.streams.map.get_mut(&id).and_then(|st| st.recv.read()) {
            consumed += b.len() as u64;
        }
        self.streams.read_total += consumed;
        self.grant_stream_credit(id);
    }

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
