//! STT and quinn side by side, in one process and one run: bulk transfers over loopback and
//! through the impairment relay (`stt_tests::relay`), sequential handshakes, and the simulator's
//! bottleneck profiles for STT's controllers. Prints one table with ratios.
//!
//! `cargo run --release -p stt-tests --example compare` (full: 256 MiB on loopback, 10 MiB per
//! relay profile, 5 runs per cell); `-- --quick` for the short version CI runs (one run per
//! cell); `-- --runs N` repeats each transfer N times, each through the relay with another seed
//! for its random choices, and reports min / median / max (a transport is judged by its worst
//! run, which a median hides); `-- --mib N` sets the bytes of each relay profile;
//! `-- --only TEXT` runs the profiles whose name contains TEXT
//! (`-- --only handshakes`: only the handshake figure);
//! `-- --stt-only` skips quinn; `-- --limit SECS` bounds each transfer; `STT_COMPARE_VERBOSE=1`
//! prints each STT transfer's path statistics.
//!
//! Both sides move the same bytes over one stream (quinn: one unidirectional stream), timed from
//! opening the stream to the last byte read, with the handshake done before; both write a
//! 1 MiB chunk again and again without copying it (`write_all_bytes`, `write_all_chunks`) and read them without copying
//! (`read_chunk` on both), counting what arrives. quinn 0.11 runs with
//! its defaults and the named controller; STT with its defaults (its default controller).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stt_tests::relay::{Relay, RelayBottleneck, RelayConfig};
use stt_tokio::{Node, NodeConfig, Seed, StreamMode};
use tokio::io::AsyncWriteExt;

const LOCAL: &str = "127.0.0.1:0";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Quinn {
    Cubic,
    Bbr,
}

struct Profile {
    name: &'static str,
    relay: Option<RelayConfig>,
    bytes: usize,
    /// Random loss rate of the profile (for the target when the relay's ceiling binds).
    loss: f64,
}

/// A relay profile with 5 ms each way; reordered datagrams are held back 1 to 20 ms.
fn relay_profile(loss: f64, reorder: f64, dup: f64, corrupt: f64) -> RelayConfig {
    RelayConfig {
        loss,
        reorder,
        reorder_delay: Duration::from_millis(1),
        reorder_spread: Duration::from_millis(19),
        duplicate: dup,
        corrupt,
        delay: Duration::from_millis(5),
        seed: 11,
        ..RelayConfig::default()
    }
}

/// The same profile, its random choices drawn from another seed for run `run`.
fn reseeded(relay: Option<RelayConfig>, run: usize) -> Option<RelayConfig> {
    relay.map(|r| RelayConfig { seed: r.seed.wrapping_add(1000 * run as u64), ..r })
}

/// The bytes to send: one 1 MiB chunk, written again and again (as a program sending from a
/// reused buffer would), its last write cut to the total.
fn chunks(total: usize) -> Vec<bytes::Bytes> {
    let chunk =
        bytes::Bytes::from((0..1u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect::<Vec<u8>>());
    (0..total.div_ceil(chunk.len())).map(|i| chunk.slice(..(total - i * chunk.len()).min(chunk.len()))).collect()
}

/// One STT transfer; returns the goodput in MB/s, or `None` if it did not finish in `limit`.
async fn stt_transfer(relay_cfg: Option<RelayConfig>, bytes: usize, limit: Duration) -> Option<f64> {
    let seed = Seed::new(&[9; 32]).unwrap();
    let cfg = NodeConfig::new(seed.clone()).bind(LOCAL.parse().unwrap());
    let server = Node::bind(cfg.clone()).await.unwrap();
    let client = Node::bind(cfg).await.unwrap();
    let relay = relay_cfg.map(|r| Relay::start(server.local_addr(), r).unwrap());
    let target = relay.as_ref().map_or(server.local_addr(), Relay::addr);
    let session = match tokio::time::timeout(Duration::from_secs(20), client.connect(target)).await {
        Ok(Ok(s)) => s,
        other => {
            eprintln!("  STT connect failed: {:?}", other.map(|r| r.map(|_| ())));
            return None;
        }
    };
    let accepted = server.accept().await?;
    let server_session = accepted.clone();
    let payload = chunks(bytes);
    let started = Instant::now();
    let (read, written) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (read2, written2) = (read.clone(), written.clone());
    let reader = tokio::spawn(async move {
        let mut s = accepted.accept_stream().await.map_err(|e| eprintln!("  STT accept_stream: {e}")).ok()?;
        let mut n = 0;
        while let Some(chunk) = s.recv_half().read_chunk().await.map_err(|e| eprintln!("  STT read: {e}")).ok()? {
            n += chunk.len();
            read2.store(n, Ordering::Relaxed);
        }
        Some(n)
    });
    let mut s = session.open_stream(StreamMode::Reliable).ok()?;
    let tracer = std::env::var_os("STT_COMPARE_TRACE").map(|_| tokio::spawn(trace(session.clone(), started)));
    let writer = async move {
        for c in payload {
            let len = c.len();
            s.send_half().write_all_bytes(c).await.map_err(|e| eprintln!("  STT write: {e}")).ok()?;
            written2.fetch_add(len, Ordering::Relaxed);
        }
        s.shutdown().await.ok()
    };
    let Ok((w, r)) = tokio::time::timeout(limit, async { tokio::join!(writer, reader) }).await else {
        eprintln!(
            "  STT transfer did not finish in {limit:?}: written {:?} read {:?}\n  sender {:?} {:?}, relay {:?}\n  receiver {:?} {:?}\n  client node {:?}\n  server node {:?}",
            written.load(Ordering::Relaxed),
            read.load(Ordering::Relaxed),
            session.path_stats(),
            session.stats(),
            relay.as_ref().map(Relay::stats),
            server_session.path_stats(),
            server_session.stats(),
            client.stats(),
            server.stats(),
        );
        return None;
    };
    w?;
    let n = r.ok()??;
    let rate = bytes as f64 / started.elapsed().as_secs_f64() / 1e6;
    if let Some(t) = tracer {
        t.abort();
        let _ = t.await;
    }
    if std::env::var_os("STT_COMPARE_VERBOSE").is_some() {
        eprintln!(
            "  STT {rate:.1} MB/s: sender {:?}, {:?}",
            session.path_stats(),
            session.stats().map(|s| s.datagrams_sent)
        );
        if let Some(r) = &relay {
            eprintln!("  relay {:?}", r.stats());
        }
    }
    (n == bytes).then_some(rate)
}

/// `STT_COMPARE_TRACE=1`: the sender's path state every 20 ms while a transfer runs, printed
/// as it goes (goodput of the interval, losses, the controller's phase and bounds, the reordering
/// window, probe timeouts).
async fn trace(session: stt_tokio::Session, started: Instant) {
    let mut last = session.path_stats();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        let Some(p) = session.path_stats() else { return };
        let Some(l) = last.replace(p) else { continue };
        eprintln!(
            "  t {:>6.3} s  {:>6.1} MB/s  lost {:>4} (spurious {:>3})  cwnd {:>8}  in flight {:>8}  pacing {:>6.1} MB/s  rtt {:>5.1} ms  reo {:>4.1} ms  pto {}  {}",
            started.elapsed().as_secs_f64(),
            (p.delivered - l.delivered) as f64 / 0.02 / 1e6,
            p.lost_frames - l.lost_frames,
            p.spurious_losses - l.spurious_losses,
            p.congestion_window,
            p.in_flight,
            p.pacing_rate.unwrap_or(0) as f64 / 1e6,
            p.rtt.as_secs_f64() * 1e3,
            p.reordering_window.as_secs_f64() * 1e3,
            p.probe_timeouts,
            p.congestion_phase,
        );
    }
}

fn quinn_configs(cc: Quinn) -> (quinn::ServerConfig, quinn::ClientConfig) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
    let mut transport = quinn::TransportConfig::default();
    match cc {
        Quinn::Cubic => transport.congestion_controller_factory(Arc::new(quinn::congestion::CubicConfig::default())),
        Quinn::Bbr => transport.congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default())),
    };
    let transport = Arc::new(transport);
    let mut server = quinn::ServerConfig::with_single_cert(vec![cert_der.clone()], key.into()).unwrap();
    server.transport_config(transport.clone());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let mut client = quinn::ClientConfig::with_root_certificates(Arc::new(roots)).unwrap();
    client.transport_config(transport);
    (server, client)
}

/// One quinn transfer on one unidirectional stream; goodput in MB/s.
async fn quinn_transfer(relay_cfg: Option<RelayConfig>, bytes: usize, cc: Quinn, limit: Duration) -> Option<f64> {
    let (server_cfg, client_cfg) = quinn_configs(cc);
    let server = quinn::Endpoint::server(server_cfg, LOCAL.parse().unwrap()).unwrap();
    let server_addr = server.local_addr().unwrap();
    let mut client = quinn::Endpoint::client(LOCAL.parse().unwrap()).unwrap();
    client.set_default_client_config(client_cfg);
    let relay = relay_cfg.map(|r| Relay::start(server_addr, r).unwrap());
    let target = relay.as_ref().map_or(server_addr, Relay::addr);
    let accept = tokio::spawn(async move { server.accept().await?.await.ok() });
    let conn =
        tokio::time::timeout(Duration::from_secs(20), client.connect(target, "localhost").ok()?).await.ok()?.ok()?;
    let server_conn = accept.await.ok()??;
    let mut payload = chunks(bytes);
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let mut r = server_conn.accept_uni().await.ok()?;
        let mut n = 0;
        while let Some(chunk) = r.read_chunk(usize::MAX, true).await.ok()? {
            n += chunk.bytes.len();
        }
        Some(n)
    });
    let mut send = conn.open_uni().await.ok()?;
    let writer = async move {
        send.write_all_chunks(&mut payload).await.ok()?;
        send.finish().ok()
    };
    let (w, r) = tokio::time::timeout(limit, async { tokio::join!(writer, reader) }).await.ok()?;
    w?;
    let n = r.ok()??;
    let rate = (n == bytes).then(|| bytes as f64 / started.elapsed().as_secs_f64() / 1e6);
    conn.close(0u32.into(), b"done");
    rate
}

async fn stt_handshakes(n: usize) -> f64 {
    let seed = Seed::new(&[9; 32]).unwrap();
    let cfg = NodeConfig::new(seed).bind(LOCAL.parse().unwrap());
    let server = Node::bind(cfg.clone()).await.unwrap();
    let client = Node::bind(cfg).await.unwrap();
    let s2 = server.clone();
    tokio::spawn(async move { while s2.accept().await.is_some() {} });
    let started = Instant::now();
    for _ in 0..n {
        let s = client.connect(server.local_addr()).await.unwrap();
        s.close(0, "").await;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn quinn_handshakes(n: usize) -> f64 {
    let (server_cfg, client_cfg) = quinn_configs(Quinn::Cubic);
    let server = quinn::Endpoint::server(server_cfg, LOCAL.parse().unwrap()).unwrap();
    let addr: SocketAddr = server.local_addr().unwrap();
    let mut client = quinn::Endpoint::client(LOCAL.parse().unwrap()).unwrap();
    client.set_default_client_config(client_cfg);
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                if let Ok(c) = incoming.await {
                    c.closed().await;
                }
            });
        }
    });
    let started = Instant::now();
    for _ in 0..n {
        let c = client.connect(addr, "localhost").unwrap().await.unwrap();
        c.close(0u32.into(), b"");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Min, median and max of the runs of one cell; `None` if any run did not finish (a run that
/// timed out is the worst run, and no figure stands for it).
#[derive(Clone, Copy)]
struct Spread {
    min: f64,
    median: f64,
    max: f64,
}

fn spread(runs: Vec<Option<f64>>) -> Option<Spread> {
    let mut v: Vec<f64> = runs.into_iter().collect::<Option<_>>()?;
    v.sort_by(f64::total_cmp);
    Some(Spread { min: *v.first()?, median: v[v.len() / 2], max: *v.last()? })
}

fn fmt(v: Option<Spread>) -> String {
    match v {
        Some(s) if s.min == s.max => format!("{:.1}", s.median),
        Some(s) => format!("{:.1} / {:.1} / {:.1}", s.min, s.median, s.max),
        None => "timeout".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let runs: usize = value("--runs").and_then(|n| n.parse().ok()).unwrap_or(if quick { 1 } else { 5 }).max(1);
    // `--only TEXT`: run the profiles whose name contains TEXT (and no handshake figure);
    // `--only handshakes`: only the handshake figure.
    let only = value("--only");
    let (bulk, lossy, handshakes) = if quick { (32 << 20, 2 << 20, 200) } else { (256 << 20, 10 << 20, 1000) };
    let lossy = value("--mib").and_then(|n| n.parse::<usize>().ok()).map_or(lossy, |m| m << 20);
    let limit = value("--limit")
        .and_then(|n| n.parse().ok())
        .map_or(Duration::from_secs(if quick { 60 } else { 240 }), Duration::from_secs);
    let profiles = [
        Profile { name: "loopback, no relay", relay: None, bytes: bulk, loss: 0.0 },
        Profile {
            name: "relay, clean, 5 ms each way (ceiling)",
            relay: Some(relay_profile(0.0, 0.0, 0.0, 0.0)),
            bytes: lossy,
            loss: 0.0,
        },
        Profile { name: "relay, 1% loss", relay: Some(relay_profile(0.01, 0.0, 0.0, 0.0)), bytes: lossy, loss: 0.01 },
        Profile {
            name: "relay, 1% loss, 50 ms each way",
            relay: Some(RelayConfig { delay: Duration::from_millis(50), ..relay_profile(0.01, 0.0, 0.0, 0.0) }),
            bytes: lossy,
            loss: 0.01,
        },
        Profile {
            name: "relay, 5% loss, 10% reordered 1-20 ms, 1% dup",
            relay: Some(relay_profile(0.05, 0.10, 0.01, 0.0)),
            bytes: lossy,
            loss: 0.05,
        },
        Profile {
            name: "relay, 10% loss, 10% reordered, 2% dup, 1% corrupt",
            relay: Some(relay_profile(0.10, 0.10, 0.02, 0.01)),
            bytes: lossy,
            loss: 0.10,
        },
        Profile {
            name: "relay, 10% loss, 25% reordered 1-40 ms, 2% dup, 1% corrupt",
            relay: Some(RelayConfig {
                reorder_spread: Duration::from_millis(39),
                ..relay_profile(0.10, 0.25, 0.02, 0.01)
            }),
            bytes: lossy,
            loss: 0.10,
        },
        Profile {
            name: "relay, 10 Mbit/s bottleneck, 32 KB queue, 25 ms each way",
            relay: Some(RelayConfig {
                delay: Duration::from_millis(25),
                bottleneck: Some(RelayBottleneck { rate_bps: 10_000_000, queue_bytes: 32_000 }),
                seed: 12,
                ..RelayConfig::default()
            }),
            bytes: if quick { 1 << 20 } else { 4 << 20 },
            loss: 0.0,
        },
    ];
    let rt = || tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    println!(
        "STT vs quinn 0.11, one process, {runs} run(s) per cell (min / median / max; each run through the relay \
         draws its random choices from another seed), goodput in MB/s\n"
    );
    println!(
        "| profile | quinn CUBIC | quinn BBR | STT | STT / quinn BBR (median) | STT's worst / quinn BBR's median | STT / quinn CUBIC (median) | target for STT |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let stt_only = args.iter().any(|a| a == "--stt-only");
    let mut ceiling = None;
    for p in profiles.iter().filter(|p| only.as_ref().is_none_or(|o| p.name.contains(o.as_str()))) {
        let quinn = |cc| {
            if stt_only {
                return None;
            }
            spread(
                (0..runs)
                    .map(|run| rt().block_on(quinn_transfer(reseeded(p.relay, run), p.bytes, cc, limit)))
                    .collect(),
            )
        };
        let (q_cubic, q_bbr) = (quinn(Quinn::Cubic), quinn(Quinn::Bbr));
        let s =
            spread((0..runs).map(|run| rt().block_on(stt_transfer(reseeded(p.relay, run), p.bytes, limit))).collect());
        let median = |v: Option<Spread>| v.map(|s| s.median);
        if p.name.contains("ceiling") {
            ceiling = median(q_bbr);
        }
        let target = if p.relay.is_none() {
            "≥ 2x quinn".to_string()
        } else if p.loss > 0.0 {
            match (median(q_bbr), ceiling) {
                (Some(b), Some(c)) => format!(
                    "median ≥ {:.1} (min of 1.2x BBR, 0.8 x ceiling x (1-loss)), worst ≥ {:.1} (0.8x BBR)",
                    (1.2 * b).min(0.8 * c * (1.0 - p.loss)),
                    0.8 * b
                ),
                _ => "-".into(),
            }
        } else {
            "-".into()
        };
        let skipped = |v| if stt_only { "skipped".into() } else { fmt(v) };
        println!(
            "| {} ({} MiB) | {} | {} | {} | {} | {} | {} | {} |",
            p.name,
            p.bytes >> 20,
            skipped(q_cubic),
            skipped(q_bbr),
            fmt(s),
            ratio(median(s), median(q_bbr)),
            ratio(s.map(|s| s.min), median(q_bbr)),
            ratio(median(s), median(q_cubic)),
            target
        );
    }
    if only.as_deref().is_some_and(|o| o != "handshakes") {
        return;
    }
    let qh = rt().block_on(quinn_handshakes(handshakes));
    let sh = rt().block_on(stt_handshakes(handshakes));
    println!(
        "| sequential handshakes/s (connect + close, {handshakes}) | {qh:.0} | (same) | {sh:.0} | {:.2}x | | | ≥ 3x |",
        sh / qh
    );
}
