//! Stream and recovery frames of an established session.
//!
//! Receiving: DATA, STREAM_OPEN, STREAM_CLOSE, MAX_DATA and ACK update the stream table and the
//! recovery state and produce stream events. Sending: one datagram's worth of frames in priority
//! order: ACK, then stream control frames and retransmissions, then new data round-robin across
//! streams, under the congestion window and the pacer.

use alloc::collections::VecDeque;
use bytes::Bytes;

use super::{FrameSpec, Sealed, Session, SessionHandle, State};
use crate::config::EndpointConfig;
use crate::event::Event;
use crate::names::SessionNames;
use crate::recovery::{Outcome, SentPayload};
use crate::stream::{PeerStream, Segment, StreamId, Streams, STREAM_REFUSED};
use crate::time::Instant;
use crate::wire::stream::{self as ws, Ack, AckRange, StreamOpen, DATA_HEADER_LEN, MAX_ACK_RANGES};
use crate::wire::{Flags, FrameType, Header, FRAME_OVERHEAD};

/// What became of a received stream or recovery frame.
pub(crate) enum FrameVerdict {
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
            | FrameType::ENDPOINT_REGISTER
            | FrameType::ENDPOINT_RESOLVE
            | FrameType::ENDPOINT_ROUTE
    )
}

/// Smallest piece of new data worth starting a DATA frame for at the tail of a datagram.
const MIN_SEGMENT: usize = 256;

/// Applies an acknowledgement or a loss to the stream table (or, for named-endpoint frames, to
/// the session's named-endpoint state).
pub(crate) fn apply_outcome(
    streams: &mut Streams,
    names: &mut SessionNames,
    events: &mut VecDeque<Event>,
    session: SessionHandle,
    p: SentPayload,
    o: Outcome,
) {
    let id = match p {
        SentPayload::Ping => return,
        SentPayload::NameAnnounce { .. } | SentPayload::NameRequest { .. } | SentPayload::NameReply { .. } => {
            return names.on_outcome(p, o);
        }
        SentPayload::MaxData { stream: 0 } => {
            if o == Outcome::Lost {
                streams.session_credit_owed = true;
            }
            return;
        }
        SentPayload::Data { stream, .. }
        | SentPayload::StreamOpen { stream }
        | SentPayload::StreamClose { stream }
        | SentPayload::MaxData { stream } => stream,
    };
    let Some(st) = streams.map.get_mut(&id) else { return };
    let mut repair = false;
    match (p, o) {
        (SentPayload::Data { seq, .. }, Outcome::Acked) => {
            let freed = st.send.on_acked(seq);
            if freed && st.send.blocked && st.send.capacity() > 0 {
                st.send.blocked = false;
                events.push_back(Event::StreamWritable { session, stream: StreamId(id) });
            }
        }
        (SentPayload::Data { seq, .. }, Outcome::Lost) => {
            st.send.on_lost(seq);
            repair = st.send.has_retransmit();
            if st.send.fin_owed() {
                // A live stream's FIN was lost: it goes out again with the new data.
                streams.queue_send(id);
            }
        }
        (SentPayload::StreamOpen { .. }, o) => {
            st.open_in_flight = false;
            match o {
                Outcome::Acked => st.open_owed = false,
                Outcome::Lost => repair = st.open_owed,
            }
        }
        (SentPayload::StreamClose { .. }, Outcome::Acked) => st.reset_acked = true,
        (SentPayload::StreamClose { .. }, Outcome::Lost) if !st.reset_acked => {
            st.reset_owed = st.reset_sent;
            repair = true;
        }
        (SentPayload::MaxData { .. }, Outcome::Lost) => {
            st.credit_owed = true;
            repair = true;
        }
        _ => {}
    }
    if repair {
        streams.queue_control(id);
    }
    streams.collect(id);
}

impl Session {
    /// Handles an authentic DATA, STREAM_OPEN, STREAM_CLOSE, MAX_DATA or ACK frame.
    pub(crate) fn on_stream_frame(
        &mut self,
        now: Instant,
        handle: SessionHandle,
        header: &Header,
        payload: Bytes,
        events: &mut VecDeque<Event>,
    ) -> FrameVerdict {
        let id = header.stream_id;
        match header.frame_type {
            FrameType::ACK => {
                let Ok(ack) = Ack::decode(&payload) else { return FrameVerdict::Malformed };
                let Session { recovery, streams, names, .. } = self;
                recovery.on_ack(now, &ack, |p, o| apply_outcome(streams, names, events, handle, p, o));
                FrameVerdict::Accepted
            }
            FrameType::DATA => self.on_data(now, handle, header, payload, events),
            FrameType::STREAM_OPEN => {
                let Ok(open) = StreamOpen::decode(&payload) else { return FrameVerdict::Malformed };
                if self.peer_stream(handle, id, open.live, events) {
                    let st = self.streams.map.get_mut(&id).expect("just found");
                    if open.live {
                        st.recv.deadline = Some(core::time::Duration::from_millis(u64::from(open.deadline_ms)));
                    }
                }
                FrameVerdict::Accepted
            }
            FrameType::STREAM_CLOSE => {
                let Ok(code) = ws::decode_stream_close(&payload) else { return FrameVerdict::Malformed };
                if self.peer_stream(handle, id, false, events) {
                    let st = self.streams.map.get_mut(&id).expect("just found");
                    if st.peer_reset.is_none() {
                        st.peer_reset = Some(code);
                        events.push_back(Event::StreamReset { session: handle, stream: StreamId(id), code });
                    }
                    if code == STREAM_REFUSED && st.local {
                        // The peer refused our stream: nothing we send on it will be read.
                        st.send.abandon();
                        st.open_owed = false;
                        st.reset_acked = true;
                    }
                    self.streams.collect(id);
                }
                FrameVerdict::Accepted
            }
            FrameType::MAX_DATA => {
                let Ok(limit) = ws::decode_max_data(&payload) else { return FrameVerdict::Malformed };
                if id == 0 {
                    self.streams.send_max = self.streams.send_max.max(limit);
                } else if let Some(st) = self.streams.map.get_mut(&id) {
                    st.send.max_data = st.send.max_data.max(limit);
                    self.streams.queue_send(id);
                }
                FrameVerdict::Accepted
            }
            _ => FrameVerdict::Unsupported,
        }
    }

    /// Finds the stream a peer frame names, creating it (and reporting it) if the peer opens a new
    /// one. False if the frame should be ignored (stream over, or refused).
    fn peer_stream(&mut self, handle: SessionHandle, id: u32, live: bool, events: &mut VecDeque<Event>) -> bool {
        match self.streams.peer_stream(id, live) {
            PeerStream::Refused | PeerStream::Over => false,
            PeerStream::Known => true,
            PeerStream::Created => {
                events.push_back(Event::StreamOpened { session: handle, stream: StreamId(id), live });
                self.grant_stream_credit(id);
                true
            }
        }
    }

    /// Queues a MAX_DATA for the stream (and the session) if half a window was consumed.
    pub(crate) fn grant_stream_credit(&mut self, id: u32) {
        if let Some(st) = self.streams.map.get_mut(&id) {
            if st.recv.credit_update().is_some() {
                st.credit_owed = true;
                self.streams.queue_control(id);
            }
        }
        if self.streams.session_credit_update().is_some() {
            self.streams.session_credit_owed = true;
        }
    }

    fn on_data(
        &mut self,
        now: Instant,
        handle: SessionHandle,
        header: &Header,
        payload: Bytes,
        events: &mut VecDeque<Event>,
    ) -> FrameVerdict {
        let Ok((offset, data)) = ws::decode_data(&payload) else { return FrameVerdict::Malformed };
        let end = offset + data.len() as u64;
        let id = header.stream_id;
        if !self.peer_stream(handle, id, header.flags.has(Flags::LIVE), events) {
            return FrameVerdict::Accepted;
        }
        let streams = &mut self.streams;
        let st = streams.map.get_mut(&id).expect("just found");
        if st.peer_reset.is_some() {
            return FrameVerdict::Accepted;
        }
        let before = st.recv.highest();
        if streams.recv_total + end.saturating_sub(before) > streams.recv_limit {
            return FrameVerdict::Malformed;
        }
        let fin_before = st.recv.fin_complete();
        let data = payload.slice(DATA_HEADER_LEN..DATA_HEADER_LEN + data.len());
        match st.recv.on_data(now, header.sequence, offset, data, header.flags.has(Flags::FIN)) {
            Err(_) => FrameVerdict::Malformed,
            Ok(readable) => {
                streams.recv_total += st.recv.highest() - before;
                let stream = StreamId(id);
                if readable {
                    events.push_back(Event::StreamReadable { session: handle, stream });
                }
                if !fin_before && st.recv.fin_complete() {
                    events.push_back(Event::StreamFinished { session: handle, stream });
                }
                FrameVerdict::Accepted
            }
        }
    }

    /// Live streams: skips gaps whose deadline passed and reports what became readable.
    pub(crate) fn skip_live_gaps(&mut self, now: Instant, handle: SessionHandle, events: &mut VecDeque<Event>) {
        for (&id, st) in self.streams.map.iter_mut() {
            if st.mode.is_live() && st.recv.skip_expired(now) {
                events.push_back(Event::StreamReadable { session: handle, stream: StreamId(id) });
            }
        }
    }

    /// Seals one frame and does its bookkeeping: a key rotation goes into the tally, and an
    /// ack-eliciting frame (`track`) is recorded for loss recovery.
    pub(crate) fn seal_tracked(
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

    fn emit_data(&mut self, tx: &mut Tx<'_>, out: &mut [u8], id: u32, seg: &Segment, live: bool) -> Option<usize> {
        let flags = Flags(0).with(Flags::FIN, seg.fin).with(Flags::LIVE, live);
        let spec = FrameSpec { frame_type: FrameType::DATA, stream_id: id, sequence: seg.seq, flags };
        let fill = |p: &mut [u8]| {
            p[..DATA_HEADER_LEN].copy_from_slice(&seg.offset.to_be_bytes());
            p[DATA_HEADER_LEN..].copy_from_slice(&seg.data);
        };
        self.emit(
            tx,
            out,
            spec,
            DATA_HEADER_LEN + seg.data.len(),
            fill,
            Some(SentPayload::Data { stream: id, seq: seg.seq }),
        )
    }

    /// Writes ACK, stream control, retransmissions and new data into `out[at..]`. Returns the new
    /// end of the datagram.
    pub(crate) fn write_stream_frames(&mut self, tx: &mut Tx<'_>, out: &mut [u8], mut at: usize) -> usize {
        if !matches!(self.state, State::Established) {
            return at;
        }
        let now = tx.now;
        // 1. ACK, when due or when it can ride along with something else.
        let other_work = at > 0 || !self.streams.control_queue.is_empty() || !self.streams.send_queue.is_empty();
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
                }
            }
        }
        // 2. Session credit, refusals, per-stream control frames and retransmissions.
        if self.streams.session_credit_owed {
            let limit = self.streams.recv_limit;
            let spec = FrameSpec::control(FrameType::MAX_DATA);
            let fill = |p: &mut [u8]| p.copy_from_slice(&limit.to_be_bytes());
            match self.emit(tx, &mut out[at..], spec, 8, fill, Some(SentPayload::MaxData { stream: 0 })) {
                Some(n) => {
                    at += n;
                    self.streams.session_credit_owed = false;
                }
                None => return at,
            }
        }
        while let Some(&id) = self.streams.refusals.front() {
            let spec = FrameSpec { stream_id: id, ..FrameSpec::control(FrameType::STREAM_CLOSE) };
            let fill = |p: &mut [u8]| p.copy_from_slice(&STREAM_REFUSED.to_be_bytes());
            match self.emit(tx, &mut out[at..], spec, 4, fill, None) {
                Some(n) => {
                    at += n;
                    self.streams.refusals.pop_front();
                }
                None => return at,
            }
        }
        while let Some(&id) = self.streams.control_queue.front() {
            let Some(st) = self.streams.map.get_mut(&id) else {
                self.streams.control_queue.pop_front();
                continue;
            };
            let room = out.len() - at;
            if st.open_owed && !st.open_in_flight {
                let (live, deadline_ms) = match st.mode {
                    crate::stream::StreamMode::Live { deadline } => {
                        (true, deadline.as_millis().min(u32::MAX as u128) as u32)
                    }
                    crate::stream::StreamMode::Reliable => (false, 0),
                };
                let spec = FrameSpec { stream_id: id, ..FrameSpec::control(FrameType::STREAM_OPEN) };
                let open = StreamOpen { live, deadline_ms };
                let fill = |p: &mut [u8]| {
                    open.encode(p);
                };
                let n = self.emit(
                    tx,
                    &mut out[at..],
                    spec,
                    StreamOpen::LEN,
                    fill,
                    Some(SentPayload::StreamOpen { stream: id }),
                );
                let Some(n) = n else { return at };
                at += n;
                self.streams.map.get_mut(&id).expect("present").open_in_flight = true;
                continue;
            }
            if let Some(code) = st.reset_owed {
                let spec = FrameSpec { stream_id: id, ..FrameSpec::control(FrameType::STREAM_CLOSE) };
                let fill = |p: &mut [u8]| p.copy_from_slice(&code.to_be_bytes());
                let n = self.emit(tx, &mut out[at..], spec, 4, fill, Some(SentPayload::StreamClose { stream: id }));
                let Some(n) = n else { return at };
                at += n;
                let st = self.streams.map.get_mut(&id).expect("present");
                st.reset_sent = st.reset_owed.take();
                continue;
            }
            if st.credit_owed {
                let limit = st.recv.limit;
                let spec = FrameSpec { stream_id: id, ..FrameSpec::control(FrameType::MAX_DATA) };
                let fill = |p: &mut [u8]| p.copy_from_slice(&limit.to_be_bytes());
                let n = self.emit(tx, &mut out[at..], spec, 8, fill, Some(SentPayload::MaxData { stream: id }));
                let Some(n) = n else { return at };
                at += n;
                self.streams.map.get_mut(&id).expect("present").credit_owed = false;
                continue;
            }
            if st.send.has_retransmit() {
                if self.probes_owed == 0 && !self.recovery.window_allows(FRAME_OVERHEAD as u64) {
                    return at;
                }
                let live = st.mode.is_live();
                let Some(seg) = st.send.next_retransmit(room.saturating_sub(FRAME_OVERHEAD + DATA_HEADER_LEN)) else {
                    return at;
                };
                match self.emit_data(tx, &mut out[at..], id, &seg, live) {
                    Some(n) => {
                        at += n;
                        self.probes_owed = self.probes_owed.saturating_sub(1);
                    }
                    None => {
                        self.streams.map.get_mut(&id).expect("present").send.on_lost(seg.seq);
                        return at;
                    }
                }
                continue;
            }
            self.streams.control_queue.pop_front();
        }
        // 3. New data, round robin, under the congestion window and the pacer.
        let mut turns = self.streams.send_queue.len();
        while turns > 0 {
            let Some(id) = self.streams.send_queue.pop_front() else { break };
            turns -= 1;
            let Some(st) = self.streams.map.get_mut(&id) else { continue };
            if let crate::stream::StreamMode::Live { deadline } = st.mode {
                let dropped = st.send.drop_stale(now, deadline);
                self.streams.sent_total += dropped;
            }
            let session_room = self.streams.session_room();
            let st = self.streams.map.get_mut(&id).expect("present");
            if !st.send.has_new(session_room) {
                st.in_send_queue = false;
                continue;
            }
            let room = (out.len() - at).saturating_sub(FRAME_OVERHEAD + DATA_HEADER_LEN);
            let want = st.send.capacity().min(MIN_SEGMENT as u64) as usize;
            let fin_only = st.send.is_finishing();
            if room < want.min(MIN_SEGMENT) && !(fin_only && room > 0)
                || out.len() - at < FRAME_OVERHEAD + DATA_HEADER_LEN
            {
                self.streams.send_queue.push_front(id);
                break;
            }
            let size = (room + FRAME_OVERHEAD + DATA_HEADER_LEN) as u64;
            if !self.recovery.window_allows(size.min(1200)) {
                self.streams.send_queue.push_front(id);
                break;
            }
            let ready_at = self.recovery.pacing_ready_at(now, size.min(1500));
            if ready_at > now {
                self.pacing_until = Some(ready_at);
                self.streams.send_queue.push_front(id);
                break;
            }
            self.pacing_until = None;
            let st = self.streams.map.get_mut(&id).expect("present");
            let live = st.mode.is_live();
            let Some(seg) = st.send.next_segment(room, session_room) else {
                st.in_send_queue = false;
                continue;
            };
            self.streams.sent_total += seg.data.len() as u64;
            match self.emit_data(tx, &mut out[at..], id, &seg, live) {
                Some(n) => at += n,
                None => {
                    // Cannot happen after the room check; keep the segment for retransmission.
                    self.streams.map.get_mut(&id).expect("present").send.on_lost(seg.seq);
                    self.streams.queue_control(id);
                }
            }
            let session_room = self.streams.session_room();
            let st = self.streams.map.get_mut(&id).expect("present");
            if st.send.has_new(session_room) {
                self.streams.send_queue.push_back(id);
                turns += 1;
            } else {
                st.in_send_queue = false;
            }
        }
        at
    }
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
    pub rotation: Option<u32>,
    pub exhausted: bool,
}
