//! A node bound as several shards on real sockets: one port, a session in each shard its id
//! names, data both ways whichever shard opened the session, and what a shard refuses.

mod common;

use common::*;
use stt_tokio::{Channel, Error, Node, Session, Shard};

const SHARDS: u16 = 4;

/// Echoes every message of every session `node` accepts, until it stops; the receiver gets each
/// accepted session's id.
fn echo_on(node: Node) -> tokio::sync::mpsc::UnboundedReceiver<u64> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(session) = node.accept().await {
            let _ = tx.send(session.session_id());
            tokio::spawn(async move {
                while let Ok(m) = session.recv_message().await {
                    if session.send_message(Channel::Frame(0x80), m.payload).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    rx
}

async fn round_trip(session: &Session, payload: Vec<u8>) {
    within(10, "send", session.send_message(Channel::Frame(0x80), payload.clone())).await.unwrap();
    let back = within(10, "echo", session.recv_message()).await.unwrap();
    assert_eq!(back.payload, payload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shard_accepts_sessions_in_its_own_ids_on_one_port() {
    let shards = Node::bind_shards(config(1), SHARDS).await.unwrap();
    let port = shards[0].local_addr();
    assert!(shards.iter().all(|s| s.local_addr() == port), "one port for the whole node");
    assert!(shards.iter().all(|s| s.node_id() == shards[0].node_id()), "one identity");
    let mut accepted_on: Vec<_> = shards.iter().map(|s| echo_on(s.clone())).collect();

    let mut clients = Vec::new();
    for i in 0..40u64 {
        let client = node(1).await;
        let session = within(10, "connect", client.connect(port)).await.unwrap();
        round_trip(&session, pattern(3000, i)).await;
        clients.push((client, session));
    }
    let mut total = 0;
    for (i, rx) in accepted_on.iter_mut().enumerate() {
        let mut ids = Vec::new();
        while let Ok(id) = rx.try_recv() {
            ids.push(id);
        }
        assert!(!ids.is_empty(), "shard {i} accepted sessions");
        let shard = Shard::new(i as u16, SHARDS).unwrap();
        assert!(ids.iter().all(|&id| shard.owner_of(id) == i as u16), "shard {i} holds only ids it owns");
        total += ids.len();
    }
    assert_eq!(total, clients.len());
    let handed_on: u64 = shards.iter().map(|s| s.stats().driver.handed_on).sum();
    if cfg!(target_os = "linux") {
        assert_eq!(handed_on, 0, "the kernel steered every datagram to its session's shard");
    }
    let established: u64 = shards.iter().map(|s| s.stats().endpoint.sessions_established).sum();
    assert_eq!(established, clients.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_to_sessions_a_shard_opened_come_back_to_it() {
    let server = node(2).await;
    let _accepted = echo_on(server.clone());
    let shards = Node::bind_shards(config(2), SHARDS).await.unwrap();
    let mut sessions = Vec::new();
    for (i, shard) in shards.iter().enumerate() {
        for k in 0..4u64 {
            let session = within(10, "connect", shard.connect(server.local_addr())).await.unwrap();
            round_trip(&session, pattern(2000, i as u64 * 10 + k)).await;
            sessions.push((i, session));
        }
    }
    let foreign = sessions
        .iter()
        .filter(|(i, s)| Shard::new(*i as u16, SHARDS).unwrap().owner_of(s.session_id()) != *i as u16)
        .count();
    assert!(foreign > 0, "the peer chose ids that name other shards");
    let handed_on: u64 = shards.iter().map(|s| s.stats().driver.handed_on).sum();
    assert!(handed_on > 0, "their answers were handed on to the shard that opened them");
    // And again after a while, with keys rotated: nothing is lost on the way between shards.
    for (_, s) in &sessions {
        s.rotate_keys().unwrap();
    }
    for (k, (_, s)) in sessions.iter().enumerate() {
        round_trip(s, pattern(5000, 100 + k as u64)).await;
    }
    for (_, s) in &sessions {
        s.close(0, "done").await;
    }
    for shard in &shards {
        assert_eq!(shard.stats().sessions, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_refuses_what_it_cannot_do() {
    assert!(matches!(Node::bind_shards(config(3), 0).await, Err(Error::Config(_))));
    assert!(matches!(Node::bind_shards(config(3), Shard::MAX_COUNT + 1).await, Err(Error::Config(_))));
    let shards = Node::bind_shards(config(3), 2).await.unwrap();
    let err = shards[1].rebind(LOCAL.parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("sharded"), "{err}");
}
