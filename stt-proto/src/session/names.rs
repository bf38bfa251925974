//! Named endpoints, session side: announcing the names this node serves (ENDPOINT_REGISTER),
//! numbered resolve and route requests repeated until answered, and replies to the peer's
//! requests, each remembered per request number so a repeated request gets its first answer and
//! routed bytes are queued at most once (see `docs/PROTOCOL.md` section 11). The node's registry
//! of served names is [`crate::names`].

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use bytes::Bytes;

use super::send::{FrameSpec, Tx};
use super::{Session, State};
use crate::event::Event;
use crate::names::{NameAddress, NameError, NameReply, Registry, RequestId, MAX_NAMES, REQUEST_WINDOW};
use crate::recovery::{Outcome, SentPayload};
use crate::types::SessionHandle;
use crate::wire::names::{self as wn, NameMessage, STATUS_OK, STATUS_UNKNOWN_NAME};
use crate::wire::{frame_len, FrameType, Header};

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

/// A peer's announcement being put together from its pieces.
struct Assembly {
    version: u32,
    /// One entry per piece, filled as pieces arrive.
    pieces: Vec<Option<Vec<NameAddress>>>,
}

/// One session's named-endpoint state.
#[derive(Default)]
pub(crate) struct SessionNames {
    /// The peer must be told the current list of served names.
    pub announce_owed: bool,
    /// Registry version whose pieces are being sent, and the pieces still owed (bit `i` for
    /// piece `i`; a lost piece is owed again while the version is current).
    announcing: Option<u32>,
    owed_pieces: u32,
    /// The peer's announced names and the version they came with.
    peer_version: Option<u32>,
    peer_names: Vec<NameAddress>,
    /// A newer announcement of the peer's, not complete yet.
    /// Boxed: present only while a multi-piece announcement arrives, and every session holds the
    /// field.
    assembly: Option<Box<Assembly>>,
    next_id: u32,
    pending: BTreeMap<u32, Pending>,
    resend: VecDeque<u32>,
    /// Answers given to the peer's requests at or above `peer_floor`.
    answered: BTreeMap<u32, u8>,
    peer_floor: u32,
    replies: VecDeque<Reply>,
}

impl SessionNames {
    pub(crate) fn wants_transmit(&self) -> bool {
        self.announce_owed || self.owed_pieces != 0 || !self.replies.is_empty() || !self.resend.is_empty()
    }

    pub(crate) fn peer_names(&self) -> &[NameAddress] {
        &self.peer_names
    }

    /// The oldest request number still unanswered (or the next one).
    fn floor(&self) -> u32 {
        self.pending.keys().next().copied().unwrap_or(self.next_id)
    }

    /// Numbers and queues a request.
    pub(crate) fn request(&mut self, route: bool, address: NameAddress, data: Bytes) -> Result<RequestId, NameError> {
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
    pub(crate) fn on_outcome(&mut self, p: SentPayload, o: Outcome) {
        if o != Outcome::Lost {
            return;
        }
        match p {
            SentPayload::NameAnnounce { version, piece } if self.announcing == Some(version) => {
                self.owed_pieces |= 1 << piece;
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

    /// Takes one piece of the peer's announcement. Returns true when it completed a list newer
    /// than the one held; `Err` if the piece contradicts the others of its version, or the list
    /// would be longer than [`MAX_NAMES`].
    fn on_register_piece(&mut self, piece: wn::RegisterPiece<'_>) -> Result<bool, ()> {
        let version = piece.version;
        if self.peer_version.is_some_and(|v| version <= v) {
            return Ok(false); // A repeat or a late piece of a list already replaced.
        }
        match &self.assembly {
            Some(a) if a.version > version => return Ok(false),
            Some(a) if a.version == version && a.pieces.len() != piece.pieces as usize => return Err(()),
            Some(a) if a.version == version => {}
            _ => {
                if (piece.pieces as usize - 1) * wn::NAMES_PER_PIECE >= MAX_NAMES {
                    return Err(());
                }
                let pieces = (0..piece.pieces).map(|_| None).collect();
                self.assembly = Some(Box::new(Assembly { version, pieces }));
            }
        }
        let a = self.assembly.as_mut().expect("set above");
        let names: Vec<NameAddress> = piece.names().map(NameAddress).collect();
        let others: usize = a
            .pieces
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != piece.piece as usize)
            .flat_map(|(_, p)| p)
            .map(Vec::len)
            .sum();
        let total = others + names.len();
        if total > MAX_NAMES {
            return Err(());
        }
        a.pieces[piece.piece as usize] = Some(names);
        if a.pieces.iter().any(Option::is_none) {
            return Ok(false);
        }
        let a = self.assembly.take().expect("present");
        self.peer_names = a.pieces.into_iter().flatten().flatten().collect();
        self.peer_version = Some(a.version);
        Ok(true)
    }

    fn queue_reply(&mut self, r: Reply) {
        // Bounded: a peer that repeats requests faster than replies drain gets some dropped,
        // and repeats the requests again.
        if self.replies.len() < 2 * REQUEST_WINDOW as usize {
            self.replies.push_back(r);
        }
    }

    /// Handles an authentic ENDPOINT_* frame. `Err` if it is malformed.
    pub(crate) fn on_frame(
        &mut self,
        handle: SessionHandle,
        header: &Header,
        payload: Bytes,
        registry: &mut Registry,
        events: &mut VecDeque<Event>,
    ) -> Result<(), ()> {
        let t = header.frame_type;
        if t == FrameType::ENDPOINT_REGISTER {
            let piece = wn::decode_register(&payload).map_err(drop)?;
            if self.on_register_piece(piece)? {
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
                            if registry.serves(&address) {
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
            let Some(n) = self.emit_name_reply(tx, &mut out[at..], r.route, r.id, r.status) else { return at };
            at += n;
            self.names.replies.pop_front();
        }
        // A new list, or owed pieces of a list that changed since: announce every piece of the
        // current one.
        let stale = self.names.owed_pieces != 0 && self.names.announcing != Some(reg.version);
        if self.names.announce_owed || stale {
            self.names.announcing = Some(reg.version);
            self.names.owed_pieces = (1u32 << reg.pieces()) - 1;
            self.names.announce_owed = false;
        }
        while self.names.owed_pieces != 0 {
            let (version, pieces) = (reg.version, reg.pieces());
            let piece = self.names.owed_pieces.trailing_zeros() as u8;
            let spec = FrameSpec::control(FrameType::ENDPOINT_REGISTER);
            let fill = |p: &mut [u8]| wn::encode_register(p, version, piece, pieces, reg.piece(piece));
            let len = wn::register_len(reg.piece(piece).len());
            let track = SentPayload::NameAnnounce { version, piece };
            let Some(n) = self.emit(tx, &mut out[at..], spec, len, fill, Some(track)) else { return at };
            at += n;
            self.names.owed_pieces &= !(1 << piece);
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
            let spec = FrameSpec::control(wn::frame_type(p.route));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(version: u32, piece: u8, pieces: u8, first: u8, count: usize) -> Vec<u8> {
        let names: Vec<[u8; 32]> = (0..count).map(|i| [first.wrapping_add(i as u8); 32]).collect();
        let mut buf = alloc::vec![0u8; wn::register_len(count)];
        wn::encode_register(&mut buf, version, piece, pieces, names.iter());
        buf
    }

    fn take(n: &mut SessionNames, bytes: &[u8]) -> Result<bool, ()> {
        n.on_register_piece(wn::decode_register(bytes).unwrap())
    }

    #[test]
    fn pieces_assemble_in_any_order_and_only_a_complete_newer_list_replaces() {
        let mut n = SessionNames::default();
        assert_eq!(take(&mut n, &piece(5, 1, 2, 100, 3)), Ok(false));
        assert!(n.peer_names().is_empty(), "half a list is not a list");
        assert_eq!(take(&mut n, &piece(5, 0, 2, 0, 40)), Ok(true));
        assert_eq!(n.peer_names().len(), 43);
        assert_eq!(n.peer_names()[40], NameAddress([100; 32]), "in piece order");
        // A repeat of version 5, and a late version 4: ignored.
        assert_eq!(take(&mut n, &piece(5, 0, 2, 0, 40)), Ok(false));
        assert_eq!(take(&mut n, &piece(4, 0, 1, 9, 1)), Ok(false));
        // Version 7 started, then version 8 abandons it; 7's last piece is then ignored.
        assert_eq!(take(&mut n, &piece(7, 0, 2, 0, 40)), Ok(false));
        assert_eq!(take(&mut n, &piece(8, 0, 1, 50, 1)), Ok(true));
        assert_eq!(take(&mut n, &piece(7, 1, 2, 0, 1)), Ok(false));
        assert_eq!(n.peer_names(), [NameAddress([50; 32])]);
    }

    #[test]
    fn pieces_that_disagree_or_overflow_are_malformed() {
        let mut n = SessionNames::default();
        assert_eq!(take(&mut n, &piece(1, 0, 2, 0, 40)), Ok(false));
        assert_eq!(take(&mut n, &piece(1, 1, 3, 0, 40)), Err(()), "two piece counts for one version");
        let mut n = SessionNames::default();
        assert_eq!(take(&mut n, &piece(1, 0, 26, 0, 40)), Ok(false));
        for p in 1..25 {
            assert_eq!(take(&mut n, &piece(1, p, 26, 0, 40)), Ok(false));
        }
        assert_eq!(take(&mut n, &piece(1, 24, 26, 0, 40)), Ok(false), "a repeated piece replaces its copy");
        assert_eq!(take(&mut n, &piece(1, 25, 26, 0, 40)), Err(()), "1,040 names");
        assert_eq!(take(&mut n, &piece(1, 25, 26, 0, 24)), Ok(true), "1,024 names");
        assert_eq!(n.peer_names().len(), MAX_NAMES);
    }
}
