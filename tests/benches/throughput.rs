//! In-memory throughput: two endpoints in one thread move bytes over one reliable stream with no
//! impairment, and the same bytes are sealed and opened directly with the same AEAD and backend.
//! Prints both and their ratio (target: STT at least 0.6 of the raw AEAD figure).
//!
//! `cargo bench -p stt-tests --bench throughput` (1 GiB); `STT_BENCH_BYTES=67108864` for less.

use std::time::{Duration, Instant as StdInstant};

use stt_proto::crypto::PacketKey;
use stt_proto::{CryptoBackend, EndpointConfig, Seed, Suite};
use stt_tests::mem::InMemoryPair;

/// Datagram payload STT puts in one DATA frame on a 1472-byte path: 1472 - 52 - 8.
const SEGMENT: usize = 1412;

fn stt(total: u64, suite: Suite, send_buffer: u64, zero_copy: bool) -> (Duration, u64) {
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(&[3; 32]).unwrap());
    cfg.keep_alive_interval = None;
    cfg.suites = vec![suite];
    // A send buffer that stays cache-resident; the stream window still allows 1 MiB in flight.
    cfg.stream_send_buffer = send_buffer;
    let mut pair = InMemoryPair::new(cfg, 64 * 1024, 256 * 1024, zero_copy);
    let start = StdInstant::now();
    while pair.received < total {
        pair.round();
    }
    (start.elapsed(), pair.datagrams)
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
        let mbps = |d: Duration| total as f64 / d.as_secs_f64() / 1e6;
        for (label, zero_copy) in [("write(&[u8])", false), ("write_bytes(Bytes)", true)] {
            let (t, datagrams) = stt(total, suite, send_buffer, zero_copy);
            println!(
                "{suite:?}, {label}: STT {:.0} MB/s ({datagrams} datagrams), raw seal+open {:.0} MB/s, ratio {:.2} (target >= 0.6)",
                mbps(t),
                mbps(raw),
                raw.as_secs_f64() / t.as_secs_f64()
            );
        }
    }
}
