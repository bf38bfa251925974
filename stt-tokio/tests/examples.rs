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
#[path = "../examples/file_transfer.rs"]
mod file_transfer;

#[tokio::test]
async fn echo_example() {
    echo::demo().await.unwrap();
}

#[tokio::test]
async fn file_transfer_example() {
    file_transfer::demo().await.unwrap();
}

#[tokio::test]
async fn broadcast_example() {
    broadcast::demo().await.unwrap();
}

#[tokio::test]
async fn dispatcher_example() {
    dispatcher::demo().await.unwrap();
}
