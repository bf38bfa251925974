//! Per-session statistics.

use crate::time::Instant;
use core::time::Duration;

/// Counters of frames a session received but did not accept, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Failed AEAD authentication (tampered, corrupted, or under an unknown key).
    pub authentication: u64,
    /// Packet number already seen or older than the replay window.
    pub replayed: u64,
    /// Authenticated, but the payload is malformed.
    pub malformed: u64,
    /// Authenticated frame of a type this version does not handle yet.
    pub unsupported: u64,
}

impl DropCounters {
    /// Sum of all counters.
    pub fn total(&self) -> u64 {
        self.authentication + self.replayed + self.malformed + self.unsupported
    }
}

/// Statistics of one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionStats {
    /// When the session was created (connect, or the responder's receipt of RESPONSE).
    pub created: Instant,
    /// When an authentic frame last arrived.
    pub last_active: Instant,
    /// Frames sent (all types, handshake included).
    pub frames_sent: u64,
    /// Bytes of frames sent, headers included.
    pub bytes_sent: u64,
    /// Authentic frames received.
    pub frames_received: u64,
    /// Bytes of authentic frames received, headers included.
    pub bytes_received: u64,
    /// Datagrams sent carrying this session's frames.
    pub datagrams_sent: u64,
    /// Frames dropped, by reason.
    pub dropped: DropCounters,
    /// Current send and receive key generations.
    pub key_generations: (u32, u32),
    /// Handshake round-trip time as measured by the initiator.
    pub handshake_rtt: Option<Duration>,
}

impl SessionStats {
    pub(crate) fn new(now: Instant) -> Self {
        SessionStats {
            created: now,
            last_active: now,
            frames_sent: 0,
            bytes_sent: 0,
            frames_received: 0,
            bytes_received: 0,
            datagrams_sent: 0,
            dropped: DropCounters::default(),
            key_generations: (0, 0),
            handshake_rtt: None,
        }
    }
}
