//! Bulk transfers over real loopback sockets: UDP and WebSocket, byte-identical.

#[path = "../../tests/common/mod.rs"]
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

/// The names in `dir`, sorted ("" first, so that an empty directory is not an empty list).
fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names = vec![String::new()];
    names.extend(std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()));
    names.sort();
    names
}

/// A transfer header announcing `len` bytes for `name`, as `transfer::send` writes it.
fn header(name: &str, len: u64) -> Vec<u8> {
    let mut h = vec![stt_cli::transfer::VERSION];
    h.extend_from_slice(&(name.len() as u16).to_be_bytes());
    h.extend_from_slice(name.as_bytes());
    h.extend_from_slice(&len.to_be_bytes());
    h
}

fn rejected_with(
    r: Result<stt_cli::transfer::Received, stt_cli::transfer::TransferError>,
) -> stt_cli::transfer::Status {
    match r {
        Err(stt_cli::transfer::TransferError::Rejected { status, .. }) => status,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_announced_length_over_the_limit_or_the_free_space_is_refused_before_any_data() {
    use stt_cli::transfer::{read_transfer, Destination, Status};
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
    use stt_cli::transfer::{read_transfer, Destination, TransferError};
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
        assert_eq!(entries(dir.path()), ["", stt_cli::transfer::PRIVATE_DIR], "no partial file is left");
        let private = entries(&dir.path().join(stt_cli::transfer::PRIVATE_DIR));
        assert_eq!(private, [""], "no partial file is left");
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

/// A session between two new nodes, the receiving side of one transfer into `out` already
/// waiting: (sending node, receiving node, the sender's session, the receiver's outcome).
async fn receiver_into(
    out: &std::path::Path,
) -> (
    stt_tokio::Node,
    stt_tokio::Node,
    stt_tokio::Session,
    tokio::task::JoinHandle<Result<stt_cli::transfer::Outcome, stt_cli::transfer::TransferError>>,
) {
    use stt_cli::transfer::{self, Destination, Receipts};
    let server = node(1).await;
    let client = node(1).await;
    let session = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    let dir = out.to_path_buf();
    let receiver = tokio::spawn(async move {
        let stream = accepted.accept_stream().await.unwrap();
        let mut receipts = Receipts::default();
        transfer::receive_any::<tokio::io::Sink>(
            stream,
            Destination::Dir(&dir),
            &transfer::Limits::default(),
            &mut receipts,
            |_| {},
        )
        .await
    });
    (client, server, session, receiver)
}

/// The first attempt of a resumable transfer of a 64 MiB file, cut once the receiver holds an
/// eighth of it: returns how many bytes the receiver kept in its partial file.
async fn cut_early(src: &std::path::Path, out: &std::path::Path) -> u64 {
    let (client, server, session, receiver) = receiver_into(out).await;
    let (sending, src) = (session.clone(), src.to_path_buf());
    let sender = tokio::spawn(async move { stt_cli::transfer::send_file(&sending, "data.bin", &src, |_| {}).await });
    within(60, "an eighth of the data at the receiver", async {
        while partial_len(out) < 8 << 20 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await;
    sender.abort();
    session.close(1, "cut").await;
    assert!(within(30, "receiver", receiver).await.unwrap().is_err(), "the first attempt failed");
    client.shutdown(std::time::Duration::from_secs(1)).await;
    server.shutdown(std::time::Duration::from_secs(1)).await;
    partial_len(out)
}

/// Bytes in the receiver's kept partial files in `out` (in its private directory).
fn partial_len(out: &std::path::Path) -> u64 {
    let Ok(private) = std::fs::read_dir(out.join(stt_cli::transfer::PRIVATE_DIR)) else { return 0 };
    private
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("resume-") && name.ends_with(".partial")
        })
        // A partial file may be renamed into place while it is looked at.
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_partial_file_is_continued_only_when_it_matches_the_senders_bytes() {
    use stt_cli::transfer;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let src = dir.path().join("data.bin");
    std::fs::write(&src, pattern(64 << 20, 3)).unwrap();
    let kept = cut_early(&src, &out).await;
    assert!((8 << 20..64 << 20).contains(&kept), "the cut attempt left {kept} bytes");

    // The file changes in its first half, its name, size and modification time do not: the
    // resume key is the same, but the sender's bytes do not hash to the receiver's offer.
    let modified = std::fs::metadata(&src).unwrap().modified().unwrap();
    let mut changed = pattern(64 << 20, 3);
    changed[1000] ^= 0xFF;
    std::fs::write(&src, &changed).unwrap();
    std::fs::File::options().write(true).open(&src).unwrap().set_modified(modified).unwrap();

    let (_client, _server, session, receiver) = receiver_into(&out).await;
    let sent = within(60, "second attempt", transfer::send_file(&session, "data.bin", &src, |_| {})).await.unwrap();
    within(30, "receiver", receiver).await.unwrap().unwrap();
    assert_eq!(sent.resumed_from, 0, "a partial file that is not this file's beginning is not continued");
    assert_eq!(sha3(&std::fs::read(out.join("data.bin")).unwrap()), sha3(&changed));
    assert_eq!(partial_len(&out), 0, "the partial file became the stored file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_transfer_continues_from_what_the_receiver_kept() {
    use stt_cli::transfer;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let src = dir.path().join("data.bin");
    let data = pattern(64 << 20, 5);
    std::fs::write(&src, &data).unwrap();
    let kept = cut_early(&src, &out).await;

    let (_client, _server, session, receiver) = receiver_into(&out).await;
    let sent = within(60, "second attempt", transfer::send_file(&session, "data.bin", &src, |_| {})).await.unwrap();
    let received = within(30, "receiver", receiver).await.unwrap().unwrap();
    assert_eq!(sent.resumed_from, kept, "the sender continued from every byte the receiver kept");
    assert!(matches!(received, transfer::Outcome::File(r) if r.resumed_from == kept));
    assert_eq!(std::fs::read(out.join("data.bin")).unwrap(), data);
}
