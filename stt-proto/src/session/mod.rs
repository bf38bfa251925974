//! Sessions: one authenticated, encrypted association with one peer.
//!
//! A session is created by `connect` (initiator, state `Handshaking`) or by a valid RESPONSE
//! (responder, state `Established`). It owns its keys, its outgoing queue, its timers and its
//! statistics; the endpoint owns the table of sessions and routes frames to them by session id.
//!
//! ```text
//! Handshaking --CONFIRM or first authentic frame--> Established --close()--> Closing --DISCONNECT sent--> (removed)
//!      |                                                 |
//!      +--reject / timeout--> (removed)                  +--DISCONNECT received / idle timeout--> (removed)
//! ```

mod handle;
pub(crate) mod keys;
mod stats;

pub use handle::{SendError, SessionMut, SessionRef};
pub use stats::{DropCounters, SessionStats};

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use bytes::Bytes;

use crate::config::{NodeId, Seed};
use crate::crypto::Suite;
use crate::endpoint::Remote;
use crate::time::Instant;
use keys::SessionKeys;

/// Identifies a session on its endpoint. Stays unique for the endpoint's lifetime: a handle of a
/// closed session never names another session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Which side of the handshake this node was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sent INIT.
    Initiator,
    /// Answered INIT.
    Responder,
}

/// A session's state, as seen from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// The handshake is in progress (initiator only).
    Handshaking,
    /// Data can flow.
    Established,
    /// `close` was called; DISCONNECT is queued behind the frames already accepted.
    Closing,
}

/// The initiator's handshake progress.
pub(crate) struct InitiatorHandshake {
    pub nonce_i: [u8; 32],
    pub seed: Seed,
    pub k_hs: [u8; 32],
    pub expected_peer: Option<NodeId>,
    pub started: Instant,
    pub deadline: Instant,
    pub next_retransmit: Instant,
    pub interval: core::time::Duration,
    /// After CHALLENGE: what RESPONSE must carry.
    pub response: Option<ResponseState>,
}

/// Fields of the RESPONSE the initiator (re)sends.
pub(crate) struct ResponseState {
    pub node_id_r: [u8; 32],
    pub nonce_r: [u8; 32],
    pub suite: Suite,
    pub cookie: crate::wire::handshake::Cookie,
    pub k_response: [u8; 32],
    pub k_confirm: [u8; 32],
}

pub(crate) enum State {
    Handshaking(Box<InitiatorHandshake>),
    Established,
    Closing,
}

/// A frame waiting to be sent.
pub(crate) enum Outgoing {
    /// INIT or RESPONSE, by handshake stage.
    Handshake,
    /// CONFIRM (responder, for a RESPONSE received again).
    Confirm,
    Custom {
        frame_type: u8,
        payload: Bytes,
    },
    Keepalive,
    Disconnect {
        code: u32,
        reason: String,
    },
}

pub(crate) struct Session {
    pub session_id: u64,
    pub role: Role,
    pub remote: Remote,
    pub peer: Option<NodeId>,
    pub state: State,
    pub keys: Option<SessionKeys>,
    /// Responder: the nonces of the handshake, to recognise a retransmitted RESPONSE.
    pub nonces: Option<([u8; 32], [u8; 32])>,
    /// Responder: MAC key for CONFIRM.
    pub k_confirm: [u8; 32],
    pub stats: SessionStats,
    pub queue: VecDeque<Outgoing>,
    pub custom_queued: usize,
    pub keepalive_queued: bool,
    pub last_sent: Instant,
    pub scheduled: Option<Instant>,
    pub in_ready_queue: bool,
}

impl Session {
    pub fn public_state(&self) -> SessionState {
        match self.state {
            State::Handshaking(_) => SessionState::Handshaking,
            State::Established => SessionState::Established,
            State::Closing => SessionState::Closing,
        }
    }

    /// Earliest instant at which this session has something to do on its own.
    pub fn next_deadline(&self, cfg: &crate::config::EndpointConfig) -> Option<Instant> {
        match &self.state {
            State::Handshaking(h) => Some(h.next_retransmit.min(h.deadline)),
            State::Closing => None,
            State::Established => {
                let mut t = self.stats.last_active + cfg.idle_timeout;
                if let Some(ka) = cfg.keep_alive_interval.filter(|_| !self.keepalive_queued) {
                    t = t.min(self.last_sent + ka);
                }
                if let Some(keys) = &self.keys {
                    if let Some(r) = keys.send_rotation_deadline(&cfg.key_rotation, cfg.key_retention) {
                        t = t.min(r);
                    }
                    if let Some(d) = keys.previous_key_deadline() {
                        t = t.min(d);
                    }
                }
                Some(t)
            }
        }
    }
}
