//! The output path: `poll_transmit` fills the caller's buffer with one datagram.
//!
//! Stateless handshake replies go first, then sessions in the ready queue, round-robin: each turn
//! packs as many of one session's frames as fit into one datagram for its remote: queued control
//! frames (handshake, custom, keepalive, disconnect), then ACK, stream control, retransmissions
//! and new stream data (see `session::io`).

use super::{Endpoint, Remote};
use crate::config::NodeId;
use crate::event::{CloseReason, Direction, Event};
use crate::handshake::{handshake_tag, write_handshake_frame};
use crate::recovery::SentPayload;
use crate::session::io::{Tally, Tx};
use crate::session::{FrameSpec, Outgoing, Sealed, Session, SessionHandle, State};
use crate::time::Instant;
use crate::wire::control::Disconnect;
use crate::wire::handshake::{Confirm, Init, Response};
use crate::wire::FrameType;

/// One datagram produced by [`Endpoint::poll_transmit`]: send `buf[..len]` to `remote`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the datagram in the buffer must be sent"]
pub struct Transmit {
    /// Where to send it.
    pub remote: Remote,
    /// How many bytes of the buffer to send.
    pub len: usize,
    /// For GSO: the size of each datagram when several of equal size were written back to back.
    /// This version always writes one datagram per call, so it is `None`.
    pub segment_size: Option<usize>,
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
            match &h.response {
                None => {
                    let mut ids = [0u8; crate::wire::handshake::MAX_SUITES];
                    for (d, suite) in ids.iter_mut().zip(&cfg.suites) {
                        *d = suite.id();
                    }
                    let init =
                        Init { node_id: me.0, nonce: h.nonce_i, suites: &ids[..cfg.suites.len()], extensions: &[] };
                    let tag = handshake_tag(&h.nonce_i);
                    hand(write_handshake_frame(
                        out,
                        FrameType::INIT,
                        tag,
                        init.len(),
                        |p| init.encode(p),
                        Some(&h.k_hs),
                    ))
                }
                Some(r) => {
                    let resp = Response {
                        node_id_i: me.0,
                        node_id_r: r.node_id_r,
                        nonce_i: h.nonce_i,
                        nonce_r: r.nonce_r,
                        suite: r.suite.id(),
                        cookie: r.cookie,
                        extensions: &[],
                    };
                    hand(write_handshake_frame(
                        out,
                        FrameType::RESPONSE,
                        s.session_id,
                        resp.len(),
                        |p| resp.encode(p),
                        Some(&r.k_response),
                    ))
                }
            }
        }
        Outgoing::Confirm => {
            let c = Confirm { extensions: &[] };
            hand(write_handshake_frame(
                out,
                FrameType::CONFIRM,
                s.session_id,
                c.len(),
                |p| c.encode(p),
                Some(&s.k_confirm),
            ))
        }
        _ if !established => Encoded::NotYet,
        Outgoing::Custom { frame_type, payload } => {
            let spec = FrameSpec::control(FrameType(*frame_type));
            sealed(s.seal_tracked(tx, out, spec, payload.len(), |p| p.copy_from_slice(payload), None))
        }
        Outgoing::Keepalive => {
            let spec = FrameSpec::control(FrameType::KEEPALIVE);
            sealed(s.seal_tracked(tx, out, spec, 0, |_| {}, Some(SentPayload::Ping)))
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

impl Endpoint {
    /// Writes the next datagram to send into `buf` and says where it goes, or returns `None` when
    /// there is nothing to send. Call until `None` after every `handle_*` call and command.
    ///
    /// `buf` should hold at least the path's maximum datagram (`max_udp_datagram`, or
    /// `max_websocket_datagram` for WebSocket remotes); a frame that cannot fit an empty `buf` is
    /// dropped and counted in `dropped.transmit_buffer_too_small`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.last_now = self.last_now.max(now);
        if let Some(r) = self.replies.pop_front() {
            if buf.len() >= r.len {
                buf[..r.len].copy_from_slice(&r.bytes[..r.len]);
                self.stats.datagrams_sent += 1;
                self.stats.bytes_sent += r.len as u64;
                return Some(Transmit { remote: r.remote, len: r.len, segment_size: None });
            }
            self.stats.dropped.transmit_buffer_too_small += 1;
        }
        while let Some((index, generation)) = self.ready.pop_front() {
            let handle = SessionHandle { index, generation };
            if let Some(t) = self.transmit_session(now, handle, buf) {
                return Some(t);
            }
        }
        None
    }

    fn transmit_session(&mut self, now: Instant, handle: SessionHandle, buf: &mut [u8]) -> Option<Transmit> {
        let me = self.identity.node_id();
        let cfg = &self.config;
        let names = &self.names;
        let slot = &mut self.slots[handle.index as usize];
        if slot.generation != handle.generation {
            return None;
        }
        let s = slot.session.as_mut()?;
        s.in_ready_queue = false;
        let remote = s.remote;
        let max = buf.len().min(cfg.max_datagram(remote.transport));
        let mut len = 0;
        let mut tally = Tally::default();
        let tx = &mut Tx { now, cfg, tally: &mut tally };
        let mut closed = None;
        while let Some(o) = s.queue.pop_front() {
            match encode(s, &me, tx, &o, &mut buf[len..max]) {
                Encoded::Written(n) => {
                    len += n;
                    tx.tally.frames += 1;
                    match o {
                        Outgoing::Custom { .. } => s.custom_queued -= 1,
                        Outgoing::Keepalive => s.keepalive_queued = false,
                        Outgoing::Disconnect { code, reason } => {
                            closed = Some(CloseReason::ClosedLocally { code, reason });
                            break;
                        }
                        _ => {}
                    }
                }
                Encoded::Skip => {}
                Encoded::NoRoom if len == 0 => {
                    self.stats.dropped.transmit_buffer_too_small += 1;
                    if let Outgoing::Custom { .. } = o {
                        s.custom_queued -= 1;
                    }
                }
                Encoded::NoRoom | Encoded::NotYet => {
                    s.queue.push_front(o);
                    break;
                }
                Encoded::Exhausted => {
                    tx.tally.exhausted = true;
                    break;
                }
            }
        }
        if closed.is_none() && !tx.tally.exhausted {
            len = s.write_name_frames(tx, &mut buf[..max], len, names);
            len = s.write_stream_frames(tx, &mut buf[..max], len);
        }
        if tally.exhausted {
            closed = Some(CloseReason::PacketNumbersExhausted);
        }
        if len > 0 {
            s.stats.frames_sent += tally.frames;
            s.stats.bytes_sent += len as u64;
            s.stats.datagrams_sent += 1;
            s.last_sent = now;
            if let Some(keys) = &s.keys {
                s.stats.key_generations.0 = keys.generations().0;
            }
            self.stats.datagrams_sent += 1;
            self.stats.bytes_sent += len as u64;
        }
        if let Some(generation) = tally.rotation {
            self.events.push_back(Event::KeyRotated { session: handle, direction: Direction::Send, generation });
        }
        if let Some(reason) = closed {
            self.close_now(now, handle, reason);
        } else {
            if len > 0 {
                self.mark_ready(now, handle);
            }
            self.reschedule(handle);
        }
        (len > 0).then_some(Transmit { remote, len, segment_size: None })
    }
}
