//! Named endpoints, node side: a node serves names, and its peers resolve them and route bytes
//! to them.
//!
//! A name is known on the wire only by its address, SHA3-256 of its UTF-8 bytes. This module owns
//! the public types and the node's registry (one bounded queue per served name, a version per
//! change). Each session's share of the exchange (announcements, numbered requests repeated until
//! answered, replies remembered per request number) is `session::names`; see `docs/PROTOCOL.md`
//! section 11.

use alloc::collections::{BTreeMap, VecDeque};
use bytes::Bytes;

use crate::crypto::sha3_256;
use crate::types::SessionHandle;
use crate::wire::names::{self as wn, STATUS_OK, STATUS_QUEUE_FULL, STATUS_UNKNOWN_NAME};

/// Requests a session may have outstanding, counted from the oldest unanswered one.
pub const REQUEST_WINDOW: u32 = 256;
/// Names one node may serve at once. They are announced in pieces of at most 40 (PROTOCOL.md
/// §11); a peer accepts a list of at most this many.
pub const MAX_NAMES: usize = 1024;
const _: () = assert!(MAX_NAMES <= wn::NAMES_PER_PIECE * wn::MAX_PIECES);
const _: () = assert!(wn::NAMES_PER_PIECE == 40, "the doc of MAX_NAMES says 40");

/// The address of a name: SHA3-256 of its UTF-8 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameAddress(pub [u8; 32]);

impl NameAddress {
    /// The address of `name`.
    pub fn of(name: &str) -> NameAddress {
        NameAddress(sha3_256(&[name.as_bytes()]))
    }
}

impl core::fmt::Display for NameAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl core::fmt::Debug for NameAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "NameAddress({self})")
    }
}

/// How much one served name may hold before routes to it are answered "queue full".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameQueueLimits {
    /// Messages waiting to be taken with `Endpoint::recv_named`.
    pub max_messages: usize,
    /// Bytes of those messages.
    pub max_bytes: usize,
}

impl Default for NameQueueLimits {
    /// 256 messages or 1 MiB, whichever is reached first.
    fn default() -> Self {
        NameQueueLimits { max_messages: 256, max_bytes: 1 << 20 }
    }
}

/// Names one resolve or route request of a session; its answer comes as `Event::NameReply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u32);

impl RequestId {
    /// The request number (per session, counting from 0).
    pub fn value(self) -> u32 {
        self.0
    }
}

/// The peer's answer to a resolve or route request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameReply {
    /// Resolve: the peer serves the name. Route: the bytes are in the name's queue.
    Ok,
    /// The peer serves no such name.
    UnknownName,
    /// Route: the name's queue is full and nothing was queued; send again later.
    QueueFull,
}

/// Bytes routed to a name this node serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutedMessage {
    /// The session they arrived on.
    pub session: SessionHandle,
    /// The bytes, exactly as routed.
    pub data: Bytes,
}

/// Why a name could not be registered, or a request not sent. Nothing changed when this is
/// returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// This node already serves the name.
    #[error("the name is already registered on this node")]
    AlreadyRegistered,
    /// This node serves the most names it can announce.
    #[error("a node serves at most {max} names; unregister one first")]
    TooManyNames {
        /// The limit.
        max: usize,
    },
    /// The data does not fit one ENDPOINT_ROUTE frame on the session's path.
    #[error("{len} bytes exceed the {max}-byte limit of one routed message on this path; use a stream")]
    TooLarge {
        /// Bytes given.
        len: usize,
        /// Largest routed message on this path.
        max: usize,
    },
    /// The oldest unanswered request is `REQUEST_WINDOW` requests behind; wait for a
    /// `NameReply` event and retry.
    #[error("too many requests unanswered: wait for a reply, then retry")]
    TooManyInFlight,
    /// The session has used every request number (2^32); open a new session.
    #[error("request numbers exhausted on this session")]
    RequestIdsExhausted,
    /// The session is not established yet, or is closing.
    #[error("the session is not established or is closing")]
    NotEstablished,
    /// This build of stt-proto has no named endpoints (feature `names`).
    #[error("named endpoints are not in this build of stt-proto (enable the `names` feature)")]
    NotBuilt,
}

/// One served name's queue.
#[cfg_attr(not(feature = "names"), allow(dead_code))]
struct NameQueue {
    limits: NameQueueLimits,
    items: VecDeque<RoutedMessage>,
    bytes: usize,
}

/// The names this node serves. Every change bumps `version`, which the announcement carries.
#[derive(Default)]
pub(crate) struct Registry {
    names: BTreeMap<[u8; 32], NameQueue>,
    pub version: u32,
}

#[cfg_attr(not(feature = "names"), allow(dead_code))]
impl Registry {
    /// Starts serving `name`.
    pub(crate) fn register(&mut self, name: NameAddress, limits: NameQueueLimits) -> Result<(), NameError> {
        if cfg!(not(feature = "names")) {
            return Err(NameError::NotBuilt);
        }
        if self.names.contains_key(&name.0) {
            return Err(NameError::AlreadyRegistered);
        }
        if self.names.len() >= MAX_NAMES {
            return Err(NameError::TooManyNames { max: MAX_NAMES });
        }
        self.names.insert(name.0, NameQueue { limits, items: VecDeque::new(), bytes: 0 });
        self.version += 1;
        Ok(())
    }

    /// Drops the name and whatever its queue held.
    pub(crate) fn unregister(&mut self, name: &NameAddress) -> bool {
        let removed = self.names.remove(&name.0).is_some();
        if removed {
            self.version += 1;
        }
        removed
    }

    /// True if no name is served.
    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The served addresses, in order.
    pub(crate) fn addresses(&self) -> impl ExactSizeIterator<Item = &[u8; 32]> + '_ {
        self.names.keys()
    }

    /// Pieces the announcement of the current list takes.
    pub(crate) fn pieces(&self) -> u8 {
        wn::pieces_for(self.names.len()) as u8
    }

    /// The addresses piece `piece` of the announcement lists.
    pub(crate) fn piece(&self, piece: u8) -> impl ExactSizeIterator<Item = &[u8; 32]> + '_ {
        let first = piece as usize * wn::NAMES_PER_PIECE;
        let count = self.names.len().saturating_sub(first).min(wn::NAMES_PER_PIECE);
        self.names.keys().skip(first).take(count)
    }

    /// The oldest message queued for `name`.
    pub(crate) fn pop(&mut self, name: &NameAddress) -> Option<RoutedMessage> {
        let q = self.names.get_mut(&name.0)?;
        let m = q.items.pop_front()?;
        q.bytes -= m.data.len();
        Some(m)
    }

    /// Queues routed bytes if the name is served and its queue has room; the reply status.
    pub(crate) fn deliver(&mut self, address: &[u8; 32], session: SessionHandle, data: Bytes) -> u8 {
        let Some(q) = self.names.get_mut(address) else { return STATUS_UNKNOWN_NAME };
        if q.items.len() >= q.limits.max_messages || q.bytes + data.len() > q.limits.max_bytes {
            return STATUS_QUEUE_FULL;
        }
        q.bytes += data.len();
        q.items.push_back(RoutedMessage { session, data });
        STATUS_OK
    }

    /// True if `address` is served.
    pub(crate) fn serves(&self, address: &[u8; 32]) -> bool {
        self.names.contains_key(address)
    }
}
