//! Attacks on the session table: one address or one peer opening sessions until nothing is left
//! for anyone else. `docs/SECURITY.md` lists what these tests defend.

mod common;

use common::*;

#[test]
fn one_peer_and_one_address_hold_at_most_their_caps() {
    let mut sim = stt_tests::Sim::new(91);
    let mut server_cfg = config();
    server_cfg.max_sessions_per_peer = 8;
    server_cfg.max_sessions_per_address = 12;
    let server = sim.add_node(server_cfg, seed(2));
    // One greedy peer: 20 sessions asked, 8 accepted.
    let greedy = sim.add_node(config(), seed(1));
    for _ in 0..20 {
        sim.connect(greedy, server);
    }
    sim.run_for(std::time::Duration::from_secs(2));
    assert_eq!(sim.established(server), 8, "the per-peer cap holds");
    assert!(sim.nodes[server].endpoint.stats().dropped.source_limit > 0, "the refusals are counted");
    // Another peer at the same address (another port): 4 more fit under the per-address cap.
    let same_host = sim.add_node_at(config(), seed(3), "10.0.0.1:9999".parse().unwrap());
    let greedy_addr = sim.nodes[greedy].addr;
    assert_eq!(greedy_addr.ip(), sim.nodes[same_host].addr.ip(), "both peers share one address");
    for _ in 0..10 {
        sim.connect(same_host, server);
    }
    sim.run_for(std::time::Duration::from_secs(2));
    assert_eq!(sim.established(server), 12, "the per-address cap holds");
    // A peer from elsewhere still gets in.
    let other = sim.add_node_at(config(), seed(4), "10.9.9.9:1000".parse().unwrap());
    sim.connect(other, server);
    sim.run_for(std::time::Duration::from_secs(2));
    assert_eq!(sim.established(server), 13, "an honest peer from another address is accepted");
}
