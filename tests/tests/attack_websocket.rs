//! Attacks on the WebSocket listener by anyone who can reach its port (no seed): idle TCP
//! connections, upgraded connections that never carry a session, and unfinished huge messages.
//! After each, an honest client still gets through, and the listener's memory stays bounded.
//! `docs/SECURITY.md` lists what these tests defend.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stt_tokio::{Node, NodeConfig, Seed, StreamMode, WebSocketLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The tests run one at a time: the memory figure is the whole process's.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn limits() -> WebSocketLimits {
    WebSocketLimits {
        max_connections: 256,
        max_connections_per_ip: 32,
        upgrade_timeout: Duration::from_millis(500),
        session_timeout: Duration::from_secs(1),
    }
}

async fn listener() -> Node {
    listener_with(limits()).await
}

async fn listener_with(limits: WebSocketLimits) -> Node {
    let cfg = NodeConfig::new(Seed::new(&[5; 32]).unwrap())
        .bind("127.0.0.1:0".parse().unwrap())
        .ws_bind("127.0.0.1:0".parse().unwrap())
        .ws_limits(limits);
    Node::bind(cfg).await.unwrap()
}

/// A TCP connection from `source` (any 127.x.y.z address reaches loopback listeners on Linux).
async fn connect_from(source: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().unwrap())?;
    socket.connect(to).await
}

/// True once the server closed `tcp` (end of stream or reset), false if it is still open after
/// `within`.
async fn closed_by_server(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // the upgrade response, or a close frame
        }
    }
}

/// An honest client over WebSocket: handshake, 1 MiB on a stream, read back to end.
async fn honest_transfer(server: &Node) {
    let client =
        Node::bind(NodeConfig::new(Seed::new(&[5; 32]).unwrap()).bind("127.0.0.1:0".parse().unwrap())).await.unwrap();
    let url = format!("ws://{}", server.ws_local_addr().unwrap());
    let session = tokio::time::timeout(Duration::from_secs(10), client.connect_ws(&url))
        .await
        .expect("the honest client connects in time")
        .expect("the honest client connects");
    let accepted = server.accept().await.unwrap();
    let data = vec![0x5a; 1 << 20];
    let mut s = session.open_stream(StreamMode::Reliable).unwrap();
    s.write_all(&data).await.unwrap();
    s.shutdown().await.unwrap();
    let mut r = accepted.accept_stream().await.unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    assert!(got == data, "the honest transfer arrives intact");
}

/// Peak resident memory of this process since the last [`reset_peak`], in bytes (Linux).
fn peak_resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Starts a new peak: the next [`peak_resident`] counts from the current resident size.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// The request line and headers of a WebSocket upgrade.
fn upgrade_request(to: SocketAddr) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {to}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_are_closed_and_capped() {
    let _one = ONE_AT_A_TIME.lock().await;
    // An upgrade deadline longer than the 200 connects take even on a loaded machine, so that no
    // admitted connection is closed (freeing a slot under the cap) before the last one arrives.
    let server = listener_with(WebSocketLimits { upgrade_timeout: Duration::from_secs(2), ..limits() }).await;
    let addr = server.ws_local_addr().unwrap();
    // 200 connections from one address that never upgrade.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(connect_from("127.0.0.2", addr).await.unwrap());
    }
    // While they are open, an honest client from another address gets through.
    honest_transfer(&server).await;
    let started = Instant::now();
    let mut closed = 0;
    for tcp in &mut idle {
        closed += closed_by_server(tcp, Duration::from_secs(5)).await as usize;
    }
    assert_eq!(closed, 200, "every idle connection is closed by the listener");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A connection is counted by its task just after it is closed: wait for the last counts.
    let counted = Instant::now() + Duration::from_secs(2);
    let mut ws = server.stats().driver.websocket;
    while ws.refused + ws.upgrade_failed < 200 && Instant::now() < counted {
        tokio::time::sleep(Duration::from_millis(10)).await;
        ws = server.stats().driver.websocket;
    }
    assert!(ws.refused >= 200 - 32, "connections past the per-address cap are refused at once ({ws:?})");
    assert_eq!(ws.refused + ws.upgrade_failed, 200, "the admitted ones fail their upgrade: {ws:?}");
    assert_eq!(ws.closed_errors, 0, "{ws:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgraded_connections_without_a_session_are_closed() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = listener().await;
    let addr = server.ws_local_addr().unwrap();
    let mut silent = Vec::new();
    for _ in 0..20 {
        let mut tcp = connect_from("127.0.0.3", addr).await.unwrap();
        tcp.write_all(upgrade_request(addr).as_bytes()).await.unwrap();
        silent.push(tcp);
    }
    for tcp in &mut silent {
        assert!(closed_by_server(tcp, Duration::from_secs(5)).await, "closed for carrying no session");
    }
    let ws = server.stats().driver.websocket;
    assert_eq!((ws.closed_idle, ws.upgrade_failed, ws.closed_errors), (20, 0, 0), "{ws:?}");
    honest_transfer(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_huge_messages_are_refused_and_memory_stays_bounded() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = listener().await;
    let addr = server.ws_local_addr().unwrap();
    reset_peak();
    let before = peak_resident();
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::channel(8);
    let mut attackers = Vec::new();
    for i in 0..8 {
        let sent_tx = sent_tx.clone();
        attackers.push(tokio::spawn(async move {
            let mut tcp = connect_from(&format!("127.0.0.{}", 10 + i), addr).await.unwrap();
            tcp.write_all(upgrade_request(addr).as_bytes()).await.unwrap();
            let mut response = [0u8; 12];
            tcp.read_exact(&mut response).await.unwrap();
            assert_eq!(&response, b"HTTP/1.1 101", "the upgrade is accepted");
            // An unfinished binary message: masked frames of 4 MiB, none of them final, 16 MiB
            // in all (the library's defaults take frames up to 16 MiB and messages up to 64 MiB).
            let chunk = vec![0u8; 64 << 10];
            let mut sent = 0usize;
            'frames: for frame in 0..4 {
                let mut header = vec![if frame == 0 { 0x02 } else { 0x00 }, 0xFF];
                header.extend_from_slice(&(4u64 << 20).to_be_bytes());
                header.extend_from_slice(&[1, 2, 3, 4]);
                if tcp.write_all(&header).await.is_err() {
                    break;
                }
                for _ in 0..64 {
                    if tcp.write_all(&chunk).await.is_err() {
                        break 'frames;
                    }
                    sent += chunk.len();
                }
            }
            sent_tx.send(sent).await.unwrap();
            closed_by_server(&mut tcp, Duration::from_secs(5)).await
        }));
    }
    drop(sent_tx);
    let mut offered = 0;
    while let Some(sent) = sent_rx.recv().await {
        offered += sent;
    }
    for a in attackers {
        assert!(a.await.unwrap(), "the listener closes a connection whose frames exceed one datagram");
    }
    let grown = peak_resident().saturating_sub(before);
    println!("8 unfinished messages, {offered} B written: the peak resident size grew by {grown} B");
    let ws = server.stats().driver.websocket;
    assert_eq!((ws.closed_errors, ws.upgrade_failed), (8, 0), "each oversized message is a protocol error: {ws:?}");
    assert!(
        grown < 32 << 20,
        "the listener's memory grew by {grown} B while 8 unfinished messages were offered ({offered} B written)"
    );
    honest_transfer(&server).await;
}
