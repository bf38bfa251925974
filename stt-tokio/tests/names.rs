//! Named endpoints between two tokio nodes on loopback: routing to two names lands in the right
//! queues, an unknown name and a full queue are errors at the sender, and a dropped endpoint is
//! no longer served; a node routes to whichever of its peers serves a name.

mod common;

use common::*;
use stt_tokio::{Error, NameAddress, NameQueueLimits};

#[tokio::test]
async fn routes_to_two_names_land_in_their_queues_and_errors_reach_the_sender() {
    let server = node(1).await;
    let client = node(1).await;
    let video = server.serve_name("video_sink", NameQueueLimits::default()).unwrap();
    let small = NameQueueLimits { max_messages: 2, max_bytes: 1 << 20 };
    let telemetry = server.serve_name("telemetry_sink", small).unwrap();
    assert!(matches!(
        server.serve_name("video_sink", NameQueueLimits::default()),
        Err(Error::Name(stt_tokio::stt_proto::NameError::AlreadyRegistered))
    ));
    let session = within(10, "connect", client.connect(server.local_addr())).await.unwrap();

    assert!(session.resolve("video_sink").await.unwrap());
    assert!(!session.resolve("audio_sink").await.unwrap());
    let mut names = session.peer_names();
    names.sort();
    let mut want = vec![NameAddress::of("video_sink"), NameAddress::of("telemetry_sink")];
    want.sort();
    assert_eq!(names, want, "the server announced the names it serves");

    session.route("video_sink", &b"frame 1"[..]).await.unwrap();
    session.route("telemetry_sink", &b"reading 1"[..]).await.unwrap();
    session.route("video_sink", &b"frame 2"[..]).await.unwrap();
    session.route("telemetry_sink", &b"reading 2"[..]).await.unwrap();
    match session.route("telemetry_sink", &b"reading 3"[..]).await {
        Err(Error::NameQueueFull(name)) => assert_eq!(name, "telemetry_sink"),
        other => panic!("a third message to a 2-message queue: {other:?}"),
    }
    match session.route("audio_sink", &b"nobody"[..]).await {
        Err(Error::UnknownName(name)) => assert_eq!(name, "audio_sink"),
        other => panic!("routing to an unknown name: {other:?}"),
    }
    let v1 = within(5, "video", video.recv()).await.unwrap();
    assert_eq!(&v1.data[..], b"frame 1");
    assert_eq!(v1.session.unwrap().peer(), client.node_id());
    assert_eq!(&video.recv().await.unwrap().data[..], b"frame 2");
    assert_eq!(&telemetry.recv().await.unwrap().data[..], b"reading 1");
    assert_eq!(&telemetry.recv().await.unwrap().data[..], b"reading 2");
    assert!(video.try_recv().is_none() && telemetry.try_recv().is_none(), "nothing else was queued");
    // Drained: the queue takes messages again.
    session.route("telemetry_sink", &b"reading 3"[..]).await.unwrap();
    assert_eq!(&telemetry.recv().await.unwrap().data[..], b"reading 3");

    // Too large for one routed message: refused before anything is sent.
    let max = session.max_route_payload().unwrap();
    assert!(matches!(
        session.route("video_sink", vec![0u8; max + 1]).await,
        Err(Error::Name(stt_tokio::stt_proto::NameError::TooLarge { .. }))
    ));

    // A dropped endpoint is no longer served.
    drop(video);
    assert!(matches!(session.route("video_sink", &b"frame 3"[..]).await, Err(Error::UnknownName(_))));
}

#[tokio::test]
async fn many_routes_in_flight_wait_for_room_instead_of_failing() {
    let server = node(2).await;
    let client = node(2).await;
    let sink = server.serve_name("sink", NameQueueLimits { max_messages: 5000, max_bytes: 64 << 20 }).unwrap();
    let session = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    // 1000 concurrent routes: more than the 256 a session may have unanswered.
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..1000u32 {
        let s = session.clone();
        tasks.push(tokio::spawn(async move { s.route("sink", i.to_be_bytes().to_vec()).await }));
    }
    for t in tasks {
        within(30, "route", t).await.unwrap().unwrap();
    }
    let took = started.elapsed();
    println!("1000 routes answered in {took:?} ({:.0} routes/s)", 1000.0 / took.as_secs_f64());
    let mut got: Vec<u32> =
        (0..1000).map(|_| u32::from_be_bytes(sink.try_recv().expect("queued").data[..].try_into().unwrap())).collect();
    got.sort();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_node_serving_five_hundred_names_is_reached_at_the_last_one() {
    let server = node(1).await;
    let client = node(1).await;
    let served: Vec<_> =
        (0..500).map(|i| server.serve_name(&format!("sink {i}"), NameQueueLimits::default()).unwrap()).collect();
    let session = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    assert!(session.resolve("sink 499").await.unwrap());
    session.route("sink 499", &b"to the 500th"[..]).await.unwrap();
    let got = within(10, "recv", served[499].recv()).await.unwrap();
    assert_eq!(&got.data[..], b"to the 500th");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while session.peer_names().len() != 500 {
        assert!(std::time::Instant::now() < deadline, "announced: {}", session.peer_names().len());
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(session.peer_names().contains(&NameAddress::of("sink 499")));
}

/// The node-wide directory: a hub connected to two peers routes to a name by the name alone,
/// reaching the peer that announced it; a name nobody serves is a typed error naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_routes_to_whichever_peer_serves_a_name() {
    use std::sync::{Arc, Mutex};
    use stt_tokio::Channel;
    let (alice, bob, hub) = (node(51).await, node(51).await, node(51).await);
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let _bob_task = bob
        .on_name("viewer_bob", NameQueueLimits::default(), move |routed| g.lock().unwrap().push(routed.data))
        .unwrap();
    let _alice_name = alice.serve_name("viewer_alice", NameQueueLimits::default()).unwrap();
    let _shared = [
        alice.serve_name("viewer_any", NameQueueLimits::default()).unwrap(),
        bob.serve_name("viewer_any", NameQueueLimits::default()).unwrap(),
    ];
    let to_alice = within(10, "connect", hub.connect(alice.local_addr())).await.unwrap();
    let to_bob = within(10, "connect", hub.connect(bob.local_addr())).await.unwrap();
    let from_hub = within(10, "accept", bob.accept()).await.unwrap();
    // Announcements arrive shortly after each handshake.
    within(10, "announcements", async {
        while hub.sessions_serving("viewer_any").len() < 2 || hub.sessions_serving("viewer_bob").is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(hub.sessions_serving("viewer_alice"), std::slice::from_ref(&to_alice));
    assert_eq!(hub.sessions_serving("viewer_bob"), std::slice::from_ref(&to_bob));

    let via = within(10, "route", hub.route("viewer_bob", &b"frame for bob"[..])).await.unwrap();
    assert_eq!(via, to_bob);
    within(10, "handler", async {
        while got.lock().unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(got.lock().unwrap()[0], &b"frame for bob"[..]);

    let (via, _) = within(10, "message", hub.send_message_to_name("viewer_bob", vec![7u8; 100_000])).await.unwrap();
    assert_eq!(via, to_bob);
    let m = within(10, "recv_message", from_hub.recv_message()).await.unwrap();
    assert_eq!((m.channel, m.payload.len()), (Channel::name("viewer_bob"), 100_000));

    match within(10, "route", hub.route("viewer_carol", &b"x"[..])).await {
        Err(Error::NoPeerServes(name)) => assert_eq!(name, "viewer_carol"),
        other => panic!("expected NoPeerServes, got {other:?}"),
    }
}
