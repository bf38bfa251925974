//! What the driver logs through `tracing`, captured on real sockets: a failed handshake once, at
//! warn, with its reason; a session's life inside its span; a flood of garbage as a bounded
//! number of summaries.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tracing_subscriber::fmt::MakeWriter;

/// Everything the subscriber writes, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text().lines().filter(|l| l.contains(needle)).map(str::to_owned).collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// A subscriber for this thread (the tests run on a current-thread runtime, so the driver task
/// logs here too) at `level`.
fn capture(level: tracing::Level) -> (Captured, tracing::subscriber::DefaultGuard) {
    let out = Captured::default();
    let subscriber = tracing_subscriber::fmt().with_max_level(level).with_ansi(false).with_writer(out.clone()).finish();
    (out, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn a_wrong_seed_is_logged_once_at_warn_with_its_reason() {
    let (out, _guard) = capture(tracing::Level::INFO);
    let server = node(1).await;
    let stranger = node(2).await;
    let err = within(10, "connect", stranger.connect(server.local_addr())).await.unwrap_err();
    assert!(err.is_authentication_failure(), "{err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let warnings = out.lines_with(" WARN ");
    assert_eq!(warnings.len(), 1, "one warning: {}", out.text());
    assert!(warnings[0].contains("handshake failed"), "{}", warnings[0]);
    assert!(warnings[0].contains("AuthenticationFailed"), "the typed reason: {}", warnings[0]);
}

#[tokio::test]
async fn a_session_is_logged_in_its_span_from_establishment_to_close() {
    let (out, _guard) = capture(tracing::Level::INFO);
    let server = node(1).await;
    let client = node(1).await;
    let s = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    s.close(5, "done").await;
    within(10, "closed", accepted.closed()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let id = format!("{:016x}", s.session_id());
    let established = out.lines_with("session established");
    assert_eq!(established.len(), 2, "both sides: {}", out.text());
    assert!(established.iter().all(|l| l.contains(&id) && l.contains("transport=\"udp\"")), "{established:?}");
    let closed = out.lines_with("session closed");
    assert_eq!(closed.len(), 2, "both sides: {}", out.text());
    assert!(closed.iter().any(|l| l.contains(&id) && l.contains("done")), "{closed:?}");
    assert!(out.lines_with(" WARN ").is_empty(), "nothing went wrong: {}", out.text());
}

#[tokio::test]
async fn ten_thousand_garbage_datagrams_give_a_bounded_number_of_lines() {
    let (out, _guard) = capture(tracing::Level::DEBUG);
    let server = node(1).await;
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = std::time::Instant::now();
    for i in 0..10_000u32 {
        let mut d = vec![0x53, 0x54];
        d.extend_from_slice(&i.to_be_bytes());
        junk.send_to(&d, server.local_addr()).unwrap();
        if i % 500 == 0 {
            tokio::task::yield_now().await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let secs = started.elapsed().as_secs() + 1;
    let reports = out.lines_with("dropped input");
    assert!(!reports.is_empty(), "the drops are reported: {}", out.text());
    assert!(reports.len() as u64 <= secs + 1, "at most one report a second: {} in {secs} s", reports.len());
    assert!(out.text().lines().count() < 50, "bounded: {}", out.text().lines().count());
    assert!(server.stats().endpoint.dropped.malformed >= 9_000);
}
