//! What a user can read about a node and a session: open streams, creation and last activity as
//! `std::time::Instant`s, and node totals (sessions, bytes, drops by reason), on real sockets.

mod common;

use std::time::{Duration, Instant};

use common::*;
use stt_tokio::StreamMode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_session_reports_its_streams_creation_and_last_activity() {
    let before = Instant::now();
    let server = node(1).await;
    let client = node(1).await;
    let s = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    let after_connect = Instant::now();

    for session in [&s, &accepted] {
        assert_eq!(session.stream_count(), Some(0));
        let created = session.created_at();
        assert!(before <= created && created <= after_connect, "created during connect");
        let active = session.last_active_at().unwrap();
        assert!(created <= active && active <= after_connect);
    }
    let stats = s.stats().unwrap();
    assert_eq!(client.to_std_instant(stats.created), s.created_at(), "the core's instants convert");

    let quiet_since = s.last_active_at().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut st = s.open_stream(StreamMode::Reliable).unwrap();
        st.write_all(b"ping").await.unwrap();
        streams.push(st);
    }
    assert_eq!(s.stream_count(), Some(3));
    let mut got = Vec::new();
    for _ in 0..3 {
        let mut st = within(10, "accept_stream", accepted.accept_stream()).await.unwrap();
        let mut buf = [0u8; 4];
        st.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        got.push(st);
    }
    assert_eq!(accepted.stream_count(), Some(3));
    within(10, "flush", s.flush()).await.unwrap();
    let active = s.last_active_at().unwrap();
    assert!(active >= quiet_since + Duration::from_millis(50), "the acknowledgements of the writes are activity");

    s.close(0, "done").await;
    within(10, "closed", accepted.closed()).await;
    assert_eq!(s.stream_count(), None);
    assert_eq!(s.last_active_at(), None);
    assert!(s.created_at() <= after_connect, "the creation time outlives the session");
}

#[tokio::test]
async fn a_node_reports_open_sessions_bytes_and_drops_by_reason() {
    let server = node(1).await;
    let started = server.stats().started;
    assert!(started <= Instant::now());
    assert_eq!(server.stats().sessions, 0);

    let a = node(1).await;
    let b = node(1).await;
    let sa = within(10, "connect a", a.connect(server.local_addr())).await.unwrap();
    let _sb = within(10, "connect b", b.connect(server.local_addr())).await.unwrap();
    let _ = within(10, "accept", server.accept()).await.unwrap();
    let _ = within(10, "accept", server.accept()).await.unwrap();
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..10 {
        junk.send_to(b"not an STT datagram", server.local_addr()).unwrap();
    }
    let mut st = sa.open_stream(StreamMode::Reliable).unwrap();
    st.write_all(&[7u8; 100_000]).await.unwrap();
    within(10, "flush", st.flush()).await.unwrap();
    within(10, "flush", sa.flush()).await.unwrap();

    let stats = server.stats();
    assert_eq!(stats.sessions, 2);
    assert_eq!(stats.started, started);
    assert_eq!(stats.endpoint.sessions_established, 2);
    assert!(stats.endpoint.bytes_received > 100_000, "{stats:?}");
    assert!(stats.endpoint.bytes_sent > 0);
    assert!(stats.endpoint.dropped.malformed >= 10, "junk counted by reason: {:?}", stats.endpoint.dropped);
    assert_eq!(stats.driver.websocket.connections, 0);

    sa.close(0, "done").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().sessions != 1 {
        assert!(Instant::now() < deadline, "the closed session leaves the count");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn custom_frames_past_the_unread_queue_are_counted_and_the_newest_kept() {
    let (server, client, s, accepted) = connected(1).await;
    // No handler for type 0x90 and nobody reading: the session keeps the newest 1,024, the oldest
    // are dropped.
    for i in 0..1100u32 {
        // The send queue is bounded too: wait for it to drain when it is full.
        while let Err(e) = s.send_frame(0x90, i.to_be_bytes().to_vec()) {
            assert!(matches!(e, stt_tokio::Error::Frame(_)), "{e}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    within(10, "flush", s.flush()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().frames_dropped < 76 {
        assert!(Instant::now() < deadline, "dropped frames counted: {:?}", server.stats().frames_dropped);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.stats().frames_dropped, 76);
    for i in 76..1100u32 {
        let (ty, payload) = within(10, "recv_frame", accepted.recv_frame()).await.unwrap();
        assert_eq!((ty, &payload[..]), (0x90, &i.to_be_bytes()[..]), "the newest 1,024, in order");
    }
    assert_eq!(client.stats().frames_dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_opened_in_a_burst_during_a_transfer_all_arrive_and_the_data_is_intact() {
    // The node hands each handshake's Diffie–Hellman to a blocking thread (driver.rs): 200
    // connects from four nodes at once, while 8 MiB cross an established session.
    let server = node(1).await;
    let sender = node(1).await;
    let s = within(10, "connect", sender.connect(server.local_addr())).await.unwrap();
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    let data = pattern(8 << 20, 7);
    let digest = sha3(&data);
    let receiving = tokio::spawn(async move { recv_all(&accepted).await });
    let sending = tokio::spawn(async move {
        send_all(&s, &data).await;
        s
    });
    let mut connecting = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let client = node(1).await;
        let to = server.local_addr();
        for _ in 0..50 {
            let client = client.clone();
            connecting.spawn(async move { client.connect(to).await });
        }
    }
    let mut opened = Vec::new();
    while let Some(r) = within(30, "connects", connecting.join_next()).await {
        opened.push(r.unwrap().expect("every connect succeeds"));
    }
    for _ in 0..200 {
        within(10, "accept the burst", server.accept()).await.unwrap();
    }
    let (len, got) = within(30, "transfer", receiving).await.unwrap();
    assert_eq!((len, got), (8 << 20, digest));
    let _s = sending.await.unwrap();
    let stats = server.stats();
    assert_eq!(stats.sessions, 201);
    assert_eq!(stats.endpoint.sessions_established, 201);
    // Retransmissions that came while their handshake's work was out are dropped (the work's
    // CONFIRM answers them), never mistaken for forgeries.
    assert_eq!(stats.endpoint.dropped.handshake_authentication, 0);
}
