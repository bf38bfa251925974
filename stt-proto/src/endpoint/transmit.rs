//! The output path: `poll_transmit` fills the caller's buffer with one datagram.
//!
//! Stateless handshake replies go first, then sessions in the ready queue, round-robin: each turn
//! packs as many of one session's queued frames as fit into one datagram for its remote.

use super::{Endpoint, Remote};
use crate::config::{EndpointConfig, NodeId};
use crate::event::{CloseReason, Direction, Event};
use crate::handshake::{handshake_tag, write_handshake_frame};
use crate::session::{Outgoing, Session, SessionHandle, State};
use crate::time::Instant;
use crate::wire::control::Disconnect;
use crate::wire::handshake::{Confirm, Init, Response};
use crate::wire::{aad_of, frame_len, write_skeleton, Flags, FrameType, Header};

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
    Written {
        len: usize,
        rotated: Option<u32>,
    },
    /// Does not fit in what is left of the buffer.
    NoRoom,
    /// Not sendable before the handshake completes.
    NotYet,
    /// Obsolete (a handshake retransmission for a session already established).
    Skip,
    /// No packet number left.
    Exhausted,
}

fn write_sealed(
    s: &mut Session,
    cfg: &EndpointConfig,
    now: Instant,
    out: &mut [u8],
    frame_type: FrameType,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> Encoded {
    let n = frame_len(payload_len);
    if out.len() < n {
        return Encoded::NoRoom;
    }
    let sid = s.session_id;
    let Some(keys) = s.keys.as_mut() else { return Encoded::NotYet };
    let rotated = keys.maybe_rotate_send(now, &cfg.key_rotation, cfg.key_retention);
    let Some(pn) = keys.next_packet_number() else { return Encoded::Exhausted };
    let header = Header { frame_type, session_id: sid, stream_id: 0, sequence: 0, flags: keys.flags(Flags(0)) };
    let out = &mut out[..n];
    let (payload, tag) = write_skeleton(out, &header, payload_len, pn);
    fill(&mut out[payload.clone()]);
    let aad = aad_of(out);
    let t = keys.seal(pn, &aad, &mut out[payload]);
    out[tag].copy_from_slice(&t);
    Encoded::Written { len: n, rotated }
}

fn encode(s: &mut Session, me: &NodeId, cfg: &EndpointConfig, now: Instant, o: &Outgoing, out: &mut [u8]) -> Encoded {
    let established = matches!(s.state, State::Established | State::Closing);
    let hand = |n: Option<usize>| match n {
        Some(len) => Encoded::Written { len, rotated: None },
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
            write_sealed(s, cfg, now, out, FrameType(*frame_type), payload.len(), |p| p.copy_from_slice(payload))
        }
        Outgoing::Keepalive => write_sealed(s, cfg, now, out, FrameType::KEEPALIVE, 0, |_| {}),
        Outgoing::Disconnect { code, reason } => {
            let d = Disconnect { code: *code, reason };
            write_sealed(s, cfg, now, out, FrameType::DISCONNECT, d.len(), |p| {
                d.encode(p);
            })
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
        let slot = &mut self.slots[handle.index as usize];
        if slot.generation != handle.generation {
            return None;
        }
        let s = slot.session.as_mut()?;
        s.in_ready_queue = false;
        let remote = s.remote;
        let max = buf.len().min(cfg.max_datagram(remote.transport));
        let mut len = 0;
        let mut frames = 0u64;
        let mut closed = None;
        let mut rotation = None;
        let mut stalled = false;
        while let Some(o) = s.queue.pop_front() {
            match encode(s, &me, cfg, now, &o, &mut buf[len..max]) {
                Encoded::Written { len: n, rotated } => {
                    len += n;
                    frames += 1;
                    // A rotation needs the peer's confirmation of the previous one, so at most
                    // one happens per datagram.
                    rotation = rotation.or(rotated);
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
                Encoded::NoRoom => {
                    s.queue.push_front(o);
                    break;
                }
                Encoded::NotYet => {
                    s.queue.push_front(o);
                    stalled = true;
                    break;
                }
                Encoded::Exhausted => {
                    closed = Some(CloseReason::PacketNumbersExhausted);
                    break;
                }
            }
        }
        if len > 0 {
            s.stats.frames_sent += frames;
            s.stats.bytes_sent += len as u64;
            s.stats.datagrams_sent += 1;
            s.last_sent = now;
            if let Some(keys) = &s.keys {
                s.stats.key_generations.0 = keys.generations().0;
            }
            self.stats.datagrams_sent += 1;
            self.stats.bytes_sent += len as u64;
        }
        if let Some(generation) = rotation {
            self.events.push_back(Event::KeyRotated { session: handle, direction: Direction::Send, generation });
        }
        if let Some(reason) = closed {
            self.close_now(now, handle, reason);
        } else {
            if !stalled {
                self.mark_ready(handle);
            }
            self.reschedule(handle);
        }
        (len > 0).then_some(Transmit { remote, len, segment_size: None })
    }
}
