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

pub(crate) mod ack;
mod handle;
pub(crate) mod io;
pub(crate) mod keys;
mod stats;

pub use handle::{PathStats, SendError, SessionMut, SessionRef};
pub use stats::{DropCounters, SessionStats};

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use bytes::Bytes;

use crate::config::{EndpointConfig, NodeId, Seed};
use crate::crypto::{Suite, TAG_LEN};
use crate::endpoint::Remote;
use crate::names::SessionNames;
use crate::recovery::Recovery;
use crate::stream::{StreamLimits, Streams};
use crate::time::Instant;
use crate::wire::{aad_of, frame_len, write_skeleton, Flags, FrameType, Header};
use ack::AckTracker;
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
    /// The application chose `remote` (`SessionMut::set_remote`): authenticated frames from
    /// elsewhere are accepted but do not move the session.
    pub remote_pinned: bool,
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
    pub streams: Streams,
    pub recovery: Recovery,
    pub acks: AckTracker,
    /// New stream data waits for the pacer until then.
    pub pacing_until: Option<Instant>,
    /// Probe frames that may go out whatever the congestion window (after a probe timeout).
    pub probes_owed: u8,
    /// Named-endpoint announcements, requests and replies.
    pub names: SessionNames,
}

/// What to put in an encrypted frame's header besides the session id and key-phase bits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameSpec {
    pub frame_type: FrameType,
    pub stream_id: u32,
    pub sequence: u32,
    pub flags: Flags,
}

impl FrameSpec {
    pub const fn control(frame_type: FrameType) -> Self {
        FrameSpec { frame_type, stream_id: 0, sequence: 0, flags: Flags(0) }
    }
}

/// Result of sealing one frame into the transmit buffer.
pub(crate) enum Sealed {
    Written { len: usize, pn: u64, rotated: Option<u32> },
    NoRoom,
    NoKeys,
    Exhausted,
}

impl Session {
    pub(crate) fn new(
        now: Instant,
        role: Role,
        remote: Remote,
        state: State,
        queue: VecDeque<Outgoing>,
        cfg: &EndpointConfig,
    ) -> Session {
        let limits = StreamLimits {
            max_concurrent: cfg.max_concurrent_streams,
            stream_window: cfg.stream_receive_window,
            session_window: cfg.session_receive_window,
            send_buffer: cfg.stream_send_buffer,
            default_live_deadline: cfg.default_live_deadline,
        };
        let mss = cfg.max_datagram(remote.transport) as u64;
        Session {
            session_id: 0,
            role,
            remote,
            remote_pinned: false,
            peer: None,
            state,
            keys: None,
            nonces: None,
            k_confirm: [0; 32],
            stats: SessionStats::new(now),
            queue,
            custom_queued: 0,
            keepalive_queued: false,
            last_sent: now,
            scheduled: None,
            in_ready_queue: false,
            streams: Streams::new(role == Role::Initiator, limits),
            recovery: Recovery::new((cfg.congestion)(mss.min(1500)), cfg.max_ack_delay, mss.min(1500)),
            acks: AckTracker::default(),
            pacing_until: None,
            probes_owed: 0,
            names: SessionNames::default(),
        }
    }

    /// Seals one encrypted frame into `out` under the current send key.
    pub(crate) fn seal_frame(
        &mut self,
        now: Instant,
        cfg: &EndpointConfig,
        out: &mut [u8],
        spec: FrameSpec,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Sealed {
        let n = frame_len(payload_len);
        if out.len() < n {
            return Sealed::NoRoom;
        }
        let sid = self.session_id;
        let Some(keys) = self.keys.as_mut() else { return Sealed::NoKeys };
        let rotated = keys.maybe_rotate_send(now, &cfg.key_rotation, cfg.key_retention);
        let Some(pn) = keys.next_packet_number() else { return Sealed::Exhausted };
        let header = Header {
            frame_type: spec.frame_type,
            session_id: sid,
            stream_id: spec.stream_id,
            sequence: spec.sequence,
            flags: keys.flags(spec.flags),
        };
        let out = &mut out[..n];
        let (payload, tag) = write_skeleton(out, &header, payload_len, pn);
        fill(&mut out[payload.clone()]);
        let aad = aad_of(out);
        let t: [u8; TAG_LEN] = keys.seal(pn, &aad, &mut out[payload]);
        out[tag].copy_from_slice(&t);
        Sealed::Written { len: n, pn, rotated }
    }

    /// Queues a KEEPALIVE unless one is queued already; true if it queued one.
    pub fn queue_keepalive(&mut self) -> bool {
        if self.keepalive_queued {
            return false;
        }
        self.keepalive_queued = true;
        self.queue.push_back(Outgoing::Keepalive);
        true
    }

    /// True once the handshake completed.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established | State::Closing)
    }

    /// True if `poll_transmit` would write something for this session now.
    pub fn wants_transmit(&self, now: Instant) -> bool {
        if !self.queue.is_empty() || self.acks.due(now) {
            return true;
        }
        if !matches!(self.state, State::Established) {
            return false;
        }
        let st = &self.streams;
        !st.control_queue.is_empty()
            || !st.refusals.is_empty()
            || st.session_credit_owed
            || self.names.wants_transmit()
            || (!st.send_queue.is_empty()
                && self.pacing_until.is_none_or(|t| t <= now)
                && self.recovery.window_allows(crate::wire::FRAME_OVERHEAD as u64))
    }

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
                let others = [
                    self.acks.deadline(),
                    self.recovery.deadline(),
                    self.pacing_until.filter(|_| !self.streams.send_queue.is_empty()),
                    self.streams.next_gap_deadline(),
                ];
                Some(others.into_iter().flatten().fold(t, Instant::min))
            }
        }
    }
}
