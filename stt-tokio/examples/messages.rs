//! Reliable messages of any size: chat lines on custom frame type 0x81, a 3 MiB picture on type
//! 0x82 and a 1 MiB frame routed to Bob's "video_sink", each delivered whole and in order
//! (unlike `send_frame` and `route`, which are best-effort and fit one datagram). Bob reads them
//! with `Session::recv_message` and learns each one's channel; a message to a name Bob does not
//! serve is refused, and Alice's node reports it.
//!
//! ```sh
//! cargo run -p stt-tokio --example messages
//! ```

use std::error::Error;
use std::net::SocketAddr;

use stt_tokio::{Channel, Event, MessageRefusal, NameQueueLimits, Node, NodeConfig, Seed};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const CHAT: u8 = 0x81;
const PICTURE: u8 = 0x82;

/// What Bob received, one line per message, and the refusal Alice's node reported.
pub async fn demo() -> Result<(Vec<String>, MessageRefusal)> {
    let seed = Seed::new(b"shared secret with bob, 32 bytes")?;
    let local: SocketAddr = "127.0.0.1:0".parse()?;
    let bob = Node::bind(NodeConfig::new(seed.clone()).bind(local)).await?;
    let alice = Node::bind(NodeConfig::new(seed).bind(local).server_mode(false)).await?;
    let _video = bob.serve_name("video_sink", NameQueueLimits::default())?;
    let mut alice_events = alice.events();

    let session = alice.connect(bob.local_addr()).await?;
    let picture: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    let video_frame = vec![0xF0u8; 1 << 20];
    session.send_message(Channel::Frame(CHAT), &b"here is the picture"[..]).await?;
    session.send_message(Channel::Frame(PICTURE), picture.clone()).await?;
    session.send_message(Channel::name("video_sink"), video_frame.clone()).await?;
    session.send_message(Channel::name("audio_sink"), &b"nobody serves this"[..]).await?;
    session.send_message(Channel::Frame(CHAT), &b"did it arrive?"[..]).await?;

    let from_alice = bob.accept().await.ok_or("bob's node stopped")?;
    let mut lines = Vec::new();
    for _ in 0..4 {
        let m = from_alice.recv_message().await?;
        let line = match m.channel {
            Channel::Frame(CHAT) => format!("chat: {}", String::from_utf8_lossy(&m.payload)),
            Channel::Frame(PICTURE) if m.payload == picture => format!("picture: {} bytes, intact", m.payload.len()),
            Channel::Name(_) if m.payload == video_frame => format!("video_sink: {} bytes, intact", m.payload.len()),
            other => format!("unexpected: {other:?}, {} bytes", m.payload.len()),
        };
        println!("Bob received {line}");
        lines.push(line);
    }
    let refusal = loop {
        if let Event::MessagesRefused { first, reason, .. } = alice_events.recv().await? {
            println!("Alice's message {} was refused: {reason}", first.0);
            break reason;
        }
    };
    session.close(0, "done").await;
    Ok((lines, refusal))
}

#[tokio::main]
async fn main() -> Result<()> {
    demo().await.map(|_| ())
}
