//! One receive loop for everything that arrives at a node, as in the STT manual's walkthrough
//! (`async for packet in bob_node.receive()`): Alice opens a session and a stream, sends a custom
//! frame, routes bytes to a name and sends a reliable message; Bob handles all of it in one
//! `while let` over `Node::incoming()`.
//!
//! ```sh
//! cargo run -p stt-tokio --example receive_loop
//! ```

use std::error::Error;
use std::net::SocketAddr;

use stt_tokio::{Channel, Incoming, NameQueueLimits, Node, NodeConfig, Seed, StreamMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

fn config() -> NodeConfig {
    // Both nodes hold the same shared seed; real deployments use one from `stt keygen`.
    NodeConfig::new(Seed::new(b"shared secret with bob, 32 bytes").expect("32 bytes"))
}

/// What Bob saw, in the order it arrived.
pub async fn demo() -> Result<Vec<String>> {
    // 1. Create and start the nodes.
    let local: SocketAddr = "127.0.0.1:0".parse()?;
    let bob = Node::bind(config().bind(local)).await?;
    let alice = Node::bind(config().bind(local).server_mode(false)).await?;
    let _inbox_name = bob.serve_name("video_sink", NameQueueLimits::default())?;
    let inbox = bob.incoming();

    // 2. Establish a session: the handshake is complete when `connect` returns.
    let session = alice.connect(bob.local_addr()).await?;

    // 3. A stream, a custom frame, a routed message and a reliable message.
    let mut stream = session.open_stream(StreamMode::Reliable)?;
    stream.write_all(b"Hello Bob!").await?;
    stream.shutdown().await?;
    stream.send_half().flushed().await?;
    session.send_frame(0x80, &b"chat: hi"[..])?;
    session.route("video_sink", &b"frame 0"[..]).await?;
    session.send_message(Channel::Frame(0x81), &b"chat: this one is never lost"[..]).await?;

    // 4. Bob's receive loop.
    let mut seen = Vec::new();
    while let Some(item) = inbox.next().await {
        let line = match item {
            Incoming::Session(s) => format!("session from {}", s.peer()),
            Incoming::Stream { mut stream, .. } => {
                let mut data = Vec::new();
                stream.read_to_end(&mut data).await?;
                format!("stream: {}", String::from_utf8_lossy(&data))
            }
            Incoming::Frame { frame_type, payload, .. } => {
                format!("frame {frame_type:#04x}: {}", String::from_utf8_lossy(&payload))
            }
            Incoming::Routed { name, message } => format!("{name}: {}", String::from_utf8_lossy(&message.data)),
            Incoming::Message { message, .. } => {
                format!("message on {:?}: {}", message.channel, String::from_utf8_lossy(&message.payload))
            }
        };
        println!("Received: {line}");
        seen.push(line);
        if seen.len() == 5 {
            break;
        }
    }

    // 5. Clean up.
    session.close(0, "done").await;
    Ok(seen)
}

#[tokio::main]
async fn main() -> Result<()> {
    demo().await.map(|_| ())
}
