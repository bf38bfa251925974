//! Heap held per idle session end, measured with a counting global allocator (this test binary
//! only). Deterministic: a count of bytes, not a timing. DESIGN target: at most 4 KiB.

use stt_tests::counting::{live_bytes, Counting};

use bytes::BytesMut;
use stt_proto::{Endpoint, EndpointConfig, Event, Identity, Instant, Remote, Seed};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn per_session_bytes(backend: stt_proto::CryptoBackend) -> isize {
    const N: usize = 2000;
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(&[7; 32]).unwrap());
    cfg.crypto_backend = backend;
    // All 2,000 sessions come from one peer at one address: lift the per-source caps.
    cfg.max_sessions_per_peer = N;
    let mut a = Endpoint::new(cfg.clone(), Identity::from_seed_bytes(&[1; 32]).unwrap(), [1; 32]).unwrap();
    let mut b = Endpoint::new(cfg, Identity::from_seed_bytes(&[2; 32]).unwrap(), [2; 32]).unwrap();
    let (a_addr, b_addr) = ("192.0.2.1:1".parse().unwrap(), "192.0.2.2:2".parse().unwrap());
    let mut buf = vec![0u8; 1500];
    let now = Instant::from_nanos(1);
    let before = live_bytes();
    for _ in 0..N {
        a.connect(now, Remote::udp(b_addr)).unwrap();
    }
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now, 1, &mut buf) {
            b.handle_datagram(now, Remote::udp(a_addr), BytesMut::from(&buf[..t.len]));
            moved = true;
        }
        while let Some(t) = b.poll_transmit(now, 1, &mut buf) {
            a.handle_datagram(now, Remote::udp(b_addr), BytesMut::from(&buf[..t.len]));
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let mut established = 0;
    while let Some(e) = a.poll_event() {
        established += usize::from(matches!(e, Event::SessionEstablished { .. }));
    }
    while b.poll_event().is_some() {}
    assert_eq!(established, N);
    assert_eq!(b.session_count(), N);
    let after = live_bytes();
    let per_end = (after - before) / (2 * N as isize);
    println!("{backend:?}: {per_end} bytes of heap per idle session end ({N} sessions, both ends)");
    drop((a, b));
    per_end
}

#[test]
fn idle_session_memory_is_within_the_design_target() {
    let rc = per_session_bytes(stt_proto::CryptoBackend::RustCrypto);
    assert!(rc <= 4096, "RustCrypto backend: {rc} bytes per idle session end exceeds 4 KiB");
    #[cfg(feature = "ring")]
    {
        let ring = per_session_bytes(stt_proto::CryptoBackend::Ring);
        assert!(ring <= 4096, "ring backend: {ring} bytes per idle session end exceeds 4 KiB");
    }
}
