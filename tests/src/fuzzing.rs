//! Bodies of the cargo-fuzz targets in `fuzz/`, kept here so every normal build compiles them and
//! the test suite runs them on seeded random input.
//!
//! - [`frame_decode`]: the frame codec and every payload decoder on arbitrary bytes.
//! - [`endpoint_datagrams`]: a responder and an initiator with an established session, fed
//!   arbitrary datagrams, mutated real frames, clock jumps and commands (streams included; with
//!   resumption on, so that a later handshake resumes with a ticket and is mutated too).
//! - [`session_frames`]: the same pair, driven with frames sealed under the session's keys, so
//!   that every one authenticates and reaches the handlers inside the encryption.
//! - [`stream_reassembly`]: a stream's receive half fed arbitrary segments, clock jumps and
//!   reads; whatever it delivers must be the sender's bytes, in order.
//! - [`segment_decode`]: the segment decoder fed real, altered and arbitrary segments.
//! - [`blob_decode`]: sealed storage blobs opened from arbitrary bytes, and round trips.
//! - [`transfer_header`]: the `stt` transfer protocol's receiving side on arbitrary bytes.
//! - [`websocket_messages`]: the tokio driver's WebSocket message path into an endpoint.

use std::net::SocketAddr;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use stt_proto::fuzzing::RecvHalf;
use stt_proto::wire::{self, control, handshake};
use stt_proto::{
    Endpoint, EndpointConfig, Event, Identity, Instant, Remote, Seed, SessionHandle, StreamMode, StreamRead,
};

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
        let _ = handshake::InitPrefix::decode(f.payload);
        if let Ok(fast) = handshake::FastInit::decode(f.payload) {
            let mut again = vec![0u8; fast.len()];
            fast.encode(&mut again);
            assert_eq!(again, f.payload, "an INIT of version 3 re-encodes to the same bytes");
        }
        if let Ok(fast) = handshake::FastConfirm::decode(f.payload) {
            let mut again = vec![0u8; fast.len()];
            fast.encode(&mut again);
            assert_eq!(again, f.payload, "a CONFIRM of version 3 re-encodes to the same bytes");
        }
        let _ = control::Disconnect::decode(f.payload);
        let _ = wire::names::decode_register(f.payload).map(|piece| piece.names().count());
        let _ = wire::names::decode_message(f.payload, "ENDPOINT_ROUTE");
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
    /// The client opens a stream.
    OpenStream { live: bool },
    /// The client writes to its latest stream.
    Write { len: u16, finish: bool },
    /// The server reads whatever it can from every stream it accepted.
    Read,
    /// A frame of any type and header, sealed under the session's keys by one side and
    /// delivered to the other: it authenticates, so it reaches the frame handlers.
    Sealed { to_server: bool, frame_type: u8, stream_id: u8, sequence: u16, flags: u8, payload: Vec<u8> },
}

struct Harness {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    client_addr: SocketAddr,
    server_addr: SocketAddr,
    session: SessionHandle,
    /// The server's handle of the session, once established.
    server_session: Option<SessionHandle>,
    /// A sealed frame of the fuzzer's reached the server: its streams may hold any bytes.
    forged: bool,
    recorded: Vec<(bool, Vec<u8>)>,
    buf: Vec<u8>,
    stream: Option<stt_proto::StreamId>,
    server_streams: Vec<(SessionHandle, stt_proto::StreamId)>,
}

impl Harness {
    fn new() -> Self {
        let shared = Seed::new(&[0x42; 32]).expect("32 bytes");
        let mut cfg = EndpointConfig::with_shared_seed(shared);
        cfg.key_rotation.max_frames = 8;
        cfg.key_retention = Duration::from_millis(20);
        // Each session gives the client a ticket: a later `Connect` resumes (INIT of version 4),
        // and its datagrams are recorded for mutation and replay like the others.
        cfg.resumption = true;
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
            server_session: None,
            forged: false,
            recorded: Vec::new(),
            buf: vec![0u8; 2048],
            stream: None,
            server_streams: Vec::new(),
        };
        h.pump();
        h
    }

    /// Delivers everything both sides want to send until quiet (bounded).
    fn pump(&mut self) {
        for _ in 0..64 {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(self.now, 1, &mut self.buf) {
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
            while let Some(t) = self.server.poll_transmit(self.now, 1, &mut self.buf) {
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
        while let Some(ev) = self.server.poll_event() {
            match ev {
                Event::StreamOpened { session, stream, .. } => self.server_streams.push((session, stream)),
                Event::SessionEstablished { session, .. } => self.server_session = Some(session),
                _ => {}
            }
        }
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
                    let _ = s.send_frame(frame_type, vec![0xAB; usize::from(len) % 2000]);
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
            Op::OpenStream { live } => {
                if let Some(mut s) = self.client.session_mut(self.session) {
                    let mode = if live {
                        StreamMode::Live { deadline: Duration::from_millis(30) }
                    } else {
                        StreamMode::Reliable
                    };
                    self.stream = s.open_stream(mode).ok().or(self.stream);
                }
            }
            Op::Write { len, finish } => {
                if let (Some(mut s), Some(id)) = (self.client.session_mut(self.session), self.stream) {
                    let _ = s.write(id, &vec![0x5A; usize::from(len)]);
                    if finish {
                        let _ = s.finish(id);
                    }
                }
            }
            Op::Sealed { to_server, frame_type, stream_id, sequence, flags, payload } => {
                let (ep, handle, from) = if to_server {
                    (&mut self.client, Some(self.session), self.client_addr)
                } else {
                    (&mut self.server, self.server_session, self.server_addr)
                };
                let mut out = vec![0u8; wire::frame_len(payload.len())];
                let sealed = handle.and_then(|h| ep.session_mut(h)).and_then(|mut s| {
                    s.seal_arbitrary_frame(
                        frame_type,
                        u32::from(stream_id),
                        u32::from(sequence),
                        flags,
                        &payload,
                        &mut out,
                    )
                });
                if let Some(n) = sealed {
                    self.forged |= to_server;
                    self.deliver(to_server, from, &out[..n]);
                }
            }
            Op::Read => {
                for &(h, id) in &self.server_streams {
                    if let Some(mut s) = self.server.session_mut(h) {
                        while let Ok(Some(r)) = s.read(id) {
                            if let StreamRead::Data(d) = r {
                                assert!(
                                    self.forged || d.iter().all(|&b| b == 0x5A),
                                    "stream bytes are delivered as written"
                                );
                            } else {
                                break;
                            }
                        }
                    }
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
        let _ = h.client.session_mut(h.session).unwrap().send_frame(0xEE, &b"probe"[..]);
        h.pump();
    }
}

/// What [`session_frames`] does: mostly frames sealed inside the encryption, with the traffic
/// and time that give them something to act on.
#[derive(Arbitrary, Debug)]
enum SessionOp {
    /// A frame of any type sealed by one side under the session keys.
    Sealed { to_server: bool, frame_type: u8, stream_id: u8, sequence: u16, flags: u8, payload: Vec<u8> },
    /// Virtual time passes.
    Advance { millis: u16 },
    /// The client opens a stream.
    OpenStream { live: bool },
    /// The client writes to its latest stream.
    Write { len: u16, finish: bool },
    /// The server reads its streams.
    Read,
    /// The client sends a custom frame.
    Send { frame_type: u8, len: u16 },
}

/// A whole session driven from inside the encryption: the harness holds the seed, so every
/// frame the fuzzer makes authenticates and reaches the handlers of streams, acknowledgements,
/// flow control, path validation, key phases, named endpoints and DISCONNECT. Must not panic;
/// stream bytes the server reads from the client's own writes are the bytes written.
pub fn session_frames(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut h = Harness::new();
    for _ in 0..256 {
        let Ok(op) = SessionOp::arbitrary(&mut u) else { break };
        h.apply(match op {
            SessionOp::Sealed { to_server, frame_type, stream_id, sequence, flags, payload } => {
                Op::Sealed { to_server, frame_type, stream_id, sequence, flags, payload }
            }
            SessionOp::Advance { millis } => Op::Advance { millis },
            SessionOp::OpenStream { live } => Op::OpenStream { live },
            SessionOp::Write { len, finish } => Op::Write { len, finish },
            SessionOp::Read => Op::Read,
            SessionOp::Send { frame_type, len } => Op::Send { frame_type, len },
        });
    }
}

#[derive(Arbitrary, Debug)]
enum ReassemblyOp {
    /// A segment of the reference stream: bytes `offset..offset + len`.
    Segment { seq: u16, offset: u32, len: u16, fin: bool },
    /// Time passes.
    Advance { millis: u8 },
    /// The application reads what it can.
    Read,
}

/// Byte at offset `k` of the reference stream every segment is cut from.
fn reference(k: u64) -> u8 {
    (k ^ (k >> 8) ^ 0x5A) as u8
}

/// Feeds a receive half (reliable or live, chosen by the first byte) arbitrary segments of a
/// reference stream. Whatever is read must be the reference bytes at the read offset, skips must
/// move the offset forward, and the half never holds more than its credit.
pub fn stream_reassembly(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let live = u.arbitrary::<bool>().unwrap_or(false);
    let window = 1 << 16;
    let mut r = RecvHalf::new(window, window, live.then_some(Duration::from_millis(40)));
    let mut now = Instant::from_nanos(1);
    let mut offset = 0u64;
    for _ in 0..512 {
        let Ok(op) = ReassemblyOp::arbitrary(&mut u) else { break };
        match op {
            ReassemblyOp::Segment { seq, offset: at, len, fin } => {
                let at = u64::from(at) % (2 * window);
                let bytes: Vec<u8> = (at..at + u64::from(len)).map(reference).collect();
                let _ = r.on_data(now, u32::from(seq), at, bytes::Bytes::from(bytes), fin);
            }
            ReassemblyOp::Advance { millis } => {
                now += Duration::from_millis(u64::from(millis));
                r.skip_expired(now);
            }
            ReassemblyOp::Read => {
                while let Some(chunk) = r.read() {
                    match chunk {
                        StreamRead::Data(d) => {
                            for (i, b) in d.iter().enumerate() {
                                assert_eq!(
                                    *b,
                                    reference(offset + i as u64),
                                    "byte at {} delivered out of order",
                                    offset + i as u64
                                );
                            }
                            offset += d.len() as u64;
                        }
                        StreamRead::Skipped { bytes, .. } => {
                            assert!(live, "reliable streams never skip");
                            offset += bytes;
                        }
                        StreamRead::Finished => break,
                    }
                }
                assert_eq!(r.read_offset(), offset);
                if let Some(limit) = r.credit_update() {
                    assert!(limit >= r.read_offset());
                }
            }
        }
        assert!(
            r.buffered() <= r.limit().saturating_sub(r.read_offset()) + window,
            "buffering stays within the credit"
        );
    }
}

#[derive(Arbitrary, Debug)]
enum SegmentOp {
    /// Feed segment `index` of the encoded reference stream.
    Real { index: u16 },
    /// Feed segment `index` with one byte flipped.
    Flipped { index: u16, at: u16, bit: u8 },
    /// Feed arbitrary bytes.
    Raw(Vec<u8>),
    /// Read what is ready.
    Read,
    /// Give up on the oldest gap.
    Skip,
}

/// A segment decoder fed real, altered and arbitrary segments of a reference stream. Altered and
/// arbitrary ones must be refused; whatever is read must be the reference bytes at the read
/// offset (skips move the offset to the next segment); the decoder never holds more than its
/// bound plus one segment.
pub fn segment_decode(data: &[u8]) {
    use stt_proto::segment::{SegmentDecoder, SegmentEncoder, SegmentKey};
    let mut u = Unstructured::new(data);
    let size = usize::from(u.arbitrary::<u8>().unwrap_or(0)) + 1;
    let len = usize::from(u.arbitrary::<u16>().unwrap_or(0)) % 8192;
    let limit = usize::from(u.arbitrary::<u16>().unwrap_or(0));
    let key = || SegmentKey::derive(b"fuzz secret", 1, 5);
    let reference: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let mut enc = SegmentEncoder::bounded(key(), 5, size, len as u64).expect("size >= 1");
    let mut segments = enc.push(&reference).expect("exactly the declared length");
    segments.extend(enc.end().expect("bounded"));
    let mut dec = SegmentDecoder::new(key(), 5, limit);
    // Index of the next segment a read may return; reads return whole segments, in order, and
    // a skip may jump over some.
    let mut next = 0usize;
    let mut skipped_any = false;
    for _ in 0..512 {
        let Ok(op) = SegmentOp::arbitrary(&mut u) else { break };
        match op {
            SegmentOp::Real { index } => {
                let _ = dec.push(&segments[usize::from(index) % segments.len()]);
            }
            SegmentOp::Flipped { index, at, bit } => {
                let mut s = segments[usize::from(index) % segments.len()].to_vec();
                let at = usize::from(at) % s.len();
                s[at] ^= 1 << (bit % 8);
                assert!(dec.push(&s).is_err(), "an altered segment was accepted");
            }
            SegmentOp::Raw(bytes) => {
                assert!(dec.push(&bytes).is_err(), "arbitrary bytes were accepted as a segment");
            }
            SegmentOp::Read => {
                while let Some(chunk) = dec.read() {
                    let at = |k: usize| &reference[(k * size).min(len)..(k * size + chunk.len()).min(len)];
                    if !skipped_any {
                        assert_eq!(&chunk[..], at(next), "bytes out of order");
                    } else {
                        // After a skip the chunk is some later segment.
                        while next * size < len && at(next) != &chunk[..] {
                            next += 1;
                        }
                        assert!(next * size < len, "a chunk that is no segment of the stream");
                    }
                    next += 1;
                }
            }
            SegmentOp::Skip => skipped_any |= dec.skip_gap() > 0,
        }
        let one_segment = size + stt_proto::segment::SEGMENT_HOLD_COST;
        assert!(
            dec.buffered() <= limit + one_segment,
            "decoder holds {} > bound {limit} + one segment",
            dec.buffered()
        );
    }
}

/// Opens arbitrary bytes as a sealed blob (must fail, never panic), and seals then opens the same
/// bytes as content (must round-trip; any flipped byte must fail).
pub fn blob_decode(data: &[u8]) {
    use stt_proto::storage::{open_blob, seal_blob, storage_key, Address};
    let key = storage_key(b"fuzz storage seed");
    let address = Address::of(data);
    assert!(open_blob(&key, &address, data.to_vec()).is_none(), "arbitrary bytes opened as a blob");
    let blob = seal_blob(&key, &address, data);
    assert_eq!(open_blob(&key, &address, blob.clone()).as_deref(), Some(data));
    if !blob.is_empty() {
        let mut bad = blob.clone();
        let at = data.first().map_or(0, |&b| usize::from(b)) % bad.len();
        bad[at] ^= 0x01;
        assert!(open_blob(&key, &address, bad).is_none(), "a flipped byte opened");
        assert!(open_blob(&key, &Address::of(b"elsewhere"), blob).is_none(), "opened at another address");
    }
}

/// The transfer protocol's receiving side (`stt_cli::transfer::read_transfer`) on arbitrary
/// bytes, into a sink and (every other input) into a directory, and on a well-formed transfer
/// built from the input by the layout in `stt_cli::transfer`'s documentation. Must not panic;
/// whatever it accepts is within the size limit and matches its digest; nothing is written
/// outside the directory, and what is left in it is the accepted file (and the directories of
/// its relative path), or after a failure at most the kept partial file of a resumable
/// transfer (type 3) that was cut. Into a directory, the input may first have links planted
/// (see [`transfer_into_dir`]).
pub fn transfer_header(data: &[u8]) {
    use stt_cli::transfer::{read_transfer, Destination};
    let Some((&mode, rest)) = data.split_first() else { return };
    let max_size = [u64::MAX, 0, 100, 65_536][usize::from(mode % 4)];
    let rt = transfer_runtime();
    rt.block_on(async {
        let mut sink = Vec::new();
        let mut reader = rest;
        if let Ok(r) = read_transfer(&mut reader, Destination::Sink(&mut sink), max_size, |_| {}).await {
            assert_eq!(r.bytes, sink.len() as u64);
            assert!(r.bytes <= max_size, "accepted past the limit");
            assert_eq!(r.digest, sha3_of(&sink));
            assert!(r.name.len() <= stt_cli::transfer::MAX_PATH && !r.name.contains('/'));
        }
        if mode & 4 != 0 {
            transfer_into_dir(mode, rest, max_size).await;
        }
        // A well-formed transfer of (name, chunks) from the input reads back exactly.
        let mut u = Unstructured::new(rest);
        // A sink takes single files: a name without '/'.
        let name: String = u.arbitrary::<String>().unwrap_or_default().chars().filter(|c| *c != '/').take(40).collect();
        let chunks: Vec<Vec<u8>> = u.arbitrary().unwrap_or_default();
        let mut wire = vec![stt_cli::transfer::VERSION];
        wire.extend_from_slice(&(name.len() as u16).to_be_bytes());
        wire.extend_from_slice(name.as_bytes());
        let total: usize = chunks.iter().map(Vec::len).sum();
        let announce = if u.arbitrary().unwrap_or(false) { total as u64 } else { stt_cli::transfer::UNKNOWN_LENGTH };
        wire.extend_from_slice(&announce.to_be_bytes());
        let mut all = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            wire.extend_from_slice(&(c.len() as u32).to_be_bytes());
            wire.extend_from_slice(c);
            all.extend_from_slice(c);
        }
        wire.extend_from_slice(&0u32.to_be_bytes());
        wire.extend_from_slice(&sha3_of(&all));
        let mut sink = Vec::new();
        let mut reader = &wire[..];
        let r = read_transfer(&mut reader, Destination::Sink(&mut sink), u64::MAX, |_| {}).await;
        let r = r.expect("a well-formed transfer is read");
        assert_eq!((r.name.as_str(), &sink[..]), (name.as_str(), &all[..]));
    });
}

fn sha3_of(data: &[u8]) -> [u8; 32] {
    use sha3::Digest;
    sha3::Sha3_256::digest(data).into()
}

fn transfer_runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"))
}

/// The input read twice into one directory, as a listener would: where links were planted
/// first (mode bit 8: at the path the input names and at its first component, pointing
/// outside; bit 16: in place of the private directory), and, between the two reads, in place
/// of every kept partial file (bit 32: a symbolic link to a file outside; else, with bit 8, a
/// hard link to it). Nothing outside changes; what is left is as [`transfer_header`] says,
/// the planted links aside.
#[cfg(unix)]
async fn transfer_into_dir(mode: u8, rest: &[u8], max_size: u64) {
    use stt_cli::transfer::{read_transfer, Destination, PRIVATE_DIR};
    let dir = transfer_dir();
    let outside = dir.with_extension("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let victim = outside.join("victim");
    std::fs::write(&victim, b"outside").unwrap();
    let mut planted = Vec::new();
    let mut plant = |target: &std::path::Path, at: std::path::PathBuf| {
        if std::os::unix::fs::symlink(target, &at).is_ok() {
            planted.push(at);
        }
    };
    if mode & 8 != 0 {
        // The name the input announces, if it has one that can be a path.
        let name = rest.get(3..).and_then(|r| {
            let len = usize::from(u16::from_be_bytes([*rest.get(1)?, *rest.get(2)?]));
            std::str::from_utf8(r.get(..len)?).ok().filter(|n| stt_cli::transfer::is_relative_path(n))
        });
        if let Some(name) = name {
            let first = name.split('/').next().unwrap_or(name);
            let target = if name.contains('/') { outside.as_path() } else { victim.as_path() };
            plant(target, dir.join(first));
        }
    }
    if mode & 16 != 0 {
        plant(&outside, dir.join(PRIVATE_DIR));
    }
    for round in 0..2 {
        if round == 1 {
            for partial in files_under(&dir, &planted) {
                let name = partial.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with("resume-") && name.ends_with(".partial") {
                    std::fs::remove_file(&partial).unwrap();
                    if mode & 32 != 0 {
                        std::os::unix::fs::symlink(&victim, &partial).unwrap();
                    } else {
                        std::fs::hard_link(&victim, &partial).unwrap();
                    }
                }
            }
        }
        let mut reader = rest;
        let r = read_transfer(&mut reader, Destination::<tokio::io::Sink>::Dir(&dir), max_size, |_| {}).await;
        assert_eq!(std::fs::read(&victim).unwrap(), b"outside", "a file outside was written through a link");
        let outside_names: Vec<_> = std::fs::read_dir(&outside).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(outside_names, ["victim"], "something was created outside through a link");
        let private = dir.join(PRIVATE_DIR);
        // Left: the private directory's secret, a kept partial file and its record; else the
        // accepted file.
        let left: Vec<_> = files_under(&dir, &planted)
            .into_iter()
            .filter(|p| p.parent() != Some(private.as_path()) || p.file_name().is_some_and(|n| n != "secret"))
            .collect();
        match r {
            Ok(r) => {
                let path = r.path.expect("a directory transfer has a path");
                assert!(path.starts_with(&dir), "the file stays in the directory: {path:?}");
                assert!(stt_cli::transfer::is_relative_path(&r.name), "{:?}", r.name);
                assert!(left.contains(&path), "the accepted file is there: {left:?}");
                // A second round stores the same bytes again under the same name.
                let others: Vec<_> = left.iter().filter(|p| **p != path && p.parent() != Some(&private)).collect();
                assert!(others.is_empty() || round == 1, "only the accepted file is there: {left:?}");
            }
            Err(_) => {
                let kept = |p: &std::path::PathBuf| {
                    p.parent() == Some(private.as_path())
                        && p.file_name().is_some_and(|n| {
                            let n = n.to_string_lossy();
                            n.starts_with("resume-") && (n.ends_with(".partial") || n.ends_with(".partial.record"))
                        })
                };
                let resumable = rest.first() == Some(&stt_cli::transfer::RESUMABLE);
                let stray: Vec<_> = left.iter().filter(|p| !(resumable && kept(p))).collect();
                assert!(
                    stray.is_empty() || round == 1,
                    "a refused transfer leaves nothing but a cut resumable one's partial file: {left:?}"
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();
}

#[cfg(not(unix))]
async fn transfer_into_dir(_mode: u8, rest: &[u8], max_size: u64) {
    use stt_cli::transfer::{read_transfer, Destination};
    let dir = transfer_dir();
    let mut reader = rest;
    let _ = read_transfer(&mut reader, Destination::<tokio::io::Sink>::Dir(&dir), max_size, |_| {}).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every file (not directory) under `dir`, at any depth; the receiver made no link (those in
/// `planted` were put there by the harness and are not followed).
fn files_under(dir: &std::path::Path, planted: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if planted.contains(&entry.path()) {
                continue;
            }
            if kind.is_symlink() && entry.file_name().to_string_lossy().starts_with("resume-") {
                // A planted partial file, removed by the receiver if it looked at it.
                files.push(entry.path());
                continue;
            }
            assert!(!kind.is_symlink(), "the receiver made a link: {:?}", entry.path());
            if kind.is_dir() {
                todo.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files
}

/// An empty directory for one directory transfer of this process (callers on other threads get
/// their own).
fn transfer_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("stt-fuzz-transfer-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The WebSocket message path of the tokio driver: bytes a client sends after the upgrade, read
/// with the driver's limits (`stt_tokio::fuzzing::websocket_config`) by tungstenite; each binary
/// message goes to the established session's endpoint as a datagram from a WebSocket remote, as
/// the driver hands it over. A message whose first byte is 0xFF stands for a recorded genuine
/// datagram (index in the next byte), so authentic frames arrive over WebSocket too. Must not
/// panic; no message above the datagram limit gets through.
pub fn websocket_messages(data: &[u8]) {
    use stt_tokio::fuzzing::tungstenite::protocol::{Role, WebSocket};
    use stt_tokio::fuzzing::tungstenite::Message;
    let Some((&mode, rest)) = data.split_first() else { return };
    let max = [1472usize, 4096, 65_536][usize::from(mode % 3)];
    let mut ws = WebSocket::from_raw_socket(
        std::io::Cursor::new(rest.to_vec()),
        Role::Server,
        Some(stt_tokio::fuzzing::websocket_config(max)),
    );
    let mut h = Harness::new();
    for _ in 0..256 {
        match ws.read() {
            Ok(Message::Binary(b)) => {
                assert!(b.len() <= max, "a {}-byte message passed a {max}-byte limit", b.len());
                let bytes = match (b.first(), b.get(1)) {
                    (Some(0xFF), Some(&i)) if !h.recorded.is_empty() => {
                        h.recorded[usize::from(i) % h.recorded.len()].1.clone()
                    }
                    _ => b.to_vec(),
                };
                h.server.handle_datagram(h.now, Remote::websocket(h.client_addr), BytesMut::from(&bytes[..]));
                h.pump();
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}
