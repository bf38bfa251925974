//! Heap allocations per datagram in a steady-state stream transfer, counted by a global
//! allocator (this test binary only). Everything is counted: core, driver and application.
//! Target: fewer than 0.01 allocations per datagram.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use stt_proto::{Endpoint, EndpointConfig, Event, Identity, Instant, Remote, Seed, StreamMode, StreamRead};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Receive buffers come out of one large allocation, as a driver reading from a socket does.
struct Pool(BytesMut);

impl Pool {
    fn datagram(&mut self, bytes: &[u8]) -> BytesMut {
        if self.0.capacity() < bytes.len() {
            self.0.reserve(4 << 20);
        }
        self.0.extend_from_slice(bytes);
        self.0.split()
    }
}

#[test]
fn steady_state_transfer_allocates_almost_nothing_per_datagram() {
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(&[3; 32]).unwrap());
    cfg.keep_alive_interval = None;
    let mut a = Endpoint::new(cfg.clone(), Identity::from_seed_bytes(&[1; 32]).unwrap(), [1; 32]).unwrap();
    let mut b = Endpoint::new(cfg, Identity::from_seed_bytes(&[2; 32]).unwrap(), [2; 32]).unwrap();
    let (a_addr, b_addr) = (Remote::udp("192.0.2.1:1".parse().unwrap()), Remote::udp("192.0.2.2:2".parse().unwrap()));
    let mut pool = Pool(BytesMut::with_capacity(4 << 20));
    let mut out = vec![0u8; 1500];
    let chunk = vec![0x42u8; 64 * 1024];
    let mut now = Instant::from_nanos(1);
    let ha = a.connect(now, b_addr).unwrap();
    let stream = a.session_mut(ha).unwrap().open_stream(StreamMode::Reliable).unwrap();
    let mut hb = None;
    let (mut received, mut datagrams) = (0u64, 0u64);
    let total = 256u64 << 20;
    let mut measure_from = None;
    while received < total {
        // Application: keep the stream's buffer full.
        if let Some(mut s) = a.session_mut(ha) {
            while s.write(stream, &chunk).is_ok() {}
        }
        // Network: deliver everything both sides send, 100 µs per round.
        now += std::time::Duration::from_micros(100);
        a.handle_timeout(now);
        b.handle_timeout(now);
        while let Some(t) = a.poll_transmit(now, &mut out) {
            datagrams += 1;
            let dg = pool.datagram(&out[..t.len]);
            b.handle_datagram(now, a_addr, dg);
        }
        while let Some(t) = b.poll_transmit(now, &mut out) {
            datagrams += 1;
            let dg = pool.datagram(&out[..t.len]);
            a.handle_datagram(now, b_addr, dg);
        }
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
        // Warm-up: the first 32 MiB grow every queue and window to its working size.
        if measure_from.is_none() && received >= 32 << 20 {
            measure_from = Some((ALLOCS.load(Ordering::Relaxed), datagrams, received));
        }
    }
    let (allocs0, dg0, rx0) = measure_from.unwrap();
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs0;
    let dgs = datagrams - dg0;
    let per = allocs as f64 / dgs as f64;
    println!(
        "steady state: {allocs} allocations over {dgs} datagrams ({} MiB) = {per:.5} per datagram",
        (received - rx0) >> 20
    );
    assert!(per < 0.01, "{per} allocations per datagram");
}
