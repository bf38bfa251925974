//! In-memory throughput: two endpoints in one thread move bytes over one reliable stream with no
//! impairment, and the same bytes are sealed and opened directly with the same AEAD and backend.
//! Prints both and their ratio (target: STT at least 0.6 of the raw AEAD figure).
//!
//! `cargo bench -p stt-tests --bench throughput` (1 GiB); `STT_BENCH_BYTES=67108864` for less.

use std::time::{Duration, Instant as StdInstant};

use bytes::BytesMut;
use stt_proto::crypto::PacketKey;
use stt_proto::{
    CryptoBackend, Endpoint, EndpointConfig, Event, Identity, Instant, Remote, Seed, StreamMode, StreamRead, Suite,
};

/// Datagram payload STT puts in one DATA frame on a 1472-byte path: 1472 - 52 - 8.
const SEGMENT: usize = 1412;

fn stt(total: u64, suite: Suite, send_buffer: u64) -> (Duration, u64) {
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(&[3; 32]).unwrap());
    cfg.keep_alive_interval = None;
    cfg.suites = vec![suite];
    // A send buffer that stays cache-resident; the stream window still allows 1 MiB in flight.
    cfg.stream_send_buffer = send_buffer;
    let mut a = Endpoint::new(cfg.clone(), Identity::from_seed_bytes(&[1; 32]).unwrap(), [1; 32]).unwrap();
    let mut b = Endpoint::new(cfg, Identity::from_seed_bytes(&[2; 32]).unwrap(), [2; 32]).unwrap();
    let (a_addr, b_addr) = (Remote::udp("192.0.2.1:1".parse().unwrap()), Remote::udp("192.0.2.2:2".parse().unwrap()));
    let mut pool = BytesMut::with_capacity(256 << 10);
    let mut out = vec![0u8; 1500];
    let chunk = vec![0x42u8; 64 * 1024];
    let mut now = Instant::from_nanos(1);
    let ha = a.connect(now, b_addr).unwrap();
    let stream = a.session_mut(ha).unwrap().open_stream(StreamMode::Reliable).unwrap();
    let mut hb = None;
    let mut received = 0u64;
    let start = StdInstant::now();
    let mut datagrams = 0u64;
    while received < total {
        if let Some(mut s) = a.session_mut(ha) {
            while s.write(stream, &chunk).is_ok() {}
        }
        now += Duration::from_micros(50);
        a.handle_timeout(now);
        b.handle_timeout(now);
        datagrams += shuttle(&mut a, &mut b, a_addr, now, &mut out, &mut pool);
        datagrams += shuttle(&mut b, &mut a, b_addr, now, &mut out, &mut pool);
        while let Some(ev) = b.poll_event() {
            if let Event::SessionEstablished { session, .. } = ev {
                hb = Some(session);
            }
        }
        while a.poll_event().is_some() {}
        if let Some(h) = hb {
            let mut s = b.session_mut(h).unwrap();
            while let Ok(Some(StreamRead::Data(d))) = s.read(stream) {
                received += d.len() as u64;
            }
        }
    }
    (start.elapsed(), datagrams)
}

/// Moves every datagram `from` wants to send into `to`, receive buffers carved from `pool`.
fn shuttle(
    from: &mut Endpoint,
    to: &mut Endpoint,
    addr: Remote,
    now: Instant,
    out: &mut [u8],
    pool: &mut BytesMut,
) -> u64 {
    let mut n = 0;
    while let Some(t) = from.poll_transmit(now, out) {
        n += 1;
        if pool.capacity() < t.len {
            pool.reserve(256 << 10);
        }
        pool.extend_from_slice(&out[..t.len]);
        to.handle_datagram(now, addr, pool.split());
    }
    n
}

fn raw_aead(total: u64, suite: Suite) -> Duration {
    let sealer = PacketKey::new(suite, CryptoBackend::default(), &[7; 32], [9; 12]);
    let opener = PacketKey::new(suite, CryptoBackend::default(), &[7; 32], [9; 12]);
    let mut buf = vec![0x42u8; SEGMENT];
    let aad = [0u8; 28];
    let start = StdInstant::now();
    let mut done = 0u64;
    let mut pn = 0;
    while done < total {
        let tag = sealer.seal(pn, &aad, &mut buf);
        opener.open(pn, &aad, &mut buf, &tag).expect("authentic");
        pn += 1;
        done += SEGMENT as u64;
    }
    std::hint::black_box(&buf);
    start.elapsed()
}

fn main() {
    let total: u64 = std::env::var("STT_BENCH_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(1 << 30);
    println!("in-memory pair, one reliable stream, {} MiB, backend {:?}", total >> 20, CryptoBackend::default());
    for suite in [Suite::Aes256Gcm, Suite::ChaCha20Poly1305] {
        let raw = raw_aead(total, suite);
        let send_buffer = std::env::var("STT_BENCH_SEND_BUFFER").ok().and_then(|v| v.parse().ok()).unwrap_or(256 << 10);
        let (t, datagrams) = stt(total, suite, send_buffer);
        let mbps = |d: Duration| total as f64 / d.as_secs_f64() / 1e6;
        println!(
            "{suite:?}: STT {:.0} MB/s ({datagrams} datagrams), raw seal+open {:.0} MB/s, ratio {:.2} (target >= 0.6)",
            mbps(t),
            mbps(raw),
            raw.as_secs_f64() / t.as_secs_f64()
        );
    }
}
