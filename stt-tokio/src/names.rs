//! Named endpoints on tokio: [`NamedEndpoint`] serves a name and hands out what peers route to
//! it; [`Session::resolve`] and [`Session::route`] ask a peer. The queues, numbering and repeats
//! are the core's (`stt_proto::names`); this module adds waiting.

use std::sync::Arc;

use bytes::Bytes;
use stt_proto::{NameAddress, NameError, NameQueueLimits, NameReply};
use tokio::sync::{oneshot, Notify};

use crate::session::Session;
use crate::shared::{Inner, Owner, ServedName};
use crate::Error;

/// Bytes a peer routed to a served name.
#[derive(Clone, Debug)]
pub struct Routed {
    /// The session they came on, or `None` if it has ended since (the bytes are still whole).
    pub session: Option<Session>,
    /// The bytes, exactly as routed.
    pub data: Bytes,
}

/// A name this node serves, from [`crate::Node::serve_name`]. Peers that route to the name fill
/// its queue; [`NamedEndpoint::recv`] empties it. A route to a full queue is answered
/// [`Error::NameQueueFull`] on the sender's side, so a slow reader slows its senders instead of
/// growing. Dropping the handle stops serving the name.
pub struct NamedEndpoint {
    pub(crate) inner: Arc<Inner>,
    pub(crate) _owner: Option<Arc<Owner>>,
    pub(crate) name: String,
    pub(crate) address: NameAddress,
    pub(crate) notify: Arc<Notify>,
}

impl std::fmt::Debug for NamedEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedEndpoint").field("name", &self.name).field("address", &self.address).finish()
    }
}

impl NamedEndpoint {
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its address on the wire, SHA3-256 of the name.
    pub fn address(&self) -> NameAddress {
        self.address
    }

    /// The next message routed to the name. Fails only when the node is shut down.
    pub async fn recv(&self) -> Result<Routed, Error> {
        loop {
            // Created before the check, so a message (or a stop) that lands meanwhile wakes it.
            let notified = self.notify.notified();
            if let Some(m) = self.try_recv() {
                return Ok(m);
            }
            if self.inner.lock().stopped {
                return Err(Error::NodeClosed);
            }
            notified.await;
        }
    }

    /// The next message if one is queued now.
    pub fn try_recv(&self) -> Option<Routed> {
        let mut st = self.inner.lock();
        let m = st.ep.recv_named(&self.address)?;
        let shared = st.sessions.get(&m.session).and_then(|s| s.shared.clone());
        Some(Routed { session: shared.map(Session::from_shared), data: m.data })
    }
}

impl Drop for NamedEndpoint {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        st.ep.unregister_name(&self.address);
        st.name_notify.remove(&self.address);
        drop(st);
        self.inner.wake.notify_one();
    }
}

pub(crate) fn serve(
    inner: &Arc<Inner>,
    name: &str,
    limits: NameQueueLimits,
    owner: Option<Arc<Owner>>,
) -> Result<NamedEndpoint, Error> {
    let address = NameAddress::of(name);
    let notify = Arc::new(Notify::new());
    let mut st = inner.lock();
    if st.stopped {
        return Err(Error::NodeClosed);
    }
    st.ep.register_name(address, limits)?;
    st.name_notify.insert(address, ServedName { name: name.to_owned(), notify: notify.clone() });
    drop(st);
    inner.wake.notify_one();
    Ok(NamedEndpoint { inner: inner.clone(), _owner: owner, name: name.to_owned(), address, notify })
}

impl Session {
    /// Asks the peer whether it serves `name`.
    pub async fn resolve(&self, name: &str) -> Result<bool, Error> {
        match self.name_request(name, None).await? {
            NameReply::Ok => Ok(true),
            _ => Ok(false),
        }
    }

    /// Routes `data` to `name` on the peer, and returns once it is in the name's queue there.
    /// Fails with [`Error::UnknownName`] if the peer does not serve the name and with
    /// [`Error::NameQueueFull`] if its queue is full (nothing was queued: send again later).
    /// Waits while 256 requests of this session are unanswered. At most
    /// [`Session::max_route_payload`] bytes; use a stream for more.
    pub async fn route(&self, name: &str, data: impl Into<Bytes>) -> Result<(), Error> {
        match self.name_request(name, Some(data.into())).await? {
            NameReply::Ok => Ok(()),
            NameReply::UnknownName => Err(Error::UnknownName(name.to_owned())),
            NameReply::QueueFull => Err(Error::NameQueueFull(name.to_owned())),
        }
    }

    /// Largest message [`Session::route`] takes on the current path.
    pub fn max_route_payload(&self) -> Option<usize> {
        let st = self.shared.node.lock();
        st.ep.session(self.shared.handle).map(|s| s.max_route_payload())
    }

    /// The names the peer last announced it serves, by address.
    pub fn peer_names(&self) -> Vec<NameAddress> {
        let st = self.shared.node.lock();
        st.ep.session(self.shared.handle).map(|s| s.peer_names().to_vec()).unwrap_or_default()
    }

    async fn name_request(&self, name: &str, data: Option<Bytes>) -> Result<NameReply, Error> {
        let address = NameAddress::of(name);
        let rx = loop {
            // Created before the attempt, so a reply that frees a slot meanwhile is not missed.
            let notified = self.shared.notify.notified();
            let attempt = self.shared.with(|mut m, slot| {
                let id = match &data {
                    Some(d) => m.route(address, d.clone()),
                    None => m.resolve(address),
                };
                match id {
                    Ok(id) => {
                        let (tx, rx) = oneshot::channel();
                        slot.name_waiters.insert(id, tx);
                        Ok(Some(rx))
                    }
                    Err(NameError::TooManyInFlight) => Ok(None),
                    Err(e) => Err(Error::Name(e)),
                }
            })?;
            match attempt {
                Some(rx) => break rx,
                None => notified.await,
            }
        };
        rx.await.map_err(|_| self.shared.gone())
    }
}
