//! The driver: one UDP socket and one core [`Endpoint`], registered in a `mio::Poll` the user
//! runs, and optionally WebSocket paths (`ws.rs`: a listener and connections under a range of
//! tokens the user sets aside). It owns the sockets, the receive buffer pool, the transmit buffer
//! and the clock origin; the user owns the loop and the tokens.
//!
//! One turn is: the user's `poll` returns; [`Driver::handle_event`] notes readiness for this
//! driver's token; [`Driver::process`] receives, runs due timers, transmits, and queues the core's
//! events; the user drains [`Driver::poll_event`] and polls again with [`Driver::timeout`].

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use stt_proto::{Endpoint, EndpointConfig, Event, Identity, Instant, Remote, SessionHandle, Transmit, Transport};

use stt_common::{DropReport, RecvPool};

use crate::ws::WebSockets;
use crate::{DriverStats, Error, WebSocketLimits};

/// Size of each of the two receive pools.
const POOL_SIZE: usize = 512 * 1024;
/// Room kept free in the pool for one receive: the largest UDP payload (or GRO batch), so nothing
/// is truncated.
const MAX_RECEIVE: usize = 65_535;
/// Datagrams received, or sent, per [`Driver::process`] call before yielding to other tokens.
const BATCH: usize = 256;
/// Largest GSO send (the kernel's limit is a 64 KiB IP payload).
const GSO_MAX_BYTES: usize = 65_000;

/// The core endpoint on a non-blocking UDP socket, driven by the caller's `mio::Poll`.
///
/// WebSocket paths are optional: give the driver a range of tokens for its TCP sockets
/// ([`Driver::set_ws_tokens`]), then listen ([`Driver::ws_listen`]) or dial ([`Driver::ws_dial`])
/// and connect the core to the returned remote.
///
/// ```no_run
/// # fn main() -> Result<(), stt_mio::Error> {
/// use mio::{Events, Poll, Token};
/// use stt_mio::stt_proto::{EndpointConfig, Identity, Seed};
/// use stt_mio::Driver;
///
/// let mut poll = Poll::new()?;
/// let config = EndpointConfig::with_shared_seed(Seed::new(&[7u8; 32])?);
/// let identity = Identity::from_seed(&Seed::new(&stt_mio::random_bytes())?);
/// let mut driver = Driver::bind("127.0.0.1:0".parse().unwrap(), config, identity, poll.registry(), Token(0))?;
/// let mut events = Events::with_capacity(64);
/// loop {
///     poll.poll(&mut events, driver.timeout())?;
///     for ev in events.iter() {
///         driver.handle_event(ev);
///     }
///     driver.process();
///     while let Some(event) = driver.poll_event() {
///         println!("{event:?}");
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Driver {
    endpoint: Endpoint,
    socket: UdpSocket,
    token: Token,
    clock: stt_common::Clock,
    /// Received datagrams are cut from this pool; the core decrypts them in place and may keep
    /// slices of them until the application reads.
    pool: RecvPool,
    /// Segmentation offload and the other batching features of the socket (`quinn-udp`).
    udp: quinn_udp::UdpSocketState,
    /// Most datagrams one send may carry (1 where the OS has no GSO).
    max_segments: usize,
    /// One `poll_transmit` batch: equal-sized datagrams back to back, sent with one GSO call;
    /// while `blocked` is set it holds a batch not sent yet.
    transmit: Vec<u8>,
    blocked: Option<Transmit>,
    /// The socket may have datagrams left to read (readiness is edge-triggered).
    readable: bool,
    /// The last `process` stopped at its send budget with the socket still writable, or a
    /// command through `endpoint_mut` may have queued something: process again before sleeping.
    more_to_send: bool,
    events: VecDeque<Event>,
    stats: DriverStats,
    drops: DropReport,
    /// The WebSocket listener and connections (none until asked for).
    ws: WebSockets,
}

impl Driver {
    /// Binds a UDP socket at `addr` and registers it with `registry` under `token`.
    pub fn bind(
        addr: SocketAddr,
        config: EndpointConfig,
        identity: Identity,
        registry: &Registry,
        token: Token,
    ) -> Result<Driver, Error> {
        let socket = UdpSocket::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        Driver::new(socket, config, identity, crate::random_bytes(), registry, token)
    }

    /// Wraps a socket the caller bound, with an explicit RNG seed (use OS randomness outside tests).
    pub fn new(
        mut socket: UdpSocket,
        config: EndpointConfig,
        identity: Identity,
        rng_seed: [u8; 32],
        registry: &Registry,
        token: Token,
    ) -> Result<Driver, Error> {
        let max_datagram = config.max_udp_datagram;
        let max_ws_datagram = config.max_websocket_datagram;
        let endpoint = Endpoint::new(config, identity, rng_seed)?;
        let udp = stt_common::batched_udp(&socket)?;
        let max_segments = udp.max_gso_segments().clamp(1, GSO_MAX_BYTES / max_datagram);
        registry.register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)?;
        // WebSocket sockets are registered when they are accepted, inside `process`.
        let ws = WebSockets::new(registry.try_clone()?, max_ws_datagram);
        Ok(Driver {
            endpoint,
            socket,
            token,
            clock: stt_common::Clock::start(),
            pool: RecvPool::new(POOL_SIZE),
            udp,
            max_segments,
            // Room for one GSO batch, or one datagram of the largest a WebSocket path may carry.
            transmit: vec![0; (max_segments * max_datagram).max(max_ws_datagram)],
            blocked: None,
            readable: true,
            more_to_send: false,
            events: VecDeque::new(),
            stats: DriverStats::default(),
            drops: DropReport::new(),
            ws,
        })
    }

    /// The token the socket is registered under.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The core's clock: time since this driver was created.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The `std` instant of a time the core reports (for example `SessionStats::created`).
    pub fn to_std_instant(&self, t: Instant) -> std::time::Instant {
        self.clock.to_std(t)
    }

    /// The core endpoint. After a command through [`Driver::endpoint_mut`] (connect, write, send a
    /// frame, close), call [`Driver::process`] so that what it queued is sent.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The core endpoint, for commands. What they queue goes out at the next
    /// [`Driver::process`]; until then [`Driver::timeout`] is zero, so a loop does not sleep on it.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        self.more_to_send = true;
        &mut self.endpoint
    }

    /// The core endpoint without marking work pending: for [`crate::Node`], which processes
    /// explicitly after every command and must not spin while it polls a stream for data.
    pub(crate) fn endpoint_unmarked(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// Starts a handshake with the node at `addr` over UDP. `Event::SessionEstablished` or
    /// `Event::HandshakeFailed` for the returned handle follows from [`Driver::poll_event`].
    pub fn connect(&mut self, addr: SocketAddr) -> Result<SessionHandle, Error> {
        let now = self.now();
        Ok(self.endpoint_mut().connect(now, Remote::udp(addr))?)
    }

    /// Like [`Driver::connect`], for the node `peer`: its shared seed entry is used, and the
    /// handshake fails with `UnexpectedPeer` if another node answers.
    pub fn connect_to(&mut self, addr: SocketAddr, peer: stt_proto::NodeId) -> Result<SessionHandle, Error> {
        let now = self.now();
        Ok(self.endpoint_mut().connect_to(now, Remote::udp(addr), peer)?)
    }

    /// Sets aside `tokens` for the driver's WebSocket sockets: the listener and one per
    /// connection, each registered under a token of the range that no other source of the poll
    /// may use. Call before [`Driver::ws_listen`] or [`Driver::ws_dial`], which fail without
    /// tokens; the range bounds how many connections can be open at once. [`crate::Node`] gives
    /// its driver every token above 0.
    pub fn set_ws_tokens(&mut self, tokens: Range<usize>) {
        self.ws.set_tokens(tokens);
    }

    /// Listens for WebSocket connections (`ws://`) on `addr` under `limits`, and returns the
    /// bound address. Datagrams from a connection reach the core as from
    /// `Remote::websocket(client's TCP address)`; a session a client opens that way answers on
    /// the same connection.
    pub fn ws_listen(&mut self, addr: SocketAddr, limits: WebSocketLimits) -> Result<SocketAddr, Error> {
        self.ws.listen(addr, limits)
    }

    /// The WebSocket listener's address, if the driver listens.
    pub fn ws_local_addr(&self) -> Option<SocketAddr> {
        self.ws.local_addr()
    }

    /// Starts a WebSocket connection to `addr` (TCP connect, then the upgrade asking for `url`,
    /// which must be `ws://`), unless one to `addr` is open or on its way; returns the remote to
    /// connect the core to (`endpoint_mut().connect(now, remote)`). Datagrams for it are dropped
    /// until the connection is open (a handshake started early retransmits);
    /// [`Driver::ws_dial_result`] says when it is. The dial fails after the listener limits'
    /// `upgrade_timeout` (default 5 s). The URL's host is not resolved here: `addr` is used.
    pub fn ws_dial(&mut self, url: &str, addr: SocketAddr) -> Result<Remote, Error> {
        self.ws.dial(url, addr)
    }

    /// How the connection [`Driver::ws_dial`] started to `addr` is doing: `None` while it
    /// connects and upgrades, `Some(Ok(()))` once it is open, `Some(Err(_))` with the reason if it
    /// failed or is gone.
    pub fn ws_dial_result(&mut self, addr: SocketAddr) -> Option<Result<(), Error>> {
        self.ws.dial_result(addr)
    }

    /// What the driver dropped, and its WebSocket counters.
    pub fn stats(&self) -> DriverStats {
        let mut stats = self.stats;
        stats.websocket = self.ws.stats();
        stats
    }

    /// Notes readiness from the user's poll. Returns `false` if the event is for another token
    /// (neither the UDP socket's nor one of the WebSocket range's).
    pub fn handle_event(&mut self, event: &mio::event::Event) -> bool {
        if event.token() != self.token {
            return self.ws.handle_event(event);
        }
        if event.is_readable() {
            self.readable = true;
        }
        if event.is_writable() && self.blocked.is_some() {
            self.more_to_send = true;
        }
        true
    }

    /// How long the user's poll may sleep: zero if work is left over (unread datagrams, a send
    /// batch cut short, a command not processed yet, events not taken), else until the core's
    /// next deadline or a WebSocket connection's (an upgrade timeout, a session check); `None` if
    /// there is none.
    pub fn timeout(&self) -> Option<Duration> {
        if self.readable || self.more_to_send || !self.events.is_empty() {
            return Some(Duration::ZERO);
        }
        let core = self
            .endpoint
            .poll_timeout()
            .map(|deadline| Duration::from_nanos(deadline.as_nanos().saturating_sub(self.now().as_nanos())));
        match (core, self.ws.timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Does the work due now: receive what is waiting (up to a batch), accept and advance
    /// WebSocket connections and read their messages, run the core's timers, send what it
    /// produces (up to a batch, or until the socket would block), then queue its events for
    /// [`Driver::poll_event`]. Events come after the sends, so an event never announces what has
    /// not left the node.
    pub fn process(&mut self) {
        if self.readable {
            self.receive();
        }
        let now = self.now();
        self.ws.process(&mut self.endpoint, now);
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.send(now);
        self.ws.flush();
        while let Some(event) = self.endpoint.poll_event() {
            stt_common::log_core_event(&event);
            self.events.push_back(event);
        }
        self.drops.tick(self.clock.to_std(now), || self.endpoint.stats().dropped);
    }

    /// The next event from the core, in order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Removes the socket from `registry`; the driver must not be used with that poll afterwards.
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        registry.deregister(&mut self.socket)
    }

    fn receive(&mut self) {
        let mut received = 0;
        while received < BATCH {
            let mut meta = [quinn_udp::RecvMeta::default()];
            let r = {
                let mut iov = [IoSliceMut::new(self.pool.room(MAX_RECEIVE))];
                self.udp.recv((&self.socket).into(), &mut iov, &mut meta)
            };
            match r {
                Ok(_) => {
                    // With GRO the kernel hands over several datagrams of `stride` bytes back to
                    // back (the last may be shorter); each goes to the core on its own.
                    let mut batch = self.pool.take(meta[0].len);
                    let stride = meta[0].stride.max(1);
                    let from = Remote::udp(meta[0].addr);
                    while !batch.is_empty() {
                        let datagram = batch.split_to(stride.min(batch.len()));
                        self.endpoint.handle_datagram(self.now(), from, datagram);
                        received += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // ICMP errors (port unreachable) surface here on some systems; keep reading.
                Err(_) => self.stats.receive_errors += 1,
            }
        }
    }

    fn send(&mut self, now: Instant) {
        self.more_to_send = false;
        let mut sent = 0;
        while sent < BATCH {
            let t = match self.blocked.take() {
                Some(t) => t,
                None => match self.endpoint.poll_transmit(now, self.max_segments, &mut self.transmit) {
                    Some(t) => t,
                    None => return,
                },
            };
            if let Transport::Custom(_) = t.remote.transport {
                // This driver has no transport of its own: a session only gets such a remote
                // from an application that set it (`SessionMut::set_remote`).
                self.stats.unroutable += t.datagrams() as u64;
                sent += t.datagrams();
                continue;
            }
            if t.remote.transport == Transport::WebSocket {
                // One binary message per datagram, as the tokio driver sends them.
                for d in self.transmit[..t.len].chunks(t.segment_size.unwrap_or(t.len).max(1)) {
                    if !self.ws.send(t.remote.addr, d) {
                        self.stats.unroutable += 1;
                    }
                }
                sent += t.datagrams();
                continue;
            }
            let batch = quinn_udp::Transmit {
                destination: t.remote.addr,
                ecn: None,
                contents: &self.transmit[..t.len],
                segment_size: t.segment_size,
                src_ip: None,
            };
            match self.udp.try_send((&self.socket).into(), &batch) {
                Ok(()) => sent += t.datagrams(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.blocked = Some(t);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.blocked = Some(t),
                Err(_) => self.stats.send_errors += t.datagrams() as u64,
            }
        }
        self.more_to_send = true;
    }
}
