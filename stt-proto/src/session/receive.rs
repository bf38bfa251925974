//! The receiving direction of a session: one encrypted frame in, state and events out, and the
//! application's reads of what arrived.
//!
//! [`Session::handle_frame`] opens the frame in place (replay window, key phase, AEAD), records
//! its packet number for acknowledgement (the `ack` module below), confirms a responder's
//! session on the initiator's first authentic frame, starts validating a new address when the
//! newest frame came from elsewhere, and hands the payload to its owner: DISCONNECT ends the
//! session, custom frames become events, named-endpoint frames go to `names.rs`, and DATA,
//! STREAM_OPEN, STREAM_CLOSE, MAX_DATA and ACK update the streams and the recovery state here
//! (message lanes' data goes on to `messages.rs`). [`Session::read`] hands the application the
//! next piece of a stream, and the credit the read earns goes out with the next datagram.

use alloc::boxed::Box;
use bytes::{Bytes, BytesMut};

use super::keys::OpenFailure;
use super::Session;
use super::{apply_outcome, Ctx, Outgoing, PathProbe, SessionEnd, State, Then};
use crate::close;
use crate::event::{CloseReason, Event};
use crate::stream::{Delivered, PeerReset, PeerStream, StreamError, StreamId, StreamRead};
use crate::types::{Direction, Remote};
use crate::wire::control::Disconnect;
use crate::wire::stream::{self as ws, Ack, StreamOpen, DATA_HEADER_LEN};
use crate::wire::{Flags, FrameLayout, FrameType, Header};

/// What a frame naming a stream found.
enum Found {
    /// The stream, open (perhaps just now).
    Stream,
    /// Nothing to act on: the stream is over, or was refused.
    Ignore,
    /// The frame contradicts the stream: MESSAGE on an ordinary stream or missing on a lane,
    /// MESSAGE with LIVE, or a second lane.
    Mismatch,
}

/// What became of a received stream or recovery frame.
enum Verdict {
    Accepted,
    Malformed,
    Unsupported,
}

/// True for frame types that make the receiver send an ACK.
pub(crate) fn is_ack_eliciting(t: FrameType) -> bool {
    matches!(
        t,
        FrameType::DATA
            | FrameType::STREAM_OPEN
            | FrameType::STREAM_CLOSE
            | FrameType::MAX_DATA
            | FrameType::KEEPALIVE
            | FrameType::NEW_TICKET
            | FrameType::ENDPOINT_REGISTER
            | FrameType::ENDPOINT_RESOLVE
            | FrameType::ENDPOINT_ROUTE
    )
}

/// A payload kept for the application pins the whole datagram it came in (a zero-copy slice).
/// One under a quarter of its datagram is copied out instead, so that what a peer makes this node
/// hold stays within a few times what the credit and queue bounds count (bulk stream data, which
/// fills its datagrams, stays zero-copy).
fn unpinned(data: Bytes, datagram_len: usize) -> Bytes {
    if data.len().saturating_mul(PIN_RATIO) < datagram_len {
        Bytes::copy_from_slice(&data)
    } else {
        data
    }
}

/// How many times its own size a kept payload may pin.
const PIN_RATIO: usize = 4;

impl Session {
    /// The peer probed (a KEEPALIVE): if a credit update of this side is still unacknowledged,
    /// the peer may be blocked waiting for it (its probe timeout fired with nothing else to
    /// send), so the credit goes out again now rather than after this side's own probe timeout,
    /// which a receiver that mostly sends ACKs estimates from few samples. A duplicate update
    /// is harmless: it carries the current limit.
    fn resend_credit_in_flight(&mut self, ctx: &mut Ctx<'_>) {
        let Session { recovery, streams, names, ticket, .. } = self;
        for p in recovery.credit_in_flight() {
            super::apply_outcome(streams, names, ticket, ctx.events, ctx.handle, p, crate::recovery::Outcome::Lost);
        }
    }

    /// Opens one encrypted frame addressed to this session (decrypted in place inside `frame`)
    /// and acts on it: sealed under the session's keys, or under `early`, the key of the 0-RTT
    /// data behind the resumed INIT that made it (a responder's, in that INIT's datagram). Bad
    /// input is counted and dropped; the session goes on.
    pub(crate) fn handle_frame(
        &mut self,
        ctx: &mut Ctx<'_>,
        remote: Remote,
        mut frame: BytesMut,
        layout: &FrameLayout,
        early: Option<&crate::crypto::PacketKey>,
    ) -> Then {
        let now = ctx.now;
        let Some(keys) = self.keys.as_mut() else {
            ctx.stats.dropped.unknown_session += 1;
            return Then::Wait;
        };
        let aad = layout.aad(&frame);
        let h = &layout.header;
        let payload = &mut frame[layout.payload.clone()];
        let opened = match early {
            Some(key) => keys.open_early(key, layout.packet_number, &aad, payload, &layout.tag),
            None => keys.open(now, h.flags, layout.packet_number, &aad, payload, &layout.tag),
        };
        let opened = match opened {
            Ok(o) => o,
            Err(OpenFailure::Replayed) => {
                self.count_drop(ctx, |d| &mut d.replayed);
                return Then::Wait;
            }
            Err(OpenFailure::Authentication) => {
                self.count_drop(ctx, |d| &mut d.authentication);
                return Then::Wait;
            }
        };
        // An authentic frame from the initiator shows CONFIRM arrived: stop keeping it. (Not an
        // early one: it was sealed before CONFIRM existed.)
        if early.is_none() {
            self.confirm = None;
        }
        if !self.is_confirmed() {
            if let Some(refused) = self.confirm_by_initiator(ctx) {
                return refused;
            }
            if early.is_some() {
                // The datagram proves no address (a copy may come from anywhere): three times
                // what came until the initiator's first frame under the session's keys.
                if let Some(c) = self.confirm.as_mut() {
                    c.budget = Some(ctx.datagram_len.saturating_mul(3));
                }
            }
        }
        self.stats.frames_received += 1;
        self.stats.bytes_received += layout.len as u64;
        self.stats.last_active = now;
        let eliciting = is_ack_eliciting(h.frame_type);
        self.acks.on_received(now, layout.packet_number, eliciting, ctx.cfg.max_ack_delay);
        if let Some(generation) = opened.rotated_to {
            self.stats.key_generations.1 = generation;
            ctx.events.push_back(Event::KeyRotated { session: ctx.handle, direction: Direction::Receive, generation });
            // Tell the peer promptly that we receive with its new key, so it may rotate again.
            self.queue_keepalive();
        }
        if opened.newest && self.remote != remote && !self.remote_pinned {
            // The peer may have moved, or someone replayed its datagram from elsewhere: validate
            // the new address before sending there.
            self.probe_path(ctx, remote);
        }
        match h.frame_type {
            FrameType::KEEPALIVE => {
                // On an idle session, acknowledged at once: no data of this side's could carry
                // the ACK within the delay, and the sender is probing (a keepalive, a ping). An
                // idle session's exchange then takes one turn and no timer. Not the KEEPALIVE
                // that confirms a new session (alone, or behind the frames the initiator's
                // application queued first): the application, just told of it, may answer.
                if !ctx.confirmed && !ctx.confirming && self.is_idle() {
                    self.acks.ack_now();
                }
                self.resend_credit_in_flight(ctx);
            }
            FrameType::PATH_CHALLENGE => match <[u8; 8]>::try_from(&frame[layout.payload.clone()]) {
                // Answered on the path it came on.
                Ok(data) if remote == self.remote => self.queue.push_back(Outgoing::PathResponse(data)),
                Ok(data) => self.path_response = Some(Box::new((remote, data))),
                Err(_) => self.count_drop(ctx, |d| &mut d.malformed),
            },
            FrameType::PATH_RESPONSE => match <[u8; 8]>::try_from(&frame[layout.payload.clone()]) {
                Ok(data) => self.on_path_response(ctx, remote, data),
                Err(_) => self.count_drop(ctx, |d| &mut d.malformed),
            },
            #[cfg(feature = "resumption")]
            FrameType::NEW_TICKET => self.on_new_ticket(ctx, &frame[layout.payload.clone()]),
            FrameType::DISCONNECT => match Disconnect::decode(&frame[layout.payload.clone()]) {
                Ok(d) => {
                    let reason = CloseReason::ClosedByPeer { code: d.code, reason: d.reason.into() };
                    return Then::End(SessionEnd::Closed(reason));
                }
                Err(_) => self.count_drop(ctx, |d| &mut d.malformed),
            },
            t if t.is_custom() => {
                let payload = unpinned(frame.freeze().slice(layout.payload.clone()), ctx.datagram_len);
                ctx.events.push_back(Event::Frame { session: ctx.handle, frame_type: t.0, payload });
            }
            FrameType::ENDPOINT_REGISTER | FrameType::ENDPOINT_RESOLVE | FrameType::ENDPOINT_ROUTE => {
                let payload = unpinned(frame.freeze().slice(layout.payload.clone()), ctx.datagram_len);
                if self.names.on_frame(ctx.handle, h, payload, ctx.names, ctx.events).is_err() {
                    self.count_drop(ctx, |d| &mut d.malformed);
                }
            }
            FrameType::DATA
            | FrameType::STREAM_OPEN
            | FrameType::STREAM_CLOSE
            | FrameType::MAX_DATA
            | FrameType::ACK => {
                let payload = frame.freeze().slice(layout.payload.clone());
                match self.on_stream_frame(ctx, h, payload) {
                    Verdict::Accepted => {}
                    Verdict::Malformed => self.count_drop(ctx, |d| &mut d.malformed),
                    Verdict::Unsupported => self.count_drop(ctx, |d| &mut d.unsupported),
                }
                if self.streams.refusals_abused() && matches!(self.state, State::Established) {
                    // The peer keeps opening streams it was told it may not: end the session.
                    return self.close(close::STREAM_LIMIT_ABUSED, "too many streams opened past the limit");
                }
                if self.lane_broken() && matches!(self.state, State::Established) {
                    return self.close(close::MESSAGE_LANE_MALFORMED, "malformed message lane");
                }
            }
            _ => self.count_drop(ctx, |d| &mut d.unsupported),
        }
        Then::Transmit
    }

    /// NEW_TICKET: an initiator derives the ticket's secret and hands both to the endpoint to
    /// keep (with [`crate::EndpointConfig::resumption`]); a responder gets none (its peer is
    /// broken) and counts it unsupported, as a build without the `resumption` feature does.
    #[cfg(feature = "resumption")]
    fn on_new_ticket(&mut self, ctx: &mut Ctx<'_>, payload: &[u8]) {
        if self.role != crate::types::Role::Initiator {
            return self.count_drop(ctx, |d| &mut d.unsupported);
        }
        let Ok(t) = crate::wire::control::NewTicket::decode(payload) else {
            return self.count_drop(ctx, |d| &mut d.malformed);
        };
        if !ctx.cfg.resumption {
            return;
        }
        let mut secret = alloc::boxed::Box::new(zeroize::Zeroizing::new([0u8; 32]));
        let context = t.ticket_nonce.to_be_bytes();
        if self.export(crate::crypto::labels::RESUMPTION_EXPORT, &context, &mut **secret).is_err() {
            return;
        }
        let lifetime = core::time::Duration::from_secs(u64::from(t.lifetime_seconds));
        ctx.ticket = Some(super::ReceivedTicket { ticket: t.ticket.into(), secret, lifetime });
    }

    /// Starts validating `remote` (unless it is being validated already): a PATH_CHALLENGE goes
    /// there at the next transmit.
    fn probe_path(&mut self, ctx: &mut Ctx<'_>, remote: Remote) {
        if self.path_probe.as_ref().is_some_and(|p| p.remote == remote) {
            return;
        }
        let mut data = [0u8; 8];
        data.copy_from_slice(&ctx.rng.bytes32()[..8]);
        self.path_probe = Some(Box::new(PathProbe { remote, data, sent: 0, next_send: ctx.now, requested: false }));
    }

    /// Starts validating `remote` because the application asked (`SessionMut::probe_path`):
    /// if it answers, the session moves there.
    pub(crate) fn request_probe(&mut self, ctx: &mut Ctx<'_>, remote: Remote) {
        let mut data = [0u8; 8];
        data.copy_from_slice(&ctx.rng.bytes32()[..8]);
        self.path_probe = Some(Box::new(PathProbe { remote, data, sent: 0, next_send: ctx.now, requested: true }));
    }

    /// A PATH_RESPONSE: if it echoes the probe's bytes and came from the probed address, the
    /// address is proven and the session moves there.
    fn on_path_response(&mut self, ctx: &mut Ctx<'_>, remote: Remote, data: [u8; 8]) {
        let Some(probe) = self.path_probe.as_ref() else { return };
        if probe.data != data || probe.remote != remote {
            return;
        }
        let requested = probe.requested;
        self.path_probe = None;
        if self.remote != remote && (requested || !self.remote_pinned) {
            self.remote = remote;
            ctx.events.push_back(Event::SessionMigrated { session: ctx.handle, remote });
        }
        // The application chose this path: frames from the old one no longer move the session.
        self.remote_pinned |= requested;
    }

    /// Handles an authentic DATA, STREAM_OPEN, STREAM_CLOSE, MAX_DATA or ACK frame.
    fn on_stream_frame(&mut self, ctx: &mut Ctx<'_>, header: &Header, payload: Bytes) -> Verdict {
        let id = header.stream_id;
        let handle = ctx.handle;
        match header.frame_type {
            FrameType::ACK => {
                let Ok(ack) = Ack::decode(&payload) else { return Verdict::Malformed };
                let Session { recovery, streams, names, ticket, .. } = self;
                let events = &mut *ctx.events;
                let sample =
                    recovery.on_ack(ctx.now, &ack, |p, o| apply_outcome(streams, names, ticket, events, handle, p, o));
                if let (Some(ping), Some((newest, rtt))) = (self.ping, sample) {
                    if ping.answered_by(newest) {
                        self.ping = None;
                        ctx.events.push_back(Event::PingAnswered { session: handle, rtt });
                    }
                }
                self.note_app_limited();
                Verdict::Accepted
            }
            FrameType::DATA => self.on_data(ctx, header, payload),
            FrameType::STREAM_OPEN => {
                let Ok(open) = StreamOpen::decode(&payload) else { return Verdict::Malformed };
                let message = header.flags.has(Flags::MESSAGE);
                if message && !open.label.is_empty() {
                    return Verdict::Malformed;
                }
                match self.peer_stream(ctx, id, open.live, message, false) {
                    Found::Stream => {
                        if open.live {
                            let deadline = core::time::Duration::from_millis(u64::from(open.deadline_ms));
                            self.streams.set_live_deadline(id, deadline);
                        }
                        if self.streams.on_peer_open(id, open.label) {
                            ctx.events.push_back(Event::StreamOpened {
                                session: handle,
                                stream: StreamId(id),
                                live: open.live,
                            });
                        }
                    }
                    Found::Mismatch => return Verdict::Malformed,
                    Found::Ignore => {}
                }
                Verdict::Accepted
            }
            FrameType::STREAM_CLOSE => {
                let Ok(code) = ws::decode_stream_close(&payload) else { return Verdict::Malformed };
                // A refusal knows nothing of the stream it refuses: the MESSAGE flag only matters
                // when the frame opens a stream.
                let message = header.flags.has(Flags::MESSAGE);
                if matches!(self.peer_stream(ctx, id, false, message, false), Found::Stream | Found::Mismatch) {
                    // A held stream will get no STREAM_OPEN if its opener gave up on it: the
                    // application hears of it (and of the reset) now.
                    if self.streams.release_held(id) {
                        let live = self.streams.mode(id).is_some_and(|m| m.is_live());
                        ctx.events.push_back(Event::StreamOpened { session: handle, stream: StreamId(id), live });
                    }
                    match self.streams.on_peer_reset(id, code) {
                        Some(PeerReset::Lane) => self.on_lane_reset(ctx, id, code),
                        Some(PeerReset::Stream) => {
                            ctx.events.push_back(Event::StreamReset { session: handle, stream: StreamId(id), code });
                        }
                        None => {}
                    }
                    self.streams.collect(id);
                }
                Verdict::Accepted
            }
            FrameType::MAX_DATA => {
                let Ok(limit) = ws::decode_max_data(&payload) else { return Verdict::Malformed };
                self.streams.on_max_data(id, limit);
                Verdict::Accepted
            }
            _ => Verdict::Unsupported,
        }
    }

    /// Finds the stream a peer frame names, creating it (and reporting it, unless it is a message
    /// lane) if the peer opens a new one.
    fn peer_stream(&mut self, ctx: &mut Ctx<'_>, id: u32, live: bool, message: bool, by_data: bool) -> Found {
        if message && live {
            return Found::Mismatch;
        }
        match self.streams.peer_stream(id, live, message, by_data) {
            PeerStream::Refused | PeerStream::Over => Found::Ignore,
            PeerStream::Known { message: lane } if lane != message => Found::Mismatch,
            PeerStream::Known { .. } => Found::Stream,
            PeerStream::Created if message => {
                if !self.on_peer_lane(id) {
                    return Found::Mismatch;
                }
                self.streams.grant_credit(id);
                Found::Stream
            }
            PeerStream::Created => {
                ctx.events.push_back(Event::StreamOpened { session: ctx.handle, stream: StreamId(id), live });
                self.streams.grant_credit(id);
                Found::Stream
            }
            PeerStream::Held => {
                self.streams.grant_credit(id);
                Found::Stream
            }
        }
    }

    /// The application reads the next piece of a stream, granting credit for what was consumed
    /// (refused once the session is closing).
    pub(crate) fn read(&mut self, stream: StreamId) -> Result<Option<StreamRead>, StreamError> {
        if matches!(self.state, State::Closing) {
            return Err(StreamError::Closing);
        }
        self.streams.read(stream.0)
    }

    fn on_data(&mut self, ctx: &mut Ctx<'_>, header: &Header, payload: Bytes) -> Verdict {
        let Ok((offset, data)) = ws::decode_data(&payload) else { return Verdict::Malformed };
        let id = header.stream_id;
        match self.peer_stream(ctx, id, header.flags.has(Flags::LIVE), header.flags.has(Flags::MESSAGE), true) {
            Found::Stream => {}
            Found::Ignore => return Verdict::Accepted,
            Found::Mismatch => return Verdict::Malformed,
        }
        let data = unpinned(payload.slice(DATA_HEADER_LEN..DATA_HEADER_LEN + data.len()), ctx.datagram_len);
        let fin = header.flags.has(Flags::FIN);
        match self.streams.on_data(ctx.now, id, header.sequence, offset, data, fin) {
            Err(_) => Verdict::Malformed,
            Ok(Delivered::Ignored) => Verdict::Accepted,
            Ok(Delivered::Lane { readable }) => {
                if readable {
                    self.on_lane_data(ctx, id);
                }
                Verdict::Accepted
            }
            Ok(Delivered::Stream { readable, finished }) => {
                let stream = StreamId(id);
                if self.streams.is_held(id) {
                    // Announced with the stream, once its STREAM_OPEN arrives.
                    return Verdict::Accepted;
                }
                if readable {
                    ctx.events.push_back(Event::StreamReadable { session: ctx.handle, stream });
                }
                if finished {
                    ctx.events.push_back(Event::StreamFinished { session: ctx.handle, stream });
                }
                Verdict::Accepted
            }
        }
    }
}

// The record every authentic frame updates on its way in, read by `send.rs` when it writes an
// ACK: an inline module, so that its state stays private to it.
pub(crate) mod ack {
    //! Which packet numbers this side received, and when to acknowledge them.
    //!
    //! Every authentic frame's number is recorded (so ranges stay contiguous); ack-eliciting frames
    //! make an ACK due: at once after two of them, else after `max_ack_delay`. Up to 32 ranges are
    //! kept, the oldest forgotten first. While the numbers received form one range (nothing lost or
    //! reordered yet: every idle session, most quiet ones) it is held inline; the fixed-capacity array
    //! of 33 is allocated the first time a second range appears, and a busy session never
    //! reallocates after that.

    use core::time::Duration;

    use crate::time::Instant;
    use crate::wire::stream::{AckRange, MAX_ACK_RANGES};

    /// Up to 32 ranges, plus one spare slot that holds a new range until the oldest is dropped.
    type RangeList = heapless::Vec<(u64, u64), { MAX_ACK_RANGES + 1 }>;

    /// The ranges received: none, one held inline, or many in their array.
    #[derive(Debug)]
    enum Ranges {
        None,
        One([(u64, u64); 1]),
        Many(alloc::boxed::Box<RangeList>),
    }

    /// Received packet numbers and the ACK schedule.
    #[derive(Debug)]
    pub(crate) struct AckTracker {
        /// Ascending, disjoint, non-adjacent inclusive ranges; one spare slot holds a new range
        /// until the oldest is dropped.
        ranges: Ranges,
        unacked_eliciting: u32,
        /// Ack-eliciting frames that make an ACK due at once.
        every: u32,
        deadline: Option<Instant>,
        largest_at: Option<Instant>,
    }

    impl Default for AckTracker {
        fn default() -> Self {
            AckTracker::new(2)
        }
    }

    impl AckTracker {
        /// A tracker that makes an ACK due at once after `every` ack-eliciting frames.
        pub(crate) fn new(every: u32) -> Self {
            AckTracker {
                ranges: Ranges::None,
                unacked_eliciting: 0,
                every: every.max(1),
                deadline: None,
                largest_at: None,
            }
        }

        /// Records a received packet number.
        pub(crate) fn on_received(&mut self, now: Instant, pn: u64, eliciting: bool, max_ack_delay: Duration) {
            // A gap below this number means something was lost or reordered: acknowledge at once so
            // the sender detects it quickly.
            let out_of_order = self.ranges().last().is_some_and(|r| pn != r.1 + 1);
            self.insert(pn);
            if self.ranges().last().is_some_and(|r| r.1 == pn) {
                self.largest_at = Some(now);
            }
            if eliciting {
                self.unacked_eliciting += 1;
                if out_of_order {
                    self.unacked_eliciting = self.unacked_eliciting.max(self.every);
                }
                if self.deadline.is_none() {
                    self.deadline = Some(now + max_ack_delay);
                }
            }
        }

        /// The ranges kept, ascending.
        fn ranges(&self) -> &[(u64, u64)] {
            match &self.ranges {
                Ranges::None => &[],
                Ranges::One(one) => one,
                Ranges::Many(many) => many.as_slice(),
            }
        }

        fn insert(&mut self, pn: u64) {
            const FREE: &str = "at most 32 ranges are kept, so the spare slot is free";
            match &mut self.ranges {
                Ranges::None => {
                    self.ranges = Ranges::One([(pn, pn)]);
                    return;
                }
                Ranges::One([one]) if pn == one.1 + 1 => {
                    one.1 = pn;
                    return;
                }
                Ranges::One([one]) if one.0 <= pn && pn <= one.1 => return,
                Ranges::One([one]) => {
                    let mut many = alloc::boxed::Box::new(RangeList::new());
                    many.push(*one).expect(FREE);
                    self.ranges = Ranges::Many(many);
                }
                Ranges::Many(_) => {}
            }
            let Ranges::Many(ranges) = &mut self.ranges else { unreachable!("promoted above") };
            match ranges.last_mut() {
                Some(last) if pn == last.1 + 1 => last.1 = pn,
                Some(last) if pn > last.1 + 1 => ranges.push((pn, pn)).expect(FREE),
                None => ranges.push((pn, pn)).expect(FREE),
                _ => {
                    // Out of order: find its place and merge neighbours.
                    let i = ranges.partition_point(|r| r.1 + 1 < pn);
                    match ranges.get_mut(i) {
                        Some(r) if r.0 <= pn && pn <= r.1 => return,
                        Some(r) if pn + 1 == r.0 => r.0 = pn,
                        Some(r) if r.1 + 1 == pn => r.1 = pn,
                        _ => ranges.insert(i, (pn, pn)).expect(FREE),
                    }
                    if let (Some(&a), Some(&b)) = (ranges.get(i), ranges.get(i + 1)) {
                        if a.1 + 1 >= b.0 {
                            ranges[i] = (a.0, b.1);
                            ranges.remove(i + 1);
                        }
                    }
                    if i > 0 {
                        let (a, b) = (ranges[i - 1], ranges[i]);
                        if a.1 + 1 >= b.0 {
                            ranges[i - 1] = (a.0, b.1);
                            ranges.remove(i);
                        }
                    }
                }
            }
            while ranges.len() > MAX_ACK_RANGES {
                ranges.remove(0);
            }
        }

        /// Makes an ACK due at once (if something ack-eliciting awaits one).
        pub(crate) fn ack_now(&mut self) {
            if self.unacked_eliciting > 0 {
                self.unacked_eliciting = self.unacked_eliciting.max(self.every);
            }
        }

        /// True if an ACK should go out now.
        pub(crate) fn due(&self, now: Instant) -> bool {
            self.unacked_eliciting >= self.every || self.deadline.is_some_and(|d| d <= now)
        }

        /// True if some ack-eliciting frame is not yet acknowledged (an ACK may ride along).
        pub(crate) fn pending(&self) -> bool {
            self.unacked_eliciting > 0
        }

        /// When the delayed ACK is due.
        pub(crate) fn deadline(&self) -> Option<Instant> {
            self.deadline
        }

        /// Number of ranges an ACK would carry.
        pub(crate) fn range_count(&self) -> usize {
            self.ranges().len()
        }

        /// The ranges, largest first, and the delay since the largest arrived in microseconds. Marks
        /// everything acknowledged.
        pub(crate) fn take_ack(&mut self, now: Instant) -> (u32, impl ExactSizeIterator<Item = AckRange> + '_) {
            self.unacked_eliciting = 0;
            self.deadline = None;
            let delay = self.largest_at.map_or(0, |t| (now - t).as_micros().min(u32::MAX as u128) as u32);
            (delay, self.ranges().iter().rev().map(|&(smallest, largest)| AckRange { largest, smallest }))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        extern crate std;
        use std::vec::Vec;

        fn ranges(t: &mut AckTracker) -> Vec<(u64, u64)> {
            t.take_ack(Instant::ZERO).1.map(|r| (r.smallest, r.largest)).collect()
        }

        #[test]
        fn merges_out_of_order_numbers() {
            let mut t = AckTracker::default();
            let d = Duration::from_millis(25);
            for pn in [0, 1, 2, 5, 6, 9, 4, 3, 8, 8, 7] {
                t.on_received(Instant::ZERO, pn, true, d);
            }
            assert_eq!(ranges(&mut t), [(0, 9)]);
            let mut t = AckTracker::default();
            for pn in [10, 12, 14, 11] {
                t.on_received(Instant::ZERO, pn, false, d);
            }
            assert_eq!(ranges(&mut t), [(14, 14), (10, 12)]);
        }

        #[test]
        fn schedules_acks() {
            let mut t = AckTracker::default();
            let d = Duration::from_millis(25);
            let now = Instant::from_nanos(1);
            t.on_received(now, 0, false, d);
            assert!(!t.pending() && !t.due(now));
            t.on_received(now, 1, true, d);
            assert!(t.pending() && !t.due(now));
            assert!(t.due(now + d));
            t.on_received(now, 2, true, d);
            assert!(t.due(now));
            let _ = t.take_ack(now);
            assert!(!t.pending());
        }

        #[test]
        fn a_gap_makes_the_ack_due_at_once() {
            let mut t = AckTracker::default();
            let d = Duration::from_millis(25);
            t.on_received(Instant::ZERO, 0, true, d);
            let _ = t.take_ack(Instant::ZERO);
            t.on_received(Instant::ZERO, 2, true, d);
            assert!(t.due(Instant::ZERO));
        }

        #[test]
        fn keeps_at_most_32_ranges() {
            let mut t = AckTracker::default();
            for i in 0..100 {
                t.on_received(Instant::ZERO, i * 2, true, Duration::ZERO);
            }
            assert_eq!(t.range_count(), MAX_ACK_RANGES);
            assert_eq!(ranges(&mut t)[0], (198, 198));
        }
    }
}
