//! An attack on `stt serve-store`: fetchers that ask for a large blob and never read it. Before
//! the fix the server decoded the whole blob into memory for each request and held it while
//! the write stalled: 4 sessions x 8 requests of a 32 MiB blob took it from 9 MB to 1.22 GB in
//! 5 s, 12 sessions to 2.54 GB. It now serves one chunk at a time within a node-wide budget and
//! a share per session, and cuts a request whose fetcher acknowledges nothing for the progress
//! timeout; an honest fetcher beside them is served at once.

mod tool;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use stt_tokio::{Node, NodeConfig, StreamMode};
use tokio::io::AsyncWriteExt;
use tool::*;

/// Resident memory of the process `pid`, in bytes (Linux: VmRSS in /proc/PID/status).
fn resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[cfg(target_os = "linux")]
#[test]
fn fetchers_that_never_read_cost_the_server_at_most_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let file = dir.path().join("blob.bin");
    make_file(&file, 32 << 20);
    let store = dir.path().join("store");
    let mut server = stt()
        .args(["serve-store", "--bind", "127.0.0.1:0", "--seed-file", seed.to_str().unwrap(), "--add"])
        .arg(&file)
        .arg(&store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.split_whitespace().next().unwrap().to_string();
    let mut serving = String::new();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    stderr.read_line(&mut serving).unwrap();
    // The server goes on writing to stderr: keep reading it, or its next line fails.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let addr: std::net::SocketAddr = serving.split_whitespace().last().unwrap().parse().unwrap();
    let pid = server.id();
    std::thread::sleep(Duration::from_millis(200));
    let before = resident(pid);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let request: Vec<u8> = b"STF1".iter().copied().chain(from_hex(&address)).collect();
    // 12 sessions, 8 requests each, none read; the server's memory sampled for 5 s.
    let (peak, fetched) = rt.block_on(async {
        let mut nodes = Vec::new();
        let mut streams = Vec::new();
        for _ in 0..12 {
            let node = Node::bind(NodeConfig::new(seed_of(&seed)).bind("127.0.0.1:0".parse().unwrap())).await.unwrap();
            let session = node.connect(addr).await.unwrap();
            for _ in 0..8 {
                let mut stream = session.open_stream(StreamMode::Reliable).unwrap();
                stream.write_all(&request).await.unwrap();
                stream.shutdown().await.unwrap();
                streams.push(stream);
            }
            nodes.push((node, session));
        }
        let mut peak = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            peak = peak.max(resident(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // An honest fetch beside them, while they still hold what they were sent.
        let fetched = dir.path().join("fetched.bin");
        let started = Instant::now();
        let mut command = stt();
        command.args(["fetch", "--to", &addr.to_string(), "--seed-file", seed.to_str().unwrap(), "--out"]);
        command.arg(&fetched).arg(&address);
        let honest = tokio::task::spawn_blocking(move || command.output());
        let honest = tokio::time::timeout(Duration::from_secs(60), honest)
            .await
            .expect("the honest fetch ends")
            .unwrap()
            .unwrap();
        assert!(honest.status.success(), "{}", String::from_utf8_lossy(&honest.stderr));
        println!("the honest fetch took {:.1} s beside the stalled ones", started.elapsed().as_secs_f64());
        drop(streams);
        drop(nodes);
        (peak, fetched)
    });
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(sha3_file(&fetched), sha3_file(&file), "the honest fetch is intact");
    let grew = peak.saturating_sub(before);
    println!("server resident {} MB before, {} MB at most with 96 stalled requests", before >> 20, peak >> 20);
    // The budget is 32 MiB; allow what the sessions themselves take beside it.
    assert!(grew < 56 << 20, "the server grew by {} MB", grew >> 20);
}
