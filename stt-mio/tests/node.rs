//! The blocking `Node` API between two mio nodes on loopback: what a caller sees when things go
//! right and when they go wrong.

use std::time::{Duration, Instant};

use stt_mio::stt_proto::{
    Channel, CloseReason, EndpointConfig, FrameError, HandshakeError, Identity, Seed, StreamError, StreamMode,
};
use stt_mio::{Error, Node};

fn node(seed: u8) -> Node {
    let mut n = Node::bind("127.0.0.1:0".parse().unwrap(), Seed::new(&[seed; 32]).unwrap()).unwrap();
    n.set_timeout(Some(Duration::from_secs(20)));
    n
}

/// Runs `server` on its own thread with a fresh node sharing seed 7; returns the address.
fn serve<T: Send + 'static>(
    server: impl FnOnce(Node) -> T + Send + 'static,
) -> (std::net::SocketAddr, std::thread::JoinHandle<T>) {
    let n = node(7);
    let addr = n.local_addr();
    (addr, std::thread::spawn(move || server(n)))
}

#[test]
fn streams_frames_and_close_between_two_mio_nodes() {
    let (addr, server) = serve(|mut n| {
        let s = n.accept().unwrap();
        let stream = n.accept_stream(s).unwrap();
        let data = n.read_to_end(s, stream).unwrap();
        let (kind, payload) = n.recv_frame(s).unwrap();
        // Answer on a stream of our own, then wait for the client to close.
        let back = n.open_stream(s, StreamMode::Reliable).unwrap();
        n.write_all(s, back, &(data.len() as u64).to_be_bytes()).unwrap();
        n.finish(s, back).unwrap();
        let closed = n.recv_frame(s).unwrap_err();
        (data, kind, payload, closed)
    });
    let mut c = node(7);
    let s = c.connect(addr).unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let stream = c.open_stream(s, StreamMode::Reliable).unwrap();
    c.write_all(s, stream, &data).unwrap();
    c.finish(s, stream).unwrap();
    c.send_frame(s, 0x90, &b"after the stream"[..]).unwrap();
    let back = c.accept_stream(s).unwrap();
    let len = c.read_to_end(s, back).unwrap();
    assert_eq!(len, (data.len() as u64).to_be_bytes());
    c.flush(s).unwrap();
    c.close(s, 42, "bye");
    assert!(matches!(c.close_reason(s), Some(CloseReason::ClosedLocally { code: 42, .. })));
    assert!(matches!(c.write_all(s, stream, b"x"), Err(Error::SessionClosed(_))));

    let (got, kind, payload, closed) = server.join().unwrap();
    assert!(got == data, "3 MB arrive intact");
    assert_eq!((kind, &payload[..]), (0x90, &b"after the stream"[..]));
    match closed {
        Error::SessionClosed(CloseReason::ClosedByPeer { code: 42, reason }) => assert_eq!(reason, "bye"),
        other => panic!("expected the peer's close, got {other:?}"),
    }
}

#[test]
fn a_wrong_seed_fails_the_handshake_with_a_typed_error() {
    let (addr, server) = serve(|mut n| {
        n.set_timeout(Some(Duration::from_secs(2)));
        n.accept().map(|_| ())
    });
    let mut c = node(8);
    match c.connect(addr) {
        Err(e @ Error::Handshake(HandshakeError::AuthenticationFailed)) => {
            assert!(e.to_string().contains("handshake failed"), "{e}")
        }
        other => panic!("expected an authentication failure, got {other:?}"),
    }
    assert!(matches!(server.join().unwrap(), Err(Error::TimedOut)), "the server accepted nothing");
}

#[test]
fn an_unreachable_peer_ends_in_the_handshake_timeout() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = EndpointConfig::with_shared_seed(Seed::new(&[7; 32]).unwrap());
    config.handshake_timeout = Duration::from_millis(600);
    let identity = Identity::from_seed_bytes(&[3; 32]).unwrap();
    let mut c = Node::with_config("127.0.0.1:0".parse().unwrap(), config, identity).unwrap();
    let started = Instant::now();
    assert!(matches!(c.connect(silent.local_addr().unwrap()), Err(Error::Handshake(HandshakeError::Timeout))));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(600) && took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn bad_calls_get_typed_errors_not_panics() {
    let (addr, server) = serve(|mut n| {
        let s = n.accept().unwrap();
        n.recv_frame(s).map(|(kind, _)| kind)
    });
    let mut c = node(7);
    let s = c.connect(addr).unwrap();
    assert!(matches!(c.send_frame(s, 0x10, &b"x"[..]), Err(Error::Frame(FrameError::ReservedFrameType(0x10)))));
    let huge = vec![0u8; 4000];
    assert!(matches!(c.send_frame(s, 0x80, huge), Err(Error::Frame(FrameError::TooLarge { .. }))));
    let stream = c.open_stream(s, StreamMode::Reliable).unwrap();
    c.finish(s, stream).unwrap();
    assert!(matches!(c.write_all(s, stream, b"late"), Err(Error::Stream(StreamError::Finished))));

    c.set_timeout(Some(Duration::from_millis(300)));
    let started = Instant::now();
    assert!(matches!(c.accept_stream(s), Err(Error::TimedOut)), "the server opens no stream");
    assert!(started.elapsed() >= Duration::from_millis(300));

    c.send_frame(s, 0x80, &b"done"[..]).unwrap();
    assert_eq!(server.join().unwrap().unwrap(), 0x80);
    c.close(s, 0, "done");
    assert!(matches!(c.open_stream(s, StreamMode::Reliable), Err(Error::SessionClosed(_))));
}

#[test]
fn a_node_reports_its_sessions_streams_and_totals() {
    let (addr, server) = serve(|mut n| {
        let s = n.accept().unwrap();
        let a = n.accept_stream(s).unwrap();
        let b = n.accept_stream(s).unwrap();
        let got = (n.read_to_end(s, a).unwrap(), n.read_to_end(s, b).unwrap());
        let stats = n.stats();
        let _ = n.recv_frame(s);
        (got, stats)
    });
    let before = Instant::now();
    let mut c = node(7);
    assert_eq!(c.stats().sessions, 0);
    let s = c.connect(addr).unwrap();
    let created = c.created_at(s).unwrap();
    assert!(before <= created && created <= Instant::now());
    assert_eq!(c.stream_count(s), Some(0));
    let a = c.open_stream(s, StreamMode::Reliable).unwrap();
    let b = c.open_stream(s, StreamMode::Reliable).unwrap();
    assert_eq!(c.stream_count(s), Some(2));
    c.write_all(s, a, &[1u8; 50_000]).unwrap();
    c.write_all(s, b, b"two").unwrap();
    c.finish(s, a).unwrap();
    c.finish(s, b).unwrap();
    c.flush(s).unwrap();
    assert!(c.last_active_at(s).unwrap() >= created, "acknowledgements arrived after creation");
    let stats = c.stats();
    assert_eq!(stats.sessions, 1);
    assert_eq!(stats.endpoint.sessions_established, 1);
    assert!(stats.endpoint.bytes_sent > 50_000);
    assert_eq!(c.session_stats(s).unwrap().created, c.driver().endpoint().session(s).unwrap().stats().created);
    c.close(s, 0, "done");
    assert_eq!(c.stats().sessions, 0);
    assert_eq!((c.stream_count(s), c.created_at(s), c.last_active_at(s)), (None, None, None));

    let ((first, second), server_stats) = server.join().unwrap();
    assert_eq!((first.len(), &second[..]), (50_000, &b"two"[..]));
    assert_eq!(server_stats.sessions, 1);
    assert!(server_stats.endpoint.bytes_received > 50_000);
}

#[test]
fn one_receive_loop_sees_sessions_frames_streams_and_messages_in_arrival_order() {
    use stt_mio::Incoming;
    let (addr, server) = serve(|mut n| {
        let mut seen = Vec::new();
        let mut data = Vec::new();
        while seen.len() < 5 {
            match n.next_incoming().unwrap() {
                Incoming::Session(_) => seen.push("session".to_string()),
                Incoming::Frame { frame_type, payload, .. } => {
                    seen.push(format!("frame {frame_type:#x} {}", String::from_utf8_lossy(&payload)))
                }
                Incoming::Stream { session, stream } => {
                    data = n.read_to_end(session, stream).unwrap();
                    seen.push("stream".to_string());
                }
                Incoming::Message { message, .. } => {
                    seen.push(format!("message {:?} {} bytes", message.channel, message.payload.len()))
                }
            }
        }
        // Each item once: nothing is left for the per-session calls.
        n.set_timeout(Some(Duration::from_millis(200)));
        let left = n.next_incoming();
        (seen, data, left)
    });
    let mut c = node(7);
    let s = c.connect(addr).unwrap();
    c.send_frame(s, 0x90, &b"first"[..]).unwrap();
    c.run_for(Duration::from_millis(50)).unwrap();
    let st = c.open_stream(s, StreamMode::Reliable).unwrap();
    c.write_all(s, st, b"stream data").unwrap();
    c.finish(s, st).unwrap();
    c.flush(s).unwrap();
    c.send_frame(s, 0x91, &b"last"[..]).unwrap();
    c.flush(s).unwrap();
    c.run_for(Duration::from_millis(50)).unwrap();
    c.send_message(s, stt_mio::stt_proto::Channel::Frame(0x92), vec![5; 300_000]).unwrap();
    c.flush(s).unwrap();
    let (seen, data, left) = server.join().unwrap();
    assert_eq!(seen, ["session", "frame 0x90 first", "stream", "frame 0x91 last", "message Frame(146) 300000 bytes"]);
    assert_eq!(data, b"stream data");
    assert!(matches!(left, Err(Error::TimedOut)), "{left:?}");
    c.close(s, 0, "done");
}

#[test]
fn a_failed_handshake_is_logged_once_at_warn_with_its_reason() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (addr, server) = serve(|mut n| {
        n.set_timeout(Some(Duration::from_secs(2)));
        n.accept().map(|_| ())
    });
    let mut c = node(8);
    assert!(matches!(c.connect(addr), Err(Error::Handshake(HandshakeError::AuthenticationFailed))));
    let _ = server.join();
    let text = String::from_utf8_lossy(&out.0.lock().unwrap()).into_owned();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(warnings[0].contains("handshake failed") && warnings[0].contains("AuthenticationFailed"), "{text}");
}

/// A mio node with resumption on, of identity `id`.
fn resuming(id: u8) -> Node {
    let mut config = EndpointConfig::with_shared_seed(Seed::new(&[7; 32]).unwrap());
    config.resumption = true;
    let identity = Identity::from_seed_bytes(&[id; 32]).unwrap();
    let mut n = Node::with_config("127.0.0.1:0".parse().unwrap(), config, identity).unwrap();
    n.set_timeout(Some(Duration::from_secs(20)));
    n
}

#[test]
fn a_mio_node_resumes_and_its_saved_ticket_serves_a_new_node() {
    let server = resuming(60);
    let (addr, id) = (server.local_addr(), server.node_id());
    let server = std::thread::spawn(move || {
        let mut n = server;
        for _ in 0..3 {
            let s = n.accept().unwrap();
            let (kind, _) = n.recv_frame(s).unwrap();
            assert_eq!(kind, 0x80);
        }
        n.run_for(Duration::from_millis(300)).unwrap();
        n.stats().endpoint
    });
    let mut c = resuming(61);
    let until_ticket = |c: &mut Node| {
        let started = Instant::now();
        while c.saved_tickets().is_empty() {
            assert!(started.elapsed() < Duration::from_secs(10), "no ticket");
            c.run_for(Duration::from_millis(5)).unwrap();
        }
    };
    let s = c.connect(addr).unwrap();
    c.send_frame(s, 0x80, &b"first"[..]).unwrap();
    until_ticket(&mut c);
    c.close(s, 0, "done");
    let s = c.connect_to(addr, id).unwrap();
    c.send_frame(s, 0x80, &b"resumed"[..]).unwrap();
    until_ticket(&mut c);
    let bytes = c.saved_tickets().remove(0).to_bytes();
    c.close(s, 0, "done");
    c.run_for(Duration::from_millis(50)).unwrap();
    drop(c);
    // The same identity in a new node, with the ticket from its bytes.
    let mut again = resuming(61);
    again.restore_ticket(stt_mio::SavedTicket::from_bytes(&bytes).unwrap());
    let s = again.connect_to(addr, id).unwrap();
    again.send_frame(s, 0x80, &b"from a file"[..]).unwrap();
    again.flush(s).unwrap();
    let stats = server.join().unwrap();
    assert_eq!((stats.sessions_resumed, stats.tickets_refused, stats.tickets_issued), (2, 0, 3));
}

#[test]
fn connect_early_sends_its_data_with_a_resumed_init() {
    let server = resuming(62);
    let (addr, id) = (server.local_addr(), server.node_id());
    let server = std::thread::spawn(move || {
        let mut n = server;
        let mut got = Vec::new();
        for _ in 0..2 {
            let s = n.accept().unwrap();
            let (_, frame) = n.recv_frame(s).unwrap();
            let m = n.recv_message(s).unwrap();
            got.push((frame, m.payload));
        }
        n.run_for(Duration::from_millis(300)).unwrap();
        (got, n.stats().endpoint.sessions_resumed)
    });
    let mut c = resuming(63);
    let early = |tag: &'static [u8]| {
        stt_mio::EarlyData::default().frame(0x80, tag).message(Channel::Frame(0x81), &b"a message"[..])
    };
    let (s, zero_rtt) = c.connect_early(addr, id, early(b"first")).unwrap();
    assert!(!zero_rtt, "no ticket yet: after the handshake");
    let started = Instant::now();
    while c.saved_tickets().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "no ticket");
        c.run_for(Duration::from_millis(5)).unwrap();
    }
    c.close(s, 0, "done");
    let (s, zero_rtt) = c.connect_early(addr, id, early(b"early")).unwrap();
    assert!(zero_rtt, "resumed, with 0-RTT data");
    c.flush(s).unwrap();
    let (got, resumed) = server.join().unwrap();
    let frames: Vec<&[u8]> = got.iter().map(|(f, _)| &f[..]).collect();
    assert_eq!(frames, [&b"first"[..], &b"early"[..]]);
    assert!(got.iter().all(|(_, m)| &m[..] == b"a message"));
    assert_eq!(resumed, 1);
}
