//! The driver task: the run loop of the sans-IO core on tokio.
//!
//! Each turn: take in every datagram waiting on the UDP socket (WebSocket readers feed the core
//! from their own tasks); then, under one lock of the node, dispatch the events taken last turn,
//! feed the datagrams to the core, run due timers, drain the core's output (a bounded batch per
//! turn; the core writes runs of equal-sized datagrams back to back and says their size, which
//! becomes one GSO send) and take the core's new events; unlocked, send. Events are dispatched
//! one turn after they are taken, so that an event never announces what has not left the node
//! yet. When a turn did nothing and no events wait, sleep until a socket is readable, a command
//! arrives, or the core's next deadline.
//!
//! The Diffie–Hellman of accepted handshakes (`EndpointConfig::offload_handshakes`, which
//! `NodeConfig` turns on) runs on tokio's blocking threads, at most one piece per core at once;
//! the outcomes come back through a channel and are fed to the core at the next turn, so a burst
//! of new sessions does not hold up the datagrams of established ones. A lone handshake arriving
//! at a quiet node is done in the turn, where the hand-over would only add latency.
//!
//! A shard of a sharded node (`Node::bind_shards`) takes, before its socket, what the other
//! shards handed on to it; each datagram from its socket whose session another shard holds goes
//! to that shard (`shards.rs`) instead of its own core, and the ids its core reports as claimed
//! or released reach the shared map before the turn's output leaves.

use std::sync::Arc;

use bytes::Bytes;
use stt_proto::{Remote, Transport};

use crate::shared::Inner;
use crate::udp::{RecvBufs, UdpIo};

/// Most datagrams produced per turn before input is looked at again.
const TX_BATCH: usize = 64;
/// Most receive calls per turn before output is produced again.
const RX_ROUNDS: usize = 8;
/// Largest GSO send (the kernel's limit is a 64 KiB IP payload).
const GSO_MAX_BYTES: usize = 65_000;
/// Size of each of the two receive pools.
const RX_POOL: usize = 512 * 1024;

/// Socket errors counted outside the node's lock.
#[derive(Default)]
struct IoErrors {
    send: u64,
    receive: u64,
    /// Datagrams handed on to another shard, and those of them no running shard took.
    handed_on: u64,
    unroutable: u64,
}

/// One UDP send: `len` bytes at `start` of the batch buffer, several datagrams of `segment`
/// bytes (the last may be shorter) when `segment` is set.
struct UdpSend {
    to: std::net::SocketAddr,
    start: usize,
    len: usize,
    segment: Option<usize>,
}

struct Output {
    buf: Vec<u8>,
    /// Room one `poll_transmit` call needs: the largest datagram of either transport.
    room: usize,
    udp: Vec<UdpSend>,
    ws: Vec<(std::net::SocketAddr, Bytes)>,
}

pub(crate) async fn run(inner: Arc<Inner>) {
    let mut rx = RecvBufs::new();
    // Received datagrams are copied into slices of the pool and handed to the core without
    // further copies; steady-state receiving allocates nothing.
    let mut pool = stt_common::RecvPool::new(RX_POOL);
    // Sized from the UDP datagram: a batch of UDP datagrams, with room at the end for one of the
    // largest WebSocket datagram when that is bigger.
    let room = inner.max_udp_datagram.max(inner.max_ws_datagram);
    let mut out = Output {
        buf: vec![0u8; (TX_BATCH - 1) * inner.max_udp_datagram + room],
        room,
        udp: Vec::new(),
        ws: Vec::new(),
    };
    let mut calls = Vec::new();
    let mut received = Vec::new();
    let mut events = Vec::new();
    let mut drops = stt_common::DropReport::new();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<stt_proto::HandshakeDone>();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut working = 0usize;
    // Socket errors of this turn, added to the node's counters at the next lock.
    let mut io_errors = IoErrors::default();
    let mut work = Vec::new();
    let mut handed_on = Vec::new();
    loop {
        if inner.stop_requested.load(std::sync::atomic::Ordering::Acquire) {
            inner.stop();
            return;
        }
        let udp = inner.udp.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut busy = false;

        // Input: what other shards handed on first (it arrived before this turn), then the
        // socket.
        if let Some((_, inbox)) = inner.shard.get() {
            inbox.take(&mut received);
        }
        busy |= !received.is_empty();
        let handed_in = received.len();
        for _ in 0..RX_ROUNDS {
            let r = udp.try_recv(&mut rx, |from, d| received.push((Remote::udp(from), pool.copy(d))));
            match r {
                Ok(_) => busy = true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // ICMP errors and the like: the protocol's timers handle them.
                    io_errors.receive += 1;
                    break;
                }
            }
        }

        // The core's work, under one lock for the whole turn.
        let (more, deadline, released) = {
            let mut st = inner.lock();
            if st.stopped {
                return;
            }
            // The events taken at the end of the last turn, only now: what they announce (a
            // DISCONNECT written, say) has left the node since. Flush waiters re-check.
            st.dispatch_events(&inner, &mut events, &mut calls);
            for w in st.flush_wakers.drain(..) {
                w.wake();
            }
            let now = inner.now();
            let arrived = received.len();
            let router = inner.shard.get().map(|(router, _)| router);
            for (i, (remote, d)) in received.drain(..).enumerate() {
                // What another shard handed on is this one's: never handed on again.
                match router.filter(|_| i >= handed_in).and_then(|r| r.elsewhere(&st.ep, &d)) {
                    Some(shard) => handed_on.push((shard, remote, d)),
                    None => st.ep.handle_datagram(now, remote, d),
                }
            }
            while let Ok(done) = done_rx.try_recv() {
                working -= 1;
                st.ep.handle_handshake_done(now, done);
            }
            // A lone handshake on a quiet node is done here: handing it over would only add a
            // thread's wake-up to its latency.
            if arrived <= 1 && working == 0 && st.ep.handshake_work_in_progress() == 1 {
                if let Some(w) = st.ep.poll_handshake_work() {
                    st.ep.handle_handshake_done(now, w.run());
                }
            }
            while working + work.len() < workers {
                let Some(w) = st.ep.poll_handshake_work() else { break };
                work.push(w);
            }
            if st.ep.poll_timeout().is_some_and(|t| t <= now) {
                st.ep.handle_timeout(now);
            }
            // Before anything this turn produced leaves: the answers to it may come to any shard.
            if let Some(router) = router {
                router.note_changes(&mut st.ep);
            }
            let more = fill(&mut st.ep, now, &udp, &mut out, inner.max_udp_datagram);
            for (to, d) in out.ws.drain(..) {
                match st.ws.get(&to).map(|tx| tx.try_send(d)) {
                    Some(Ok(())) => {}
                    Some(Err(_)) => st.driver_stats.websocket.dropped += 1,
                    None => st.driver_stats.unroutable += 1,
                }
            }
            // Counted unlocked during the last turn.
            st.driver_stats.send_errors += std::mem::take(&mut io_errors.send);
            st.driver_stats.receive_errors += std::mem::take(&mut io_errors.receive);
            st.driver_stats.handed_on += std::mem::take(&mut io_errors.handed_on);
            st.driver_stats.unroutable += std::mem::take(&mut io_errors.unroutable);
            events.extend(std::iter::from_fn(|| st.ep.poll_event()));
            drops.tick(std::time::Instant::now(), || st.ep.stats().dropped);
            (more, st.ep.poll_timeout(), std::mem::take(&mut st.released))
        };
        if let Some((router, _)) = inner.shard.get() {
            io_errors.handed_on += handed_on.len() as u64;
            busy |= !handed_on.is_empty();
            // A shard that stopped takes nothing: what was for it is lost, as on the path.
            io_errors.unroutable += router.hand_on(&mut handed_on);
        }
        // Ended sessions' shared parts go unlocked: what the application kept in them may call
        // into the node when dropped.
        drop(released);
        busy |= !out.udp.is_empty();
        for w in work.drain(..) {
            working += 1;
            let (done_tx, inner) = (done_tx.clone(), inner.clone());
            tokio::task::spawn_blocking(move || {
                // A node that stopped meanwhile has dropped the receiver: the outcome goes nowhere.
                if done_tx.send(w.run()).is_ok() {
                    inner.wake.notify_one();
                }
            });
        }
        for s in out.udp.drain(..) {
            if udp.send(s.to, &out.buf[s.start..s.start + s.len], s.segment).await.is_err() {
                // Treated as loss: the protocol recovers.
                io_errors.send += s.segment.map_or(1, |size| s.len.div_ceil(size.max(1))) as u64;
            }
        }
        for call in calls.drain(..) {
            call.run();
        }
        // Events taken this turn are dispatched at the start of the next, without sleeping.
        if busy || more || !events.is_empty() {
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
        let handed_in = async {
            match inner.shard.get() {
                Some((_, inbox)) => inbox.wake.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = handed_in => {}
            _ = udp.readable() => {}
            _ = sleep => {}
        }
    }
}

/// Drains up to `TX_BATCH` datagrams from the core into `out`: each `poll_transmit` call may
/// write a run of equal-sized datagrams for one UDP address, sent as one GSO batch; WebSocket
/// datagrams become one message each. Returns true if the batch filled up.
fn fill(ep: &mut stt_proto::Endpoint, now: stt_proto::Instant, udp: &UdpIo, out: &mut Output, udp_max: usize) -> bool {
    let max_segments = udp.max_segments().min(GSO_MAX_BYTES / udp_max).max(1);
    let mut pos = 0;
    let mut datagrams = 0;
    while datagrams < TX_BATCH && out.buf.len() - pos >= out.room {
        let batch = max_segments.min(TX_BATCH - datagrams);
        let Some(t) = ep.poll_transmit(now, batch, &mut out.buf[pos..]) else { return false };
        datagrams += t.datagrams();
        let bytes = &out.buf[pos..pos + t.len];
        match t.remote.transport {
            Transport::WebSocket => {
                for d in bytes.chunks(t.segment_size.unwrap_or(t.len).max(1)) {
                    out.ws.push((t.remote.addr, Bytes::copy_from_slice(d)));
                }
                continue;
            }
            // This driver has no transport of its own: a session only gets such a remote from an
            // application that set it. What goes there is lost, as on a path that is down.
            Transport::Custom(_) => continue,
            Transport::Udp => {}
        }
        out.udp.push(UdpSend { to: t.remote.addr, start: pos, len: t.len, segment: t.segment_size });
        pos += t.len;
    }
    true
}
