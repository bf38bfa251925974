//! What a sharded node buys: a listener with one shard on one thread against one with N shards
//! on N threads, each in its own process, measured side by side in one run from this process:
//! the handshakes it accepts per second from many clients at once, and the aggregate rate at
//! which it receives from 8 concurrent bulk senders.
//!
//! ```text
//! cargo run --release -p stt-tests --example shards -- [--threads 2] [--runs 5] [--sessions 4000] [--size-mib 256]
//! ```
//!
//! The listener is this program again (`--listen THREADS`), with a runtime of that many worker
//! threads and as many shards; it prints its address on stdout and runs until its stdin closes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stt_tokio::{Node, NodeConfig, Seed, StreamMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SEED: [u8; 32] = [0x51; 32];
/// Client nodes the handshakes come from, and handshakes in flight at once.
const CLIENT_NODES: usize = 16;
const CONCURRENT: usize = 64;
const SENDERS: usize = 8;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(threads) = arg(&args, "--listen") {
        listen(threads.parse().expect("--listen THREADS"));
        return;
    }
    let threads: u16 = arg(&args, "--threads").map_or(2, |t| t.parse().expect("--threads N"));
    let runs: usize = arg(&args, "--runs").map_or(5, |r| r.parse().expect("--runs N"));
    let sessions: usize = arg(&args, "--sessions").map_or(4000, |r| r.parse().expect("--sessions N"));
    let size_mib: usize = arg(&args, "--size-mib").map_or(256, |r| r.parse().expect("--size-mib N"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut rows: Vec<(u16, Vec<f64>, Vec<f64>)> = vec![(1, Vec::new(), Vec::new()), (threads, Vec::new(), Vec::new())];
    println!("listener threads (= shards) | handshakes/s | receive MB/s (8 senders)");
    for run in 0..runs {
        // Alternate the order within a run, so that neither side always goes first.
        let order: Vec<usize> = if run % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
        for i in order {
            let t = rows[i].0;
            let (hs, rx) = rt.block_on(measure(t, sessions, size_mib << 20));
            println!("run {run}: {t} | {hs:.0} | {rx:.0}");
            rows[i].1.push(hs);
            rows[i].2.push(rx);
        }
    }
    let summary = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2], v[v.len() - 1])
    };
    for (t, hs, rx) in &rows {
        let (a, b, c) = summary(hs);
        let (d, e, f) = summary(rx);
        println!("{t} thread(s): handshakes/s min {a:.0} median {b:.0} max {c:.0}; receive MB/s min {d:.0} median {e:.0} max {f:.0}");
    }
    let ratio = |k: usize| {
        let base = summary(if k == 0 { &rows[0].1 } else { &rows[0].2 }).1;
        let more = summary(if k == 0 { &rows[1].1 } else { &rows[1].2 }).1;
        more / base
    };
    println!("{threads} threads against 1 (medians): handshakes {:.2}x, receive {:.2}x", ratio(0), ratio(1));
}

/// Starts a listener of `threads` threads and shards in a child process, then measures it.
async fn measure(threads: u16, sessions: usize, size: usize) -> (f64, f64) {
    let exe = std::env::current_exe().expect("this program");
    let mut child = Command::new(exe)
        .args(["--listen", &threads.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("listener process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listener address");
    let to: SocketAddr = line.trim().parse().expect("an address");
    let handshakes = handshake_rate(to, sessions).await;
    let receive = receive_rate(to, size).await;
    drop(child.stdin.take());
    let _ = child.wait();
    (handshakes, receive)
}

fn client_config(i: usize) -> NodeConfig {
    let addr = format!("127.0.{}.{}:0", i / 250 + 1, i % 250 + 2);
    NodeConfig::new(Seed::new(&SEED).expect("seed")).bind(addr.parse().expect("address")).server_mode(false)
}

/// Sessions a second the listener accepts from `CLIENT_NODES` nodes, `CONCURRENT` handshakes
/// in flight at once (each session closed once open, so the listener's caps never bind).
async fn handshake_rate(to: SocketAddr, sessions: usize) -> f64 {
    let mut nodes = Vec::new();
    for i in 0..CLIENT_NODES {
        nodes.push(Node::bind(client_config(i)).await.expect("client node"));
    }
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..CONCURRENT {
        let node = nodes[k % CLIENT_NODES].clone();
        let share = sessions / CONCURRENT;
        tasks.spawn(async move {
            for _ in 0..share {
                let s = node.connect(to).await.expect("handshake");
                s.close(0, "measured").await;
            }
        });
    }
    tasks.join_all().await;
    let rate = (sessions / CONCURRENT * CONCURRENT) as f64 / start.elapsed().as_secs_f64();
    for n in &nodes {
        n.shutdown(Duration::from_millis(100)).await;
    }
    rate
}

/// MB/s the listener receives, in total, from `SENDERS` nodes each sending `size / SENDERS`
/// bytes on a stream at once, until every byte is acknowledged.
async fn receive_rate(to: SocketAddr, size: usize) -> f64 {
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let node = Node::bind(client_config(100 + i)).await.expect("sender node");
        let session = node.connect(to).await.expect("handshake");
        senders.push((node, session));
    }
    let each = size / SENDERS;
    let chunk = vec![0x5a_u8; 256 << 10];
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (_, session) in &senders {
        let (session, chunk) = (session.clone(), chunk.clone());
        tasks.spawn(async move {
            let mut stream = session.open_stream(StreamMode::Reliable).expect("stream");
            let mut left = each;
            while left > 0 {
                let n = left.min(chunk.len());
                stream.write_all(&chunk[..n]).await.expect("write");
                left -= n;
            }
            stream.shutdown().await.expect("finish");
            // The listener answers with one byte once it has read everything.
            let mut done = [0u8; 1];
            stream.read_exact(&mut done).await.expect("the listener's answer");
        });
    }
    tasks.join_all().await;
    let rate = (each * SENDERS) as f64 / start.elapsed().as_secs_f64() / 1e6;
    for (node, _) in &senders {
        node.shutdown(Duration::from_millis(100)).await;
    }
    rate
}

/// The listener: `threads` worker threads and as many shards, each shard reading every stream
/// to its end and answering one byte.
fn listen(threads: u16) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(threads))
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut cfg = NodeConfig::new(Seed::new(&SEED).expect("seed")).bind("127.0.0.1:0".parse().expect("address"));
        cfg.endpoint.max_sessions = 1 << 20;
        cfg.endpoint.max_sessions_per_peer = 1 << 20;
        cfg.endpoint.max_sessions_per_address = 1 << 20;
        // Many clients at once is what is measured: no cookie round.
        cfg.endpoint.cookie_above_inits_per_second = u32::MAX;
        cfg.endpoint.cookie_above_half_open = usize::MAX;
        let shards = Node::bind_shards(cfg, threads).await.expect("listener");
        println!("{}", shards[0].local_addr());
        for shard in &shards {
            let shard = shard.clone();
            tokio::spawn(async move {
                while let Some(session) = shard.accept().await {
                    tokio::spawn(async move {
                        while let Ok(mut stream) = session.accept_stream().await {
                            tokio::spawn(async move {
                                let mut buf = vec![0u8; 256 << 10];
                                while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                                let _ = stream.write_all(&[1]).await;
                                let _ = stream.shutdown().await;
                            });
                        }
                    });
                }
            });
        }
        // Until the parent closes stdin.
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        })
        .await
        .expect("stdin");
    });
}
