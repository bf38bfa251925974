//! The mio driver against the tokio driver on real loopback sockets: each side as initiator,
//! both stream modes, custom frames, reliable messages, 10 MiB each way; 50 tokio clients on one mio echo server;
//! the mio sensor example through the impairment relay.

use std::time::Duration;

use sha3::{Digest, Sha3_256};
use stt_mio::stt_proto::{Channel, MessageId, MessageRefusal, SessionHandle};
use stt_tests::relay::{Relay, RelayConfig};
use stt_tokio::{stt_proto, CloseReason, Node as TokioNode, NodeConfig, Seed, Session, StreamMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../../stt-mio/examples/echo_server.rs"]
#[allow(dead_code)]
mod echo_server;
#[path = "../../stt-mio/examples/sensor.rs"]
#[allow(dead_code)]
mod sensor;

const SEED: [u8; 32] = [21; 32];
const BIG: usize = 10 << 20;
const LIVE_RECORDS: usize = 200;

fn pattern(len: usize, salt: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_add(salt).wrapping_mul(2654435761) >> 11) as u8).collect()
}

fn sha3(data: &[u8]) -> [u8; 32] {
    Sha3_256::digest(data).into()
}

fn live(ms: u64) -> StreamMode {
    StreamMode::Live { deadline: Duration::from_millis(ms) }
}

/// The mio side of the exchange, blocking, on its own thread.
fn mio_side(node: &mut stt_mio::Node, s: SessionHandle) {
    node.send_frame(s, 0x81, &b"from mio"[..]).unwrap();
    let (kind, payload) = node.recv_frame(s).unwrap();
    assert_eq!((kind, &payload[..]), (0x82, &b"from tokio"[..]));

    // What the session exports, and a segment sealed with its key, for tokio to check.
    let mut exported = [0u8; 32];
    node.export_secret(s, b"interop", b"mio", &mut exported).unwrap();
    let key = node.segment_encoder_key(s, 9).unwrap();
    let mut enc = stt_mio::stt_proto::segment::SegmentEncoder::live(key, 9, 64).unwrap();
    assert!(enc.push(b"sealed by mio").unwrap().is_empty());
    let segment = enc.flush().unwrap().unwrap();
    node.send_frame(s, 0x86, [&exported[..], &segment].concat()).unwrap();

    // Labeled streams both ways: each side takes the other's by its label.
    let labeled = node.open_labeled_stream(s, StreamMode::Reliable, b"sensor/temperature").unwrap();
    assert_eq!(node.stream_label(s, labeled), Some(&b"sensor/temperature"[..]));
    node.write_all(s, labeled, b"21.5 C").unwrap();
    node.finish(s, labeled).unwrap();
    let config = node.accept_labeled_stream(s, b"tokio/config").unwrap();
    assert_eq!(node.stream_label(s, config), Some(&b"tokio/config"[..]));
    assert_eq!(node.read_to_end(s, config).unwrap(), b"rate = 10");

    // Reliable messages both ways; one to a name tokio does not serve is refused.
    assert_eq!(node.send_message(s, Channel::Frame(0x84), pattern(3 << 20, 7)).unwrap(), MessageId(0));
    assert_eq!(node.send_message(s, Channel::name("nobody"), &b"refused"[..]).unwrap(), MessageId(1));
    let m = node.recv_message(s).unwrap();
    assert_eq!(m.channel, Channel::Frame(0x85));
    assert!(m.payload == pattern(2 << 20, 8), "2 MiB message from tokio arrives whole");

    // Reliable, mio -> tokio: 10 MiB; tokio answers with their hash on the same stream.
    let data = pattern(BIG, 1);
    let expected = sha3(&data);
    // Timed until tokio has acknowledged every byte: hashing, at either end, is not the transfer.
    let started = std::time::Instant::now();
    let up = node.open_stream(s, StreamMode::Reliable).unwrap();
    node.write_all(s, up, &data).unwrap();
    node.finish(s, up).unwrap();
    node.flush(s).unwrap();
    let up_secs = started.elapsed().as_secs_f64();
    assert_eq!(node.read_to_end(s, up).unwrap(), expected, "tokio received the 10 MiB intact");

    // Live, mio -> tokio.
    let records = pattern(LIVE_RECORDS * 16, 2);
    let live_up = node.open_stream(s, live(200)).unwrap();
    for record in records.chunks(16) {
        node.write_all(s, live_up, record).unwrap();
    }
    node.finish(s, live_up).unwrap();

    // Reliable and live, tokio -> mio.
    let down = node.accept_stream(s).unwrap();
    let started = std::time::Instant::now();
    assert!(node.read_to_end(s, down).unwrap() == pattern(BIG, 3), "10 MiB from tokio arrive intact");
    let down_secs = started.elapsed().as_secs_f64();
    println!(
        "10 MiB mio -> tokio: {:.0} MB/s; tokio -> mio: {:.0} MB/s",
        BIG as f64 / up_secs / 1e6,
        BIG as f64 / down_secs / 1e6
    );
    let live_down = node.accept_stream(s).unwrap();
    assert_eq!(node.read_to_end(s, live_down).unwrap(), pattern(64 * 1024, 4));
    assert_eq!(node.skipped_bytes(s, live_down), 0);
    node.flush(s).unwrap();
    let refused = node.take_refused_messages(s);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!((refused[0].first, refused[0].reason), (MessageId(1), MessageRefusal::UnknownName));
    node.send_frame(s, 0x83, &b"done"[..]).unwrap();
    // Tokio closes once it has read everything.
    assert!(matches!(
        node.recv_frame(s),
        Err(stt_mio::Error::SessionClosed(CloseReason::ClosedByPeer { code: 7, .. }))
    ));
}

/// The tokio side of the same exchange.
async fn tokio_side(session: Session) {
    let (kind, payload) = session.recv_frame().await.unwrap();
    assert_eq!((kind, &payload[..]), (0x81, &b"from mio"[..]));
    session.send_frame(0x82, &b"from tokio"[..]).unwrap();
    let (kind, payload) = session.recv_frame().await.unwrap();
    let mut exported = [0u8; 32];
    session.export_secret(b"interop", b"mio", &mut exported).unwrap();
    assert_eq!((kind, &payload[..32]), (0x86, &exported[..]), "both drivers export the same secret");
    let mut dec = stt_proto::segment::SegmentDecoder::new(session.segment_decoder_key(9).unwrap(), 9, 1 << 16);
    dec.push(&payload[32..]).unwrap();
    assert_eq!(&dec.read().unwrap()[..], b"sealed by mio");
    let mut labeled = session.accept_labeled_stream(b"sensor/temperature").await.unwrap();
    assert_eq!(labeled.label().map(|l| &l[..]), Some(&b"sensor/temperature"[..]));
    let mut reading = Vec::new();
    labeled.read_to_end(&mut reading).await.unwrap();
    assert_eq!(reading, b"21.5 C");
    let mut config = session.open_labeled_stream(StreamMode::Reliable, b"tokio/config").unwrap();
    config.write_all(b"rate = 10").await.unwrap();
    config.shutdown().await.unwrap();
    let m = session.recv_message().await.unwrap();
    assert_eq!(m.channel, Channel::Frame(0x84));
    assert!(m.payload == pattern(3 << 20, 7), "3 MiB message from mio arrives whole");
    session.send_message(Channel::Frame(0x85), pattern(2 << 20, 8)).await.unwrap();

    let mut up = session.accept_stream().await.unwrap();
    let mut got = Vec::new();
    up.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len(), BIG);
    up.write_all(&sha3(&got)).await.unwrap();
    up.shutdown().await.unwrap();

    let mut live_up = session.accept_stream().await.unwrap();
    let mut got = Vec::new();
    live_up.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, pattern(LIVE_RECORDS * 16, 2), "a clean path delivers the live stream whole");

    let mut down = session.open_stream(StreamMode::Reliable).unwrap();
    down.write_all(&pattern(BIG, 3)).await.unwrap();
    down.shutdown().await.unwrap();
    let mut live_down = session.open_stream(live(200)).unwrap();
    live_down.write_all(&pattern(64 * 1024, 4)).await.unwrap();
    live_down.shutdown().await.unwrap();

    let (kind, _) = session.recv_frame().await.unwrap();
    assert_eq!(kind, 0x83);
    session.flush().await.unwrap();
    session.close(7, "tokio is done").await;
}

async fn tokio_node() -> TokioNode {
    let config = NodeConfig::new(Seed::new(&SEED).unwrap()).bind("127.0.0.1:0".parse().unwrap());
    TokioNode::bind(config).await.unwrap()
}

fn mio_node() -> stt_mio::Node {
    let mut node = stt_mio::Node::bind("127.0.0.1:0".parse().unwrap(), Seed::new(&SEED).unwrap()).unwrap();
    node.set_timeout(Some(Duration::from_secs(60)));
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mio_initiates_to_tokio() {
    let server = tokio_node().await;
    let addr = server.local_addr();
    let server_id = server.node_id();
    let mio = tokio::task::spawn_blocking(move || {
        let mut node = mio_node();
        let s = node.connect(addr).unwrap();
        assert_eq!(node.peer(s), Some(server_id));
        mio_side(&mut node, s);
    });
    let session = tokio::time::timeout(Duration::from_secs(20), server.accept()).await.unwrap().unwrap();
    tokio::time::timeout(Duration::from_secs(120), tokio_side(session)).await.expect("tokio side finishes");
    mio.await.expect("mio side passes");
}

/// Per-peer seeds on both sides: the mio node connects to the tokio node by node id, rotates its
/// keys on request, and the tokio node removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mio_connects_to_a_known_tokio_peer_with_a_pairwise_seed() {
    use stt_mio::stt_proto::{close, EndpointConfig, Identity};
    let mio_identity = Identity::from_secret_key([0x3C; 32]);
    let mio_id = mio_identity.node_id();
    let pairwise = Seed::new(&[0x99; 32]).unwrap();
    let server = TokioNode::bind(
        NodeConfig::per_peer().bind("127.0.0.1:0".parse().unwrap()).peer_seed(mio_id, pairwise.clone()).allow(mio_id),
    )
    .await
    .unwrap();
    let (addr, server_id) = (server.local_addr(), server.node_id());
    let mio = tokio::task::spawn_blocking(move || {
        let mut node =
            stt_mio::Node::with_config("127.0.0.1:0".parse().unwrap(), EndpointConfig::default(), mio_identity)
                .unwrap();
        node.set_timeout(Some(Duration::from_secs(20)));
        assert!(node.connect(addr).is_err(), "no default seed: connect has nothing to use");
        node.set_peer_seed(server_id, pairwise);
        let s = node.connect_to(addr, server_id).unwrap();
        assert_eq!(node.peer(s), Some(server_id));
        node.rotate_keys(s).unwrap();
        let (kind, payload) = node.recv_frame(s).unwrap();
        assert_eq!((kind, &payload[..]), (0x82, &b"from tokio"[..]));
        // The server removes this peer: the session ends with its reason.
        let err = node.recv_frame(s).unwrap_err();
        assert!(err.to_string().contains("revoked"), "got {err}");
        assert_eq!(
            node.close_reason(s),
            Some(&CloseReason::ClosedByPeer { code: close::PEER_REMOVED, reason: "revoked".into() })
        );
    });
    let session = tokio::time::timeout(Duration::from_secs(20), server.accept()).await.unwrap().unwrap();
    assert_eq!(session.peer(), mio_id);
    session.send_frame(0x82, &b"from tokio"[..]).unwrap();
    session.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.remove_peer(mio_id, "revoked"), 1);
    mio.await.expect("mio side passes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_initiates_to_mio() {
    let mut node = mio_node();
    let addr = node.local_addr();
    let mio_id = node.node_id();
    let mio = tokio::task::spawn_blocking(move || {
        let s = node.accept().unwrap();
        mio_side(&mut node, s);
    });
    let client = tokio_node().await;
    let session = tokio::time::timeout(Duration::from_secs(20), client.connect(addr)).await.unwrap().unwrap();
    assert_eq!(session.peer(), mio_id);
    tokio::time::timeout(Duration::from_secs(120), tokio_side(session)).await.expect("tokio side finishes");
    mio.await.expect("mio side passes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tokio_sessions_on_one_mio_echo_server() {
    let server = echo_server::spawn_server(Seed::new(&SEED).unwrap()).unwrap();
    let addr = server.addr;
    let client = tokio_node().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50u32 {
        let client = client.clone();
        tasks.spawn(async move {
            let session = client.connect(addr).await?;
            let data = pattern(256 * 1024, i);
            let (mut tx, mut rx) = session.open_stream(StreamMode::Reliable)?.into_split();
            let writer = {
                let data = data.clone();
                tokio::spawn(async move {
                    tx.write_all(&data).await?;
                    tx.shutdown().await
                })
            };
            let mut echoed = Vec::new();
            rx.read_to_end(&mut echoed).await?;
            writer.await.expect("writer task")?;
            // Custom frames are best-effort, and 50 sessions can overflow the server's socket
            // buffer: resend until the echo comes back.
            let frame = loop {
                session.send_frame(0x80, i.to_be_bytes().to_vec())?;
                if let Ok(echo) = tokio::time::timeout(Duration::from_millis(250), session.recv_frame()).await {
                    break echo?.1;
                }
            };
            session.close(0, "done").await;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((i, echoed == data, frame[..] == i.to_be_bytes()))
        });
    }
    let mut intact = 0;
    let results = tokio::time::timeout(Duration::from_secs(120), async {
        let mut all = Vec::new();
        while let Some(r) = tasks.join_next().await {
            all.push(r.expect("client task").expect("client session"));
        }
        all
    })
    .await
    .expect("all 50 sessions finish");
    for (i, stream_ok, frame_ok) in results {
        assert!(stream_ok, "session {i}: echo differs");
        assert!(frame_ok, "session {i}: frame echo differs");
        intact += 1;
    }
    assert_eq!(intact, 50);
    server.stop().unwrap();
}

#[test]
fn the_sensor_example_skips_lost_readings_and_realigns_through_ten_percent_loss() {
    let relay = std::sync::Mutex::new(None);
    let got = sensor::run(400, Duration::from_millis(1), |collector| {
        let cfg = RelayConfig { loss: 0.10, delay: Duration::from_millis(2), seed: 5, ..RelayConfig::default() };
        let r = Relay::start(collector, cfg).unwrap();
        let addr = r.addr();
        *relay.lock().unwrap() = Some(r);
        addr
    })
    .unwrap();
    let stats = relay.lock().unwrap().as_ref().unwrap().stats();
    println!("sensor: {} of 400 readings, {} bytes skipped; relay {stats:?}", got.readings.len(), got.skipped_bytes);
    assert!(stats.dropped > 0);
    assert!(got.skipped_bytes > 0, "lost readings are skipped, not resent");
    assert!(got.readings.len() < 400 && got.readings.len() > 200);
    // Every reading that arrived is whole (the collector re-aligned after each gap) and in order.
    assert!(got.readings.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(got.readings.iter().all(|&(seq, v)| seq < 400 && v == sensor::value_of(seq)));
}

/// Both drivers write the same key-log line for the session they share: the mio node's
/// `key_log` and the tokio node's `NodeConfig::key_log`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_drivers_write_the_same_key_log_line_for_their_session() {
    let dir = tempfile::tempdir().unwrap();
    let (mio_log, tokio_log) = (dir.path().join("mio.keys"), dir.path().join("tokio.keys"));
    let config = NodeConfig::new(Seed::new(&SEED).unwrap()).bind("127.0.0.1:0".parse().unwrap()).key_log(&tokio_log);
    let server = TokioNode::bind(config).await.unwrap();
    let addr = server.local_addr();
    let path = mio_log.clone();
    let mio = tokio::task::spawn_blocking(move || {
        let mut node = mio_node();
        node.key_log(&path).unwrap();
        let s = node.connect(addr).unwrap();
        node.send_frame(s, 0x81, &b"logged"[..]).unwrap();
        node.flush(s).unwrap();
        node.driver().endpoint().session(s).unwrap().session_id()
    });
    let session = tokio::time::timeout(Duration::from_secs(20), server.accept()).await.unwrap().unwrap();
    let (kind, _) = session.recv_frame().await.unwrap();
    assert_eq!(kind, 0x81);
    let session_id = mio.await.unwrap();
    assert_eq!(session_id, session.session_id());
    let mio_lines = std::fs::read_to_string(&mio_log).unwrap();
    let tokio_lines = std::fs::read_to_string(&tokio_log).unwrap();
    assert_eq!(mio_lines.lines().count(), 1, "{mio_lines}");
    assert_eq!(mio_lines, tokio_lines, "the initiator's and the responder's lines agree");
    assert!(mio_lines.starts_with(&format!("STT_SESSION_SECRETS {session_id:016x} ")), "{mio_lines}");
    let mio_err = stt_mio::Node::bind("127.0.0.1:0".parse().unwrap(), Seed::new(&SEED).unwrap())
        .unwrap()
        .key_log(dir.path().join("no/such/dir/keys"))
        .unwrap_err();
    assert!(matches!(mio_err, stt_mio::Error::KeyLog { .. }), "{mio_err}");
}

/// The application's metadata on a mio session: kept under its key and type, never sent (the
/// tokio peer's session has none), readable after the session closed, refused on it then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mio_sessions_keep_the_applications_metadata_through_their_close() {
    #[derive(Debug, PartialEq)]
    struct Viewer {
        name: &'static str,
    }
    let server = tokio_node().await;
    let addr = server.local_addr();
    let mio = tokio::task::spawn_blocking(move || {
        let mut node = mio_node();
        let s = node.connect(addr).unwrap();
        assert!(!node.set_metadata(s, "viewer", Viewer { name: "alice" }).unwrap());
        assert!(!node.set_metadata(s, "frames", 3u64).unwrap());
        assert!(node.set_metadata(s, "frames", 4u64).unwrap(), "replaces");
        assert_eq!(node.metadata::<Viewer>(s, "viewer").as_deref(), Some(&Viewer { name: "alice" }));
        assert_eq!(node.metadata::<u64>(s, "frames").as_deref(), Some(&4));
        assert_eq!(node.metadata::<u32>(s, "frames"), None, "another type reads as absent");
        let mut keys = node.metadata_keys(s);
        keys.sort();
        assert_eq!(keys, ["frames", "viewer"]);
        assert!(node.remove_metadata(s, "frames"));
        assert!(!node.remove_metadata(s, "frames"));
        node.send_frame(s, 0x81, &b"done"[..]).unwrap();
        // The peer closes; what the application kept is still there to read.
        let err = node.recv_frame(s).unwrap_err();
        assert!(matches!(err, stt_mio::Error::SessionClosed(_)), "{err}");
        assert_eq!(node.metadata::<Viewer>(s, "viewer").as_deref(), Some(&Viewer { name: "alice" }));
        let refused = node.set_metadata(s, "late", 1u8).unwrap_err();
        assert!(matches!(refused, stt_mio::Error::SessionClosed(_)), "{refused}");
    });
    let session = tokio::time::timeout(Duration::from_secs(20), server.accept()).await.unwrap().unwrap();
    let (kind, _) = tokio::time::timeout(Duration::from_secs(20), session.recv_frame()).await.unwrap().unwrap();
    assert_eq!(kind, 0x81);
    assert!(session.metadata_keys().is_empty(), "metadata is never sent");
    session.close(0, "bye").await;
    tokio::time::timeout(Duration::from_secs(30), mio).await.unwrap().expect("mio side passes");
}

/// The mio node at par with tokio for what the seeds name: it serves a name and takes what a
/// tokio peer routes to it, serves another with a handler, sends a message to a name by the name
/// alone (the node-wide directory), broadcasts a frame, hands a frame type to a handler, and shuts
/// down with a state the application can read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mio_serves_and_routes_names_broadcasts_handles_frames_and_shuts_down() {
    use stt_mio::{NodeState, Targets};
    use stt_tokio::NameQueueLimits;
    let server = tokio_node().await;
    let viewer = server.serve_name("viewer_tokio", NameQueueLimits::default()).unwrap();
    let addr = server.local_addr();
    let mio = tokio::task::spawn_blocking(move || {
        let mut node = mio_node();
        assert_eq!(node.state(), NodeState::Running);
        node.serve_name("sensor_mio", NameQueueLimits::default()).unwrap();
        let handled = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let h = handled.clone();
        node.on_frame(0x91, move |session, payload| h.lock().unwrap().push((session, payload))).unwrap();
        let named = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let n = named.clone();
        node.on_name("logger_mio", NameQueueLimits::default(), move |session, data| {
            n.lock().unwrap().push((session, data))
        })
        .unwrap();
        let s = node.connect(addr).unwrap();
        let turn_until = |node: &mut stt_mio::Node, mut done: Box<dyn FnMut(&stt_mio::Node) -> bool + '_>| {
            let end = std::time::Instant::now() + Duration::from_secs(20);
            while !done(node) {
                assert!(std::time::Instant::now() < end, "timed out");
                node.poll_once(Some(Duration::from_millis(10))).unwrap();
            }
        };
        // The tokio peer's announcement names what it serves.
        turn_until(&mut node, Box::new(|node| !node.sessions_serving("viewer_tokio").is_empty()));
        assert_eq!(node.sessions_serving("viewer_tokio"), [s]);
        let (via, _) = node.send_message_to_name("viewer_tokio", &b"to the viewer"[..]).unwrap();
        assert_eq!(via, s);
        assert!(matches!(node.send_message_to_name("nobody", &b"x"[..]), Err(stt_mio::Error::NoPeerServes(_))));
        // Per session, with the peer's answer: resolve and route.
        assert!(node.resolve(s, "viewer_tokio").unwrap());
        assert!(!node.resolve(s, "nobody").unwrap());
        node.route(s, "viewer_tokio", &b"routed by mio"[..]).unwrap();
        assert!(matches!(node.route(s, "nobody", &b"x"[..]), Err(stt_mio::Error::UnknownName(n)) if n == "nobody"));
        let (from, routed) = node.recv_named("sensor_mio").unwrap();
        assert_eq!((from, &routed[..]), (s, &b"routed to mio"[..]));
        let sent = node.broadcast(0x90, &b"to all"[..], Targets::All);
        assert!(sent.len() == 1 && sent[0].1.is_ok(), "{sent:?}");
        // The tokio peer answers the broadcast with a frame of the type the handler takes.
        turn_until(&mut node, Box::new(|_| !handled.lock().unwrap().is_empty()));
        assert_eq!(handled.lock().unwrap()[0], (s, bytes::Bytes::from_static(b"handled")));
        // Then bytes routed to the name served by a handler.
        turn_until(&mut node, Box::new(|_| !named.lock().unwrap().is_empty()));
        assert_eq!(named.lock().unwrap()[..], [(s, bytes::Bytes::from_static(b"to the handler"))]);
        node.flush(s).unwrap();
        node.run_for(Duration::from_millis(300)).unwrap();
        node.shutdown(Duration::from_secs(2));
        assert_eq!(node.state(), NodeState::Stopped);
        assert!(matches!(node.accept(), Err(stt_mio::Error::NodeClosed)));
    });
    let session = tokio::time::timeout(Duration::from_secs(20), server.accept()).await.unwrap().unwrap();
    let m = tokio::time::timeout(Duration::from_secs(20), session.recv_message()).await.unwrap().unwrap();
    assert_eq!((m.channel, &m.payload[..]), (Channel::name("viewer_tokio"), &b"to the viewer"[..]));
    let routed = tokio::time::timeout(Duration::from_secs(20), viewer.recv()).await.unwrap().unwrap();
    assert_eq!(&routed.data[..], b"routed by mio");
    // mio serves its name once the session is up; its announcement may still be on the way.
    loop {
        match session.route("sensor_mio", &b"routed to mio"[..]).await {
            Ok(()) => break,
            Err(stt_tokio::Error::UnknownName(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("route to mio: {e}"),
        }
    }
    let (kind, payload) = tokio::time::timeout(Duration::from_secs(20), session.recv_frame()).await.unwrap().unwrap();
    assert_eq!((kind, &payload[..]), (0x90, &b"to all"[..]));
    session.send_frame(0x91, &b"handled"[..]).unwrap();
    loop {
        match session.route("logger_mio", &b"to the handler"[..]).await {
            Ok(()) => break,
            Err(stt_tokio::Error::UnknownName(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("route to mio's handler: {e}"),
        }
    }
    let closed = tokio::time::timeout(Duration::from_secs(20), session.closed()).await.unwrap();
    assert!(matches!(closed, CloseReason::ClosedByPeer { code: 0, .. }), "{closed:?}");
    mio.await.expect("mio side passes");
}

/// Seed rotation in the mio driver: a tokio peer on the old seed keeps its session for the
/// grace period, then it is closed with the code that says why; a peer on the new seed stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mio_node_rotates_its_seed_with_a_grace_period() {
    use stt_tokio::stt_proto::close;
    let (tx, rx) = std::sync::mpsc::channel();
    let mio = tokio::task::spawn_blocking(move || {
        let mut node = mio_node();
        tx.send(node.local_addr()).unwrap();
        let _old = node.accept().unwrap();
        node.rotate_shared_seed(Seed::new(&[22; 32]).unwrap(), Duration::from_millis(600));
        assert!(node.in_seed_grace_period());
        let _new = node.accept().unwrap();
        node.run_for(Duration::from_millis(1200)).unwrap();
        assert!(!node.in_seed_grace_period());
        node.run_for(Duration::from_millis(300)).unwrap();
    });
    let addr = tokio::task::spawn_blocking(move || rx.recv().unwrap()).await.unwrap();
    let old = tokio_node().await.connect(addr).await.unwrap();
    let new_node = TokioNode::bind(NodeConfig::new(Seed::new(&[22; 32]).unwrap()).bind("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let new = new_node.connect(addr).await.unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(10), old.closed()).await.unwrap();
    assert!(matches!(reason, CloseReason::ClosedByPeer { code: close::SEED_RETIRED, .. }), "{reason:?}");
    assert!(new.close_reason().is_none());
    mio.await.expect("mio side passes");
}

/// Fetch from a peer's store in the mio driver: a mio node fetches from a tokio node serving
/// its store, and the content arrives verified; a missing address and a limit too small are
/// typed errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mio_node_fetches_from_a_tokio_nodes_store() {
    use std::sync::{Arc, Mutex};
    use stt_cli::fetch::StoreServer;
    use stt_tokio::stt_proto::fetch::FetchFailure;
    use stt_tokio::stt_proto::storage::{Address, MemoryBackend, Store};
    let content = pattern(2 << 20, 9);
    let mut store = Store::new(MemoryBackend::new(), b"server storage seed, 32 bytes!!!");
    let address = store.put(&content).unwrap();
    let server = tokio_node().await;
    let addr = server.local_addr();
    let expected = sha3(&content);
    let mio = tokio::task::spawn_blocking(move || {
        let mut node = mio_node();
        let s = node.connect(addr).unwrap();
        let got = node.fetch(s, &address, 8 << 20).unwrap();
        assert_eq!(sha3(&got), expected, "2 MiB fetched and verified");
        let missing = Address::of(b"never stored");
        assert!(
            matches!(node.fetch(s, &missing, 1024), Err(stt_mio::Error::Fetch(FetchFailure::NotFound(a))) if a == missing)
        );
        assert!(matches!(
            node.fetch(s, &address, 1024),
            Err(stt_mio::Error::Fetch(FetchFailure::TooLarge { len, max: 1024 })) if len == 2 << 20
        ));
    });
    let session = tokio::time::timeout(Duration::from_secs(20), server.accept()).await.unwrap().unwrap();
    let _serving = StoreServer::new(Arc::new(Mutex::new(store))).serve_session(session);
    tokio::time::timeout(Duration::from_secs(60), mio).await.unwrap().expect("mio side passes");
}

/// `broadcast_stream` in the mio driver: one mebibyte to two tokio peers on a stream each,
/// written side by side; each gets every byte, and a session that is gone gets its error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mio_broadcasts_a_stream_to_every_peer() {
    let (a, b) = (tokio_node().await, tokio_node().await);
    let addrs = [a.local_addr(), b.local_addr()];
    let data = pattern(1 << 20, 11);
    let sent = data.clone();
    let (read, was_read) = std::sync::mpsc::channel::<()>();
    let mio = tokio::task::spawn_blocking(move || {
        let mut node = mio_node();
        let sessions: Vec<SessionHandle> = addrs.iter().map(|&addr| node.connect(addr).unwrap()).collect();
        let results = node.broadcast_stream(sent.clone(), StreamMode::Reliable, stt_mio::Targets::All);
        assert_eq!(results.len(), 2, "{results:?}");
        for (session, result) in &results {
            assert!(sessions.contains(session));
            assert!(result.is_ok(), "{session:?}: {result:?}");
        }
        // A session that is gone is named with its error; nothing waits on it. (Closed once its
        // peer has read the first broadcast: a close drops what the peer has not read.)
        while was_read.try_recv().is_err() {
            node.poll_once(Some(Duration::from_millis(10))).unwrap();
        }
        node.close(sessions[1], 0, "done");
        let results = node.broadcast_stream(sent, StreamMode::Reliable, stt_mio::Targets::Sessions(&sessions));
        assert!(results[0].1.is_ok(), "{results:?}");
        assert!(matches!(results[1].1, Err(stt_mio::Error::SessionClosed(_))), "{results:?}");
        node.run_for(Duration::from_millis(200)).unwrap();
    });
    for (node, copies) in [(b, 1), (a, 2)] {
        let session = tokio::time::timeout(Duration::from_secs(20), node.accept()).await.unwrap().unwrap();
        for _ in 0..copies {
            let mut stream =
                tokio::time::timeout(Duration::from_secs(20), session.accept_stream()).await.unwrap().unwrap();
            let mut got = Vec::new();
            tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut got)).await.unwrap().unwrap();
            assert!(sha3(&got) == sha3(&data), "{} bytes, not the broadcast", got.len());
        }
        if copies == 1 {
            read.send(()).unwrap();
        }
    }
    mio.await.expect("mio side passes");
}
