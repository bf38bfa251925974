//! Named endpoints between two tokio nodes on loopback: routing to two names lands in the right
//! queues, an unknown name and a full queue are errors at the sender, and a dropped endpoint is
//! no longer served.

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
