//! The simulator. See the crate docs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use sha3::{Digest, Sha3_256};
use stt_proto::{
    Endpoint, EndpointConfig, Event, Identity, Instant, Remote, Route, SessionHandle, Shard, ShardChange, Transport,
};

/// Index of a node in a [`Sim`].
pub type NodeIdx = usize;

/// Impairments of a link, all seeded. Probabilities are in `0.0..=1.0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Impairment {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability a datagram is held back by an extra random delay up to `reorder_window`.
    pub reorder: f64,
    /// Largest extra delay of a reordered datagram.
    pub reorder_window: Duration,
    /// Probability one random bit of the datagram is flipped.
    pub corrupt: f64,
    /// Base one-way delay.
    pub delay: Duration,
    /// Extra uniform random delay added to each datagram.
    pub jitter: Duration,
    /// Bursty loss (Gilbert-Elliott): probability of entering the bad state per datagram, of
    /// leaving it, and the loss probability while in it. Applies on top of `loss`.
    pub burst: Option<BurstLoss>,
    /// Datagrams larger than this are dropped (path MTU).
    pub mtu: Option<usize>,
}

/// Two-state bursty loss model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurstLoss {
    /// Chance per datagram to go from good to bad.
    pub enter: f64,
    /// Chance per datagram to go from bad to good.
    pub leave: f64,
    /// Loss probability in the bad state.
    pub loss_in_bad: f64,
}

/// A bottleneck in front of a node: everything sent to it is serialised at `rate_bps` through a
/// drop-tail queue of `queue_bytes`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bottleneck {
    /// Link rate in bits per second.
    pub rate_bps: u64,
    /// Queue capacity in bytes.
    pub queue_bytes: usize,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_window: Duration::ZERO,
            corrupt: 0.0,
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            burst: None,
            mtu: None,
        }
    }
}

impl Impairment {
    /// Only loss, on top of the default 10 ms delay.
    pub fn lossy(loss: f64) -> Self {
        Impairment { loss, ..Default::default() }
    }
}

/// One datagram in flight or recorded by the tap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// When it was sent.
    pub sent_at: Instant,
    /// Sender's address.
    pub from: SocketAddr,
    /// Destination address.
    pub to: SocketAddr,
    /// Transport it travels on.
    pub transport: Transport,
    /// Bytes.
    pub bytes: Vec<u8>,
}

/// A node of the simulation.
pub struct SimNode {
    /// The endpoint under test.
    pub endpoint: Endpoint,
    /// Its address.
    pub addr: SocketAddr,
    /// Every event it produced, in order.
    pub events: Vec<Event>,
    /// False while the node is cut off the network.
    pub online: bool,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: SocketAddr,
    from: SocketAddr,
    transport: Transport,
    bytes: Vec<u8>,
}

/// splitmix64: small, seeded, good enough to drive impairments (not cryptography).
#[derive(Clone, Debug)]
pub struct TestRng(u64);

impl TestRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        TestRng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0.0..1.0`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
    /// Uniform duration in `0..=max`.
    pub fn duration(&mut self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next_u64() % (max.as_nanos() as u64 + 1))
    }
    /// 32 random bytes.
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for c in out.chunks_mut(8) {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        out
    }
}

/// How a sharded node's address hands a datagram to one of its shards before the shards route
/// it among themselves: as a `SO_REUSEPORT` group steers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steering {
    /// By the session id in the first header, `id mod count` (the steering program a driver
    /// attaches on Linux).
    ById,
    /// By a hash of the sender's address (the kernel's default without a program): most
    /// datagrams land on a shard that does not own them and are handed on.
    BySource,
}

/// The shards of one sharded node, all at one address, and what its driver keeps to route
/// among them.
struct ShardGroup {
    members: Vec<NodeIdx>,
    steering: Steering,
    /// Sessions a shard opened as initiator whose id (the responder's choice) another shard
    /// owns: id -> shard.
    foreign: HashMap<u64, u16>,
}

/// What the interceptor decides for a datagram.
pub enum Verdict {
    /// Deliver (possibly after the interceptor changed it).
    Deliver,
    /// Drop.
    Drop,
}

type Interceptor = Box<dyn FnMut(&mut Datagram) -> Verdict>;

/// The simulated network.
pub struct Sim {
    /// Virtual time.
    pub now: Instant,
    /// The nodes.
    pub nodes: Vec<SimNode>,
    by_addr: HashMap<SocketAddr, NodeIdx>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    rng: TestRng,
    /// Impairment of every link without its own.
    pub default_link: Impairment,
    links: HashMap<(SocketAddr, SocketAddr), Impairment>,
    /// Every datagram sent, when recording is on.
    pub tap: Option<Vec<Datagram>>,
    interceptor: Option<Interceptor>,
    hasher: Sha3_256,
    /// Bytes sent to each address by anyone (for amplification checks).
    pub bytes_to: HashMap<SocketAddr, u64>,
    /// Bytes received from each address by anyone.
    pub bytes_from: HashMap<SocketAddr, u64>,
    /// Steps taken.
    pub steps: u64,
    buf: Vec<u8>,
    bottlenecks: HashMap<SocketAddr, (Bottleneck, Instant)>,
    bad_state: HashMap<(SocketAddr, SocketAddr), bool>,
    /// Datagrams dropped by bottleneck queues.
    pub queue_drops: u64,
    /// Bytes delivered to each address (after every impairment).
    pub delivered_to: HashMap<SocketAddr, u64>,
    wakes: BinaryHeap<Reverse<Instant>>,
    /// How long handshake work handed out by an endpoint with `offload_handshakes` takes to come
    /// back (as a driver's worker thread would); zero: at once, within the same flush.
    pub handshake_work_delay: Duration,
    /// Handshake work out, with when it comes back and to which node; the earliest first.
    offloaded: VecDeque<(Instant, NodeIdx, stt_proto::HandshakeWork)>,
    /// Sharded nodes by their address.
    shard_groups: HashMap<SocketAddr, ShardGroup>,
    /// Node -> the address of the sharded node it is a shard of.
    shard_of: HashMap<NodeIdx, SocketAddr>,
    /// Datagrams one shard handed to another (after steering).
    pub forwarded: u64,
}

impl Sim {
    /// An empty network; `seed` drives every impairment and every endpoint's RNG.
    pub fn new(seed: u64) -> Self {
        Sim {
            now: Instant::from_nanos(1_000_000_000),
            nodes: Vec::new(),
            by_addr: HashMap::new(),
            in_flight: BinaryHeap::new(),
            seq: 0,
            rng: TestRng::new(seed),
            default_link: Impairment::default(),
            links: HashMap::new(),
            tap: None,
            interceptor: None,
            hasher: Sha3_256::new(),
            bytes_to: HashMap::new(),
            bytes_from: HashMap::new(),
            steps: 0,
            buf: vec![0u8; 1 << 16],
            bottlenecks: HashMap::new(),
            bad_state: HashMap::new(),
            queue_drops: 0,
            delivered_to: HashMap::new(),
            wakes: BinaryHeap::new(),
            handshake_work_delay: Duration::ZERO,
            offloaded: VecDeque::new(),
            shard_groups: HashMap::new(),
            shard_of: HashMap::new(),
            forwarded: 0,
        }
    }

    /// Makes the simulation stop at `t` even if nothing happens then (an application timer).
    pub fn wake_at(&mut self, t: Instant) {
        self.wakes.push(Reverse(t));
    }

    /// Puts a bottleneck in front of `node`: all traffic to it shares the rate and the queue.
    pub fn set_bottleneck(&mut self, node: NodeIdx, b: Bottleneck) {
        self.bottlenecks.insert(self.nodes[node].addr, (b, self.now));
    }

    /// Adds a node with `config`, an identity from `node_seed`, at 10.0.x.y:4433.
    pub fn add_node(&mut self, config: EndpointConfig, node_seed: [u8; 32]) -> NodeIdx {
        let idx = self.nodes.len();
        let addr: SocketAddr =
            format!("10.{}.{}.{}:4433", idx >> 16 & 0xff, idx >> 8 & 0xff, idx & 0xff).parse().unwrap();
        self.add_node_at(config, node_seed, addr)
    }

    /// Adds a node at a chosen address.
    pub fn add_node_at(&mut self, config: EndpointConfig, node_seed: [u8; 32], addr: SocketAddr) -> NodeIdx {
        let idx = self.nodes.len();
        let identity = Identity::from_seed_bytes(&node_seed).expect("32-byte seed");
        let rng_seed = self.rng.bytes32();
        let endpoint = Endpoint::new(config, identity, rng_seed).expect("valid config");
        self.nodes.push(SimNode { endpoint, addr, events: Vec::new(), online: true });
        self.by_addr.insert(addr, idx);
        idx
    }

    /// Adds one node of `count` shards at `addr`, all with `config` (its `shard` set for each)
    /// and the identity from `node_seed`; returns the shards in index order. Datagrams to
    /// `addr` are steered to a shard as `steering` says, then routed among the shards as a
    /// driver does ([`Endpoint::route`], then the ids of sessions the shards opened).
    pub fn add_sharded_node(
        &mut self,
        config: EndpointConfig,
        node_seed: [u8; 32],
        addr: SocketAddr,
        count: u16,
        steering: Steering,
    ) -> Vec<NodeIdx> {
        let members: Vec<NodeIdx> = (0..count)
            .map(|i| {
                let mut config = config.clone();
                config.shard = Shard::new(i, count).expect("valid shard");
                let idx = self.add_node_at(config, node_seed, addr);
                self.shard_of.insert(idx, addr);
                idx
            })
            .collect();
        self.by_addr.insert(addr, members[0]);
        let group = ShardGroup { members: members.clone(), steering, foreign: HashMap::new() };
        self.shard_groups.insert(addr, group);
        members
    }

    /// The shard of the node at `to` that handles a datagram from `from`, and whether it was
    /// handed on from the shard the steering chose; `default` for an address without shards.
    fn shard_for(&self, to: SocketAddr, from: SocketAddr, bytes: &[u8], default: NodeIdx) -> (NodeIdx, bool) {
        let Some(g) = self.shard_groups.get(&to) else { return (default, false) };
        let count = g.members.len() as u64;
        let id = bytes.get(3..11).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
        let steered = match g.steering {
            Steering::ById => id.map_or(0, |id| id % count),
            Steering::BySource => {
                let h = from
                    .to_string()
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
                h % count
            }
        } as usize;
        let first = g.members[steered];
        let owner = match self.nodes[first].endpoint.route(bytes) {
            Route::Known => steered,
            Route::Unknown { owner, session_id } => {
                session_id.and_then(|id| g.foreign.get(&id)).copied().unwrap_or(owner) as usize
            }
        };
        (g.members[owner], owner != steered)
    }

    /// Keeps a sharded node's map of the sessions its shards opened whose ids other shards own,
    /// from shard `node`'s changes.
    fn note_shard_changes(&mut self, node: NodeIdx) {
        let Some(addr) = self.shard_of.get(&node) else { return };
        let g = self.shard_groups.get_mut(addr).expect("group of a shard");
        let index = self.nodes[node].endpoint.config().shard.index();
        while let Some(change) = self.nodes[node].endpoint.poll_shard_change() {
            match change {
                ShardChange::Claimed(id) => g.foreign.insert(id, index),
                ShardChange::Released(id) => g.foreign.remove(&id),
            };
        }
    }

    /// Moves a node to a new address (a client rebinding its socket).
    pub fn rebind(&mut self, node: NodeIdx, addr: SocketAddr) {
        self.by_addr.remove(&self.nodes[node].addr);
        self.nodes[node].addr = addr;
        self.by_addr.insert(addr, node);
    }

    /// Sets the impairment of the link `from -> to`.
    pub fn set_link(&mut self, from: NodeIdx, to: NodeIdx, imp: Impairment) {
        self.links.insert((self.nodes[from].addr, self.nodes[to].addr), imp);
    }

    /// Starts recording every datagram.
    pub fn record(&mut self) {
        self.tap = Some(Vec::new());
    }

    /// Installs a function that sees (and may change or drop) every datagram before impairment.
    pub fn intercept(&mut self, f: impl FnMut(&mut Datagram) -> Verdict + 'static) {
        self.interceptor = Some(Box::new(f));
    }

    /// Removes the interceptor.
    pub fn clear_interceptor(&mut self) {
        self.interceptor = None;
    }

    /// Cuts a node off the network (everything to and from it is lost) or reconnects it.
    pub fn set_online(&mut self, node: NodeIdx, online: bool) {
        self.nodes[node].online = online;
    }

    /// SHA3-256 over every datagram sent so far (time, addresses, bytes), in send order.
    pub fn wire_hash(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }

    /// Starts a UDP session from `from` to `to`.
    pub fn connect(&mut self, from: NodeIdx, to: NodeIdx) -> SessionHandle {
        let remote = Remote::udp(self.nodes[to].addr);
        let now = self.now;
        let h = self.nodes[from].endpoint.connect(now, remote).expect("connect");
        self.flush(from);
        h
    }

    /// Delivers a crafted datagram to `to` at once, as if sent from `from`.
    pub fn inject(&mut self, to: NodeIdx, from: SocketAddr, bytes: &[u8]) {
        *self.bytes_from.entry(from).or_default() += bytes.len() as u64;
        let now = self.now;
        self.nodes[to].endpoint.handle_datagram(now, Remote::udp(from), BytesMut::from(bytes));
        self.flush(to);
    }

    /// Drains a node's transmit queue onto the network and its events into `events`.
    pub fn flush(&mut self, node: NodeIdx) {
        let now = self.now;
        while let Some(work) = self.nodes[node].endpoint.poll_handshake_work() {
            if self.handshake_work_delay.is_zero() {
                self.nodes[node].endpoint.handle_handshake_done(now, work.run());
            } else {
                let at = now + self.handshake_work_delay;
                let i = self.offloaded.partition_point(|(t, _, _)| *t <= at);
                self.offloaded.insert(i, (at, node, work));
            }
        }
        while let Some(t) = self.nodes[node].endpoint.poll_transmit(now, 1, &mut self.buf) {
            let d = Datagram {
                sent_at: now,
                from: self.nodes[node].addr,
                to: t.remote.addr,
                transport: t.remote.transport,
                bytes: self.buf[..t.len].to_vec(),
            };
            self.send(d);
        }
        self.note_shard_changes(node);
        while let Some(ev) = self.nodes[node].endpoint.poll_event() {
            self.nodes[node].events.push(ev);
        }
    }

    fn send(&mut self, mut d: Datagram) {
        *self.bytes_to.entry(d.to).or_default() += d.bytes.len() as u64;
        self.hasher.update(d.sent_at.as_nanos().to_be_bytes());
        self.hasher.update(d.from.to_string().as_bytes());
        self.hasher.update(d.to.to_string().as_bytes());
        self.hasher.update((d.bytes.len() as u64).to_be_bytes());
        self.hasher.update(&d.bytes);
        if let Some(tap) = self.tap.as_mut() {
            tap.push(d.clone());
        }
        if let Some(f) = self.interceptor.as_mut() {
            if let Verdict::Drop = f(&mut d) {
                return;
            }
        }
        let imp = self.links.get(&(d.from, d.to)).copied().unwrap_or(self.default_link);
        if self.rng.chance(imp.loss) || imp.mtu.is_some_and(|m| d.bytes.len() > m) {
            return;
        }
        if let Some(b) = imp.burst {
            let bad = self.bad_state.entry((d.from, d.to)).or_insert(false);
            *bad = if *bad { !self.rng.chance(b.leave) } else { self.rng.chance(b.enter) };
            if *bad && self.rng.chance(b.loss_in_bad) {
                return;
            }
        }
        // Bottleneck: serialise behind what is queued; drop when the queue is full.
        let mut depart = self.now;
        if let Some((b, busy_until)) = self.bottlenecks.get_mut(&d.to) {
            let start = (*busy_until).max(self.now);
            let queued_ns = (start - self.now).as_nanos() as u64;
            let queued_bytes = (queued_ns as u128 * b.rate_bps as u128 / 8 / 1_000_000_000) as usize;
            if queued_bytes + d.bytes.len() > b.queue_bytes {
                self.queue_drops += 1;
                return;
            }
            let tx = Duration::from_nanos((d.bytes.len() as u128 * 8 * 1_000_000_000 / b.rate_bps as u128) as u64);
            *busy_until = start + tx;
            depart = *busy_until;
        }
        let copies = if self.rng.chance(imp.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let mut bytes = d.bytes.clone();
            if !bytes.is_empty() && self.rng.chance(imp.corrupt) {
                let bit = self.rng.next_u64() as usize % (bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            let mut delay = imp.delay + self.rng.duration(imp.jitter);
            if self.rng.chance(imp.reorder) {
                delay += self.rng.duration(imp.reorder_window);
            }
            self.seq += 1;
            self.in_flight.push(Reverse(InFlight {
                at: depart + delay,
                seq: self.seq,
                to: d.to,
                from: d.from,
                transport: d.transport,
                bytes,
            }));
        }
    }

    /// When the next thing happens: a delivery or an endpoint timer.
    pub fn next_event_time(&self) -> Option<Instant> {
        let net = self.in_flight.peek().map(|Reverse(f)| f.at);
        let timers = self.nodes.iter().filter_map(|n| n.endpoint.poll_timeout()).min();
        let wake = self.wakes.peek().map(|Reverse(t)| *t);
        let work = self.offloaded.front().map(|(t, _, _)| *t);
        [net, timers, wake, work].into_iter().flatten().min()
    }

    /// Advances to the next event and processes everything due then. False if nothing is left.
    pub fn step(&mut self) -> bool {
        let Some(t) = self.next_event_time() else { return false };
        self.steps += 1;
        self.now = self.now.max(t);
        let now = self.now;
        while self.wakes.peek().is_some_and(|Reverse(w)| *w <= now) {
            self.wakes.pop();
        }
        while self.in_flight.peek().is_some_and(|Reverse(f)| f.at <= now) {
            let Reverse(f) = self.in_flight.pop().expect("peeked");
            let Some(&to) = self.by_addr.get(&f.to) else { continue };
            let (to, handed_on) = self.shard_for(f.to, f.from, &f.bytes, to);
            self.forwarded += u64::from(handed_on);
            let sender_online = self.by_addr.get(&f.from).is_none_or(|&i| self.nodes[i].online);
            if !self.nodes[to].online || !sender_online {
                continue;
            }
            *self.bytes_from.entry(f.from).or_default() += f.bytes.len() as u64;
            *self.delivered_to.entry(f.to).or_default() += f.bytes.len() as u64;
            let remote = Remote { transport: f.transport, addr: f.from };
            self.nodes[to].endpoint.handle_datagram(now, remote, BytesMut::from(&f.bytes[..]));
            self.flush(to);
        }
        while self.offloaded.front().is_some_and(|(t, _, _)| *t <= now) {
            let (_, node, work) = self.offloaded.pop_front().expect("peeked");
            self.nodes[node].endpoint.handle_handshake_done(now, work.run());
            self.flush(node);
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].endpoint.poll_timeout().is_some_and(|d| d <= now) {
                self.nodes[i].endpoint.handle_timeout(now);
                self.flush(i);
            }
        }
        true
    }

    /// Steps until `done` holds, virtual time passes `limit` from now, or nothing is left.
    /// Returns whether `done` held. Also bounded by 50 million steps.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        let mut steps = 0u64;
        while !done(self) {
            match self.next_event_time() {
                Some(t) if t <= end && steps < 50_000_000 => {
                    self.step();
                    steps += 1;
                }
                _ => return done(self),
            }
        }
        true
    }

    /// Runs for `d` of virtual time (or until nothing is left to do).
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(d, |_| false);
        self.now = self.now.max(end);
    }

    /// True when `node` has an established session event.
    pub fn established(&self, node: NodeIdx) -> usize {
        self.nodes[node].events.iter().filter(|e| matches!(e, Event::SessionEstablished { .. })).count()
    }

    /// The node's events matching `f`.
    pub fn events_of<'a, T>(
        &'a self,
        node: NodeIdx,
        f: impl FnMut(&'a Event) -> Option<T> + 'a,
    ) -> impl Iterator<Item = T> + 'a {
        self.nodes[node].events.iter().filter_map(f)
    }
}
