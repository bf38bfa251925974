//! The tokio driver through the userspace impairment relay: real UDP sockets on loopback, with
//! loss, reordering, duplication, corruption and delay in both directions; and both drivers
//! falling back to WebSocket when the relay blocks UDP, and returning when it opens.

use std::time::{Duration, Instant};

use sha3::{Digest, Sha3_256};
use stt_tests::relay::{Relay, RelayBottleneck, RelayConfig};
use stt_tokio::{Node, NodeConfig, Seed, StreamMode, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server and a client on loopback UDP sharing the seed `[seed; 32]`.
async fn nodes(seed: u8) -> (Node, Node) {
    let seed = Seed::new(&[seed; 32]).unwrap();
    let local = "127.0.0.1:0".parse().unwrap();
    let server = Node::bind(NodeConfig::new(seed.clone()).bind(local)).await.unwrap();
    let client = Node::bind(NodeConfig::new(seed).bind(local)).await.unwrap();
    (server, client)
}

/// Reads the first stream the peer opens on `session` to its end, in a task.
fn read_first_stream(session: stt_tokio::Session) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut s = session.accept_stream().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_mebibytes_arrive_intact_through_five_percent_loss_with_reordering() {
    let (server, client) = nodes(9).await;
    let relay = Relay::start(
        server.local_addr(),
        RelayConfig {
            loss: 0.05,
            reorder: 0.10,
            reorder_delay: Duration::from_millis(4),
            duplicate: 0.01,
            corrupt: 0.01,
            delay: Duration::from_millis(2),
            jitter: Duration::from_millis(1),
            seed: 42,
            ..RelayConfig::default()
        },
    )
    .unwrap();
    let data: Vec<u8> = (0..10u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let want: [u8; 32] = Sha3_256::digest(&data).into();

    let session = tokio::time::timeout(Duration::from_secs(20), client.connect(relay.addr())).await.unwrap().unwrap();
    let accepted = server.accept().await.unwrap();
    let started = Instant::now();
    let reader = read_first_stream(accepted);
    let mut s = session.open_stream(StreamMode::Reliable).unwrap();
    s.write_all(&data).await.unwrap();
    s.shutdown().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(240), reader).await.expect("transfer finishes").unwrap();
    let secs = started.elapsed().as_secs_f64();
    let got_hash: [u8; 32] = Sha3_256::digest(&got).into();
    let stats = relay.stats();
    let path = session.path_stats().unwrap();
    println!(
        "relay: 10 MiB in {secs:.2} s ({:.1} MB/s); relay {stats:?}; sender declared {} frames lost, rtt {:?}",
        got.len() as f64 / secs / 1e6,
        path.lost_frames,
        path.rtt
    );
    assert_eq!(got.len(), data.len());
    assert_eq!(got_hash, want, "bytes arrive intact");
    assert!(stats.dropped > 0 && stats.reordered > 0, "the relay really impaired the path: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_share_one_bottleneck() {
    // 16 Mbit/s for both: 2 MB from each takes at least 2 s together, although either alone
    // would take 1 s.
    let rate_bps = 16_000_000;
    let (server_a, client_a) = nodes(3).await;
    let (server_b, client_b) = nodes(4).await;
    let relay = Relay::start_shared(
        &[server_a.local_addr(), server_b.local_addr()],
        RelayConfig {
            delay: Duration::from_millis(5),
            bottleneck: Some(RelayBottleneck { rate_bps, queue_bytes: 40_000 }),
            ..RelayConfig::default()
        },
    )
    .unwrap();
    let [to_a, to_b] = relay.addrs()[..] else { panic!("two addresses") };
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let started = Instant::now();
    let mut transfers = Vec::new();
    for (client, server, target) in [(&client_a, &server_a, to_a), (&client_b, &server_b, to_b)] {
        let session = client.connect(target).await.unwrap();
        let reader = read_first_stream(server.accept().await.unwrap());
        let mut s = session.open_stream(StreamMode::Reliable).unwrap();
        let data = data.clone();
        transfers.push(tokio::spawn(async move {
            s.write_all(&data).await.unwrap();
            s.shutdown().await.unwrap();
            reader.await.unwrap()
        }));
    }
    for t in transfers {
        let got = tokio::time::timeout(Duration::from_secs(60), t).await.expect("transfer finishes").unwrap();
        assert!(got == data, "bytes arrive intact");
    }
    let secs = started.elapsed().as_secs_f64();
    let delays = relay.take_queue_delays();
    let longest = delays.iter().map(|(_, d)| *d).max().unwrap();
    println!("two sessions, 2 MB each through one 16 Mbit/s link: {secs:.2} s, longest queueing {longest:?}");
    let link_time = 2.0 * data.len() as f64 * 8.0 / rate_bps as f64;
    assert!(secs >= link_time, "{secs:.2} s is faster than the shared link allows ({link_time:.2} s)");
    // 40 KB at 16 Mbit/s: the queue never holds more than 20 ms.
    assert!(longest <= Duration::from_millis(21), "a datagram waited {longest:?} in a 20 ms queue");
    assert!(delays.len() as u64 >= 2 * data.len() as u64 / 1500, "every datagram towards a server crossed it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_through_the_relay_measures_its_round_trip() {
    // 25 ms each way: a round trip of 50 ms, whatever the peer's delayed ACK adds.
    let (server, client) = nodes(5).await;
    let relay =
        Relay::start(server.local_addr(), RelayConfig { delay: Duration::from_millis(25), ..RelayConfig::default() })
            .unwrap();
    let session = client.connect(relay.addr()).await.unwrap();
    let _accepted = server.accept().await.unwrap();
    let mut rtts = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let rtt = session.ping().await.expect("the peer answers");
        println!("ping through the relay: rtt {rtt:?}, answered after {:?}", started.elapsed());
        rtts.push(rtt);
    }
    for rtt in &rtts {
        assert!(*rtt >= Duration::from_millis(49), "{rtt:?} is shorter than the relay's round trip");
        assert!(*rtt < Duration::from_millis(90), "{rtt:?}: the peer's ACK delay was not taken off");
    }
}

fn record(i: u64) -> Vec<u8> {
    let mut r = vec![0u8; 100];
    r[..8].copy_from_slice(&i.to_be_bytes());
    for (k, b) in r[8..].iter_mut().enumerate() {
        *b = (i as usize * 13 + k) as u8;
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_records_realign_after_gaps_through_ten_percent_loss() {
    let (server, client) = nodes(10).await;
    let relay = Relay::start(server.local_addr(), RelayConfig { loss: 0.10, seed: 7, ..Default::default() }).unwrap();
    let session = tokio::time::timeout(Duration::from_secs(20), client.connect(relay.addr())).await.unwrap().unwrap();
    let accepted = server.accept().await.unwrap();
    let total = 2000u64;
    let writer = tokio::spawn(async move {
        let mut s = session.open_stream(StreamMode::Live { deadline: Duration::from_millis(40) }).unwrap();
        // 7 records per write: segments do not end on record boundaries, so gaps cut records.
        for batch in (0..total).collect::<Vec<_>>().chunks(7) {
            let bytes: Vec<u8> = batch.iter().flat_map(|&i| record(i)).collect();
            s.write_all(&bytes).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        s.shutdown().await.unwrap();
        s.send_half().flushed().await.unwrap();
        session
    });
    let mut s = accepted.accept_stream().await.unwrap();
    let rx = s.recv_half();
    let mut buf = [0u8; 100];
    let (mut delivered, mut last) = (0u64, None);
    while let Some(index) =
        tokio::time::timeout(Duration::from_secs(30), rx.read_record(&mut buf)).await.unwrap().unwrap()
    {
        assert_eq!(buf[..], record(index)[..], "record {index} is whole and at its own position");
        assert!(last.is_none_or(|l| index > l));
        last = Some(index);
        delivered += 1;
    }
    let _session = writer.await.unwrap();
    println!(
        "{delivered} of {total} records delivered, {} bytes skipped; relay {:?}",
        rx.skipped_bytes(),
        relay.stats()
    );
    assert!(rx.skipped_bytes() > 0, "the relay's loss made the live stream skip");
    assert!(delivered > total / 2 && delivered < total);
    assert!(delivered * 100 + rx.skipped_bytes() <= total * 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_messages_arrive_in_order_through_five_percent_loss() {
    use stt_tokio::{Channel, NameQueueLimits};
    let (server, client) = nodes(11).await;
    let _sink = server.serve_name("video_sink", NameQueueLimits::default()).unwrap();
    let relay = Relay::start(
        server.local_addr(),
        RelayConfig {
            loss: 0.05,
            reorder: 0.05,
            delay: Duration::from_millis(2),
            jitter: Duration::from_millis(1),
            seed: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let session = tokio::time::timeout(Duration::from_secs(20), client.connect(relay.addr())).await.unwrap().unwrap();
    let accepted = server.accept().await.unwrap();
    let big: Vec<u8> = (0..5u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
    let routed: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(40503) >> 7) as u8).collect();
    let bulk: Vec<u8> = (0..4u32 << 20).map(|i| (i % 253) as u8).collect();
    let small = |i: u32| format!("small message {i}").into_bytes();

    let started = Instant::now();
    let bulk_reader = read_first_stream(accepted.clone());
    let receiver = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 10_002 {
            got.push(accepted.recv_message().await.unwrap());
        }
        got
    });
    let bulk_writer = {
        let session = session.clone();
        let bulk = bulk.clone();
        tokio::spawn(async move {
            let mut s = session.open_stream(StreamMode::Reliable).unwrap();
            s.write_all(&bulk).await.unwrap();
            s.shutdown().await.unwrap();
        })
    };
    session.send_message(Channel::Frame(0x81), big.clone()).await.unwrap();
    session.send_message(Channel::name("video_sink"), routed.clone()).await.unwrap();
    for i in 0..10_000u32 {
        let channel = Channel::Frame(if i.is_multiple_of(2) { 0x90 } else { 0x91 });
        session.send_message(channel, small(i)).await.unwrap();
    }
    let got = tokio::time::timeout(Duration::from_secs(240), receiver).await.expect("messages arrive").unwrap();
    bulk_writer.await.unwrap();
    let bulk_got = tokio::time::timeout(Duration::from_secs(240), bulk_reader).await.expect("bulk arrives").unwrap();
    let secs = started.elapsed().as_secs_f64();
    let stats = relay.stats();
    println!("relay: 6 MiB of large messages, 10,000 small ones and a 4 MiB stream in {secs:.2} s; relay {stats:?}");
    assert_eq!(got[0].channel, Channel::Frame(0x81));
    assert!(got[0].payload == big, "the 5 MiB message differs");
    assert_eq!(got[1].channel, Channel::name("video_sink"));
    assert!(got[1].payload == routed, "the routed message differs");
    for (i, m) in got[2..].iter().enumerate() {
        let i = i as u32;
        assert_eq!(m.channel, Channel::Frame(if i.is_multiple_of(2) { 0x90 } else { 0x91 }), "message {i}");
        assert_eq!(m.payload, small(i), "message {i}");
    }
    assert!(bulk_got == bulk, "the bulk stream differs");
    assert!(stats.dropped > 0, "the relay really dropped datagrams: {stats:?}");
}

/// Waits for the next `SessionMigrated` to a path of `transport` on `events`.
async fn migrated_to(
    events: &mut tokio::sync::broadcast::Receiver<stt_tokio::Event>,
    transport: Transport,
) -> stt_tokio::Remote {
    loop {
        match events.recv().await {
            Ok(stt_tokio::Event::SessionMigrated { remote, .. }) if remote.transport == transport => return remote,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(e) => panic!("event stream ended: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_udp_falls_back_to_websocket_and_the_session_moves_back_when_it_opens() {
    use stt_tokio::Fallback;
    let seed = Seed::new(&[12; 32]).unwrap();
    let local = "127.0.0.1:0".parse().unwrap();
    let server = Node::bind(NodeConfig::new(seed.clone()).bind(local).ws_bind(local)).await.unwrap();
    let fallback = Fallback {
        udp_timeout: Duration::from_millis(800),
        probe_interval: Duration::from_millis(300),
        silence: Duration::from_millis(1500),
    };
    // Keepalives every 0.5 s: a healthy path is never silent for 1.5 s.
    let mut config = NodeConfig::new(seed).bind(local).fallback(fallback);
    config.endpoint.keep_alive_interval = Some(Duration::from_millis(500));
    let client = Node::bind(config).await.unwrap();
    let relay = Relay::start(server.local_addr(), RelayConfig::default()).unwrap();
    relay.set_blocked(true);
    let url = format!("ws://{}", server.ws_local_addr().unwrap());
    let (mut client_events, mut server_events) = (client.events(), server.events());

    let started = Instant::now();
    let session = tokio::time::timeout(Duration::from_secs(10), client.connect_with_fallback(relay.addr(), &url))
        .await
        .expect("connects within the fallback time and a WebSocket handshake")
        .unwrap();
    let connect_secs = started.elapsed().as_secs_f64();
    assert_eq!(session.remote().unwrap().transport, Transport::WebSocket);
    assert!(connect_secs < 0.8 + 2.0, "connected after {connect_secs:.2} s");
    let accepted = server.accept().await.unwrap();
    let data: Vec<u8> = (0..10u32 << 20).map(|i| (i.wrapping_mul(2246822519) >> 9) as u8).collect();
    let reader = read_first_stream(accepted);
    let mut s = session.open_stream(StreamMode::Reliable).unwrap();
    s.write_all(&data[..5 << 20]).await.unwrap();
    let before_unblock = relay.stats();

    // UDP opens: the session probes it and moves back, with the first half possibly in flight.
    relay.set_blocked(false);
    let moved = tokio::time::timeout(Duration::from_secs(10), migrated_to(&mut client_events, Transport::Udp))
        .await
        .expect("the client moves back to UDP");
    assert_eq!(moved.addr, relay.addr());
    tokio::time::timeout(Duration::from_secs(10), migrated_to(&mut server_events, Transport::Udp))
        .await
        .expect("the server moves back to UDP");
    s.write_all(&data[5 << 20..]).await.unwrap();
    s.shutdown().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(120), reader).await.expect("transfer finishes").unwrap();
    let after = relay.stats();
    println!(
        "fallback: connected over WebSocket in {connect_secs:.2} s; relay while blocked {before_unblock:?}; at the end {after:?}"
    );
    assert_eq!(session.remote().unwrap().transport, Transport::Udp);
    assert!(got == data, "10 MiB arrive intact across both moves ({} bytes received)", got.len());
    assert!(before_unblock.dropped > 0 && before_unblock.to_server_bytes == 0, "UDP was really blocked");
    assert!(after.to_server_bytes > 4 << 20, "the second half went over UDP: {after:?}");

    // UDP breaks again: after `silence` without anything received, the session goes back to
    // WebSocket, and returns to UDP when it opens once more.
    relay.set_blocked(true);
    let again = tokio::time::timeout(Duration::from_secs(15), migrated_to(&mut client_events, Transport::WebSocket))
        .await
        .expect("the client goes back to WebSocket");
    assert_eq!(again.transport, Transport::WebSocket);
    let server_session = server.sessions().pop().unwrap();
    session.send_message(stt_tokio::Channel::Frame(0x99), vec![3u8; 100_000]).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(15), server_session.recv_message()).await.unwrap().unwrap();
    assert_eq!(m.payload.len(), 100_000, "a message crosses the WebSocket path while UDP is blocked");
    relay.set_blocked(false);
    tokio::time::timeout(Duration::from_secs(15), migrated_to(&mut client_events, Transport::Udp))
        .await
        .expect("and returns to UDP");
}

/// The transport `session` of a mio node runs over now, if it is open.
fn mio_transport(node: &stt_mio::Node, session: stt_mio::stt_proto::SessionHandle) -> Option<Transport> {
    node.driver().endpoint().session(session).map(|s| s.remote().transport)
}

/// Turns a mio node's loop until `session` runs over `transport`, for at most `within`.
fn mio_moves_to(
    node: &mut stt_mio::Node,
    session: stt_mio::stt_proto::SessionHandle,
    transport: Transport,
    within: Duration,
) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if mio_transport(node, session) == Some(transport) {
            return true;
        }
        node.poll_once(Some(Duration::from_millis(20))).unwrap();
    }
    false
}

/// The same fallback and return as above with two mio nodes (one thread each): the policy is the
/// core's, so the mio driver falls back and returns as the tokio driver does.
#[test]
fn mio_blocked_udp_falls_back_to_websocket_and_the_session_moves_back_when_it_opens() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use stt_mio::stt_proto::{EndpointConfig, Fallback, Identity, StreamMode as MioMode};

    let seed = Seed::new(&[13; 32]).unwrap();
    let local = "127.0.0.1:0".parse().unwrap();
    let mut server = stt_mio::Node::bind(local, seed.clone()).unwrap();
    server.set_timeout(Some(Duration::from_secs(60)));
    let url = format!("ws://{}", server.ws_bind(local).unwrap());
    let relay = Relay::start(server.local_addr(), RelayConfig::default()).unwrap();
    relay.set_blocked(true);

    // The server: takes the session and its stream, reads it to the end, then keeps answering
    // until told to stop; reports what it read and the transport it ended on.
    let stop = Arc::new(AtomicBool::new(false));
    let server_stop = stop.clone();
    let server_thread = std::thread::spawn(move || {
        let session = server.accept().unwrap();
        let stream = server.accept_stream(session).unwrap();
        let got = server.read_to_end(session, stream).unwrap();
        let on_udp = mio_moves_to(&mut server, session, Transport::Udp, Duration::from_secs(10));
        while !server_stop.load(Ordering::Relaxed) {
            server.poll_once(Some(Duration::from_millis(20))).unwrap();
        }
        (got, on_udp)
    });

    // Keepalives every 0.5 s: a healthy path is never silent for 1.5 s.
    let mut config = EndpointConfig::with_shared_seed(seed);
    config.max_websocket_datagram = config.max_udp_datagram;
    config.keep_alive_interval = Some(Duration::from_millis(500));
    let mut client =
        stt_mio::Node::with_config(local, config, Identity::from_seed(&Seed::new(&[14; 32]).unwrap())).unwrap();
    client.set_timeout(Some(Duration::from_secs(60)));
    client.set_fallback(Fallback {
        udp_timeout: Duration::from_millis(800),
        probe_interval: Duration::from_millis(300),
        silence: Duration::from_millis(1500),
    });

    let started = Instant::now();
    let session = client.connect_with_fallback(relay.addr(), &url).unwrap();
    let connect_secs = started.elapsed().as_secs_f64();
    assert_eq!(mio_transport(&client, session), Some(Transport::WebSocket));
    assert!((0.8..0.8 + 2.0).contains(&connect_secs), "connected after {connect_secs:.2} s");
    let data: Vec<u8> = (0..10u32 << 20).map(|i| (i.wrapping_mul(2246822519) >> 9) as u8).collect();
    let stream = client.open_stream(session, MioMode::Reliable).unwrap();
    client.write_all(session, stream, &data[..5 << 20]).unwrap();
    let before_unblock = relay.stats();
    assert!(before_unblock.dropped > 0 && before_unblock.to_server_bytes == 0, "UDP was really blocked");

    // UDP opens: the session probes it and moves back, with the first half possibly in flight.
    relay.set_blocked(false);
    assert!(
        mio_moves_to(&mut client, session, Transport::Udp, Duration::from_secs(10)),
        "the client moves back to UDP"
    );
    client.write_all(session, stream, &data[5 << 20..]).unwrap();
    client.finish(session, stream).unwrap();
    client.flush(session).unwrap();
    let after = relay.stats();
    assert!(after.to_server_bytes > 4 << 20, "the second half went over UDP: {after:?}");

    // UDP breaks again: after `silence` without anything received the session goes back to
    // WebSocket, and returns to UDP when it opens once more.
    relay.set_blocked(true);
    assert!(
        mio_moves_to(&mut client, session, Transport::WebSocket, Duration::from_secs(15)),
        "the client goes back to WebSocket"
    );
    relay.set_blocked(false);
    assert!(mio_moves_to(&mut client, session, Transport::Udp, Duration::from_secs(15)), "and returns to UDP");
    println!("mio fallback: connected over WebSocket in {connect_secs:.2} s; relay at the end {:?}", relay.stats());

    stop.store(true, Ordering::Relaxed);
    let (got, server_on_udp) = server_thread.join().unwrap();
    assert!(got == data, "10 MiB arrive intact across both moves ({} bytes received)", got.len());
    assert!(server_on_udp, "the server moved back to UDP too");
    client.close(session, 0, "done");
}

/// A mio node whose own timeout ends `connect_with_fallback` before UDP's fallback time returns
/// `TimedOut` and leaves no handshake behind that could later open a session nobody owns.
#[test]
fn mio_fallback_cut_short_by_the_node_timeout_leaves_no_handshake_behind() {
    use stt_mio::stt_proto::Fallback;
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut node = stt_mio::Node::bind("127.0.0.1:0".parse().unwrap(), Seed::new(&[15; 32]).unwrap()).unwrap();
    node.set_timeout(Some(Duration::from_millis(300)));
    node.set_fallback(Fallback { udp_timeout: Duration::from_secs(5), ..Fallback::default() });
    let started = Instant::now();
    let r = node.connect_with_fallback(silent.local_addr().unwrap(), "ws://127.0.0.1:9");
    assert!(matches!(r, Err(stt_mio::Error::TimedOut)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "the node's timeout, not UDP's, ended it");
    assert_eq!(node.driver().endpoint().sessions().count(), 0, "the UDP handshake was closed");
}
