//! STT's sans-IO core in a Cortex-M4 firmware, run under QEMU (`cargo run --release`).
//!
//! Two `Endpoint`s live in the firmware and pass datagrams to each other in memory, over a
//! transport of the firmware's own (`Transport::Custom`, station numbers as addresses); time is a
//! simulated clock that jumps to the next deadline when nothing is in flight, and randomness is
//! a fixed seed per endpoint (a real device seeds from its hardware generator). The run: a
//! handshake, 64 KiB over a reliable stream checked by SHA3-256, a live stream while every
//! seventh datagram is dropped, a key rotation, a close with a reason. It prints a verdict, the
//! heap and stack it used, and exits QEMU with success or failure. Built with the `corrupt`
//! feature, it corrupts every datagram once the session is up and must report the
//! authentication failure.

#![no_std]
#![no_main]

extern crate alloc;

mod measure;

use panic_semihosting as _;

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::BytesMut;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use stt_proto::crypto::sha3_256;
use stt_proto::{
    Channel, CloseReason, CustomAddress, Endpoint, EndpointConfig, Event, Identity, Instant, MessageError, Remote,
    Seed, SessionHandle, StreamId, StreamMode, StreamRead,
};

/// Bytes sent over the reliable stream.
const RELIABLE_BYTES: usize = 64 * 1024;
/// Records sent over the live stream, one every `LIVE_INTERVAL`.
const LIVE_RECORDS: u32 = 120;
const LIVE_INTERVAL: Duration = Duration::from_millis(5);
/// Largest datagram on the firmware's link: as UDP's default.
const MAX_DATAGRAM: usize = 1472;
/// The firmware's number for its link, a transport of its own ([`stt_proto::Transport::Custom`]).
const LINK: u8 = 0;

#[entry]
fn main() -> ! {
    measure::init();
    let verdict = run();
    report_memory();
    match verdict {
        Ok(()) => {
            hprintln!("verdict: PASS");
            debug::exit(debug::EXIT_SUCCESS);
        }
        Err(why) => {
            hprintln!("verdict: FAIL: {}", why);
            debug::exit(debug::EXIT_FAILURE);
        }
    }
    // Unreachable under QEMU: semihosting's exit ends the emulation.
    loop {
        cortex_m::asm::wfi();
    }
}

fn report_memory() {
    let m = measure::heap();
    hprintln!(
        "heap: peak {} bytes requested ({} bytes in the allocator with its overhead), in use at the end {} bytes",
        m.peak,
        m.allocator_peak,
        m.used
    );
    hprintln!("stack: peak {} bytes", measure::stack_peak());
}

/// One endpoint and what it reported.
struct Node {
    ep: Endpoint,
    addr: Remote,
    /// Every event but custom frames, which are only counted.
    events: Vec<Event>,
    frames: u32,
}

impl Node {
    fn new(station: u8, node_seed: u8, rng_seed: u8) -> Node {
        // The `small` feature gives limits for a small device (8 sessions, 16 KiB windows).
        let mut cfg = EndpointConfig::with_shared_seed(Seed::new(&[0x5e; 32]).expect("32 bytes"));
        cfg.max_custom_datagram = MAX_DATAGRAM;
        let identity = Identity::from_seed_bytes(&[node_seed; 32]).expect("32 bytes");
        let ep = Endpoint::new(cfg, identity, [rng_seed; 32]).expect("valid configuration");
        // The device's own link (the firmware's in-memory wire), station numbers as addresses.
        let addr = Remote::custom(LINK, CustomAddress::from_u64(u64::from(station)));
        Node { ep, addr, events: Vec::new(), frames: 0 }
    }

    /// The sessions established so far, oldest first.
    fn established(&self) -> impl Iterator<Item = SessionHandle> + '_ {
        self.events.iter().filter_map(|e| match e {
            Event::SessionEstablished { session, .. } => Some(*session),
            _ => None,
        })
    }
}

/// What happens to a datagram on its way.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Deliver,
    Drop,
    Corrupt,
}

/// The two endpoints, the wire between them and the clock.
struct World {
    a: Node,
    b: Node,
    now: Instant,
    buf: Vec<u8>,
    /// Datagrams sent from A to B so far, and which of them to drop.
    a_to_b: u32,
    /// Datagrams passed either way.
    datagrams: u32,
    drop_every: Option<u32>,
    corrupt: bool,
}

impl World {
    /// Moves every datagram both sides want to send, then the events. True if anything moved.
    fn exchange(&mut self) -> bool {
        let mut moved = false;
        for from_a in [true, false] {
            loop {
                let (src, dst) = if from_a { (&mut self.a, &mut self.b) } else { (&mut self.b, &mut self.a) };
                let Some(t) = src.ep.poll_transmit(self.now, 1, &mut self.buf) else { break };
                moved = true;
                self.datagrams += 1;
                let fate = if from_a {
                    self.a_to_b += 1;
                    match self.drop_every {
                        _ if self.corrupt => Fate::Corrupt,
                        Some(n) if self.a_to_b.is_multiple_of(n) => Fate::Drop,
                        _ => Fate::Deliver,
                    }
                } else {
                    Fate::Deliver
                };
                let mut datagram = BytesMut::from(&self.buf[..t.len]);
                match fate {
                    Fate::Drop => continue,
                    Fate::Corrupt => {
                        let last = datagram.len() - 1;
                        datagram[last] ^= 0x01;
                    }
                    Fate::Deliver => {}
                }
                let from = src.addr;
                dst.ep.handle_datagram(self.now, from, datagram);
            }
        }
        for node in [&mut self.a, &mut self.b] {
            while let Some(ev) = node.ep.poll_event() {
                match ev {
                    Event::Frame { .. } => node.frames += 1,
                    ev => node.events.push(ev),
                }
                moved = true;
            }
        }
        moved
    }

    /// Runs until `done`, moving the clock to the next deadline whenever the wire is idle.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut World) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if self.exchange() {
                continue;
            }
            let next = [self.a.ep.poll_timeout(), self.b.ep.poll_timeout()].into_iter().flatten().min();
            let Some(next) = next.filter(|&t| t <= end) else { return done(self) };
            self.now = self.now.max(next);
            self.a.ep.handle_timeout(self.now);
            self.b.ep.handle_timeout(self.now);
        }
    }

    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(d, |w| w.now >= until);
        self.now = self.now.max(until);
        self.a.ep.handle_timeout(self.now);
        self.b.ep.handle_timeout(self.now);
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

/// Reads everything available on `stream`: data appended to `out`; returns true at the end.
fn drain(node: &mut Node, session: SessionHandle, stream: StreamId, out: &mut Vec<u8>, skipped: &mut u64) -> bool {
    let Some(mut s) = node.ep.session_mut(session) else { return false };
    loop {
        match s.read(stream) {
            Ok(Some(StreamRead::Data(b))) => out.extend_from_slice(&b),
            Ok(Some(StreamRead::Skipped { bytes, .. })) => *skipped += bytes,
            Ok(Some(StreamRead::Finished)) => return true,
            Ok(None) | Err(_) => return false,
        }
    }
}

fn run() -> Result<(), &'static str> {
    let before = measure::heap().used;
    let (a, b) = (Node::new(1, 0xa1, 0x01), Node::new(2, 0xb2, 0x02));
    hprintln!(
        "heap: {} bytes per endpoint at setup, besides the {}-byte Endpoint value itself",
        (measure::heap().used - before) / 2,
        core::mem::size_of::<Endpoint>()
    );
    let mut w = World {
        a,
        b,
        now: Instant::from_nanos(1_000_000_000),
        buf: vec![0; MAX_DATAGRAM],
        a_to_b: 0,
        datagrams: 0,
        drop_every: None,
        corrupt: false,
    };
    // Handshake.
    let started = w.now;
    let b_addr = w.b.addr;
    w.a.ep.connect(w.now, b_addr).map_err(|_| "connect refused")?;
    if !w.run_until(Duration::from_secs(5), |w| w.a.established().count() == 1 && w.b.established().count() == 1) {
        return Err("the handshake did not complete");
    }
    let (ha, hb) = (w.a.established().next().expect("checked"), w.b.established().next().expect("checked"));
    hprintln!("handshake: established in {} ms of simulated time", (w.now - started).as_millis());

    // Heap per established session: two more sessions, once the first has settled; each exists
    // on both endpoints.
    w.advance(Duration::from_millis(200));
    let settled = |w: &mut World| {
        for n in [&mut w.a, &mut w.b] {
            n.events.clear();
            n.events.shrink_to_fit();
        }
        measure::heap().used
    };
    let one = settled(&mut w);
    for _ in 0..2 {
        w.a.ep.connect(w.now, b_addr).map_err(|_| "connect refused")?;
    }
    if !w.run_until(Duration::from_secs(5), |w| w.a.established().count() == 2 && w.b.established().count() == 2) {
        return Err("the extra handshakes did not complete");
    }
    w.advance(Duration::from_millis(200));
    let extra: Vec<SessionHandle> = w.a.established().collect();
    let three = settled(&mut w);
    hprintln!("heap: {} bytes per established session with no stream open", (three - one) / 4);
    // Heap per stream, nothing buffered: the first and the second stream opened on each extra
    // session, once both sides know them. The first also allocates the session's stream table.
    let mut per_stream = [0; 2];
    for cost in &mut per_stream {
        let before = settled(&mut w);
        for &h in &extra {
            w.a.ep.session_mut(h).ok_or("session gone")?.open_stream(StreamMode::Reliable).map_err(|_| "open")?;
        }
        w.advance(Duration::from_millis(200));
        *cost = (settled(&mut w) - before) / 4;
    }
    hprintln!(
        "heap: first stream of a session {} bytes per side (with the stream table), the second {} bytes",
        per_stream[0],
        per_stream[1]
    );
    for h in extra {
        w.a.ep.session_mut(h).ok_or("session gone")?.close(w.now, 0, "measured");
    }
    w.advance(Duration::from_millis(100));

    if cfg!(feature = "corrupt") {
        w.corrupt = true;
        let frame = w.a.ep.session_mut(ha).ok_or("session gone")?.send_frame(0x80, &b"tampered"[..]);
        frame.map_err(|_| "custom frame refused")?;
        let refused = |w: &mut World| w.b.ep.stats().dropped.session.authentication > 0;
        if w.run_until(Duration::from_secs(1), refused) {
            let n = w.b.ep.stats().dropped.session.authentication;
            hprintln!("authentication failure: B refused {} corrupted frame(s) (AEAD tag mismatch)", n);
            return Err("a corrupted datagram failed authentication");
        }
        return Err("a corrupted datagram was not noticed");
    }

    // 64 KiB over a reliable stream, checked by SHA3-256.
    let data = pattern(RELIABLE_BYTES);
    let up = w.a.ep.session_mut(ha).ok_or("session gone")?.open_stream(StreamMode::Reliable).map_err(|_| "open")?;
    let (mut written, mut finished, mut received, mut skipped, mut peer_stream) =
        (0, false, Vec::with_capacity(RELIABLE_BYTES), 0, None);
    let (allocations, datagrams) = (measure::heap().allocations, w.datagrams);
    let done = w.run_until(Duration::from_secs(30), |w| {
        if let Some(mut s) = w.a.ep.session_mut(ha) {
            if written < data.len() {
                written += s.write(up, &data[written..]).unwrap_or(0);
            } else if !finished {
                finished = s.finish(up).is_ok();
            }
        }
        if peer_stream.is_none() {
            peer_stream = w.b.ep.session_mut(hb).and_then(|mut s| s.accept_stream());
        }
        peer_stream.is_some_and(|id| drain(&mut w.b, hb, id, &mut received, &mut skipped))
    });
    if !done || received.len() != RELIABLE_BYTES {
        return Err("the reliable stream did not deliver 64 KiB");
    }
    if sha3_256(&[&received]) != sha3_256(&[&data]) {
        return Err("the reliable stream delivered different bytes");
    }
    let datagrams = w.datagrams - datagrams;
    // One allocation per datagram is this firmware's: the receive buffer it hands the core. The
    // firmware's event lists grow a little too, so this is an upper bound for the core.
    let core_allocations = (measure::heap().allocations - allocations).saturating_sub(datagrams as usize);
    hprintln!("reliable stream: {} bytes, SHA3-256 matches", received.len());
    hprintln!(
        "allocations: at most {} by the core over {} datagrams of the transfer (buffers and queues growing to size)",
        core_allocations,
        datagrams
    );

    // A live stream while every seventh datagram from A is lost.
    w.drop_every = Some(7);
    let mode = StreamMode::Live { deadline: Duration::from_millis(30) };
    let live = w.a.ep.session_mut(ha).ok_or("session gone")?.open_stream(mode).map_err(|_| "open live")?;
    let (mut got, mut live_skipped, mut live_peer) = (Vec::new(), 0u64, None);
    for seq in 0..LIVE_RECORDS {
        let record = [seq.to_be_bytes(), (seq ^ 0x5a5a_5a5a).to_be_bytes()].concat();
        let _ = w.a.ep.session_mut(ha).ok_or("session gone")?.write(live, &record);
        w.advance(LIVE_INTERVAL);
        if live_peer.is_none() {
            live_peer = w.b.ep.session_mut(hb).and_then(|mut s| s.accept_stream());
        }
        if let Some(id) = live_peer {
            drain(&mut w.b, hb, id, &mut got, &mut live_skipped);
        }
    }
    w.a.ep.session_mut(ha).ok_or("session gone")?.finish(live).map_err(|_| "finish live")?;
    let ended = w.run_until(Duration::from_secs(5), |w| {
        live_peer.is_some_and(|id| drain(&mut w.b, hb, id, &mut got, &mut live_skipped))
    });
    w.drop_every = None;
    if !ended || !got.len().is_multiple_of(8) {
        return Err("the live stream did not end on a record boundary");
    }
    let seqs: Vec<u32> = got.chunks(8).map(|r| u32::from_be_bytes([r[0], r[1], r[2], r[3]])).collect();
    let intact =
        got.chunks(8).all(|r| r[4..] == (u32::from_be_bytes([r[0], r[1], r[2], r[3]]) ^ 0x5a5a_5a5a).to_be_bytes());
    if !intact || !seqs.windows(2).all(|p| p[0] < p[1]) {
        return Err("the live stream delivered records out of order or damaged");
    }
    hprintln!(
        "live stream: {} of {} records delivered in order, {} bytes skipped after losses",
        seqs.len(),
        LIVE_RECORDS,
        live_skipped
    );
    if seqs.is_empty() {
        return Err("the live stream delivered nothing");
    }

    // A reliable message: whole across datagrams with the `messages` feature, refused without.
    let message = pattern(3000);
    let sent = w.a.ep.session_mut(ha).ok_or("session gone")?.send_message(Channel::Frame(0x82), message.clone());
    if cfg!(feature = "full") {
        sent.map_err(|_| "send_message refused")?;
        let mut got = None;
        w.run_until(Duration::from_secs(5), |w| {
            got = got.take().or_else(|| w.b.ep.session_mut(hb).and_then(|mut s| s.recv_message()));
            got.is_some()
        });
        match got {
            Some(m) if m.channel == Channel::Frame(0x82) && m.payload[..] == message[..] => {}
            _ => return Err("the reliable message did not arrive whole"),
        }
        hprintln!("reliable message: {} bytes arrived whole on type 0x82", message.len());
    } else {
        if sent != Err(MessageError::NotBuilt) {
            return Err("send_message did not say the feature is missing");
        }
        hprintln!("reliable message: refused (NotBuilt) in a build without the `messages` feature");
    }

    // Key rotation: A's next frames go under generation 1, and B receives them.
    w.a.ep.session_mut(ha).ok_or("session gone")?.rotate_keys().map_err(|_| "rotation refused")?;
    let mut rotated = false;
    for _ in 0..1000 {
        w.a.ep.session_mut(ha).ok_or("session gone")?.send_frame(0x81, &b"after rotation"[..]).map_err(|_| "frame")?;
        w.advance(Duration::from_millis(10));
        if w.b.ep.session(hb).is_some_and(|s| s.stats().key_generations.1 >= 1) {
            rotated = true;
            break;
        }
    }
    if !rotated {
        return Err("the key rotation did not reach the peer");
    }
    hprintln!(
        "key rotation: B receives under generation {}",
        w.b.ep.session(hb).map_or(0, |s| s.stats().key_generations.1)
    );

    // Close with a reason.
    w.a.ep.session_mut(ha).ok_or("session gone")?.close(w.now, 7, "firmware done");
    let closed = w.run_until(Duration::from_secs(5), |w| {
        w.b.events.iter().any(|e| {
            matches!(e, Event::SessionClosed { reason: CloseReason::ClosedByPeer { code: 7, reason }, .. } if reason == "firmware done")
        })
    });
    if !closed {
        return Err("the close did not reach the peer with its reason");
    }
    hprintln!("close: B learned code 7, \"firmware done\"");
    Ok(())
}
