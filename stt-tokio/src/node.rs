//! [`Node`]: the public handle to one STT node, and the state its handles share with the driver
//! task (the core endpoint, live sessions, wakers, WebSocket connections, frame handlers).
//!
//! Every handle locks one mutex around the core for a short, non-blocking step (a core call plus
//! waker bookkeeping) and then nudges the driver task, which does all socket I/O and timers.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::Waker;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use stt_proto::{
    Endpoint, EndpointStats, Event, Identity, Instant, NameAddress, NameQueueLimits, NameReply, NodeId, Remote,
    RequestId, Role, Seed, SessionHandle, StreamMode,
};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use crate::config::NodeConfig;
use crate::error::Error;
use crate::session::{Session, SessionShared};
use crate::udp::UdpIo;

/// Stops the node when the last `Node` clone and the last `Session` handle are gone.
pub(crate) struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        // A handle may be dropped while the state is locked (inside event dispatch): only ask
        // the driver to stop, never lock here.
        self.0.stop_requested.store(true, Ordering::Release);
        self.0.wake.notify_one();
    }
}

/// A handler for one custom frame type, registered with [`Node::on_frame`].
pub type FrameHandler = Arc<dyn Fn(&Session, Bytes) + Send + Sync + 'static>;

/// Custom frames kept per session for [`Session::recv_frame`] when no handler is registered;
/// beyond this, new frames are dropped (custom frames are best-effort).
const FRAME_QUEUE: usize = 1024;

/// Events a subscriber can lag behind before it misses some.
const EVENT_CAPACITY: usize = 1024;

/// The driver-side record of one session.
pub(crate) struct SessionSlot {
    /// Set once the handshake completes.
    pub shared: Option<Arc<SessionShared>>,
    /// The initiator's `connect` call, waiting for the handshake.
    pub connect: Option<oneshot::Sender<Result<Arc<SessionShared>, Error>>>,
    /// Custom frames without a handler, for `recv_frame`.
    pub frames: VecDeque<(u8, Bytes)>,
    pub read_wakers: HashMap<u32, Waker>,
    pub write_wakers: HashMap<u32, Waker>,
    /// `Session::route` / `resolve` calls waiting for the peer's answer.
    pub name_waiters: HashMap<RequestId, oneshot::Sender<NameReply>>,
}

impl SessionSlot {
    fn new(connect: Option<oneshot::Sender<Result<Arc<SessionShared>, Error>>>) -> Self {
        SessionSlot {
            shared: None,
            connect,
            frames: VecDeque::new(),
            read_wakers: HashMap::new(),
            write_wakers: HashMap::new(),
            name_waiters: HashMap::new(),
        }
    }
}

/// Everything behind the node's mutex.
pub(crate) struct State {
    pub ep: Endpoint,
    pub sessions: HashMap<SessionHandle, SessionSlot>,
    pub incoming: VecDeque<Arc<SessionShared>>,
    pub handlers: HashMap<u8, FrameHandler>,
    /// Open WebSocket connections by the peer's TCP address; each takes whole datagrams.
    pub ws: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    /// Woken at the end of every driver turn (acknowledgements, timers, closes) and on stop, to
    /// re-check stream flushes.
    pub flush_wakers: Vec<Waker>,
    /// Wakes the `NamedEndpoint` of each served name.
    pub name_notify: HashMap<NameAddress, Arc<Notify>>,
    /// Datagrams for a WebSocket remote that had no connection or a full queue.
    pub ws_dropped: u64,
    pub stopped: bool,
}

/// What the node's handles and the driver task share.
pub(crate) struct Inner {
    pub state: Mutex<State>,
    /// Wakes the driver task: something to send, or a command.
    pub wake: Notify,
    /// Wakes `accept` callers.
    pub accepted: Notify,
    pub udp: Mutex<Arc<UdpIo>>,
    pub events: broadcast::Sender<Event>,
    origin: std::time::Instant,
    pub node_id: NodeId,
    pub ws_local: Option<SocketAddr>,
    pub max_datagram: usize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// WebSocket writer tasks: not aborted on stop, they send what is queued and close.
    writers: Mutex<Vec<JoinHandle<()>>>,
    /// The token every `Node` clone and every user-held `Session` or stream holds; the node
    /// stops when the last holder is gone. The state itself never holds one.
    owner: OnceLock<Weak<Owner>>,
    /// Set when the last owner is gone; the driver stops at its next turn.
    pub stop_requested: AtomicBool,
}

impl Inner {
    /// The core's clock: nanoseconds since the node started.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.origin.elapsed().as_nanos() as u64)
    }

    /// The tokio instant of a core instant.
    pub fn deadline(&self, t: Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.origin + Duration::from_nanos(t.as_nanos()))
    }

    /// Locks the state; a poisoned lock (a panic in a handler) is taken over, not propagated.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Feeds received datagrams to the core (one lock for the batch) and wakes the driver.
    pub fn handle_datagrams(&self, items: impl IntoIterator<Item = (Remote, BytesMut)>) {
        let mut st = self.lock();
        let now = self.now();
        for (remote, d) in items {
            st.ep.handle_datagram(now, remote, d);
        }
        drop(st);
        self.wake.notify_one();
    }

    /// Spawns a task that `stop` aborts.
    pub fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        track(&self.tasks, tokio::spawn(fut));
    }

    /// Spawns a WebSocket writer: `stop` lets it send what is queued and close the connection.
    pub fn spawn_writer(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        track(&self.writers, tokio::spawn(fut));
    }

    /// Waits until every WebSocket writer has sent its queue and closed, or `deadline`.
    pub async fn drain_writers(&self, deadline: tokio::time::Instant) {
        let writers: Vec<_> = self.writers.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        for w in writers {
            let _ = tokio::time::timeout_at(deadline, w).await;
        }
    }

    /// A token that keeps the node running, for a new session handle.
    pub fn keep_alive(&self) -> Option<Arc<Owner>> {
        self.owner.get().and_then(Weak::upgrade)
    }

    /// Stops the driver, the listener and the connection readers; WebSocket writers finish
    /// sending what is queued (their queues are closed here) and then close.
    pub fn stop(&self) {
        let mut st = self.lock();
        st.stopped = true;
        st.ws.clear();
        for w in st.flush_wakers.drain(..) {
            w.wake();
        }
        for n in st.name_notify.values() {
            n.notify_waiters();
        }
        for (_, slot) in st.sessions.drain() {
            wake_all(&slot);
            if let Some(tx) = slot.connect {
                let _ = tx.send(Err(Error::NodeClosed));
            }
            if let Some(shared) = slot.shared {
                shared.notify.notify_waiters();
            }
        }
        drop(st);
        self.wake.notify_one();
        self.accepted.notify_waiters();
        for t in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            t.abort();
        }
    }
}

fn track(list: &Mutex<Vec<JoinHandle<()>>>, handle: JoinHandle<()>) {
    let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
    list.retain(|t| !t.is_finished());
    list.push(handle);
}

fn wake_all(slot: &SessionSlot) {
    for w in slot.read_wakers.values().chain(slot.write_wakers.values()) {
        w.wake_by_ref();
    }
}

/// A deferred call of a frame handler, made after the state lock is released.
pub(crate) struct HandlerCall {
    handler: FrameHandler,
    session: Session,
    payload: Bytes,
}

impl HandlerCall {
    pub fn run(self) {
        (self.handler)(&self.session, self.payload);
    }
}

impl State {
    /// Drains the core's events: wakes what waits on them, queues new sessions and frames, and
    /// publishes session-level events. Frame handlers are returned, to be called unlocked.
    pub fn dispatch_events(&mut self, inner: &Arc<Inner>, calls: &mut Vec<HandlerCall>) {
        while let Some(ev) = self.ep.poll_event() {
            match &ev {
                Event::SessionEstablished { session, peer, session_id, role, .. } => {
                    let shared = Arc::new(SessionShared::new(inner.clone(), *session, *peer, *session_id));
                    let slot = self.sessions.entry(*session).or_insert_with(|| SessionSlot::new(None));
                    slot.shared = Some(shared.clone());
                    match slot.connect.take() {
                        Some(tx) if *role == Role::Initiator => {
                            let _ = tx.send(Ok(shared));
                        }
                        _ => {
                            self.incoming.push_back(shared);
                            inner.accepted.notify_waiters();
                        }
                    }
                }
                Event::HandshakeFailed { session: Some(h), reason, .. } => {
                    if let Some(tx) = self.sessions.remove(h).and_then(|s| s.connect) {
                        let _ = tx.send(Err(Error::Handshake(*reason)));
                    }
                }
                Event::SessionClosed { session, reason } => {
                    if let Some(slot) = self.sessions.remove(session) {
                        wake_all(&slot);
                        if let Some(tx) = slot.connect {
                            let _ = tx.send(Err(Error::SessionClosed(reason.clone())));
                        }
                        if let Some(shared) = slot.shared {
                            let _ = shared.closed.set(reason.clone());
                            shared.notify.notify_waiters();
                        }
                    }
                }
                Event::Frame { session, frame_type, payload } => {
                    let Some(slot) = self.sessions.get_mut(session) else { continue };
                    let Some(shared) = &slot.shared else { continue };
                    if let Some(handler) = self.handlers.get(frame_type) {
                        calls.push(HandlerCall {
                            handler: handler.clone(),
                            session: Session::from_shared(shared.clone()),
                            payload: payload.clone(),
                        });
                    } else if slot.frames.len() < FRAME_QUEUE {
                        slot.frames.push_back((*frame_type, payload.clone()));
                        shared.notify.notify_waiters();
                    }
                    continue;
                }
                Event::StreamOpened { session, .. } => {
                    if let Some(shared) = self.sessions.get(session).and_then(|s| s.shared.as_ref()) {
                        shared.notify.notify_waiters();
                    }
                    continue;
                }
                Event::StreamReadable { session, stream }
                | Event::StreamFinished { session, stream }
                | Event::StreamReset { session, stream, .. } => {
                    if let Some(w) = self.sessions.get_mut(session).and_then(|s| s.read_wakers.remove(&stream.0)) {
                        w.wake();
                    }
                    continue;
                }
                Event::NameReply { session, request, reply } => {
                    if let Some(slot) = self.sessions.get_mut(session) {
                        if let Some(tx) = slot.name_waiters.remove(request) {
                            let _ = tx.send(*reply);
                        }
                        // A request slot is free: wake callers waiting for one.
                        if let Some(shared) = &slot.shared {
                            shared.notify.notify_waiters();
                        }
                    }
                    continue;
                }
                Event::NameReadable { name } => {
                    if let Some(n) = self.name_notify.get(name) {
                        n.notify_waiters();
                    }
                    continue;
                }
                Event::StreamWritable { session, stream } => {
                    if let Some(w) = self.sessions.get_mut(session).and_then(|s| s.write_wakers.remove(&stream.0)) {
                        w.wake();
                    }
                    continue;
                }
                _ => {}
            }
            // Session-level events are published; a subscriber that lags misses the oldest.
            let _ = inner.events.send(ev);
        }
    }
}

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
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("node_id", &self.inner.node_id).field("udp", &self.local_addr()).finish()
    }
}

impl Node {
    /// Binds the node's sockets and starts its driver task.
    pub async fn bind(config: NodeConfig) -> Result<Node, Error> {
        let node_seed = match config.node_seed {
            Some(s) => s,
            None => Seed::new(&random_bytes())?,
        };
        let identity = Identity::from_seed(&node_seed);
        let node_id = identity.node_id();
        let max_datagram = config.endpoint.max_udp_datagram.max(config.endpoint.max_websocket_datagram);
        let ep = Endpoint::new(config.endpoint, identity, random_bytes())?;
        let udp = UdpIo::bind(config.bind, config.udp_batching)
            .map_err(|source| Error::Bind { addr: config.bind, source })?;
        let listener = match config.ws_bind {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?),
            None => None,
        };
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                ep,
                sessions: HashMap::new(),
                incoming: VecDeque::new(),
                handlers: HashMap::new(),
                ws: HashMap::new(),
                flush_wakers: Vec::new(),
                name_notify: HashMap::new(),
                ws_dropped: 0,
                stopped: false,
            }),
            wake: Notify::new(),
            accepted: Notify::new(),
            udp: Mutex::new(Arc::new(udp)),
            events: broadcast::channel(EVENT_CAPACITY).0,
            origin: std::time::Instant::now(),
            node_id,
            ws_local: listener.as_ref().and_then(|l| l.local_addr().ok()),
            max_datagram,
            tasks: Mutex::new(Vec::new()),
            writers: Mutex::new(Vec::new()),
            owner: OnceLock::new(),
            stop_requested: AtomicBool::new(false),
        });
        let owner = Arc::new(Owner(inner.clone()));
        let _ = inner.owner.set(Arc::downgrade(&owner));
        inner.spawn(crate::driver::run(inner.clone()));
        if let Some(listener) = listener {
            inner.spawn(crate::ws::listen(inner.clone(), listener));
        }
        Ok(Node { _owner: owner, inner })
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

    /// Opens a session to the node at `addr` over UDP. Fails with
    /// [`Error::Handshake`]`(AuthenticationFailed)` if the peer holds another shared seed, and
    /// with `Handshake(Timeout)` if it does not answer within the handshake timeout.
    pub async fn connect(&self, addr: SocketAddr) -> Result<Session, Error> {
        self.connect_remote(Remote::udp(addr)).await
    }

    /// Opens a session over WebSocket to `url` (`ws://host:port/...`; `wss` is not supported).
    pub async fn connect_ws(&self, url: &str) -> Result<Session, Error> {
        let peer = crate::ws::connect(self.inner.clone(), url).await?;
        self.connect_remote(Remote::websocket(peer)).await
    }

    async fn connect_remote(&self, remote: Remote) -> Result<Session, Error> {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.inner.lock();
            if st.stopped {
                return Err(Error::NodeClosed);
            }
            let now = self.inner.now();
            let h = st.ep.connect(now, remote)?;
            st.sessions.insert(h, SessionSlot::new(Some(tx)));
        }
        self.inner.wake.notify_one();
        let shared = rx.await.map_err(|_| Error::NodeClosed)??;
        Ok(Session::from_shared(shared))
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
        self.inner.lock().handlers.insert(frame_type, Arc::new(handler));
        Ok(())
    }

    /// Serves `name` on this node: peers can [`Session::resolve`] it and [`Session::route`] bytes
    /// to it, which queue (bounded by `limits`) until [`crate::NamedEndpoint::recv`] takes them.
    /// Every connected peer is told the node's new list of names. Serving stops when the handle
    /// is dropped.
    pub fn serve_name(&self, name: &str, limits: NameQueueLimits) -> Result<crate::NamedEndpoint, Error> {
        crate::names::serve(&self.inner, name, limits, self.inner.keep_alive())
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

    /// Endpoint statistics (datagrams, bytes, drops by reason).
    pub fn stats(&self) -> EndpointStats {
        self.inner.lock().ep.stats()
    }

    /// Datagrams for WebSocket peers dropped because the connection was gone or its queue full.
    pub fn ws_dropped(&self) -> u64 {
        self.inner.lock().ws_dropped
    }

    /// Shuts the node down gracefully: stops accepting, waits (up to `grace`) until every
    /// stream's written data is acknowledged, closes every session with DISCONNECT, stops the
    /// driver, and waits until WebSocket connections have sent what they queued. Sessions and streams fail with [`Error::NodeClosed`] afterwards.
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        self.inner.lock().ep.set_server_mode(false);
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

/// 32 bytes from the OS random source.
pub(crate) fn random_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random source is available");
    b
}
