//! The mio driver over WebSocket on real loopback sockets: against the tokio driver with each
//! side listening, both stream modes (10 MiB each way on each), checked by SHA3-256; mio against mio with the URL's host name resolved; typed errors for bad
//! URLs; and the mio listener against clients that never upgrade, send oversized messages, carry
//! no session or exceed the per-address cap.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use sha3::{Digest, Sha3_256};
use stt_mio::stt_proto::{Channel, SessionHandle, Transport};
use stt_mio::WebSocketLimits;
use stt_tokio::{CloseReason, Node as TokioNode, NodeConfig, Seed, Session, StreamMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SEED: [u8; 32] = [23; 32];
const BIG: usize = 10 << 20;

/// Bytes sent each way on a stream of `mode`.
fn size(_mode: StreamMode) -> usize {
    BIG
}

fn pattern(len: usize, salt: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_add(salt).wrapping_mul(2654435761) >> 11) as u8).collect()
}

fn sha3(data: &[u8]) -> [u8; 32] {
    Sha3_256::digest(data).into()
}

/// A live stream whose deadline no byte reaches on a clean path, even in a debug build on a
/// busy machine: a live stream drops what waited longer than its deadline (fresh over
/// complete), and these tests check that everything arrives.
fn live() -> StreamMode {
    StreamMode::Live { deadline: Duration::from_secs(60) }
}

fn mode_name(mode: StreamMode) -> &'static str {
    match mode {
        StreamMode::Reliable => "reliable",
        _ => "live",
    }
}

fn mio_node() -> stt_mio::Node {
    let mut node = stt_mio::Node::bind("127.0.0.1:0".parse().unwrap(), Seed::new(&SEED).unwrap()).unwrap();
    node.set_timeout(Some(Duration::from_secs(60)));
    node
}

async fn tokio_node(ws_listener: bool) -> TokioNode {
    let mut config = NodeConfig::new(Seed::new(&SEED).unwrap()).bind("127.0.0.1:0".parse().unwrap());
    if ws_listener {
        config = config.ws_bind("127.0.0.1:0".parse().unwrap());
    }
    TokioNode::bind(config).await.unwrap()
}

fn assert_mio_on_websocket(node: &stt_mio::Node, s: SessionHandle) {
    let remote = node.driver().endpoint().session(s).expect("the session is open").remote();
    assert_eq!(remote.transport, Transport::WebSocket, "the mio session runs over WebSocket");
    assert_eq!(node.stats().driver.websocket.connections, 1);
}

/// The mio side: a custom frame each way, then [`size`] bytes to tokio on a stream of `mode`
/// (tokio answers with their hash on the same stream), then as many from tokio, checked by hash.
fn mio_side(node: &mut stt_mio::Node, s: SessionHandle, mode: StreamMode) {
    assert_mio_on_websocket(node, s);
    node.send_frame(s, 0x81, &b"from mio"[..]).unwrap();
    let (kind, payload) = node.recv_frame(s).unwrap();
    assert_eq!((kind, &payload[..]), (0x82, &b"from tokio"[..]));

    let data = pattern(size(mode), 1);
    let expected = sha3(&data);
    // Timed until tokio has acknowledged every byte: hashing, at either end, is not the transfer.
    let started = std::time::Instant::now();
    let up = node.open_stream(s, mode).unwrap();
    node.write_all(s, up, &data).unwrap();
    node.finish(s, up).unwrap();
    node.flush(s).unwrap();
    let up_secs = started.elapsed().as_secs_f64();
    // The hash comes back as a reliable message: on a live stream a lost answer is not resent.
    let answer = node.recv_message(s).unwrap();
    assert_eq!(answer.channel, Channel::Frame(0x86));
    assert_eq!(&answer.payload[..], &expected[..], "tokio received the data intact");

    let down = node.accept_stream(s).unwrap();
    let started = std::time::Instant::now();
    let got = node.read_to_end(s, down).unwrap();
    let down_secs = started.elapsed().as_secs_f64();
    assert_eq!(got.len(), size(mode));
    assert_eq!(sha3(&got), sha3(&pattern(size(mode), 3)), "the data from tokio arrives intact");
    assert_eq!(node.skipped_bytes(s, down), 0);
    println!(
        "WebSocket, {}: {} MiB mio -> tokio {:.0} MB/s; tokio -> mio {:.0} MB/s",
        mode_name(mode),
        size(mode) >> 20,
        size(mode) as f64 / up_secs / 1e6,
        size(mode) as f64 / down_secs / 1e6
    );
    node.flush(s).unwrap();
    node.send_frame(s, 0x83, &b"done"[..]).unwrap();
    // Tokio closes once it has read everything.
    assert!(matches!(
        node.recv_frame(s),
        Err(stt_mio::Error::SessionClosed(CloseReason::ClosedByPeer { code: 7, .. }))
    ));
    let stats = node.stats().driver;
    assert_eq!(stats.websocket.closed_errors, 0, "{stats:?}");
}

/// The tokio side of the same exchange.
async fn tokio_side(session: Session, mode: StreamMode) {
    let remote = session.remote().expect("the session is open");
    assert_eq!(remote.transport, Transport::WebSocket, "the tokio session runs over WebSocket");
    let (kind, payload) = session.recv_frame().await.unwrap();
    assert_eq!((kind, &payload[..]), (0x81, &b"from mio"[..]));
    session.send_frame(0x82, &b"from tokio"[..]).unwrap();

    let mut up = session.accept_stream().await.unwrap();
    let mut got = Vec::new();
    up.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len(), size(mode));
    session.send_message(stt_tokio::Channel::Frame(0x86), sha3(&got).to_vec()).await.unwrap();

    let mut down = session.open_stream(mode).unwrap();
    down.write_all(&pattern(size(mode), 3)).await.unwrap();
    down.shutdown().await.unwrap();

    let (kind, _) = session.recv_frame().await.unwrap();
    assert_eq!(kind, 0x83);
    session.flush().await.unwrap();
    session.close(7, "tokio is done").await;
}

/// A mio node listens for WebSocket; a tokio node connects to its `ws://` URL.
async fn mio_listens(mode: StreamMode) {
    let mut node = mio_node();
    let ws = node.ws_bind("127.0.0.1:0".parse().unwrap()).unwrap();
    assert_eq!(node.ws_local_addr(), Some(ws));
    let mio_id = node.node_id();
    let mio = tokio::task::spawn_blocking(move || {
        let s = node.accept().unwrap();
        mio_side(&mut node, s, mode);
    });
    let client = tokio_node(false).await;
    let url = format!("ws://{ws}");
    let session = tokio::time::timeout(Duration::from_secs(20), client.connect_ws(&url)).await.unwrap().unwrap();
    assert_eq!(session.peer(), mio_id);
    tokio::time::timeout(Duration::from_secs(120), tokio_side(session, mode)).await.expect("tokio side finishes");
    mio.await.expect("mio side passes");
}

/// A tokio node listens for WebSocket; a mio node connects to its `ws://` URL.
async fn tokio_listens(mode: StreamMode) {
    let server = tokio_node(true).await;
    let url = format!("ws://{}", server.ws_local_addr().unwrap());
    let server_id = server.node_id();
    let mio = tokio::task::spawn_blocking(move || {
        let mut node = mio_node();
        let s = node.connect_ws(&url).unwrap();
        assert_eq!(node.peer(s), Some(server_id));
        mio_side(&mut node, s, mode);
    });
    let session = tokio::time::timeout(Duration::from_secs(20), server.accept()).await.unwrap().unwrap();
    tokio::time::timeout(Duration::from_secs(120), tokio_side(session, mode)).await.expect("tokio side finishes");
    mio.await.expect("mio side passes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_connects_to_a_mio_websocket_listener_reliable() {
    mio_listens(StreamMode::Reliable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_connects_to_a_mio_websocket_listener_live() {
    mio_listens(live()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mio_connects_to_a_tokio_websocket_listener_reliable() {
    tokio_listens(StreamMode::Reliable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mio_connects_to_a_tokio_websocket_listener_live() {
    tokio_listens(live()).await;
}

/// Runs `f` on a mio node of its own thread and returns what it returns.
fn on_thread<T: Send + 'static>(
    mut node: stt_mio::Node,
    f: impl FnOnce(&mut stt_mio::Node) -> T + Send + 'static,
) -> std::thread::JoinHandle<(stt_mio::Node, T)> {
    std::thread::spawn(move || {
        let out = f(&mut node);
        (node, out)
    })
}

#[test]
fn mio_to_mio_over_websocket_by_host_name() {
    let mut server = mio_node();
    let ws = server.ws_bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let server_id = server.node_id();
    let data = pattern(BIG, 9);
    let expected = sha3(&data);
    let serving = on_thread(server, move |node| {
        let s = node.accept().unwrap();
        let stream = node.accept_stream(s).unwrap();
        let got = node.read_to_end(s, stream).unwrap();
        node.write_all(s, stream, &sha3(&got)).unwrap();
        node.finish(s, stream).unwrap();
        // Hold the session until the client closes it.
        let closed = node.recv_frame(s).unwrap_err();
        (got.len(), closed.to_string())
    });
    let mut client = mio_node();
    // `localhost` may resolve to ::1 first, where nothing listens: the next address is tried.
    let s = client.connect_ws_to(&format!("ws://localhost:{}/stt", ws.port()), server_id).unwrap();
    assert_mio_on_websocket(&client, s);
    // Timed until the server has acknowledged every byte, without the hashing at either end.
    let started = std::time::Instant::now();
    let stream = client.open_stream(s, StreamMode::Reliable).unwrap();
    client.write_all(s, stream, &data).unwrap();
    client.finish(s, stream).unwrap();
    client.flush(s).unwrap();
    println!("WebSocket mio -> mio: 10 MiB at {:.0} MB/s", BIG as f64 / started.elapsed().as_secs_f64() / 1e6);
    assert_eq!(client.read_to_end(s, stream).unwrap(), expected, "the server received the 10 MiB intact");
    client.close(s, 3, "client done");
    let (server, (len, closed)) = serving.join().expect("the server side passes");
    assert_eq!(len, BIG);
    assert!(closed.contains("client done"), "the server saw the close: {closed}");
    let (c, sv) = (client.stats().driver.websocket, server.stats().driver.websocket);
    assert_eq!((c.closed_errors, c.upgrade_failed, c.dropped), (0, 0, 0), "{c:?}");
    assert_eq!((sv.closed_errors, sv.upgrade_failed, sv.refused), (0, 0, 0), "{sv:?}");
}

#[test]
fn bad_urls_and_unreachable_listeners_are_typed_errors() {
    let mut node = mio_node();
    for url in ["wss://127.0.0.1:1", "http://127.0.0.1:1", "ws://"] {
        let err = node.connect_ws(url).unwrap_err();
        assert!(matches!(err, stt_mio::Error::WebSocket(_)), "{url}: {err}");
    }
    let err = node.connect_ws("ws://stt-no-such-host.invalid:80").unwrap_err();
    assert!(matches!(err, stt_mio::Error::Resolve(_)), "{err}");
    // A port where nothing listens: the TCP connect is refused.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let err = node.connect_ws(&format!("ws://{free}")).unwrap_err();
    assert!(matches!(err, stt_mio::Error::WebSocket(_)), "{err}");
    assert_eq!(node.stats().driver.websocket.connections, 0);
}

/// True once the peer closed `tcp` (end of stream or reset) within `within`.
fn closed_by_server(tcp: &mut TcpStream, within: Duration) -> bool {
    tcp.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // the upgrade response, or a close frame
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn upgrade(tcp: &mut TcpStream, to: SocketAddr) {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {to}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).unwrap();
    let mut response = [0u8; 12];
    tcp.read_exact(&mut response).unwrap();
    assert_eq!(&response, b"HTTP/1.1 101", "the upgrade is accepted");
    // The rest of the response headers.
    let mut tail = Vec::new();
    let mut byte = [0u8; 1];
    while !tail.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).unwrap();
        tail.push(byte[0]);
    }
}

/// The mio listener against clients without the seed: connections that never upgrade are
/// closed at the upgrade timeout, a message larger than one datagram closes its connection, an
/// upgraded connection that carries no session is closed, connections past the per-address cap
/// are refused at once; then an honest client still gets a session.
#[test]
fn the_mio_listener_drops_misbehaving_connections_with_their_reason() {
    let mut server = mio_node();
    let limits = WebSocketLimits {
        max_connections: 64,
        max_connections_per_ip: 4,
        upgrade_timeout: Duration::from_secs(2),
        session_timeout: Duration::from_secs(1),
    };
    let ws = server.ws_bind_with_limits("127.0.0.1:0".parse().unwrap(), limits).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let serving = {
        let stop = stop.clone();
        on_thread(server, move |node| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                node.run_for(Duration::from_millis(20)).unwrap();
            }
        })
    };

    // Never upgrades: closed at the upgrade timeout.
    let mut idle = TcpStream::connect(ws).unwrap();
    assert!(closed_by_server(&mut idle, Duration::from_secs(10)), "a connection that never upgrades is closed");

    // Upgrades, then sends a masked binary frame of 64 KiB, larger than one datagram.
    let mut big = TcpStream::connect(ws).unwrap();
    upgrade(&mut big, ws);
    let mut frame = vec![0x82, 0xFF];
    frame.extend_from_slice(&(64u64 << 10).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.resize(frame.len() + (64 << 10), 0);
    let _ = big.write_all(&frame); // the server may close before it has read everything
    assert!(closed_by_server(&mut big, Duration::from_secs(10)), "a message over one datagram closes the connection");

    // Upgrades and then says nothing: closed for carrying no session.
    let mut silent = TcpStream::connect(ws).unwrap();
    upgrade(&mut silent, ws);
    assert!(closed_by_server(&mut silent, Duration::from_secs(10)), "a connection without a session is closed");

    // The per-address cap: 4 held open, the fifth is closed at once.
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(ws).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let mut fifth = TcpStream::connect(ws).unwrap();
    assert!(closed_by_server(&mut fifth, Duration::from_secs(10)), "a connection past the cap is closed");
    drop(held);

    // An honest client still gets through, once the server has seen the held connections close.
    std::thread::sleep(Duration::from_millis(300));
    let mut client = mio_node();
    let s = client.connect_ws(&format!("ws://{ws}")).unwrap();
    let stream = client.open_stream(s, StreamMode::Reliable).unwrap();
    client.write_all(s, stream, b"still served").unwrap();
    client.finish(s, stream).unwrap();
    client.flush(s).unwrap();
    client.close(s, 0, "done");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (server, ()) = serving.join().expect("the server loop runs without error");
    let stats = server.stats().driver.websocket;
    println!("listener counters: {stats:?}");
    assert!(stats.upgrade_failed >= 1, "the idle connection counts as a failed upgrade: {stats:?}");
    assert!(stats.closed_errors >= 1, "the oversized message counts as an error: {stats:?}");
    assert!(stats.closed_idle >= 1, "the silent connection counts as idle: {stats:?}");
    assert!(stats.refused >= 1, "the fifth connection was refused: {stats:?}");
    assert_eq!(server.stats().endpoint.sessions_established, 1, "only the honest client got a session");
}
