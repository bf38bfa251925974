//! Bulk transfers over real loopback sockets: UDP and WebSocket, byte-identical.

mod common;

use common::*;
use std::time::Instant;

async fn hundred_mib(ws: bool) {
    let server = ws_node(1).await;
    let client = node(1).await;
    let session = if ws {
        let url = format!("ws://{}", server.ws_local_addr().unwrap());
        within(10, "connect_ws", client.connect_ws(&url)).await.unwrap()
    } else {
        within(10, "connect", client.connect(server.local_addr())).await.unwrap()
    };
    let data = pattern(100 << 20, 7);
    let want = sha3(&data);
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    let started = Instant::now();
    let receiver = tokio::spawn(async move { recv_all(&accepted).await });
    within(120, "send", send_all(&session, &data)).await;
    let (n, got) = within(120, "receive", receiver).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!("{}: {n} bytes in {secs:.2} s ({:.0} MB/s)", if ws { "websocket" } else { "udp" }, n as f64 / secs / 1e6);
    assert_eq!(n, data.len());
    assert_eq!(got, want, "received bytes differ from the sent bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_mebibytes_over_udp_arrive_intact() {
    hundred_mib(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_mebibytes_over_websocket_arrive_intact() {
    hundred_mib(true).await;
}

/// A transfer header announcing `len` bytes for `name`, as `transfer::send` writes it.
fn header(name: &str, len: u64) -> Vec<u8> {
    let mut h = vec![stt_tokio::transfer::VERSION];
    h.extend_from_slice(&(name.len() as u16).to_be_bytes());
    h.extend_from_slice(name.as_bytes());
    h.extend_from_slice(&len.to_be_bytes());
    h
}

fn rejected_with(
    r: Result<stt_tokio::transfer::Received, stt_tokio::transfer::TransferError>,
) -> stt_tokio::transfer::Status {
    match r {
        Err(stt_tokio::transfer::TransferError::Rejected { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_announced_length_over_the_limit_or_the_free_space_is_refused_before_any_data() {
    use stt_tokio::transfer::{read_transfer, Destination, Status};
    let dir = tempfile::tempdir().unwrap();
    // Only the header: the refusal comes before the receiver reads any data.
    let mut only_header = &header("big.bin", 1000)[..];
    let r = read_transfer(&mut only_header, Destination::<tokio::io::Sink>::Dir(dir.path()), 999, |_| {}).await;
    assert_eq!(rejected_with(r), Status::TooLarge);
    let mut only_header = &header("huge.bin", 1 << 60)[..];
    let r = read_transfer(&mut only_header, Destination::<tokio::io::Sink>::Dir(dir.path()), u64::MAX, |_| {}).await;
    assert_eq!(rejected_with(r), Status::NoSpace);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was written");
}

#[tokio::test]
async fn data_longer_or_shorter_than_announced_is_refused_and_nothing_is_left() {
    use stt_tokio::transfer::{read_transfer, Destination, TransferError};
    let dir = tempfile::tempdir().unwrap();
    for (announced, data) in [(4u64, &b"too long"[..]), (100, &b"short"[..])] {
        let mut wire = header("a.txt", announced);
        wire.extend_from_slice(&(data.len() as u32).to_be_bytes());
        wire.extend_from_slice(data);
        wire.extend_from_slice(&0u32.to_be_bytes());
        wire.extend_from_slice(&sha3(data));
        let mut reader = &wire[..];
        let r = read_transfer(&mut reader, Destination::<tokio::io::Sink>::Dir(dir.path()), u64::MAX, |_| {}).await;
        assert!(matches!(r, Err(TransferError::Protocol(m)) if m.contains("announced")), "{announced}: {r:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no partial file is left");
    }
    // The same bytes with the right announcement are stored.
    let mut wire = header("a.txt", 5);
    wire.extend_from_slice(&5u32.to_be_bytes());
    wire.extend_from_slice(b"right");
    wire.extend_from_slice(&0u32.to_be_bytes());
    wire.extend_from_slice(&sha3(b"right"));
    let mut reader = &wire[..];
    let got = read_transfer(&mut reader, Destination::<tokio::io::Sink>::Dir(dir.path()), u64::MAX, |_| {}).await;
    assert_eq!(got.unwrap().bytes, 5);
    assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"right");
}
