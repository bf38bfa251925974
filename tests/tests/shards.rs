//! One node as sixteen shards at one address, over the simulator: every session lives in the
//! shard its id names, datagrams reach it whichever shard the address steered them to (by id,
//! as the drivers' steering program does, or by source, as the kernel does without one), and
//! the session survives what a session does: data both ways, key rotation, a client moving to a
//! new address, and close. A shard that opens a session itself gets the answers, though the
//! session id is its peer's choice and may name another shard.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use stt_proto::{Event, SessionHandle, Shard};
use stt_tests::{NodeIdx, Sim, Steering};

const SHARDS: u16 = 16;
const CLIENTS: usize = 160;

fn node_addr() -> SocketAddr {
    "10.99.0.1:4433".parse().unwrap()
}

/// The sessions each shard established, with their ids.
fn established_by_shard(sim: &Sim, shards: &[NodeIdx]) -> Vec<Vec<(SessionHandle, u64)>> {
    shards
        .iter()
        .map(|&n| {
            sim.events_of(n, |e| match e {
                Event::SessionEstablished { session, .. } => Some(*session),
                _ => None,
            })
            .filter_map(|h| sim.nodes[n].endpoint.session(h).map(|s| (h, s.session_id())))
            .collect()
        })
        .collect()
}

fn frames_received(sim: &Sim, node: NodeIdx, ty: u8) -> usize {
    sim.events_of(node, |e| matches!(e, Event::Frame { frame_type, .. } if *frame_type == ty).then_some(())).count()
}

fn frames_received_all(sim: &Sim, nodes: &[NodeIdx], ty: u8) -> usize {
    nodes.iter().map(|&n| frames_received(sim, n, ty)).sum()
}

fn sixteen_shards_carry_sessions_through_their_life(steering: Steering, sim_seed: u64) {
    let mut sim = Sim::new(sim_seed);
    let shards = sim.add_sharded_node(config(), seed(1), node_addr(), SHARDS, steering);
    let clients: Vec<NodeIdx> = (0..CLIENTS).map(|i| sim.add_node(config(), seed(10 + i as u8))).collect();
    let mut handles = Vec::new();
    for &c in &clients {
        let to = sim.nodes[shards[0]].addr;
        let now = sim.now;
        handles.push(sim.nodes[c].endpoint.connect(now, stt_proto::Remote::udp(to)).unwrap());
        sim.flush(c);
    }
    assert!(
        sim.run_until(Duration::from_secs(30), |sim| clients.iter().all(|&c| sim.established(c) == 1)),
        "every client's handshake completes"
    );
    sim.run_for(Duration::from_millis(200));

    // Every session is in the shard its id names, and every shard has some.
    let by_shard = established_by_shard(&sim, &shards);
    assert_eq!(by_shard.iter().map(Vec::len).sum::<usize>(), CLIENTS, "one session per client, in one shard");
    for (i, sessions) in by_shard.iter().enumerate() {
        assert!(!sessions.is_empty(), "shard {i} holds sessions");
        let shard = Shard::new(i as u16, SHARDS).unwrap();
        for &(_, id) in sessions {
            assert_eq!(shard.owner_of(id), i as u16, "session {id:016x} is in the shard its id names");
        }
    }
    for (&c, &h) in clients.iter().zip(&handles) {
        let id = sim.nodes[c].endpoint.session(h).unwrap().session_id();
        assert!(by_shard.iter().flatten().any(|&(_, s)| s == id), "the client's session id is the shard's");
    }

    // Data both ways.
    for (&c, &h) in clients.iter().zip(&handles) {
        send(&mut sim, c, h, 0x80, b"up");
    }
    for (i, sessions) in by_shard.iter().enumerate() {
        for &(h, _) in sessions {
            send(&mut sim, shards[i], h, 0x81, b"down");
        }
    }
    assert!(
        sim.run_until(Duration::from_secs(10), |sim| frames_received_all(sim, &shards, 0x80) == CLIENTS
            && frames_received_all(sim, &clients, 0x81) == CLIENTS),
        "every frame arrives, each at its session's shard"
    );
    for (i, sessions) in by_shard.iter().enumerate() {
        assert_eq!(frames_received(&sim, shards[i], 0x80), sessions.len(), "shard {i} got its own sessions' frames");
    }
    match steering {
        Steering::ById => assert_eq!(sim.forwarded, 0, "steered by id, no datagram is handed on"),
        Steering::BySource => assert!(sim.forwarded > 0, "steered by source, datagrams are handed on"),
    }

    // Key rotation from either side, then data again.
    for (k, (&c, &h)) in clients.iter().zip(&handles).enumerate() {
        if k % 2 == 0 {
            sim.nodes[c].endpoint.session_mut(h).unwrap().rotate_keys().unwrap();
            sim.flush(c);
        }
    }
    for (i, sessions) in by_shard.iter().enumerate() {
        for &(h, _) in sessions.iter().skip(1).step_by(2) {
            sim.nodes[shards[i]].endpoint.session_mut(h).unwrap().rotate_keys().unwrap();
            sim.flush(shards[i]);
        }
    }
    // A key is replaced once it is the retention time old (3 s).
    sim.run_for(Duration::from_secs(4));
    for (&c, &h) in clients.iter().zip(&handles) {
        send(&mut sim, c, h, 0x82, b"after rotation");
    }
    for (i, sessions) in by_shard.iter().enumerate() {
        for &(h, _) in sessions {
            send(&mut sim, shards[i], h, 0x84, b"after rotation");
        }
    }
    assert!(
        sim.run_until(Duration::from_secs(10), |sim| frames_received_all(sim, &shards, 0x82) == CLIENTS
            && frames_received_all(sim, &clients, 0x84) == CLIENTS),
        "frames under the new keys arrive both ways"
    );
    let send_generation =
        |node: NodeIdx, h: SessionHandle| sim.nodes[node].endpoint.session(h).unwrap().stats().key_generations.0;
    for (k, (&c, &h)) in clients.iter().zip(&handles).enumerate() {
        if k % 2 == 0 {
            assert!(send_generation(c, h) > 0, "client {k} sends under a new key");
        }
    }
    for (i, sessions) in by_shard.iter().enumerate() {
        for &(h, _) in sessions.iter().skip(1).step_by(2) {
            assert!(send_generation(shards[i], h) > 0, "shard {i} sends under a new key");
        }
    }

    // A quarter of the clients move to a new address; their sessions follow them in their shard.
    let movers: Vec<usize> = (0..CLIENTS).step_by(4).collect();
    for &k in &movers {
        let addr: SocketAddr = format!("10.200.{}.{}:5000", k / 256, k % 256).parse().unwrap();
        sim.rebind(clients[k], addr);
        send(&mut sim, clients[k], handles[k], 0x83, b"from a new address");
    }
    assert!(
        sim.run_until(Duration::from_secs(10), |sim| frames_received_all(sim, &shards, 0x83) == movers.len()),
        "frames from new addresses reach the sessions' shards"
    );
    sim.run_for(Duration::from_secs(1));
    let migrated: usize = shards
        .iter()
        .map(|&n| sim.events_of(n, |e| matches!(e, Event::SessionMigrated { .. }).then_some(())).count())
        .sum();
    assert_eq!(migrated, movers.len(), "each moved session migrated once, in its own shard");
    assert_eq!(
        shards.iter().map(|&n| sim.nodes[n].endpoint.session_count()).sum::<usize>(),
        CLIENTS,
        "no session was made or lost by the move"
    );

    // Close from the clients: every shard ends empty.
    for (&c, &h) in clients.iter().zip(&handles) {
        let now = sim.now;
        sim.nodes[c].endpoint.session_mut(h).unwrap().close(now, 0, "done");
        sim.flush(c);
    }
    sim.run_for(Duration::from_secs(5));
    for (i, &n) in shards.iter().enumerate() {
        assert_eq!(sim.nodes[n].endpoint.session_count(), 0, "shard {i} closed all its sessions");
        let closed = sim.events_of(n, |e| matches!(e, Event::SessionClosed { .. }).then_some(())).count();
        assert_eq!(closed, by_shard[i].len(), "shard {i} reported each of its sessions closed once");
    }
}

#[test]
fn sixteen_shards_steered_by_session_id() {
    sixteen_shards_carry_sessions_through_their_life(Steering::ById, 3100);
}

#[test]
fn sixteen_shards_steered_by_source_address_hand_datagrams_on() {
    sixteen_shards_carry_sessions_through_their_life(Steering::BySource, 3101);
}

#[test]
fn sessions_a_shard_opens_get_their_answers_whichever_shard_the_id_names() {
    let mut sim = Sim::new(3102);
    let shards = sim.add_sharded_node(config(), seed(1), node_addr(), SHARDS, Steering::ById);
    let server = sim.add_node(config(), seed(2));
    let mut opened = Vec::new();
    for &s in &shards {
        opened.push((s, sim.connect(s, server)));
    }
    assert!(
        sim.run_until(Duration::from_secs(30), |sim| shards.iter().all(|&s| sim.established(s) == 1)),
        "every shard's handshake completes"
    );
    // Most of these ids are owned by another shard than the one that opened the session.
    let foreign = opened
        .iter()
        .enumerate()
        .filter(|&(i, &(s, h))| {
            let id = sim.nodes[s].endpoint.session(h).unwrap().session_id();
            Shard::new(i as u16, SHARDS).unwrap().owner_of(id) != i as u16
        })
        .count();
    assert!(foreign > 0, "some session ids name another shard ({foreign})");
    for &(s, h) in &opened {
        send(&mut sim, s, h, 0x90, b"ping");
    }
    assert!(sim.run_until(Duration::from_secs(10), |sim| frames_received(sim, server, 0x90) == opened.len()));
    let server_sessions: Vec<SessionHandle> = sim
        .events_of(server, |e| match e {
            Event::SessionEstablished { session, .. } => Some(*session),
            _ => None,
        })
        .collect();
    for &h in &server_sessions {
        send(&mut sim, server, h, 0x91, b"pong");
    }
    assert!(
        sim.run_until(Duration::from_secs(10), |sim| shards.iter().all(|&s| frames_received(sim, s, 0x91) == 1)),
        "each shard gets the answer on the session it opened"
    );
    assert!(sim.forwarded > 0, "answers on ids another shard owns were handed on");
    for &h in &server_sessions {
        let now = sim.now;
        sim.nodes[server].endpoint.session_mut(h).unwrap().close(now, 0, "bye");
        sim.flush(server);
    }
    sim.run_for(Duration::from_secs(5));
    for &s in &shards {
        assert_eq!(sim.nodes[s].endpoint.session_count(), 0, "the peer's close reached every shard");
    }
}

#[test]
fn a_shard_is_one_of_at_most_1024() {
    assert!(Shard::new(0, 0).is_err());
    assert!(Shard::new(3, 3).is_err());
    assert!(Shard::new(0, Shard::MAX_COUNT + 1).is_err());
    let s = Shard::new(5, 16).unwrap();
    assert_eq!((s.index(), s.count(), s.owner_of(0x25)), (5, 16, 5));
    assert_eq!(Shard::SINGLE.owner_of(u64::MAX), 0);
}
