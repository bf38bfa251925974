//! The driver task: the run loop of the sans-IO core on tokio.
//!
//! Each turn: take in every datagram waiting on the UDP socket (WebSocket readers feed the core
//! from their own tasks), run due timers, drain the core's output (a bounded batch per turn,
//! equal-sized datagrams to one address coalesced for GSO) and send it, then dispatch the core's
//! events, so that an event never announces what has not left the node yet. When a turn did
//! nothing, sleep until a socket is readable, a command arrives, or the core's next deadline.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use stt_proto::{Remote, Transport};

use crate::node::Inner;
use crate::udp::{RecvBufs, UdpIo};

/// Most datagrams produced per turn before input is looked at again.
const TX_BATCH: usize = 64;
/// Most receive calls per turn before output is produced again.
const RX_ROUNDS: usize = 8;
/// Largest GSO send (the kernel's limit is a 64 KiB IP payload).
const GSO_MAX_BYTES: usize = 65_000;
/// Receive pool: datagrams are copied into slices of it, handed to the core without further
/// copies, and the pool is replaced when used up (one allocation per ~180 datagrams).
const RX_POOL: usize = 256 * 1024;

/// One UDP send: `len` bytes at `start` of the batch buffer, possibly several GSO segments.
struct UdpSend {
    to: std::net::SocketAddr,
    start: usize,
    len: usize,
    segment: usize,
    count: usize,
}

struct Output {
    buf: Vec<u8>,
    udp: Vec<UdpSend>,
    ws: Vec<(std::net::SocketAddr, Bytes)>,
}

pub(crate) async fn run(inner: Arc<Inner>) {
    let mut rx = RecvBufs::new();
    let mut pool = BytesMut::with_capacity(RX_POOL);
    let mut out = Output { buf: vec![0u8; TX_BATCH * inner.max_datagram], udp: Vec::new(), ws: Vec::new() };
    let mut calls = Vec::new();
    let mut received = Vec::new();
    loop {
        if inner.stop_requested.load(std::sync::atomic::Ordering::Acquire) {
            inner.stop();
            return;
        }
        let udp = inner.udp.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut busy = false;

        // Input.
        for _ in 0..RX_ROUNDS {
            let r = udp.try_recv(&mut rx, |from, d| {
                if pool.capacity() - pool.len() < d.len() {
                    pool = BytesMut::with_capacity(RX_POOL);
                }
                pool.extend_from_slice(d);
                received.push((Remote::udp(from), pool.split()));
            });
            match r {
                Ok(_) => busy = true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => break, // ICMP errors and the like: the protocol's timers handle them
            }
        }
        if !received.is_empty() {
            inner.handle_datagrams(received.drain(..));
        }

        // Timers and output.
        let more = {
            let mut st = inner.lock();
            if st.stopped {
                return;
            }
            let now = inner.now();
            if st.ep.poll_timeout().is_some_and(|t| t <= now) {
                st.ep.handle_timeout(now);
            }
            let more = fill(&mut st.ep, now, &udp, &mut out);
            for (to, d) in out.ws.drain(..) {
                match st.ws.get(&to).map(|tx| tx.try_send(d)) {
                    Some(Ok(())) => {}
                    _ => st.ws_dropped += 1,
                }
            }
            more
        };
        busy |= !out.udp.is_empty();
        for s in out.udp.drain(..) {
            let seg = (s.count > 1).then_some(s.segment);
            let _ = udp.send(s.to, &out.buf[s.start..s.start + s.len], seg).await;
        }

        // Events, only now: what they announce (a DISCONNECT written, say) has left the node.
        let deadline = {
            let mut st = inner.lock();
            st.dispatch_events(&inner, &mut calls);
            for w in st.flush_wakers.drain(..) {
                w.wake();
            }
            st.ep.poll_timeout()
        };
        for call in calls.drain(..) {
            call.run();
        }
        if busy || more {
            tokio::task::yield_now().await;
            continue;
        }

        // Idle: wait for something to do.
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(inner.deadline(t)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = udp.readable() => {}
            _ = sleep => {}
        }
    }
}

/// Drains up to `TX_BATCH` datagrams from the core into `out`, coalescing runs of equal-sized
/// datagrams to one UDP address into GSO sends. Returns true if the batch filled up.
fn fill(ep: &mut stt_proto::Endpoint, now: stt_proto::Instant, udp: &UdpIo, out: &mut Output) -> bool {
    let max_segments = udp.max_segments();
    let mut pos = 0;
    let max = out.buf.len() / TX_BATCH;
    for _ in 0..TX_BATCH {
        let Some(t) = ep.poll_transmit(now, 1, &mut out.buf[pos..pos + max]) else { return false };
        match t.remote.transport {
            Transport::WebSocket => {
                out.ws.push((t.remote.addr, Bytes::copy_from_slice(&out.buf[pos..pos + t.len])));
                continue;
            }
            Transport::Udp => {}
        }
        let extend = out.udp.last_mut().filter(|last| {
            last.to == t.remote.addr
                && last.start + last.len == pos
                && last.count < max_segments
                && last.len == last.segment * last.count
                && t.len <= last.segment
                && last.len + t.len <= GSO_MAX_BYTES
        });
        match extend {
            Some(last) => {
                last.len += t.len;
                last.count += 1;
            }
            None => out.udp.push(UdpSend { to: t.remote.addr, start: pos, len: t.len, segment: t.len, count: 1 }),
        }
        pos += t.len;
    }
    true
}
