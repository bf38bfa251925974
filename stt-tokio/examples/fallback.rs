//! Transport fallback: `connect_with_fallback` tries UDP first and, when UDP gets no answer
//! within `Fallback::udp_timeout` (a firewall that drops UDP, say), connects over the same
//! node's WebSocket listener instead. Here the first connection aims its UDP at a silent socket
//! and falls back; the second reaches the node over UDP directly. A session that fell back keeps
//! probing UDP and moves back when it answers (see the relay test of this behaviour).
//!
//! ```sh
//! cargo run -p stt-tokio --example fallback
//! ```

use std::error::Error;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use stt_tokio::{Fallback, Node, NodeConfig, Seed, Transport};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// The transports the two connections ended up on.
pub async fn demo() -> Result<(Transport, Transport)> {
    let seed = Seed::new(b"shared secret with bob, 32 bytes")?;
    let local: SocketAddr = "127.0.0.1:0".parse()?;
    let server = Node::bind(NodeConfig::new(seed.clone()).bind(local).ws_bind(local)).await?;
    let url = format!("ws://{}", server.ws_local_addr().ok_or("no WebSocket listener")?);
    let fallback = Fallback { udp_timeout: Duration::from_millis(500), ..Fallback::default() };
    let client = Node::bind(NodeConfig::new(seed).bind(local).server_mode(false).fallback(fallback)).await?;

    // A UDP socket that never answers stands for a path whose UDP is blocked.
    let silent = UdpSocket::bind("127.0.0.1:0")?;
    let blocked = client.connect_with_fallback(silent.local_addr()?, &url).await?;
    let first = blocked.remote().ok_or("session closed")?.transport;
    println!("UDP unanswered: connected over {first:?}");

    let open = client.connect_with_fallback(server.local_addr(), &url).await?;
    let second = open.remote().ok_or("session closed")?.transport;
    println!("UDP open: connected over {second:?}");
    blocked.close(0, "done").await;
    open.close(0, "done").await;
    Ok((first, second))
}

#[tokio::main]
async fn main() -> Result<()> {
    demo().await.map(|_| ())
}
