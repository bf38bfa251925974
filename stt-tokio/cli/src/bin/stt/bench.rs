//! `stt bench`: two nodes on loopback in this process; sequential handshake time and bulk
//! throughput over one or more reliable streams, over UDP or WebSocket; with `--connects-during`,
//! the throughput again while many other clients connect to the receiving node.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use stt_tokio::{Node, NodeConfig, Seed, StreamMode};

use crate::Failure;

/// What `stt bench` runs.
pub(crate) struct Options {
    pub size: u64,
    pub streams: u32,
    pub ws: bool,
    pub handshakes: u32,
    pub batching: bool,
    pub congestion: stt_tokio::stt_proto::congestion::CongestionFactory,
    /// Sessions other clients open to the receiving node during a second transfer (0: none).
    pub connects_during: u32,
}

/// Client nodes that open the sessions of `--connects-during`, and connections each keeps in
/// flight at once.
const STORM_CLIENTS: u32 = 16;
const STORM_CONCURRENCY: u32 = 4;

/// Runs the benchmark; prints lines of text, or with `json` one JSON object, on stdout.
pub(crate) async fn run(opts: Options, json: bool) -> Result<(), Failure> {
    // The text report, line by line (nothing in JSON mode, which prints once at the end).
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    let Options { size, streams, ws, handshakes, batching, congestion, connects_during } = opts;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Failure::new(1, format!("no OS randomness: {e}")))?;
    let seed = Seed::new(&seed).expect("32 bytes");
    let local = "127.0.0.1:0".parse().expect("address");
    let mut server_cfg = NodeConfig::new(seed.clone()).bind(local).ws_bind(local).udp_batching(batching);
    server_cfg.endpoint.congestion = congestion;
    let mut client_cfg = NodeConfig::new(seed.clone()).bind(local).server_mode(false).udp_batching(batching);
    client_cfg.endpoint.congestion = congestion;
    let server = Node::bind(server_cfg).await?;
    let client = Node::bind(client_cfg).await?;
    let transport = match (ws, batching) {
        (true, _) => "WebSocket",
        (false, true) => "UDP (batched: GSO/GRO)",
        (false, false) => "UDP (one datagram per system call)",
    };
    let url = format!("ws://{}", server.ws_local_addr().expect("listener configured"));
    let suite = format!("{:?}", stt_tokio::stt_proto::Suite::default_preference()[0]);
    say(format!("stt bench: two nodes on loopback, {transport}, suite {suite}"));

    // Handshakes: connect (the responder is established before the initiator hears CONFIRM),
    // take the session from the server's accept queue, close; one at a time. Accepting each one
    // here keeps the queue empty for the throughput session below.
    let mut times = Vec::with_capacity(handshakes as usize);
    let started = Instant::now();
    for _ in 0..handshakes {
        let t = Instant::now();
        let s = if ws { client.connect_ws(&url).await? } else { client.connect(server.local_addr()).await? };
        times.push(t.elapsed());
        let accepted = server.accept().await.ok_or_else(|| Failure::new(1, "server stopped"))?;
        if accepted.session_id() != s.session_id() {
            return Err(Failure::new(1, "the server accepted another session than the one just opened"));
        }
        s.close(0, "bench").await;
    }
    let total = started.elapsed();
    let mut handshake_report = serde_json::Value::Null;
    if !times.is_empty() {
        times.sort();
        let (median, p99) = (times[times.len() / 2], times[(times.len() * 99 / 100).min(times.len() - 1)]);
        let per_sec = f64::from(handshakes) / total.as_secs_f64();
        say(format!(
            "handshakes: {handshakes} sequential in {:.2} s ({per_sec:.0}/s with close), median {median:?}, p99 {p99:?}",
            total.as_secs_f64(),
        ));
        handshake_report = json!({
            "count": handshakes, "seconds": total.as_secs_f64(), "per_second": per_sec,
            "median_us": median.as_micros() as u64, "p99_us": p99.as_micros() as u64,
        });
    }

    // Throughput: `size` bytes spread over `streams` streams of one session.
    let bulk = Bulk { client: &client, server: &server, ws, url: &url, size, streams };
    let (received, secs, session, accepted) = bulk.run(None).await?;
    let mb_per_s = received as f64 / secs / 1e6;
    say(format!(
        "throughput: {} MiB over {streams} stream(s) in {secs:.2} s = {mb_per_s:.0} MB/s ({:.2} Gbit/s)",
        received >> 20,
        received as f64 * 8.0 / secs / 1e9,
    ));
    let mut report = json!({
        "transport": transport, "suite": suite, "handshakes": handshake_report,
        "throughput": {"bytes": received, "streams": streams, "seconds": secs, "mb_per_s": mb_per_s},
    });
    if let (Some(p), Some(s)) = (session.path_stats(), session.stats()) {
        say(format!(
            "sender: {} datagrams, {} frames lost and resent, rtt {:?}, congestion window {} B",
            s.datagrams_sent, p.lost_frames, p.rtt, p.congestion_window
        ));
        report["sender"] = json!({
            "datagrams": s.datagrams_sent, "lost_frames": p.lost_frames,
            "rtt_us": p.rtt.as_micros() as u64, "congestion_window": p.congestion_window,
        });
        if let Some(r) = accepted.stats() {
            say(format!(
                "receiver: {} ACK-only datagrams for {} data datagrams ({:.2} per data datagram)",
                r.ack_only_datagrams_sent,
                s.datagrams_sent,
                r.ack_only_datagrams_sent as f64 / s.datagrams_sent.max(1) as f64
            ));
            report["receiver"] = json!({"ack_only_datagrams": r.ack_only_datagrams_sent});
        }
    }
    session.close(0, "bench done").await;
    drop(accepted);

    if connects_during > 0 {
        let storm = Storm::start(seed, connects_during, ws, &url, server.local_addr(), batching).await?;
        let (received, secs, session, accepted) = bulk.run(Some(&storm)).await?;
        let outcome = storm.finish().await?;
        let window = outcome.window_bytes as f64 / outcome.window_secs / 1e6;
        say(format!(
            "while {} other sessions opened ({:.2} s, {:.0}/s): {window:.0} MB/s over those {:.2} s \
             ({:.2}x the transfer alone); the whole transfer {:.0} MB/s",
            outcome.opened,
            outcome.storm_secs,
            f64::from(outcome.opened) / outcome.storm_secs,
            outcome.window_secs,
            window / mb_per_s,
            received as f64 / secs / 1e6,
        ));
        if outcome.transfer_ended_first {
            say("note: the transfer ended before the connects did; a larger --size covers them all".to_string());
        }
        report["during_connects"] = json!({
            "sessions": outcome.opened, "connect_seconds": outcome.storm_secs,
            "window_seconds": outcome.window_secs, "window_mb_per_s": window,
            "ratio_to_alone": window / mb_per_s, "transfer_ended_first": outcome.transfer_ended_first,
        });
        if let Some(p) = session.path_stats() {
            say(format!(
                "sender during the connects: {} frames lost and resent ({} found spurious), {} probe timeouts, \
                 rtt {:?}, congestion window {} B",
                p.lost_frames, p.spurious_losses, p.probe_timeouts, p.rtt, p.congestion_window
            ));
            report["during_connects"]["sender"] = json!({
                "lost_frames": p.lost_frames, "spurious_losses": p.spurious_losses,
                "probe_timeouts": p.probe_timeouts, "rtt_us": p.rtt.as_micros() as u64,
                "congestion_window": p.congestion_window,
            });
        }
        session.close(0, "bench done").await;
        drop(accepted);
        outcome.close().await;
    }
    if json {
        println!("{report}");
    }
    client.shutdown(Duration::from_secs(1)).await;
    server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

/// One bulk transfer between the bench's two nodes.
struct Bulk<'a> {
    client: &'a Node,
    server: &'a Node,
    ws: bool,
    url: &'a str,
    size: u64,
    streams: u32,
}

impl Bulk<'_> {
    /// Opens a session and moves `size` bytes over `streams` streams; with `storm`, counts the
    /// bytes received into it as they come. Returns the bytes, the seconds, and both sessions.
    async fn run(&self, storm: Option<&Storm>) -> Result<(u64, f64, stt_tokio::Session, stt_tokio::Session), Failure> {
        let Bulk { client, server, ws, url, size, streams } = *self;
        let session = if ws { client.connect_ws(url).await? } else { client.connect(server.local_addr()).await? };
        let accepted = server.accept().await.ok_or_else(|| Failure::new(1, "server stopped"))?;
        let per_stream = size / u64::from(streams);
        let chunk = Bytes::from(vec![0x5Au8; 1 << 20]);
        let counted = storm.map(|s| s.received.clone());
        if let Some(storm) = storm {
            storm.go();
        }
        let started = Instant::now();
        let receiver = tokio::spawn(async move {
            let mut readers = Vec::new();
            for _ in 0..streams {
                let mut s = accepted.accept_stream().await?;
                let counted = counted.clone();
                readers.push(tokio::spawn(async move {
                    let mut n = 0u64;
                    while let Some(b) = s.recv_half().read_chunk().await? {
                        n += b.len() as u64;
                        if let Some(c) = &counted {
                            c.fetch_add(b.len() as u64, Ordering::Relaxed);
                        }
                    }
                    Ok::<u64, stt_tokio::Error>(n)
                }));
            }
            let mut total = 0;
            for r in readers {
                total += r.await.map_err(|e| stt_tokio::Error::Io(e.into()))??;
            }
            Ok::<(u64, stt_tokio::Session), stt_tokio::Error>((total, accepted))
        });
        let mut writers = Vec::new();
        for _ in 0..streams {
            let mut s = session.open_stream(StreamMode::Reliable)?;
            let chunk = chunk.clone();
            writers.push(tokio::spawn(async move {
                let mut left = per_stream;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    s.send_half().write_all_bytes(chunk.slice(..n)).await?;
                    left -= n as u64;
                }
                s.send_half().finish()?;
                s.send_half().flushed().await
            }));
        }
        // Writers and receiver together: an error on either side ends the run.
        let writing = async {
            for w in writers {
                w.await.map_err(|e| Failure::new(1, e.to_string()))??;
            }
            Ok::<(), Failure>(())
        };
        let receiving = async { receiver.await.map_err(|e| Failure::new(1, e.to_string()))?.map_err(Failure::from) };
        let ((), (received, accepted)) =
            tokio::time::timeout(Duration::from_secs(600), async { tokio::try_join!(writing, receiving) })
                .await
                .map_err(|_| Failure::new(4, "transfer stalled for 600 s"))??;
        let secs = started.elapsed().as_secs_f64();
        if let Some(storm) = storm {
            storm.transfer_done(received);
        }
        if received != per_stream * u64::from(streams) {
            return Err(Failure::new(
                1,
                format!("received {received} bytes, sent {}", per_stream * u64::from(streams)),
            ));
        }
        Ok((received, secs, session, accepted))
    }
}

/// Other clients that open sessions to the receiving node while a transfer runs: the bytes the
/// transfer received are read when the first connect starts and when the last one ends.
struct Storm {
    received: Arc<AtomicU64>,
    start: Arc<tokio::sync::Notify>,
    /// The transfer's bytes and when it ended, once it has.
    ended: std::sync::Mutex<Option<(Instant, u64)>>,
    task: tokio::task::JoinHandle<Result<StormRun, Failure>>,
}

/// What the connecting clients saw.
struct StormRun {
    began: Instant,
    bytes_at_start: u64,
    ended: Instant,
    bytes_at_end: u64,
    opened: u32,
    nodes: Vec<Node>,
}

/// The transfer's throughput while the sessions opened.
struct StormOutcome {
    opened: u32,
    storm_secs: f64,
    window_bytes: u64,
    window_secs: f64,
    transfer_ended_first: bool,
    nodes: Vec<Node>,
}

impl Storm {
    /// Binds the client nodes and has them wait for [`Storm::go`].
    async fn start(
        seed: Seed,
        sessions: u32,
        ws: bool,
        url: &str,
        to: std::net::SocketAddr,
        batching: bool,
    ) -> Result<Storm, Failure> {
        let local = "127.0.0.1:0".parse().expect("address");
        let mut nodes = Vec::new();
        for _ in 0..STORM_CLIENTS {
            let cfg = NodeConfig::new(seed.clone()).bind(local).server_mode(false).udp_batching(batching);
            nodes.push(Node::bind(cfg).await?);
        }
        let received = Arc::new(AtomicU64::new(0));
        let start = Arc::new(tokio::sync::Notify::new());
        let (counter, go, url) = (received.clone(), start.clone(), url.to_string());
        let task = tokio::spawn(async move {
            go.notified().await;
            let began = Instant::now();
            let bytes_at_start = counter.load(Ordering::Relaxed);
            let mut tasks = tokio::task::JoinSet::new();
            let per_task = sessions.div_ceil(STORM_CLIENTS * STORM_CONCURRENCY);
            let mut left = sessions;
            for node in &nodes {
                for _ in 0..STORM_CONCURRENCY {
                    let n = per_task.min(left);
                    left -= n;
                    let (node, url) = (node.clone(), url.clone());
                    tasks.spawn(async move {
                        let mut kept = Vec::with_capacity(n as usize);
                        for _ in 0..n {
                            kept.push(if ws { node.connect_ws(&url).await? } else { node.connect(to).await? });
                        }
                        Ok::<_, stt_tokio::Error>(kept)
                    });
                }
            }
            let mut opened = 0u32;
            let mut sessions_kept = Vec::new();
            while let Some(r) = tasks.join_next().await {
                let kept = r.map_err(|e| Failure::new(1, e.to_string()))??;
                opened += kept.len() as u32;
                sessions_kept.extend(kept);
            }
            let ended = Instant::now();
            let bytes_at_end = counter.load(Ordering::Relaxed);
            drop(sessions_kept);
            Ok(StormRun { began, bytes_at_start, ended, bytes_at_end, opened, nodes })
        });
        Ok(Storm { received, start, ended: std::sync::Mutex::new(None), task })
    }

    /// Starts the connects (with the transfer).
    fn go(&self) {
        self.start.notify_one();
    }

    /// The transfer received all its `bytes`.
    fn transfer_done(&self, bytes: u64) {
        *self.ended.lock().expect("not poisoned") = Some((Instant::now(), bytes));
    }

    /// Waits for the connects to end and measures the transfer over the time they took (or up to
    /// the transfer's end, if it ended first).
    async fn finish(self) -> Result<StormOutcome, Failure> {
        let run = self.task.await.map_err(|e| Failure::new(1, e.to_string()))??;
        let ended = *self.ended.lock().expect("not poisoned");
        let (end, bytes_at_end, transfer_ended_first) = match ended {
            Some((at, bytes)) if at < run.ended => (at, bytes, true),
            _ => (run.ended, run.bytes_at_end, false),
        };
        let window_secs = end.saturating_duration_since(run.began).as_secs_f64().max(1e-6);
        Ok(StormOutcome {
            opened: run.opened,
            storm_secs: (run.ended - run.began).as_secs_f64(),
            window_bytes: bytes_at_end - run.bytes_at_start,
            window_secs,
            transfer_ended_first,
            nodes: run.nodes,
        })
    }
}

impl StormOutcome {
    /// Shuts the client nodes down.
    async fn close(self) {
        for node in self.nodes {
            node.shutdown(Duration::from_secs(1)).await;
        }
    }
}
