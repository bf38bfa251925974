//! Reliable messages: whole, ordered byte messages of any size up to a configured limit, each
//! addressed to a [`Channel`] (a custom frame type or a routed name), beside the best-effort
//! custom frames and routes.
//!
//! Each side sends its messages on one *message lane*: a reliable stream marked with the MESSAGE
//! flag, opened at its first message and kept for the session. The lane gives messages
//! retransmission, congestion control and flow control; the receiver reassembles each one and
//! hands it over whole (`SessionMut::recv_message`). Messages arrive in the order they were sent,
//! whatever their channel, so a large message delays the messages sent after it: put bulk data
//! that must not hold messages back on a stream of its own. The receiver refuses a message
//! larger than its `max_message_size`, or addressed to a name it does not serve, and tells the
//! sender (`Event::MessagesRefused`); the lane goes on. This module owns the public types; the
//! session's share is `session::messages`, the encoding `wire::message`.

use bytes::Bytes;

use crate::names::NameAddress;

/// Where a message goes: a custom frame type or a routed name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// A custom frame type, 0x80–0xFF: the message is the reliable counterpart of a frame of
    /// that type.
    Frame(u8),
    /// A name the peer serves: the reliable counterpart of a route to it.
    Name(NameAddress),
}

impl Channel {
    /// The channel of a routed name.
    pub fn name(name: &str) -> Channel {
        Channel::Name(NameAddress::of(name))
    }
}

/// One whole message, from `SessionMut::recv_message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Where the sender addressed it.
    pub channel: Channel,
    /// Its bytes.
    pub payload: Bytes,
}

/// Numbers the messages one side of a session sends, from 0, in the order `send_message` took
/// them; `Event::MessagesRefused` names them by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

/// Why the peer did not deliver messages this node sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageRefusal {
    /// The message is larger than the peer's `max_message_size`.
    TooLarge,
    /// The peer does not serve the name the message was addressed to.
    UnknownName,
    /// The peer refused the message lane itself (it had `max_concurrent_streams` streams of this
    /// node open, or reset the lane with this code): none of the messages sent on that lane
    /// were delivered. The next `send_message` opens a new lane.
    LaneRefused(u32),
}

impl core::fmt::Display for MessageRefusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MessageRefusal::TooLarge => f.write_str("larger than the peer's max_message_size"),
            MessageRefusal::UnknownName => f.write_str("the peer serves no such name"),
            MessageRefusal::LaneRefused(code) => write!(f, "the peer refused the message lane (code {code:#x})"),
        }
    }
}

/// Why a message was not queued. Nothing was queued when this is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Types 0x01–0x7F belong to STT; message channels use 0x80–0xFF.
    #[error("frame type {0:#04x} is reserved for STT; message channels use 0x80-0xFF")]
    ReservedFrameType(u8),
    /// The message is larger than this node's `max_message_size`.
    #[error("message of {len} bytes exceeds max_message_size ({max} bytes); raise it on both nodes or use a stream")]
    TooLarge {
        /// Length given.
        len: usize,
        /// This node's limit.
        max: usize,
    },
    /// The lane's send buffer is full: wait for `Event::MessageWritable`, then send again.
    #[error("message lane blocked: the send buffer is full until the peer acknowledges or grants credit")]
    Blocked,
    /// The lane could not be opened: `max_concurrent_streams` streams of this side are open.
    #[error("too many open streams to open the message lane: finish some or raise max_concurrent_streams")]
    TooManyStreams,
    /// The session has used all of its stream ids.
    #[error("the session has used all of its stream ids: open a new session")]
    IdsExhausted,
    /// The session is closing.
    #[error("session is closing")]
    Closing,
    /// This build of `stt-proto` has no reliable messages (feature `messages`).
    #[error("this build has no reliable messages: build stt-proto with the `messages` feature")]
    NotBuilt,
}

/// What one message counts against the receive limit beyond its bytes (its place in the queue).
#[cfg(feature = "messages")]
pub(crate) const MESSAGE_OVERHEAD: usize = 64;
