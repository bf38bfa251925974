//! Identities and peers on real sockets: `connect_to` with per-peer seeds, an identity key given
//! as a key pair, peers added and removed while the node runs, and a key rotation on request.

mod common;

use std::time::Duration;

use common::*;
use stt_tokio::stt_proto::{close, CloseReason, Identity};
use stt_tokio::{Error, HandshakeError, Node, NodeConfig};

fn per_peer(identity: u8) -> NodeConfig {
    NodeConfig::per_peer().identity(Identity::from_secret_key([identity; 32])).bind(LOCAL.parse().unwrap())
}

#[tokio::test]
async fn per_peer_nodes_connect_to_each_other_and_to_no_one_else() {
    let (a_key, b_key) = (Identity::from_secret_key([0xA1; 32]), Identity::from_secret_key([0xB2; 32]));
    let pairwise = seed(0x77);
    let a = Node::bind(per_peer(0xA1).peer_seed(b_key.node_id(), pairwise.clone())).await.unwrap();
    let b = Node::bind(per_peer(0xB2).peer_seed(a_key.node_id(), pairwise.clone())).await.unwrap();
    assert_eq!(a.node_id(), a_key.node_id(), "the identity key gives the node id");

    // `connect` has no seed to use; `connect_to` uses the peer's.
    let err = a.connect(b.local_addr()).await.unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "got {err}");
    let s = within(10, "connect_to", a.connect_to(b.local_addr(), b.node_id())).await.unwrap();
    assert_eq!(s.peer(), b.node_id());
    let accepted = within(10, "accept", b.accept()).await.unwrap();
    assert_eq!(accepted.peer(), a.node_id());

    // A third node that holds the same pairwise seed but answers for itself, not for `b`.
    let c = Node::bind(per_peer(0xC3).peer_seed(a_key.node_id(), pairwise)).await.unwrap();
    let err = within(10, "connect_to the wrong node", a.connect_to(c.local_addr(), b.node_id())).await.unwrap_err();
    assert!(matches!(err, Error::Handshake(HandshakeError::UnexpectedPeer)), "got {err}");
}

#[tokio::test]
async fn a_removed_peer_is_disconnected_with_the_reason_and_cannot_come_back() {
    let server = Node::bind(per_peer(0x51)).await.unwrap();
    let client = Node::bind(per_peer(0xC1).peer_seed(server.node_id(), seed(0x42))).await.unwrap();
    let err =
        within(10, "connect before the server knows it", client.connect_to(server.local_addr(), server.node_id()))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Handshake(HandshakeError::PeerNotAllowed)), "got {err}");

    server.set_peer_seed(client.node_id(), seed(0x42));
    server.allow(client.node_id());
    let s = within(10, "connect", client.connect_to(server.local_addr(), server.node_id())).await.unwrap();
    within(10, "accept", server.accept()).await.unwrap();

    assert_eq!(server.remove_peer(client.node_id(), "key revoked"), 1);
    let reason = within(10, "closed", s.closed()).await;
    assert_eq!(reason, CloseReason::ClosedByPeer { code: close::PEER_REMOVED, reason: "key revoked".into() });
    let err = within(10, "connect after removal", client.connect_to(server.local_addr(), server.node_id()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Handshake(HandshakeError::PeerNotAllowed)), "got {err}");
}

#[tokio::test]
async fn rotate_keys_reaches_the_next_generation_and_data_keeps_flowing() {
    let mut cfg = config(1);
    cfg.endpoint.key_retention = Duration::from_millis(200);
    let server = Node::bind(cfg.clone()).await.unwrap();
    let client = Node::bind(cfg).await.unwrap();
    let s = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    s.rotate_keys().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.stats().unwrap().key_generations.0 < 1 {
        assert!(std::time::Instant::now() < deadline, "no rotation within 10 s");
        s.send_frame(0x90, &b"tick"[..]).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.send_frame(0x91, &b"after"[..]).unwrap();
    loop {
        let (ty, payload) = within(10, "frame", accepted.recv_frame()).await.unwrap();
        if ty == 0x91 {
            assert_eq!(&payload[..], b"after");
            break;
        }
    }
    assert_eq!(accepted.stats().unwrap().key_generations.1, 1, "the server receives under generation 1");
}
