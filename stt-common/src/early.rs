//! 0-RTT data as both drivers take it ([`EarlyData`]): the custom frames and messages an
//! application queues on a session before its INIT goes, which travel with a resumed INIT.

use bytes::Bytes;
use stt_proto::{Channel, EarlyDataError, Instant, SessionMut};

use crate::Error;

/// What to send with the handshake of a new session (`connect_early` in both drivers): custom
/// frames and messages, queued before the INIT goes. When the node holds a resumption ticket for
/// the peer, they travel with the INIT as 0-RTT data (as much as fits in its datagram; the rest
/// follows once the session is open) and the peer has them half a round trip later; without a
/// ticket they go once the session is open, as ordinary data.
///
/// Put only what may be acted on before the peer's node has proved itself in this session and
/// what is safe to receive once even if an attacker replays the INIT: the responder takes each
/// ticket once, so 0-RTT data is delivered at most once, but it is not forward-secret (whoever
/// later holds the ticket's secret and the shared seed can read it).
#[derive(Clone, Debug, Default)]
pub struct EarlyData {
    /// Custom frames (type 0x80–0xFF, payload): sent once, as custom frames always are.
    pub frames: Vec<(u8, Bytes)>,
    /// Reliable messages: delivered whole, sent again under the session's keys if the 0-RTT copy
    /// was lost or refused.
    pub messages: Vec<(Channel, Bytes)>,
}

impl EarlyData {
    /// Adds a custom frame.
    pub fn frame(mut self, frame_type: u8, payload: impl Into<Bytes>) -> Self {
        self.frames.push((frame_type, payload.into()));
        self
    }

    /// Adds a message.
    pub fn message(mut self, channel: Channel, payload: impl Into<Bytes>) -> Self {
        self.messages.push((channel, payload.into()));
        self
    }

    /// Queues this data on `session`, whose INIT has not gone yet; returns true if it goes as
    /// 0-RTT data (the handshake resumes), false if it waits for the session to open. When a
    /// frame or message is refused, the session is closed (at `now`) and the error returned:
    /// the application asked for a session with this data, not without it.
    pub fn queue(self, mut session: SessionMut<'_>, now: Instant) -> Result<bool, Error> {
        let queued = self.queue_on(&mut session);
        if queued.is_err() {
            session.close(now, 0, "could not queue its early data");
        }
        queued
    }

    fn queue_on(self, session: &mut SessionMut<'_>) -> Result<bool, Error> {
        let zero_rtt = match session.allow_early_data() {
            Ok(()) => true,
            Err(EarlyDataError::NotResumed) => false,
            Err(e) => return Err(Error::EarlyData(e)),
        };
        for (frame_type, payload) in self.frames {
            session.send_frame(frame_type, payload)?;
        }
        for (channel, payload) in self.messages {
            session.send_message(channel, payload)?;
        }
        Ok(zero_rtt)
    }
}
