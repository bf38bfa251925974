//! `Node::incoming()`: one sequence of everything that arrives, in order, sharing its items with
//! the per-session APIs (each item delivered once, none left behind), on real sockets.

mod common;

use std::time::Duration;

use common::*;
use stt_tokio::{Channel, Incoming, NameQueueLimits, StreamMode};

fn describe(item: &Incoming) -> String {
    match item {
        Incoming::Session(s) => format!("session {}", s.session_id()),
        Incoming::Stream { stream, .. } => format!("stream {stream:?}"),
        Incoming::Frame { frame_type, payload, .. } => {
            format!("frame {frame_type:#x} {}", String::from_utf8_lossy(payload))
        }
        Incoming::Routed { name, message } => format!("{name} {}", String::from_utf8_lossy(&message.data)),
        Incoming::Message { message, .. } => {
            format!("message {:?} {}", message.channel, String::from_utf8_lossy(&message.payload))
        }
    }
}

async fn next(inbox: &stt_tokio::Inbox) -> Incoming {
    within(10, "inbox", inbox.next()).await.expect("the node is running")
}

#[tokio::test]
async fn frames_of_two_sessions_arrive_in_order_and_each_once() {
    let server = node(1).await;
    let inbox = server.incoming();
    let (a, b) = (node(1).await, node(1).await);
    let sa = within(10, "connect", a.connect(server.local_addr())).await.unwrap();
    let Incoming::Session(first) = next(&inbox).await else { panic!("a session first") };
    assert_eq!(first.session_id(), sa.session_id());
    let sb = within(10, "connect", b.connect(server.local_addr())).await.unwrap();
    let Incoming::Session(second) = next(&inbox).await else { panic!("then the second session") };
    assert_eq!(second.session_id(), sb.session_id());

    let mut want = Vec::new();
    for i in 0..20 {
        let (s, who) = if i % 2 == 0 { (&sa, "a") } else { (&sb, "b") };
        s.send_frame(0x90, format!("{who}{i}").into_bytes()).unwrap();
        want.push(format!("frame 0x90 {who}{i}"));
        // One at a time, so the arrival order is the send order.
        let got = next(&inbox).await;
        assert_eq!(describe(&got), want[i]);
        if let Incoming::Frame { session, .. } = got {
            assert_eq!(session.session_id(), s.session_id());
        }
    }
    assert!(inbox.try_next().is_none(), "nothing twice");
    for s in [&first, &second] {
        let left = tokio::time::timeout(Duration::from_millis(50), s.recv_frame()).await;
        assert!(left.is_err(), "the inbox took every frame: {left:?}");
    }
}

#[tokio::test]
async fn items_queued_before_the_inbox_or_taken_elsewhere_are_each_delivered_once() {
    let server = node(1).await;
    let _name = server.serve_name("sink", NameQueueLimits::default()).unwrap();
    let client = node(1).await;
    let s = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    s.send_frame(0x81, &b"before"[..]).unwrap();
    s.route("sink", &b"routed before"[..]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Created after the session, the frame and the routed bytes arrived: a sweep finds them.
    let inbox = server.incoming();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(describe(&next(&inbox).await));
    }
    got.sort();
    assert_eq!(got[0], "frame 0x81 before");
    assert!(got[1].starts_with("session "));
    assert_eq!(got[2], "sink routed before");

    // The per-session API takes one frame first; the inbox skips its notice and yields the next.
    let accepted = server.sessions().pop().unwrap();
    s.send_frame(0x82, &b"one"[..]).unwrap();
    s.send_frame(0x82, &b"two"[..]).unwrap();
    let (_, payload) = within(10, "recv_frame", accepted.recv_frame()).await.unwrap();
    assert_eq!(&payload[..], b"one");
    assert_eq!(describe(&next(&inbox).await), "frame 0x82 two");
    assert!(inbox.try_next().is_none(), "the frame taken by recv_frame is not delivered again");

    // A stream, accepted through the inbox, reads like any other.
    let mut st = s.open_stream(StreamMode::Reliable).unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut st, b"data").await.unwrap();
    tokio::io::AsyncWriteExt::shutdown(&mut st).await.unwrap();
    let Incoming::Stream { mut stream, session } = next(&inbox).await else { panic!("a stream") };
    assert_eq!(session.session_id(), s.session_id());
    let mut data = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut data).await.unwrap();
    assert_eq!(data, b"data");

    // Without an inbox, the per-session APIs get everything.
    drop(inbox);
    s.send_frame(0x83, &b"after"[..]).unwrap();
    let (ty, payload) = within(10, "recv_frame", accepted.recv_frame()).await.unwrap();
    assert_eq!((ty, &payload[..]), (0x83, &b"after"[..]));
}

#[tokio::test]
async fn the_inbox_ends_when_the_node_shuts_down() {
    let server = node(1).await;
    let inbox = server.incoming();
    let waiter = tokio::spawn(async move { inbox.next().await.is_none() });
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shutdown(Duration::from_millis(100)).await;
    assert!(within(10, "inbox end", waiter).await.unwrap());
}

#[tokio::test]
async fn reliable_messages_come_through_the_inbox_in_order_and_each_once() {
    let server = node(1).await;
    let inbox = server.incoming();
    let client = node(1).await;
    let s = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let Incoming::Session(accepted) = next(&inbox).await else { panic!("a session first") };
    for i in 0..4u8 {
        s.send_message(Channel::Frame(0x90 + i % 2), vec![i; 100_000 * usize::from(i + 1)]).await.unwrap();
    }
    s.send_frame(0x88, &b"best effort"[..]).unwrap();
    // The first message is taken by the per-session call; the inbox yields the rest once each.
    let first = within(10, "recv_message", accepted.recv_message()).await.unwrap();
    assert_eq!((first.channel, first.payload.len()), (Channel::Frame(0x90), 100_000));
    let (mut messages, mut others) = (Vec::new(), Vec::new());
    while messages.len() + others.len() < 4 {
        match next(&inbox).await {
            Incoming::Message { message, session } => {
                assert_eq!(session.session_id(), accepted.session_id());
                assert!(message.payload.iter().all(|&b| usize::from(b) == message.payload.len() / 100_000 - 1));
                messages.push((message.channel, message.payload.len()));
            }
            other => others.push(describe(&other)),
        }
    }
    let want = [(Channel::Frame(0x91), 200_000), (Channel::Frame(0x90), 300_000), (Channel::Frame(0x91), 400_000)];
    assert_eq!(messages, want, "messages in the order they were sent");
    assert_eq!(others, ["frame 0x88 best effort"]);
    assert!(inbox.try_next().is_none(), "nothing is delivered twice");
}
