//! Heap allocations per datagram in a steady-state stream transfer, counted by a global
//! allocator (this test binary only). Everything is counted: core, driver and application.
//! Target: fewer than 0.01 allocations per datagram.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use stt_proto::{EndpointConfig, Seed};
use stt_tests::mem::InMemoryPair;

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

#[test]
fn steady_state_transfer_allocates_almost_nothing_per_datagram() {
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(&[3; 32]).unwrap());
    cfg.keep_alive_interval = None;
    let mut pair = InMemoryPair::new(cfg, 64 * 1024, 4 << 20, false);
    let total = 256u64 << 20;
    let mut measure_from = None;
    while pair.received < total {
        pair.round();
        // Warm-up: the first 32 MiB grow every queue and window to its working size.
        if measure_from.is_none() && pair.received >= 32 << 20 {
            measure_from = Some((ALLOCS.load(Ordering::Relaxed), pair.datagrams, pair.received));
        }
    }
    let (allocs0, dg0, rx0) = measure_from.unwrap();
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs0;
    let dgs = pair.datagrams - dg0;
    let per = allocs as f64 / dgs as f64;
    println!(
        "steady state: {allocs} allocations over {dgs} datagrams ({} MiB) = {per:.5} per datagram",
        (pair.received - rx0) >> 20
    );
    assert!(per < 0.01, "{per} allocations per datagram");
}
