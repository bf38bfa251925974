//! Remote fetch between two nodes: intact content arrives and is verified, a missing address and
//! an oversized content are typed errors, a peer that serves wrong bytes is caught, and a server
//! whose own copy is damaged refuses instead of serving it.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};

use common::*;
use stt_cli::fetch::{fetch, FetchError, StoreServer};
use stt_cli::storage::FsBackend;
use stt_proto::fetch::FetchFailure;
use stt_proto::storage::{Address, MemoryBackend, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn intact_content_arrives_and_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::new(FsBackend::open(dir.path()).unwrap(), b"server storage seed, 32 bytes!!!");
    let big = pattern(3 << 20, 1);
    let small = b"a small blob".to_vec();
    let big_addr = store.put(&big).unwrap();
    let small_addr = store.put(&small).unwrap();
    let store = Arc::new(Mutex::new(store));

    let server = node(3).await;
    let client = node(3).await;
    let session = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let incoming = within(10, "accept", server.accept()).await.unwrap();
    let _serving = StoreServer::new(store.clone()).serve_session(incoming);

    let started = std::time::Instant::now();
    let got = within(30, "fetch big", fetch(&session, &big_addr, 64 << 20)).await.unwrap();
    let took = started.elapsed();
    assert!(got == big, "3 MiB arrived intact");
    println!("3 MiB fetched and verified in {took:?} ({:.0} MB/s)", 3.0 * 1.048576 / took.as_secs_f64());
    assert_eq!(within(10, "fetch small", fetch(&session, &small_addr, 1024)).await.unwrap(), small);
    let missing = Address::of(b"never stored");
    assert!(
        matches!(fetch(&session, &missing, 1024).await, Err(FetchError::Reply(FetchFailure::NotFound(a))) if a == missing)
    );
    assert!(matches!(
        fetch(&session, &big_addr, 1 << 20).await,
        Err(FetchError::Reply(FetchFailure::TooLarge { len, max })) if len == 3 << 20 && max == 1 << 20
    ));

    // Damage the server's copy on disk: the server refuses rather than serve it.
    let path = store.lock().unwrap().backend().path_of(&small_addr);
    let mut blob = std::fs::read(&path).unwrap();
    blob[20] ^= 1;
    std::fs::write(&path, blob).unwrap();
    match fetch(&session, &small_addr, 1024).await {
        Err(FetchError::Reply(FetchFailure::Refused(msg))) => assert!(msg.contains("integrity"), "{msg}"),
        other => panic!("fetch of a damaged blob: {other:?}"),
    }
}

/// A peer that answers every fetch with "found", `claimed` as the length, and `content`.
async fn fake_server(session: stt_tokio::Session, claimed: u64, content: Vec<u8>) {
    while let Ok(mut s) = session.accept_stream().await {
        let mut request = [0u8; 36];
        s.read_exact(&mut request).await.unwrap();
        let mut reply = vec![0u8];
        reply.extend_from_slice(&claimed.to_be_bytes());
        reply.extend_from_slice(&content);
        s.write_all(&reply).await.unwrap();
        s.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_peer_that_serves_wrong_bytes_is_detected() {
    let server = node(4).await;
    let client = node(4).await;
    let session = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let incoming = within(10, "accept", server.accept()).await.unwrap();
    let content = pattern(100_000, 2);
    let mut lie = content.clone();
    lie[50_000] ^= 0x80;
    // The right length and the wrong bytes.
    tokio::spawn(fake_server(incoming, lie.len() as u64, lie));
    let address = Address::of(&content);
    match within(10, "fetch", fetch(&session, &address, 1 << 20)).await {
        Err(FetchError::Reply(FetchFailure::Integrity(a))) => assert_eq!(a, address),
        other => panic!("a lying peer's bytes were not caught: {:?}", other.map(|v| v.len())),
    }
}

#[tokio::test]
async fn a_peer_that_claims_a_huge_length_costs_only_what_it_sends() {
    // The fetcher accepts any length here; before, it reserved the claimed length up front, and
    // a claim of 2^50 bytes aborted the process.
    let server = node(6).await;
    let client = node(6).await;
    let session = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let incoming = within(10, "accept", server.accept()).await.unwrap();
    // A huge length and a few bytes.
    tokio::spawn(fake_server(incoming, 1 << 50, b"not much".to_vec()));
    let address = Address::of(b"anything");
    match within(10, "fetch", fetch(&session, &address, u64::MAX)).await {
        Err(FetchError::Reply(FetchFailure::Integrity(a))) => assert_eq!(a, address),
        other => panic!("a short answer must be an integrity error: {:?}", other.map(|v| v.len())),
    }
}

#[tokio::test]
async fn the_memory_backend_serves_too() {
    let mut store = Store::new(MemoryBackend::new(), b"memory storage seed of 32 bytes!");
    let addr = store.put(b"in memory").unwrap();
    let server = node(5).await;
    let client = node(5).await;
    let session = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let incoming = within(10, "accept", server.accept()).await.unwrap();
    StoreServer::new(Arc::new(Mutex::new(store))).serve_session(incoming);
    assert_eq!(within(10, "fetch", fetch(&session, &addr, 100)).await.unwrap(), b"in memory");
}
