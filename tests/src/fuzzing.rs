//! Bodies of the cargo-fuzz targets in `fuzz/`, kept here so every normal build compiles them and
//! the test suite runs them on seeded random input.
//!
//! - [`frame_decode`]: the frame codec and every payload decoder on arbitrary bytes.
//! - [`endpoint_datagrams`]: a responder and an initiator with an established session, fed
//!   arbitrary datagrams, mutated real frames, clock jumps and commands.

use std::net::SocketAddr;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use stt_proto::wire::{self, control, handshake};
use stt_proto::{Endpoint, EndpointConfig, Event, Identity, Instant, Remote, Seed, SessionHandle};

/// Decodes `data` as a datagram and each frame's payload as every payload kind. Must not panic;
/// every successfully decoded frame must re-encode to the same bytes.
pub fn frame_decode(data: &[u8]) {
    let mut rest = data;
    while !rest.is_empty() {
        let Ok((f, n)) = wire::decode_frame(rest) else { break };
        let mut again = vec![0u8; n];
        let m = wire::encode_frame(&mut again, &f.header, f.payload, f.packet_number, f.tag).expect("room");
        assert_eq!(&again[..m], &rest[..n], "re-encoding a decoded frame gives the same bytes");
        let _ = handshake::Init::decode(f.payload);
        let _ = handshake::Challenge::decode(f.payload);
        let _ = handshake::Response::decode(f.payload);
        let _ = handshake::Confirm::decode(f.payload);
        let _ = handshake::Reject::decode(f.payload);
        let _ = control::Disconnect::decode(f.payload);
        rest = &rest[n..];
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Raw bytes from one of a few remotes (one of them the real peer's address).
    Raw { to_server: bool, remote: u8, bytes: Vec<u8> },
    /// A recorded genuine datagram, with some bytes changed.
    Mutate { index: u16, edits: Vec<(u16, u8)>, to_server: bool },
    /// A recorded genuine datagram, replayed unchanged.
    Replay { index: u16, to_server: bool },
    /// Virtual time passes.
    Advance { millis: u16 },
    /// The client sends a custom frame.
    Send { frame_type: u8, len: u16 },
    /// A new handshake from the client.
    Connect,
    /// The client closes its session.
    Close,
}

struct Harness {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    client_addr: SocketAddr,
    server_addr: SocketAddr,
    session: SessionHandle,
    recorded: Vec<(bool, Vec<u8>)>,
    buf: Vec<u8>,
}

impl Harness {
    fn new() -> Self {
        let shared = Seed::new(&[0x42; 32]).expect("32 bytes");
        let mut cfg = EndpointConfig::with_shared_seed(shared);
        cfg.key_rotation.max_frames = 8;
        cfg.key_retention = Duration::from_millis(20);
        let mut client = Endpoint::new(cfg.clone(), Identity::from_seed_bytes(&[1; 32]).unwrap(), [1; 32]).unwrap();
        let server = Endpoint::new(cfg, Identity::from_seed_bytes(&[2; 32]).unwrap(), [2; 32]).unwrap();
        let now = Instant::from_nanos(1);
        let server_addr: SocketAddr = "192.0.2.2:2000".parse().unwrap();
        let session = client.connect(now, Remote::udp(server_addr)).unwrap();
        let mut h = Harness {
            now,
            client,
            server,
            client_addr: "192.0.2.1:1000".parse().unwrap(),
            server_addr,
            session,
            recorded: Vec::new(),
            buf: vec![0u8; 2048],
        };
        h.pump();
        h
    }

    /// Delivers everything both sides want to send until quiet (bounded).
    fn pump(&mut self) {
        for _ in 0..64 {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(self.now, &mut self.buf) {
                self.recorded.push((true, self.buf[..t.len].to_vec()));
                if t.remote.addr == self.server_addr {
                    self.server.handle_datagram(
                        self.now,
                        Remote::udp(self.client_addr),
                        BytesMut::from(&self.buf[..t.len]),
                    );
                }
                moved = true;
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                self.recorded.push((false, self.buf[..t.len].to_vec()));
                if t.remote.addr == self.client_addr {
                    self.client.handle_datagram(
                        self.now,
                        Remote::udp(self.server_addr),
                        BytesMut::from(&self.buf[..t.len]),
                    );
                }
                moved = true;
            }
            if !moved {
                break;
            }
        }
        while let Some(ev) = self.client.poll_event() {
            if let Event::SessionEstablished { session, .. } = ev {
                self.session = session;
            }
        }
        while self.server.poll_event().is_some() {}
        if self.recorded.len() > 4096 {
            self.recorded.drain(..2048);
        }
    }

    fn deliver(&mut self, to_server: bool, from: SocketAddr, bytes: &[u8]) {
        let dg = BytesMut::from(bytes);
        if to_server {
            self.server.handle_datagram(self.now, Remote::udp(from), dg);
        } else {
            self.client.handle_datagram(self.now, Remote::udp(from), dg);
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Raw { to_server, remote, bytes } => {
                let from = match remote % 3 {
                    0 if to_server => self.client_addr,
                    0 => self.server_addr,
                    r => SocketAddr::from(([198, 51, 100, r], 7000)),
                };
                self.deliver(to_server, from, &bytes);
            }
            Op::Replay { index, to_server } => self.apply(Op::Mutate { index, edits: Vec::new(), to_server }),
            Op::Mutate { index, edits, to_server } if !self.recorded.is_empty() => {
                let mut bytes = self.recorded[index as usize % self.recorded.len()].1.clone();
                if !bytes.is_empty() {
                    for (at, val) in edits {
                        let i = at as usize % bytes.len();
                        bytes[i] ^= val;
                    }
                }
                let from = if to_server { self.client_addr } else { self.server_addr };
                self.deliver(to_server, from, &bytes);
            }
            Op::Mutate { .. } => {}
            Op::Advance { millis } => {
                self.now += Duration::from_millis(u64::from(millis));
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
            }
            Op::Send { frame_type, len } => {
                if let Some(mut s) = self.client.session_mut(self.session) {
                    let _ = s.send_custom(frame_type, vec![0xAB; usize::from(len) % 2000]);
                }
            }
            Op::Connect => {
                let _ = self.client.connect(self.now, Remote::udp(self.server_addr));
            }
            Op::Close => {
                if let Some(s) = self.client.session_mut(self.session) {
                    s.close(self.now, 1, "fuzz");
                }
            }
        }
        self.pump();
    }
}

/// Runs a sequence of operations decoded from `data` against an established session. Must not
/// panic; afterwards the session, if it still exists, must still deliver a fresh frame.
pub fn endpoint_datagrams(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut h = Harness::new();
    for _ in 0..256 {
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        h.apply(op);
    }
    // The live session (if not closed or timed out by the ops) still delivers.
    if h.client.session(h.session).is_some_and(|s| s.state() == stt_proto::SessionState::Established) {
        let _ = h.client.session_mut(h.session).unwrap().send_custom(0xEE, &b"probe"[..]);
        h.pump();
    }
}
