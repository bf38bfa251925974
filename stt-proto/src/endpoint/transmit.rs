//! The output path: `poll_transmit` fills the caller's buffer.
//!
//! Stateless handshake replies go first, then sessions from the ready queue, round-robin: each
//! turn asks one session for its next datagram (`Session::write_datagram`), or, when it is
//! validating a new address of its peer, for a PATH_CHALLENGE to that address. With
//! `max_datagrams > 1`, the same session may add more datagrams of the same size back to back
//! (one GSO send for the driver), and then the next sessions on the ready queue going to the same
//! address one each, in at most that size: many sessions between the same two nodes (a hub and a
//! gateway's devices, say) share one send. With one datagram per call nothing is chained.

use super::Endpoint;
use crate::session::{PathDatagram, Then};
use crate::time::Instant;
use crate::types::Remote;

/// What [`Endpoint::poll_transmit`] wrote: send `buf[..len]` to `remote`, as one datagram, or
/// with `segment_size` as `len / segment_size` datagrams of that size back to back (the last may
/// be shorter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the datagrams in the buffer must be sent"]
pub struct Transmit {
    /// Where to send them.
    pub remote: Remote,
    /// How many bytes of the buffer to send.
    pub len: usize,
    /// Set when several datagrams were written: the size of each but the last.
    pub segment_size: Option<usize>,
}

impl Transmit {
    /// How many datagrams the buffer holds.
    pub fn datagrams(&self) -> usize {
        match self.segment_size {
            Some(s) => self.len.div_ceil(s),
            None => 1,
        }
    }
}

impl Endpoint {
    /// After `buf[..len]`, datagrams of `segment` bytes to `remote`: the next sessions on the
    /// ready queue with that remote each add one (the keepalives of a node's idle sessions to
    /// one peer node, or the acknowledgements of them, become one GSO send), up to `max` more,
    /// until one is shorter (it ends the batch), a session writes nothing, or the next ready
    /// session goes elsewhere or, behind datagrams smaller than the path's largest, has more
    /// than a KEEPALIVE and an ACK to send. Returns how many were added.
    fn follow_to_same_remote(
        &mut self,
        now: Instant,
        remote: Remote,
        segment: usize,
        max: usize,
        buf: &mut [u8],
        len: &mut usize,
    ) -> usize {
        // Behind full datagrams a session writes as in a call of its own. Behind smaller ones
        // only a session with nothing but a KEEPALIVE and an ACK to send is taken: anything else
        // would be cut to their size, or a frame that does not fit dropped.
        let small = segment < self.config.max_datagram(remote.transport);
        let mut added = 0;
        while added < max && buf.len() - *len >= segment {
            let Some(next) = self.sessions.peek_ready() else { break };
            let Some(s) = self.sessions.get(next) else { break };
            if s.next_destination(now) != (remote, PathDatagram::Frames) || (small && !s.sends_only_keepalive_or_ack())
            {
                break;
            }
            let _ = self.sessions.pop_ready();
            let Some((s, mut ctx)) = self.session_and_ctx(now, next) else { break };
            let (n, then) = s.write_datagram(&mut ctx, &mut buf[*len..*len + segment]);
            self.after(now, next, then);
            if n == 0 {
                // Nothing fitted: it stays ready for a call of its own.
                self.sessions.mark_ready(now, next);
                break;
            }
            self.stats.datagrams_sent += 1;
            self.stats.bytes_sent += n as u64;
            *len += n;
            added += 1;
            if n < segment {
                break;
            }
        }
        added
    }

    /// Writes the next datagrams to send into `buf` and says where they go, or returns `None`
    /// when there is nothing to send. Call until `None` after every `handle_*` call and command.
    ///
    /// With `max_datagrams` 1, one datagram is written. With more, a session that fills a
    /// datagram to the path's maximum may write further datagrams of that size behind it (the
    /// last may be shorter), up to `max_datagrams` or the end of `buf`; `segment_size` then says
    /// the size, for a GSO send. `buf` should hold at least the path's maximum datagram
    /// (`max_udp_datagram`, or `max_websocket_datagram` for WebSocket remotes); a frame that
    /// cannot fit an empty `buf` is dropped and counted in `dropped.transmit_buffer_too_small`.
    pub fn poll_transmit(&mut self, now: Instant, max_datagrams: usize, buf: &mut [u8]) -> Option<Transmit> {
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
        while let Some(handle) = self.sessions.pop_ready() {
            let Some((remote, kind)) = self.sessions.get(handle).map(|s| s.next_destination(now)) else {
                continue;
            };
            if kind != PathDatagram::Frames {
                // A PATH_CHALLENGE to an address being validated, or a PATH_RESPONSE to the
                // address a challenge came from: one small datagram of its own.
                let Some((s, mut ctx)) = self.session_and_ctx(now, handle) else { continue };
                let (n, then) = match kind {
                    PathDatagram::Challenge => s.write_path_challenge(&mut ctx, buf),
                    _ => s.write_path_response(&mut ctx, buf),
                };
                self.after(now, handle, then);
                if n > 0 {
                    self.stats.datagrams_sent += 1;
                    self.stats.bytes_sent += n as u64;
                    return Some(Transmit { remote, len: n, segment_size: None });
                }
                continue;
            }
            let full = self.config.max_datagram(remote.transport);
            let mut len = 0;
            let mut segment = 0;
            let mut count = 0;
            loop {
                let room = if count == 0 { buf.len() } else { (buf.len() - len).min(segment) };
                let Some((s, mut ctx)) = self.session_and_ctx(now, handle) else { break };
                let (n, then) = s.write_datagram(&mut ctx, &mut buf[len..len + room]);
                if n > 0 {
                    self.stats.datagrams_sent += 1;
                    self.stats.bytes_sent += n as u64;
                }
                let more = matches!(then, Then::Transmit);
                self.after(now, handle, then);
                if n == 0 {
                    break;
                }
                if count == 0 {
                    segment = n;
                }
                len += n;
                count += 1;
                // Another datagram of the same size may follow only behind a full one, while the
                // session is still ready and the caller has room.
                if !more || n < segment || segment < full || count >= max_datagrams || buf.len() - len < segment {
                    break;
                }
                if !self.sessions.take_back_ready(handle) {
                    break;
                }
            }
            if len > 0 {
                if len == count * segment {
                    count += self.follow_to_same_remote(now, remote, segment, max_datagrams - count, buf, &mut len);
                }
                let segment_size = (count > 1).then_some(segment);
                return Some(Transmit { remote, len, segment_size });
            }
        }
        None
    }
}
