//! Named endpoints over the simulator: announcements, resolve, routing into per-name queues,
//! full queues and unknown names answered to the sender, exactly-once queueing under loss,
//! duplication and reordering, and the node-wide directory of which peers serve a name.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use stt_proto::{Event, NameAddress, NameError, NameQueueLimits, NameReply, RequestId, SessionHandle};
use stt_tests::{Impairment, NodeIdx, Sim};

/// The replies `node` received, by request.
fn replies(sim: &Sim, node: NodeIdx) -> BTreeMap<RequestId, NameReply> {
    sim.events_of(node, |e| match e {
        Event::NameReply { request, reply, .. } => Some((*request, *reply)),
        _ => None,
    })
    .collect()
}

fn route(sim: &mut Sim, node: NodeIdx, h: SessionHandle, name: &str, data: &[u8]) -> RequestId {
    let id = sim.nodes[node].endpoint.session_mut(h).unwrap().route(NameAddress::of(name), data.to_vec()).unwrap();
    sim.flush(node);
    id
}

fn drain(sim: &mut Sim, node: NodeIdx, name: &str) -> Vec<Vec<u8>> {
    let addr = NameAddress::of(name);
    std::iter::from_fn(|| sim.nodes[node].endpoint.recv_named(&addr)).map(|m| m.data.to_vec()).collect()
}

fn wait_replies(sim: &mut Sim, node: NodeIdx, n: usize) {
    assert!(
        drive(sim, Duration::from_secs(60), |sim| replies(sim, node).len() >= n),
        "{} of {n} replies arrived",
        replies(sim, node).len()
    );
}

#[test]
fn routes_to_two_names_land_in_their_own_queues_and_an_unknown_name_is_an_error() {
    let (mut sim, c, s) = pair(70);
    let limits = NameQueueLimits::default();
    sim.nodes[s].endpoint.register_name(NameAddress::of("video_sink"), limits).unwrap();
    let (hc, _hs) = establish(&mut sim, c, s);
    sim.nodes[s].endpoint.register_name(NameAddress::of("telemetry_sink"), limits).unwrap();
    assert_eq!(
        sim.nodes[s].endpoint.register_name(NameAddress::of("video_sink"), limits),
        Err(NameError::AlreadyRegistered)
    );
    sim.flush(s);
    // The announcement made after the handshake reaches the client.
    assert!(drive(&mut sim, Duration::from_secs(5), |sim| {
        sim.nodes[c].endpoint.session(hc).unwrap().peer_names().len() == 2
    }));
    let mut announced = sim.nodes[c].endpoint.session(hc).unwrap().peer_names().to_vec();
    announced.sort();
    let mut want = vec![NameAddress::of("video_sink"), NameAddress::of("telemetry_sink")];
    want.sort();
    assert_eq!(announced, want);

    let mut m = sim.nodes[c].endpoint.session_mut(hc).unwrap();
    let served = m.resolve(NameAddress::of("video_sink")).unwrap();
    let missing = m.resolve(NameAddress::of("audio_sink")).unwrap();
    sim.flush(c);
    let v1 = route(&mut sim, c, hc, "video_sink", b"frame 1");
    let t1 = route(&mut sim, c, hc, "telemetry_sink", b"reading 1");
    let v2 = route(&mut sim, c, hc, "video_sink", b"frame 2");
    let lost = route(&mut sim, c, hc, "audio_sink", b"nobody");
    wait_replies(&mut sim, c, 6);
    let r = replies(&sim, c);
    assert_eq!(r[&served], NameReply::Ok);
    assert_eq!(r[&missing], NameReply::UnknownName);
    for id in [v1, t1, v2] {
        assert_eq!(r[&id], NameReply::Ok);
    }
    assert_eq!(r[&lost], NameReply::UnknownName, "routing to an unknown name is answered as an error");
    assert_eq!(drain(&mut sim, s, "video_sink"), vec![b"frame 1".to_vec(), b"frame 2".to_vec()]);
    assert_eq!(drain(&mut sim, s, "telemetry_sink"), vec![b"reading 1".to_vec()]);
    assert!(drain(&mut sim, s, "audio_sink").is_empty());
    let readable = sim.events_of(s, |e| matches!(e, Event::NameReadable { .. }).then_some(())).count();
    assert_eq!(readable, 3, "one readable event per queued message");

    // Unregistering is announced, and routes to the name fail from then on.
    assert!(sim.nodes[s].endpoint.unregister_name(&NameAddress::of("video_sink")));
    sim.flush(s);
    assert!(drive(&mut sim, Duration::from_secs(5), |sim| {
        sim.nodes[c].endpoint.session(hc).unwrap().peer_names() == [NameAddress::of("telemetry_sink")]
    }));
    let v3 = route(&mut sim, c, hc, "video_sink", b"frame 3");
    wait_replies(&mut sim, c, 7);
    assert_eq!(replies(&sim, c)[&v3], NameReply::UnknownName);
}

#[test]
fn a_full_queue_is_answered_and_takes_bytes_again_once_drained() {
    let (mut sim, c, s) = pair(71);
    let limits = NameQueueLimits { max_messages: 2, max_bytes: 1 << 20 };
    sim.nodes[s].endpoint.register_name(NameAddress::of("sink"), limits).unwrap();
    let (hc, _) = establish(&mut sim, c, s);
    let ids: Vec<_> = (0..3u8).map(|i| route(&mut sim, c, hc, "sink", &[i])).collect();
    wait_replies(&mut sim, c, 3);
    let r = replies(&sim, c);
    assert_eq!([r[&ids[0]], r[&ids[1]], r[&ids[2]]], [NameReply::Ok, NameReply::Ok, NameReply::QueueFull]);
    assert_eq!(drain(&mut sim, s, "sink"), vec![vec![0], vec![1]], "the refused message was not queued");
    let again = route(&mut sim, c, hc, "sink", &[2]);
    wait_replies(&mut sim, c, 4);
    assert_eq!(replies(&sim, c)[&again], NameReply::Ok);
    assert_eq!(drain(&mut sim, s, "sink"), vec![vec![2]]);

    // The byte bound holds too.
    let limits = NameQueueLimits { max_messages: 100, max_bytes: 1000 };
    sim.nodes[s].endpoint.register_name(NameAddress::of("small"), limits).unwrap();
    let a = route(&mut sim, c, hc, "small", &[7; 600]);
    let b = route(&mut sim, c, hc, "small", &[8; 600]);
    wait_replies(&mut sim, c, 6);
    let r = replies(&sim, c);
    assert_eq!((r[&a], r[&b]), (NameReply::Ok, NameReply::QueueFull));
}

#[test]
fn routed_bytes_are_queued_exactly_once_under_loss_duplication_and_reordering() {
    for seed in 0..4u64 {
        let (mut sim, c, s) = pair(720 + seed);
        let limits = NameQueueLimits { max_messages: 10_000, max_bytes: 16 << 20 };
        sim.nodes[s].endpoint.register_name(NameAddress::of("a"), limits).unwrap();
        sim.nodes[s].endpoint.register_name(NameAddress::of("b"), limits).unwrap();
        let (hc, _) = establish(&mut sim, c, s);
        sim.default_link = Impairment {
            loss: 0.25,
            duplicate: 0.1,
            reorder: 0.2,
            reorder_window: Duration::from_millis(20),
            delay: Duration::from_millis(5),
            ..Default::default()
        };
        let total = 600usize;
        let mut sent = 0usize;
        let done = drive(&mut sim, Duration::from_secs(300), |sim| {
            while sent < total {
                let name = if sent.is_multiple_of(3) { "b" } else { "a" };
                let payload = (sent as u32).to_be_bytes().repeat(1 + sent % 50);
                match sim.nodes[c].endpoint.session_mut(hc).unwrap().route(NameAddress::of(name), payload) {
                    Ok(_) => sent += 1,
                    Err(NameError::TooManyInFlight) => break,
                    Err(e) => panic!("route failed: {e}"),
                }
            }
            sim.flush(c);
            replies(sim, c).len() == total
        });
        assert!(done, "seed {seed}: {} of {total} replies", replies(&sim, c).len());
        assert!(replies(&sim, c).values().all(|r| *r == NameReply::Ok));
        let mut got: Vec<u32> = ["a", "b"]
            .iter()
            .flat_map(|n| drain(&mut sim, s, n))
            .map(|m| u32::from_be_bytes(m[..4].try_into().unwrap()))
            .collect();
        got.sort();
        assert_eq!(got, (0..total as u32).collect::<Vec<_>>(), "seed {seed}: every message exactly once");
        let lost = sim.nodes[c].endpoint.session(hc).unwrap().path_stats().lost_frames;
        assert!(lost > 0, "seed {seed}: the link lost frames, so requests were repeated");
    }
}

#[test]
fn requests_are_bounded_and_checked_before_anything_is_sent() {
    let (mut sim, c, s) = pair(73);
    let (hc, _) = establish(&mut sim, c, s);
    sim.set_online(s, false);
    let mut m = sim.nodes[c].endpoint.session_mut(hc).unwrap();
    let max = m.as_ref().max_route_payload();
    assert_eq!(max, 1472 - 52 - 41);
    assert_eq!(m.route(NameAddress::of("x"), vec![0; max + 1]), Err(NameError::TooLarge { len: max + 1, max }));
    for _ in 0..stt_proto::names::REQUEST_WINDOW {
        m.route(NameAddress::of("x"), vec![0; 10]).unwrap();
    }
    assert_eq!(m.resolve(NameAddress::of("x")), Err(NameError::TooManyInFlight));
    // A node serves at most MAX_NAMES names.
    for i in 0..stt_proto::names::MAX_NAMES {
        sim.nodes[s].endpoint.register_name(NameAddress::of(&format!("n{i}")), NameQueueLimits::default()).unwrap();
    }
    assert!(matches!(
        sim.nodes[s].endpoint.register_name(NameAddress::of("one more"), NameQueueLimits::default()),
        Err(NameError::TooManyNames { .. })
    ));
}

#[test]
fn a_thousand_names_are_announced_in_pieces_under_loss_and_every_change_arrives() {
    let (mut sim, c, s) = pair(74);
    let limits = NameQueueLimits::default();
    let names: Vec<String> = (0..1000).map(|i| format!("sensor/{i}")).collect();
    for n in &names {
        sim.nodes[s].endpoint.register_name(NameAddress::of(n), limits).unwrap();
    }
    let (hc, _) = establish(&mut sim, c, s);
    sim.default_link = Impairment { loss: 0.2, reorder: 0.2, duplicate: 0.05, ..Default::default() };
    let mut want: Vec<NameAddress> = names.iter().map(|n| NameAddress::of(n)).collect();
    want.sort();
    let announced = |sim: &Sim| sim.nodes[c].endpoint.session(hc).unwrap().peer_names().to_vec();
    assert!(
        drive(&mut sim, Duration::from_secs(60), |sim| announced(sim) == want),
        "the peer holds {} of 1000 names",
        announced(&sim).len()
    );

    // A change mid-way: the newer list replaces the older one whole, never a mix.
    sim.nodes[s].endpoint.unregister_name(&NameAddress::of("sensor/0"));
    sim.nodes[s].endpoint.register_name(NameAddress::of("sensor/1000"), limits).unwrap();
    sim.flush(s);
    want.retain(|a| *a != NameAddress::of("sensor/0"));
    want.push(NameAddress::of("sensor/1000"));
    want.sort();
    assert!(drive(&mut sim, Duration::from_secs(60), |sim| announced(sim) == want));
    let changes = sim.events_of(c, |e| matches!(e, Event::PeerNamesChanged { .. }).then_some(())).count();
    assert_eq!(changes, 2, "one event per complete list");

    // The last name resolves and takes routed bytes.
    let id = route(&mut sim, c, hc, "sensor/999", b"reading");
    wait_replies(&mut sim, c, 1);
    assert_eq!(replies(&sim, c)[&id], NameReply::Ok);
    assert_eq!(drain(&mut sim, s, "sensor/999"), [b"reading".to_vec()]);
}

/// The node-wide directory (`Endpoint::sessions_serving`): of two peers that serve a name, the
/// nearer one (the lower smoothed round-trip time) comes first, and a peer that stops serving
/// it leaves the directory when its announcement arrives.
#[test]
fn the_directory_lists_the_peers_serving_a_name_nearest_first() {
    let mut sim = Sim::new(4300);
    let hub = sim.add_node(config(), seed(1));
    let near = sim.add_node(config(), seed(2));
    let far = sim.add_node(config(), seed(3));
    for (n, ms) in [(near, 5), (far, 40)] {
        let imp = Impairment { delay: Duration::from_millis(ms), ..Default::default() };
        sim.set_link(hub, n, imp);
        sim.set_link(n, hub, imp);
        sim.nodes[n].endpoint.register_name(NameAddress::of("viewer"), NameQueueLimits::default()).unwrap();
    }
    // The far peer connects first: order of establishment does not decide.
    let (to_far, _) = establish(&mut sim, hub, far);
    let (to_near, _) = establish(&mut sim, hub, near);
    for _ in 0..5 {
        for h in [to_far, to_near] {
            sim.nodes[hub].endpoint.session_mut(h).unwrap().ping().unwrap();
        }
        sim.flush(hub);
        sim.run_for(Duration::from_millis(200));
    }
    let viewer = NameAddress::of("viewer");
    assert_eq!(sim.nodes[hub].endpoint.sessions_serving(&viewer), [to_near, to_far]);
    assert!(sim.nodes[hub].endpoint.sessions_serving(&NameAddress::of("nobody")).is_empty());
    assert!(sim.nodes[near].endpoint.unregister_name(&viewer));
    sim.flush(near);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.nodes[hub].endpoint.sessions_serving(&viewer), [to_far]);
}
