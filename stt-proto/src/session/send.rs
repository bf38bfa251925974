//! The sending direction of a session: one datagram out.
//!
//! [`Session::write_datagram`] fills the caller's buffer with what the session owes its peer, in
//! this order: queued control frames (handshake messages, custom frames, KEEPALIVE, DISCONNECT),
//! named-endpoint frames (`names.rs`), then ACK, stream control frames and retransmissions, then
//! new stream data round-robin across streams, under the congestion window and the pacer. Each
//! frame is sealed in place under the current send key with its own packet number; ack-eliciting
//! frames are recorded in `recovery` with what they carried.

use super::{Ctx, Outgoing, PathDatagram, Session, SessionEnd, State, Then, PATH_CHALLENGES};
use crate::close::STREAM_REFUSED;
use crate::config::EndpointConfig;
use crate::crypto::TAG_LEN;
use crate::event::{CloseReason, Event};
use crate::recovery::SentPayload;
use crate::stream::{Control, NextSegment, Segment, StreamMode, Turn};
use crate::time::Instant;
use crate::types::{Direction, NodeId, Remote};
use crate::wire::control::Disconnect;
use crate::wire::stream::{self as ws, AckRange, StreamOpen, DATA_HEADER_LEN, MAX_ACK_RANGES, MAX_STREAM_LABEL};
use crate::wire::{aad_of, frame_len, write_skeleton, Flags, FrameType, Header, FRAME_OVERHEAD};

/// Smallest piece of new data worth starting a DATA frame for at the tail of a datagram.
const MIN_SEGMENT: usize = 256;

/// What to put in an encrypted frame's header besides the session id and key-phase bits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameSpec {
    pub frame_type: FrameType,
    pub stream_id: u32,
    pub sequence: u32,
    pub flags: Flags,
}

impl FrameSpec {
    /// The header of this frame in session `session_id` (or under a handshake tag), with `flags`.
    const fn header(&self, session_id: u64, flags: Flags) -> Header {
        Header { frame_type: self.frame_type, session_id, stream_id: self.stream_id, sequence: self.sequence, flags }
    }

    pub(crate) const fn control(frame_type: FrameType) -> Self {
        FrameSpec { frame_type, stream_id: 0, sequence: 0, flags: Flags(0) }
    }
}

/// Result of sealing one frame into the transmit buffer.
pub(crate) enum Sealed {
    Written { len: usize, pn: u64, rotated: Option<u32> },
    NoRoom,
    NoKeys,
    Exhausted,
}

enum Encoded {
    Written(usize),
    /// Does not fit in what is left of the buffer.
    NoRoom,
    /// Not sendable before the handshake completes.
    NotYet,
    /// Obsolete (a handshake retransmission for a session already established).
    Skip,
    /// No packet number left.
    Exhausted,
}

/// A handshake frame encoded once and kept (CONFIRM), copied into `out`.
fn copy_frame(out: &mut [u8], frame: &[u8]) -> Encoded {
    match out.get_mut(..frame.len()) {
        Some(dst) => {
            dst.copy_from_slice(frame);
            Encoded::Written(frame.len())
        }
        None => Encoded::NoRoom,
    }
}

fn sealed(s: Sealed) -> Encoded {
    match s {
        Sealed::Written { len, .. } => Encoded::Written(len),
        Sealed::NoRoom => Encoded::NoRoom,
        Sealed::NoKeys => Encoded::NotYet,
        Sealed::Exhausted => Encoded::Exhausted,
    }
}

fn encode(s: &mut Session, me: &NodeId, tx: &mut Tx<'_>, o: &Outgoing, out: &mut [u8]) -> Encoded {
    let cfg = tx.cfg;
    let established = s.is_established();
    let hand = |n: Option<usize>| match n {
        Some(len) => Encoded::Written(len),
        None => Encoded::NoRoom,
    };
    match o {
        Outgoing::Handshake => {
            let State::Handshaking(h) = &s.state else { return Encoded::Skip };
            hand(h.write_frame(out, me, cfg))
        }
        Outgoing::Confirm => match &s.confirm {
            Some(c) => copy_frame(out, &c.frame),
            None => Encoded::Skip,
        },
        // Before the session is open, only custom frames may go, as 0-RTT data (stream frames
        // are written by `write_stream_frames`, under the same rule).
        _ if !(established || matches!(o, Outgoing::Custom { .. }) && s.may_send_frames()) => Encoded::NotYet,
        Outgoing::Custom { frame_type, payload } => {
            let spec = FrameSpec::control(FrameType(*frame_type));
            sealed(s.seal_tracked(tx, out, spec, payload.len(), |p| p.copy_from_slice(payload), None))
        }
        Outgoing::Keepalive => {
            let spec = FrameSpec::control(FrameType::KEEPALIVE);
            sealed(s.seal_tracked(tx, out, spec, 0, |_| {}, Some(SentPayload::Ping)))
        }
        Outgoing::Confirmation => {
            let spec = FrameSpec::control(FrameType::KEEPALIVE);
            sealed(s.seal_tracked(tx, out, spec, 0, |_| {}, None))
        }
        Outgoing::PathResponse(data) => {
            let spec = FrameSpec::control(FrameType::PATH_RESPONSE);
            sealed(s.seal_tracked(tx, out, spec, 8, |p| p.copy_from_slice(data), None))
        }
        Outgoing::Disconnect { code, reason } => {
            let d = Disconnect { code: *code, reason };
            let spec = FrameSpec::control(FrameType::DISCONNECT);
            sealed(s.seal_tracked(
                tx,
                out,
                spec,
                d.len(),
                |p| {
                    d.encode(p);
                },
                None,
            ))
        }
    }
}

/// Writes the frame `header` heads into `out` (exactly its length) with packet number `pn`,
/// its payload written by `fill`, then sealed in place by `seal`.
fn write_sealed(
    out: &mut [u8],
    header: &Header,
    pn: u64,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]),
    seal: impl FnOnce(u64, &[u8], &mut [u8]) -> [u8; TAG_LEN],
) {
    let (payload, tag) = write_skeleton(out, header, payload_len, pn);
    fill(&mut out[payload.clone()]);
    let aad = aad_of(out);
    let t = seal(pn, &aad, &mut out[payload]);
    out[tag].copy_from_slice(&t);
}

impl Session {
    /// What the next datagram carries and where it goes: a PATH_CHALLENGE to the address being
    /// validated when one is due there, a PATH_RESPONSE owed to another address than the
    /// session's, else the session's frames to its remote.
    pub(crate) fn next_destination(&self, now: Instant) -> (Remote, PathDatagram) {
        if !matches!(self.state, State::Established) {
            return (self.remote, PathDatagram::Frames);
        }
        match (&self.path_probe, &self.path_response) {
            (Some(p), _) if p.sent < PATH_CHALLENGES && p.next_send <= now => (p.remote, PathDatagram::Challenge),
            (_, Some(r)) => (r.0, PathDatagram::Response),
            _ => (self.remote, PathDatagram::Frames),
        }
    }

    /// Writes a datagram holding one PATH_RESPONSE owed to another address than the session's
    /// (see [`Session::next_destination`]).
    pub(crate) fn write_path_response(&mut self, ctx: &mut Ctx<'_>, buf: &mut [u8]) -> (usize, Then) {
        let Some(owed) = self.path_response.take() else { return (0, Then::Wait) };
        (self.write_path_frame(ctx, buf, FrameType::PATH_RESPONSE, owed.1), Then::Transmit)
    }

    /// Seals a datagram of one PATH_CHALLENGE or PATH_RESPONSE carrying `data` into `buf` and
    /// counts it; returns its length (0 if it could not be sealed).
    fn write_path_frame(&mut self, ctx: &mut Ctx<'_>, buf: &mut [u8], frame_type: FrameType, data: [u8; 8]) -> usize {
        let mut tally = Tally::default();
        let tx = &mut Tx { now: ctx.now, cfg: ctx.cfg, tally: &mut tally };
        let spec = FrameSpec::control(frame_type);
        let n = match self.seal_tracked(tx, buf, spec, 8, |p| p.copy_from_slice(&data), None) {
            Sealed::Written { len, .. } => len,
            _ => 0,
        };
        if n > 0 {
            self.stats.frames_sent += 1;
            self.stats.bytes_sent += n as u64;
            self.stats.datagrams_sent += 1;
        }
        n
    }

    /// Writes a datagram holding one PATH_CHALLENGE for the address being validated (see
    /// [`Session::next_destination`]); after `PATH_CHALLENGES` of them the address is given up.
    /// The datagram is small (60 bytes): an address that never answers gets at most two, under
    /// 3x the smallest authentic datagram (52 bytes) that can make it a candidate.
    pub(crate) fn write_path_challenge(&mut self, ctx: &mut Ctx<'_>, buf: &mut [u8]) -> (usize, Then) {
        let Some(data) = self.path_probe.as_deref().map(|p| p.data) else { return (0, Then::Wait) };
        let n = self.write_path_frame(ctx, buf, FrameType::PATH_CHALLENGE, data);
        let pto = self.recovery.rtt().pto_base(ctx.cfg.max_ack_delay);
        let probe = self.path_probe.as_deref_mut().expect("checked above");
        probe.sent += 1;
        // A PTO, then two: after the last, the address is given up when the wait
        // ends (`handle_timeout`).
        probe.next_send = ctx.now + pto * u32::from(probe.sent);
        (n, Then::Transmit)
    }

    /// Writes the next datagram of this session into `buf` (at most the path's maximum
    /// datagram) and returns its length, zero if there was nothing to send. [`Then::End`] when
    /// the datagram carried DISCONNECT or the packet numbers ran out.
    pub(crate) fn write_datagram(&mut self, ctx: &mut Ctx<'_>, buf: &mut [u8]) -> (usize, Then) {
        let now = ctx.now;
        let cfg = ctx.cfg;
        let mut max = buf.len().min(cfg.max_datagram(self.remote.transport));
        // A session confirmed by 0-RTT frames sends to an unproven address within its budget;
        // CONFIRM (smaller than the INIT it answers) and a DISCONNECT always go. What the budget
        // holds back waits (the address proven, the session is ready again).
        let mut budget_limited = false;
        if let Some(budget) = self.confirm.as_ref().and_then(|c| c.budget) {
            let limit = budget + self.unbudgeted_front();
            budget_limited = limit < max;
            max = max.min(limit);
        }
        let mut unbudgeted_written = 0;
        let mut len = 0;
        let mut tally = Tally::default();
        let tx = &mut Tx { now, cfg, tally: &mut tally };
        let mut closed = None;
        while let Some(o) = self.queue.pop_front() {
            match encode(self, &ctx.node_id, tx, &o, &mut buf[len..max]) {
                Encoded::Written(n) => {
                    len += n;
                    tx.tally.frames += 1;
                    if let (Outgoing::Handshake, State::Handshaking(h)) = (&o, &mut self.state) {
                        h.on_frame_written();
                    }
                    if matches!(o, Outgoing::Confirm | Outgoing::Disconnect { .. }) {
                        unbudgeted_written += n;
                    }
                    match o {
                        Outgoing::Custom { .. } => self.custom_queued -= 1,
                        Outgoing::Keepalive => self.keepalive_queued = false,
                        Outgoing::Disconnect { code, reason } => {
                            closed = Some(CloseReason::ClosedLocally { code, reason });
                            break;
                        }
                        _ => {}
                    }
                }
                Encoded::Skip => {}
                Encoded::NoRoom if len == 0 && !budget_limited => {
                    ctx.stats.dropped.transmit_buffer_too_small += 1;
                    match o {
                        Outgoing::Custom { .. } => self.custom_queued -= 1,
                        // Dropped: the next keepalive (or ping) may be queued again.
                        Outgoing::Keepalive => self.keepalive_queued = false,
                        _ => {}
                    }
                }
                Encoded::NoRoom | Encoded::NotYet => {
                    self.queue.push_front(o);
                    break;
                }
                Encoded::Exhausted => {
                    tx.tally.exhausted = true;
                    break;
                }
            }
        }
        if closed.is_none() && !tx.tally.exhausted {
            #[cfg(feature = "resumption")]
            {
                len = self.write_ticket(tx, &mut buf[..max], len);
            }
            len = self.write_name_frames(tx, &mut buf[..max], len, ctx.names);
            len = self.write_stream_frames(tx, &mut buf[..max], len);
        }
        if let State::Handshaking(h) = &mut self.state {
            h.close_early_window();
        }
        if tally.exhausted {
            closed = Some(CloseReason::PacketNumbersExhausted);
        }
        if let Some(b) = self.confirm.as_mut().and_then(|c| c.budget.as_mut()) {
            *b = b.saturating_sub(len - unbudgeted_written);
        }
        if len > 0 {
            self.stats.frames_sent += tally.frames;
            self.stats.bytes_sent += len as u64;
            self.stats.datagrams_sent += 1;
            if tally.acks == tally.frames {
                self.stats.ack_only_datagrams_sent += 1;
            }
            self.last_sent = now;
            if let Some(keys) = &self.keys {
                self.stats.key_generations.0 = keys.generations().0;
            }
        }
        if let Some(generation) = tally.rotation {
            ctx.events.push_back(Event::KeyRotated { session: ctx.handle, direction: Direction::Send, generation });
        }
        for id in tally.writable.drain(..) {
            ctx.events.push_back(Event::StreamWritable { session: ctx.handle, stream: crate::stream::StreamId(id) });
        }
        let then = match closed {
            Some(reason) => Then::End(SessionEnd::Closed(reason)),
            None if len > 0 => Then::Transmit,
            None => Then::Wait,
        };
        (len, then)
    }

    /// Bytes of the items at the front of the queue that go whatever an unproven address's
    /// budget says: CONFIRM, and the DISCONNECT of a session closed before its address was
    /// proven (`close` puts it there).
    fn unbudgeted_front(&self) -> usize {
        self.queue
            .iter()
            .take(2)
            .map_while(|o| match o {
                Outgoing::Confirm => self.confirm.as_ref().map(|c| c.frame.len()),
                Outgoing::Disconnect { code, reason } => Some(frame_len(Disconnect { code: *code, reason }.len())),
                _ => None,
            })
            .sum()
    }

    /// True if this side has nothing to send and nothing in flight: an ACK it owes would go out
    /// alone whenever it went.
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty()
            && self.recovery.in_flight() == 0
            && !self.streams.wants_control()
            && !self.streams.has_queued_data()
            && !self.names.wants_transmit()
    }

    /// True if this session's next datagram holds at most a KEEPALIVE and an ACK (an idle
    /// session's keepalive, or its answer to one): nothing that a datagram of any frame's size
    /// would cut short or drop.
    pub(crate) fn sends_only_keepalive_or_ack(&self) -> bool {
        matches!(self.state, State::Established)
            && self.is_confirmed()
            && self.queue.iter().all(|o| matches!(o, Outgoing::Keepalive))
            && !self.streams.has_queued_streams()
            && !self.streams.wants_control()
            && !self.names.wants_transmit()
            && !(cfg!(feature = "resumption") && self.ticket.as_ref().is_some_and(|t| t.owed))
    }

    /// True if `poll_transmit` would write something for this session now.
    pub(crate) fn wants_transmit(&self, now: Instant) -> bool {
        if !self.queue.is_empty() || self.acks.due(now) || self.next_destination(now).1 != PathDatagram::Frames {
            return true;
        }
        if !matches!(self.state, State::Established) {
            return false;
        }
        self.streams.wants_control()
            || self.names.wants_transmit()
            || (cfg!(feature = "resumption") && self.ticket.as_ref().is_some_and(|t| t.owed))
            || (self.streams.has_queued_data()
                && self.pacing_until.is_none_or(|t| t <= now)
                && self.recovery.window_allows(crate::wire::FRAME_OVERHEAD as u64))
    }

    /// Seals one encrypted frame into `out` under the current send key.
    fn seal_frame(
        &mut self,
        now: Instant,
        cfg: &EndpointConfig,
        out: &mut [u8],
        spec: FrameSpec,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Sealed {
        let n = frame_len(payload_len);
        if out.len() < n {
            return Sealed::NoRoom;
        }
        let sid = self.session_id;
        let Some(keys) = self.keys.as_mut() else { return self.seal_early(out, spec, payload_len, fill) };
        let rotated = keys.maybe_rotate_send(now, &cfg.key_rotation, cfg.key_retention);
        let Some(pn) = keys.next_packet_number() else { return Sealed::Exhausted };
        let header = spec.header(sid, keys.flags(spec.flags));
        write_sealed(&mut out[..n], &header, pn, payload_len, fill, |pn, aad, p| keys.seal(pn, aad, p));
        Sealed::Written { len: n, pn, rotated }
    }

    /// Seals one early frame (0-RTT data) into `out` under the resumed handshake's early key,
    /// while the datagram of its first INIT is being written (`NoKeys` otherwise).
    fn seal_early(
        &mut self,
        out: &mut [u8],
        spec: FrameSpec,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Sealed {
        #[cfg(feature = "resumption")]
        if let State::Handshaking(h) = &mut self.state {
            let Some((key, pn, tag)) = h.early_sealer() else { return Sealed::NoKeys };
            let n = frame_len(payload_len);
            let header = spec.header(tag, spec.flags);
            write_sealed(&mut out[..n], &header, pn, payload_len, fill, |pn, aad, p| key.seal(pn, aad, p));
            return Sealed::Written { len: n, pn, rotated: None };
        }
        let _ = (out, spec, payload_len, fill);
        Sealed::NoKeys
    }

    /// True while frames may be written: the session is open, or the datagram of a resumed
    /// INIT is being written and 0-RTT data was allowed.
    pub(crate) fn may_send_frames(&self) -> bool {
        match &self.state {
            State::Established => true,
            State::Handshaking(h) => h.early_window_open(),
            State::Closing => false,
        }
    }

    /// Seals a frame of any type and header under this session's send keys, with the next packet
    /// number, and no bookkeeping (feature `fuzzing`: lets a fuzz target reach the frame
    /// handlers inside the encryption). `None` without keys or room.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn seal_arbitrary(
        &mut self,
        now: Instant,
        cfg: &EndpointConfig,
        out: &mut [u8],
        header: (FrameType, u32, u32, Flags),
        payload: &[u8],
    ) -> Option<usize> {
        let (frame_type, stream_id, sequence, flags) = header;
        let spec = FrameSpec { frame_type, stream_id, sequence, flags };
        match self.seal_frame(now, cfg, out, spec, payload.len(), |p| p.copy_from_slice(payload)) {
            Sealed::Written { len, .. } => Some(len),
            _ => None,
        }
    }

    /// Seals one frame and does its bookkeeping: a key rotation goes into the tally, and an
    /// ack-eliciting frame (`track`) is recorded for loss recovery.
    fn seal_tracked(
        &mut self,
        tx: &mut Tx<'_>,
        out: &mut [u8],
        spec: FrameSpec,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
        track: Option<SentPayload>,
    ) -> Sealed {
        let sealed = self.seal_frame(tx.now, tx.cfg, out, spec, payload_len, fill);
        if let Sealed::Written { len, pn, rotated } = sealed {
            tx.tally.rotation = tx.tally.rotation.or(rotated);
            if let Some(p) = track {
                self.recovery.on_sent(tx.now, pn, len, p);
            }
        }
        sealed
    }

    /// [`Session::seal_tracked`] for stream frames: counts the frame, notes packet-number
    /// exhaustion, and returns the length written.
    pub(crate) fn emit(
        &mut self,
        tx: &mut Tx<'_>,
        out: &mut [u8],
        spec: FrameSpec,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
        track: Option<SentPayload>,
    ) -> Option<usize> {
        match self.seal_tracked(tx, out, spec, payload_len, fill, track) {
            Sealed::Written { len, .. } => {
                tx.tally.frames += 1;
                Some(len)
            }
            Sealed::Exhausted => {
                tx.tally.exhausted = true;
                None
            }
            Sealed::NoRoom | Sealed::NoKeys => None,
        }
    }

    /// Writes the NEW_TICKET this responder owes its peer, if any, into `out[at..]`, tracked so
    /// that a lost one goes again. Returns the new length.
    #[cfg(feature = "resumption")]
    fn write_ticket(&mut self, tx: &mut Tx<'_>, out: &mut [u8], at: usize) -> usize {
        let Some(t) = self.ticket.as_ref().filter(|t| t.owed && matches!(self.state, State::Established)) else {
            return at;
        };
        let payload = t.payload.clone();
        let spec = FrameSpec::control(FrameType::NEW_TICKET);
        let fill = |p: &mut [u8]| p.copy_from_slice(&payload);
        match self.emit(tx, &mut out[at..], spec, payload.len(), fill, Some(SentPayload::Ticket)) {
            Some(n) => {
                if let Some(t) = self.ticket.as_mut() {
                    t.owed = false;
                }
                at + n
            }
            None => at,
        }
    }

    /// Writes the answer `status` to the peer's named-endpoint request `id`, in the frame type the
    /// request came in, tracked so that a lost answer is sent again. Returns the length written.
    pub(crate) fn emit_name_reply(
        &mut self,
        tx: &mut Tx<'_>,
        out: &mut [u8],
        route: bool,
        id: u32,
        status: u8,
    ) -> Option<usize> {
        let spec = FrameSpec::control(crate::wire::names::frame_type(route));
        let fill = |p: &mut [u8]| crate::wire::names::encode_reply(p, id, status);
        let track = SentPayload::NameReply { id, route, status };
        self.emit(tx, out, spec, crate::wire::names::REPLY_LEN, fill, Some(track))
    }

    fn emit_data(
        &mut self,
        tx: &mut Tx<'_>,
        out: &mut [u8],
        id: u32,
        seg: &Segment,
        (live, message): (bool, bool),
    ) -> Option<usize> {
        let flags = Flags(0).with(Flags::FIN, seg.fin()).with(Flags::LIVE, live).with(Flags::MESSAGE, message);
        let spec = FrameSpec { frame_type: FrameType::DATA, stream_id: id, sequence: seg.seq(), flags };
        let fill = |p: &mut [u8]| {
            p[..DATA_HEADER_LEN].copy_from_slice(&seg.offset().to_be_bytes());
            p[DATA_HEADER_LEN..].copy_from_slice(seg.data());
        };
        self.emit(
            tx,
            out,
            spec,
            DATA_HEADER_LEN + seg.data().len(),
            fill,
            Some(SentPayload::Data { stream: id, seq: seg.seq() }),
        )
    }

    /// Writes ACK, stream control, retransmissions and new data into `out[at..]`. Returns the new
    /// end of the datagram.
    fn write_stream_frames(&mut self, tx: &mut Tx<'_>, out: &mut [u8], mut at: usize) -> usize {
        if !self.may_send_frames() {
            return at;
        }
        let now = tx.now;
        // 1. ACK, when due or when it can ride along with something else.
        let other_work = at > 0 || self.streams.has_queued_streams();
        if self.acks.due(now) || (self.acks.pending() && other_work) {
            let plen = ws::ack_len(self.acks.range_count());
            if out.len() - at >= crate::wire::frame_len(plen) {
                let mut ranges = [AckRange { largest: 0, smallest: 0 }; MAX_ACK_RANGES];
                let (delay, it) = self.acks.take_ack(now);
                let mut k = 0;
                for r in it {
                    ranges[k] = r;
                    k += 1;
                }
                let fill = |p: &mut [u8]| {
                    ws::encode_ack(p, delay, ranges[..k].iter().copied());
                };
                if let Some(n) = self.emit(tx, &mut out[at..], FrameSpec::control(FrameType::ACK), plen, fill, None) {
                    at += n;
                    tx.tally.acks += 1;
                }
            }
        }
        // 2. Session credit, refusals, per-stream control frames and retransmissions.
        while let Some(c) = self.streams.next_control() {
            let room = out.len() - at;
            let written = match c {
                Control::SessionCredit { limit } => {
                    let spec = FrameSpec::control(FrameType::MAX_DATA);
                    let fill = |p: &mut [u8]| p.copy_from_slice(&limit.to_be_bytes());
                    self.emit(tx, &mut out[at..], spec, 8, fill, Some(SentPayload::MaxData { stream: 0 }))
                }
                Control::Refusal { id } => {
                    let spec = FrameSpec { stream_id: id, ..FrameSpec::control(FrameType::STREAM_CLOSE) };
                    let fill = |p: &mut [u8]| p.copy_from_slice(&STREAM_REFUSED.to_be_bytes());
                    self.emit(tx, &mut out[at..], spec, 4, fill, Some(SentPayload::Refusal { stream: id }))
                }
                Control::Open { id, mode, message } => {
                    let (live, deadline_ms) = match mode {
                        StreamMode::Live { deadline } => (true, deadline.as_millis().min(u32::MAX as u128) as u32),
                        StreamMode::Reliable => (false, 0),
                    };
                    let flags = Flags(0).with(Flags::MESSAGE, message);
                    let spec = FrameSpec { stream_id: id, flags, ..FrameSpec::control(FrameType::STREAM_OPEN) };
                    // The label is copied out: `emit` borrows the whole session.
                    let mut label = [0u8; MAX_STREAM_LABEL];
                    let label_len = self.streams.label(id).map_or(0, |l| {
                        label[..l.len()].copy_from_slice(l);
                        l.len()
                    });
                    let open = StreamOpen { live, deadline_ms, label: &label[..label_len] };
                    let fill = |p: &mut [u8]| {
                        open.encode(p);
                    };
                    let payload = Some(SentPayload::StreamOpen { stream: id });
                    self.emit(tx, &mut out[at..], spec, open.encoded_len(), fill, payload)
                }
                Control::Reset { id, code, message } => {
                    let flags = Flags(0).with(Flags::MESSAGE, message);
                    let spec = FrameSpec { stream_id: id, flags, ..FrameSpec::control(FrameType::STREAM_CLOSE) };
                    let fill = |p: &mut [u8]| p.copy_from_slice(&code.to_be_bytes());
                    self.emit(tx, &mut out[at..], spec, 4, fill, Some(SentPayload::StreamClose { stream: id }))
                }
                Control::Credit { id, limit } => {
                    let spec = FrameSpec { stream_id: id, ..FrameSpec::control(FrameType::MAX_DATA) };
                    let fill = |p: &mut [u8]| p.copy_from_slice(&limit.to_be_bytes());
                    self.emit(tx, &mut out[at..], spec, 8, fill, Some(SentPayload::MaxData { stream: id }))
                }
                Control::Retransmit { id, live, message } => {
                    if self.probes_owed == 0 && !self.recovery.window_allows(FRAME_OVERHEAD as u64) {
                        return at;
                    }
                    let max_len = room.saturating_sub(FRAME_OVERHEAD + DATA_HEADER_LEN);
                    let Some(seg) = self.streams.next_retransmit(id, max_len) else { return at };
                    let Some(n) = self.emit_data(tx, &mut out[at..], id, &seg, (live, message)) else {
                        self.streams.segment_unsent(id, seg.seq());
                        return at;
                    };
                    self.probes_owed = self.probes_owed.saturating_sub(1);
                    Some(n)
                }
            };
            let Some(n) = written else { return at };
            at += n;
            self.streams.control_sent(c);
        }
        // 3. New data, round robin, under the congestion window and the pacer.
        let mut turns = self.streams.send_queue_len();
        while turns > 0 {
            let Some(turn) = self.streams.take_turn(now, |id| tx.tally.writable.push(id)) else { break };
            turns -= 1;
            let Turn::Ready { id, pending } = turn else { continue };
            // A segment goes in only if it is worth a frame: at least MIN_SEGMENT bytes, or all
            // that waits (nothing, when it carries the FIN alone). It never exceeds what a UDP
            // datagram carries, whatever the path: a segment is resent as it is, and a session on
            // WebSocket may move to UDP with segments in flight.
            let room = (out.len() - at).saturating_sub(FRAME_OVERHEAD + DATA_HEADER_LEN).min(max_segment(tx.cfg));
            let want = pending.min(MIN_SEGMENT as u64) as usize;
            if room < want || out.len() - at < FRAME_OVERHEAD + DATA_HEADER_LEN {
                self.streams.yield_turn(id);
                break;
            }
            let size = (room + FRAME_OVERHEAD + DATA_HEADER_LEN) as u64;
            if !self.recovery.window_allows(size.min(1200)) {
                self.streams.yield_turn(id);
                break;
            }
            let ready_at = self.recovery.pacing_ready_at(now, size.min(1500));
            if ready_at > now {
                self.pacing_until = Some(ready_at);
                self.streams.yield_turn(id);
                break;
            }
            self.pacing_until = None;
            let (seg, live, message) = match self.streams.take_segment(id, room) {
                NextSegment::Segment { segment, live, message } => (segment, live, message),
                NextSegment::Stop => break,
                NextSegment::Skip => continue,
            };
            match self.emit_data(tx, &mut out[at..], id, &seg, (live, message)) {
                Some(n) => at += n,
                // Cannot happen after the room check; keep the segment for retransmission.
                None => self.streams.segment_unsent(id, seg.seq()),
            }
            if self.streams.end_turn(id) {
                turns += 1;
            }
        }
        self.note_app_limited();
        at
    }
}

/// The largest stream segment: the data of one DATA frame filling a UDP datagram.
pub(crate) fn max_segment(cfg: &EndpointConfig) -> usize {
    cfg.max_udp_datagram.saturating_sub(FRAME_OVERHEAD + DATA_HEADER_LEN)
}

/// What writing one datagram needs: the time, the configuration and the tally.
pub(crate) struct Tx<'a> {
    pub now: Instant,
    pub cfg: &'a EndpointConfig,
    pub tally: &'a mut Tally,
}

/// Counts what one datagram carried.
#[derive(Default)]
pub(crate) struct Tally {
    pub frames: u64,
    /// ACK frames among them.
    pub acks: u64,
    pub rotation: Option<u32>,
    pub exhausted: bool,
    /// Live streams whose stopped writers may write again (stale bytes were dropped); empty,
    /// and not allocated, in nearly every datagram.
    pub writable: alloc::vec::Vec<u32>,
}
