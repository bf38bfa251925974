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
//! (`-- --only handshakes`: only the handshake figures, sequential handshakes a second, quinn's
//! full and resumed beside STT's one-round-trip and resumed ones; `-- --only relay-handshakes`:
//! only the time of a handshake through the relay with 25 ms each way, quinn's full and resumed
//! ones beside STT's first, repeat (known key) and resumed ones, and when a custom frame sent as
//! 0-RTT data with a resumed INIT reached the server);
//! `-- --stt-only` skips quinn; `-- --limit SECS` bounds each transfer; `STT_COMPARE_VERBOSE=1`
//! prints each STT transfer's path statistics.
//!
//! After the table, flows that share one bottleneck of the relay (a link rate and a drop-tail
//! queue, see [`shared_link`]): two STT flows (Jain's fairness index), STT beside quinn with
//! CUBIC (the ratio of their shares), and one STT flow in front of a queue four times the
//! bandwidth-delay product (the queueing delay it keeps standing). Each runs `--seconds N`
//! (default 20; 8 with `--quick`) and is measured over its second half; `-- --only sharing`
//! runs only these.
//!
//! Both sides move the same bytes over one stream (quinn: one unidirectional stream), timed from
//! opening the stream to the last byte read, with the handshake done before; both write a
//! 1 MiB chunk again and again without copying it (`write_all_bytes`, `write_all_chunks`) and read them without copying
//! (`read_chunk` on both), counting what arrives. quinn 0.11 runs with
//! its defaults and the named controller; STT with its defaults (its default controller).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// Every STT node of the comparison: one shared seed, a loopback port of its own.
fn stt_config() -> NodeConfig {
    NodeConfig::new(Seed::new(&[9; 32]).unwrap()).bind(LOCAL.parse().unwrap())
}

/// One STT transfer; returns the goodput in MB/s, or `None` if it did not finish in `limit`.
async fn stt_transfer(relay_cfg: Option<RelayConfig>, bytes: usize, limit: Duration) -> Option<f64> {
    let cfg = stt_config();
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
    quinn_configs_with(cc, true)
}

/// [`quinn_configs`], with `resume` off: rustls's session resumption disabled in the client, so
/// that every handshake is a full one (the certificate sent and verified).
fn quinn_configs_with(cc: Quinn, resume: bool) -> (quinn::ServerConfig, quinn::ClientConfig) {
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
    let mut client = if resume {
        quinn::ClientConfig::with_root_certificates(Arc::new(roots)).unwrap()
    } else {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut crypto = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        crypto.resumption = rustls::client::Resumption::disabled();
        quinn::ClientConfig::new(Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(crypto).unwrap()))
    };
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

/// `n` sequential handshakes (connect, then close) from one client node to one server node, per
/// second: after the first, one round trip to a peer met before (INIT of version 3), or with
/// `resumption` a resumed one (version 4, with the ticket the last session gave).
async fn stt_handshakes(n: usize, resumption: bool) -> f64 {
    let cfg = stt_config().resumption(resumption);
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

/// `n` sequential quinn handshakes (connect, then close) per second: full ones (rustls's session
/// resumption off: the certificate is sent and verified each time), or with `resumed` as quinn
/// does by default (rustls keeps the server's session tickets: every handshake after the first is
/// a TLS 1.3 resumption, PSK with a fresh ECDHE).
async fn quinn_handshakes(n: usize, resumed: bool) -> f64 {
    let (server_cfg, client_cfg) = quinn_configs_with(Quinn::Cubic, resumed);
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

/// The time of one handshake through a relay with 25 ms each way (RTT 50 ms), in ms: quinn's
/// full handshake (fresh configuration, so no session ticket), then STT's first handshake from a
/// fresh node and its second one to the same peer after closing the first.
async fn relay_handshakes() -> [f64; 6] {
    let relay_cfg = RelayConfig { delay: Duration::from_millis(25), ..RelayConfig::default() };
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let (server_cfg, client_cfg) = quinn_configs(Quinn::Cubic);
    let server = quinn::Endpoint::server(server_cfg, LOCAL.parse().unwrap()).unwrap();
    let relay = Relay::start(server.local_addr().unwrap(), relay_cfg).unwrap();
    let mut client = quinn::Endpoint::client(LOCAL.parse().unwrap()).unwrap();
    client.set_default_client_config(client_cfg);
    let accept = tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                if let Ok(c) = incoming.await {
                    c.closed().await;
                }
            });
        }
    });
    let started = Instant::now();
    let conn = client.connect(relay.addr(), "localhost").unwrap().await.unwrap();
    let quinn_ms = ms(started);
    // Wait for the server's session ticket (sent after the handshake), then resume with it.
    tokio::time::sleep(Duration::from_millis(120)).await;
    conn.close(0u32.into(), b"");
    let started = Instant::now();
    let conn = client.connect(relay.addr(), "localhost").unwrap().await.unwrap();
    let quinn_resumed_ms = ms(started);
    conn.close(0u32.into(), b"");
    accept.abort();
    drop(relay);

    let mut stt = [0.0; 4];
    for (resumption, at) in [(false, 0), (true, 2)] {
        let server = Node::bind(stt_config().resumption(resumption)).await.unwrap();
        let client = Node::bind(stt_config().resumption(resumption)).await.unwrap();
        let s2 = server.clone();
        // When a custom frame 0x80 reached the server (the 0-RTT probe's).
        let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(session) = s2.accept().await {
                let arrived_tx = arrived_tx.clone();
                tokio::spawn(async move {
                    if let Ok((0x80, _)) = session.recv_frame().await {
                        let _ = arrived_tx.send(Instant::now());
                    }
                });
            }
        });
        let relay = Relay::start(server.local_addr(), relay_cfg).unwrap();
        let started = Instant::now();
        let first = client.connect(relay.addr()).await.unwrap();
        let first_ms = ms(started);
        // The ticket follows the first session's confirmation, a round trip later.
        tokio::time::sleep(Duration::from_millis(120)).await;
        first.close(0, "").await;
        let started = Instant::now();
        let repeat = client.connect(relay.addr()).await.unwrap();
        let repeat_ms = ms(started);
        if resumption {
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
        repeat.close(0, "").await;
        if resumption {
            assert_eq!(client.stats().endpoint.sessions_resumed, 1, "the repeat handshake resumed");
            stt[at] = repeat_ms;
            // Resumed again, a custom frame as 0-RTT data: when it reached the server.
            let early = stt_tokio::EarlyData::default().frame(0x80, &b"first byte"[..]);
            let started = Instant::now();
            let (third, zero_rtt) = client.connect_early(relay.addr(), server.node_id(), early).await.unwrap();
            assert!(zero_rtt, "the third handshake resumed with 0-RTT data");
            let at_server = arrived.recv().await.unwrap();
            stt[3] = at_server.duration_since(started).as_secs_f64() * 1e3;
            third.close(0, "").await;
        } else {
            stt[0] = first_ms;
            stt[1] = repeat_ms;
        }
    }
    [quinn_ms, quinn_resumed_ms, stt[0], stt[1], stt[2], stt[3]]
}

fn relay_handshake_rows(runs: usize, rt: &dyn Fn() -> tokio::runtime::Runtime) {
    let mut cells: [Vec<Option<f64>>; 6] = Default::default();
    for _ in 0..runs {
        for (cell, t) in cells.iter_mut().zip(rt().block_on(relay_handshakes())) {
            cell.push(Some(t));
        }
    }
    let spreads = cells.map(spread);
    let q = spreads[0];
    let ratio = |a: Option<Spread>| match (a, q) {
        (Some(a), Some(q)) => format!("{:.2}x", a.median / q.median),
        _ => "-".into(),
    };
    println!(
        "| handshake through the relay, 25 ms each way (ms, {runs} runs) | quinn full | quinn resumed | STT first | \
         STT repeat (known key) | STT resumed | STT 0-RTT: first byte at the server |"
    );
    println!("|---|---|---|---|---|---|---|");
    let times: Vec<String> = spreads.iter().map(|s| fmt(*s)).collect();
    println!("| time (min / median / max) | {} |", times.join(" | "));
    let ratios: Vec<String> = spreads.iter().map(|s| ratio(*s)).collect();
    println!("| against quinn's full handshake (medians) | {} |", ratios.join(" | "));
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

/// The link the sharing figures cross: 20 Mbit/s towards the servers, 10 ms each way (a base
/// round trip of 20 ms, a bandwidth-delay product of 50 KB), and a drop-tail queue of
/// `queue_bdps` times that product.
fn shared_link(queue_bdps: f64) -> RelayConfig {
    RelayConfig {
        delay: Duration::from_millis(10),
        bottleneck: Some(RelayBottleneck { rate_bps: SHARED_RATE, queue_bytes: (queue_bdps * SHARED_BDP) as usize }),
        seed: 21,
        ..RelayConfig::default()
    }
}

const SHARED_RATE: u64 = 20_000_000;
const SHARED_BASE_RTT: Duration = Duration::from_millis(20);
const SHARED_BDP: f64 = SHARED_RATE as f64 / 8.0 * 0.020;

/// Who sends one of the flows that share the link.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sender {
    Stt,
    QuinnCubic,
}

/// A flow's server, bound before the relay is put in front of it.
enum FlowServer {
    Stt(Node),
    Quinn(quinn::Endpoint, quinn::ClientConfig),
}

impl FlowServer {
    async fn bind(sender: Sender) -> FlowServer {
        match sender {
            Sender::Stt => FlowServer::Stt(Node::bind(stt_config()).await.unwrap()),
            Sender::QuinnCubic => {
                let (server_cfg, client_cfg) = quinn_configs(Quinn::Cubic);
                FlowServer::Quinn(quinn::Endpoint::server(server_cfg, LOCAL.parse().unwrap()).unwrap(), client_cfg)
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            FlowServer::Stt(n) => n.local_addr(),
            FlowServer::Quinn(e, _) => e.local_addr().unwrap(),
        }
    }
}

/// A running flow: the bytes its receiver has read, and STT's sending session (for its RTT).
struct Flow {
    read: Arc<AtomicUsize>,
    stt: Option<stt_tokio::Session>,
}

/// Connects through `target` and sends without end (1 MiB chunks, again and again) until `stop`.
async fn start_flow(server: FlowServer, target: SocketAddr, stop: Arc<AtomicBool>) -> Flow {
    let read = Arc::new(AtomicUsize::new(0));
    let counted = read.clone();
    let chunk = chunks(1 << 20).remove(0);
    match server {
        FlowServer::Stt(server) => {
            let client = Node::bind(stt_config()).await.unwrap();
            let session = client.connect(target).await.expect("STT connects through the relay");
            let accepted = server.accept().await.expect("the server accepts");
            tokio::spawn(async move {
                let _server = server;
                let mut s = accepted.accept_stream().await.ok()?;
                while let Some(c) = s.recv_half().read_chunk().await.ok()? {
                    counted.fetch_add(c.len(), Ordering::Relaxed);
                }
                Some(())
            });
            let mut s = session.open_stream(StreamMode::Reliable).unwrap();
            if std::env::var_os("STT_COMPARE_TRACE").is_some() {
                tokio::spawn(trace(session.clone(), Instant::now()));
            }
            tokio::spawn(async move {
                let _client = client;
                while !stop.load(Ordering::Relaxed) {
                    s.send_half().write_all_bytes(chunk.clone()).await.ok()?;
                }
                Some(())
            });
            Flow { read, stt: Some(session) }
        }
        FlowServer::Quinn(server, client_cfg) => {
            let mut client = quinn::Endpoint::client(LOCAL.parse().unwrap()).unwrap();
            client.set_default_client_config(client_cfg);
            let accept = tokio::spawn(async move {
                let conn = server.accept().await?.await.ok()?;
                let mut r = conn.accept_uni().await.ok()?;
                while let Some(c) = r.read_chunk(usize::MAX, true).await.ok()? {
                    counted.fetch_add(c.bytes.len(), Ordering::Relaxed);
                }
                Some(())
            });
            let conn = client.connect(target, "localhost").unwrap().await.expect("quinn connects through the relay");
            let mut send = conn.open_uni().await.unwrap();
            tokio::spawn(async move {
                let (_client, _accept) = (client, accept);
                while !stop.load(Ordering::Relaxed) {
                    send.write_chunk(chunk.clone()).await.ok()?;
                }
                Some(())
            });
            Flow { read, stt: None }
        }
    }
}

/// What flows sharing the link got over the second half of the run.
struct Sharing {
    /// Each flow's goodput, bytes per second.
    goodput: Vec<f64>,
    /// The bottleneck's queueing delay of each datagram it accepted, sorted.
    queue_delay: Vec<Duration>,
    /// STT senders' smoothed RTT, sampled every 50 ms, sorted.
    stt_rtt: Vec<Duration>,
}

impl Sharing {
    fn jain(&self) -> f64 {
        let (sum, squares): (f64, f64) = self.goodput.iter().fold((0.0, 0.0), |(s, q), x| (s + x, q + x * x));
        sum * sum / (self.goodput.len() as f64 * squares)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
}

/// Runs one flow per sender through one relay with `cfg`'s bottleneck, each started `stagger`
/// after the one before, for `run` in all; measures the second half.
async fn share_link(senders: &[Sender], cfg: RelayConfig, run: Duration, stagger: Duration) -> Sharing {
    let mut servers = Vec::new();
    for s in senders {
        servers.push(FlowServer::bind(*s).await);
    }
    let relay = Relay::start_shared(&servers.iter().map(FlowServer::addr).collect::<Vec<_>>(), cfg).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut flows = Vec::new();
    for (i, (server, target)) in servers.into_iter().zip(relay.addrs()).enumerate() {
        tokio::time::sleep_until((started + stagger * i as u32).into()).await;
        flows.push(start_flow(server, target, stop.clone()).await);
    }
    tokio::time::sleep_until((started + run / 2).into()).await;
    let half = Instant::now();
    let before: Vec<usize> = flows.iter().map(|f| f.read.load(Ordering::Relaxed)).collect();
    let mut stt_rtt = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while started.elapsed() < run {
        tick.tick().await;
        stt_rtt.extend(flows.iter().filter_map(|f| f.stt.as_ref()?.path_stats()).map(|p| p.rtt));
    }
    let secs = half.elapsed().as_secs_f64();
    let goodput = flows.iter().zip(before).map(|(f, b)| (f.read.load(Ordering::Relaxed) - b) as f64 / secs).collect();
    stop.store(true, Ordering::Relaxed);
    let mut queue_delay: Vec<Duration> =
        relay.take_queue_delays().into_iter().filter(|(at, _)| *at >= half).map(|(_, d)| d).collect();
    queue_delay.sort();
    stt_rtt.sort();
    Sharing { goodput, queue_delay, stt_rtt }
}

/// The sharing figures' names, in the order they are printed.
const SHARING_ROWS: [&str; 3] = [
    "two STT flows, 1 BDP queue: Jain's index",
    "STT beside quinn CUBIC (CUBIC first), 1 BDP queue: STT's share / CUBIC's",
    "one STT flow, 4 BDP queue: median queueing delay, ms",
];

/// The three sharing figures, `runs` times each (another relay seed each time), as table rows;
/// `only`: the rows whose name contains it (all for `"sharing"`).
fn sharing_rows(runs: usize, run: Duration, only: Option<&str>, rt: &dyn Fn() -> tokio::runtime::Runtime) {
    let wanted = |name: &str| only.is_none_or(|o| o == "sharing" || name.contains(o));
    if !SHARING_ROWS.iter().any(|name| wanted(name)) {
        return;
    }
    let stagger = Duration::from_secs(2);
    let link = SHARED_RATE as f64 / 8.0;
    println!(
        "\nFlows sharing one bottleneck of the relay: {} Mbit/s, {} ms base RTT, {:.0} KB bandwidth-delay product; \
         {} s per run, the second flow starts {} s after the first, measured over the second half; {runs} run(s)\n",
        SHARED_RATE / 1_000_000,
        SHARED_BASE_RTT.as_millis(),
        SHARED_BDP / 1000.0,
        run.as_secs(),
        stagger.as_secs()
    );
    println!("| figure | min / median / max | each run | target |");
    println!("|---|---|---|---|");
    let seeded = |cfg: RelayConfig, i: usize| RelayConfig { seed: cfg.seed + 1000 * i as u64, ..cfg };
    let row = |name: &str, values: Vec<f64>, each: Vec<String>, target: &str| {
        if let Some(s) = spread(values.into_iter().map(Some).collect()) {
            println!("| {name} | {:.3} / {:.3} / {:.3} | {} | {target} |", s.min, s.median, s.max, each.join("; "));
        }
    };
    let name = SHARING_ROWS[0];
    let two: Vec<Sharing> = (0..runs)
        .filter(|_| wanted(name))
        .map(|i| rt().block_on(share_link(&[Sender::Stt, Sender::Stt], seeded(shared_link(1.0), i), run, stagger)))
        .collect();
    row(
        name,
        two.iter().map(Sharing::jain).collect(),
        two.iter()
            .map(|s| {
                format!("{:.3} ({:.0}% + {:.0}%)", s.jain(), s.goodput[0] / link * 100.0, s.goodput[1] / link * 100.0)
            })
            .collect(),
        "≥ 0.95",
    );
    let name = SHARING_ROWS[1];
    let beside: Vec<Sharing> = (0..runs)
        .filter(|_| wanted(name))
        .map(|i| {
            rt().block_on(share_link(&[Sender::QuinnCubic, Sender::Stt], seeded(shared_link(1.0), i), run, stagger))
        })
        .collect();
    row(
        name,
        beside.iter().map(|s| s.goodput[1] / s.goodput[0]).collect(),
        beside
            .iter()
            .map(|s| format!("{:.0}% / {:.0}%", s.goodput[1] / link * 100.0, s.goodput[0] / link * 100.0))
            .collect(),
        "0.5x to 2x",
    );
    let name = SHARING_ROWS[2];
    let deep: Vec<Sharing> = (0..runs)
        .filter(|_| wanted(name))
        .map(|i| rt().block_on(share_link(&[Sender::Stt], seeded(shared_link(4.0), i), run, stagger)))
        .collect();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    row(
        name,
        deep.iter().map(|s| ms(percentile(&s.queue_delay, 0.5))).collect(),
        deep.iter()
            .map(|s| {
                format!(
                    "queue p50 {:.1} / p95 {:.1} / max {:.1} ms, sender's RTT p50 {:.1} / p95 {:.1} ms, {:.0}% of the link",
                    ms(percentile(&s.queue_delay, 0.5)),
                    ms(percentile(&s.queue_delay, 0.95)),
                    ms(percentile(&s.queue_delay, 1.0)),
                    ms(percentile(&s.stt_rtt, 0.5)),
                    ms(percentile(&s.stt_rtt, 0.95)),
                    s.goodput[0] / link * 100.0
                )
            })
            .collect(),
        &format!("< {} ms (one base RTT)", SHARED_BASE_RTT.as_millis()),
    );
}

/// The table of one transfer per profile: quinn with CUBIC, with BBR (unless `stt_only`), and STT.
fn profile_table(
    profiles: &[&Profile],
    runs: usize,
    limit: Duration,
    stt_only: bool,
    rt: &dyn Fn() -> tokio::runtime::Runtime,
) {
    println!(
        "STT vs quinn 0.11, one process, {runs} run(s) per cell (min / median / max; each run through the relay \
         draws its random choices from another seed), goodput in MB/s\n"
    );
    println!(
        "| profile | quinn CUBIC | quinn BBR | STT | STT / quinn BBR (median) | STT's worst / quinn BBR's median | STT / quinn CUBIC (median) | target for STT |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut ceiling = None;
    for p in profiles {
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
    let chosen: Vec<&Profile> =
        profiles.iter().filter(|p| only.as_ref().is_none_or(|o| p.name.contains(o.as_str()))).collect();
    if !chosen.is_empty() {
        profile_table(&chosen, runs, limit, args.iter().any(|a| a == "--stt-only"), &rt);
    }
    let seconds = value("--seconds").and_then(|n| n.parse().ok()).unwrap_or(if quick { 8 } else { 20 });
    if only.as_deref() == Some("relay-handshakes") {
        return relay_handshake_rows(runs, &rt);
    }
    if only.as_deref() != Some("handshakes") {
        sharing_rows(runs, Duration::from_secs(seconds), only.as_deref(), &rt);
    }
    if only.as_deref().is_some_and(|o| o != "handshakes") {
        return;
    }
    handshake_rows(handshakes, runs, &rt);
}

/// Sequential handshakes per second on loopback, `runs` times each, side by side: quinn's full
/// and resumed handshakes, STT's one-round-trip (known key) and resumed ones.
fn handshake_rows(n: usize, runs: usize, rt: &dyn Fn() -> tokio::runtime::Runtime) {
    let mut cells: [Vec<Option<f64>>; 4] = Default::default();
    for _ in 0..runs {
        cells[0].push(Some(rt().block_on(quinn_handshakes(n, false))));
        cells[1].push(Some(rt().block_on(quinn_handshakes(n, true))));
        cells[2].push(Some(rt().block_on(stt_handshakes(n, false))));
        cells[3].push(Some(rt().block_on(stt_handshakes(n, true))));
    }
    let [qf, qr, sk, sr] = cells.map(spread);
    let ratio = |a: Option<Spread>, b: Option<Spread>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}x", a.median / b.median),
        _ => "-".into(),
    };
    println!("| sequential handshakes/s on loopback (connect + close, {n}, {runs} runs) | quinn full | quinn resumed | STT known key | STT resumed |");
    println!("|---|---|---|---|---|");
    println!("| handshakes/s (min / median / max) | {} | {} | {} | {} |", fmt(qf), fmt(qr), fmt(sk), fmt(sr));
    println!(
        "| STT known key / quinn full; STT resumed / quinn resumed (medians) | | | {} | {} |",
        ratio(sk, qf),
        ratio(sr, qr)
    );
}
