//! Resumption tickets, both ends of them.
//!
//! - [`TicketSealer`] (responder): seals a ticket for a peer with a key drawn at its first
//!   ticket (so tickets die with the endpoint), opens a presented one, and refuses it if it is
//!   another node's, altered, expired or already used: each ticket opens at most once, which is
//!   what makes a replayed resumed INIT open nothing.
//! - [`TicketStore`] (initiator): the tickets received, by peer, newest first, each taken once.
//! - [`SavedTicket`]: one held ticket outside the endpoint (for a file that outlives the
//!   process), with its bytes.
//!
//! A ticket, as this implementation seals it (opaque to the initiator, `docs/PROTOCOL.md` §4.11):
//! `number (8) || AEAD(key, number, aad = number, node_id_i (32) || secret (32) || issued (8)) ||
//! tag (16)`, 96 bytes.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::time::Duration;

use zeroize::Zeroizing;

use crate::crypto::{hkdf, labels, CryptoBackend, PacketKey, Suite, NONCE_LEN, TAG_LEN};
use crate::time::Instant;
use crate::types::NodeId;

/// Length of a ticket as this implementation seals it.
pub(crate) const TICKET_LEN: usize = 8 + 32 + 32 + 8 + TAG_LEN;

/// Tickets an initiator keeps (fewer on a small device), and per peer.
const HELD: usize = if cfg!(feature = "small") { 4 } else { 1024 };
const HELD_PER_PEER: usize = 2;

/// Why a presented ticket does not open a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TicketRefusal {
    /// Not sealed by this endpoint (another node's, an earlier run's, or altered).
    Unknown,
    /// Issued to another node than the one presenting it.
    WrongPeer,
    /// Older than its lifetime.
    Expired,
    /// Opened a session before: a replay.
    Used,
    /// The record of used tickets is full: none opens until old ones expire.
    Full,
}

/// The responder's ticket key, counter and record of tickets used.
pub(crate) struct TicketSealer {
    key: PacketKey,
    next: u64,
    /// Numbers of tickets that opened a session, with when they expire (then they are
    /// forgotten: an expired ticket is refused anyway).
    used: BTreeMap<u64, Instant>,
    capacity: usize,
}

impl TicketSealer {
    /// A sealer with a key derived from `secret` (fresh random bytes), sealing with `suite`,
    /// remembering at most `capacity` used tickets.
    pub(crate) fn new(secret: &[u8; 32], suite: Suite, backend: CryptoBackend, capacity: usize) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        hkdf(&[], secret, labels::TICKET_KEY, &mut *key);
        TicketSealer {
            key: PacketKey::new(suite, backend, &key, [0; NONCE_LEN]),
            next: 0,
            used: BTreeMap::new(),
            capacity,
        }
    }

    /// The number the next ticket gets (its secret's context: the ticket nonce).
    pub(crate) fn next_number(&self) -> u64 {
        self.next
    }

    /// Seals the next ticket: for `peer`, carrying `secret`, issued at `now`.
    pub(crate) fn seal(&mut self, now: Instant, peer: &NodeId, secret: &[u8; 32]) -> [u8; TICKET_LEN] {
        let number = self.next;
        self.next += 1;
        let mut t = [0u8; TICKET_LEN];
        t[..8].copy_from_slice(&number.to_be_bytes());
        t[8..40].copy_from_slice(&peer.0);
        t[40..72].copy_from_slice(secret);
        t[72..80].copy_from_slice(&now.as_nanos().to_be_bytes());
        let (aad, rest) = t.split_at_mut(8);
        let (body, tag) = rest.split_at_mut(72);
        let sealed = self.key.seal(number, aad, body);
        tag.copy_from_slice(&sealed);
        t
    }

    /// Opens `ticket`, presented by `peer` at `now`, accepted for `lifetime` after it was
    /// issued: its secret and what [`TicketSealer::use_up`] takes once the handshake it came
    /// with proved to be the ticket holder's; or why not.
    pub(crate) fn open(
        &mut self,
        now: Instant,
        ticket: &[u8],
        peer: &NodeId,
        lifetime: Duration,
    ) -> Result<(Zeroizing<[u8; 32]>, OpenedTicket), TicketRefusal> {
        let Ok(t) = <&[u8; TICKET_LEN]>::try_from(ticket) else { return Err(TicketRefusal::Unknown) };
        let mut number = [0u8; 8];
        number.copy_from_slice(&t[..8]);
        let number = u64::from_be_bytes(number);
        if number >= self.next {
            return Err(TicketRefusal::Unknown);
        }
        let mut body = Zeroizing::new([0u8; 72]);
        body.copy_from_slice(&t[8..80]);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&t[80..]);
        self.key.open(number, &t[..8], &mut *body, &tag).map_err(|_| TicketRefusal::Unknown)?;
        if body[..32] != peer.0 {
            return Err(TicketRefusal::WrongPeer);
        }
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&body[64..72]);
        let expires = Instant::from_nanos(u64::from_be_bytes(issued)) + lifetime;
        if now >= expires {
            return Err(TicketRefusal::Expired);
        }
        if self.used.contains_key(&number) {
            return Err(TicketRefusal::Used);
        }
        if self.used.len() >= self.capacity {
            self.used.retain(|_, until| *until > now);
            if self.used.len() >= self.capacity {
                return Err(TicketRefusal::Full);
            }
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&body[32..64]);
        Ok((secret, OpenedTicket { number, expires }))
    }

    /// Records an opened ticket as used: it opens nothing again.
    pub(crate) fn use_up(&mut self, t: OpenedTicket) {
        self.used.insert(t.number, t.expires);
    }
}

/// A ticket that opened, not yet recorded as used.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpenedTicket {
    number: u64,
    expires: Instant,
}

/// A ticket an initiator holds for one peer.
pub(crate) struct HeldTicket {
    pub(crate) peer: NodeId,
    pub(crate) ticket: Box<[u8]>,
    /// On the heap, so that moving the ticket (the store's queue growing) leaves no copy.
    pub(crate) secret: Box<Zeroizing<[u8; 32]>>,
    pub(crate) expires: Instant,
    /// Where the peer was met, and its static key if known: a ticket restored in another run
    /// teaches the endpoint both, so that `connect` to that address finds the peer.
    pub(crate) met: Option<Met>,
}

/// Where a ticket's peer was met (a UDP address) and its static public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Met {
    pub(crate) static_key: [u8; 32],
    pub(crate) udp: Option<core::net::SocketAddr>,
}

/// The tickets an initiator received, oldest first.
#[derive(Default)]
pub(crate) struct TicketStore {
    held: VecDeque<HeldTicket>,
}

impl TicketStore {
    /// Keeps a ticket (the oldest of the peer's, or of all, makes room); one held already for
    /// that peer (a NEW_TICKET sent again because its acknowledgement was lost, a ticket
    /// restored twice) is replaced, not kept twice.
    pub(crate) fn add(&mut self, t: HeldTicket) {
        self.held.retain(|h| h.peer != t.peer || h.ticket != t.ticket);
        if self.held.iter().filter(|h| h.peer == t.peer).count() >= HELD_PER_PEER {
            let oldest = self.held.iter().position(|h| h.peer == t.peer).expect("counted above");
            self.held.remove(oldest);
        }
        if self.held.len() >= HELD {
            self.held.pop_front();
        }
        self.held.push_back(t);
    }

    /// Takes the newest ticket for `peer` still valid at `now` (expired ones go).
    pub(crate) fn take(&mut self, now: Instant, peer: &NodeId) -> Option<HeldTicket> {
        self.held.retain(|h| h.expires > now);
        let at = self.held.iter().rposition(|h| h.peer == *peer)?;
        self.held.remove(at)
    }

    /// True if a ticket for `peer` is held (valid or not).
    pub(crate) fn has(&self, peer: &NodeId) -> bool {
        self.held.iter().any(|h| h.peer == *peer)
    }

    /// The tickets still valid at `now`, to keep outside the endpoint.
    pub(crate) fn saved(&self, now: Instant) -> Vec<SavedTicket> {
        let valid = self.held.iter().filter(|h| h.expires > now);
        valid
            .map(|h| SavedTicket {
                peer: h.peer,
                valid_for: h.expires.saturating_duration_since(now),
                ticket: h.ticket.to_vec(),
                secret: h.secret.clone(),
                met: h.met,
            })
            .collect()
    }
}

/// A resumption ticket held for a peer, taken out of an endpoint to outlive it
/// ([`crate::Endpoint::saved_tickets`], [`crate::Endpoint::restore_ticket`]). It holds a secret:
/// whoever has it can open one session to the peer in this node's name while it is valid, so
/// keep it as a private key is kept (the `stt` tool's file has mode 0600). Its secret is erased
/// when it is dropped.
#[derive(Clone)]
pub struct SavedTicket {
    /// The node that issued it (the one it resumes with).
    pub peer: NodeId,
    /// How much longer the peer accepts it, from when it was saved.
    pub valid_for: Duration,
    ticket: Vec<u8>,
    secret: Box<Zeroizing<[u8; 32]>>,
    met: Option<Met>,
}

impl core::fmt::Debug for SavedTicket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SavedTicket").field("peer", &self.peer).field("valid_for", &self.valid_for).finish()
    }
}

/// Version byte of [`SavedTicket::to_bytes`].
const SAVED_VERSION: u8 = 1;

impl SavedTicket {
    /// The ticket as bytes: `version (1) = 1 || peer (32) || valid_for in ms (8) || secret (32) ||
    /// met (1: 0 nothing, 1 the peer's static key (32), 2 its key and UDP address (an IPv6 or
    /// IPv4-mapped address (16) and port (2))) || ticket_len (2) || ticket`.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        // Sized for the whole encoding, so that it never moves (a move would leave a copy).
        let mut out = Zeroizing::new(Vec::with_capacity(128 + self.ticket.len()));
        out.push(SAVED_VERSION);
        out.extend_from_slice(&self.peer.0);
        out.extend_from_slice(&u64::try_from(self.valid_for.as_millis()).unwrap_or(u64::MAX).to_be_bytes());
        out.extend_from_slice(&**self.secret);
        match self.met {
            None => out.push(0),
            Some(Met { static_key, udp: None }) => {
                out.push(1);
                out.extend_from_slice(&static_key);
            }
            Some(Met { static_key, udp: Some(addr) }) => {
                out.push(2);
                out.extend_from_slice(&static_key);
                let ip = match addr.ip() {
                    core::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    core::net::IpAddr::V6(v6) => v6,
                };
                out.extend_from_slice(&ip.octets());
                out.extend_from_slice(&addr.port().to_be_bytes());
            }
        }
        out.extend_from_slice(&(self.ticket.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.ticket);
        out
    }

    /// Reads [`SavedTicket::to_bytes`]'s output; `None` if it is not one.
    pub fn from_bytes(b: &[u8]) -> Option<SavedTicket> {
        let mut r = b;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = r.split_at_checked(n)?;
            r = tail;
            Some(head)
        };
        if take(1)? != [SAVED_VERSION] {
            return None;
        }
        let peer = NodeId(take(32)?.try_into().ok()?);
        let valid_for = Duration::from_millis(u64::from_be_bytes(take(8)?.try_into().ok()?));
        let mut secret = Box::new(Zeroizing::new([0u8; 32]));
        secret.copy_from_slice(take(32)?);
        let met = match take(1)?[0] {
            0 => None,
            1 => Some(Met { static_key: take(32)?.try_into().ok()?, udp: None }),
            2 => {
                let static_key = take(32)?.try_into().ok()?;
                let ip = core::net::Ipv6Addr::from(<[u8; 16]>::try_from(take(16)?).ok()?);
                let port = u16::from_be_bytes(take(2)?.try_into().ok()?);
                let ip = ip.to_ipv4_mapped().map_or(core::net::IpAddr::V6(ip), core::net::IpAddr::V4);
                Some(Met { static_key, udp: Some(core::net::SocketAddr::new(ip, port)) })
            }
            _ => return None,
        };
        let len = usize::from(u16::from_be_bytes(take(2)?.try_into().ok()?));
        let ticket = take(len)?.to_vec();
        if !r.is_empty() || len == 0 || len > crate::wire::handshake::MAX_TICKET_LEN {
            return None;
        }
        Some(SavedTicket { peer, valid_for, ticket, secret, met })
    }

    /// The ticket as held again, valid from `now` for what was left of it.
    pub(crate) fn into_held(self, now: Instant) -> HeldTicket {
        HeldTicket {
            peer: self.peer,
            ticket: self.ticket.into_boxed_slice(),
            secret: self.secret,
            expires: now + self.valid_for,
            met: self.met,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Instant {
        Instant::from_nanos(s * 1_000_000_000)
    }

    #[test]
    fn a_ticket_opens_once_for_its_peer_within_its_lifetime() {
        let mut sealer = TicketSealer::new(&[1; 32], Suite::ChaCha20Poly1305, CryptoBackend::RustCrypto, 2);
        let (a, b) = (NodeId([2; 32]), NodeId([3; 32]));
        let life = Duration::from_secs(10);
        let ticket = sealer.seal(t(0), &a, &[9; 32]);
        assert_eq!(sealer.open(t(1), &ticket, &b, life).err(), Some(TicketRefusal::WrongPeer));
        let (secret, opened) = sealer.open(t(1), &ticket, &a, life).unwrap();
        assert_eq!(*secret, [9; 32]);
        assert!(sealer.open(t(1), &ticket, &a, life).is_ok(), "opening alone does not use it up");
        sealer.use_up(opened);
        assert_eq!(sealer.open(t(2), &ticket, &a, life).err(), Some(TicketRefusal::Used));
        let late = sealer.seal(t(0), &a, &[9; 32]);
        assert_eq!(sealer.open(t(10), &late, &a, life).err(), Some(TicketRefusal::Expired));
        let mut altered = sealer.seal(t(0), &a, &[9; 32]);
        altered[20] ^= 1;
        assert_eq!(sealer.open(t(1), &altered, &a, life).err(), Some(TicketRefusal::Unknown));
        let other = TicketSealer::new(&[7; 32], Suite::ChaCha20Poly1305, CryptoBackend::RustCrypto, 2);
        let mut other = other;
        let foreign = other.seal(t(0), &a, &[9; 32]);
        assert_eq!(sealer.open(t(1), &foreign, &a, life).err(), Some(TicketRefusal::Unknown));
        // Two used already: a third waits until one of them expires.
        let c = sealer.seal(t(5), &a, &[9; 32]);
        let opened = sealer.open(t(6), &c, &a, life).unwrap().1;
        sealer.use_up(opened);
        let d = sealer.seal(t(6), &a, &[9; 32]);
        assert_eq!(sealer.open(t(7), &d, &a, life).err(), Some(TicketRefusal::Full));
        assert!(sealer.open(t(11), &d, &a, life).is_ok(), "the first used ticket expired and was forgotten");
    }

    #[test]
    fn the_store_gives_the_newest_valid_ticket_once_and_saves_what_is_left() {
        let mut store = TicketStore::default();
        let peer = NodeId([2; 32]);
        for (i, expires) in [(1u8, 5), (2, 50), (3, 40)] {
            let ticket = alloc::vec![i; 96].into_boxed_slice();
            let met = (i == 3).then_some(Met { static_key: [5; 32], udp: Some("192.0.2.7:9".parse().unwrap()) });
            let secret = Box::new(Zeroizing::new([i; 32]));
            store.add(HeldTicket { peer, ticket, secret, expires: t(expires), met });
        }
        let saved = store.saved(t(10));
        assert_eq!(saved.len(), 2, "two per peer: the oldest made room");
        let back = SavedTicket::from_bytes(&saved[1].to_bytes()).unwrap();
        assert_eq!(
            (back.peer, back.valid_for, back.ticket.clone()),
            (peer, Duration::from_secs(30), alloc::vec![3; 96])
        );
        assert_eq!(back.met, saved[1].met);
        assert_eq!(SavedTicket::from_bytes(&saved[0].to_bytes()).unwrap().met, None);
        let bytes = saved[1].to_bytes();
        for cut in [1, 40, 80, bytes.len() - 1] {
            assert!(SavedTicket::from_bytes(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(SavedTicket::from_bytes(&longer).is_none());
        assert_eq!(store.take(t(10), &peer).unwrap().ticket[0], 3);
        assert_eq!(store.take(t(45), &peer).unwrap().ticket[0], 2);
        assert!(store.take(t(45), &peer).is_none());
        let again = |i: u8| HeldTicket {
            peer,
            ticket: alloc::vec![i; 96].into_boxed_slice(),
            secret: Box::new(Zeroizing::new([i; 32])),
            expires: t(100),
            met: None,
        };
        store.add(again(7));
        store.add(again(7));
        assert_eq!(store.saved(t(50)).len(), 1, "a ticket sent again is kept once");
    }
}
