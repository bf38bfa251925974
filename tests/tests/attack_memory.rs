//! A peer with the seed that makes the node hold far more memory than the credit it uses:
//! payloads kept for the application are zero-copy slices of their datagram, so a one-byte
//! segment or a two-byte custom frame in a padded 1 MiB datagram could pin the whole megabyte.
//! Measured with a counting allocator (this test binary only). `docs/SECURITY.md` lists what
//! these tests defend.

use std::time::Duration;
use stt_tests::counting::{live_bytes, Counting};

use bytes::BytesMut;
use stt_proto::{Endpoint, EndpointConfig, Identity, Instant, Remote, Seed, SessionHandle, StreamMode};

#[global_allocator]
static GLOBAL: Counting = Counting;

const PADDED: usize = 1 << 20;

struct Pair {
    a: Endpoint,
    b: Endpoint,
    ha: SessionHandle,
    now: Instant,
    buf: Vec<u8>,
}

fn pair() -> Pair {
    let cfg = EndpointConfig::with_shared_seed(Seed::new(&[7; 32]).unwrap());
    let mut a = Endpoint::new(cfg.clone(), Identity::from_seed_bytes(&[1; 32]).unwrap(), [1; 32]).unwrap();
    let b = Endpoint::new(cfg, Identity::from_seed_bytes(&[2; 32]).unwrap(), [2; 32]).unwrap();
    let now = Instant::from_nanos(1);
    let ha = a.connect(now, Remote::udp(addr_b())).unwrap();
    let mut p = Pair { a, b, ha, now, buf: vec![0u8; 2048] };
    loop {
        let mut moved = false;
        while let Some(t) = p.a.poll_transmit(p.now, 1, &mut p.buf) {
            p.b.handle_datagram(p.now, Remote::udp(addr_a()), BytesMut::from(&p.buf[..t.len]));
            moved = true;
        }
        while let Some(t) = p.b.poll_transmit(p.now, 1, &mut p.buf) {
            p.a.handle_datagram(p.now, Remote::udp(addr_b()), BytesMut::from(&p.buf[..t.len]));
            moved = true;
        }
        if !moved {
            break;
        }
    }
    while p.a.poll_event().is_some() {}
    while p.b.poll_event().is_some() {}
    p
}

fn addr_a() -> std::net::SocketAddr {
    "192.0.2.1:1".parse().unwrap()
}

fn addr_b() -> std::net::SocketAddr {
    "192.0.2.2:2".parse().unwrap()
}

impl Pair {
    /// Takes `a`'s next datagrams, each padded to 1 MiB with bytes that parse as nothing.
    fn padded_from_a(&mut self) -> Vec<BytesMut> {
        self.now += Duration::from_millis(10);
        let mut out = Vec::new();
        while let Some(t) = self.a.poll_transmit(self.now, 1, &mut self.buf) {
            let mut d = BytesMut::zeroed(PADDED);
            d[..t.len].copy_from_slice(&self.buf[..t.len]);
            out.push(d);
        }
        out
    }

    /// Delivers datagrams to `b` and returns how much more heap `b` holds afterwards (the
    /// datagrams themselves are allocated before counting starts).
    fn held_by_b(&mut self, datagrams: Vec<BytesMut>) -> isize {
        let before = live_bytes();
        let offered = datagrams.len() as isize * PADDED as isize;
        for d in datagrams {
            self.b.handle_datagram(self.now, Remote::udp(addr_a()), d);
        }
        live_bytes() - (before - offered)
    }
}

#[test]
fn one_byte_segments_and_two_byte_frames_do_not_pin_their_datagrams() {
    // 64 one-byte segments of a stream, out of order (the first is withheld), each in its own
    // padded 1 MiB datagram: before, 64 MiB held for 64 bytes of credit.
    let mut p = pair();
    let mut m = p.a.session_mut(p.ha).unwrap();
    let stream = m.open_stream(StreamMode::Reliable).unwrap();
    let mut datagrams = Vec::new();
    for i in 0..65u8 {
        p.a.session_mut(p.ha).unwrap().write(stream, &[i]).unwrap();
        let mut d = p.padded_from_a();
        if i > 0 {
            datagrams.append(&mut d);
        }
    }
    assert!(datagrams.len() >= 64);
    let held = p.held_by_b(datagrams);
    println!("64 one-byte out-of-order segments in 1 MiB datagrams: {held} B held");
    assert!(held < 4 << 20, "64 one-byte segments hold {held} B of heap (bound 4 MiB; 64 MiB before)");

    // 32 two-byte custom frames, not yet taken by the application.
    let mut p = pair();
    let mut datagrams = Vec::new();
    for i in 0..32u8 {
        p.a.session_mut(p.ha).unwrap().send_frame(0x80, vec![i, i]).unwrap();
        datagrams.append(&mut p.padded_from_a());
    }
    let held = p.held_by_b(datagrams);
    println!("32 two-byte custom frames in 1 MiB datagrams: {held} B held");
    assert!(held < 4 << 20, "32 two-byte custom frames hold {held} B of heap (bound 4 MiB; 32 MiB before)");
    let frames =
        std::iter::from_fn(|| p.b.poll_event()).filter(|e| matches!(e, stt_proto::Event::Frame { .. })).count();
    assert_eq!(frames, 32, "every frame is delivered");
}
