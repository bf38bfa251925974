//! A driver for a transport the application brings: two nodes joined by an in-memory pipe (a
//! channel of whole datagrams each way, standing in for a serial line or a radio), each run by
//! its own thread. It is all a driver for `stt-proto` does: feed it datagrams and the time, send
//! what it gives, sleep until its next deadline. The pipe may lose datagrams (`--loss 0.1`): the
//! core recovers, as it does on UDP.
//!
//! `cargo run -p stt-proto --example pipe_driver -- --loss 0.1`

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant as StdInstant};

use stt_proto::bytes::BytesMut;
use stt_proto::{
    CustomAddress, Endpoint, EndpointConfig, Event, Identity, Instant, Remote, Seed, StreamMode, StreamRead,
};

/// This driver's number for its transport (any value; a driver with two kinds of link would
/// number them).
const PIPE: u8 = 7;

/// One end of the pipe: datagrams out, datagrams in, and a seeded loss for the demonstration.
struct PipeEnd {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    loss: f64,
    rng: u64,
}

impl PipeEnd {
    fn send(&mut self, datagram: &[u8]) {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        if (self.rng % 10_000) as f64 / 10_000.0 >= self.loss {
            let _ = self.tx.send(datagram.to_vec());
        }
    }
}

/// A pair of pipe ends joined to each other.
fn pipe(loss: f64) -> (PipeEnd, PipeEnd) {
    let (a_tx, b_rx) = channel();
    let (b_tx, a_rx) = channel();
    (PipeEnd { tx: a_tx, rx: a_rx, loss, rng: 0x9E37_79B9 }, PipeEnd { tx: b_tx, rx: b_rx, loss, rng: 0x7F4A_7C15 })
}

/// What the application on a node does with its session.
enum Role {
    /// Connects, sends `data` on a stream, waits until the peer acknowledged all of it.
    Sender(Vec<u8>),
    /// Accepts, reads a stream to its end, returns what it read.
    Receiver,
}

/// Runs one node over `link` until its role is done; returns what it received.
fn run_node(mut link: PipeEnd, role: Role, node_seed: [u8; 32], shared: [u8; 32]) -> Vec<u8> {
    let started = StdInstant::now();
    let now = || Instant::from_nanos(started.elapsed().as_nanos() as u64);
    let config = EndpointConfig::with_shared_seed(Seed::new(&shared).expect("a 32-byte seed"));
    let identity = Identity::from_seed_bytes(&node_seed).expect("a 32-byte seed");
    // A real driver takes this from the OS: it seeds every nonce and ephemeral key.
    let mut ep = Endpoint::new(config, identity, node_seed).expect("a valid configuration");
    // The peer's address on this transport: a pipe has one peer, number 1.
    let peer = Remote::custom(PIPE, CustomAddress::from_u64(1));
    let (mut session, mut stream, mut written) = (None, None, 0);
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    if let Role::Sender(_) = role {
        session = Some(ep.connect(now(), peer).expect("connect"));
    }
    let deadline = StdInstant::now() + Duration::from_secs(60);
    loop {
        assert!(StdInstant::now() < deadline, "the pipe demonstration did not finish in 60 s");
        // 1. The application's turn.
        while let Some(event) = ep.poll_event() {
            match event {
                Event::SessionEstablished { session: s, .. } => session = Some(s),
                Event::SessionClosed { reason, .. } => panic!("the session closed: {reason:?}"),
                _ => {}
            }
        }
        if let Some(mut s) = session.and_then(|h| ep.session_mut(h)) {
            match &role {
                Role::Sender(data) => {
                    let id = *stream.get_or_insert_with(|| s.open_stream(StreamMode::Reliable).expect("open"));
                    while written < data.len() {
                        match s.write(id, &data[written..]) {
                            Ok(n) => written += n,
                            Err(_) => break, // blocked: the send buffer is full for now
                        }
                    }
                    if written == data.len() && s.finish(id).is_ok() && s.as_ref().streams_flushed() {
                        return received;
                    }
                }
                Role::Receiver => {
                    if stream.is_none() {
                        stream = s.accept_stream();
                    }
                    if let Some(id) = stream {
                        while let Ok(Some(piece)) = s.read(id) {
                            match piece {
                                StreamRead::Data(b) => received.extend_from_slice(&b),
                                StreamRead::Skipped { .. } => unreachable!("a reliable stream"),
                                StreamRead::Finished => {
                                    // Linger a moment so the last acknowledgement goes out.
                                    let until = StdInstant::now() + Duration::from_millis(200);
                                    while StdInstant::now() < until {
                                        flush(&mut ep, now(), &mut link, &mut buf);
                                        std::thread::sleep(Duration::from_millis(5));
                                        while let Ok(d) = link.rx.try_recv() {
                                            ep.handle_datagram(now(), peer, BytesMut::from(&d[..]));
                                        }
                                        ep.handle_timeout(now());
                                    }
                                    return received;
                                }
                            }
                        }
                    }
                }
            }
        }
        // 2. What the core wants sent goes on the pipe.
        flush(&mut ep, now(), &mut link, &mut buf);
        // 3. Sleep until a datagram arrives or the core's next deadline.
        let wait = ep.poll_timeout().map_or(Duration::from_millis(100), |t| {
            Duration::from_nanos(t.as_nanos().saturating_sub(now().as_nanos()))
        });
        match link.rx.recv_timeout(wait.min(Duration::from_millis(100))) {
            Ok(d) => {
                ep.handle_datagram(now(), peer, BytesMut::from(&d[..]));
                while let Ok(d) = link.rx.try_recv() {
                    ep.handle_datagram(now(), peer, BytesMut::from(&d[..]));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return received,
        }
        ep.handle_timeout(now());
    }
}

/// Sends every datagram the core has ready; a run of equal-sized datagrams is cut up, since a
/// pipe carries one datagram per message.
fn flush(ep: &mut Endpoint, now: Instant, link: &mut PipeEnd, buf: &mut [u8]) {
    while let Some(t) = ep.poll_transmit(now, 1, buf) {
        for d in buf[..t.len].chunks(t.segment_size.unwrap_or(t.len).max(1)) {
            link.send(d);
        }
    }
}

/// Moves `len` bytes from one node to the other over a pipe that loses `loss` of its datagrams;
/// returns what arrived.
pub fn demonstrate(len: usize, loss: f64) -> (Vec<u8>, Vec<u8>) {
    let data: Vec<u8> = (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let (a, b) = pipe(loss);
    let shared = [0x5E; 32];
    let receiver = std::thread::spawn(move || run_node(b, Role::Receiver, [2; 32], shared));
    let sent = data.clone();
    let sender = std::thread::spawn(move || run_node(a, Role::Sender(sent), [1; 32], shared));
    sender.join().expect("the sender's thread");
    (data, receiver.join().expect("the receiver's thread"))
}

#[allow(dead_code)]
fn main() {
    let loss = std::env::args()
        .skip_while(|a| a != "--loss")
        .nth(1)
        .map_or(0.0, |l| l.parse::<f64>().expect("--loss takes a fraction, e.g. 0.1"));
    let started = StdInstant::now();
    let (sent, got) = demonstrate(1 << 20, loss);
    assert!(sent == got, "the bytes that arrived differ from those sent");
    println!(
        "1 MiB over an in-memory pipe losing {:.0}% of datagrams, verified, in {:?}",
        loss * 100.0,
        started.elapsed()
    );
}
