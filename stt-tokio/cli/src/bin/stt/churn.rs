//! `stt bench --churn SECONDS`: sessions opened at a steady rate (`--rate`, 1,000 a second by
//! default), each used for one message and its answer, then closed; one in a hundred is
//! abandoned instead (its client node stops without a word, as a device that loses power does).
//! The listener runs in this process and the clients in a second one, as for `--sessions`
//! (see `scale.rs`); the listener samples its own resident memory each second.
//!
//! At the end the listener's counters must add up: every session the clients opened was
//! established and ended (closed by its peer, or by the idle timeout or the unreachable-peer
//! rule for the abandoned ones), none is left, each sent its message. The run fails (exit 1)
//! when they do not; the memory figures are reported for the reader to judge.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use stt_tokio::{Channel, Node, NodeConfig, Seed};

use crate::scale::{self, ClientProcess};
use crate::Failure;

/// One session in this many is abandoned.
const ABANDON_ONE_IN: u64 = 100;
/// Sessions being opened, used or closed at once, at most.
const IN_FLIGHT: usize = 512;
/// The channel of the message each session carries, and its size.
const CHANNEL: Channel = Channel::Frame(0x80);
const MESSAGE: usize = 256;
/// The listener's idle timeout in this run, so that abandoned sessions end soon after the run.
const IDLE_TIMEOUT: Duration = Duration::from_secs(6);
/// Memory before this much of the run (a minute, or half of a shorter run) is the warm-up.
const WARM_UP: Duration = Duration::from_secs(60);

/// Runs the churn benchmark's listener and starts its clients.
pub(crate) async fn run(seconds: u64, rate: u32, json: bool) -> Result<(), Failure> {
    let say = |line: String| {
        if !json {
            println!("{line}");
        }
    };
    let seed = scale::random_seed()?;
    let mut cfg = scale::listener_config(&seed, rate.saturating_mul(30).max(10_000));
    cfg.endpoint.idle_timeout = IDLE_TIMEOUT;
    cfg.endpoint.keep_alive_interval = Some(IDLE_TIMEOUT / 3);
    let listener = Node::bind(cfg).await?;
    let to = listener.local_addr();
    say(format!(
        "stt bench --churn {seconds}: {rate} sessions a second to one listener at {to}, the clients in another process"
    ));

    // Every session: its message back, then let be (its peer closes it, or abandons it).
    let messages = Arc::new(AtomicU64::new(0));
    let acceptor = listener.clone();
    let counted = messages.clone();
    tokio::spawn(async move {
        while let Some(s) = acceptor.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                if let Ok(m) = s.recv_message().await {
                    counted.fetch_add(1, Ordering::Relaxed);
                    let _ = s.send_message(m.channel, m.payload).await;
                }
            });
        }
    });

    // The listener's resident memory, each second.
    let samples = Arc::new(std::sync::Mutex::new(Vec::<(Duration, u64)>::new()));
    let sampler = {
        let samples = samples.clone();
        let started = Instant::now();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Some(rss) = scale::resident_bytes() {
                    samples.lock().unwrap_or_else(|p| p.into_inner()).push((started.elapsed(), rss));
                }
            }
        })
    };

    let (seconds_arg, rate_arg, to_arg) = (seconds.to_string(), rate.to_string(), to.to_string());
    let args = ["bench", "--churn", &seconds_arg, "--rate", &rate_arg, "--clients-only", "--to", &to_arg];
    let cpu_before = scale::cpu_time();
    let started = Instant::now();
    let mut clients = ClientProcess::start(&args, &seed)?;
    let churned = clients.report("churned").await?;
    let run_time = started.elapsed();
    let cpu = scale::cpu_percent(cpu_before, run_time);
    clients.finish()?;
    sampler.abort();
    let count = |k: &str| churned[k].as_u64().unwrap_or(0);
    let (opened, closed, abandoned) = (count("opened"), count("closed"), count("abandoned"));
    say(format!(
        "clients: {opened} sessions in {:.1} s ({:.0}/s), {closed} closed, {abandoned} abandoned, {} failed",
        churned["seconds"].as_f64().unwrap_or(f64::NAN),
        churned["per_second"].as_f64().unwrap_or(f64::NAN),
        count("failed")
    ));

    // The abandoned sessions end by the idle timeout (or sooner, unanswered probes).
    let deadline = Instant::now() + IDLE_TIMEOUT * 3;
    while listener.stats().sessions > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = listener.stats();
    let ep = stats.endpoint;
    let ended = ep.sessions_ended;
    let received = messages.load(Ordering::Relaxed);
    let checks = [
        ("every session the clients opened was established", ep.sessions_established == opened),
        ("every closed one ended as closed by its peer", ended.closed_by_peer == closed),
        ("every abandoned one ended for silence", ended.idle_timeout + ended.unreachable == abandoned),
        ("none ended any other way", ended.closed_locally + ended.other == 0),
        ("established = ended + open", ep.sessions_established == ended.total() + stats.sessions as u64),
        ("none is left", stats.sessions == 0),
        ("each session's message arrived", received == opened),
    ];
    for (what, ok) in &checks {
        say(format!("{} {what}", if *ok { "ok  " } else { "FAIL" }));
    }
    say(format!(
        "listener: established {}, ended {} (by peer {}, idle timeout {}, unreachable {}), open {}, messages {received}, {:.1}% of one core",
        ep.sessions_established,
        ended.total(),
        ended.closed_by_peer,
        ended.idle_timeout,
        ended.unreachable,
        stats.sessions,
        cpu.unwrap_or(f64::NAN)
    ));

    let samples = samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let warm_up = WARM_UP.min(run_time / 2);
    let at_warm_up = samples.iter().find(|(t, _)| *t >= warm_up).map(|s| s.1);
    let max_after = samples.iter().filter(|(t, _)| *t >= warm_up && *t <= run_time).map(|s| s.1).max();
    let growth = match (at_warm_up, max_after) {
        (Some(a), Some(m)) if a > 0 => Some((m as f64 / a as f64 - 1.0) * 100.0),
        _ => None,
    };
    if let (Some(a), Some(m), Some(g)) = (at_warm_up, max_after, growth) {
        say(format!(
            "listener memory: {:.1} MiB at {:.0} s, at most {:.1} MiB after ({g:+.1}%)",
            a as f64 / 1048576.0,
            warm_up.as_secs_f64(),
            m as f64 / 1048576.0
        ));
    }
    let balanced = checks.iter().all(|c| c.1);
    if json {
        let line = json!({
            "seconds": seconds, "rate": rate, "clients": churned,
            "listener": {
                "established": ep.sessions_established, "open_at_end": stats.sessions, "messages": received,
                "ended": {
                    "closed_by_peer": ended.closed_by_peer, "closed_locally": ended.closed_locally,
                    "idle_timeout": ended.idle_timeout, "unreachable": ended.unreachable, "other": ended.other,
                },
                "inits_received": ep.inits_received, "half_open_expired": ep.half_open_expired,
                "dropped": ep.dropped.total(), "cpu_percent_of_one_core": cpu,
            },
            "resident_bytes": {
                "warm_up_seconds": warm_up.as_secs_f64(), "at_warm_up": at_warm_up, "max_after": max_after,
                "growth_percent": growth, "samples": samples.iter().map(|s| s.1).collect::<Vec<_>>(),
            },
            "balanced": balanced,
        });
        println!("{line}");
    }
    listener.shutdown(Duration::from_secs(1)).await;
    if !balanced {
        return Err(Failure::new(1, "the listener's counters do not add up (see the FAIL lines above)"));
    }
    Ok(())
}

/// The clients' half of `--churn`: sessions opened at `rate` a second for `seconds`, each
/// used for one message and its answer, then closed or (one in `ABANDON_ONE_IN`) abandoned.
pub(crate) async fn run_clients(
    seconds: u64,
    rate: u32,
    to: SocketAddr,
    seed: &Seed,
    controlled: bool,
) -> Result<(), Failure> {
    let outcome = clients_half(seconds, rate, to, seed).await;
    match (&outcome, controlled) {
        (Ok(v), _) => println!("{v}"),
        (Err(e), true) => println!("{}", json!({"error": e.message})),
        (Err(_), false) => {}
    }
    if controlled {
        // Stay until the listener's process has read the report.
        let mut line = String::new();
        let _ = tokio::task::block_in_place(|| std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line));
    }
    outcome.map(|_| ())
}

#[derive(Default)]
struct Tally {
    opened: AtomicU64,
    closed: AtomicU64,
    abandoned: AtomicU64,
    failed: AtomicU64,
}

async fn clients_half(seconds: u64, rate: u32, to: SocketAddr, seed: &Seed) -> Result<serde_json::Value, Failure> {
    let rate = rate.max(1);
    // Steady nodes at 127.0.0.2, ... (the listener admits 1,000 sessions per address and id).
    let steady = Arc::new(scale::client_nodes(seed, 8, |c| c).await?);
    let tally = Arc::new(Tally::default());
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let payload = Bytes::from(vec![0xC5u8; MESSAGE]);
    let total = u64::from(rate) * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    // Abandoned sessions come from a node of their own each second, stopped without a word.
    let mut leaving: Option<(Node, tokio::task::JoinSet<()>)> = None;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..total {
        tick.tick().await;
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let abandon = k % ABANDON_ONE_IN == ABANDON_ONE_IN - 1;
        let node = if abandon {
            if k % (u64::from(rate)) < ABANDON_ONE_IN || leaving.is_none() {
                if let Some((node, mut used)) = leaving.take() {
                    while used.join_next().await.is_some() {}
                    drop(node);
                }
                let cfg =
                    NodeConfig::new(seed.clone()).bind("127.0.255.2:0".parse().expect("address")).server_mode(false);
                leaving = Some((Node::bind(cfg).await?, tokio::task::JoinSet::new()));
            }
            leaving.as_ref().map(|l| l.0.clone()).expect("bound above")
        } else {
            steady[(k % steady.len() as u64) as usize].clone()
        };
        let (tally, payload) = (tally.clone(), payload.clone());
        let work = async move {
            let _permit = permit;
            let used = async {
                let s = node.connect(to).await?;
                tally.opened.fetch_add(1, Ordering::Relaxed);
                s.send_message(CHANNEL, payload.clone()).await?;
                let back = s.recv_message().await?;
                Ok::<_, stt_tokio::Error>((s, back.payload == payload))
            };
            match used.await {
                Ok((s, true)) if !abandon => {
                    s.close(0, "churn").await;
                    tally.closed.fetch_add(1, Ordering::Relaxed);
                }
                Ok((_, true)) => {
                    tally.abandoned.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        };
        match (&mut leaving, abandon) {
            (Some((_, used)), true) => {
                used.spawn(work);
            }
            _ => {
                tasks.spawn(work);
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    if let Some((node, mut used)) = leaving.take() {
        while used.join_next().await.is_some() {}
        drop(node);
    }
    let secs = started.elapsed().as_secs_f64();
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    scale::shut_down(&steady, Duration::from_secs(1)).await;
    Ok(json!({
        "report": "churned", "opened": n(&tally.opened), "closed": n(&tally.closed),
        "abandoned": n(&tally.abandoned), "failed": n(&tally.failed),
        "seconds": secs, "per_second": n(&tally.opened) as f64 / secs,
    }))
}
