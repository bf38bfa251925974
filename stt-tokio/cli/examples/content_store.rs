//! A content store shared between two nodes: the archive keeps blobs on disk (sealed at rest,
//! deduplicated, checked on every read) and serves them; the viewer fetches by address, gets
//! the bytes only if they hash to the address, and keeps its own copy in memory.
//!
//! ```sh
//! cargo run -p stt-cli --example content_store
//! ```

use std::error::Error;
use std::sync::{Arc, Mutex};

use stt_cli::fetch::{fetch, FetchError, StoreServer};
use stt_cli::storage::FsBackend;
use stt_tokio::stt_proto::fetch::FetchFailure;
use stt_tokio::stt_proto::storage::{Address, MemoryBackend, Store};
use stt_tokio::{Node, NodeConfig, Seed};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Puts three documents in an on-disk store under `dir`, fetches them from another node, and
/// returns how many were fetched and verified.
pub async fn demo_in(dir: &std::path::Path) -> Result<usize> {
    let seed = Seed::new(&[0xC5; 32])?;
    let local = "127.0.0.1:0".parse()?;

    // The archive: an on-disk store, at most 16 MiB, least recently used blobs evicted first.
    let backend = FsBackend::open_with_limit(dir, Some(16 << 20))?;
    let mut store = Store::new(backend, b"archive storage seed (keep secret)");
    let documents: Vec<Vec<u8>> = vec![
        b"minutes of the first meeting".to_vec(),
        (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect(), // 800 kB of telemetry
        b"minutes of the first meeting".to_vec(),                // a duplicate: stored once
    ];
    let addresses: Vec<Address> = documents.iter().map(|d| store.put(d)).collect::<std::result::Result<_, _>>()?;
    println!("archive holds {} blobs for {} documents", store.list().len(), documents.len());
    assert_eq!(addresses[0], addresses[2]);
    let store = Arc::new(Mutex::new(store));
    let archive = Node::bind(NodeConfig::new(seed.clone()).bind(local)).await?;

    // The viewer connects; the archive opts in to serving its store on that session.
    let viewer = Node::bind(NodeConfig::new(seed).bind(local).server_mode(false)).await?;
    let session = viewer.connect(archive.local_addr()).await?;
    let at_archive = archive.accept().await.ok_or("archive stopped")?;
    let serving = StoreServer::new(store.clone()).serve_session(at_archive);

    let mut local_copy = Store::new(MemoryBackend::new(), b"viewer storage seed");
    let mut fetched = 0;
    for (address, original) in addresses.iter().zip(&documents) {
        let content = fetch(&session, address, 4 << 20).await?;
        assert_eq!(&content, original);
        assert_eq!(local_copy.put(&content)?, *address, "the same content has the same address everywhere");
        println!("fetched {address}: {} bytes, verified", content.len());
        fetched += 1;
    }
    match fetch(&session, &Address::of(b"never stored"), 1024).await {
        Err(FetchError::Reply(FetchFailure::NotFound(a))) => println!("{a}: not found, as expected"),
        other => return Err(format!("unexpected answer for a missing blob: {other:?}").into()),
    }
    session.close(0, "done").await;
    serving.await?;
    Ok(fetched)
}

/// Runs the demonstration in a temporary directory.
pub async fn demo() -> Result<usize> {
    let dir = std::env::temp_dir().join(format!("stt-content-store-{}", std::process::id()));
    let r = demo_in(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let n = r?;
    assert_eq!(n, 3);
    Ok(n)
}

#[tokio::main]
async fn main() -> Result<()> {
    demo().await.map(|_| ())
}
