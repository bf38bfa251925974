//! Helpers shared by the driver's integration tests: nodes on loopback and patterned data.

#![allow(dead_code)]

use std::time::Duration;

use sha3::{Digest, Sha3_256};
use stt_tokio::{Node, NodeConfig, Seed, Session, StreamMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const LOCAL: &str = "127.0.0.1:0";

pub fn seed(b: u8) -> Seed {
    Seed::new(&[b; 32]).unwrap()
}

pub fn config(shared: u8) -> NodeConfig {
    NodeConfig::new(seed(shared)).bind(LOCAL.parse().unwrap())
}

pub async fn node(shared: u8) -> Node {
    Node::bind(config(shared)).await.unwrap()
}

pub async fn ws_node(shared: u8) -> Node {
    Node::bind(config(shared).ws_bind(LOCAL.parse().unwrap())).await.unwrap()
}

/// Two nodes sharing `shared`, and a session between them: the server, the client, the client's
/// session and the server's.
pub async fn connected(shared: u8) -> (Node, Node, Session, Session) {
    let server = node(shared).await;
    let client = node(shared).await;
    let session = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    (server, client, session, accepted)
}

/// Deterministic pseudo-random bytes (xorshift), different per `seed`.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn sha3(data: &[u8]) -> [u8; 32] {
    Sha3_256::digest(data).into()
}

/// Writes `data` on a new stream of `session` and finishes it.
pub async fn send_all(session: &Session, data: &[u8]) {
    let mut s = session.open_stream(StreamMode::Reliable).unwrap();
    for chunk in data.chunks(256 * 1024) {
        s.write_all(chunk).await.unwrap();
    }
    s.shutdown().await.unwrap();
    s.send_half().flushed().await.unwrap();
}

/// Reads one whole stream the peer opens on `session`; returns its length and SHA3-256.
pub async fn recv_all(session: &Session) -> (usize, [u8; 32]) {
    let mut s = session.accept_stream().await.unwrap();
    let mut h = Sha3_256::new();
    let mut n = 0;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let k = s.read(&mut buf).await.unwrap();
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k;
    }
    (n, h.finalize().into())
}

pub async fn within<T>(secs: u64, what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within {secs} s"))
}
