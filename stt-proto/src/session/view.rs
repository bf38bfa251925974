//! [`SessionRef`]: the application's read-only view of one session.

use super::{Session, SessionState};
use crate::config::EndpointConfig;
use crate::crypto::Suite;
use crate::names::NameAddress;
use crate::stats::{PathStats, SessionStats};
use crate::stream::StreamId;
use crate::types::{NodeId, Remote, Role, SessionHandle};
use crate::wire::FRAME_OVERHEAD;

/// Largest custom-frame payload on a path.
pub(super) fn max_frame_payload(cfg: &EndpointConfig, remote: &Remote) -> usize {
    cfg.max_datagram(remote.transport) - FRAME_OVERHEAD
}

/// Read-only view of a session.
#[derive(Clone, Copy)]
pub struct SessionRef<'a> {
    handle: SessionHandle,
    s: &'a Session,
    cfg: &'a EndpointConfig,
}

impl<'a> SessionRef<'a> {
    pub(crate) fn new(handle: SessionHandle, s: &'a Session, cfg: &'a EndpointConfig) -> Self {
        SessionRef { handle, s, cfg }
    }

    /// The handle.
    pub fn handle(&self) -> SessionHandle {
        self.handle
    }
    /// Handshaking, established or closing.
    pub fn state(&self) -> SessionState {
        self.s.public_state()
    }
    /// Which side of the handshake this node was.
    pub fn role(&self) -> Role {
        self.s.role
    }
    /// The session id (zero until the initiator has received CHALLENGE).
    pub fn session_id(&self) -> u64 {
        self.s.session_id
    }
    /// The peer's node id, once known.
    pub fn peer(&self) -> Option<NodeId> {
        self.s.peer
    }
    /// Where the peer is now.
    pub fn remote(&self) -> Remote {
        self.s.remote
    }
    /// The negotiated AEAD suite, once known.
    pub fn suite(&self) -> Option<Suite> {
        self.s.keys.as_ref().map(|k| k.suite())
    }
    /// Statistics.
    pub fn stats(&self) -> SessionStats {
        self.s.stats
    }
    /// Bytes received on this session's streams and not yet read by the application (in order
    /// or out of order). Never more than the credit this side granted.
    pub fn receive_buffered(&self) -> u64 {
        self.s.streams.buffered()
    }

    /// Open streams (the message lanes, which carry reliable messages, not counted).
    pub fn stream_count(&self) -> usize {
        self.s.streams.app_stream_count()
    }

    /// Smoothed round-trip time, congestion window and frames declared lost.
    pub fn path_stats(&self) -> PathStats {
        let r = &self.s.recovery;
        PathStats {
            rtt: r.rtt().smoothed(),
            congestion_window: r.window(),
            in_flight: r.in_flight(),
            lost_frames: r.lost_frames(),
            spurious_losses: r.spurious_losses(),
            delivered: r.delivered(),
            pacing_rate: r.pacing_rate(),
            congestion_phase: r.congestion_phase(),
            reordering_window: r.reordering_window(),
            probe_timeouts: r.probe_timeouts(),
        }
    }

    /// True when `stream`'s sending side has delivered everything written to it: every byte
    /// (and the FIN, if requested) acknowledged by the peer. A stream that is no longer open
    /// (finished both ways and forgotten, or never opened) counts as flushed.
    pub fn stream_flushed(&self, stream: StreamId) -> bool {
        self.s.streams.is_send_flushed(stream.0)
    }

    /// True when every open stream is flushed (see [`SessionRef::stream_flushed`]). Drivers
    /// wait for this before closing a session gracefully.
    pub fn streams_flushed(&self) -> bool {
        self.s.streams.all_send_flushed()
    }

    /// Largest custom-frame payload on the current path.
    pub fn max_frame_payload(&self) -> usize {
        max_frame_payload(self.cfg, &self.s.remote)
    }

    /// Largest message `SessionMut::route` takes on the current path.
    pub fn max_route_payload(&self) -> usize {
        max_frame_payload(self.cfg, &self.s.remote) - crate::wire::names::REQUEST_HEADER_LEN
    }

    /// Reliable messages waiting to be taken with `SessionMut::recv_message`.
    pub fn messages_ready(&self) -> usize {
        self.s.messages_ready()
    }

    /// The names the peer last announced it serves (empty until it announces any).
    pub fn peer_names(&self) -> &'a [NameAddress] {
        self.s.names.peer_names()
    }
}
