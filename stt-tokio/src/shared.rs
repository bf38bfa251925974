//! What the node's handles share with the driver task: the core endpoint and the driver-side
//! record of every session behind one mutex ([`State`], [`SessionSlot`]), the wakers and
//! notifications, the shutdown token ([`Owner`]), each session's shared part
//! ([`SessionShared`]), the dispatch of the core's events to whatever waits on them, and the
//! [`Notice`]s of arrivals in order that the `Inbox` reads (kept in `stt_common::ArrivalNotes`).
//!
//! Every handle locks the mutex for a short, non-blocking step (a core call plus waker
//! bookkeeping) and then nudges the driver task, which does all socket I/O and timers. This
//! module imports none of the public handle types: what it hands up is an `Arc<SessionShared>`
//! that `Node`, `Session` and the streams wrap.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use stt_proto::{
    CloseReason, Endpoint, Event, Instant, NameAddress, NameReply, NodeId, Remote, RequestId, Role, SessionHandle,
    SessionMut, StreamId,
};
use tokio::sync::{broadcast, mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use crate::shards::{ShardInbox, ShardRouter};
use crate::udp::UdpIo;
use crate::Error;

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

/// A frame handler as the driver calls it: `Node::on_frame` wraps the user's handler, which
/// takes a `Session`, around the session's shared part.
pub(crate) type SharedHandler = Arc<dyn Fn(Arc<SessionShared>, Bytes) + Send + Sync + 'static>;

/// Events a subscriber can lag behind before it misses some.
const EVENT_CAPACITY: usize = 1024;

/// The driver-side record of one session.
pub(crate) struct SessionSlot {
    /// Set once the handshake completes.
    pub shared: Option<Arc<SessionShared>>,
    /// The initiator's `connect` call, waiting for the handshake.
    pub connect: Option<oneshot::Sender<Result<Arc<SessionShared>, Error>>>,
    /// Custom frames without a handler, for `recv_frame`.
    pub frames: stt_common::FrameQueue,
    pub read_wakers: HashMap<u32, Waker>,
    pub write_wakers: HashMap<u32, Waker>,
    /// `Session::route` / `resolve` calls waiting for the peer's answer.
    pub name_waiters: HashMap<RequestId, oneshot::Sender<NameReply>>,
    /// `Session::ping` calls waiting for the peer's acknowledgement.
    pub ping_waiters: Vec<oneshot::Sender<Duration>>,
}

impl SessionSlot {
    pub(crate) fn new(connect: Option<oneshot::Sender<Result<Arc<SessionShared>, Error>>>) -> Self {
        SessionSlot {
            shared: None,
            connect,
            frames: stt_common::FrameQueue::default(),
            read_wakers: HashMap::new(),
            write_wakers: HashMap::new(),
            name_waiters: HashMap::new(),
            ping_waiters: Vec::new(),
        }
    }
}

/// Everything behind the node's mutex.
pub(crate) struct State {
    pub ep: Endpoint,
    /// Boxed, so that the map's buckets are 16 bytes, not a whole slot's hundreds: at a million
    /// sessions, growing the map then moves megabytes, not a quarter of a gigabyte (a stall of
    /// seconds, in which the socket overflows), and its empty buckets cost little.
    pub sessions: HashMap<SessionHandle, Box<SessionSlot>>,
    pub incoming: VecDeque<Arc<SessionShared>>,
    pub handlers: HashMap<u8, SharedHandler>,
    /// Open WebSocket connections by the peer's TCP address; each takes whole datagrams.
    pub ws: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    /// Woken at the end of every driver turn (acknowledgements, timers, closes) and on stop, to
    /// re-check stream flushes.
    pub flush_wakers: Vec<Waker>,
    /// Each served name: its string and what wakes its `NamedEndpoint`.
    pub name_notify: HashMap<NameAddress, ServedName>,
    /// Arrivals in order, for the `Inbox`.
    pub notices: stt_common::ArrivalNotes<Notice>,
    /// What the driver dropped: socket errors, unroutable datagrams, the WebSocket counters
    /// (`websocket.connections` is filled in when they are read).
    pub driver_stats: crate::DriverStats,
    /// Custom frames pushed out of a full queue (`stt_common::FrameQueue`).
    pub frames_dropped: u64,
    pub stopped: bool,
    /// `Node::shutdown` has begun.
    pub stopping: bool,
    /// Shared parts of ended sessions, dropped by the driver after it unlocks.
    pub released: Vec<Arc<SessionShared>>,
}

/// What the node's handles and the driver task share.
pub(crate) struct Inner {
    pub state: Mutex<State>,
    /// Wakes the driver task: something to send, or a command.
    pub wake: Notify,
    /// Wakes `accept` callers.
    pub accepted: Notify,
    /// Wakes `Inbox::next` callers.
    pub inbox_notify: Notify,
    pub udp: Mutex<Arc<UdpIo>>,
    pub events: broadcast::Sender<Event>,
    clock: stt_common::Clock,
    pub node_id: NodeId,
    pub ws_local: Option<SocketAddr>,
    /// The authorities trusted for `wss://` URLs; `None`: the system's, loaded when dialling.
    pub tls_roots: Option<crate::tls::TlsRoots>,
    /// Where each session's secrets go (`NodeConfig::key_log`); `None`: nowhere.
    pub key_log: Option<stt_common::KeyLog>,
    /// Largest datagram on UDP and on WebSocket paths (the core's configuration).
    pub max_udp_datagram: usize,
    pub max_ws_datagram: usize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// WebSocket writer tasks: not aborted on stop, they send what is queued and close.
    writers: Mutex<Vec<JoinHandle<()>>>,
    /// The token every `Node` clone and every user-held `Session` or stream holds; the node
    /// stops when the last holder is gone. The state itself never holds one.
    owner: OnceLock<Weak<Owner>>,
    /// Set when the last owner is gone; the driver stops at its next turn.
    pub stop_requested: AtomicBool,
    /// For a shard of a sharded node (`Node::bind_shards`): the router the shards share, and
    /// this shard's inbox of datagrams the others received for it.
    pub shard: OnceLock<(Arc<ShardRouter>, Arc<ShardInbox>)>,
}

impl Inner {
    /// The shared state of a new node around its endpoint and UDP socket, and the first token
    /// that keeps it running.
    pub(crate) fn new(
        ep: Endpoint,
        udp: UdpIo,
        ws_local: Option<SocketAddr>,
        tls_roots: Option<crate::tls::TlsRoots>,
        key_log: Option<stt_common::KeyLog>,
    ) -> (Arc<Inner>, Arc<Owner>) {
        let cfg = ep.config();
        let (max_udp_datagram, max_ws_datagram) = (cfg.max_udp_datagram, cfg.max_websocket_datagram);
        let node_id = ep.node_id();
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                ep,
                sessions: HashMap::new(),
                incoming: VecDeque::new(),
                handlers: HashMap::new(),
                ws: HashMap::new(),
                flush_wakers: Vec::new(),
                name_notify: HashMap::new(),
                notices: stt_common::ArrivalNotes::default(),
                driver_stats: Default::default(),
                frames_dropped: 0,
                stopping: false,
                released: Vec::new(),
                stopped: false,
            }),
            wake: Notify::new(),
            accepted: Notify::new(),
            inbox_notify: Notify::new(),
            udp: Mutex::new(Arc::new(udp)),
            events: broadcast::channel(EVENT_CAPACITY).0,
            clock: stt_common::Clock::start(),
            node_id,
            ws_local,
            tls_roots,
            key_log,
            max_udp_datagram,
            max_ws_datagram,
            tasks: Mutex::new(Vec::new()),
            writers: Mutex::new(Vec::new()),
            owner: OnceLock::new(),
            stop_requested: AtomicBool::new(false),
            shard: OnceLock::new(),
        });
        let owner = Arc::new(Owner(inner.clone()));
        let _ = inner.owner.set(Arc::downgrade(&owner));
        (inner, owner)
    }

    /// The core's clock: nanoseconds since the node started.
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The tokio instant of a core instant.
    pub(crate) fn deadline(&self, t: Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.std_instant(t))
    }

    /// The `std` instant of a core instant.
    pub(crate) fn std_instant(&self, t: Instant) -> std::time::Instant {
        self.clock.to_std(t)
    }

    /// True if some session (handshaking or established) uses `remote`. Walks the sessions:
    /// called once per WebSocket connection per `session_timeout`.
    pub(crate) fn has_session_on(&self, remote: Remote) -> bool {
        self.lock().ep.has_session_on(remote)
    }

    /// Locks the state; a poisoned lock (a panic in a handler) is taken over, not propagated.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Feeds received datagrams to the core (one lock for the batch) and wakes the driver.
    pub(crate) fn handle_datagrams(&self, items: impl IntoIterator<Item = (Remote, BytesMut)>) {
        let mut st = self.lock();
        let now = self.now();
        for (remote, d) in items {
            st.ep.handle_datagram(now, remote, d);
        }
        drop(st);
        self.wake.notify_one();
    }

    /// Spawns a task that `stop` aborts.
    pub(crate) fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        track(&self.tasks, tokio::spawn(fut));
    }

    /// Spawns a WebSocket writer: `stop` lets it send what is queued and close the connection.
    pub(crate) fn spawn_writer(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        track(&self.writers, tokio::spawn(fut));
    }

    /// Waits until every WebSocket writer has sent its queue and closed, or `deadline`.
    pub(crate) async fn drain_writers(&self, deadline: tokio::time::Instant) {
        let writers: Vec<_> = self.writers.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        for w in writers {
            let _ = tokio::time::timeout_at(deadline, w).await;
        }
    }

    /// A token that keeps the node running, for a new session handle.
    pub(crate) fn keep_alive(&self) -> Option<Arc<Owner>> {
        self.owner.get().and_then(Weak::upgrade)
    }

    /// Stops the driver, the listener and the connection readers; WebSocket writers finish
    /// sending what is queued (their queues are closed here) and then close.
    pub(crate) fn stop(&self) {
        let mut st = self.lock();
        st.stopped = true;
        st.ws.clear();
        for w in st.flush_wakers.drain(..) {
            w.wake();
        }
        for n in st.name_notify.values() {
            n.notify.notify_waiters();
        }
        let mut released = std::mem::take(&mut st.released);
        for (_, slot) in st.sessions.drain() {
            wake_all(&slot);
            if let Some(tx) = slot.connect {
                let _ = tx.send(Err(Error::NodeClosed));
            }
            if let Some(shared) = slot.shared {
                shared.notify.notify_waiters();
                released.push(shared);
            }
        }
        drop(st);
        // Unlocked: the application's metadata may call into the node when dropped.
        drop(released);
        self.wake.notify_one();
        self.accepted.notify_waiters();
        self.inbox_notify.notify_waiters();
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
    handler: SharedHandler,
    session: Arc<SessionShared>,
    payload: Bytes,
}

impl HandlerCall {
    pub(crate) fn run(self) {
        (self.handler)(self.session, self.payload);
    }
}

impl State {
    /// Dispatches core events the driver took at the end of its last turn (`earlier`, drained):
    /// wakes what waits on them, queues new sessions and frames, and publishes session-level
    /// events. Frame handlers are returned, to be called unlocked.
    pub(crate) fn dispatch_events(
        &mut self,
        inner: &Arc<Inner>,
        earlier: &mut Vec<Event>,
        calls: &mut Vec<HandlerCall>,
    ) {
        for ev in earlier.drain(..) {
            if !matches!(ev, Event::SessionEstablished { .. }) {
                let known = ev_session(&ev).and_then(|h| self.sessions.get(&h)).and_then(|s| s.shared.as_ref());
                crate::log::event(&ev, known.map(|s| &s.span));
            }
            match &ev {
                Event::KeyLog { secrets, .. } => {
                    // Never published: the secrets go to the file the user named, and nowhere else.
                    if let Some(log) = &inner.key_log {
                        log.write(secrets);
                    }
                    continue;
                }
                Event::SessionEstablished { session, peer, session_id, role, remote } => {
                    let created = self.ep.session(*session).map_or_else(|| inner.now(), |s| s.stats().created);
                    let created = inner.std_instant(created);
                    let span = crate::log::session_span(*session_id, peer, remote, *role);
                    crate::log::event(&ev, Some(&span));
                    let shared =
                        Arc::new(SessionShared::new(inner.clone(), *session, *peer, *session_id, created, span));
                    let slot = self.sessions.entry(*session).or_insert_with(|| Box::new(SessionSlot::new(None)));
                    slot.shared = Some(shared.clone());
                    match slot.connect.take() {
                        Some(tx) if *role == Role::Initiator => {
                            let _ = tx.send(Ok(shared));
                        }
                        _ => {
                            self.incoming.push_back(shared);
                            inner.accepted.notify_waiters();
                            self.notify_inbox(inner, Notice::Session(*session));
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
                            // Possibly the last reference: the application's metadata in it is
                            // dropped by the driver once unlocked, where a value's `Drop` may
                            // call into the node.
                            self.released.push(shared);
                        }
                    }
                }
                Event::Frame { session, frame_type, payload } => {
                    let Some(slot) = self.sessions.get_mut(session) else { continue };
                    let Some(shared) = &slot.shared else { continue };
                    if let Some(handler) = self.handlers.get(frame_type) {
                        calls.push(HandlerCall {
                            handler: handler.clone(),
                            session: shared.clone(),
                            payload: payload.clone(),
                        });
                    } else {
                        if slot.frames.push(*frame_type, payload.clone()) {
                            self.frames_dropped += 1;
                        }
                        shared.notify.notify_waiters();
                        self.notify_inbox(inner, Notice::Frame(*session));
                    }
                    continue;
                }
                Event::StreamOpened { session, .. } => {
                    if let Some(shared) = self.sessions.get(session).and_then(|s| s.shared.as_ref()) {
                        shared.notify.notify_waiters();
                        self.notify_inbox(inner, Notice::Stream(*session));
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
                Event::PingAnswered { session, rtt } => {
                    if let Some(slot) = self.sessions.get_mut(session) {
                        for tx in slot.ping_waiters.drain(..) {
                            let _ = tx.send(*rtt);
                        }
                    }
                    continue;
                }
                Event::NameReadable { name } => {
                    if let Some(n) = self.name_notify.get(name) {
                        n.notify.notify_waiters();
                    }
                    self.notify_inbox(inner, Notice::Routed(*name));
                    continue;
                }
                Event::MessageReadable { session } => {
                    if let Some(shared) = self.sessions.get(session).and_then(|s| s.shared.as_ref()) {
                        shared.notify.notify_waiters();
                        self.notify_inbox(inner, Notice::Message(*session));
                    }
                    continue;
                }
                Event::MessageWritable { session } => {
                    if let Some(shared) = self.sessions.get(session).and_then(|s| s.shared.as_ref()) {
                        shared.notify.notify_waiters();
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

impl State {
    /// Notes an arrival for the inbox, if one exists, and wakes it.
    fn notify_inbox(&mut self, inner: &Inner, notice: Notice) {
        if self.notices.note(notice) {
            inner.inbox_notify.notify_waiters();
        }
    }
}

/// What arrived, without the item: the inbox takes the item from its queue when asked.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Notice {
    Session(SessionHandle),
    Stream(SessionHandle),
    Frame(SessionHandle),
    Message(SessionHandle),
    Routed(NameAddress),
}

/// A name this node serves: its string (for the inbox) and what wakes its `NamedEndpoint`.
pub(crate) struct ServedName {
    pub name: String,
    pub notify: Arc<Notify>,
}

/// The session a session-level event concerns, if any.
fn ev_session(ev: &Event) -> Option<SessionHandle> {
    match ev {
        Event::SessionClosed { session, .. }
        | Event::SessionMigrated { session, .. }
        | Event::KeyRotated { session, .. }
        | Event::MessagesRefused { session, .. }
        | Event::HandshakeFailed { session: Some(session), .. } => Some(*session),
        _ => None,
    }
}

/// What every clone of a `Session` (and its streams) shares.
pub(crate) struct SessionShared {
    pub node: Arc<Inner>,
    pub handle: SessionHandle,
    pub peer: NodeId,
    pub session_id: u64,
    /// When the session was created (the initiator's connect, the responder's RESPONSE).
    pub created: std::time::Instant,
    /// The `tracing` span its events are recorded in.
    pub span: tracing::Span,
    /// Set when the session ends.
    pub closed: OnceLock<CloseReason>,
    /// Wakes `accept_stream`, `recv_frame` and `closed` callers.
    pub notify: Notify,
    /// The application's own values on the session (`Session::set_metadata`).
    pub metadata: Mutex<stt_common::Metadata>,
}

impl SessionShared {
    pub(crate) fn new(
        node: Arc<Inner>,
        handle: SessionHandle,
        peer: NodeId,
        session_id: u64,
        created: std::time::Instant,
        span: tracing::Span,
    ) -> Self {
        SessionShared {
            node,
            handle,
            peer,
            session_id,
            created,
            span,
            closed: OnceLock::new(),
            notify: Notify::new(),
            metadata: Mutex::new(stt_common::Metadata::default()),
        }
    }

    /// Why operations on this session fail now.
    pub(crate) fn gone(&self) -> Error {
        match self.closed.get() {
            Some(reason) => Error::SessionClosed(reason.clone()),
            None => Error::NodeClosed,
        }
    }

    /// Waits until `stream`'s sending side (or, with `None`, every stream's) has everything
    /// acknowledged, or the session ends. Rechecked at the start of every driver turn.
    pub(crate) async fn wait_flushed(&self, stream: Option<StreamId>) -> Result<(), Error> {
        poll_fn(|cx| {
            let mut st = self.node.lock();
            let Some(s) = st.ep.session(self.handle) else {
                if self.closed.get().is_none() && !st.stopped {
                    // The core has ended the session and the driver reports why at its next
                    // turn (once the DISCONNECT has left): wait for that reason.
                    st.flush_wakers.push(cx.waker().clone());
                    return Poll::Pending;
                }
                return Poll::Ready(Err(self.gone()));
            };
            let flushed = match stream {
                Some(id) => s.stream_flushed(id),
                None => s.streams_flushed(),
            };
            if flushed {
                return Poll::Ready(Ok(()));
            }
            st.flush_wakers.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Runs `f` on the core's view of the session under the node lock, then wakes the driver.
    ///
    /// The closure gets the core's command view of the session and the driver's record of it
    /// (wakers, waiters, frames without a handler).
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(SessionMut<'_>, &mut SessionSlot) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut st = self.node.lock();
        let State { ep, sessions, .. } = &mut *st;
        let (Some(slot), Some(session)) = (sessions.get_mut(&self.handle), ep.session_mut(self.handle)) else {
            return Err(self.gone());
        };
        let r = f(session, slot);
        drop(st);
        self.node.wake.notify_one();
        r
    }
}
