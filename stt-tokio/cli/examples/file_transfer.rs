//! File transfer with end-to-end verification: the library side of `stt send` / `stt listen`.
//!
//! ```sh
//! cargo run -p stt-cli --example file_transfer -- PATH   # sends PATH to a receiver on loopback
//! ```
//!
//! The sender streams the file with its SHA3-256; the receiver writes to a temporary name,
//! checks the digest, syncs and renames, then confirms. Nothing unverified appears in the
//! destination directory.

use std::error::Error;
use std::path::{Path, PathBuf};

use stt_cli::transfer::{self, Destination};
use stt_tokio::{Node, NodeConfig, Seed};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Sends `path` from one node to another on loopback; the copy lands in `dest_dir`.
pub async fn send_file(path: &Path, dest_dir: &Path) -> Result<PathBuf> {
    let seed = Seed::new(&[0x42; 32])?;
    let local = "127.0.0.1:0".parse()?;
    let receiver = Node::bind(NodeConfig::new(seed.clone()).bind(local)).await?;
    let sender = Node::bind(NodeConfig::new(seed).bind(local).server_mode(false)).await?;

    let dir = dest_dir.to_path_buf();
    let rx_node = receiver.clone();
    let receiving = tokio::spawn(async move {
        let session = rx_node.accept().await.ok_or("receiver stopped")?;
        let stream = session.accept_stream().await?;
        let got = transfer::receive::<tokio::io::Sink>(stream, Destination::Dir(&dir), |_| {}).await?;
        Ok::<_, Box<dyn Error + Send + Sync>>(got)
    });

    let session = sender.connect(receiver.local_addr()).await?;
    let name = path.file_name().and_then(|n| n.to_str()).ok_or("no file name")?;
    let file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let sent = transfer::send(&session, name, Some(len), file, |_| {}).await?;
    let got = receiving.await??;
    assert_eq!(sent.digest, got.digest);
    println!("{name}: {} bytes sent and verified by the receiver", sent.bytes);
    session.close(0, "done").await;
    Ok(got.path.expect("saved to a directory"))
}

/// Sends a generated file into a fresh directory and checks the copy.
pub async fn demo() -> Result<()> {
    let base = std::env::temp_dir().join(format!("stt-file-transfer-{}", std::process::id()));
    let out = base.join("received");
    tokio::fs::create_dir_all(&out).await?;
    let src = base.join("report.bin");
    let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 253) as u8).collect();
    tokio::fs::write(&src, &data).await?;
    let copy = send_file(&src, &out).await?;
    assert_eq!(tokio::fs::read(&copy).await?, data);
    tokio::fs::remove_dir_all(&base).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    match std::env::args().nth(1) {
        Some(path) => {
            let out = std::env::temp_dir().join("stt-received");
            tokio::fs::create_dir_all(&out).await?;
            let copy = send_file(Path::new(&path), &out).await?;
            println!("copy at {}", copy.display());
            Ok(())
        }
        None => demo().await,
    }
}
