//! Heap allocations per datagram in a steady-state stream transfer, counted by a global
//! allocator (this test binary only). Everything is counted: core, driver and application.
//! Target: fewer than 0.01 allocations per datagram.

use stt_proto::{EndpointConfig, Seed};
use stt_tests::counting::{allocations, Counting};
use stt_tests::mem::InMemoryPair;

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
            measure_from = Some((allocations(), pair.datagrams, pair.received));
        }
    }
    let (allocs0, dg0, rx0) = measure_from.unwrap();
    let allocs = allocations() - allocs0;
    let dgs = pair.datagrams - dg0;
    let per = allocs as f64 / dgs as f64;
    println!(
        "steady state: {allocs} allocations over {dgs} datagrams ({} MiB) = {per:.5} per datagram",
        (pair.received - rx0) >> 20
    );
    assert!(per < 0.01, "{per} allocations per datagram");
}
