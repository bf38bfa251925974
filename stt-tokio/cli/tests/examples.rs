//! Every example of this package runs, end to end, as part of the tests.

#[allow(dead_code)]
#[path = "../examples/content_store.rs"]
mod content_store;
#[allow(dead_code)]
#[path = "../examples/file_transfer.rs"]
mod file_transfer;

#[tokio::test]
async fn file_transfer_example() {
    file_transfer::demo().await.unwrap();
}

#[tokio::test]
async fn content_store_example() {
    assert_eq!(content_store::demo().await.unwrap(), 3);
}
