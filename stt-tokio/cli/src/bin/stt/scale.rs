//! `stt bench --sessions N`: one listening node and N sessions to it from client nodes in this
//! process, spread over loopback source addresses (127.0.0.2, 127.0.0.3, ...: all of 127.0.0.0/8
//! reaches this machine) so that each address holds a share the listener's per-address cap
//! admits. The sessions are held idle for `--idle` seconds with keepalives, then measured: how
//! fast they were established, what they cost in resident memory and CPU while idle, a PING's
//! round trip on sessions picked at random, how many are still alive, and a bulk transfer on one
//! more session beside them against the same transfer before they existed.
//!
//! Both ends run in this process: the memory and CPU figures are for a listener and its clients
//! together (per session *pair*). Running the clients in another process, so that the listener's
//! figures are its own, is not built yet.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use stt_tokio::{Node, NodeConfig, Seed, Session, StreamMode};

use crate::Failure;

/// What `stt bench --sessions` runs.
pub(crate) struct Options {
    pub sessions: u32,
    pub idle: Duration,
    pub size: u64,
}

/// Sessions one client node opens (one node id each: the listener's per-peer cap is raised to
/// this), and the handshakes in flight at once across all clients.
const PER_CLIENT: u32 = 1_000;
const CONCURRENT: u32 = 64;
/// Sessions picked at random for the PING round trips.
const PINGS: usize = 200;

/// Resident memory of this process, in bytes (`VmRSS` of `/proc/self/status`), if readable.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time this process used so far (user and system), if readable (`/proc/self/stat`, in
/// clock ticks of 10 ms).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Moves `size` bytes from `client` to the listener over one new session; MB/s.
async fn bulk(client: &Node, to: std::net::SocketAddr, accepted: &mut Accepted, size: u64) -> Result<f64, Failure> {
    let session = client.connect(to).await?;
    let theirs = accepted.next().await?;
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let mut s = theirs.accept_stream().await?;
        let mut n = 0u64;
        while let Some(b) = s.recv_half().read_chunk().await? {
            n += b.len() as u64;
        }
        Ok::<u64, stt_tokio::Error>(n)
    });
    let chunk = Bytes::from(vec![0x5Au8; 1 << 20]);
    let mut s = session.open_stream(StreamMode::Reliable)?;
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        s.send_half().write_all_bytes(chunk.slice(..n)).await?;
        left -= n as u64;
    }
    s.send_half().finish()?;
    let received = tokio::time::timeout(Duration::from_secs(600), reader)
        .await
        .map_err(|_| Failure::new(4, "the bulk transfer stalled for 600 s"))?
        .map_err(|e| Failure::new(1, e.to_string()))??;
    if received != size {
        return Err(Failure::new(1, format!("received {received} bytes of {size}")));
    }
    let rate = size as f64 / started.elapsed().as_secs_f64() / 1e6;
    session.close(0, "bulk done").await;
    Ok(rate)
}

/// The listener's accepted sessions, as its accept task hands them over.
struct Accepted(tokio::sync::mpsc::UnboundedReceiver<Session>);

impl Accepted {
    async fn next(&mut self) -> Result<Session, Failure> {
        tokio::time::timeout(Duration::from_secs(30), self.0.recv())
            .await
            .ok()
            .flatten()
            .ok_or_else(|| Failure::new(1, "the listener accepted no session within 30 s"))
    }
}

/// Runs the scale benchmark; prints lines of text, or with `json` one JSON object.
pub(crate) async fn run(opts: Options, json: bool) -> Result<(), Failure> {
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    let Options { sessions: n, idle, size } = opts;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Failure::new(1, format!("no OS randomness: {e}")))?;
    let seed = Seed::new(&seed).expect("32 bytes");
    let mut listener_cfg = NodeConfig::new(seed.clone()).bind("127.0.0.1:0".parse().expect("address"));
    listener_cfg.endpoint.max_sessions = n as usize + 16;
    listener_cfg.endpoint.max_sessions_per_peer = PER_CLIENT as usize + 2;
    listener_cfg.endpoint.max_sessions_per_address = PER_CLIENT as usize + 2;
    let listener = Node::bind(listener_cfg).await?;
    let to = listener.local_addr();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let acceptor = listener.clone();
    tokio::spawn(async move {
        while let Some(s) = acceptor.accept().await {
            if tx.send(s).is_err() {
                break;
            }
        }
    });
    let mut accepted = Accepted(rx);
    say(format!("stt bench --sessions {n}: one listener at {to}, clients in this process"));

    // The transfer alone, before the idle sessions exist.
    let client_cfg =
        |ip: String| NodeConfig::new(seed.clone()).bind(format!("{ip}:0").parse().expect("address")).server_mode(false);
    let bulk_client = Node::bind(client_cfg("127.0.0.1".into())).await?;
    // A first transfer warms both nodes up (buffers, pools, the sockets' queues); the second is
    // the figure.
    bulk(&bulk_client, to, &mut accepted, size).await?;
    let alone = bulk(&bulk_client, to, &mut accepted, size).await?;
    say(format!("bulk {} MiB alone: {alone:.0} MB/s", size >> 20));

    // The idle sessions: client node i at 127.0.(i / 250).(i % 250 + 2).
    let rss_before = resident_bytes();
    let clients = n.div_ceil(PER_CLIENT);
    let mut nodes = Vec::with_capacity(clients as usize);
    for i in 0..clients {
        let ip = format!("127.0.{}.{}", i / 250, i % 250 + 2);
        nodes.push(Node::bind(client_cfg(ip.clone())).await.map_err(|e| {
            Failure::new(1, format!("cannot bind a client at {ip}: {e} (is 127.0.0.0/8 routed to loopback?)"))
        })?);
    }
    let nodes = Arc::new(nodes);
    let next = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENT.min(n.max(1)) {
        let (nodes, next) = (nodes.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= n {
                    return Ok::<Vec<Session>, stt_tokio::Error>(mine);
                }
                mine.push(nodes[(k / PER_CLIENT) as usize].connect(to).await?);
            }
        }));
    }
    let mut held = Vec::with_capacity(n as usize);
    for w in workers {
        held.extend(w.await.map_err(|e| Failure::new(1, e.to_string()))??);
    }
    let mut theirs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        theirs.push(accepted.next().await?);
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let rate = f64::from(n) / connect_secs;
    say(format!("established: {n} sessions in {connect_secs:.2} s ({rate:.0}/s, {CONCURRENT} at a time)"));
    let rss_after = resident_bytes();
    let per_pair = match (rss_before, rss_after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / f64::from(n.max(1))),
        _ => None,
    };
    if let Some(p) = per_pair {
        say(format!("resident memory: {:.1} KiB per session pair (listener and client, one process)", p / 1024.0));
    }

    // Idle: keepalives only.
    let cpu_before = cpu_time();
    tokio::time::sleep(idle).await;
    let idle_cpu = match (cpu_before, cpu_time()) {
        (Some(b), Some(a)) => Some((a - b).as_secs_f64() / idle.as_secs_f64() * 100.0),
        _ => None,
    };
    let alive = held.iter().filter(|s| s.stats().is_some()).count();
    if let Some(c) = idle_cpu {
        say(format!("idle {} s: {c:.1}% of one core (listener and clients); {alive} of {n} alive", idle.as_secs()));
    }

    // PING round trips on sessions picked at random.
    let mut rtts = Vec::with_capacity(PINGS);
    let mut pick = [0u8; 8];
    for _ in 0..PINGS.min(held.len()) {
        getrandom::fill(&mut pick).map_err(|e| Failure::new(1, format!("no OS randomness: {e}")))?;
        let s = &held[(u64::from_le_bytes(pick) % held.len() as u64) as usize];
        rtts.push(s.ping().await?);
    }
    rtts.sort();
    let pct = |p: usize| rtts.get((rtts.len() * p / 100).min(rtts.len().saturating_sub(1))).copied();
    if let (Some(p50), Some(p99)) = (pct(50), pct(99)) {
        say(format!("ping on {} random sessions: median {p50:?}, p99 {p99:?}", rtts.len()));
    }

    let beside = bulk(&bulk_client, to, &mut accepted, size).await?;
    say(format!("bulk {} MiB beside {n} idle sessions: {beside:.0} MB/s ({:.2}x alone)", size >> 20, beside / alone));
    if json {
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
        let line = json!({
            "sessions": n, "established_seconds": connect_secs, "established_per_second": rate,
            "resident_bytes_per_session_pair": per_pair, "idle_seconds": idle.as_secs_f64(),
            "idle_cpu_percent_of_one_core": idle_cpu, "alive_after_idle": alive,
            "ping_ms": {"samples": rtts.len(), "median": ms(pct(50)), "p99": ms(pct(99))},
            "bulk_mb_per_s": {"alone": alone, "beside": beside, "ratio": beside / alone},
        });
        println!("{line}");
    }
    for s in &held {
        s.close(0, "bench done").await;
    }
    drop(theirs);
    listener.shutdown(Duration::from_secs(2)).await;
    Ok(())
}
