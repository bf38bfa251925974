//! [`SessionRef`]: the application's read-only view of one session.

use super::{Session, SessionState};
use crate::config::EndpointConfig;
use crate::crypto::{ExportError, Suite};
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
    /// Fills `out` with a secret derived from this session's handshake under `label` and
    /// `context`, as TLS's exporter: both ends of the session get the same bytes, every other
    /// session (and every other label or context) different ones, and nobody else can compute
    /// them (`docs/PROTOCOL.md` section 3.5). Use it to key what the application encrypts or
    /// authenticates itself; choose a label of your own (at most 255 bytes) per purpose. Up to
    /// [`crate::MAX_EXPORT_LEN`] bytes.
    ///
    /// An error while the session has no keys (handshaking), for a bad label or length, and for
    /// a label starting with `stt ` (the protocol's own: segment keys, resumption tickets).
    pub fn export_secret(&self, label: &[u8], context: &[u8], out: &mut [u8]) -> Result<(), ExportError> {
        if label.starts_with(b"stt ") {
            return Err(ExportError::ReservedLabel);
        }
        self.s.keys.as_ref().ok_or(ExportError::NotEstablished)?.export(label, context, out)
    }

    /// The key of the segments this end seals for segment stream `stream_id` (section 10): give
    /// it to a [`crate::segment::SegmentEncoder`]; the peer decodes with its
    /// [`SessionRef::segment_decoder_key`] of the same stream id. Each direction has its own key,
    /// so both ends may encode on the same stream id; one end must not run two encoders on one
    /// stream id in one session (the sequence numbers, and so the AEAD nonces, would repeat).
    #[cfg(feature = "segment")]
    pub fn segment_encoder_key(&self, stream_id: u32) -> Result<crate::segment::SegmentKey, ExportError> {
        self.segment_key(stream_id, self.s.role)
    }

    /// The key of the segments the peer seals for segment stream `stream_id`: give it to a
    /// [`crate::segment::SegmentDecoder`].
    #[cfg(feature = "segment")]
    pub fn segment_decoder_key(&self, stream_id: u32) -> Result<crate::segment::SegmentKey, ExportError> {
        let peer = match self.s.role {
            Role::Initiator => Role::Responder,
            Role::Responder => Role::Initiator,
        };
        self.segment_key(stream_id, peer)
    }

    #[cfg(feature = "segment")]
    fn segment_key(&self, stream_id: u32, sealed_by: Role) -> Result<crate::segment::SegmentKey, ExportError> {
        let mut secret = [0u8; crate::crypto::KEY_LEN];
        let sealer = [match sealed_by {
            Role::Initiator => 1u8,
            Role::Responder => 2,
        }];
        let keys = self.s.keys.as_ref().ok_or(ExportError::NotEstablished)?;
        keys.export(crate::crypto::labels::SEGMENT_EXPORT, &sealer, &mut secret)?;
        let key = crate::segment::SegmentKey::derive(&secret, self.s.session_id, stream_id);
        zeroize::Zeroize::zeroize(&mut secret);
        Ok(key)
    }

    /// The label an open stream's opener gave it (this side's own streams too), if any. A peer's
    /// labeled stream is offered to the application only once its label arrived.
    pub fn stream_label(&self, stream: StreamId) -> Option<&'a [u8]> {
        self.s.stream_label(stream)
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
