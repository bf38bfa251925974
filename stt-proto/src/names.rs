//! Named endpoints: a node serves names, and its peers resolve them and route bytes to them.
//!
//! A name is known on the wire only by its address, SHA3-256 of its UTF-8 bytes. This module owns
//! the node's registry (one bounded queue per served name) and each session's share of the
//! exchange: announcing the names this node serves (ENDPOINT_REGISTER), and requests and replies
//! (ENDPOINT_RESOLVE, ENDPOINT_ROUTE). Requests are numbered per session and repeated when lost;
//! the receiver answers a repeated request with its first answer, so routed bytes are queued at
//! most once. A full queue or an unknown name is answered, not dropped, so the sender always
//! learns the outcome (see `docs/PROTOCOL.md` section 11).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use bytes::Bytes;

use crate::crypto::sha3_256;
use crate::event::Event;
use crate::recovery::{Outcome, SentPayload};
use crate::session::io::Tx;
use crate::session::{FrameSpec, Session, SessionHandle, State};
use crate::wire::names::{self as wn, NameMessage, STATUS_OK, STATUS_QUEUE_FULL, STATUS_UNKNOWN_NAME};
use crate::wire::{frame_len, FrameType, Header};

/// Requests a session may have outstanding, counted from the oldest unanswered one.
pub const REQUEST_WINDOW: u32 = 256;
/// Names one node may serve at once (they are all announced in one frame).
pub const MAX_NAMES: usize = wn::MAX_REGISTERED;

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
}

/// One served name's queue.
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

impl Registry {
    pub fn register(&mut self, name: NameAddress, limits: NameQueueLimits) -> Result<(), NameError> {
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
    pub fn unregister(&mut self, name: &NameAddress) -> bool {
        let removed = self.names.remove(&name.0).is_some();
        if removed {
            self.version += 1;
        }
        removed
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn addresses(&self) -> impl ExactSizeIterator<Item = &[u8; 32]> + '_ {
        self.names.keys()
    }

    pub fn pop(&mut self, name: &NameAddress) -> Option<RoutedMessage> {
        let q = self.names.get_mut(&name.0)?;
        let m = q.items.pop_front()?;
        q.bytes -= m.data.len();
        Some(m)
    }

    /// Queues routed bytes if the name is served and its queue has room; the reply status.
    fn deliver(&mut self, address: &[u8; 32], session: SessionHandle, data: Bytes) -> u8 {
        let Some(q) = self.names.get_mut(address) else { return STATUS_UNKNOWN_NAME };
        if q.items.len() >= q.limits.max_messages || q.bytes + data.len() > q.limits.max_bytes {
            return STATUS_QUEUE_FULL;
        }
        q.bytes += data.len();
        q.items.push_back(RoutedMessage { session, data });
        STATUS_OK
    }
}

/// A request waiting for its reply.
struct Pending {
    route: bool,
    address: [u8; 32],
    data: Bytes,
    /// In `resend`, waiting to be (re)sent.
    queued: bool,
}

/// A reply to send (again, if lost).
#[derive(Clone, Copy)]
struct Reply {
    route: bool,
    id: u32,
    status: u8,
}

/// One session's named-endpoint state.
#[derive(Default)]
pub(crate) struct SessionNames {
    /// The peer must be told the current list of served names.
    pub announce_owed: bool,
    /// Registry version of the last announcement sent.
    announce_sent: Option<u32>,
    /// The peer's announced names and the version they came with.
    peer_version: Option<u32>,
    peer_names: Vec<NameAddress>,
    next_id: u32,
    pending: BTreeMap<u32, Pending>,
    resend: VecDeque<u32>,
    /// Answers given to the peer's requests at or above `peer_floor`.
    answered: BTreeMap<u32, u8>,
    peer_floor: u32,
    replies: VecDeque<Reply>,
}

impl SessionNames {
    pub fn wants_transmit(&self) -> bool {
        self.announce_owed || !self.replies.is_empty() || !self.resend.is_empty()
    }

    pub fn peer_names(&self) -> &[NameAddress] {
        &self.peer_names
    }

    /// The oldest request number still unanswered (or the next one).
    fn floor(&self) -> u32 {
        self.pending.keys().next().copied().unwrap_or(self.next_id)
    }

    /// Numbers and queues a request.
    pub fn request(&mut self, route: bool, address: NameAddress, data: Bytes) -> Result<RequestId, NameError> {
        if self.next_id == u32::MAX {
            return Err(NameError::RequestIdsExhausted);
        }
        if self.next_id - self.floor() >= REQUEST_WINDOW {
            return Err(NameError::TooManyInFlight);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, Pending { route, address: address.0, data, queued: true });
        self.resend.push_back(id);
        Ok(RequestId(id))
    }

    /// Repairs a lost announcement, request or reply.
    pub fn on_outcome(&mut self, p: SentPayload, o: Outcome) {
        if o != Outcome::Lost {
            return;
        }
        match p {
            SentPayload::NameAnnounce { version } if self.announce_sent == Some(version) => {
                self.announce_sent = None;
                self.announce_owed = true;
            }
            SentPayload::NameRequest { id } => {
                if let Some(p) = self.pending.get_mut(&id) {
                    if !p.queued {
                        p.queued = true;
                        self.resend.push_back(id);
                    }
                }
            }
            SentPayload::NameReply { id, route, status } if self.answered.contains_key(&id) => {
                self.queue_reply(Reply { route, id, status });
            }
            _ => {}
        }
    }

    fn queue_reply(&mut self, r: Reply) {
        // Bounded: a peer that repeats requests faster than replies drain gets some dropped,
        // and repeats the requests again.
        if self.replies.len() < 2 * REQUEST_WINDOW as usize {
            self.replies.push_back(r);
        }
    }

    /// Handles an authentic ENDPOINT_* frame. `Err` if it is malformed.
    pub fn on_frame(
        &mut self,
        handle: SessionHandle,
        header: &Header,
        payload: Bytes,
        registry: &mut Registry,
        events: &mut VecDeque<Event>,
    ) -> Result<(), ()> {
        let t = header.frame_type;
        if t == FrameType::ENDPOINT_REGISTER {
            let (version, names) = wn::decode_register(&payload).map_err(drop)?;
            if self.peer_version.is_none_or(|v| version > v) {
                self.peer_version = Some(version);
                self.peer_names = names.map(NameAddress).collect();
                events.push_back(Event::PeerNamesChanged { session: handle });
            }
            return Ok(());
        }
        let route = t == FrameType::ENDPOINT_ROUTE;
        let what = if route { "ENDPOINT_ROUTE" } else { "ENDPOINT_RESOLVE" };
        match wn::decode_message(&payload, what).map_err(drop)? {
            NameMessage::Reply { id, status } => {
                let reply = match status {
                    STATUS_OK => NameReply::Ok,
                    STATUS_UNKNOWN_NAME => NameReply::UnknownName,
                    _ if route => NameReply::QueueFull,
                    _ => return Err(()), // "Queue full" is no answer to a resolve.
                };
                match self.pending.get(&id) {
                    // A reply must come in the frame type of its request.
                    Some(p) if p.route == route => {}
                    Some(_) => return Err(()),
                    None => return Ok(()),
                }
                self.pending.remove(&id);
                events.push_back(Event::NameReply { session: handle, request: RequestId(id), reply });
                Ok(())
            }
            NameMessage::Request { id, floor, address, data } => {
                if floor > self.peer_floor {
                    self.peer_floor = floor;
                    self.answered = self.answered.split_off(&floor);
                }
                if id < self.peer_floor {
                    return Ok(()); // Settled on the sender's side: a late copy.
                }
                if id - self.peer_floor >= REQUEST_WINDOW || (!route && !data.is_empty()) {
                    return Err(());
                }
                let status = match self.answered.get(&id) {
                    Some(&s) => s,
                    None => {
                        let status = if !route {
                            if registry.names.contains_key(&address) {
                                STATUS_OK
                            } else {
                                STATUS_UNKNOWN_NAME
                            }
                        } else {
                            let data = payload.slice(wn::REQUEST_HEADER_LEN..);
                            let s = registry.deliver(&address, handle, data);
                            if s == STATUS_OK {
                                events.push_back(Event::NameReadable { name: NameAddress(address) });
                            }
                            s
                        };
                        self.answered.insert(id, status);
                        status
                    }
                };
                self.queue_reply(Reply { route, id, status });
                Ok(())
            }
        }
    }
}

fn frame_type(route: bool) -> FrameType {
    if route {
        FrameType::ENDPOINT_ROUTE
    } else {
        FrameType::ENDPOINT_RESOLVE
    }
}

impl Session {
    /// Writes replies, the announcement and requests into `out[at..]`. Returns the new end of
    /// the datagram. Routed data waits for the congestion window; replies and announcements,
    /// like other control frames, do not.
    pub(crate) fn write_name_frames(
        &mut self,
        tx: &mut Tx<'_>,
        out: &mut [u8],
        mut at: usize,
        reg: &Registry,
    ) -> usize {
        if !matches!(self.state, State::Established) {
            return at;
        }
        while let Some(&r) = self.names.replies.front() {
            let spec = FrameSpec::control(frame_type(r.route));
            let fill = |p: &mut [u8]| wn::encode_reply(p, r.id, r.status);
            let track = SentPayload::NameReply { id: r.id, route: r.route, status: r.status };
            let Some(n) = self.emit(tx, &mut out[at..], spec, wn::REPLY_LEN, fill, Some(track)) else { return at };
            at += n;
            self.names.replies.pop_front();
        }
        if self.names.announce_owed {
            let version = reg.version;
            let spec = FrameSpec::control(FrameType::ENDPOINT_REGISTER);
            let fill = |p: &mut [u8]| wn::encode_register(p, version, reg.addresses());
            let len = wn::register_len(reg.addresses().len());
            let track = SentPayload::NameAnnounce { version };
            let Some(n) = self.emit(tx, &mut out[at..], spec, len, fill, Some(track)) else { return at };
            at += n;
            self.names.announce_owed = false;
            self.names.announce_sent = Some(version);
        }
        let floor = self.names.floor();
        while let Some(&id) = self.names.resend.front() {
            let Some(p) = self.names.pending.get(&id) else {
                self.names.resend.pop_front();
                continue;
            };
            let len = wn::REQUEST_HEADER_LEN + p.data.len();
            if p.route && !self.recovery.window_allows(frame_len(len) as u64) {
                return at;
            }
            if out.len() - at < frame_len(len) {
                return at;
            }
            let spec = FrameSpec::control(frame_type(p.route));
            let (address, data) = (p.address, p.data.clone());
            let fill = |b: &mut [u8]| {
                wn::encode_request_header(b, id, floor, &address);
                b[wn::REQUEST_HEADER_LEN..].copy_from_slice(&data);
            };
            let Some(n) = self.emit(tx, &mut out[at..], spec, len, fill, Some(SentPayload::NameRequest { id })) else {
                return at;
            };
            at += n;
            self.names.resend.pop_front();
            if let Some(p) = self.names.pending.get_mut(&id) {
                p.queued = false;
            }
        }
        at
    }
}
