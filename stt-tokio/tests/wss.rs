//! `wss://`: a listener with a certificate signed by a certificate authority made here, a client
//! that trusts that authority; 100 MiB intact over TLS, throughput beside plain `ws://`; a client
//! that does not trust the authority, or a plain client, gets no session.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use stt_tokio::{Error, Node, StreamMode, TlsIdentity, TlsRoots};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A certificate authority (PEM) and a "localhost" certificate chain and key signed by it (PEM).
fn authority_and_server() -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// Sends `len` bytes on a new stream from `client` to `server` over `session`; returns the
/// throughput in MB/s after checking the bytes' hash.
async fn transfer(session: &stt_tokio::Session, accepted: stt_tokio::Session, len: usize) -> f64 {
    let data = pattern(len, 7);
    let want = sha3(&data);
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let mut s = accepted.accept_stream().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        got
    });
    let mut s = session.open_stream(StreamMode::Reliable).unwrap();
    s.write_all(&data).await.unwrap();
    s.shutdown().await.unwrap();
    let got = within(300, "transfer", reader).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(got.len(), len);
    assert_eq!(sha3(&got), want, "bytes arrive intact");
    len as f64 / secs / 1e6
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_mebibytes_cross_wss_intact_beside_ws() {
    let (ca, chain, key) = authority_and_server();
    let identity = TlsIdentity::from_pem(chain.as_bytes(), key.as_bytes()).unwrap();
    let secure = Node::bind(config(1).ws_bind(LOCAL.parse().unwrap()).wss(identity)).await.unwrap();
    let plain = ws_node(1).await;
    let client = Node::bind(config(1).tls_roots(TlsRoots::from_pem(ca.as_bytes()).unwrap())).await.unwrap();

    let url = format!("wss://localhost:{}", secure.ws_local_addr().unwrap().port());
    let session = within(10, "wss connect", client.connect_ws(&url)).await.unwrap();
    let accepted = within(10, "accept", secure.accept()).await.unwrap();
    let wss = transfer(&session, accepted, 100 << 20).await;

    let url = format!("ws://127.0.0.1:{}", plain.ws_local_addr().unwrap().port());
    let session = within(10, "ws connect", client.connect_ws(&url)).await.unwrap();
    let accepted = within(10, "accept", plain.accept()).await.unwrap();
    let ws = transfer(&session, accepted, 100 << 20).await;
    println!("100 MiB: wss:// {wss:.0} MB/s, ws:// {ws:.0} MB/s (ratio {:.2})", wss / ws);
}

#[tokio::test]
async fn an_untrusted_certificate_or_a_plain_client_gets_no_session() {
    let (_ca, chain, key) = authority_and_server();
    let identity = TlsIdentity::from_pem(chain.as_bytes(), key.as_bytes()).unwrap();
    let secure = Node::bind(config(1).ws_bind(LOCAL.parse().unwrap()).wss(identity)).await.unwrap();
    let port = secure.ws_local_addr().unwrap().port();

    // A client trusting another authority refuses the server's certificate.
    let (other_ca, _, _) = authority_and_server();
    let wary = Node::bind(config(1).tls_roots(TlsRoots::from_pem(other_ca.as_bytes()).unwrap())).await.unwrap();
    let err = within(10, "untrusted", wary.connect_ws(&format!("wss://localhost:{port}"))).await.unwrap_err();
    assert!(matches!(&err, Error::Tls(m) if m.contains("certificate")), "{err}");

    // A plain ws:// client to a wss listener gets no WebSocket.
    let plain = node(1).await;
    let err = within(10, "plain", plain.connect_ws(&format!("ws://localhost:{port}"))).await.unwrap_err();
    assert!(matches!(err, Error::WebSocket(_)), "{err}");
    assert!(within(2, "no session", async { tokio::time::timeout(Duration::from_millis(500), secure.accept()).await })
        .await
        .is_err());

    // Bad PEM is a typed error, said before any I/O.
    assert!(matches!(TlsIdentity::from_pem(b"not pem", key.as_bytes()), Err(Error::Tls(_))));
    assert!(matches!(TlsRoots::from_pem(b""), Err(Error::Tls(_))));
}
