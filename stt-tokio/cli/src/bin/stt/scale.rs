//! `stt bench --sessions N`: one listening node and N sessions to it, held idle, then measured:
//! how fast they were established, what they cost the listener in resident memory and CPU while
//! idle, a PING's round trip on sessions picked at random, how many are still alive, and a bulk
//! transfer on one more session beside them against the same transfer before they existed
//! (five each way, compared by their medians).
//!
//! The listener runs in this process and the clients in a second one (this program again, as
//! `stt bench --sessions N --clients-only --controlled`), so that the listener's memory and CPU
//! figures are its own. The clients spread over loopback source addresses (127.0.0.2,
//! 127.0.0.3, ...: all of 127.0.0.0/8 reaches this machine), 1,000 sessions from each, so that
//! each address and node id holds a share the listener's caps admit. `--clients-only --to ADDR`
//! runs the clients' half alone, against a listener started by hand.
//!
//! The two processes speak one JSON object a line: the clients print `established`, then
//! `measured` after the idle time; the listener writes `close` on their stdin when it is done.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use stt_tokio::{Node, NodeConfig, NodeId, Seed, Session, StreamMode};
use zeroize::Zeroizing;

use crate::Failure;

/// What `stt bench --sessions` runs.
pub(crate) struct Options {
    pub sessions: u32,
    pub idle: Duration,
    /// The keepalive period of every session, both ends (`--keepalive`).
    pub keepalive: Duration,
    /// Bytes of the bulk transfer (the listener's half only).
    pub size: u64,
}

/// `cfg` with keepalives after `period` of silence and an idle timeout of four periods (the
/// library's defaults, 15 s and 60 s, keep that ratio).
fn with_keepalive(mut cfg: NodeConfig, period: Duration) -> NodeConfig {
    cfg.endpoint.keep_alive_interval = Some(period);
    cfg.endpoint.idle_timeout = period * 4;
    cfg
}

/// Sessions one client node opens (one node id each: the listener's per-peer cap is raised to
/// this), and the handshakes in flight at once across all clients.
const PER_CLIENT: u32 = 1_000;
const CONCURRENT: u32 = 64;
/// Sessions picked at random for the PING round trips.
const PINGS: usize = 200;
/// How long a session of the final PING round (every session) may take to answer.
const PING_ALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries of one session's handshake before the run fails.
const CONNECT_ATTEMPTS: u32 = 5;

/// Resident memory of this process, in bytes (`VmRSS` of `/proc/self/status`), if readable.
pub(crate) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Datagrams the kernel dropped at the UDP sockets bound to `port` because their receive buffer
/// was full (the `drops` column of `/proc/net/udp` and `/proc/net/udp6`), if readable: what the
/// endpoint's own counters cannot see, since those datagrams never reach it.
pub(crate) fn socket_drops(port: u16) -> Option<u64> {
    let mut total = None;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port =
                fields.get(1).and_then(|a| a.rsplit_once(':')).and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if local_port != Some(port) {
                continue;
            }
            if let Some(drops) = fields.last().and_then(|d| d.parse::<u64>().ok()) {
                *total.get_or_insert(0) += drops;
            }
        }
    }
    total
}

/// How many more of `now` than `before`, when both are known.
fn grew(before: Option<u64>, now: Option<u64>) -> Option<u64> {
    Some(now?.saturating_sub(before?))
}

/// Bytes of resident memory this process gained since `before` (from [`resident_bytes`]), per
/// one of `n` sessions.
fn resident_growth_per(before: Option<u64>, n: u32) -> Option<f64> {
    Some(resident_bytes()?.saturating_sub(before?) as f64 / f64::from(n.max(1)))
}

/// CPU time this process used so far (user and system), if readable (`/proc/self/stat`, in
/// clock ticks of 10 ms).
pub(crate) fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Percent of one core this process used between `before` (taken `over` ago) and now.
pub(crate) fn cpu_percent(before: Option<Duration>, over: Duration) -> Option<f64> {
    Some((cpu_time()? - before?).as_secs_f64() / over.as_secs_f64().max(1e-9) * 100.0)
}

pub(crate) fn random_seed() -> Result<Seed, Failure> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed).map_err(|e| Failure::new(1, format!("no OS randomness: {e}")))?;
    Ok(Seed::new(&*seed).expect("32 bytes"))
}

/// Moves `size` bytes from `client` to the listener over one new session; MB/s.
async fn bulk(client: &Node, to: SocketAddr, accepted: &mut Accepted, size: u64) -> Result<f64, Failure> {
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

/// Transfers measured alone and again beside the idle sessions: one transfer is short (64 MiB
/// is tens of milliseconds at these rates) and falls on or between the idle sessions' keepalive
/// groups by chance, so one alone is compared with one beside only as medians of several.
const BULK_RUNS: usize = 5;

/// `BULK_RUNS` transfers of `size` bytes, one after the other, each on a new session: their
/// rates in MB/s, in the order they ran.
async fn bulk_runs(client: &Node, to: SocketAddr, accepted: &mut Accepted, size: u64) -> Result<Vec<f64>, Failure> {
    let mut rates = Vec::with_capacity(BULK_RUNS);
    for _ in 0..BULK_RUNS {
        rates.push(bulk(client, to, accepted, size).await?);
    }
    Ok(rates)
}

/// Min, median and max of `rates`, as text.
fn spread(rates: &[f64]) -> (f64, String) {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    (median, format!("{:.0} / {median:.0} / {:.0} MB/s", sorted[0], sorted[sorted.len() - 1]))
}

/// The sessions the listener accepted from one node id (the bulk client's), as its accept task
/// hands them over; the others it accepts and lets be.
pub(crate) struct Accepted(tokio::sync::mpsc::UnboundedReceiver<Session>);

impl Accepted {
    /// Accepts every session `listener` is offered, passing on those of `from`.
    pub(crate) fn spawn(listener: &Node, from: NodeId) -> Accepted {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let acceptor = listener.clone();
        tokio::spawn(async move {
            while let Some(s) = acceptor.accept().await {
                if s.peer() == from && tx.send(s).is_err() {
                    break;
                }
            }
        });
        Accepted(rx)
    }

    pub(crate) async fn next(&mut self) -> Result<Session, Failure> {
        tokio::time::timeout(Duration::from_secs(30), self.0.recv())
            .await
            .ok()
            .flatten()
            .ok_or_else(|| Failure::new(1, "the listener accepted no session within 30 s"))
    }
}

/// The clients' process as the listener sees it: its stdin for orders, its stdout for reports.
pub(crate) struct ClientProcess {
    child: Child,
    orders: Option<ChildStdin>,
    reports: BufReader<ChildStdout>,
}

impl ClientProcess {
    /// Starts this program with `args` and `--controlled`, and hands it `seed` on stdin.
    pub(crate) fn start(args: &[&str], seed: &Seed) -> Result<ClientProcess, Failure> {
        let exe = std::env::current_exe().map_err(|e| Failure::new(1, format!("cannot find this program: {e}")))?;
        let mut child = Command::new(exe)
            .args(args)
            .arg("--controlled")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Failure::new(1, format!("cannot start the clients' process: {e}")))?;
        let mut orders = child.stdin.take().expect("piped");
        let reports = BufReader::new(child.stdout.take().expect("piped"));
        let line = Zeroizing::new(format!("{}\n", crate::hex(seed.as_bytes())));
        orders.write_all(line.as_bytes()).map_err(|e| Failure::new(1, format!("the clients' process: {e}")))?;
        Ok(ClientProcess { child, orders: Some(orders), reports })
    }

    /// Waits for the report named `what` (blocking this thread, not the runtime's).
    pub(crate) async fn report(&mut self, what: &str) -> Result<Value, Failure> {
        let reports = &mut self.reports;
        let line = tokio::task::block_in_place(|| {
            let mut line = String::new();
            reports.read_line(&mut line).map(|_| line)
        })
        .map_err(|e| Failure::new(1, format!("the clients' process: {e}")))?;
        let v: Value = serde_json::from_str(&line)
            .map_err(|_| Failure::new(1, format!("the clients' process ended before its {what} report")))?;
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err(Failure::new(1, format!("the clients' process failed: {e}")));
        }
        if v.get("report").and_then(Value::as_str) != Some(what) {
            return Err(Failure::new(1, format!("the clients' process sent {v} where its {what} report belonged")));
        }
        Ok(v)
    }

    /// Tells the clients to close their sessions and waits for the process to end.
    pub(crate) fn finish(mut self) -> Result<(), Failure> {
        if let Some(mut orders) = self.orders.take() {
            let _ = orders.write_all(b"close\n");
        }
        let status = self.child.wait().map_err(|e| Failure::new(1, format!("the clients' process: {e}")))?;
        if !status.success() {
            return Err(Failure::new(1, format!("the clients' process ended with {status}")));
        }
        Ok(())
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        // On an early return: never leave the clients behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A listener for `sessions` sessions from client nodes of `PER_CLIENT` each.
pub(crate) fn listener_config(seed: &Seed, sessions: u32) -> NodeConfig {
    let mut cfg = NodeConfig::new(seed.clone()).bind("127.0.0.1:0".parse().expect("address"));
    cfg.endpoint.max_sessions = sessions as usize + 16;
    cfg.endpoint.max_sessions_per_peer = PER_CLIENT as usize + 2;
    cfg.endpoint.max_sessions_per_address = PER_CLIENT as usize + 2;
    cfg
}

fn client_config(seed: &Seed, ip: &str) -> NodeConfig {
    NodeConfig::new(seed.clone()).bind(format!("{ip}:0").parse().expect("address")).server_mode(false)
}

/// Raises this process's limit of open files to its hard limit when `needed` (a socket a client
/// node) would pass the soft one (1,024 on many systems; a million sessions need 1,000 nodes).
fn allow_open_files(needed: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_some_and(|soft| soft < needed + 64) {
        let _ = setrlimit(Resource::Nofile, Rlimit { current: limit.maximum, maximum: limit.maximum });
    }
}

/// Binds `count` client nodes, node i at 127.0.(i / 250).(i % 250 + 2).
pub(crate) async fn client_nodes(
    seed: &Seed,
    count: u32,
    config: impl Fn(NodeConfig) -> NodeConfig,
) -> Result<Vec<Node>, Failure> {
    allow_open_files(u64::from(count));
    let mut nodes = Vec::with_capacity(count as usize);
    for i in 0..count {
        let ip = format!("127.0.{}.{}", i / 250, i % 250 + 2);
        nodes.push(Node::bind(config(client_config(seed, &ip))).await.map_err(|e| {
            Failure::new(1, format!("cannot bind a client at {ip}: {e} (is 127.0.0.0/8 routed to loopback?)"))
        })?);
    }
    Ok(nodes)
}

/// Shuts every node of `nodes` down at once, each with `grace` for its sessions to close.
pub(crate) async fn shut_down(nodes: &[Node], grace: Duration) {
    let mut shutdowns = tokio::task::JoinSet::new();
    for node in nodes {
        let node = node.clone();
        shutdowns.spawn(async move { node.shutdown(grace).await });
    }
    shutdowns.join_all().await;
}

/// Runs the scale benchmark's listener and starts its clients; prints lines of text, or with
/// `json` one JSON object.
pub(crate) async fn run(opts: Options, json: bool) -> Result<(), Failure> {
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    let Options { sessions: n, idle, keepalive, size } = opts;
    let seed = random_seed()?;
    let listener = Node::bind(with_keepalive(listener_config(&seed, n), keepalive)).await?;
    let to = listener.local_addr();
    say(format!(
        "stt bench --sessions {n}: one listener at {to} in this process, the clients in another; keepalive every {} s",
        keepalive.as_secs()
    ));

    // The transfer alone, before the idle sessions exist.
    let bulk_client = Node::bind(client_config(&seed, "127.0.0.1")).await?;
    let mut accepted = Accepted::spawn(&listener, bulk_client.node_id());
    // A first transfer warms both nodes up (buffers, pools, the sockets' queues); the next ones
    // are the figures.
    bulk(&bulk_client, to, &mut accepted, size).await?;
    let alone_runs = bulk_runs(&bulk_client, to, &mut accepted, size).await?;
    let (alone, alone_text) = spread(&alone_runs);
    say(format!("bulk {} MiB alone, {BULK_RUNS} runs (min / median / max): {alone_text}", size >> 20));

    let rss_before = resident_bytes();
    let drops_before = socket_drops(to.port());
    let (n_arg, idle_arg, keepalive_arg, to_arg) =
        (n.to_string(), idle.as_secs().to_string(), keepalive.as_secs().to_string(), to.to_string());
    let args = [
        "bench",
        "--sessions",
        &n_arg,
        "--idle",
        &idle_arg,
        "--keepalive",
        &keepalive_arg,
        "--clients-only",
        "--to",
        &to_arg,
    ];
    let mut clients = ClientProcess::start(&args, &seed)?;
    let established = clients.report("established").await?;
    let connect_secs = established["seconds"].as_f64().unwrap_or(f64::NAN);
    let rate = f64::from(n) / connect_secs;
    let at_established = listener.stats();
    let drops_established = socket_drops(to.port());
    let drops_opening = grew(drops_before, drops_established);
    let listener_sessions = at_established.sessions;
    let retried = established["retried"].as_u64().unwrap_or(0);
    say(format!(
        "established: {n} sessions in {connect_secs:.2} s ({rate:.0}/s, {CONCURRENT} at a time, {retried} handshakes tried again); the listener holds {listener_sessions}"
    ));
    let dropped: Vec<String> = at_established
        .endpoint
        .dropped
        .named()
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    // The kernel's drops at the listener's full socket in a phase, said when there were any.
    let say_drops = |drops: Option<u64>, when: &str| {
        if let Some(d) = drops.filter(|&d| d > 0) {
            say(format!("the listener's socket dropped {d} datagrams {when} (its receive buffer was full)"));
        }
    };
    say_drops(drops_opening, "while they opened");
    if !dropped.is_empty() || at_established.endpoint.half_open_expired > 0 {
        say(format!(
            "the listener dropped input while they opened: {}; half-open handshakes expired: {}",
            dropped.join(", "),
            at_established.endpoint.half_open_expired
        ));
    }
    let per_session = resident_growth_per(rss_before, n);
    let clients_per_session = established["resident_bytes_per_session"].as_f64();
    if let (Some(p), Some(c)) = (per_session, clients_per_session) {
        say(format!(
            "resident memory per session: listener {:.2} KiB, clients {:.2} KiB (each process its own)",
            p / 1024.0,
            c / 1024.0
        ));
    }

    // Idle: keepalives only. The clients idle as long, from the same moment.
    let cpu_before = cpu_time();
    tokio::time::sleep(idle).await;
    let idle_cpu = cpu_percent(cpu_before, idle);
    let listener_alive = listener.stats().sessions;
    let measured = clients.report("measured").await?;
    let alive = measured["alive"].as_u64().unwrap_or(0);
    let answered = measured["answered_ping"].as_u64().unwrap_or(0);
    let clients_cpu = measured["idle_cpu_percent_of_one_core"].as_f64();
    let drops_measured = socket_drops(to.port());
    let drops_idle = grew(drops_established, drops_measured);
    if let (Some(c), Some(k)) = (idle_cpu, clients_cpu) {
        say(format!(
            "idle {} s: listener {c:.1}% of one core, clients {k:.1}%; {alive} of {n} alive at the clients, {listener_alive} at the listener; {answered} answered a PING",
            idle.as_secs()
        ));
    }
    let ping = &measured["ping_ms"];
    if let (Some(p50), Some(p99)) = (ping["median"].as_f64(), ping["p99"].as_f64()) {
        say(format!("ping on {} random sessions: median {p50:.2} ms, p99 {p99:.2} ms", ping["samples"]));
    }

    say_drops(drops_idle, "while they idled and answered the PINGs");

    let beside_runs = bulk_runs(&bulk_client, to, &mut accepted, size).await?;
    let (beside, beside_text) = spread(&beside_runs);
    say(format!(
        "bulk {} MiB beside {n} idle sessions, {BULK_RUNS} runs: {beside_text} ({:.2}x alone, medians)",
        size >> 20,
        beside / alone
    ));
    let drops_bulk = grew(drops_measured, socket_drops(to.port()));
    say_drops(drops_bulk, "during that transfer");
    clients.finish()?;
    if json {
        let line = json!({
            "sessions": n, "keepalive_seconds": keepalive.as_secs(), "established_seconds": connect_secs, "established_per_second": rate, "handshakes_retried": retried,
            "resident_bytes_per_session": {"listener": per_session, "clients": clients_per_session},
            "idle_seconds": idle.as_secs_f64(),
            "idle_cpu_percent_of_one_core": {"listener": idle_cpu, "clients": clients_cpu},
            "alive_after_idle": {"clients": alive, "listener": listener_alive, "answered_ping": answered},
            "ping_ms": ping,
            "bulk_mb_per_s": {"alone": alone, "beside": beside, "ratio": beside / alone, "alone_runs": alone_runs, "beside_runs": beside_runs},
            "listener_socket_drops": {"opening": drops_opening, "idle": drops_idle, "bulk_beside": drops_bulk},
        });
        println!("{line}");
    }
    listener.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

/// Sends a PING on every session in `held`, `CONCURRENT` at a time, and counts those answered
/// within `PING_ALL_TIMEOUT`: the proof that every session is alive at both ends, not only that
/// neither end has noticed its death yet.
async fn ping_all(held: &[Session]) -> usize {
    let next = Arc::new(AtomicU32::new(0));
    let answered = Arc::new(AtomicU32::new(0));
    let sessions: Arc<[Session]> = held.into();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENT {
        let (next, answered, sessions) = (next.clone(), answered.clone(), sessions.clone());
        workers.spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(s) = sessions.get(k) else { return };
                if let Ok(Ok(_)) = tokio::time::timeout(PING_ALL_TIMEOUT, s.ping()).await {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    workers.join_all().await;
    answered.load(Ordering::Relaxed) as usize
}

/// Prints one report of the clients' half: a JSON line when controlled, else text (and with
/// `json`, the JSON line too).
fn report(controlled: bool, json: bool, text: String, v: Value) {
    if controlled || json {
        println!("{v}");
    } else {
        println!("{text}");
    }
    let _ = std::io::stdout().flush();
}

/// Reads the seed the listener's process writes as the first line on a controlled clients'
/// process's stdin.
pub(crate) fn controlled_seed() -> Result<Seed, Failure> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line).map_err(|e| Failure::new(1, format!("reading the seed: {e}")))?;
    let hex = line.trim();
    let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(
        (0..hex.len() / 2)
            .filter_map(|i| hex.get(2 * i..2 * i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
            .collect(),
    );
    Seed::new(&bytes).map_err(|_| Failure::new(2, "--controlled takes the seed as 64 hex characters on stdin"))
}

/// The clients' half: `n` sessions to `to`, held idle, measured, then closed: when the
/// listener's process says so if `controlled` (which also reports each step as a JSON line, an
/// error included), else at once.
pub(crate) async fn run_clients(
    opts: &Options,
    to: SocketAddr,
    seed: &Seed,
    controlled: bool,
    json: bool,
) -> Result<(), Failure> {
    let outcome = clients_half(opts, to, seed, controlled, json).await;
    if let (true, Err(e)) = (controlled, &outcome) {
        println!("{}", json!({"error": e.message}));
    }
    outcome
}

async fn clients_half(
    opts: &Options,
    to: SocketAddr,
    seed: &Seed,
    controlled: bool,
    json: bool,
) -> Result<(), Failure> {
    let &Options { sessions: n, idle, keepalive, .. } = opts;
    let rss_before = resident_bytes();
    let nodes = Arc::new(client_nodes(seed, n.div_ceil(PER_CLIENT), |c| with_keepalive(c, keepalive)).await?);
    let next = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicU32::new(0));
    let retried = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENT.min(n.max(1)) {
        let (nodes, next, done, retried) = (nodes.clone(), next.clone(), done.clone(), retried.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= n {
                    return Ok::<Vec<Session>, Failure>(mine);
                }
                let node = &nodes[(k / PER_CLIENT) as usize];
                // A handshake that timed out is tried again, as an application would: on a
                // machine this loaded a few do (counted and reported).
                let mut attempts = 1;
                let session = loop {
                    match node.connect(to).await {
                        Err(e) if e.is_timeout() && attempts < CONNECT_ATTEMPTS => {
                            attempts += 1;
                            retried.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(session) => break session,
                        Err(e) => {
                            // Say how far the run got: on an overloaded machine, that is the figure.
                            let established = done.load(Ordering::Relaxed);
                            let failure = Failure::from(e);
                            return Err(Failure::new(
                                failure.code,
                                format!(
                                    "{} (after {attempts} tries, with {established} of {n} sessions established in {:.0} s)",
                                    failure.message,
                                    started.elapsed().as_secs_f64()
                                ),
                            ));
                        }
                    }
                };
                mine.push(session);
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= 100_000 && d % (n / 10) == 0 {
                    eprintln!("stt bench: {d} of {n} sessions established in {:.0} s", started.elapsed().as_secs_f64());
                }
            }
        }));
    }
    let mut held = Vec::with_capacity(n as usize);
    for w in workers {
        held.extend(w.await.map_err(|e| Failure::new(1, e.to_string()))??);
    }
    let retried = retried.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    let per_session = resident_growth_per(rss_before, n);
    report(
        controlled,
        json,
        format!(
            "established: {n} sessions to {to} in {secs:.2} s ({:.0}/s, {CONCURRENT} at a time)",
            f64::from(n) / secs
        ),
        json!({"report": "established", "sessions": n, "seconds": secs, "retried": retried, "resident_bytes_per_session": per_session}),
    );

    let cpu_before = cpu_time();
    tokio::time::sleep(idle).await;
    let idle_cpu = cpu_percent(cpu_before, idle);
    let alive = held.iter().filter(|s| s.stats().is_some()).count();
    let mut rtts = Vec::with_capacity(PINGS);
    let mut pick = [0u8; 8];
    for _ in 0..PINGS.min(held.len()) {
        getrandom::fill(&mut pick).map_err(|e| Failure::new(1, format!("no OS randomness: {e}")))?;
        let s = &held[(u64::from_le_bytes(pick) % held.len() as u64) as usize];
        rtts.push(s.ping().await?);
    }
    rtts.sort();
    let answered = ping_all(&held).await;
    let pct = |p: usize| rtts.get((rtts.len() * p / 100).min(rtts.len().saturating_sub(1))).copied();
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    report(
        controlled,
        json,
        format!(
            "idle {} s: clients {:.1}% of one core; {alive} of {n} alive, {answered} answered a PING; ping on {} random sessions: median {:?}, p99 {:?}",
            idle.as_secs(),
            idle_cpu.unwrap_or(f64::NAN),
            rtts.len(),
            pct(50).unwrap_or_default(),
            pct(99).unwrap_or_default()
        ),
        json!({
            "report": "measured", "alive": alive, "answered_ping": answered, "idle_cpu_percent_of_one_core": idle_cpu,
            "ping_ms": {"samples": rtts.len(), "median": ms(pct(50)), "p99": ms(pct(99))},
        }),
    );
    if controlled {
        // Hold the sessions until the listener's process has measured its transfer beside them.
        let mut line = String::new();
        let _ = tokio::task::block_in_place(|| std::io::stdin().lock().read_line(&mut line));
    }
    shut_down(&nodes, Duration::from_secs(2)).await;
    Ok(())
}
