//! [`Node`]: the public handle to one STT node: bind, connect, accept, frame handlers, named
//! endpoints, broadcast, rebind and shutdown. What the handles share with the driver task is in
//! `shared.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stt_proto::{
    Channel, Endpoint, Event, FallbackAction, FallbackPolicy, Identity, MessageId, NameQueueLimits, NodeId, Remote,
    SavedTicket, Seed, SessionHandle, Shard, StreamMode,
};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{broadcast, oneshot};

use crate::config::NodeConfig;
use crate::inbox::Inbox;
use crate::random_bytes;
use crate::session::Session;
use crate::shards::ShardRouter;
use crate::shared::{Inner, Owner, SessionShared, SessionSlot};
use crate::udp::UdpIo;
use crate::Error;
use crate::{NodeState, NodeStats};

/// What a connect call waits on: the session, or why the handshake failed.
type ConnectWaiter = oneshot::Receiver<Result<Arc<SessionShared>, Error>>;

/// A handler for one custom frame type, registered with [`Node::on_frame`].
pub type FrameHandler = Arc<dyn Fn(&Session, Bytes) + Send + Sync + 'static>;

/// Which sessions [`Node::broadcast`] sends to.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// Every established session.
    All,
    /// These sessions.
    Sessions(&'a [Session]),
}

/// One STT node: a UDP socket (and optionally a WebSocket listener), its sessions, and the
/// driver task that runs the sans-IO core. Cheap to clone; the node stops when
/// [`Node::shutdown`] is called, or when the last clone and the last [`Session`] handle (streams
/// hold one) are dropped.
///
/// Must be created inside a tokio runtime.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
    _owner: Arc<Owner>,
    fallback: crate::Fallback,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("node_id", &self.inner.node_id).field("udp", &self.local_addr()).finish()
    }
}

impl Node {
    /// Binds the node's sockets and starts its driver task.
    pub async fn bind(config: NodeConfig) -> Result<Node, Error> {
        config.endpoint.validate()?;
        let udp = UdpIo::bind(config.bind, config.udp_batching)
            .map_err(|source| Error::Bind { addr: config.bind, source })?;
        let identity = config.resolved_identity();
        Node::start(config, identity, udp, None).await
    }

    /// Binds one node as `count` shards (1 to 1,024) that share its identity and its UDP port
    /// (`SO_REUSEPORT`), each with its own socket, endpoint and driver task: on a multi-threaded
    /// runtime the shards run on as many threads, and a node with a shard per core uses every
    /// core. Returns the shards in order; each is a [`Node`] of its own (accept, connect,
    /// statistics are per shard), so an application runs an accept loop on each. A session
    /// lives in one shard for its whole life, and its datagrams are handled there in order:
    /// the session ids a shard gives out say which shard it is, the kernel steers datagrams by
    /// them (Linux; elsewhere the shards hand each other what is not theirs, counted in
    /// [`DriverStats::handed_on`](crate::DriverStats::handed_on)), and the answers to a session
    /// a shard opened find it too. A WebSocket listener, if configured, belongs to shard 0.
    /// Keep every shard until the node shuts down: a shard dropped early closes its socket,
    /// and its sessions' datagrams are lost.
    pub async fn bind_shards(config: NodeConfig, count: u16) -> Result<Vec<Node>, Error> {
        Shard::new(0, count)?;
        config.endpoint.validate()?;
        let (sockets, steered) = UdpIo::bind_group(config.bind, count, config.udp_batching)
            .map_err(|source| Error::Bind { addr: config.bind, source })?;
        if !steered && count > 1 {
            tracing::debug!("no steering by session id on this system: the shards hand datagrams on");
        }
        let identity = config.resolved_identity();
        let router = ShardRouter::new();
        let mut nodes = Vec::with_capacity(sockets.len());
        for (i, udp) in (0..count).zip(sockets) {
            let mut shard_config = config.clone();
            shard_config.endpoint.shard = Shard::new(i, count)?;
            if i > 0 {
                shard_config.ws_bind = None;
            }
            nodes.push(Node::start(shard_config, identity.clone(), udp, Some(router.clone())).await?);
        }
        Ok(nodes)
    }

    /// Starts a node on its bound UDP socket: the endpoint, the WebSocket listener if any, and
    /// the driver task.
    async fn start(
        mut config: NodeConfig,
        identity: Identity,
        udp: UdpIo,
        router: Option<Arc<ShardRouter>>,
    ) -> Result<Node, Error> {
        let key_log = config.key_log.as_deref().map(stt_common::KeyLog::open).transpose()?;
        config.endpoint.key_log = key_log.is_some();
        let ep = Endpoint::new(config.endpoint, identity, random_bytes())?;
        let listener = match config.ws_bind {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?),
            None => None,
        };
        let ws_local = listener.as_ref().and_then(|l| l.local_addr().ok());
        let (inner, owner) = Inner::new(ep, udp, ws_local, config.tls_roots, key_log);
        if let Some(router) = router {
            let inbox = router.join();
            let _ = inner.shard.set((router, inbox));
        }
        inner.spawn(crate::driver::run(inner.clone()));
        if let Some(listener) = listener {
            inner.spawn(crate::ws::listen(inner.clone(), listener, config.ws_limits, config.wss));
        }
        Ok(Node { _owner: owner, inner, fallback: config.fallback })
    }

    /// Where the node is in its life: running from `bind`, stopping during
    /// [`Node::shutdown`], stopped after it (or once every handle was dropped).
    pub fn state(&self) -> NodeState {
        let st = self.inner.lock();
        if st.stopped {
            NodeState::Stopped
        } else if st.stopping || self.inner.stop_requested.load(std::sync::atomic::Ordering::Acquire) {
            NodeState::Stopping
        } else {
            NodeState::Running
        }
    }

    /// This node's id (public; peers may put it in their allow-list or seed table).
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.udp.lock().unwrap_or_else(|p| p.into_inner()).local_addr()
    }

    /// The WebSocket listener's address, if one was configured.
    pub fn ws_local_addr(&self) -> Option<SocketAddr> {
        self.inner.ws_local
    }

    /// Opens a session to the node at `addr` over UDP: a socket address, or a host name and port
    /// (`"node.example:7000"`, `("node.example", 7000)`), resolved here; each address of the
    /// node's IP family is tried in turn until one completes a handshake. Fails with
    /// [`Error::Resolve`] if the name does not resolve to such an address,
    /// [`Error::Handshake`]`(AuthenticationFailed)` if the peer holds another shared seed, and
    /// `Handshake(Timeout)` if no address answers within the handshake timeout.
    pub async fn connect(&self, addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<Session, Error> {
        self.connect_resolved(addr, None).await
    }

    /// Opens a session over UDP to the node `peer` at `addr`, with the shared seed configured for
    /// `peer` (or the default one). Fails with `Handshake(UnexpectedPeer)` if another node
    /// answers: the handshake proves the answering node holds `peer`'s identity key.
    pub async fn connect_to(&self, addr: impl ToSocketAddrs + std::fmt::Debug, peer: NodeId) -> Result<Session, Error> {
        self.connect_resolved(addr, Some(peer)).await
    }

    /// The addresses `addr` names that this node's UDP socket can reach (its IP family; both on
    /// an IPv6 socket).
    async fn resolve(&self, addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<Vec<SocketAddr>, Error> {
        let what = format!("{addr:?}");
        let found = tokio::net::lookup_host(addr).await.map_err(|e| Error::Resolve(format!("{what}: {e}")))?;
        let v4_only = self.local_addr().is_ipv4();
        let usable: Vec<SocketAddr> = found.filter(|a| !v4_only || a.is_ipv4()).collect();
        if usable.is_empty() {
            let family = if v4_only { "IPv4 " } else { "" };
            return Err(Error::Resolve(format!(
                "{what}: no {family}address (bind an address of its family to reach it)"
            )));
        }
        Ok(usable)
    }

    async fn connect_resolved(
        &self,
        addr: impl ToSocketAddrs + std::fmt::Debug,
        peer: Option<NodeId>,
    ) -> Result<Session, Error> {
        let mut last = None;
        for a in self.resolve(addr).await? {
            match self.connect_remote(Remote::udp(a), peer).await {
                Ok(s) => return Ok(s),
                // An address that does not answer: try the next one.
                Err(e @ Error::Handshake(stt_proto::HandshakeError::Timeout)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    /// Opens a session over WebSocket to `url`: `ws://host:port/...`, or `wss://host:port/...`
    /// (TLS, the server verified against [`crate::NodeConfig::tls_roots`] or the system's
    /// authorities). A host name is resolved and each address tried.
    pub async fn connect_ws(&self, url: &str) -> Result<Session, Error> {
        let peer = crate::ws::connect(self.inner.clone(), url).await?;
        self.connect_remote(Remote::websocket(peer), None).await
    }

    /// Opens a session to the node at `addr` over UDP or, when UDP brings no answer within
    /// [`Fallback::udp_timeout`](crate::Fallback::udp_timeout) (a firewall that drops UDP, say),
    /// over WebSocket to `ws_url`, the same node's listener. A session that fell back probes
    /// `addr` over UDP every [`Fallback::probe_interval`](crate::Fallback::probe_interval) and
    /// moves back to UDP when the peer answers there (`Event::SessionMigrated` on both nodes);
    /// data in flight on WebSocket is still accepted, so nothing is lost. Handshake errors other
    /// than a timeout (a wrong seed, say) are returned without trying WebSocket.
    ///
    /// The decisions are the core's [`FallbackPolicy`](stt_proto::FallbackPolicy); this call
    /// and a task per session that fell back carry them out.
    pub async fn connect_with_fallback(&self, addr: SocketAddr, ws_url: &str) -> Result<Session, Error> {
        let mut policy = FallbackPolicy::new(self.fallback, self.inner.now());
        let (handle, mut rx) = self.start_connect(Remote::udp(addr), None)?;
        let udp_deadline = policy.next_deadline().map_or(tokio::time::Instant::now(), |t| self.inner.deadline(t));
        let udp_pending = match tokio::time::timeout_at(udp_deadline, &mut rx).await {
            Ok(Ok(Ok(shared))) => return Ok(Session::from_shared(shared)),
            Ok(Ok(Err(Error::Handshake(stt_proto::HandshakeError::Timeout)))) => false,
            Err(_) => true,
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(_)) => return Err(Error::NodeClosed),
        };
        // Abandon the UDP attempt, unless the handshake completed or failed in the meantime (the
        // driver reports it at its next turn: a session is handed over, a failure other than a
        // timeout returned).
        let decided = udp_pending && {
            let mut st = self.inner.lock();
            let decided = st.ep.session(handle).is_none_or(|s| s.state() != stt_proto::SessionState::Handshaking);
            if !decided {
                let now = self.inner.now();
                st.sessions.remove(&handle);
                if let Some(s) = st.ep.session_mut(handle) {
                    s.close(now, 0, "fell back to WebSocket");
                }
            }
            decided
        };
        if decided {
            match rx.await.map_err(|_| Error::NodeClosed)? {
                Ok(shared) => return Ok(Session::from_shared(shared)),
                Err(Error::Handshake(stt_proto::HandshakeError::Timeout)) => {}
                Err(e) => return Err(e),
            }
        }
        self.inner.wake.notify_one();
        stt_common::log_fallback::falling_back(addr, ws_url);
        let session = self.connect_ws(ws_url).await?;
        policy.on_established(self.inner.now());
        let (shared, url) = (session.shared.clone(), ws_url.to_string());
        // Unanswered probes do not end this session before the task below has had its chance to
        // move it to the other transport.
        let _ = shared.with(|mut s, _| {
            s.set_unreachable_after(policy.config().unreachable_after());
            Ok(())
        });
        self.inner.spawn(async move {
            // Holds the session's shared part, not a handle: it does not keep the node running,
            // and ends with the session.
            while let Some(due) = policy.next_deadline() {
                tokio::time::sleep_until(shared.node.deadline(due)).await;
                let path = shared.with(|s, _| {
                    let view = s.as_ref();
                    Ok((view.remote().transport, view.stats().last_active))
                });
                let Ok(path) = path else {
                    policy.on_closed();
                    break;
                };
                match policy.on_timeout(shared.node.now(), Some(path)) {
                    Some(FallbackAction::ProbeUdp) => {
                        let _ = shared.with(|mut s, _| {
                            s.probe_path(Remote::udp(addr));
                            Ok(())
                        });
                    }
                    Some(FallbackAction::ProbeWebSocket) => {
                        stt_common::log_fallback::probing_websocket(addr, &url);
                        match crate::ws::connect(shared.node.clone(), &url).await {
                            Ok(peer) => {
                                let _ = shared.with(|mut s, _| {
                                    s.probe_path(Remote::websocket(peer));
                                    Ok(())
                                });
                            }
                            Err(e) => stt_common::log_fallback::websocket_unreachable(&url, &e),
                        }
                    }
                    Some(FallbackAction::UseWebSocket) | None => {}
                }
            }
        });
        Ok(session)
    }

    /// [`Node::connect_to`] over WebSocket.
    pub async fn connect_ws_to(&self, url: &str, peer: NodeId) -> Result<Session, Error> {
        let remote = crate::ws::connect(self.inner.clone(), url).await?;
        self.connect_remote(Remote::websocket(remote), Some(peer)).await
    }

    /// Uses `seed` as the shared seed with `peer` from now on (sessions already open keep their
    /// keys).
    pub fn set_peer_seed(&self, peer: NodeId, seed: Seed) {
        self.inner.lock().ep.set_peer_seed(peer, seed);
    }

    /// This node's static public key: what a peer gives [`Node::add_peer_key`] to open its first
    /// session with this node in one round trip.
    pub fn public_key(&self) -> [u8; 32] {
        self.inner.lock().ep.public_key()
    }

    /// Remembers a peer's static public key and returns its node id: `connect_to` that node id
    /// then opens the session in one round trip (see `stt_proto::Endpoint::add_peer_key`). The
    /// keys of peers this node completed a handshake with are remembered without this.
    pub fn add_peer_key(&self, static_public_key: [u8; 32]) -> NodeId {
        self.inner.lock().ep.add_peer_key(static_public_key)
    }

    /// The resumption tickets this node holds that are still valid (with
    /// [`crate::NodeConfig::resumption`]), to keep beyond this node's life: each
    /// [`SavedTicket::to_bytes`] is a secret (whoever has it can open one session to its peer in
    /// this node's name while it is valid).
    pub fn saved_tickets(&self) -> Vec<SavedTicket> {
        let now = self.inner.now();
        self.inner.lock().ep.saved_tickets(now)
    }

    /// Holds `ticket` again (one [`Node::saved_tickets`] gave, perhaps in an earlier run): the
    /// next session to its peer resumes with it, in one round trip.
    pub fn restore_ticket(&self, ticket: SavedTicket) {
        let now = self.inner.now();
        self.inner.lock().ep.restore_ticket(now, ticket);
    }

    /// Adds `peer` to the allow-list (the first call creates it: from then on only allowed peers
    /// may hold a session with this node).
    pub fn allow(&self, peer: NodeId) {
        self.inner.lock().ep.allow(peer);
    }

    /// Forgets `peer` (its seed entry and allow-list entry) and closes its sessions with
    /// `stt_proto::close::PEER_REMOVED` and `reason`; returns how many were closed. Without an
    /// allow-list, a peer holding the default seed can connect again.
    pub fn remove_peer(&self, peer: NodeId, reason: &str) -> usize {
        let closed = {
            let mut st = self.inner.lock();
            let now = self.inner.now();
            st.ep.remove_peer(now, &peer, reason)
        };
        self.inner.wake.notify_one();
        closed
    }

    /// Replaces the default shared seed while the node runs (seed rotation): handshakes from
    /// now on use `seed`; peers still on the old seed may connect, and sessions opened under it
    /// go on, for `grace`, after which those sessions are closed (DISCONNECT code
    /// `close::SEED_RETIRED`, which the peer sees as the reason) and the old seed is refused.
    /// Peers with a seed of their own ([`Node::set_peer_seed`]) are not affected. A rotation
    /// during an earlier one's grace period ends that period at once.
    ///
    /// ```no_run
    /// # async fn f(node: stt_tokio::Node) -> Result<(), stt_tokio::Error> {
    /// use std::time::Duration;
    /// let new_seed = stt_tokio::Seed::new(b"the fleet's next shared seed, 32+ bytes")?;
    /// node.rotate_shared_seed(new_seed, Duration::from_secs(3600));
    /// # Ok(()) }
    /// ```
    pub fn rotate_shared_seed(&self, seed: Seed, grace: Duration) {
        let rotation = {
            let mut st = self.inner.lock();
            let now = self.inner.now();
            st.ep.rotate_shared_seed(now, seed);
            st.ep.seed_rotations()
        };
        self.inner.wake.notify_one();
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            // A node that was dropped meanwhile has nothing left to retire.
            let Some(inner) = inner.upgrade() else { return };
            {
                let mut st = inner.lock();
                if st.ep.seed_rotations() != rotation {
                    return; // a later rotation retired this one's seed and has its own grace
                }
                let now = inner.now();
                st.ep.retire_previous_seed(now, "the shared seed was replaced");
            }
            inner.wake.notify_one();
        });
    }

    /// True while a rotation's previous seed is still accepted ([`Node::rotate_shared_seed`]).
    pub fn in_seed_grace_period(&self) -> bool {
        self.inner.lock().ep.in_seed_grace_period()
    }

    async fn connect_remote(&self, remote: Remote, peer: Option<NodeId>) -> Result<Session, Error> {
        let (_, rx) = self.start_connect(remote, peer)?;
        let shared = rx.await.map_err(|_| Error::NodeClosed)??;
        Ok(Session::from_shared(shared))
    }

    /// Opens a session over UDP to the node `peer` at `addr`, as [`Node::connect_to`] does, with
    /// `early`'s custom frames and messages queued before the handshake. When this node holds a
    /// resumption ticket for `peer` (it met `peer` before, with resumption on at both ends), they
    /// travel with the INIT as 0-RTT data and `peer` has them half a round trip later; the
    /// returned flag says they went so (if `peer` then refuses the ticket, the messages go again
    /// after the handshake; custom frames are sent once). Without a ticket they go once the
    /// session is open. Only data that is safe to receive before `peer` has proved itself in
    /// this session belongs there (see [`EarlyData`](crate::EarlyData): at most once, not
    /// forward-secret).
    pub async fn connect_early(
        &self,
        addr: SocketAddr,
        peer: NodeId,
        early: crate::EarlyData,
    ) -> Result<(Session, bool), Error> {
        let mut zero_rtt = false;
        let (_, rx) = self.start_connect_with(Remote::udp(addr), Some(peer), |s, now| {
            zero_rtt = early.queue(s, now)?;
            Ok(())
        })?;
        let shared = rx.await.map_err(|_| Error::NodeClosed)??;
        Ok((Session::from_shared(shared), zero_rtt))
    }

    /// Starts a handshake; the receiver gets the session or why it failed.
    fn start_connect(&self, remote: Remote, peer: Option<NodeId>) -> Result<(SessionHandle, ConnectWaiter), Error> {
        self.start_connect_with(remote, peer, |_, _| Ok(()))
    }

    /// [`Node::start_connect`], with `prepare` run on the new session before its INIT goes (at
    /// the time given); if it fails, it closed the session.
    fn start_connect_with(
        &self,
        remote: Remote,
        peer: Option<NodeId>,
        prepare: impl FnOnce(stt_proto::SessionMut<'_>, stt_proto::Instant) -> Result<(), Error>,
    ) -> Result<(SessionHandle, ConnectWaiter), Error> {
        let (tx, rx) = oneshot::channel();
        let h = {
            let mut st = self.inner.lock();
            if st.stopped {
                return Err(Error::NodeClosed);
            }
            let now = self.inner.now();
            let h = match peer {
                Some(peer) => st.ep.connect_to(now, remote, peer)?,
                None => st.ep.connect(now, remote)?,
            };
            prepare(st.ep.session_mut(h).expect("just made"), now)?;
            crate::log::handshake_started(&remote);
            st.sessions.insert(h, Box::new(SessionSlot::new(Some(tx))));
            h
        };
        self.inner.wake.notify_one();
        Ok((h, rx))
    }

    /// The next session a peer opened to this node; `None` once the node is shut down.
    pub async fn accept(&self) -> Option<Session> {
        loop {
            let notified = self.inner.accepted.notified();
            {
                let mut st = self.inner.lock();
                if let Some(s) = st.incoming.pop_front() {
                    return Some(Session::from_shared(s));
                }
                if st.stopped {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// The node's arrivals in one sequence: sessions and streams peers open, custom frames
    /// without a handler, bytes routed to served names, oldest first (see [`Inbox`]). Items are
    /// taken from the same queues as [`Node::accept`], [`Session::accept_stream`],
    /// [`Session::recv_frame`] and [`crate::NamedEndpoint::recv`]; each goes to whoever asks
    /// first.
    pub fn incoming(&self) -> Inbox {
        Inbox::new(self.inner.clone())
    }

    /// Registers `handler` for custom frames of `frame_type` (0x80–0xFF) on every session; it
    /// replaces an earlier handler for that type. Handlers run on the driver task: keep them short
    /// and hand longer work to a channel or a spawned task. Frames of types without a handler
    /// wait for [`Session::recv_frame`].
    pub fn on_frame(
        &self,
        frame_type: u8,
        handler: impl Fn(&Session, Bytes) + Send + Sync + 'static,
    ) -> Result<(), Error> {
        if frame_type < 0x80 {
            return Err(Error::Frame(stt_proto::FrameError::ReservedFrameType(frame_type)));
        }
        let handler = move |shared: Arc<SessionShared>, payload: Bytes| handler(&Session::from_shared(shared), payload);
        let replaced = self.inner.lock().handlers.insert(frame_type, Arc::new(handler));
        // Dropped unlocked: a handler may hold handles whose drop locks the node.
        drop(replaced);
        Ok(())
    }

    /// Serves `name` on this node: peers can [`Session::resolve`] it and [`Session::route`] bytes
    /// to it, which queue (bounded by `limits`) until [`crate::NamedEndpoint::recv`] takes them.
    /// Every connected peer is told the node's new list of names. Serving stops when the handle
    /// is dropped.
    pub fn serve_name(&self, name: &str, limits: NameQueueLimits) -> Result<crate::NamedEndpoint, Error> {
        crate::names::serve(&self.inner, name, limits, self.inner.keep_alive())
    }

    /// The node-wide directory of names: the sessions whose peer announced `name`, best first
    /// (the lowest smoothed round-trip time, then the oldest session). Empty if no connected
    /// peer serves it.
    pub fn sessions_serving(&self, name: &str) -> Vec<Session> {
        let st = self.inner.lock();
        let handles = st.ep.sessions_serving(&stt_proto::NameAddress::of(name));
        handles.iter().filter_map(|h| st.sessions.get(h)?.shared.clone()).map(Session::from_shared).collect()
    }

    /// Routes `data` to `name` on whichever connected peer serves it (the first of
    /// [`Node::sessions_serving`]), and returns that peer's session once the bytes are in the
    /// name's queue there. Fails with [`Error::NoPeerServes`] if no connected peer announced the
    /// name, and as [`Session::route`] does otherwise (nothing is tried on a second peer: a full
    /// queue is for the caller to wait on).
    ///
    /// ```no_run
    /// # async fn f(node: stt_tokio::Node) -> Result<(), stt_tokio::Error> {
    /// let peer = node.route("viewer_alice", &b"a frame"[..]).await?;
    /// println!("served by {:?}", peer.peer());
    /// # Ok(()) }
    /// ```
    pub async fn route(&self, name: &str, data: impl Into<Bytes>) -> Result<Session, Error> {
        let session = self.best_serving(name)?;
        session.route(name, data).await?;
        Ok(session)
    }

    /// Sends one whole message of any size to `name` on whichever connected peer serves it (the
    /// first of [`Node::sessions_serving`]), reliably, as [`Session::send_message`] does; returns
    /// that session and the message's id. The peer's application receives it as a message of
    /// that session with channel `Channel::name(name)`. Fails with [`Error::NoPeerServes`] if
    /// no connected peer announced the name.
    pub async fn send_message_to_name(
        &self,
        name: &str,
        data: impl Into<Bytes>,
    ) -> Result<(Session, MessageId), Error> {
        let session = self.best_serving(name)?;
        let id = session.send_message(Channel::name(name), data).await?;
        Ok((session, id))
    }

    fn best_serving(&self, name: &str) -> Result<Session, Error> {
        self.sessions_serving(name).into_iter().next().ok_or_else(|| Error::NoPeerServes(name.to_owned()))
    }

    /// Serves `name` and runs `handler` for each payload peers route to it ([`Session::route`],
    /// [`Node::route`]), in order, on a task of its own (as [`Node::on_frame`] does for a frame
    /// type). Abort the returned task to stop serving the name; it ends by itself when the node
    /// shuts down. Messages sent to the name ([`Node::send_message_to_name`]) arrive as messages
    /// of their session ([`Session::recv_message`], [`Node::incoming`]) while it is served.
    ///
    /// ```no_run
    /// # async fn f(node: stt_tokio::Node) -> Result<(), stt_tokio::Error> {
    /// use stt_tokio::NameQueueLimits;
    /// let task = node.on_name("viewer_alice", NameQueueLimits::default(), |routed| {
    ///     println!("{} bytes for viewer_alice", routed.data.len());
    /// })?;
    /// task.abort(); // stop serving
    /// # Ok(()) }
    /// ```
    pub fn on_name(
        &self,
        name: &str,
        limits: NameQueueLimits,
        handler: impl Fn(crate::Routed) + Send + Sync + 'static,
    ) -> Result<tokio::task::JoinHandle<()>, Error> {
        // No keep-alive: the handler's task does not keep the node running.
        let endpoint = crate::names::serve(&self.inner, name, limits, None)?;
        Ok(tokio::spawn(async move {
            while let Ok(routed) = endpoint.recv().await {
                handler(routed);
            }
        }))
    }

    /// Session-level events (established, handshake failed, closed, migrated, key rotated). A
    /// subscriber that falls more than 1024 events behind misses the oldest.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Established sessions.
    pub fn sessions(&self) -> Vec<Session> {
        let st = self.inner.lock();
        st.sessions.values().filter_map(|s| s.shared.clone()).map(Session::from_shared).collect()
    }

    fn resolve_targets(&self, targets: Targets<'_>) -> Vec<Session> {
        match targets {
            Targets::All => self.sessions(),
            Targets::Sessions(s) => s.to_vec(),
        }
    }

    /// Sends one custom frame to each target session, with the result for each: `Ok` when the
    /// frame was queued (delivery is best-effort, as for every custom frame), or why not.
    pub fn broadcast(&self, frame_type: u8, payload: Bytes, targets: Targets<'_>) -> Vec<(Session, Result<(), Error>)> {
        let sessions = self.resolve_targets(targets);
        sessions
            .into_iter()
            .map(|s| {
                let r = s.send_frame(frame_type, payload.clone());
                (s, r)
            })
            .collect()
    }

    /// Sends `data` to each target session on a new stream of `mode` (one stream per session,
    /// all at once), with the result for each: `Ok` once that peer acknowledged every byte and
    /// the end of the stream (for a live stream: the end; lost bytes may have been skipped), or
    /// why not. A slow or vanished peer does not hold up the others.
    pub async fn broadcast_stream(
        &self,
        data: Bytes,
        mode: StreamMode,
        targets: Targets<'_>,
    ) -> Vec<(Session, Result<(), Error>)> {
        let sessions = self.resolve_targets(targets);
        let sends: Vec<_> = sessions
            .iter()
            .map(|s| {
                let (s, data) = (s.clone(), data.clone());
                tokio::spawn(async move {
                    let mut stream = s.open_stream(mode)?;
                    let tx = stream.send_half();
                    tx.write_all_bytes(data).await?;
                    tx.finish()?;
                    tx.flushed().await
                })
            })
            .collect();
        let mut results = Vec::with_capacity(sessions.len());
        for (s, send) in sessions.into_iter().zip(sends) {
            let r = send.await.unwrap_or_else(|e| Err(Error::Io(std::io::Error::other(e))));
            results.push((s, r));
        }
        results
    }

    /// Moves the node to a new UDP socket bound to `addr` (for example a new port). Sessions
    /// continue: every session sends a KEEPALIVE from the new address at once, and peers follow
    /// the first authenticated datagram from it.
    pub fn rebind(&self, addr: SocketAddr) -> Result<SocketAddr, Error> {
        if self.inner.shard.get().is_some() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "a shard of a sharded node cannot move to another socket: its port is the group's",
            )));
        }
        let batching = self.inner.udp.lock().unwrap_or_else(|p| p.into_inner()).batching();
        let udp = UdpIo::bind(addr, batching).map_err(|source| Error::Bind { addr, source })?;
        let local = udp.local_addr();
        *self.inner.udp.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(udp);
        // Announce the new address on every session now: a sender that is blocked (flow control,
        // or nothing to say) would otherwise stay silent, and its peer would keep sending to the
        // old port until the next keepalive.
        let mut st = self.inner.lock();
        let handles: Vec<_> = st.sessions.keys().copied().collect();
        for h in handles {
            if let Some(mut s) = st.ep.session_mut(h) {
                let _ = s.ping();
            }
        }
        drop(st);
        self.inner.wake.notify_one();
        Ok(local)
    }

    /// Totals: sessions open now, the core's counters (datagrams, bytes, handshakes, drops by
    /// reason), the driver's socket errors and WebSocket counters, and the custom frames dropped
    /// for a full queue.
    pub fn stats(&self) -> NodeStats {
        let st = self.inner.lock();
        let mut driver = st.driver_stats;
        driver.websocket.connections = st.ws.len();
        NodeStats {
            sessions: st.sessions.values().filter(|s| s.shared.is_some()).count(),
            started: self.inner.std_instant(stt_proto::Instant::ZERO),
            endpoint: st.ep.stats(),
            driver,
            frames_dropped: st.frames_dropped,
        }
    }

    /// The `std` instant of a time the core reports (for example `SessionStats::created`): the
    /// core counts time from when the node was bound.
    pub fn to_std_instant(&self, t: stt_proto::Instant) -> std::time::Instant {
        self.inner.std_instant(t)
    }

    /// Shuts the node down gracefully: stops accepting, waits (up to `grace`) until every
    /// stream's written data is acknowledged, closes every session with DISCONNECT, stops the
    /// driver, and waits until WebSocket connections have sent what they queued. Sessions and
    /// streams fail with [`Error::NodeClosed`] afterwards. Acknowledged means received by the
    /// peer's node, not read by its application: see [`Session::close`].
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        {
            let mut st = self.inner.lock();
            st.stopping = true;
            st.ep.set_server_mode(false);
        }
        let sessions = self.sessions();
        for s in &sessions {
            let _ = tokio::time::timeout_at(deadline, s.flush()).await;
        }
        for s in &sessions {
            s.close_nowait(0, "node shutting down");
        }
        for s in &sessions {
            let _ = tokio::time::timeout_at(
                deadline.max(tokio::time::Instant::now() + Duration::from_millis(200)),
                s.closed(),
            )
            .await;
        }
        self.inner.stop();
        self.inner.drain_writers(deadline.max(tokio::time::Instant::now() + Duration::from_millis(200))).await;
    }
}
