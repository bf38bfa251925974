//! Broadcast to many peers: one hub, many subscribers, one custom frame to all of them, with a
//! result per session. A subscriber that left shows up as a failure, not as silence.
//!
//! ```sh
//! cargo run -p stt-tokio --example broadcast
//! ```

use std::error::Error;
use std::time::Duration;

use bytes::Bytes;
use stt_tokio::{Node, NodeConfig, Seed, Targets};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Custom frame type of an announcement.
pub const ANNOUNCE: u8 = 0x88;

/// A hub and `peers` subscribers; one leaves; the hub announces twice. Returns (delivered,
/// failed) counts of the announcement sent after the departure.
pub async fn demo_with(peers: usize) -> Result<(usize, usize)> {
    let seed = Seed::new(&[0x5B; 32])?;
    let local = "127.0.0.1:0".parse()?;
    let hub = Node::bind(NodeConfig::new(seed.clone()).bind(local)).await?;
    let mut subscribers = Vec::new();
    let mut at_hub = Vec::new();
    for _ in 0..peers {
        let node = Node::bind(NodeConfig::new(seed.clone()).bind(local).server_mode(false)).await?;
        let session = node.connect(hub.local_addr()).await?;
        at_hub.push(hub.accept().await.ok_or("hub stopped")?);
        subscribers.push((node, session));
    }

    let results = hub.broadcast(ANNOUNCE, Bytes::from_static(b"first announcement"), Targets::All);
    println!("first: {} of {} queued", results.iter().filter(|(_, r)| r.is_ok()).count(), results.len());
    for (_, s) in &subscribers {
        let (t, msg) = tokio::time::timeout(Duration::from_secs(5), s.recv_frame()).await??;
        assert_eq!((t, &msg[..]), (ANNOUNCE, &b"first announcement"[..]));
    }

    // One subscriber leaves; the hub learns it from the DISCONNECT.
    let (_, leaving) = subscribers.remove(peers / 2);
    leaving.close(0, "unsubscribing").await;
    tokio::time::timeout(Duration::from_secs(5), at_hub[peers / 2].closed()).await?;

    let results = hub.broadcast(ANNOUNCE, Bytes::from_static(b"second announcement"), Targets::Sessions(&at_hub));
    let delivered = results.iter().filter(|(_, r)| r.is_ok()).count();
    for (session, r) in &results {
        if let Err(e) = r {
            println!("session {:016x}: {e}", session.session_id());
        }
    }
    for (_, s) in &subscribers {
        let (_, msg) = tokio::time::timeout(Duration::from_secs(5), s.recv_frame()).await??;
        assert_eq!(&msg[..], b"second announcement");
    }
    println!("second: {delivered} delivered, {} failed", results.len() - delivered);
    Ok((delivered, results.len() - delivered))
}

/// Ten subscribers.
pub async fn demo() -> Result<()> {
    let (delivered, failed) = demo_with(10).await?;
    assert_eq!((delivered, failed), (9, 1));
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    demo().await
}
