//! Attacks by a peer that holds the seed, on the stream layer: opening streams past the limit,
//! again and again after being refused. `docs/SECURITY.md` lists what these tests defend.

mod common;

use std::time::Duration;

use common::*;
use stt_proto::{close, CloseReason, Event, StreamMode, MAX_REFUSALS};

#[test]
fn a_peer_that_keeps_opening_refused_streams_is_disconnected() {
    let mut sim = stt_tests::Sim::new(81);
    let mut greedy = config();
    greedy.max_concurrent_streams = stt_proto::MAX_CONCURRENT_STREAMS;
    let c = sim.add_node(greedy, seed(1));
    let mut strict = config();
    strict.max_concurrent_streams = 2;
    let s = sim.add_node(strict, seed(2));
    let (hc, _) = establish(&mut sim, c, s);
    // Far more streams than the victim allows, each with one byte, in rounds (as a flood
    // would send them: each frame names a new stream).
    let streams = MAX_REFUSALS as usize + 4_000;
    let mut opened = 0;
    while opened < streams {
        let Some(mut m) = sim.nodes[c].endpoint.session_mut(hc) else { break };
        for _ in 0..500 {
            let id = m.open_stream(StreamMode::Reliable).unwrap();
            m.write(id, b"x").unwrap();
        }
        opened += 500;
        sim.flush(c);
        sim.run_for(Duration::from_millis(20));
    }
    sim.run_for(Duration::from_millis(500));
    let closed_by_victim = sim.nodes[s].events.iter().any(|e| {
        matches!(e, Event::SessionClosed { reason: CloseReason::ClosedLocally { code, .. }, .. }
            if *code == close::STREAM_LIMIT_ABUSED)
    });
    assert!(closed_by_victim, "the victim closes a session that opened {opened} streams past its limit of 2");
    let told = sim.nodes[c].events.iter().any(|e| {
        matches!(e, Event::SessionClosed { reason: CloseReason::ClosedByPeer { code, .. }, .. }
            if *code == close::STREAM_LIMIT_ABUSED)
    });
    assert!(told, "the peer learns why (DISCONNECT with the code)");
    let refused = sim.nodes[s].endpoint.stats().datagrams_sent;
    assert!(
        refused < MAX_REFUSALS + 2_000,
        "the victim answered with at most one refusal per refused stream ({refused} datagrams)"
    );
}
