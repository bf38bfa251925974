//! The test vectors of `docs/TRANSFER.md`, checked against the implementation on both sides of a
//! real session: the library's sender must write exactly the document's bytes (read by a raw
//! receiver that answers with the document's answer), and the library's receiver, fed the
//! document's bytes by a raw sender, must answer (and offer) exactly what the document says and
//! store what it describes. The vectors are the document's text, not values computed here.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use common::*;
use stt_cli::transfer::{self, Destination, ManifestEntry, Outcome, Receipts};
use stt_tokio::{Node, Session, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `name: hex` lines between the document's vector markers.
fn vectors() -> BTreeMap<String, Vec<u8>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/TRANSFER.md")).unwrap();
    let block = doc
        .split("<!-- transfer-vectors:begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- transfer-vectors:end -->").next())
        .expect("docs/TRANSFER.md has its vector block");
    let mut out = BTreeMap::new();
    for line in block.lines() {
        let Some((name, hex)) = line.split_once(": ") else { continue };
        let bytes = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        out.insert(name.to_owned(), bytes);
    }
    assert_eq!(out.len(), 12, "every vector of the document was read");
    out
}

/// Two nodes with a session: (client node, server node, client's session, server's session).
async fn pair() -> (Node, Node, Session, Session) {
    let server = node(4).await;
    let client = node(4).await;
    let session = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    (client, server, session, accepted)
}

/// Reads what the peer writes on `stream` until FIN.
async fn read_to_fin(stream: &mut Stream) -> Vec<u8> {
    let mut got = Vec::new();
    within(10, "the peer's FIN", stream.read_to_end(&mut got)).await.unwrap();
    got
}

#[tokio::test]
async fn the_sender_writes_the_documented_bytes_and_accepts_the_documented_answers() {
    let v = vectors();
    let (_c, _s, session, accepted) = pair().await;
    let (file, reply) = (v["small_file"].clone(), v["small_file_reply"].clone());
    let (tree_file, tree_file_reply) = (v["tree_file"].clone(), v["tree_file_reply"].clone());
    let (manifest, manifest_reply) = (v["tree_manifest"].clone(), v["tree_manifest_reply"].clone());
    let receiver = tokio::spawn(async move {
        for (want, answer) in [(file, reply), (tree_file, tree_file_reply), (manifest, manifest_reply)] {
            let mut stream = accepted.accept_stream().await.unwrap();
            assert_eq!(hex(&read_to_fin(&mut stream).await), hex(&want), "the sender's bytes");
            stream.write_all(&answer).await.unwrap();
            stream.shutdown().await.unwrap();
        }
    });
    let sent = transfer::send(&session, "hello.txt", Some(16), &b"hello, transfer\n"[..], |_| {}).await.unwrap();
    assert_eq!((sent.bytes, sent.stored_as, sent.resumed_from), (16, None, 0));
    let a = transfer::send(&session, "photos/a.txt", Some(1), &b"A"[..], |_| {}).await.unwrap();
    let entries = [
        ManifestEntry::Directory { path: "photos/empty".into() },
        ManifestEntry::File { path: "photos/a.txt".into(), len: a.bytes, digest: a.digest },
    ];
    transfer::send_manifest(&session, "photos", &entries).await.unwrap();
    within(10, "the raw receiver", receiver).await.unwrap();
}

/// Writes `bytes` on a new stream of `session` and FIN, and returns the answer up to FIN.
async fn raw_send(session: &Session, bytes: &[u8]) -> Vec<u8> {
    let mut stream = session.open_stream(stt_tokio::StreamMode::Reliable).unwrap();
    stream.write_all(bytes).await.unwrap();
    stream.shutdown().await.unwrap();
    read_to_fin(&mut stream).await
}

/// The library's receiver on the next `n` streams the peer of `accepted` opens, into `out`,
/// with one session's receipts and the default limits.
fn receive_streams(
    accepted: Session,
    out: &std::path::Path,
    n: usize,
) -> tokio::task::JoinHandle<Vec<Result<Outcome, transfer::TransferError>>> {
    let out = out.to_path_buf();
    tokio::spawn(async move {
        let (mut receipts, limits) = (Receipts::default(), transfer::Limits::default());
        let mut results = Vec::new();
        for _ in 0..n {
            let stream = accepted.accept_stream().await.unwrap();
            let dest = Destination::<tokio::io::Sink>::Dir(&out);
            results.push(transfer::receive_any(stream, dest, &limits, &mut receipts, |_| {}).await);
        }
        results
    })
}

#[tokio::test]
async fn the_receiver_answers_and_stores_as_documented() {
    let v = vectors();
    let dir = tempfile::tempdir().unwrap();
    let (_c, _s, session, accepted) = pair().await;
    let receiver = receive_streams(accepted, dir.path(), 3);
    assert_eq!(hex(&raw_send(&session, &v["small_file"]).await), hex(&v["small_file_reply"]));
    assert_eq!(hex(&raw_send(&session, &v["tree_file"]).await), hex(&v["tree_file_reply"]));
    assert_eq!(hex(&raw_send(&session, &v["tree_manifest"]).await), hex(&v["tree_manifest_reply"]));
    let outcomes: Vec<Outcome> =
        within(10, "the receiver", receiver).await.unwrap().into_iter().map(Result::unwrap).collect();
    assert!(matches!(&outcomes[2], Outcome::Tree(t) if t.files == 1 && t.directories == 1));
    assert_eq!(std::fs::read(dir.path().join("hello.txt")).unwrap(), b"hello, transfer\n");
    assert_eq!(std::fs::read(dir.path().join("photos/a.txt")).unwrap(), b"A");
    assert!(dir.path().join("photos/empty").is_dir(), "the empty directory was made");
}

#[tokio::test]
async fn a_resumed_transfer_offers_and_continues_as_documented() {
    let v = vectors();
    let dir = tempfile::tempdir().unwrap();
    let (_c, _s, session, accepted) = pair().await;
    let receiver = receive_streams(accepted, dir.path(), 2);
    // The first attempt: header, the offer of nothing, 8 bytes, then the stream is reset.
    let mut first = session.open_stream(stt_tokio::StreamMode::Reliable).unwrap();
    first.write_all(&v["resume_header"]).await.unwrap();
    let mut offer = [0u8; 41];
    within(10, "the first offer", first.read_exact(&mut offer)).await.unwrap();
    assert_eq!(hex(&offer), hex(&v["resume_first_offer"]));
    first.write_all(&v["resume_first_data"]).await.unwrap();
    first.send_half().flushed().await.unwrap();
    first.send_half().reset(0).unwrap();
    // The second attempt: the 8 bytes kept are offered, the rest completes the file.
    let mut second = session.open_stream(stt_tokio::StreamMode::Reliable).unwrap();
    second.write_all(&v["resume_header"]).await.unwrap();
    within(10, "the second offer", second.read_exact(&mut offer)).await.unwrap();
    assert_eq!(hex(&offer), hex(&v["resume_offer"]));
    second.write_all(&v["resume_rest"]).await.unwrap();
    second.shutdown().await.unwrap();
    assert_eq!(hex(&read_to_fin(&mut second).await), hex(&v["resume_reply"]));
    let results: Vec<bool> = within(10, "the receiver", receiver).await.unwrap().iter().map(Result::is_ok).collect();
    assert_eq!(results, [false, true], "the cut attempt failed");
    assert_eq!(std::fs::read(dir.path().join("big.bin")).unwrap(), (0u8..16).collect::<Vec<_>>());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
