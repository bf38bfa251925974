//! `stt bench`: two nodes on loopback in this process; sequential handshake time and bulk
//! throughput over one or more reliable streams, over UDP or WebSocket.

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
}

/// Runs the benchmark; prints lines of text, or with `json` one JSON object, on stdout.
pub(crate) async fn run(opts: Options, json: bool) -> Result<(), Failure> {
    // The text report, line by line (nothing in JSON mode, which prints once at the end).
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    let Options { size, streams, ws, handshakes, batching, congestion } = opts;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Failure::new(1, format!("no OS randomness: {e}")))?;
    let seed = Seed::new(&seed).expect("32 bytes");
    let local = "127.0.0.1:0".parse().expect("address");
    let mut server_cfg = NodeConfig::new(seed.clone()).bind(local).ws_bind(local).udp_batching(batching);
    server_cfg.endpoint.congestion = congestion;
    let mut client_cfg = NodeConfig::new(seed).bind(local).server_mode(false).udp_batching(batching);
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
    let session = if ws { client.connect_ws(&url).await? } else { client.connect(server.local_addr()).await? };
    let accepted = server.accept().await.ok_or_else(|| Failure::new(1, "server stopped"))?;
    let per_stream = size / u64::from(streams);
    let chunk = Bytes::from(vec![0x5Au8; 1 << 20]);
    let started = Instant::now();
    let receiver = tokio::spawn(async move {
        let mut readers = Vec::new();
        for _ in 0..streams {
            let mut s = accepted.accept_stream().await?;
            readers.push(tokio::spawn(async move {
                let mut n = 0u64;
                while let Some(b) = s.recv_half().read_chunk().await? {
                    n += b.len() as u64;
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
    let path = session.path_stats();
    let stats = session.stats();
    if received != per_stream * u64::from(streams) {
        return Err(Failure::new(1, format!("received {received} bytes, sent {}", per_stream * u64::from(streams))));
    }
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
    if let (Some(p), Some(s)) = (path, stats) {
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
    if json {
        println!("{report}");
    }
    session.close(0, "bench done").await;
    drop(accepted);
    client.shutdown(Duration::from_secs(1)).await;
    server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
