//! Custom frames with a dispatcher: handlers registered per frame type (0x80–0xFF) on each node,
//! a request/response exchange, and a frame type with no handler read with `recv_frame`.
//!
//! ```sh
//! cargo run -p stt-tokio --example dispatcher
//! ```

use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stt_tokio::{Node, NodeConfig, Seed};
use tokio::sync::mpsc;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// A ping carrying a counter; answered with PONG.
pub const PING: u8 = 0x80;
/// The answer to PING, same payload.
pub const PONG: u8 = 0x81;
/// A telemetry sample (8-byte big-endian reading), summed by the server.
pub const SAMPLE: u8 = 0x82;
/// A note for the application, left for `recv_frame` (no handler).
pub const NOTE: u8 = 0xF0;

pub async fn demo() -> Result<()> {
    let seed = Seed::new(&[0xD1; 32])?;
    let local = "127.0.0.1:0".parse()?;
    let server = Node::bind(NodeConfig::new(seed.clone()).bind(local)).await?;
    let client = Node::bind(NodeConfig::new(seed).bind(local).server_mode(false)).await?;

    // Server: answer pings from the handler itself (sending never blocks), sum samples.
    server.on_frame(PING, |session, payload| {
        let _ = session.send_frame(PONG, payload);
    })?;
    let total = Arc::new(AtomicU64::new(0));
    let sum = total.clone();
    server.on_frame(SAMPLE, move |_, payload| {
        if let Ok(b) = <[u8; 8]>::try_from(&payload[..]) {
            sum.fetch_add(u64::from_be_bytes(b), Ordering::Relaxed);
        }
    })?;
    // Client: hand pongs to a channel for async code.
    let (pongs_tx, mut pongs) = mpsc::unbounded_channel();
    client.on_frame(PONG, move |_, payload| {
        let _ = pongs_tx.send(payload);
    })?;

    let session = client.connect(server.local_addr()).await?;
    let at_server = server.accept().await.ok_or("server stopped")?;
    for i in 0..5u32 {
        session.send_frame(PING, Bytes::copy_from_slice(&i.to_be_bytes()))?;
        let pong = tokio::time::timeout(Duration::from_secs(5), pongs.recv()).await?.ok_or("no pong")?;
        assert_eq!(&pong[..], &i.to_be_bytes());
    }
    println!("5 pings answered");
    for reading in 1..=100u64 {
        session.send_frame(SAMPLE, Bytes::copy_from_slice(&reading.to_be_bytes()))?;
    }
    session.send_frame(NOTE, &b"samples sent"[..])?;
    let (t, note) = tokio::time::timeout(Duration::from_secs(5), at_server.recv_frame()).await??;
    assert_eq!((t, &note[..]), (NOTE, &b"samples sent"[..]));
    // Frames of one session arrive in order on loopback, so every sample came before the note;
    // custom frames are best-effort in general.
    println!("sum of samples at the server: {}", total.load(Ordering::Relaxed));
    assert_eq!(total.load(Ordering::Relaxed), 5050);
    assert!(session.send_frame(0x10, Bytes::new()).is_err(), "types below 0x80 belong to STT");
    session.close(0, "done").await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    demo().await
}
