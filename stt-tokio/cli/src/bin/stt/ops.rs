//! `stt ping`, `stt serve-store` and `stt fetch`: checking a peer (handshake time and round
//! trips), and the content-addressed
//! store ([`stt_cli::fetch`], [`stt_cli::storage`]) served and fetched from the command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use stt_cli::fetch::{self, FetchError, StoreServer};
use stt_cli::storage::FsBackend;
use stt_tokio::stt_proto::storage::{Address, Store};
use stt_tokio::{Node, NodeConfig};

use crate::config::Config;
use crate::{
    client_config, hex, load_tickets, open_session, printable, read_seed, save_tickets, target, write_private, Failure,
    PeerArgs,
};

/// Round trips measured on each session `stt ping` opens.
const PING_SAMPLES: usize = 3;

/// One session `stt ping` opened: who answered, where, and what it took.
struct PingRound {
    peer: String,
    remote: String,
    handshake: Duration,
    /// The round trip the core measured during the handshake (its last message and the answer).
    handshake_rtt: Option<Duration>,
    /// The session resumed with a ticket (one round trip, one X25519 agreement a side).
    resumed: bool,
    /// `PING_SAMPLES` round trips measured on the open session: a KEEPALIVE and its ACK each.
    rtts: Vec<Duration>,
}

/// Opens `count` sessions to the peer one after another; prints, for each, the time the
/// handshake took and `PING_SAMPLES` round trips measured on the session (a KEEPALIVE the peer
/// acknowledges, less the delay it reports), then a summary.
pub(crate) async fn ping(peer: &PeerArgs, cfg: &Config, count: u32, json: bool) -> Result<(), Failure> {
    target(peer, cfg)?;
    let node = Node::bind(client_config(peer, cfg)?).await?;
    load_tickets(&node, peer)?;
    let mut rounds = Vec::new();
    let mut failure = None;
    for _ in 0..count {
        let started = Instant::now();
        let resumed_before = node.stats().endpoint.sessions_resumed;
        let session = match open_session(&node, peer, cfg).await {
            Ok(session) => session,
            Err(f) => {
                failure = Some(f);
                break;
            }
        };
        let handshake = started.elapsed();
        let mut rtts = Vec::with_capacity(PING_SAMPLES);
        for _ in 0..PING_SAMPLES {
            match session.ping().await {
                Ok(rtt) => rtts.push(rtt),
                Err(e) => {
                    failure = Some(e.into());
                    break;
                }
            }
        }
        let round = PingRound {
            peer: hex(&session.peer().0),
            remote: session.remote().map(|r| r.addr.to_string()).unwrap_or_default(),
            handshake,
            handshake_rtt: session.stats().and_then(|s| s.handshake_rtt),
            resumed: node.stats().endpoint.sessions_resumed > resumed_before,
            rtts,
        };
        session.close(0, "ping").await;
        if !json {
            let rtts: Vec<String> = round.rtts.iter().map(|r| format!("{:.3}", ms(*r))).collect();
            println!(
                "handshake with {} at {}: {:.3} ms{}; rtt {} ms",
                round.peer,
                round.remote,
                ms(round.handshake),
                if round.resumed { " (resumed)" } else { "" },
                rtts.join(" / ")
            );
        }
        rounds.push(round);
        if failure.is_some() {
            break;
        }
    }
    save_tickets(&node, peer);
    node.shutdown(Duration::from_secs(1)).await;
    if let Some(f) = failure {
        return Err(f);
    }
    let handshakes: Vec<Duration> = rounds.iter().map(|r| r.handshake).collect();
    let rtts: Vec<Duration> = rounds.iter().flat_map(|r| r.rtts.iter().copied()).collect();
    if json {
        let each: Vec<_> = rounds
            .iter()
            .map(|r| {
                let mut sorted = r.rtts.clone();
                sorted.sort();
                json!({
                    "peer": r.peer,
                    "remote": r.remote,
                    "handshake_ms": ms(r.handshake),
                    "handshake_rtt_ms": r.handshake_rtt.map(ms),
                    "resumed": r.resumed,
                    "rtt_ms": sorted.get(sorted.len() / 2).copied().map(ms),
                    "rtt_samples_ms": r.rtts.iter().copied().map(ms).collect::<Vec<_>>(),
                })
            })
            .collect();
        let line = json!({"handshakes": each, "handshake_ms": summary(&handshakes), "rtt_ms": summary(&rtts)});
        println!("{line}");
    } else if let (Some(h), Some(r)) = (summary(&handshakes), summary(&rtts)) {
        println!(
            "{} handshakes: min/avg/max {:.3}/{:.3}/{:.3} ms; rtt ({} round trips) min/avg/max {:.3}/{:.3}/{:.3} ms",
            rounds.len(),
            h["min"].as_f64().unwrap_or(0.0),
            h["avg"].as_f64().unwrap_or(0.0),
            h["max"].as_f64().unwrap_or(0.0),
            rtts.len(),
            r["min"].as_f64().unwrap_or(0.0),
            r["avg"].as_f64().unwrap_or(0.0),
            r["max"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Minimum, mean and maximum in milliseconds (`None` for no values).
fn summary(values: &[Duration]) -> Option<serde_json::Value> {
    let min = values.iter().min()?;
    let max = values.iter().max()?;
    let avg = values.iter().sum::<Duration>() / values.len() as u32;
    Some(json!({"min": ms(*min), "avg": ms(avg), "max": ms(*max)}))
}

/// What `serve-store` stores and serves.
pub(crate) struct StoreOptions {
    /// The store's directory.
    pub dir: PathBuf,
    /// Files to store first.
    pub add: Vec<PathBuf>,
    /// The sealing seed's file (default: `dir/store.seed`, created on first use).
    pub store_seed_file: Option<PathBuf>,
    /// Store and exit.
    pub add_only: bool,
}

/// Opens the store, adds the files given (printing `<address> <file>` for each), then serves
/// it to every peer allowed a session until interrupted.
pub(crate) async fn serve_store(
    opts: StoreOptions,
    bind: Option<SocketAddr>,
    cfg: Option<NodeConfig>,
) -> Result<(), Failure> {
    let StoreOptions { dir, add, store_seed_file, add_only } = opts;
    // Files to add are read first: a missing one is a mistake found before anything is stored.
    let mut contents = Vec::with_capacity(add.len());
    for path in &add {
        let bytes = std::fs::read(path).map_err(|e| Failure::new(2, format!("cannot read {}: {e}", path.display())))?;
        contents.push((path, bytes));
    }
    let backend =
        FsBackend::open(&dir).map_err(|e| Failure::new(1, format!("cannot open store {}: {e}", dir.display())))?;
    let seed = store_seed(&dir, store_seed_file.as_deref())?;
    let mut store = Store::new(backend, seed.as_bytes());
    for (path, bytes) in contents {
        let address =
            store.put(&bytes).map_err(|e| Failure::new(1, format!("cannot store {}: {e}", path.display())))?;
        println!("{address} {}", path.display());
    }
    if add_only {
        return Ok(());
    }
    let (Some(bind), Some(cfg)) = (bind, cfg) else {
        return Err(Failure::new(2, "serve-store needs --bind ADDRESS (or bind in the config file)"));
    };
    let count = store.list().len();
    let node = Node::bind(cfg.bind(bind)).await?;
    eprintln!(
        "serving the store {} ({count} blobs) on udp {}",
        printable(&dir.display().to_string()),
        node.local_addr()
    );
    eprintln!("node id {}", hex(&node.node_id().0));
    let server = StoreServer::new(Arc::new(Mutex::new(store)));
    while let Some(session) = node.accept().await {
        server.serve_session(session);
    }
    Ok(())
}

/// The store's sealing seed: the given file, or `dir/store.seed` (created, mode 0600, with a
/// new random seed the first time).
fn store_seed(dir: &Path, file: Option<&Path>) -> Result<stt_tokio::Seed, Failure> {
    if let Some(file) = file {
        return read_seed(file);
    }
    let path = dir.join("store.seed");
    if !path.exists() {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *seed).map_err(|e| Failure::new(1, format!("no OS randomness: {e}")))?;
        write_private(&path, zeroize::Zeroizing::new(format!("{}\n", hex(&*seed))).as_bytes())?;
    }
    read_seed(&path)
}

/// Fetches `address` from the peer and writes it to `out` (a new file) or stdout.
pub(crate) async fn fetch(
    peer: &PeerArgs,
    cfg: &Config,
    address: &str,
    out: Option<PathBuf>,
    max_size: u64,
) -> Result<(), Failure> {
    let address = Address::from_hex(address)
        .ok_or_else(|| Failure::new(2, format!("{address:?} is not a store address (64 hex characters)")))?;
    if let Some(out) = &out {
        if out.exists() {
            return Err(Failure::new(2, format!("{} exists already (it is never replaced)", out.display())));
        }
    }
    target(peer, cfg)?;
    let node = Node::bind(client_config(peer, cfg)?).await?;
    load_tickets(&node, peer)?;
    let result = async {
        let session = open_session(&node, peer, cfg).await?;
        let fetched = fetch::fetch(&session, &address, max_size).await;
        save_tickets(&node, peer);
        session.close(0, "fetch done").await;
        match fetched {
            Ok(content) => Ok(content),
            Err(FetchError::Transport(e)) => Err(Failure::from(e)),
            Err(e) => Err(Failure::new(1, e.to_string())),
        }
    }
    .await;
    node.shutdown(Duration::from_secs(1)).await;
    let content = result?;
    match out {
        Some(path) => {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| Failure::new(1, format!("cannot create {}: {e}", path.display())))?;
            file.write_all(&content)
                .and_then(|()| file.sync_all())
                .map_err(|e| Failure::new(1, format!("cannot write {}: {e}", path.display())))?;
            eprintln!("fetched {address} ({} bytes, verified) into {}", content.len(), path.display());
        }
        None => {
            use tokio::io::AsyncWriteExt;
            let mut stdout = tokio::io::stdout();
            stdout.write_all(&content).await?;
            stdout.flush().await?;
        }
    }
    Ok(())
}
