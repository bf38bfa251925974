//! Heap allocations per datagram in the mio driver's event loop during a steady-state transfer
//! over real loopback sockets, counted by a global allocator (this test binary only). Two drivers
//! share one `mio::Poll` on one thread; everything is counted: driver, core and application.
//! Target: fewer than 0.01 allocations per datagram.

use bytes::Bytes;
use mio::{Events, Poll, Token};
use stt_mio::stt_proto::{EndpointConfig, Event, Identity, Seed, StreamMode, StreamRead};
use stt_mio::Driver;
use stt_tests::counting::{allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn driver(poll: &Poll, token: usize, id: u8) -> Driver {
    let mut config = EndpointConfig::with_shared_seed(Seed::new(&[3; 32]).unwrap());
    config.keep_alive_interval = None;
    let identity = Identity::from_seed_bytes(&[id; 32]).unwrap();
    let socket = mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    Driver::new(socket, config, identity, [id; 32], poll.registry(), Token(token)).unwrap()
}

#[test]
fn the_driver_loop_allocates_almost_nothing_per_datagram() {
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(64);
    let mut sender = driver(&poll, 0, 1);
    let mut receiver = driver(&poll, 1, 2);
    let session = sender.connect(receiver.local_addr().unwrap()).unwrap();
    let stream = sender.endpoint_mut().session_mut(session).unwrap().open_stream(StreamMode::Reliable).unwrap();
    let block = Bytes::from(vec![0x5a; 256 * 1024]);
    let mut offset = 0;
    let mut received = 0u64;
    let total = 128u64 << 20;
    let mut measure_from = None;
    while received < total {
        let timeout = match (sender.timeout(), receiver.timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        poll.poll(&mut events, timeout).unwrap();
        for ev in events.iter() {
            let _ = sender.handle_event(ev) || receiver.handle_event(ev);
        }
        sender.process();
        receiver.process();
        // The sender writes whenever it can (it drains its events, but the stream is all it has).
        while sender.poll_event().is_some() {}
        if let Some(mut s) = sender.endpoint_mut().session_mut(session) {
            while let Ok(n) = s.write_bytes(stream, &block.slice(offset..)) {
                offset = (offset + n) % block.len();
                if n == 0 {
                    break;
                }
            }
        }
        while let Some(ev) = receiver.poll_event() {
            if let Event::StreamOpened { session, .. } | Event::StreamReadable { session, .. } = ev {
                let mut s = receiver.endpoint_mut().session_mut(session).unwrap();
                while let Some(id) = s.accept_stream() {
                    let _ = id;
                }
                while let Ok(Some(StreamRead::Data(chunk))) = s.read(stream) {
                    received += chunk.len() as u64;
                }
            }
        }
        // Warm-up: the first 16 MiB grow every queue, pool and window to its working size.
        let datagrams = sender.endpoint().stats().datagrams_received + receiver.endpoint().stats().datagrams_received;
        if measure_from.is_none() && received >= 16 << 20 {
            measure_from = Some((allocations(), datagrams, received));
        }
    }
    let datagrams = sender.endpoint().stats().datagrams_received + receiver.endpoint().stats().datagrams_received;
    let (allocs0, dg0, rx0) = measure_from.unwrap();
    let allocs = allocations() - allocs0;
    let dgs = datagrams - dg0;
    let per = allocs as f64 / dgs as f64;
    let lost = sender.endpoint().session(session).unwrap().path_stats().lost_frames;
    println!(
        "mio driver steady state: {allocs} allocations over {dgs} datagrams received ({} MiB) = {per:.5} per \
         datagram; {lost} frames declared lost over the whole run (socket-buffer drops)",
        (received - rx0) >> 20
    );
    assert!(dgs > 50_000, "the transfer really ran over many datagrams");
    assert!(per < 0.01, "{per} allocations per datagram");
}
