//! Every example runs, end to end, as part of the tests.

#[allow(dead_code)]
#[path = "../examples/broadcast.rs"]
mod broadcast;
#[allow(dead_code)]
#[path = "../examples/dispatcher.rs"]
mod dispatcher;
#[allow(dead_code)]
#[path = "../examples/echo.rs"]
mod echo;
#[allow(dead_code)]
#[path = "../examples/fallback.rs"]
mod fallback;
#[allow(dead_code)]
#[path = "../examples/messages.rs"]
mod messages;
#[allow(dead_code)]
#[path = "../examples/named_endpoints.rs"]
mod named_endpoints;
#[allow(dead_code)]
#[path = "../examples/receive_loop.rs"]
mod receive_loop;
#[allow(dead_code)]
#[path = "../examples/telemetry.rs"]
mod telemetry;
#[allow(dead_code)]
#[path = "../examples/video_relay.rs"]
mod video_relay;

#[tokio::test]
async fn echo_example() {
    echo::demo().await.unwrap();
}

#[tokio::test]
async fn broadcast_example() {
    broadcast::demo().await.unwrap();
}

#[tokio::test]
async fn dispatcher_example() {
    dispatcher::demo().await.unwrap();
}

#[tokio::test]
async fn telemetry_example() {
    let s = telemetry::demo().await.unwrap();
    assert!(s.readings > 0 && s.alarms > 0, "{s:?}");
}

#[tokio::test]
async fn named_endpoints_example() {
    let (counts, _) = named_endpoints::demo().await.unwrap();
    assert_eq!(counts, vec![400, 400, 400]);
}

#[tokio::test]
async fn video_relay_example() {
    assert_eq!(video_relay::demo().await.unwrap().len(), 4);
}

#[tokio::test]
async fn receive_loop_example_sees_everything_in_arrival_order() {
    let seen = receive_loop::demo().await.unwrap();
    assert_eq!(seen.len(), 5);
    assert!(seen[0].starts_with("session from "), "{seen:?}");
    assert_eq!(
        &seen[1..],
        [
            "stream: Hello Bob!",
            "frame 0x80: chat: hi",
            "video_sink: frame 0",
            "message on Frame(129): chat: this one is never lost"
        ]
    );
}

#[tokio::test]
async fn messages_example_delivers_whole_messages_and_reports_the_refusal() {
    let (lines, refusal) = messages::demo().await.unwrap();
    assert_eq!(
        lines,
        [
            "chat: here is the picture",
            "picture: 3145728 bytes, intact",
            "video_sink: 1048576 bytes, intact",
            "chat: did it arrive?"
        ]
    );
    assert_eq!(refusal, stt_tokio::MessageRefusal::UnknownName);
}

#[tokio::test]
async fn fallback_example_connects_over_websocket_when_udp_is_silent() {
    use stt_tokio::Transport;
    assert_eq!(fallback::demo().await.unwrap(), (Transport::WebSocket, Transport::Udp));
}
