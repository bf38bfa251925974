//! The synchronous API for programs without an event loop of their own: a [`Node`] owns a
//! `mio::Poll` and a [`Driver`], and each blocking call turns that loop until it can answer.
//!
//! It keeps, per session, what the core reported and the caller has not taken yet: streams the
//! peer opened, custom frames, and the unread rest of a stream chunk. Nothing here is
//! multithreaded; a `Node` lives on one thread.
//!
//! WebSocket: [`Node::ws_bind`] listens, [`Node::connect_ws`] dials a `ws://` URL (its host name
//! resolved, each address tried in turn) and runs the handshake over the connection.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mio::{Events, Poll, Token};
use stt_proto::segment::SegmentKey;
use stt_proto::{
    Channel, CloseReason, EndpointConfig, Event, ExportError, Fallback, FallbackAction, FallbackPolicy, HandshakeError,
    Identity, Message, MessageError, MessageId, MessageRefusal, NameAddress, NameQueueLimits, NodeId, Remote, Role,
    SavedTicket, Seed, SessionHandle, SessionStats, StreamError, StreamId, StreamMode, StreamRead,
};

use crate::{Driver, Error, Metadata, NodeState, NodeStats, WebSocketLimits};

/// The UDP socket's token; the WebSocket sockets take every token above it.
const TOKEN: Token = Token(0);
/// Close reasons remembered for sessions the caller has not asked about.
const MAX_REMEMBERED_CLOSES: usize = 1024;

/// One arrival, from [`Node::next_incoming`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A peer opened a session to this node (what [`Node::accept`] returns).
    Session(SessionHandle),
    /// A peer opened a stream (what [`Node::accept_stream`] returns).
    Stream {
        /// The session.
        session: SessionHandle,
        /// The stream.
        stream: StreamId,
    },
    /// A custom frame (what [`Node::recv_frame`] returns).
    Frame {
        /// The session it came on.
        session: SessionHandle,
        /// Its type, 0x80–0xFF.
        frame_type: u8,
        /// Its payload.
        payload: Bytes,
    },
    /// A whole reliable message (what [`Node::recv_message`] returns).
    Message {
        /// The session it came on.
        session: SessionHandle,
        /// The message and its channel.
        message: Message,
    },
}

/// What arrived, in order, without the item: [`Node::next_incoming`] takes the item from the
/// queue the per-session calls read, so each item is returned once, by whichever call asks first.
#[derive(Clone, Copy, Debug)]
enum Arrival {
    Session(SessionHandle),
    Stream(SessionHandle),
    Frame(SessionHandle),
    Message(SessionHandle),
}

#[derive(Debug, Default)]
struct Slot {
    established: bool,
    failed: Option<HandshakeError>,
    peer: Option<NodeId>,
    opened: VecDeque<StreamId>,
    frames: stt_common::FrameQueue,
    /// Unread rest of the last chunk per stream.
    partial: HashMap<StreamId, Bytes>,
    /// Bytes skipped on live streams, per stream.
    skipped: HashMap<StreamId, u64>,
    /// Messages the peer refused, not yet taken (at most `MAX_REMEMBERED_REFUSALS`).
    refused: VecDeque<RefusedMessages>,
    /// The application's own values on the session (`Node::set_metadata`).
    metadata: Metadata,
    /// Answers to this node's name requests, until `Node::resolve` or `Node::route` takes them.
    name_replies: HashMap<stt_proto::RequestId, stt_proto::NameReply>,
}

/// Answers to name requests kept per session until taken; past this the oldest are forgotten.
const MAX_UNCLAIMED_NAME_REPLIES: usize = 256;

/// Refusals remembered per session until [`Node::take_refused_messages`]; past this the
/// oldest are forgotten.
const MAX_REMEMBERED_REFUSALS: usize = 1024;

/// Messages this node sent that the peer refused, from [`Node::take_refused_messages`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusedMessages {
    /// The first, as [`Node::send_message`] returned it.
    pub first: MessageId,
    /// How many, numbered consecutively from `first`.
    pub count: u64,
    /// Why.
    pub reason: MessageRefusal,
}

/// A session opened by [`Node::connect_with_fallback`] that fell back to WebSocket: the policy
/// that moves it between the two transports, and where each is.
#[derive(Debug)]
struct FallbackWatch {
    session: SessionHandle,
    policy: FallbackPolicy,
    udp: SocketAddr,
    url: String,
    /// The WebSocket listener's address (the one the session was opened over).
    ws: SocketAddr,
    /// A WebSocket dial under way, to probe once it is open (its socket's readiness wakes the
    /// loop).
    dialling: bool,
}

/// A blocking STT node on one UDP socket. See the crate docs for an example.
#[derive(Debug)]
pub struct Node {
    poll: Poll,
    events: Events,
    driver: Driver,
    slots: HashMap<SessionHandle, Slot>,
    incoming: VecDeque<SessionHandle>,
    closed: VecDeque<(SessionHandle, CloseReason)>,
    /// The metadata of the sessions in `closed` that had any, readable after the close.
    closed_metadata: HashMap<SessionHandle, Metadata>,
    frames_dropped: u64,
    timeout: Option<Duration>,
    /// Arrivals in order, noted once `next_incoming` was first called.
    arrivals: stt_common::ArrivalNotes<Arrival>,
    /// The key log's file, when [`Node::key_log`] opened one.
    key_log: Option<stt_common::KeyLog>,
    /// How [`Node::connect_with_fallback`] falls back and returns.
    fallback: Fallback,
    /// Sessions that fell back, watched at every turn.
    watches: Vec<FallbackWatch>,
    /// Handlers of custom frame types ([`Node::on_frame`]).
    handlers: FrameHandlers,
    /// Handlers of served names ([`Node::on_name`]).
    name_handlers: NameHandlers,
    /// When a seed rotation's grace period ends ([`Node::rotate_shared_seed`]).
    seed_grace_until: Option<std::time::Instant>,
    /// Running until [`Node::shutdown`].
    state: NodeState,
}

/// A custom frame handler of the mio node: called on the node's thread with the session and
/// the payload.
type FrameHandler = Box<dyn FnMut(SessionHandle, Bytes) + Send>;

/// The handlers by frame type.
#[derive(Default)]
struct FrameHandlers(HashMap<u8, FrameHandler>);

impl std::fmt::Debug for FrameHandlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys().map(|t| format!("{t:#04x}"))).finish()
    }
}

/// The handlers of the names served with [`Node::on_name`], by address.
#[derive(Default)]
struct NameHandlers(HashMap<NameAddress, FrameHandler>);

impl std::fmt::Debug for NameHandlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Which sessions [`Node::broadcast`] sends to.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// Every established session.
    All,
    /// These sessions.
    Sessions(&'a [SessionHandle]),
}

impl Node {
    /// Binds a node at `addr` that uses `shared_seed` with every peer, with a random identity.
    ///
    /// As in `stt-tokio`'s `NodeConfig::new`, WebSocket paths use the UDP datagram size (1472
    /// bytes), which bounds what one WebSocket message may hold: the two drivers interoperate
    /// with their defaults.
    pub fn bind(addr: SocketAddr, shared_seed: Seed) -> Result<Node, Error> {
        Node::with_config(addr, stt_common::driver_endpoint_config(Some(shared_seed)), stt_common::random_identity())
    }

    /// Binds a node at `addr` with a full core configuration and identity. Over WebSocket, peers
    /// must agree on `max_websocket_datagram`: a message larger than the receiver's closes the
    /// connection (`stt-tokio` nodes use `max_udp_datagram`, 1472 bytes by default).
    pub fn with_config(addr: SocketAddr, config: EndpointConfig, identity: Identity) -> Result<Node, Error> {
        let poll = Poll::new()?;
        let mut driver = Driver::bind(addr, config, identity, poll.registry(), TOKEN)?;
        driver.set_ws_tokens(TOKEN.0 + 1..usize::MAX);
        Ok(Node {
            poll,
            events: Events::with_capacity(64),
            driver,
            slots: HashMap::new(),
            incoming: VecDeque::new(),
            closed: VecDeque::new(),
            closed_metadata: HashMap::new(),
            frames_dropped: 0,
            timeout: None,
            arrivals: stt_common::ArrivalNotes::default(),
            key_log: None,
            fallback: Fallback::default(),
            watches: Vec::new(),
            handlers: FrameHandlers::default(),
            name_handlers: NameHandlers::default(),
            seed_grace_until: None,
            state: NodeState::Running,
        })
    }

    /// Running from `bind`, stopped after [`Node::shutdown`].
    pub fn state(&self) -> NodeState {
        self.state
    }

    /// Shuts the node down: waits (up to `grace`) until every session's written stream data is
    /// acknowledged, closes every session with DISCONNECT (code 0, "node shutting down"), and
    /// sends what that queued. Afterwards the node is [`NodeState::Stopped`]: calls that would
    /// wait for the network fail with [`Error::NodeClosed`].
    pub fn shutdown(&mut self, grace: Duration) {
        if self.state == NodeState::Stopped {
            return;
        }
        self.state = NodeState::Stopping;
        let until = std::time::Instant::now() + grace;
        let _ = self.wait_until(Some(until), |node| {
            let ep = node.driver.endpoint();
            ep.sessions().all(|h| ep.session(h).is_none_or(|s| s.streams_flushed())).then_some(())
        });
        let handles: Vec<SessionHandle> = self.driver.endpoint().sessions().collect();
        for h in handles {
            self.close(h, 0, "node shutting down");
        }
        // A turn or two puts the DISCONNECTs on the wire.
        let _ = self.poll_once(Some(Duration::from_millis(1)));
        self.state = NodeState::Stopped;
    }

    /// Appends the secrets of every session established from now on to `path` (created with
    /// mode 0600 on Unix), one line per session in the key-log format of `docs/PROTOCOL.md`
    /// (section 14), for decrypting this node's own captures with `stt decrypt` and Wireshark.
    /// Whoever reads the file reads those sessions: use it to debug, never in production.
    pub fn key_log(&mut self, path: impl AsRef<std::path::Path>) -> Result<(), Error> {
        self.key_log = Some(stt_common::KeyLog::open(path.as_ref())?);
        self.driver.endpoint_mut().set_key_log(true);
        Ok(())
    }

    /// The UDP address the node is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.driver.local_addr().expect("a bound UDP socket has a local address")
    }

    /// Listens for WebSocket connections (`ws://`) on `addr` with the default
    /// [`WebSocketLimits`], and returns the bound address. Sessions that clients open over it
    /// arrive like UDP ones ([`Node::accept`]). A node has at most one listener.
    pub fn ws_bind(&mut self, addr: SocketAddr) -> Result<SocketAddr, Error> {
        self.ws_bind_with_limits(addr, WebSocketLimits::default())
    }

    /// [`Node::ws_bind`] under `limits`.
    pub fn ws_bind_with_limits(&mut self, addr: SocketAddr, limits: WebSocketLimits) -> Result<SocketAddr, Error> {
        self.driver.ws_listen(addr, limits)
    }

    /// The WebSocket listener's address, if the node listens.
    pub fn ws_local_addr(&self) -> Option<SocketAddr> {
        self.driver.ws_local_addr()
    }

    /// Opens a session over WebSocket to `url` (`ws://host:port/...`; no TLS in this driver) and
    /// waits until the handshake completes. A host name is resolved by the system's resolver and
    /// each address tried in turn until a connection opens; sessions to one peer share its
    /// connection. Fails with [`Error::Resolve`] if the name does not resolve and
    /// [`Error::WebSocket`] if no connection could be opened (the reason of the last address).
    pub fn connect_ws(&mut self, url: &str) -> Result<SessionHandle, Error> {
        self.connect_ws_inner(url, None)
    }

    /// [`Node::connect_to`] over WebSocket: fails with `Handshake(UnexpectedPeer)` if another node
    /// answers.
    pub fn connect_ws_to(&mut self, url: &str, peer: NodeId) -> Result<SessionHandle, Error> {
        self.connect_ws_inner(url, Some(peer))
    }

    fn connect_ws_inner(&mut self, url: &str, peer: Option<NodeId>) -> Result<SessionHandle, Error> {
        let mut last = None;
        for addr in crate::ws::resolve(url)? {
            let remote = match self.open_ws(url, addr) {
                Ok(remote) => remote,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let now = self.driver.now();
            let h = match peer {
                Some(peer) => self.driver.endpoint_mut().connect_to(now, remote, peer)?,
                None => self.driver.endpoint_mut().connect(now, remote)?,
            };
            return self.wait_established(h);
        }
        Err(last.unwrap_or_else(|| Error::WebSocket(format!("{url}: no address to connect to"))))
    }

    /// Sets how [`Node::connect_with_fallback`] falls back to WebSocket and comes back (for
    /// connections opened from now on).
    pub fn set_fallback(&mut self, fallback: Fallback) {
        self.fallback = fallback;
    }

    /// Opens a session to the node at `addr` over UDP or, when UDP brings no answer within
    /// [`Fallback::udp_timeout`] (a firewall that drops UDP, say), over WebSocket to `ws_url`,
    /// the same node's listener, and waits until the handshake completes. A session that fell
    /// back probes `addr` over UDP every [`Fallback::probe_interval`] while the node's loop turns
    /// (in any blocking call, [`Node::poll_once`] or [`Node::run_for`]) and moves back to UDP
    /// when the peer answers there (`Event::SessionMigrated` on both nodes); back on UDP, after
    /// [`Fallback::silence`] without anything received it probes the WebSocket path again. Data
    /// in flight on the old path is still accepted, so nothing is lost. Handshake errors other
    /// than a timeout (a wrong seed, say) are returned without trying WebSocket. The same policy
    /// ([`FallbackPolicy`]) as `stt-tokio`'s `Node::connect_with_fallback`.
    pub fn connect_with_fallback(&mut self, addr: SocketAddr, ws_url: &str) -> Result<SessionHandle, Error> {
        crate::ws::resolve(ws_url)?; // a bad URL is refused before any network work
        let mut policy = FallbackPolicy::new(self.fallback, self.driver.now());
        let udp_deadline = policy.next_deadline().map(|t| self.driver.to_std_instant(t));
        let h = self.driver.connect(addr)?;
        self.slots.insert(h, Slot::default());
        let over_udp = self.wait_until(udp_deadline, |node| node.handshake_outcome(h));
        match over_udp {
            Ok(Some(Ok(h))) => return Ok(h),
            Ok(Some(Err(Error::Handshake(HandshakeError::Timeout))) | None) => {}
            Ok(Some(Err(e))) => return Err(e),
            Err(e) => {
                // The node's own timeout: the UDP attempt must not live on without an owner.
                self.abandon(h, "gave up");
                return Err(e);
            }
        }
        // Abandon the UDP attempt (it has not completed: that was checked last turn).
        self.abandon(h, "fell back to WebSocket");
        stt_common::log_fallback::falling_back(addr, ws_url);
        let session = self.connect_ws(ws_url)?;
        policy.on_established(self.driver.now());
        let Some(mut s) = self.driver.endpoint_unmarked().session_mut(session) else {
            return Err(self.gone(session));
        };
        let ws = s.as_ref().remote().addr;
        // Unanswered probes do not end this session before the policy has had its chance to
        // move it to the other transport.
        s.set_unreachable_after(policy.config().unreachable_after());
        self.watches.push(FallbackWatch { session, policy, udp: addr, url: ws_url.to_string(), ws, dialling: false });
        Ok(session)
    }

    /// Closes handshake `h`, which nobody will wait for any more, and sends what that takes.
    fn abandon(&mut self, h: SessionHandle, reason: &str) {
        let now = self.driver.now();
        self.slots.remove(&h);
        if let Some(s) = self.driver.endpoint_unmarked().session_mut(h) {
            s.close(now, 0, reason);
        }
        self.driver.process();
        self.dispatch();
    }

    /// Carries out what the fallback policies of the sessions that fell back decide (at the end
    /// of every turn), sending the probes at once; forgets the sessions that closed.
    fn run_fallbacks(&mut self) {
        let now = self.driver.now();
        let mut probed = false;
        for w in &mut self.watches {
            let path = self.driver.endpoint().session(w.session).map(|s| (s.remote().transport, s.stats().last_active));
            if path.is_none() {
                w.policy.on_closed();
                continue;
            }
            if w.dialling {
                match self.driver.ws_dial_result(w.ws) {
                    None => {}
                    Some(Ok(())) => {
                        w.dialling = false;
                        if let Some(mut s) = self.driver.endpoint_unmarked().session_mut(w.session) {
                            s.probe_path(Remote::websocket(w.ws));
                            probed = true;
                        }
                    }
                    Some(Err(e)) => {
                        w.dialling = false;
                        stt_common::log_fallback::websocket_unreachable(&w.url, &e);
                    }
                }
            }
            if w.policy.next_deadline().is_none_or(|t| t > now) {
                continue;
            }
            match w.policy.on_timeout(now, path) {
                Some(FallbackAction::ProbeUdp) => {
                    if let Some(mut s) = self.driver.endpoint_unmarked().session_mut(w.session) {
                        s.probe_path(Remote::udp(w.udp));
                        probed = true;
                    }
                }
                Some(FallbackAction::ProbeWebSocket) if !w.dialling => {
                    stt_common::log_fallback::probing_websocket(w.udp, &w.url);
                    match self.driver.ws_dial(&w.url, w.ws) {
                        Ok(_) => w.dialling = true,
                        Err(e) => stt_common::log_fallback::websocket_unreachable(&w.url, &e),
                    }
                }
                _ => {}
            }
        }
        self.watches.retain(|w| w.policy.next_deadline().is_some());
        if probed {
            self.driver.process();
            self.dispatch();
        }
    }

    /// The earliest deadline of the fallback policies.
    fn fallback_deadline(&self) -> Option<stt_proto::Instant> {
        self.watches.iter().filter_map(|w| w.policy.next_deadline()).min()
    }

    /// Dials a WebSocket connection to `addr` and waits until it is open.
    fn open_ws(&mut self, url: &str, addr: SocketAddr) -> Result<stt_proto::Remote, Error> {
        let remote = self.driver.ws_dial(url, addr)?;
        self.wait(|node| node.driver.ws_dial_result(addr))??;
        Ok(remote)
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.driver.endpoint().node_id()
    }

    /// Bounds every blocking call (connect, accept, read, write, flush): past it they return
    /// [`Error::TimedOut`]. `None` (the default) waits as long as it takes; a connect still ends
    /// with the core's handshake timeout. A connect cut short by this timeout closes its
    /// handshake: no session opens later that the caller does not know of.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The driver, for what this API does not cover (stats, the core endpoint).
    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// Custom frames pushed out because a session had
    /// [`stt_common::MAX_QUEUED_FRAMES`] (1,024) unread ones (the oldest goes).
    pub fn frames_dropped(&self) -> u64 {
        self.frames_dropped
    }

    /// Totals: sessions open now, the core's counters (datagrams, bytes, handshakes, drops by
    /// reason), the driver's socket errors and the custom frames this API dropped.
    pub fn stats(&self) -> NodeStats {
        NodeStats {
            sessions: self.slots.values().filter(|s| s.established).count(),
            started: self.driver.to_std_instant(stt_proto::Instant::ZERO),
            endpoint: self.driver.endpoint().stats(),
            driver: self.driver.stats(),
            frames_dropped: self.frames_dropped,
        }
    }

    /// Registers `handler` for custom frames of `frame_type` (0x80–0xFF) on every session, in
    /// place of [`Node::recv_frame`] for that type; it replaces an earlier handler for the type.
    /// It runs on the node's thread while the node waits or turns: keep it short.
    ///
    /// ```no_run
    /// # fn f(node: &mut stt_mio::Node) -> Result<(), stt_mio::Error> {
    /// node.on_frame(0x80, |session, payload| println!("{} bytes from {session:?}", payload.len()))?;
    /// # Ok(()) }
    /// ```
    pub fn on_frame(
        &mut self,
        frame_type: u8,
        handler: impl FnMut(SessionHandle, Bytes) + Send + 'static,
    ) -> Result<(), Error> {
        if frame_type < 0x80 {
            return Err(Error::Frame(stt_proto::FrameError::ReservedFrameType(frame_type)));
        }
        self.handlers.0.insert(frame_type, Box::new(handler));
        Ok(())
    }

    /// Sends `data` to each target session on a new stream of `mode` (one stream per session,
    /// written side by side), with the result for each: `Ok` once that peer acknowledged every
    /// byte and the end of the stream (for a live stream: the end; lost bytes may have been
    /// skipped), or why not. A slow or vanished peer does not hold up the others; the node's
    /// timeout ([`Node::set_timeout`]) bounds the whole call, and a session still sending when it
    /// passes gets `Error::TimedOut`.
    pub fn broadcast_stream(
        &mut self,
        data: impl Into<Bytes>,
        mode: StreamMode,
        targets: Targets<'_>,
    ) -> Vec<(SessionHandle, Result<(), Error>)> {
        let data = data.into();
        let sessions = self.targets(targets);
        /// One target's send: its stream, how much of `data` it took, whether it was finished.
        struct Send {
            session: SessionHandle,
            stream: StreamId,
            written: usize,
            finished: bool,
            result: Option<Result<(), Error>>,
        }
        let mut sends: Vec<Send> = sessions
            .into_iter()
            .map(|h| match self.session(h).and_then(|mut s| Ok(s.open_stream(mode)?)) {
                Ok(stream) => Send { session: h, stream, written: 0, finished: false, result: None },
                Err(e) => Send { session: h, stream: StreamId(0), written: 0, finished: false, result: Some(Err(e)) },
            })
            .collect();
        let waited = self.wait(|node| {
            for send in sends.iter_mut().filter(|s| s.result.is_none()) {
                let mut s = match node.session(send.session) {
                    Ok(s) => s,
                    Err(e) => {
                        send.result = Some(Err(e));
                        continue;
                    }
                };
                while send.written < data.len() {
                    match s.write(send.stream, &data[send.written..]) {
                        Ok(n) => send.written += n,
                        Err(StreamError::Blocked) => break,
                        Err(e) => {
                            send.result = Some(Err(Error::Stream(e)));
                            break;
                        }
                    }
                }
                if send.result.is_some() || send.written < data.len() {
                    continue;
                }
                if !send.finished {
                    if let Err(e) = s.finish(send.stream) {
                        send.result = Some(Err(Error::Stream(e)));
                        continue;
                    }
                    send.finished = true;
                }
                if s.as_ref().streams_flushed() {
                    send.result = Some(Ok(()));
                }
            }
            node.driver.process();
            sends.iter().all(|s| s.result.is_some()).then_some(())
        });
        let unfinished = || match &waited {
            Err(Error::NodeClosed) => Error::NodeClosed,
            _ => Error::TimedOut,
        };
        sends.into_iter().map(|s| (s.session, s.result.unwrap_or_else(|| Err(unfinished())))).collect()
    }

    /// The sessions `targets` names.
    fn targets(&self, targets: Targets<'_>) -> Vec<SessionHandle> {
        match targets {
            Targets::All => {
                let ep = self.driver.endpoint();
                ep.sessions()
                    .filter(|&h| ep.session(h).is_some_and(|s| s.state() == stt_proto::SessionState::Established))
                    .collect()
            }
            Targets::Sessions(s) => s.to_vec(),
        }
    }

    /// Serves `name` with `handler`, as [`Node::serve_name`] does, in place of
    /// [`Node::recv_named`]: each piece of bytes routed to the name is handed to `handler` with
    /// the session it came on, on the node's thread while the node waits or turns (keep it
    /// short). [`Node::stop_serving`] ends it. Messages sent to the name arrive as messages of
    /// their session, as for any served name.
    ///
    /// ```no_run
    /// # fn f(node: &mut stt_mio::Node) -> Result<(), stt_mio::Error> {
    /// use stt_mio::stt_proto::NameQueueLimits;
    /// node.on_name("viewer_alice", NameQueueLimits::default(), |session, data| {
    ///     println!("{} bytes for viewer_alice from {session:?}", data.len())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn on_name(
        &mut self,
        name: &str,
        limits: NameQueueLimits,
        handler: impl FnMut(SessionHandle, Bytes) + Send + 'static,
    ) -> Result<(), Error> {
        self.serve_name(name, limits)?;
        let address = NameAddress::of(name);
        self.name_handlers.0.insert(address, Box::new(handler));
        // Bytes that came before the handler are its too.
        self.run_name_handler(address);
        Ok(())
    }

    /// Hands what waits for `name` to its handler, if it has one.
    fn run_name_handler(&mut self, name: NameAddress) {
        let Some(handler) = self.name_handlers.0.get_mut(&name) else { return };
        while let Some(routed) = self.driver.endpoint_unmarked().recv_named(&name) {
            handler(routed.session, routed.data);
        }
    }

    /// Sends one custom frame to each target session, with the result for each: `Ok` when the
    /// frame was queued (delivery is best-effort, as for every custom frame), or why not.
    pub fn broadcast(
        &mut self,
        frame_type: u8,
        payload: impl Into<Bytes>,
        targets: Targets<'_>,
    ) -> Vec<(SessionHandle, Result<(), Error>)> {
        let payload = payload.into();
        let sessions = self.targets(targets);
        let results = sessions
            .into_iter()
            .map(|h| (h, self.session(h).and_then(|mut s| Ok(s.send_frame(frame_type, payload.clone())?))))
            .collect();
        self.driver.process();
        results
    }

    /// Serves `name` on this node: peers can resolve it and route bytes to it, which wait in a
    /// queue bounded by `limits` until [`Node::recv_named`] takes them; messages sent to the name
    /// are accepted as messages of their session. Every connected peer is told the node's new
    /// list of names.
    pub fn serve_name(&mut self, name: &str, limits: NameQueueLimits) -> Result<(), Error> {
        self.driver.endpoint_mut().register_name(NameAddress::of(name), limits)?;
        self.driver.process();
        Ok(())
    }

    /// Stops serving `name` and drops what its queue held. False if it was not served.
    pub fn stop_serving(&mut self, name: &str) -> bool {
        self.name_handlers.0.remove(&NameAddress::of(name));
        let removed = self.driver.endpoint_mut().unregister_name(&NameAddress::of(name));
        self.driver.process();
        removed
    }

    /// Waits for the next bytes a peer routed to `name` (served with [`Node::serve_name`]):
    /// the session they came on and the bytes.
    pub fn recv_named(&mut self, name: &str) -> Result<(SessionHandle, Bytes), Error> {
        let address = NameAddress::of(name);
        self.wait(|node| node.driver.endpoint_mut().recv_named(&address).map(|m| (m.session, m.data)))
    }

    /// Asks the peer of `session` whether it serves `name`.
    pub fn resolve(&mut self, session: SessionHandle, name: &str) -> Result<bool, Error> {
        Ok(self.name_request(session, name, None)? == stt_proto::NameReply::Ok)
    }

    /// Routes `data` to `name` on the peer of `session` and waits until it is in the name's queue
    /// there. Fails with [`Error::UnknownName`] if the peer does not serve the name and with
    /// [`Error::NameQueueFull`] if its queue is full (nothing was queued: send again later).
    pub fn route(&mut self, session: SessionHandle, name: &str, data: impl Into<Bytes>) -> Result<(), Error> {
        match self.name_request(session, name, Some(data.into()))? {
            stt_proto::NameReply::Ok => Ok(()),
            stt_proto::NameReply::UnknownName => Err(Error::UnknownName(name.to_owned())),
            stt_proto::NameReply::QueueFull => Err(Error::NameQueueFull(name.to_owned())),
        }
    }

    fn name_request(
        &mut self,
        session: SessionHandle,
        name: &str,
        data: Option<Bytes>,
    ) -> Result<stt_proto::NameReply, Error> {
        let address = NameAddress::of(name);
        let request = match data {
            Some(data) => self.session(session)?.route(address, data)?,
            None => self.session(session)?.resolve(address)?,
        };
        self.driver.process();
        self.wait(|node| {
            if let Some(reply) = node.slots.get_mut(&session).and_then(|s| s.name_replies.remove(&request)) {
                return Some(Ok(reply));
            }
            node.driver.endpoint().session(session).is_none().then(|| Err(node.gone(session)))
        })?
    }

    /// The node-wide directory of names: the sessions whose peer announced `name`, best first
    /// (the lowest smoothed round-trip time, then the oldest session). Empty if no connected
    /// peer serves it.
    pub fn sessions_serving(&self, name: &str) -> Vec<SessionHandle> {
        self.driver.endpoint().sessions_serving(&NameAddress::of(name))
    }

    /// Sends one whole message to `name` on whichever connected peer serves it (the first of
    /// [`Node::sessions_serving`]), reliably, as [`Node::send_message`] does; returns that
    /// session and the message's id. Fails with [`Error::NoPeerServes`] if no connected peer
    /// announced the name.
    pub fn send_message_to_name(
        &mut self,
        name: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(SessionHandle, MessageId), Error> {
        let session =
            self.sessions_serving(name).into_iter().next().ok_or_else(|| Error::NoPeerServes(name.to_owned()))?;
        let id = self.send_message(session, Channel::name(name), payload)?;
        Ok((session, id))
    }

    /// Fills `out` with a secret `session` exports under `label` and `context`: the peer's
    /// session gives the same bytes for the same label and context, every other session
    /// different ones (TLS's exporter; `docs/PROTOCOL.md` section 3.5). Fails if the node does
    /// not hold the session, or for a label over 255 bytes or a length of 0 or over 8,160.
    pub fn export_secret(
        &self,
        session: SessionHandle,
        label: &[u8],
        context: &[u8],
        out: &mut [u8],
    ) -> Result<(), ExportError> {
        self.driver.endpoint().session(session).ok_or(ExportError::NotEstablished)?.export_secret(label, context, out)
    }

    /// The key of the segments this end seals on segment stream `stream_id` of `session`, for a
    /// [`stt_proto::segment::SegmentEncoder`]; the peer decodes them with its
    /// [`Node::segment_decoder_key`] of the same id.
    pub fn segment_encoder_key(&self, session: SessionHandle, stream_id: u32) -> Result<SegmentKey, ExportError> {
        self.driver.endpoint().session(session).ok_or(ExportError::NotEstablished)?.segment_encoder_key(stream_id)
    }

    /// The key of the segments the peer seals on segment stream `stream_id` of `session`, for a
    /// [`stt_proto::segment::SegmentDecoder`].
    pub fn segment_decoder_key(&self, session: SessionHandle, stream_id: u32) -> Result<SegmentKey, ExportError> {
        self.driver.endpoint().session(session).ok_or(ExportError::NotEstablished)?.segment_decoder_key(stream_id)
    }

    /// A session's counters, or `None` if the node does not hold it (never established, or
    /// ended).
    pub fn session_stats(&self, session: SessionHandle) -> Option<SessionStats> {
        self.driver.endpoint().session(session).map(|s| s.stats())
    }

    /// Streams `session` holds now (opened by either side and not yet over in both
    /// directions), or `None` if the node does not hold it.
    pub fn stream_count(&self, session: SessionHandle) -> Option<usize> {
        self.driver.endpoint().session(session).map(|s| s.stream_count())
    }

    /// Keeps `value` under `key` on `session`, for the application only: never sent, never read
    /// by STT. True if it replaced a value; [`Error::UnknownSession`] (or why it closed) if the
    /// node does not hold the session. Readable after the session closed, as long as its close
    /// is remembered (the last 1,024).
    ///
    /// ```no_run
    /// # fn demo(node: &mut stt_mio::Node, session: stt_mio::stt_proto::SessionHandle) -> Result<(), stt_mio::Error> {
    /// node.set_metadata(session, "viewer", String::from("alice"))?;
    /// let name = node.metadata::<String>(session, "viewer");
    /// assert_eq!(name.as_deref().map(String::as_str), Some("alice"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_metadata<T: std::any::Any + Send + Sync>(
        &mut self,
        session: SessionHandle,
        key: impl Into<String>,
        value: T,
    ) -> Result<bool, Error> {
        match self.slots.get_mut(&session) {
            Some(slot) if slot.established => Ok(slot.metadata.insert(key, value)),
            _ => Err(self.gone(session)),
        }
    }

    /// The value kept under `key` on `session` with [`Node::set_metadata`], if there is one of
    /// type `T`.
    pub fn metadata<T: std::any::Any + Send + Sync>(&self, session: SessionHandle, key: &str) -> Option<Arc<T>> {
        self.metadata_of(session)?.get(key)
    }

    /// Removes the value kept under `key` on `session`; true if there was one.
    pub fn remove_metadata(&mut self, session: SessionHandle, key: &str) -> bool {
        self.metadata_of_mut(session).is_some_and(|m| m.remove(key))
    }

    /// The keys of the values kept on `session`.
    pub fn metadata_keys(&self, session: SessionHandle) -> Vec<String> {
        self.metadata_of(session).map(|m| m.keys().map(String::from).collect()).unwrap_or_default()
    }

    fn metadata_of(&self, session: SessionHandle) -> Option<&Metadata> {
        match self.slots.get(&session) {
            Some(slot) => Some(&slot.metadata),
            None => self.closed_metadata.get(&session),
        }
    }

    fn metadata_of_mut(&mut self, session: SessionHandle) -> Option<&mut Metadata> {
        match self.slots.get_mut(&session) {
            Some(slot) => Some(&mut slot.metadata),
            None => self.closed_metadata.get_mut(&session),
        }
    }

    /// When `session` was created (`connect`, or the responder's receipt of the handshake's
    /// third message), or `None` if the node does not hold it.
    pub fn created_at(&self, session: SessionHandle) -> Option<std::time::Instant> {
        self.session_stats(session).map(|s| self.driver.to_std_instant(s.created))
    }

    /// When an authentic frame from the peer last arrived on `session`, or `None` if the node
    /// does not hold it.
    pub fn last_active_at(&self, session: SessionHandle) -> Option<std::time::Instant> {
        self.session_stats(session).map(|s| self.driver.to_std_instant(s.last_active))
    }

    /// Opens a session to `addr` and waits until the handshake completes.
    pub fn connect(&mut self, addr: SocketAddr) -> Result<SessionHandle, Error> {
        let h = self.driver.connect(addr)?;
        self.wait_established(h)
    }

    /// Opens a session to the node `peer` at `addr` (with the shared seed configured for it) and
    /// waits until the handshake completes; fails with `Handshake(UnexpectedPeer)` if another node
    /// answers.
    pub fn connect_to(&mut self, addr: SocketAddr, peer: NodeId) -> Result<SessionHandle, Error> {
        let h = self.driver.connect_to(addr, peer)?;
        self.wait_established(h)
    }

    /// Opens a session to the node `peer` at `addr`, as [`Node::connect_to`] does, with
    /// `early`'s custom frames and messages queued before the handshake. When this node holds a
    /// resumption ticket for `peer` (it met `peer` before, with resumption on at both ends), they
    /// travel with the INIT as 0-RTT data and `peer` has them half a round trip later; the
    /// returned flag says they went so (if `peer` then refuses the ticket, the messages go again
    /// after the handshake; custom frames are sent once). Without a ticket they go once the
    /// session is open. Only data that is safe to receive before `peer` has proved itself in
    /// this session belongs there (see [`EarlyData`](crate::EarlyData): at most once, not
    /// forward-secret).
    pub fn connect_early(
        &mut self,
        addr: SocketAddr,
        peer: NodeId,
        early: crate::EarlyData,
    ) -> Result<(SessionHandle, bool), Error> {
        let h = self.driver.connect_to(addr, peer)?;
        let now = self.driver.now();
        let zero_rtt = early.queue(self.driver.endpoint_mut().session_mut(h).expect("just made"), now)?;
        Ok((self.wait_established(h)?, zero_rtt))
    }

    /// Uses `seed` as the shared seed with `peer` from now on (open sessions keep their keys).
    pub fn set_peer_seed(&mut self, peer: NodeId, seed: Seed) {
        self.driver.endpoint_unmarked().set_peer_seed(peer, seed);
    }

    /// This node's static public key: what a peer gives [`Node::add_peer_key`] to open its first
    /// session with this node in one round trip.
    pub fn public_key(&self) -> [u8; 32] {
        self.driver.endpoint().public_key()
    }

    /// Remembers a peer's static public key and returns its node id: `connect_to` that node id
    /// then opens the session in one round trip (see `stt_proto::Endpoint::add_peer_key`). The
    /// keys of peers this node completed a handshake with are remembered without this.
    pub fn add_peer_key(&mut self, static_public_key: [u8; 32]) -> NodeId {
        self.driver.endpoint_unmarked().add_peer_key(static_public_key)
    }

    /// The resumption tickets this node holds that are still valid (with
    /// `EndpointConfig::resumption`), to keep beyond this node's life: each
    /// [`SavedTicket::to_bytes`] is a secret (whoever has it can open one session to its peer in
    /// this node's name while it is valid).
    pub fn saved_tickets(&self) -> Vec<SavedTicket> {
        let now = self.driver.now();
        self.driver.endpoint().saved_tickets(now)
    }

    /// Holds `ticket` again (one [`Node::saved_tickets`] gave, perhaps in an earlier run): the
    /// next session to its peer resumes with it, in one round trip.
    pub fn restore_ticket(&mut self, ticket: SavedTicket) {
        let now = self.driver.now();
        self.driver.endpoint_unmarked().restore_ticket(now, ticket);
    }

    /// Adds `peer` to the allow-list (the first call creates it).
    pub fn allow(&mut self, peer: NodeId) {
        self.driver.endpoint_unmarked().allow(peer);
    }

    /// Forgets `peer` and closes its sessions with `stt_proto::close::PEER_REMOVED` and `reason`;
    /// returns how many were closed.
    pub fn remove_peer(&mut self, peer: NodeId, reason: &str) -> usize {
        let now = self.driver.now();
        let closed = self.driver.endpoint_unmarked().remove_peer(now, &peer, reason);
        self.driver.process();
        closed
    }

    /// Replaces the default shared seed while the node runs (seed rotation): handshakes from
    /// now on use `seed`; peers still on the old seed may connect, and sessions opened under it
    /// go on, for `grace`, after which (at the first turn of the loop past it) those sessions are
    /// closed (DISCONNECT code `close::SEED_RETIRED`) and the old seed is refused. Peers with a
    /// seed of their own are not affected. A rotation during an earlier one's grace period ends
    /// that period at once.
    pub fn rotate_shared_seed(&mut self, seed: Seed, grace: Duration) {
        let now = self.driver.now();
        self.driver.endpoint_unmarked().rotate_shared_seed(now, seed);
        self.seed_grace_until = Some(std::time::Instant::now() + grace);
        self.driver.process();
        self.dispatch();
    }

    /// True while a rotation's previous seed is still accepted ([`Node::rotate_shared_seed`]).
    pub fn in_seed_grace_period(&self) -> bool {
        self.driver.endpoint().in_seed_grace_period()
    }

    /// Retires the previous seed once the grace period passed.
    fn retire_seed_if_due(&mut self) {
        if self.seed_grace_until.is_some_and(|t| t <= std::time::Instant::now()) {
            self.seed_grace_until = None;
            let now = self.driver.now();
            self.driver.endpoint_unmarked().retire_previous_seed(now, "the shared seed was replaced");
            self.driver.process();
        }
    }

    /// Replaces this node's send key of `session` with the next generation as soon as the
    /// rotation rules allow.
    pub fn rotate_keys(&mut self, session: SessionHandle) -> Result<(), Error> {
        self.session(session)?.rotate_keys()?;
        self.driver.process();
        Ok(())
    }

    /// How handshake `h` ended (`None` while it runs): the session, or why it failed.
    fn handshake_outcome(&mut self, h: SessionHandle) -> Option<Result<SessionHandle, Error>> {
        match self.slots.get_mut(&h) {
            Some(s) if s.established => Some(Ok(h)),
            Some(s) => {
                let reason = s.failed.take()?;
                self.slots.remove(&h);
                Some(Err(Error::Handshake(reason)))
            }
            None => Some(Err(self.gone(h))),
        }
    }

    fn wait_established(&mut self, h: SessionHandle) -> Result<SessionHandle, Error> {
        self.slots.insert(h, Slot::default());
        match self.wait(|node| node.handshake_outcome(h)) {
            Ok(r) => r,
            Err(e) => {
                // The node's own timeout: the handshake must not live on without an owner.
                self.abandon(h, "gave up");
                Err(e)
            }
        }
    }

    /// Waits for the next session a peer opens.
    pub fn accept(&mut self) -> Result<SessionHandle, Error> {
        self.wait(|node| node.incoming.pop_front())
    }

    /// Waits for the next arrival of any kind, oldest first: a session or a stream a peer opened,
    /// a custom frame or a reliable message. Items come from the same queues as [`Node::accept`],
    /// [`Node::accept_stream`], [`Node::recv_frame`] and [`Node::recv_message`], so the styles mix
    /// and each item is returned once.
    pub fn next_incoming(&mut self) -> Result<Incoming, Error> {
        if !self.arrivals.listening() {
            self.arrivals.listen();
        }
        self.wait(Node::take_arrival)
    }

    fn take_arrival(&mut self) -> Option<Incoming> {
        while let Some(arrival) = self.arrivals.pop() {
            if let Some(item) = self.take(arrival) {
                return Some(item);
            }
        }
        if !self.arrivals.must_sweep() {
            return None;
        }
        let item = self.incoming.front().map(|&h| Arrival::Session(h)).and_then(|a| self.take(a)).or_else(|| {
            let sessions: Vec<SessionHandle> = self.slots.keys().copied().collect();
            sessions.into_iter().find_map(|h| {
                self.take(Arrival::Stream(h))
                    .or_else(|| self.take(Arrival::Frame(h)))
                    .or_else(|| self.take(Arrival::Message(h)))
            })
        });
        self.arrivals.swept(item)
    }

    /// The item an arrival stands for, or `None` if it was taken already or its session ended.
    fn take(&mut self, arrival: Arrival) -> Option<Incoming> {
        match arrival {
            Arrival::Session(h) => {
                let at = self.incoming.iter().position(|&s| s == h)?;
                self.incoming.remove(at).map(Incoming::Session)
            }
            Arrival::Stream(h) => {
                let stream = self.slots.get_mut(&h)?.opened.pop_front()?;
                Some(Incoming::Stream { session: h, stream })
            }
            Arrival::Frame(h) => {
                let (frame_type, payload) = self.slots.get_mut(&h)?.frames.pop()?;
                Some(Incoming::Frame { session: h, frame_type, payload })
            }
            Arrival::Message(h) => {
                let message = self.driver.endpoint_unmarked().session_mut(h)?.recv_message()?;
                // Taking it freed credit on the peer's lane: send it.
                self.driver.process();
                Some(Incoming::Message { session: h, message })
            }
        }
    }

    fn note(&mut self, arrival: Arrival) {
        self.arrivals.note(arrival);
    }

    /// The peer of an established session.
    pub fn peer(&self, session: SessionHandle) -> Option<NodeId> {
        self.slots.get(&session).and_then(|s| s.peer)
    }

    /// Why a session ended, if it did and this node still remembers (the last 1024 closes).
    pub fn close_reason(&self, session: SessionHandle) -> Option<&CloseReason> {
        self.closed.iter().find(|(h, _)| *h == session).map(|(_, r)| r)
    }

    /// Opens a stream.
    pub fn open_stream(&mut self, session: SessionHandle, mode: StreamMode) -> Result<StreamId, Error> {
        let id = self.session(session)?.open_stream(mode)?;
        self.driver.process();
        Ok(id)
    }

    /// Opens a stream with a label that says what it carries (1 to 64 bytes, never
    /// interpreted): the peer reads it before the data ([`Node::stream_label`],
    /// [`Node::accept_labeled_stream`]). Fails with `StreamError::LabelsUnsupported` if the peer
    /// runs a version of STT without labels.
    pub fn open_labeled_stream(
        &mut self,
        session: SessionHandle,
        mode: StreamMode,
        label: &[u8],
    ) -> Result<StreamId, Error> {
        let id = self.session(session)?.open_labeled_stream(mode, label)?;
        self.driver.process();
        Ok(id)
    }

    /// The label the opener of `stream` gave it, while the stream is open.
    pub fn stream_label(&self, session: SessionHandle, stream: StreamId) -> Option<&[u8]> {
        self.driver.endpoint().session(session)?.stream_label(stream)
    }

    /// Waits for the next stream the peer opens on `session`.
    pub fn accept_stream(&mut self, session: SessionHandle) -> Result<StreamId, Error> {
        self.wait(|node| match node.slots.get_mut(&session) {
            Some(s) => s.opened.pop_front().map(Ok),
            None => Some(Err(node.gone(session))),
        })?
    }

    /// Waits for the next stream the peer opens on `session` with `label`; streams with other
    /// labels, or none, stay for [`Node::accept_stream`].
    pub fn accept_labeled_stream(&mut self, session: SessionHandle, label: &[u8]) -> Result<StreamId, Error> {
        self.wait(|node| {
            let Some(slot) = node.slots.get(&session) else { return Some(Err(node.gone(session))) };
            let view = node.driver.endpoint().session(session)?;
            let at = slot.opened.iter().position(|&id| view.stream_label(id) == Some(label))?;
            node.slots.get_mut(&session)?.opened.remove(at).map(Ok)
        })?
    }

    /// Writes all of `data`, waiting for credit and acknowledgements as needed. On a live stream
    /// data older than the stream's deadline may be dropped by the sender instead of resent.
    pub fn write_all(&mut self, session: SessionHandle, stream: StreamId, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            let written = self.wait(|node| match node.session(session) {
                Ok(mut s) => match s.write(stream, data) {
                    Ok(n) => Some(Ok(n)),
                    Err(StreamError::Blocked) => None,
                    Err(e) => Some(Err(Error::Stream(e))),
                },
                Err(e) => Some(Err(e)),
            })??;
            data = &data[written..];
            self.driver.process();
        }
        Ok(())
    }

    /// Ends the sending side of a stream after what was written.
    pub fn finish(&mut self, session: SessionHandle, stream: StreamId) -> Result<(), Error> {
        self.session(session)?.finish(stream)?;
        self.driver.process();
        Ok(())
    }

    /// Reads into `buf`, waiting for data. `Ok(0)` means the peer finished the stream. Gaps a live
    /// stream skipped are passed over and counted in [`Node::skipped_bytes`].
    pub fn read(&mut self, session: SessionHandle, stream: StreamId, buf: &mut [u8]) -> Result<usize, Error> {
        loop {
            match self.read_chunk(session, stream, buf.len())? {
                Some(StreamRead::Data(chunk)) => {
                    buf[..chunk.len()].copy_from_slice(&chunk);
                    return Ok(chunk.len());
                }
                Some(StreamRead::Skipped { .. }) => continue,
                Some(StreamRead::Finished) | None => return Ok(0),
            }
        }
    }

    /// Reads the next piece of a stream, at most `max` bytes of data, waiting for one: data, a
    /// skipped gap (live streams), or `Finished`. Returns `None` after `Finished` was returned
    /// once and the stream is gone.
    pub fn read_chunk(
        &mut self,
        session: SessionHandle,
        stream: StreamId,
        max: usize,
    ) -> Result<Option<StreamRead>, Error> {
        if let Some(rest) = self.slots.get_mut(&session).and_then(|s| s.partial.remove(&stream)) {
            return Ok(Some(StreamRead::Data(self.keep_rest(session, stream, rest, max))));
        }
        let piece = self.wait(|node| match node.session(session) {
            Ok(mut s) => match s.read(stream) {
                Ok(Some(piece)) => Some(Ok(Some(piece))),
                Ok(None) => None,
                Err(StreamError::UnknownStream(_)) => Some(Ok(None)),
                Err(e) => Some(Err(Error::Stream(e))),
            },
            Err(e) => Some(Err(e)),
        })??;
        // Reading gave the peer credit; send it now rather than on the next turn.
        self.driver.process();
        Ok(match piece {
            Some(StreamRead::Data(chunk)) => Some(StreamRead::Data(self.keep_rest(session, stream, chunk, max))),
            Some(StreamRead::Skipped { bytes, segments }) => {
                if let Some(s) = self.slots.get_mut(&session) {
                    *s.skipped.entry(stream).or_default() += bytes;
                }
                Some(StreamRead::Skipped { bytes, segments })
            }
            other => other,
        })
    }

    /// Bytes a live stream skipped so far (read through [`Node::read`] or [`Node::read_chunk`]).
    pub fn skipped_bytes(&self, session: SessionHandle, stream: StreamId) -> u64 {
        self.slots.get(&session).and_then(|s| s.skipped.get(&stream)).copied().unwrap_or(0)
    }

    /// Reads a stream to its end.
    pub fn read_to_end(&mut self, session: SessionHandle, stream: StreamId) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        while let Some(piece) = self.read_chunk(session, stream, usize::MAX)? {
            match piece {
                StreamRead::Data(chunk) => out.extend_from_slice(&chunk),
                StreamRead::Skipped { .. } => {}
                StreamRead::Finished => break,
            }
        }
        Ok(out)
    }

    /// Fetches the content at `address` from the peer of `session`, which serves its store
    /// (`stt serve-store`, or `stt_cli::fetch::StoreServer` on a tokio node): one reliable stream,
    /// the protocol of `docs/PROTOCOL.md` section 12. Content longer than `max_len` is refused
    /// unread; the content is returned only if its SHA3-256 is `address`
    /// ([`Error::Fetch`] otherwise).
    pub fn fetch(
        &mut self,
        session: SessionHandle,
        address: &stt_proto::storage::Address,
        max_len: u64,
    ) -> Result<Vec<u8>, Error> {
        use stt_proto::fetch::{FetchFailure, FetchReply};
        let stream = self.open_stream(session, StreamMode::Reliable)?;
        self.write_all(session, stream, &stt_proto::fetch::request(address))?;
        self.finish(session, stream)?;
        let mut reply = FetchReply::new(*address, max_len);
        loop {
            match self.read_chunk(session, stream, 64 * 1024)? {
                Some(StreamRead::Data(bytes)) => {
                    if let Err(failure) = reply.push(&bytes) {
                        if !matches!(failure, FetchFailure::TooLarge { .. }) {
                            // A short answer: read its end, so that the stream is over here too.
                            self.drain_stream(session, stream, 64 * 1024);
                        }
                        return Err(failure.into());
                    }
                    if reply.is_done() {
                        self.drain_stream(session, stream, 64 * 1024);
                        return Ok(reply.finish()?);
                    }
                }
                Some(StreamRead::Skipped { .. }) => {
                    return Err(FetchFailure::Protocol("a gap in a reliable stream").into())
                }
                Some(StreamRead::Finished) | None => return Ok(reply.finish()?),
            }
        }
    }

    /// Reads and drops what is left of `stream` up to its end, at most `budget` bytes: a stream
    /// is over only once its end was read.
    fn drain_stream(&mut self, session: SessionHandle, stream: StreamId, mut budget: usize) {
        while let Ok(Some(StreamRead::Data(b))) = self.read_chunk(session, stream, budget.max(1)) {
            budget = budget.saturating_sub(b.len());
            if budget == 0 {
                return;
            }
        }
    }

    /// Sends a custom frame (type 0x80–0xFF). Best-effort: it is not retransmitted.
    pub fn send_frame(
        &mut self,
        session: SessionHandle,
        frame_type: u8,
        payload: impl Into<Bytes>,
    ) -> Result<(), Error> {
        self.session(session)?.send_frame(frame_type, payload)?;
        self.driver.process();
        Ok(())
    }

    /// Waits for the next custom frame on `session`.
    pub fn recv_frame(&mut self, session: SessionHandle) -> Result<(u8, Bytes), Error> {
        self.wait(|node| match node.slots.get_mut(&session) {
            Some(s) => s.frames.pop().map(Ok),
            None => Some(Err(node.gone(session))),
        })?
    }

    /// Sends one whole message to `channel` (a custom frame type or a routed name), reliably and
    /// in order, waiting while the message lane's send buffer is full. The peer receives it
    /// whole with [`Node::recv_message`] (or [`Node::next_incoming`]). If the peer refuses it
    /// (larger than its `max_message_size`, or a name it does not serve),
    /// [`Node::take_refused_messages`] reports the returned id.
    pub fn send_message(
        &mut self,
        session: SessionHandle,
        channel: Channel,
        payload: impl Into<Bytes>,
    ) -> Result<MessageId, Error> {
        let payload = payload.into();
        let id = self.wait(|node| match node.session(session) {
            Ok(mut s) => match s.send_message(channel, payload.clone()) {
                Ok(id) => Some(Ok(id)),
                Err(MessageError::Blocked) => None,
                Err(e) => Some(Err(Error::Message(e))),
            },
            Err(e) => Some(Err(e)),
        })??;
        self.driver.process();
        Ok(id)
    }

    /// Waits for the next whole message the peer sends on `session`, in the order it sent them.
    pub fn recv_message(&mut self, session: SessionHandle) -> Result<Message, Error> {
        let m = self.wait(|node| match node.session(session) {
            Ok(mut s) => s.recv_message().map(Ok),
            Err(e) => Some(Err(e)),
        })??;
        self.driver.process();
        Ok(m)
    }

    /// The messages sent on `session` that the peer refused since the last call, oldest first.
    pub fn take_refused_messages(&mut self, session: SessionHandle) -> Vec<RefusedMessages> {
        self.slots.get_mut(&session).map(|s| s.refused.drain(..).collect()).unwrap_or_default()
    }

    /// Waits until everything written on `session`'s streams has been acknowledged.
    pub fn flush(&mut self, session: SessionHandle) -> Result<(), Error> {
        self.wait(|node| match node.driver.endpoint().session(session) {
            Some(s) if s.streams_flushed() => Some(Ok(())),
            Some(_) => None,
            None => Some(Err(node.gone(session))),
        })?
    }

    /// Closes a session: sends DISCONNECT with `code` and `reason` and forgets the session.
    /// Unacknowledged stream data is abandoned; call [`Node::flush`] first to avoid that.
    pub fn close(&mut self, session: SessionHandle, code: u32, reason: &str) {
        let now = self.driver.now();
        if let Some(s) = self.driver.endpoint_unmarked().session_mut(session) {
            s.close(now, code, reason);
        }
        self.driver.process();
        self.dispatch();
    }

    /// Runs the loop for `duration`: answers peers, retransmits, keeps sessions alive.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), Error> {
        let end = std::time::Instant::now() + duration;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            self.turn(Some(left))?;
        }
    }

    /// One turn of the loop: waits for readiness or the core's next deadline (at most `max`),
    /// then processes.
    pub fn poll_once(&mut self, max: Option<Duration>) -> Result<(), Error> {
        self.turn(max)
    }

    fn session(&mut self, session: SessionHandle) -> Result<stt_proto::SessionMut<'_>, Error> {
        if self.driver.endpoint().session(session).is_none() {
            return Err(self.gone(session));
        }
        Ok(self.driver.endpoint_unmarked().session_mut(session).expect("checked above"))
    }

    fn gone(&self, session: SessionHandle) -> Error {
        match self.close_reason(session) {
            Some(reason) => Error::SessionClosed(reason.clone()),
            None => Error::UnknownSession,
        }
    }

    fn keep_rest(&mut self, session: SessionHandle, stream: StreamId, mut chunk: Bytes, max: usize) -> Bytes {
        if chunk.len() <= max {
            return chunk;
        }
        let head = chunk.split_to(max);
        if let Some(s) = self.slots.get_mut(&session) {
            s.partial.insert(stream, chunk);
        }
        head
    }

    /// Turns the loop until `ready` answers, or the node's timeout passes.
    fn wait<T>(&mut self, ready: impl FnMut(&mut Node) -> Option<T>) -> Result<T, Error> {
        self.wait_until(None, ready)?.ok_or(Error::TimedOut)
    }

    /// Turns the loop until `ready` answers (`Some`), `until` passes (`None`), or the node's
    /// timeout passes (`Error::TimedOut`).
    fn wait_until<T>(
        &mut self,
        until: Option<std::time::Instant>,
        mut ready: impl FnMut(&mut Node) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        let end = self.timeout.map(|t| std::time::Instant::now() + t);
        loop {
            if self.state == NodeState::Stopped {
                return Err(Error::NodeClosed);
            }
            if let Some(answer) = ready(self) {
                return Ok(Some(answer));
            }
            let now = std::time::Instant::now();
            if until.is_some_and(|until| until <= now) {
                return Ok(None);
            }
            let left = match end {
                Some(end) => {
                    let left = end.saturating_duration_since(now);
                    if left.is_zero() {
                        return Err(Error::TimedOut);
                    }
                    Some(left)
                }
                None => None,
            };
            let until = until.map(|u| u.saturating_duration_since(now));
            self.turn([left, until].into_iter().flatten().min())?;
        }
    }

    fn turn(&mut self, max: Option<Duration>) -> Result<(), Error> {
        let fallback = self.fallback_deadline().map(|t| t.saturating_duration_since(self.driver.now()));
        let grace = self.seed_grace_until.map(|t| t.saturating_duration_since(std::time::Instant::now()));
        let timeout = [self.driver.timeout(), max, fallback, grace].into_iter().flatten().min();
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::Io(e));
            }
        }
        for ev in self.events.iter() {
            self.driver.handle_event(ev);
        }
        self.retire_seed_if_due();
        self.driver.process();
        self.dispatch();
        if !self.watches.is_empty() {
            self.run_fallbacks();
        }
        Ok(())
    }

    fn dispatch(&mut self) {
        while let Some(event) = self.driver.poll_event() {
            match event {
                Event::SessionEstablished { session, peer, role, .. } => {
                    let slot = self.slots.entry(session).or_default();
                    slot.established = true;
                    slot.peer = Some(peer);
                    if role == Role::Responder {
                        self.incoming.push_back(session);
                        self.note(Arrival::Session(session));
                    }
                }
                Event::HandshakeFailed { session: Some(session), reason, .. } => {
                    if let Some(slot) = self.slots.get_mut(&session) {
                        slot.failed = Some(reason);
                    }
                }
                Event::Frame { session, frame_type, payload } => {
                    if let Some(handler) = self.handlers.0.get_mut(&frame_type) {
                        handler(session, payload);
                        continue;
                    }
                    if self.slots.entry(session).or_default().frames.push(frame_type, payload) {
                        self.frames_dropped += 1;
                    }
                    self.note(Arrival::Frame(session));
                }
                Event::StreamOpened { session, .. } => {
                    let Some(mut s) = self.driver.endpoint_unmarked().session_mut(session) else { continue };
                    let mut opened = 0;
                    while let Some(stream) = s.accept_stream() {
                        self.slots.entry(session).or_default().opened.push_back(stream);
                        opened += 1;
                    }
                    for _ in 0..opened {
                        self.note(Arrival::Stream(session));
                    }
                }
                Event::MessageReadable { session } => self.note(Arrival::Message(session)),
                Event::NameReadable { name } => self.run_name_handler(name),
                Event::NameReply { session, request, reply } => {
                    let replies = &mut self.slots.entry(session).or_default().name_replies;
                    // Answers nobody waits for any more (a request that timed out) are bounded:
                    // the oldest goes first.
                    if replies.len() >= MAX_UNCLAIMED_NAME_REPLIES {
                        if let Some(&oldest) = replies.keys().min() {
                            replies.remove(&oldest);
                        }
                    }
                    replies.insert(request, reply);
                }
                Event::MessagesRefused { session, first, count, reason } => {
                    let refused = &mut self.slots.entry(session).or_default().refused;
                    if refused.len() == MAX_REMEMBERED_REFUSALS {
                        refused.pop_front();
                    }
                    refused.push_back(RefusedMessages { first, count, reason });
                }
                Event::KeyLog { secrets, .. } => {
                    if let Some(log) = &self.key_log {
                        log.write(&secrets);
                    }
                }
                Event::SessionClosed { session, reason } => {
                    if let Some(slot) = self.slots.remove(&session) {
                        if !slot.metadata.is_empty() {
                            self.closed_metadata.insert(session, slot.metadata);
                        }
                    }
                    self.incoming.retain(|h| *h != session);
                    if self.closed.len() == MAX_REMEMBERED_CLOSES {
                        if let Some((old, _)) = self.closed.pop_front() {
                            self.closed_metadata.remove(&old);
                        }
                    }
                    self.closed.push_back((session, reason));
                }
                _ => {}
            }
        }
    }
}
