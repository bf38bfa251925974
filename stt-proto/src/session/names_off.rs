//! Named endpoints in a build without the `names` feature: the node serves no name, so every
//! resolve or route request of the peer is answered "unknown name" (nothing is queued, so a
//! repeated request gets the same answer), announcements and replies are ignored, and the
//! application's own requests are refused with [`NameError::NotBuilt`]. Same interface as
//! `names.rs`.

use alloc::collections::VecDeque;
use bytes::Bytes;

use super::send::{FrameSpec, Tx};
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
}

impl SessionNames {
    pub fn wants_transmit(&self) -> bool {
        !self.replies.is_empty()
    }

    pub fn peer_names(&self) -> &[NameAddress] {
        &[]
    }

    pub fn request(&mut self, _route: bool, _address: NameAddress, _data: Bytes) -> Result<RequestId, NameError> {
        Err(NameError::NotBuilt)
    }

    /// A lost answer is not repeated: the peer repeats its request.
    pub fn on_outcome(&mut self, _p: SentPayload, _o: Outcome) {}

    /// Answers the peer's requests "unknown name". `Err` if the frame is malformed.
    pub fn on_frame(
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
        if let NameMessage::Request { id, .. } = wn::decode_message(&payload, what).map_err(drop)? {
            if self.replies.len() < REQUEST_WINDOW as usize {
                self.replies.push_back((route, id));
            }
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
            let t = if route { FrameType::ENDPOINT_ROUTE } else { FrameType::ENDPOINT_RESOLVE };
            let fill = |p: &mut [u8]| wn::encode_reply(p, id, STATUS_UNKNOWN_NAME);
            let track = SentPayload::NameReply { id, route, status: STATUS_UNKNOWN_NAME };
            let Some(n) = self.emit(tx, &mut out[at..], FrameSpec::control(t), wn::REPLY_LEN, fill, Some(track)) else {
                return at;
            };
            at += n;
            self.names.replies.pop_front();
        }
        at
    }
}
