//! Bulk transfers over real loopback sockets: UDP and WebSocket, byte-identical.

mod common;

use common::*;
use std::time::Instant;

async fn hundred_mib(ws: bool) {
    let server = ws_node(1).await;
    let client = node(1).await;
    let session = if ws {
        let url = format!("ws://{}", server.ws_local_addr().unwrap());
        within(10, "connect_ws", client.connect_ws(&url)).await.unwrap()
    } else {
        within(10, "connect", client.connect(server.local_addr())).await.unwrap()
    };
    let data = pattern(100 << 20, 7);
    let want = sha3(&data);
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    let started = Instant::now();
    let receiver = tokio::spawn(async move { recv_all(&accepted).await });
    within(120, "send", send_all(&session, &data)).await;
    let (n, got) = within(120, "receive", receiver).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!("{}: {n} bytes in {secs:.2} s ({:.0} MB/s)", if ws { "websocket" } else { "udp" }, n as f64 / secs / 1e6);
    assert_eq!(n, data.len());
    assert_eq!(got, want, "received bytes differ from the sent bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_mebibytes_over_udp_arrive_intact() {
    hundred_mib(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_mebibytes_over_websocket_arrive_intact() {
    hundred_mib(true).await;
}
