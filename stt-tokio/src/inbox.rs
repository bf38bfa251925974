//! [`Inbox`]: one place that yields what arrives at a node (sessions peers open, streams they
//! open, custom frames without a handler, reliable messages, bytes routed to served names) in
//! arrival order, for
//! programs written as one receive loop.
//!
//! The inbox owns no items. While an inbox exists, the driver notes each arrival in order (a
//! *notice*: which kind, which session or name); [`Inbox::next`] turns the oldest notice into the
//! item by taking it from the same queue the per-session APIs read ([`crate::Node::accept`],
//! [`crate::Session::accept_stream`], [`crate::Session::recv_frame`], [`crate::Session::recv_message`],
//! [`crate::NamedEndpoint::recv`]). So the two styles mix: whoever asks first gets an item, nothing
//! is delivered twice, and backpressure stays where it was (a name's queue, a session's credit).
//! Notices are bounded; if some were dropped, or items were queued before the inbox existed, the
//! inbox sweeps every queue before it sleeps, so nothing queued is left behind.

use std::sync::Arc;

use bytes::Bytes;
use stt_proto::{NameAddress, SessionHandle};

use crate::names::Routed;
use crate::session::Session;
use crate::shared::{Inner, Notice, Owner, State};
use crate::stream::Stream;

/// One arrival, from [`Inbox::next`].
#[derive(Debug)]
pub enum Incoming {
    /// A peer opened a session to this node (what [`crate::Node::accept`] returns).
    Session(Session),
    /// A peer opened a stream.
    Stream {
        /// The session it belongs to.
        session: Session,
        /// The stream.
        stream: Stream,
    },
    /// A custom frame of a type without a handler ([`crate::Node::on_frame`]).
    Frame {
        /// The session it came on.
        session: Session,
        /// Its type, 0x80–0xFF.
        frame_type: u8,
        /// Its payload.
        payload: Bytes,
    },
    /// A whole reliable message (what [`crate::Session::recv_message`] returns).
    Message {
        /// The session it came on.
        session: Session,
        /// The message and its channel.
        message: stt_proto::Message,
    },
    /// Bytes a peer routed to a name this node serves (the [`crate::NamedEndpoint`] must be
    /// held: dropping it stops serving the name).
    Routed {
        /// The name.
        name: String,
        /// The bytes and the session they came on.
        message: Routed,
    },
}

/// The node's arrivals in order, from [`crate::Node::incoming`]. The order is exact while the inbox
/// is the only reader; when a per-session call takes an item first, the inbox hands out that
/// session's next item of the same kind in its place. Clones share one sequence: each
/// item goes to one of them. Holding an inbox keeps the node running, like a `Session` handle.
///
/// ```no_run
/// # async fn demo(node: stt_tokio::Node) {
/// use stt_tokio::Incoming;
/// let inbox = node.incoming();
/// while let Some(item) = inbox.next().await {
///     match item {
///         Incoming::Session(s) => println!("session from {:?}", s.peer()),
///         Incoming::Stream { stream, .. } => drop(stream),
///         Incoming::Frame { frame_type, payload, .. } => println!("{frame_type:#x}: {payload:?}"),
///         Incoming::Message { message, .. } => println!("{:?}: {} bytes", message.channel, message.payload.len()),
///         Incoming::Routed { name, message } => println!("{name}: {} bytes", message.data.len()),
///     }
/// }
/// # }
/// ```
pub struct Inbox {
    inner: Arc<Inner>,
    _owner: Option<Arc<Owner>>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").field("node_id", &self.inner.node_id).finish()
    }
}

impl Inbox {
    pub(crate) fn new(inner: Arc<Inner>) -> Inbox {
        {
            let mut st = inner.lock();
            // Whatever is queued already has no notice: the first read sweeps.
            st.notices.listen();
        }
        let owner = inner.keep_alive();
        Inbox { inner, _owner: owner }
    }

    /// The next arrival, oldest first; `None` once the node is shut down.
    pub async fn next(&self) -> Option<Incoming> {
        loop {
            // Created before the check, so an arrival (or a stop) meanwhile wakes it.
            let notified = self.inner.inbox_notify.notified();
            if let Some(item) = self.try_next() {
                return Some(item);
            }
            if self.inner.lock().stopped {
                return None;
            }
            notified.await;
        }
    }

    /// The next arrival if there is one now.
    pub fn try_next(&self) -> Option<Incoming> {
        let item = self.take_next();
        if matches!(item, Some(Incoming::Message { .. })) {
            // Taking a message freed credit on the peer's lane: the driver sends it.
            self.inner.wake.notify_one();
        }
        item
    }

    fn take_next(&self) -> Option<Incoming> {
        let mut st = self.inner.lock();
        while let Some(notice) = st.notices.pop() {
            if let Some(item) = take(&mut st, notice) {
                return Some(item);
            }
        }
        if !st.notices.must_sweep() {
            return None;
        }
        let item = sweep(&mut st);
        st.notices.swept(item)
    }
}

impl Clone for Inbox {
    fn clone(&self) -> Self {
        self.inner.lock().notices.listen();
        Inbox { inner: self.inner.clone(), _owner: self.inner.keep_alive() }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        st.notices.unlisten();
    }
}

/// The item a notice stands for, taken from its queue, or `None` if someone took it already (or
/// its session ended).
fn take(st: &mut State, notice: Notice) -> Option<Incoming> {
    match notice {
        Notice::Session(h) => {
            let at = st.incoming.iter().position(|s| s.handle == h)?;
            st.incoming.remove(at).map(|s| Incoming::Session(Session::from_shared(s)))
        }
        Notice::Stream(h) => {
            let shared = st.sessions.get(&h)?.shared.clone()?;
            let mut s = st.ep.session_mut(h)?;
            let id = s.accept_stream()?;
            let label = s.as_ref().stream_label(id).map(Bytes::copy_from_slice);
            let owner = shared.node.keep_alive();
            let stream = Stream::new(shared.clone(), owner, id, label);
            Some(Incoming::Stream { session: Session::from_shared(shared), stream })
        }
        Notice::Frame(h) => {
            let slot = st.sessions.get_mut(&h)?;
            let shared = slot.shared.clone()?;
            let (frame_type, payload) = slot.frames.pop()?;
            Some(Incoming::Frame { session: Session::from_shared(shared), frame_type, payload })
        }
        Notice::Message(h) => {
            let shared = st.sessions.get(&h)?.shared.clone()?;
            let message = st.ep.session_mut(h)?.recv_message()?;
            Some(Incoming::Message { session: Session::from_shared(shared), message })
        }
        Notice::Routed(address) => {
            let name = st.name_notify.get(&address)?.name.clone();
            let m = st.ep.recv_named(&address)?;
            let session = st.sessions.get(&m.session).and_then(|s| s.shared.clone()).map(Session::from_shared);
            Some(Incoming::Routed { name, message: Routed { session, data: m.data } })
        }
    }
}

/// Any queued item, looked for in every queue: sessions, then per session its streams, frames
/// and messages, then served names.
fn sweep(st: &mut State) -> Option<Incoming> {
    if let Some(s) = st.incoming.front() {
        let h = s.handle;
        return take(st, Notice::Session(h));
    }
    let handles: Vec<SessionHandle> = st.sessions.keys().copied().collect();
    for h in handles {
        let item =
            take(st, Notice::Stream(h)).or_else(|| take(st, Notice::Frame(h))).or_else(|| take(st, Notice::Message(h)));
        if let Some(item) = item {
            return Some(item);
        }
    }
    let names: Vec<NameAddress> = st.name_notify.keys().copied().collect();
    names.into_iter().find_map(|a| take(st, Notice::Routed(a)))
}
