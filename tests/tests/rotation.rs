//! Rotating the default shared seed while the node runs, over the simulator: after the
//! rotation new handshakes use the new seed, peers still on the old one are accepted (in either
//! handshake) until the previous seed is retired, and retiring it closes exactly the sessions
//! opened under it, with a code that says why.

mod common;

use std::time::Duration;

use common::*;
use stt_proto::{close, CloseReason, Event, HandshakeError, Seed, SessionHandle};
use stt_tests::{NodeIdx, Sim};

const OLD: [u8; 32] = [0x0A; 32];
const NEW: [u8; 32] = [0x0B; 32];

fn closed_with(sim: &Sim, node: NodeIdx, session: SessionHandle) -> Option<CloseReason> {
    sim.events_of(node, |e| match e {
        Event::SessionClosed { session: s, reason } if *s == session => Some(reason.clone()),
        _ => None,
    })
    .next()
}

#[test]
fn old_seed_peers_are_served_until_the_previous_seed_is_retired() {
    let mut sim = Sim::new(4400);
    let server = sim.add_node(config_with(OLD), seed(1));
    let early = sim.add_node(config_with(OLD), seed(2));
    let (early_s, _) = establish(&mut sim, early, server);

    let now = sim.now;
    assert_eq!(sim.nodes[server].endpoint.rotate_shared_seed(now, Seed::new(&NEW).unwrap()), 0);
    // A peer given the new seed connects...
    let updated = sim.add_node(config_with(NEW), seed(3));
    let (updated_s, _) = establish(&mut sim, updated, server);
    // ...and so does one still on the old seed, in two round trips and then in one.
    let late = sim.add_node(config_with(OLD), seed(4));
    let (late_s1, _) = establish(&mut sim, late, server);
    let fast_before = sim.nodes[server].endpoint.stats().one_round_trip_accepted;
    let (late_s2, _) = establish(&mut sim, late, server);
    assert_eq!(sim.nodes[server].endpoint.stats().one_round_trip_accepted, fast_before + 1);
    // The server itself now opens sessions with the new seed.
    let (out_s, _) = establish(&mut sim, server, updated);
    assert_eq!(sim.nodes[server].endpoint.session_count(), 5, "four as responder, one as initiator");

    // The grace period ends: the old seed's sessions close, with the code that says why.
    let now = sim.now;
    assert_eq!(sim.nodes[server].endpoint.retire_previous_seed(now, "seed rotated"), 3);
    sim.flush(server);
    sim.run_for(Duration::from_secs(1));
    for (node, s) in [(early, early_s), (late, late_s1), (late, late_s2)] {
        assert_eq!(
            closed_with(&sim, node, s),
            Some(CloseReason::ClosedByPeer { code: close::SEED_RETIRED, reason: "seed rotated".into() })
        );
    }
    for (node, s) in [(updated, updated_s), (server, out_s)] {
        assert!(sim.nodes[node].endpoint.session(s).is_some(), "a session under the new seed stays open");
    }
    // The old seed is refused from now on.
    let refused = sim.add_node(config_with(OLD), seed(5));
    sim.connect(refused, server);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(handshake_failures(&sim, refused), [HandshakeError::AuthenticationFailed]);
    assert_eq!(sim.nodes[server].endpoint.retire_previous_seed(sim.now, "again"), 0, "nothing left to retire");
}

#[test]
fn a_second_rotation_retires_the_first_and_a_handshake_under_way_fails_with_its_reason() {
    let mut sim = Sim::new(4401);
    let server = sim.add_node(config_with(OLD), seed(1));
    let client = sim.add_node(config_with(OLD), seed(2));
    let (first, _) = establish(&mut sim, client, server);
    // The client rotates while a handshake of its own is under way with the old seed.
    let pending = sim.connect(client, server);
    let now = sim.now;
    sim.nodes[client].endpoint.rotate_shared_seed(now, Seed::new(&NEW).unwrap());
    let now = sim.now;
    let closed = sim.nodes[client].endpoint.rotate_shared_seed(now, Seed::new(&[0x0C; 32]).unwrap());
    assert_eq!(closed, 1, "the second rotation retired the first: its one open session closed");
    sim.flush(client);
    sim.run_for(Duration::from_secs(1));
    assert!(matches!(
        closed_with(&sim, server, last_established(&sim, server)),
        Some(CloseReason::ClosedByPeer { code: close::SEED_RETIRED, .. })
    ));
    let failed = sim.events_of(client, |e| match e {
        Event::HandshakeFailed { session: Some(s), reason, .. } if *s == pending => Some(*reason),
        _ => None,
    });
    assert_eq!(failed.collect::<Vec<_>>(), [HandshakeError::SeedRetired]);
    assert!(sim.nodes[client].endpoint.session(first).is_none());
}

/// A session opened with the default seed is retired with it even if its peer was given a seed
/// of its own since (the session keeps the keys it was opened with); a session opened with a
/// peer's own seed is never touched by a rotation.
#[test]
fn retirement_follows_the_seed_a_session_was_opened_with() {
    let mut sim = Sim::new(4402);
    let server = sim.add_node(config_with(OLD), seed(1));
    let client = sim.add_node(config_with(OLD), seed(2));
    let own = sim.add_node(config_with([0x0D; 32]), seed(3));
    let own_id = stt_proto::Identity::from_seed_bytes(&seed(3)).unwrap().node_id();
    sim.nodes[server].endpoint.set_peer_seed(own_id, Seed::new(&[0x0D; 32]).unwrap());
    let (by_default, _) = establish(&mut sim, client, server);
    let (by_own, _) = establish(&mut sim, own, server);
    // The client is given a seed of its own after its session opened with the default one.
    let client_id = stt_proto::Identity::from_seed_bytes(&seed(2)).unwrap().node_id();
    sim.nodes[server].endpoint.set_peer_seed(client_id, Seed::new(&[0x0E; 32]).unwrap());
    let now = sim.now;
    sim.nodes[server].endpoint.rotate_shared_seed(now, Seed::new(&NEW).unwrap());
    let now = sim.now;
    assert_eq!(sim.nodes[server].endpoint.retire_previous_seed(now, "rotated"), 1);
    sim.flush(server);
    sim.run_for(Duration::from_secs(1));
    assert!(matches!(
        closed_with(&sim, client, by_default),
        Some(CloseReason::ClosedByPeer { code: close::SEED_RETIRED, .. })
    ));
    assert!(sim.nodes[own].endpoint.session(by_own).is_some(), "a peer's own seed is not rotated");
}
