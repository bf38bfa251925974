//! Named endpoints in a build without the `names` feature: the node serves no name, so every
//! resolve or route request of the peer is answered "unknown name" (nothing is queued, so a
//! repeated request gets the same answer, and a lost answer is sent again), announcements and
//! replies are ignored, and the application's own requests are refused with
//! [`NameError::NotBuilt`]. Requests are checked as in `names.rs` (the window above the peer's
//! floor, no data in a resolve). Same interface as `names.rs`.

use alloc::collections::VecDeque;
use bytes::Bytes;

use super::send::Tx;
use super::{Session, State};
use crate::event::Event;
use crate::names::{NameAddress, NameError, Registry, RequestId, REQUEST_WINDOW};
use crate::recovery::{Outcome, SentPayload};
use crate::types::SessionHandle;
use crate::wire::names::{self as wn, NameMessage, STATUS_UNKNOWN_NAME};
use crate::wire::{FrameType, Header};

/// One session's named-endpoint state: the "unknown name" answers owed to the peer.
#[derive(Default)]
pub(crate) struct SessionNames {
    /// Set when the node's list of names changes; there is never one to announce.
    pub announce_owed: bool,
    replies: VecDeque<(bool, u32)>,
    peer_floor: u32,
}

impl SessionNames {
    pub(crate) fn wants_transmit(&self) -> bool {
        !self.replies.is_empty()
    }

    pub(crate) fn peer_names(&self) -> &[NameAddress] {
        &[]
    }

    pub(crate) fn request(
        &mut self,
        _route: bool,
        _address: NameAddress,
        _data: Bytes,
    ) -> Result<RequestId, NameError> {
        Err(NameError::NotBuilt)
    }

    /// Sends a lost answer again, unless the peer has settled the request since.
    pub(crate) fn on_outcome(&mut self, p: SentPayload, o: Outcome) {
        if let (SentPayload::NameReply { id, route, .. }, Outcome::Lost) = (p, o) {
            if id >= self.peer_floor {
                self.queue_reply(route, id);
            }
        }
    }

    fn queue_reply(&mut self, route: bool, id: u32) {
        // At most one answer per request number in the window is owed.
        if self.replies.len() < 2 * REQUEST_WINDOW as usize && !self.replies.contains(&(route, id)) {
            self.replies.push_back((route, id));
        }
    }

    /// Answers the peer's requests "unknown name". `Err` if the frame is malformed.
    pub(crate) fn on_frame(
        &mut self,
        _handle: SessionHandle,
        header: &Header,
        payload: Bytes,
        _registry: &mut Registry,
        _events: &mut VecDeque<Event>,
    ) -> Result<(), ()> {
        let route = header.frame_type == FrameType::ENDPOINT_ROUTE;
        if header.frame_type == FrameType::ENDPOINT_REGISTER {
            return Ok(());
        }
        let what = if route { "ENDPOINT_ROUTE" } else { "ENDPOINT_RESOLVE" };
        if let NameMessage::Request { id, floor, data, .. } = wn::decode_message(&payload, what).map_err(drop)? {
            self.peer_floor = self.peer_floor.max(floor);
            if id < self.peer_floor {
                return Ok(()); // Settled on the sender's side: a late copy.
            }
            if id - self.peer_floor >= REQUEST_WINDOW || (!route && !data.is_empty()) {
                return Err(());
            }
            self.queue_reply(route, id);
        }
        Ok(())
    }
}

impl Session {
    /// Writes the answers owed into `out[at..]`; returns the new end of the datagram.
    pub(crate) fn write_name_frames(
        &mut self,
        tx: &mut Tx<'_>,
        out: &mut [u8],
        mut at: usize,
        _reg: &Registry,
    ) -> usize {
        if !matches!(self.state, State::Established) {
            return at;
        }
        while let Some(&(route, id)) = self.names.replies.front() {
            let Some(n) = self.emit_name_reply(tx, &mut out[at..], route, id, STATUS_UNKNOWN_NAME) else { return at };
            at += n;
            self.names.replies.pop_front();
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Flags;
    use alloc::vec;

    fn header(t: FrameType) -> Header {
        Header { frame_type: t, session_id: 1, stream_id: 0, sequence: 0, flags: Flags(0) }
    }

    fn request(id: u32, floor: u32, data: &[u8]) -> Bytes {
        let mut b = vec![0u8; wn::REQUEST_HEADER_LEN + data.len()];
        wn::encode_request_header(&mut b, id, floor, &[7; 32]);
        b[wn::REQUEST_HEADER_LEN..].copy_from_slice(data);
        Bytes::from(b)
    }

    #[test]
    fn requests_get_unknown_name_again_after_a_loss_and_bad_ones_are_malformed() {
        let (mut n, mut reg, mut ev) = (SessionNames::default(), Registry::default(), VecDeque::new());
        let h = SessionHandle { index: 0, generation: 0 };
        let resolve = header(FrameType::ENDPOINT_RESOLVE);
        let route = header(FrameType::ENDPOINT_ROUTE);
        assert_eq!(n.on_frame(h, &resolve, request(0, 0, b""), &mut reg, &mut ev), Ok(()));
        assert_eq!(n.on_frame(h, &route, request(1, 0, b"bytes"), &mut reg, &mut ev), Ok(()));
        assert_eq!(n.replies, [(false, 0), (true, 1)]);
        assert!(ev.is_empty(), "nothing is queued for the application");
        assert_eq!(n.on_frame(h, &resolve, request(2, 0, b"data"), &mut reg, &mut ev), Err(()));
        assert_eq!(n.on_frame(h, &resolve, request(REQUEST_WINDOW, 0, b""), &mut reg, &mut ev), Err(()));
        n.replies.clear();
        n.on_outcome(SentPayload::NameReply { id: 1, route: true, status: STATUS_UNKNOWN_NAME }, Outcome::Lost);
        assert_eq!(n.replies, [(true, 1)], "a lost answer is owed again");
        assert_eq!(n.request(false, NameAddress([1; 32]), Bytes::new()), Err(NameError::NotBuilt));
        // A request the peer settled since needs no answer.
        assert_eq!(n.on_frame(h, &resolve, request(5, 5, b""), &mut reg, &mut ev), Ok(()));
        n.replies.clear();
        n.on_outcome(SentPayload::NameReply { id: 1, route: true, status: STATUS_UNKNOWN_NAME }, Outcome::Lost);
        assert!(n.replies.is_empty());
    }
}
