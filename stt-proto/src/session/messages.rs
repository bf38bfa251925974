//! A session's share of reliable messages (`crate::message`): this side's lane (opened at the
//! first message, written one whole message at a time, refusal records read back) and the
//! peer's lane (read as it arrives, reassembled into whole messages queued for the application,
//! refusals written back). Nothing is allocated before the first message in either direction.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use bytes::{Bytes, BytesMut};

use super::{Ctx, Session, State, Then};
use crate::config::EndpointConfig;
use crate::event::Event;
use crate::message::{Channel, Message, MessageError, MessageId, MessageRefusal, MESSAGE_OVERHEAD};
use crate::names::NameAddress;
use crate::stream::{SendHalf, StreamError, StreamMode, StreamRead};
use crate::wire::message::{self as wm, MAX_HEADER_LEN, REFUSAL_LEN};

/// Received messages wait for the application up to this many bytes at least, whatever
/// `max_message_size` (a queue of small messages must not stop at the first one).
const MIN_READY_BYTES: usize = 64 * 1024;

/// Both directions of a session's messages.
#[derive(Debug, Default)]
pub(crate) struct Messages {
    /// This side's lane, once a message was sent (and until the peer refuses it).
    lane: Option<u32>,
    /// Messages sent on earlier lanes: the current lane's message `i` is `MessageId(lane_base + i)`.
    lane_base: u64,
    /// Messages taken by `send_message` so far.
    sent: u64,
    /// A refusal record being read back from the lane.
    record: heapless::Vec<u8, REFUSAL_LEN>,
    /// The peer's lane, once it opened one.
    peer_lane: Option<u32>,
    /// Messages completed (delivered or refused) on the peer's lane.
    received: u64,
    /// Where the peer's lane is in its current message.
    assembly: Assembly,
    /// Whole messages not yet taken, oldest first.
    ready: VecDeque<Message>,
    /// What they count against the limit: their bytes plus `MESSAGE_OVERHEAD` each.
    ready_cost: usize,
    /// The peer broke the lane format: the session closes.
    broken: bool,
}

/// The peer's lane, between two bytes.
#[derive(Debug)]
enum Assembly {
    /// Reading a message header (kind, key, length).
    Header(heapless::Vec<u8, MAX_HEADER_LEN>),
    /// Reading a body: `left` bytes to go; a refused body is read and dropped.
    Body { channel: Channel, left: usize, parts: BytesMut, refusal: Option<MessageRefusal> },
}

impl Default for Assembly {
    fn default() -> Self {
        Assembly::Header(heapless::Vec::new())
    }
}

/// The channel a decoded header names.
fn channel_of(kind: u8, key: &[u8]) -> Option<Channel> {
    match kind {
        wm::KIND_FRAME => Some(Channel::Frame(key[0])),
        _ => Some(Channel::Name(NameAddress(key.try_into().ok()?))),
    }
}

fn reason_byte(reason: MessageRefusal) -> u8 {
    match reason {
        MessageRefusal::TooLarge => wm::REASON_TOO_LARGE,
        _ => wm::REASON_UNKNOWN_NAME,
    }
}

fn refusal_of(reason: u8) -> Option<MessageRefusal> {
    match reason {
        wm::REASON_TOO_LARGE => Some(MessageRefusal::TooLarge),
        wm::REASON_UNKNOWN_NAME => Some(MessageRefusal::UnknownName),
        _ => None,
    }
}

fn cost(m: &Message) -> usize {
    m.payload.len() + MESSAGE_OVERHEAD
}

impl Messages {
    /// Takes in the next bytes of the peer's lane: completed messages are queued (and
    /// reported), refused ones answered with a record on `reply`.
    fn feed(&mut self, mut bytes: Bytes, ctx: &mut Ctx<'_>, reply: &mut SendHalf) {
        while !bytes.is_empty() && !self.broken {
            match &mut self.assembly {
                Assembly::Header(head) => {
                    let want = match head.first() {
                        None => 1,
                        Some(&kind) => match wm::header_len(kind) {
                            Some(n) => n - head.len(),
                            None => return self.broken = true,
                        },
                    };
                    let piece = bytes.split_to(want.min(bytes.len()));
                    head.extend_from_slice(&piece).expect("within the longest header");
                    let Some(full) = wm::header_len(head[0]) else { return self.broken = true };
                    if head.len() < full {
                        continue;
                    }
                    let header =
                        wm::decode_header(head).and_then(|(kind, key, len)| Some((channel_of(kind, key)?, len)));
                    let Some((channel, len)) = header else { return self.broken = true };
                    let len = len as usize;
                    let refusal = match channel {
                        _ if len > ctx.cfg.max_message_size => Some(MessageRefusal::TooLarge),
                        Channel::Name(a) if !ctx.names.serves(&a.0) => Some(MessageRefusal::UnknownName),
                        _ => None,
                    };
                    self.assembly = Assembly::Body { channel, left: len, parts: BytesMut::new(), refusal };
                    if len == 0 {
                        self.complete(ctx, reply, Bytes::new());
                    }
                }
                Assembly::Body { left, parts, refusal, .. } => {
                    let piece = bytes.split_to((*left).min(bytes.len()));
                    let whole_in_one = parts.is_empty() && piece.len() == *left;
                    *left -= piece.len();
                    if *left > 0 {
                        if refusal.is_none() {
                            // Grown as the data arrives, never from the peer's claim.
                            parts.extend_from_slice(&piece);
                        }
                        continue;
                    }
                    let body = if refusal.is_some() {
                        Bytes::new()
                    } else if whole_in_one {
                        // The whole body in one piece: kept without copying.
                        piece
                    } else {
                        parts.extend_from_slice(&piece);
                        core::mem::take(parts).freeze()
                    };
                    self.complete(ctx, reply, body);
                }
            }
        }
    }

    /// The body being read is whole: queue it, or answer its refusal.
    fn complete(&mut self, ctx: &mut Ctx<'_>, reply: &mut SendHalf, body: Bytes) {
        let Assembly::Body { channel, refusal, .. } = core::mem::take(&mut self.assembly) else { return };
        match refusal {
            Some(reason) => {
                // A record goes whole or not at all (a cut one would misalign the next ones). It
                // does not fit only when the peer has not acknowledged a send buffer's worth of
                // records: it is not reading its lane, and learns nothing more.
                if reply.capacity() >= REFUSAL_LEN as u64 {
                    reply.write(ctx.now, &wm::encode_refusal(self.received, reason_byte(reason)));
                }
            }
            None => {
                let m = Message { channel, payload: body };
                self.ready_cost += cost(&m);
                self.ready.push_back(m);
                ctx.events.push_back(Event::MessageReadable { session: ctx.handle });
            }
        }
        self.received += 1;
    }

    /// Takes in refusal records read back from this side's lane.
    fn read_refusals(&mut self, ctx: &mut Ctx<'_>, bytes: &[u8]) {
        let on_lane = self.sent - self.lane_base;
        for &b in bytes {
            self.record.push(b).expect("emptied when full");
            let Ok(record) = <&[u8; REFUSAL_LEN]>::try_from(self.record.as_slice()) else { continue };
            let (index, reason) = wm::decode_refusal(record);
            match refusal_of(reason) {
                Some(reason) if index < on_lane => ctx.events.push_back(Event::MessagesRefused {
                    session: ctx.handle,
                    first: MessageId(self.lane_base + index),
                    count: 1,
                    reason,
                }),
                _ => self.broken = true,
            }
            self.record.clear();
        }
    }
}

impl Session {
    /// Queues one whole message on this side's lane, opening the lane at the first message.
    pub(crate) fn send_message(
        &mut self,
        cfg: &EndpointConfig,
        channel: Channel,
        payload: Bytes,
    ) -> Result<MessageId, MessageError> {
        if let Channel::Frame(t) = channel {
            if t < 0x80 {
                return Err(MessageError::ReservedFrameType(t));
            }
        }
        if matches!(self.state, State::Closing) {
            return Err(MessageError::Closing);
        }
        if payload.len() > cfg.max_message_size {
            return Err(MessageError::TooLarge { len: payload.len(), max: cfg.max_message_size });
        }
        let m = self.messages.get_or_insert_with(Box::default);
        let lane = match m.lane {
            Some(lane) => lane,
            None => {
                let id = self.streams.open(StreamMode::Reliable, true, &[]).map_err(|e| match e {
                    StreamError::IdsExhausted => MessageError::IdsExhausted,
                    _ => MessageError::TooManyStreams,
                })?;
                m.lane = Some(id.0);
                m.lane_base = m.sent;
                m.record.clear();
                self.streams.grant_credit(id.0);
                id.0
            }
        };
        let m = self.messages.as_deref_mut().expect("created above");
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = match &channel {
            Channel::Frame(t) => wm::encode_header(wm::KIND_FRAME, &[*t], payload.len() as u32, &mut head),
            Channel::Name(a) => wm::encode_header(wm::KIND_NAME, &a.0, payload.len() as u32, &mut head),
        };
        if !self.streams.append_message(lane, &head[..n], &payload) {
            return Err(MessageError::Blocked);
        }
        m.sent += 1;
        Ok(MessageId(m.sent - 1))
    }

    /// The oldest whole message not yet taken; taking it makes room for the lane to go on.
    pub(crate) fn recv_message(&mut self, ctx: &mut Ctx<'_>) -> Option<Message> {
        let m = self.messages.as_deref_mut()?;
        let message = m.ready.pop_front()?;
        m.ready_cost -= cost(&message);
        self.pump_messages(ctx);
        Some(message)
    }

    /// The peer opened a message lane. False if it already has one (a broken peer).
    pub(super) fn on_peer_lane(&mut self, id: u32) -> bool {
        let m = self.messages.get_or_insert_with(Box::default);
        if m.peer_lane.is_some() {
            m.broken = true;
            return false;
        }
        m.peer_lane = Some(id);
        m.received = 0;
        m.assembly = Assembly::default();
        true
    }

    /// New bytes arrived on a message lane: refusal records on this side's, messages on the
    /// peer's.
    pub(super) fn on_lane_data(&mut self, ctx: &mut Ctx<'_>, id: u32) {
        let Some(m) = self.messages.as_deref_mut() else { return };
        if m.peer_lane == Some(id) {
            return self.pump_messages(ctx);
        }
        if m.lane != Some(id) {
            return;
        }
        while let Some(r) = self.streams.read_lane(id) {
            match r {
                StreamRead::Data(b) => m.read_refusals(ctx, &b),
                StreamRead::Skipped { .. } | StreamRead::Finished => break,
            }
        }
        self.streams.grant_credit(id);
    }

    /// Reads the peer's lane into whole messages while the ready queue has room, granting the
    /// credit the reads free.
    fn pump_messages(&mut self, ctx: &mut Ctx<'_>) {
        let Session { messages, streams, .. } = self;
        let Some(m) = messages.as_deref_mut() else { return };
        let Some(id) = m.peer_lane else { return };
        let limit = ctx.cfg.max_message_size.max(MIN_READY_BYTES);
        while m.ready_cost < limit && !m.broken {
            match streams.read_lane(id) {
                None => break,
                Some(StreamRead::Data(b)) => {
                    streams.write_lane(id, |send| m.feed(b, ctx, send));
                }
                Some(StreamRead::Skipped { .. }) => m.broken = true,
                Some(StreamRead::Finished) => {
                    // The peer ended its lane; a message cut short by the end is a broken lane.
                    m.broken |= !matches!(&m.assembly, Assembly::Header(h) if h.is_empty());
                    m.peer_lane = None;
                    streams.finish_lane(id);
                    break;
                }
            }
        }
        streams.grant_credit(id);
        streams.collect(id);
    }

    /// The peer reset a message lane. This side's lane: nothing on it was delivered, and the next
    /// message opens a new one. The peer's lane: its partial message is dropped.
    pub(super) fn on_lane_reset(&mut self, ctx: &mut Ctx<'_>, id: u32, code: u32) {
        let Some(m) = self.messages.as_deref_mut() else { return };
        if m.lane == Some(id) {
            m.lane = None;
            let count = m.sent - m.lane_base;
            if count > 0 {
                let reason = MessageRefusal::LaneRefused(code);
                let first = MessageId(m.lane_base);
                ctx.events.push_back(Event::MessagesRefused { session: ctx.handle, first, count, reason });
            }
            m.lane_base = m.sent;
            self.streams.give_up_sending(id);
            // A sender waiting for room on the refused lane may go on: its next message opens a
            // new lane.
            ctx.events.push_back(Event::MessageWritable { session: ctx.handle });
        } else if m.peer_lane == Some(id) {
            m.peer_lane = None;
            m.assembly = Assembly::default();
            self.streams.give_up_sending(id);
        }
    }

    /// What the endpoint does after the application took messages: close if the lane turned out
    /// broken, else send the credit the reads freed.
    pub(crate) fn after_messages_read(&mut self) -> Then {
        if self.lane_broken() && matches!(self.state, State::Established) {
            return self.close(crate::close::MESSAGE_LANE_MALFORMED, "malformed message lane");
        }
        Then::Transmit
    }

    /// True once the peer broke the lane format (the session then closes).
    pub(super) fn lane_broken(&self) -> bool {
        self.messages.as_ref().is_some_and(|m| m.broken)
    }

    /// Messages waiting to be taken.
    pub(crate) fn messages_ready(&self) -> usize {
        self.messages.as_ref().map_or(0, |m| m.ready.len())
    }
}
