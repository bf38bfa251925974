//! Echo server and client.
//!
//! ```sh
//! cargo run -p stt-tokio --example echo                      # both ends on loopback
//! cargo run -p stt-tokio --example echo -- server 0.0.0.0:7400
//! cargo run -p stt-tokio --example echo -- client 127.0.0.1:7400 "hello"
//! ```
//!
//! The example seed is fixed so the two commands find each other; real deployments use a seed
//! from `stt keygen`.

use std::error::Error;
use std::net::SocketAddr;

use stt_tokio::{Node, NodeConfig, Seed, Session, StreamMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

fn config() -> NodeConfig {
    NodeConfig::new(Seed::new(b"echo example seed, not a secret!").expect("32 bytes"))
}

/// Serves every session: each stream gets its own bytes back.
pub async fn server(node: Node) {
    while let Some(session) = node.accept().await {
        tokio::spawn(async move {
            while let Ok(stream) = session.accept_stream().await {
                tokio::spawn(async move {
                    let (mut tx, mut rx) = stream.into_split();
                    if tokio::io::copy(&mut rx, &mut tx).await.is_ok() {
                        let _ = tx.shutdown().await;
                        let _ = tx.flushed().await;
                    }
                });
            }
        });
    }
}

/// Sends `message` on a new stream and returns what comes back.
pub async fn client(session: &Session, message: &[u8]) -> Result<Vec<u8>> {
    let mut stream = session.open_stream(StreamMode::Reliable)?;
    stream.write_all(message).await?;
    stream.shutdown().await?;
    let mut back = Vec::new();
    stream.read_to_end(&mut back).await?;
    Ok(back)
}

/// Both ends in this process.
pub async fn demo() -> Result<()> {
    let local: SocketAddr = "127.0.0.1:0".parse()?;
    let server_node = Node::bind(config().bind(local)).await?;
    let addr = server_node.local_addr();
    tokio::spawn(server(server_node.clone()));
    let client_node = Node::bind(config().bind(local).server_mode(false)).await?;
    let session = client_node.connect(addr).await?;
    for message in [&b"hello"[..], b"multiplexed", &[0xAB; 200_000]] {
        let back = client(&session, message).await?;
        assert_eq!(back, message, "the echo returns the same bytes");
        println!("echoed {} bytes", back.len());
    }
    session.close(0, "done").await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => demo().await,
        ["server", bind] => {
            let node = Node::bind(config().bind(bind.parse()?)).await?;
            println!("echo server on {}", node.local_addr());
            server(node).await;
            Ok(())
        }
        ["client", to, message] => {
            let node = Node::bind(config().server_mode(false)).await?;
            let session = node.connect(*to).await?;
            let back = client(&session, message.as_bytes()).await?;
            println!("{}", String::from_utf8_lossy(&back));
            session.close(0, "done").await;
            Ok(())
        }
        _ => Err("usage: echo [server BIND | client ADDR MESSAGE]".into()),
    }
}
