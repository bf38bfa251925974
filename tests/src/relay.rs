//! A userspace UDP impairment relay for tests over real sockets (this kind of machine has no
//! `tc netem`). It sits between a client and a server: the client sends to [`Relay::addr`], the
//! relay forwards to the target and back, applying seeded loss, duplication, corruption, delay
//! with jitter, reordering (a chosen fraction of datagrams is held back so that later ones
//! overtake it) and, optionally, a bottleneck towards the server (a link rate with a drop-tail
//! queue). [`Relay::start_shared`] puts several client/server pairs through one relay, so that
//! their flows share the bottleneck's queue as flows crossing one congested link do. Two threads
//! per pair and one that forwards; all stop when the relay is dropped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the relay does to each datagram, in each direction.
#[derive(Clone, Copy, Debug)]
pub struct RelayConfig {
    /// Fraction dropped.
    pub loss: f64,
    /// Fraction sent twice.
    pub duplicate: f64,
    /// Fraction with one byte flipped.
    pub corrupt: f64,
    /// Fraction held back by `reorder_delay` extra, so that later datagrams overtake them.
    pub reorder: f64,
    /// Extra delay of reordered datagrams (the least of it, with `reorder_spread`).
    pub reorder_delay: Duration,
    /// Reordered datagrams are held back `reorder_delay` plus up to this much more, uniformly.
    pub reorder_spread: Duration,
    /// Base one-way delay.
    pub delay: Duration,
    /// Uniform extra delay, 0 to `jitter`.
    pub jitter: Duration,
    /// Seed of the relay's random choices.
    pub seed: u64,
    /// A bottleneck on the way to the server: datagrams are serialised at this rate through a
    /// drop-tail queue, before the delay is added.
    pub bottleneck: Option<RelayBottleneck>,
}

/// A link rate and a drop-tail queue in front of the server.
#[derive(Clone, Copy, Debug)]
pub struct RelayBottleneck {
    /// Link rate in bits per second.
    pub rate_bps: u64,
    /// Queue capacity in bytes.
    pub queue_bytes: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            loss: 0.0,
            duplicate: 0.0,
            corrupt: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            reorder_spread: Duration::ZERO,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            seed: 1,
            bottleneck: None,
        }
    }
}

/// Counts of what the relay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Datagrams received from either side.
    pub received: u64,
    /// Dropped.
    pub dropped: u64,
    /// Sent an extra time.
    pub duplicated: u64,
    /// Corrupted.
    pub corrupted: u64,
    /// Held back to be overtaken.
    pub reordered: u64,
    /// Dropped by the bottleneck's full queue.
    pub queue_drops: u64,
    /// Bytes delivered to the server (after every impairment).
    pub to_server_bytes: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    corrupted: AtomicU64,
    reordered: AtomicU64,
    queue_drops: AtomicU64,
    to_server_bytes: AtomicU64,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: Instant,
    order: u64,
    /// Which client/server pair it belongs to.
    pair: usize,
    to_server: bool,
    bytes: Vec<u8>,
}

/// One client/server pair: the socket its client sends to, the one that talks to its server,
/// and the client's address once it has sent.
struct Pair {
    front: UdpSocket,
    back: UdpSocket,
    client: Mutex<Option<SocketAddr>>,
}

struct Shared {
    cfg: RelayConfig,
    /// The schedule, the order counter, the random state, and when the bottleneck is free.
    queue: Mutex<(BinaryHeap<Reverse<Pending>>, u64, u64, Instant)>,
    ready: Condvar,
    stop: AtomicBool,
    /// Every datagram is dropped while set (a firewall that blocks UDP).
    blocked: AtomicBool,
    pairs: Vec<Pair>,
    counters: Counters,
    /// When each datagram entered the bottleneck and how long it waited in its queue.
    queue_delays: Mutex<Vec<(Instant, Duration)>>,
}

/// A running relay.
pub struct Relay {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    /// Starts a relay on 127.0.0.1 in front of `target`.
    pub fn start(target: SocketAddr, cfg: RelayConfig) -> std::io::Result<Relay> {
        Relay::start_shared(&[target], cfg)
    }

    /// Starts one relay in front of several servers: each gets its own address to send to
    /// ([`Relay::addrs`], in the order of `targets`), and every pair's datagrams go through the
    /// same impairments and the same bottleneck queue.
    pub fn start_shared(targets: &[SocketAddr], cfg: RelayConfig) -> std::io::Result<Relay> {
        let mut pairs = Vec::new();
        for target in targets {
            let front = UdpSocket::bind("127.0.0.1:0")?;
            let back = UdpSocket::bind("127.0.0.1:0")?;
            back.connect(target)?;
            for s in [&front, &back] {
                s.set_read_timeout(Some(Duration::from_millis(20)))?;
            }
            pairs.push(Pair { front, back, client: Mutex::new(None) });
        }
        let shared = Arc::new(Shared {
            cfg,
            queue: Mutex::new((BinaryHeap::new(), 0, cfg.seed | 1, Instant::now())),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            pairs,
            counters: Counters::default(),
            queue_delays: Mutex::new(Vec::new()),
        });
        let mut threads = Vec::new();
        for pair in 0..targets.len() {
            for from_client in [true, false] {
                let s = shared.clone();
                threads.push(std::thread::spawn(move || receive(&s, pair, from_client)));
            }
        }
        let s = shared.clone();
        threads.push(std::thread::spawn(move || forward(&s)));
        Ok(Relay { shared, threads })
    }

    /// Where the client sends (of the first pair, with [`Relay::start_shared`]).
    pub fn addr(&self) -> SocketAddr {
        self.addrs()[0]
    }

    /// Where each pair's client sends, in the order the targets were given.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.shared.pairs.iter().map(|p| p.front.local_addr().expect("a bound socket")).collect()
    }

    /// The queueing delay of every datagram the bottleneck accepted since the last call: when it
    /// arrived, and how long it waited behind the datagrams queued before it (empty without a
    /// bottleneck).
    pub fn take_queue_delays(&self) -> Vec<(Instant, Duration)> {
        std::mem::take(&mut *self.shared.queue_delays.lock().unwrap())
    }

    /// Drops every datagram in both directions while `blocked` (counted as dropped), as a
    /// firewall that blocks UDP would; `false` restores the configured impairments.
    pub fn set_blocked(&self, blocked: bool) {
        self.shared.blocked.store(blocked, Ordering::Relaxed);
    }

    /// What the relay did so far.
    pub fn stats(&self) -> RelayStats {
        let c = &self.shared.counters;
        RelayStats {
            received: c.received.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            duplicated: c.duplicated.load(Ordering::Relaxed),
            corrupted: c.corrupted.load(Ordering::Relaxed),
            reordered: c.reordered.load(Ordering::Relaxed),
            queue_drops: c.queue_drops.load(Ordering::Relaxed),
            to_server_bytes: c.to_server_bytes.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn chance(state: &mut u64, p: f64) -> bool {
    p > 0.0 && (next(state) >> 11) as f64 / (1u64 << 53) as f64 <= p
}

/// Reads datagrams from one side of a pair and schedules them, impaired, for the other.
fn receive(s: &Shared, pair: usize, from_client: bool) {
    let mut buf = vec![0u8; 65_536];
    let c = &s.counters;
    let p = &s.pairs[pair];
    let socket = if from_client { &p.front } else { &p.back };
    while !s.stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
        if from_client {
            *p.client.lock().unwrap() = Some(from);
        }
        c.received.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut q = s.queue.lock().unwrap();
        let (heap, order, rng, busy_until) = &mut *q;
        if s.blocked.load(Ordering::Relaxed) || chance(rng, s.cfg.loss) {
            c.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        // The bottleneck: serialise behind what is queued, drop when the queue is full.
        let mut depart = now;
        if let Some(b) = s.cfg.bottleneck.filter(|_| from_client) {
            let start = (*busy_until).max(now);
            let queued = ((start - now).as_nanos() * u128::from(b.rate_bps) / 8 / 1_000_000_000) as usize;
            if queued + n > b.queue_bytes {
                c.queue_drops.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            *busy_until = start + Duration::from_nanos((n as u128 * 8 * 1_000_000_000 / u128::from(b.rate_bps)) as u64);
            depart = *busy_until;
            s.queue_delays.lock().unwrap().push((now, start - now));
        }
        let copies = if chance(rng, s.cfg.duplicate) {
            c.duplicated.fetch_add(1, Ordering::Relaxed);
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut bytes = buf[..n].to_vec();
            if chance(rng, s.cfg.corrupt) && n > 0 {
                c.corrupted.fetch_add(1, Ordering::Relaxed);
                let i = next(rng) as usize % n;
                bytes[i] ^= 1 << (next(rng) % 8);
            }
            let jitter_ns = s.cfg.jitter.as_nanos() as u64;
            let mut at =
                depart + s.cfg.delay + Duration::from_nanos(if jitter_ns > 0 { next(rng) % jitter_ns } else { 0 });
            if chance(rng, s.cfg.reorder) {
                c.reordered.fetch_add(1, Ordering::Relaxed);
                let spread_ns = s.cfg.reorder_spread.as_nanos() as u64;
                at += s.cfg.reorder_delay + Duration::from_nanos(if spread_ns > 0 { next(rng) % spread_ns } else { 0 });
            }
            *order += 1;
            heap.push(Reverse(Pending { at, order: *order, pair, to_server: from_client, bytes }));
        }
        drop(q);
        s.ready.notify_one();
    }
}

/// Sends scheduled datagrams when they are due.
fn forward(s: &Shared) {
    let mut q = s.queue.lock().unwrap();
    while !s.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        match q.0.peek() {
            Some(Reverse(p)) if p.at <= now => {
                let Reverse(p) = q.0.pop().expect("peeked");
                drop(q);
                let pair = &s.pairs[p.pair];
                if p.to_server {
                    if pair.back.send(&p.bytes).is_ok() {
                        s.counters.to_server_bytes.fetch_add(p.bytes.len() as u64, Ordering::Relaxed);
                    }
                } else if let Some(client) = *pair.client.lock().unwrap() {
                    let _ = pair.front.send_to(&p.bytes, client);
                }
                q = s.queue.lock().unwrap();
            }
            Some(Reverse(p)) => {
                let wait = p.at - now;
                q = s.ready.wait_timeout(q, wait).unwrap().0;
            }
            None => q = s.ready.wait_timeout(q, Duration::from_millis(20)).unwrap().0,
        }
    }
}
