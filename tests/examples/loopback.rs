//! Demonstration on loopback: two STT endpoints over real UDP sockets in one process.
//!
//! Runs a handshake, exchanges custom frames through several key rotations, moves 64 MiB over a
//! reliable stream, closes with a reason, measures sequential handshakes, and shows that a node
//! with the wrong seed is told so.
//! Run with `cargo run --release -p stt-tests --example loopback`. This is a minimal blocking
//! driver over `std::net::UdpSocket`; the tokio and mio drivers replace it for real programs.

use std::net::UdpSocket;
use std::time::{Duration, Instant as StdInstant};

use bytes::BytesMut;
use stt_proto::{
    CloseReason, Endpoint, EndpointConfig, Event, Identity, Instant, KeyRotationPolicy, Remote, Seed, SessionHandle,
};

struct Node {
    name: &'static str,
    ep: Endpoint,
    sock: UdpSocket,
    /// Every event but custom frames, which are only counted.
    events: Vec<Event>,
    custom_frames: u64,
}

struct Clock(StdInstant);

impl Clock {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.elapsed().as_nanos() as u64)
    }
}

fn os_seed() -> [u8; 32] {
    // The demo seeds each endpoint's RNG from the OS, as a real driver does.
    let mut s = [0u8; 32];
    getrandom(&mut s);
    s
}

fn getrandom(out: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(out)).expect("/dev/urandom is readable");
}

impl Node {
    fn new(name: &'static str, cfg: EndpointConfig) -> Node {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        sock.set_nonblocking(true).unwrap();
        let mut node_seed = [0u8; 32];
        getrandom(&mut node_seed);
        let ep = Endpoint::new(cfg, Identity::from_seed_bytes(&node_seed).unwrap(), os_seed()).unwrap();
        Node { name, ep, sock, events: Vec::new(), custom_frames: 0 }
    }

    fn remote(&self) -> Remote {
        Remote::udp(self.sock.local_addr().unwrap())
    }

    /// One turn of the driver loop: receive, timers, transmit, events.
    fn turn(&mut self, clock: &Clock, buf: &mut [u8]) -> bool {
        let mut busy = false;
        loop {
            match self.sock.recv_from(buf) {
                Ok((n, from)) => {
                    self.ep.handle_datagram(clock.now(), Remote::udp(from), BytesMut::from(&buf[..n]));
                    busy = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{}: recv failed: {e}", self.name),
            }
        }
        let now = clock.now();
        if self.ep.poll_timeout().is_some_and(|t| t <= now) {
            self.ep.handle_timeout(now);
        }
        while let Some(t) = self.ep.poll_transmit(now, 1, buf) {
            // Loopback may push back under bursts; retry until the kernel takes it.
            while let Err(e) = self.sock.send_to(&buf[..t.len], t.remote.addr) {
                assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{}: send failed: {e}", self.name);
                std::thread::yield_now();
            }
            busy = true;
        }
        while let Some(ev) = self.ep.poll_event() {
            match ev {
                Event::Frame { .. } => self.custom_frames += 1,
                ev => self.events.push(ev),
            }
            busy = true;
        }
        busy
    }
}

fn run(a: &mut Node, b: &mut Node, clock: &Clock, limit: Duration, mut done: impl FnMut(&Node, &Node) -> bool) -> bool {
    let mut buf = vec![0u8; 65536];
    let start = StdInstant::now();
    while !done(a, b) {
        if start.elapsed() > limit {
            return false;
        }
        let busy = a.turn(clock, &mut buf) | b.turn(clock, &mut buf);
        if !busy {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    true
}

fn established(n: &Node) -> Option<SessionHandle> {
    n.events.iter().rev().find_map(|e| match e {
        Event::SessionEstablished { session, .. } => Some(*session),
        _ => None,
    })
}

fn main() {
    let clock = Clock(StdInstant::now());
    let mut shared = [0u8; 32];
    getrandom(&mut shared);
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(&shared).unwrap());
    cfg.key_rotation = KeyRotationPolicy { max_frames: 20_000, ..Default::default() };
    cfg.key_retention = Duration::from_millis(100);
    let mut client = Node::new("client", cfg.clone());
    let mut server = Node::new("server", cfg.clone());
    println!("STT loopback demonstration");
    println!("  client {} node {}", client.remote().addr, client.ep.node_id());
    println!("  server {} node {}", server.remote().addr, server.ep.node_id());

    // 1. Handshake.
    let t0 = StdInstant::now();
    let hc = client.ep.connect(clock.now(), server.remote()).unwrap();
    assert!(run(&mut client, &mut server, &clock, Duration::from_secs(10), |c, s| established(c).is_some()
        && established(s).is_some()));
    let suite = client.ep.session(hc).unwrap().suite().unwrap();
    println!(
        "handshake: {:?} ({suite:?}), session id {:016x}",
        t0.elapsed(),
        client.ep.session(hc).unwrap().session_id()
    );

    // 2. Custom frames, client -> server, through several key rotations.
    let frames = 100_000u64;
    let payload = vec![0x5Au8; 1200];
    let t1 = StdInstant::now();
    let mut sent = 0u64;
    let mut buf = vec![0u8; 65536];
    // Custom frames have no flow control: keep at most `window` of them in flight, or the kernel's
    // socket buffer overflows and drops them.
    let window = 64;
    let mut last_progress = (0, StdInstant::now());
    while server.custom_frames < frames && last_progress.1.elapsed() < Duration::from_millis(500) {
        if server.custom_frames != last_progress.0 {
            last_progress = (server.custom_frames, StdInstant::now());
        }
        while sent < frames && sent - server.custom_frames < window {
            match client.ep.session_mut(hc).unwrap().send_frame(0x80, payload.clone()) {
                Ok(()) => sent += 1,
                Err(stt_proto::FrameError::QueueFull) => break,
                Err(e) => panic!("send failed: {e}"),
            }
        }
        client.turn(&clock, &mut buf);
        server.turn(&clock, &mut buf);
    }
    let got = server.custom_frames;
    let secs = t1.elapsed().as_secs_f64();
    let gens = client.ep.session(hc).unwrap().stats().key_generations;
    println!(
        "custom frames: {got}/{frames} of {} B delivered in {secs:.2} s ({:.0} frames/s, {:.1} MB/s payload), through {} key rotations",
        payload.len(),
        got as f64 / secs,
        got as f64 * payload.len() as f64 / secs / 1e6,
        gens.0
    );
    if got < frames {
        println!(
            "  {} frames were lost: custom frames are best-effort datagrams (streams with retransmission come later)",
            frames - got
        );
    }

    // 3. A reliable stream: 64 MiB, checked byte for byte by a running hash on both ends.
    let total: usize = 64 << 20;
    let chunk = bytes::Bytes::from((0..256 * 1024).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>());
    let stream = client.ep.session_mut(hc).unwrap().open_stream(stt_proto::StreamMode::Reliable).unwrap();
    let hs = established(&server).unwrap();
    let (mut sent, mut got, mut finished) = (0usize, 0usize, false);
    let (mut sent_sum, mut got_sum) = (0u64, 0u64);
    let t3 = StdInstant::now();
    while !finished && t3.elapsed() < Duration::from_secs(60) {
        if let Some(mut s) = client.ep.session_mut(hc) {
            while sent < total {
                let piece = chunk.slice(..(total - sent).min(chunk.len()));
                match s.write_bytes(stream, &piece) {
                    Ok(n) => {
                        sent_sum =
                            piece[..n].iter().fold(sent_sum, |h, &b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
                        sent += n;
                    }
                    Err(_) => break,
                }
            }
            if sent == total {
                let _ = s.finish(stream);
            }
        }
        let busy = client.turn(&clock, &mut buf) | server.turn(&clock, &mut buf);
        if let Some(mut s) = server.ep.session_mut(hs) {
            loop {
                match s.read(stream) {
                    Ok(Some(stt_proto::StreamRead::Data(d))) => {
                        got_sum = d.iter().fold(got_sum, |h, &b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
                        got += d.len();
                    }
                    Ok(Some(stt_proto::StreamRead::Finished)) => {
                        finished = true;
                        break;
                    }
                    _ => break,
                }
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
    let secs = t3.elapsed().as_secs_f64();
    let path = client.ep.session(hc).unwrap().path_stats();
    println!(
        "reliable stream: {} MiB in {secs:.2} s ({:.0} MB/s), {} intact, {} frames lost and resent, rtt {:?}",
        got >> 20,
        got as f64 / secs / 1e6,
        if finished && got == total && got_sum == sent_sum { "all bytes" } else { "NOT" },
        path.lost_frames,
        path.rtt
    );
    assert!(finished && got == total && got_sum == sent_sum, "stream transfer incomplete or corrupted");

    // 4. Close with a reason; the server sees it.
    client.ep.session_mut(hc).unwrap().close(clock.now(), 7, "demo finished");
    assert!(run(&mut client, &mut server, &clock, Duration::from_secs(5), |_, s| s
        .events
        .iter()
        .any(|e| matches!(e, Event::SessionClosed { .. }))));
    let reason = server.events.iter().find_map(|e| match e {
        Event::SessionClosed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    println!("server saw: {}", reason.unwrap_or(CloseReason::IdleTimeout));

    // 5. Sequential handshakes.
    let n = 500;
    let t2 = StdInstant::now();
    for i in 0..n {
        let h = client.ep.connect(clock.now(), server.remote()).unwrap();
        let before = client.events.len();
        assert!(
            run(&mut client, &mut server, &clock, Duration::from_secs(10), |c, _| c.events[before..]
                .iter()
                .any(|e| matches!(e, Event::SessionEstablished { .. }))),
            "handshake {i}"
        );
        client.ep.session_mut(h).unwrap().close(clock.now(), 0, "");
        client.turn(&clock, &mut buf);
    }
    let per = t2.elapsed() / n;
    println!(
        "sequential handshakes: {n} in {:?} ({:.0}/s, {per:?} each, both ends in this thread)",
        t2.elapsed(),
        1.0 / per.as_secs_f64()
    );

    // 6. Wrong seed: the user is told, not left guessing.
    let mut other = [0u8; 32];
    getrandom(&mut other);
    let mut stranger = Node::new("stranger", EndpointConfig::with_shared_seed(Seed::new(&other).unwrap()));
    stranger.ep.connect(clock.now(), server.remote()).unwrap();
    assert!(run(&mut stranger, &mut server, &clock, Duration::from_secs(10), |s, _| s
        .events
        .iter()
        .any(|e| matches!(e, Event::HandshakeFailed { .. }))));
    let why = stranger.events.iter().find_map(|e| match e {
        Event::HandshakeFailed { reason, .. } => Some(*reason),
        _ => None,
    });
    println!("node with another seed: {}", why.unwrap());
}
