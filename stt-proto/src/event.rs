//! What the endpoint tells its driver: [`Event`]s, and the typed reasons inside them
//! ([`HandshakeError`], [`CloseReason`]).

use alloc::boxed::Box;
use alloc::string::String;
use bytes::Bytes;
use core::time::Duration;

use crate::crypto::SessionSecrets;

use crate::message::{MessageId, MessageRefusal};
use crate::names::{NameAddress, NameReply, RequestId};
use crate::stream::StreamId;
use crate::types::{Direction, NodeId, Remote, Role, SessionHandle};

/// Something that happened on the endpoint. Drain with [`crate::Endpoint::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A handshake completed; the session can carry data.
    SessionEstablished {
        /// The session.
        session: SessionHandle,
        /// The authenticated peer.
        peer: NodeId,
        /// The session id both sides agreed on.
        session_id: u64,
        /// Where the peer is.
        remote: Remote,
        /// Which side of the handshake this node was.
        role: Role,
    },
    /// A handshake failed. On the initiator `session` is the handle `connect` returned; on the
    /// responder it is `None` (no state was kept for the attempt).
    HandshakeFailed {
        /// The session that will not be established, if one had been created.
        session: Option<SessionHandle>,
        /// The other side of the attempt.
        remote: Remote,
        /// The node id the peer claimed, if it got that far.
        peer: Option<NodeId>,
        /// Why.
        reason: HandshakeError,
    },
    /// The peer sent a custom frame (type 0x80–0xFF).
    Frame {
        /// The session it arrived on.
        session: SessionHandle,
        /// Its type, 0x80–0xFF.
        frame_type: u8,
        /// Its payload, a zero-copy slice of the received datagram.
        payload: Bytes,
    },
    /// The session ended; its handle is no longer valid. Received stream data the application
    /// had not read is dropped with it (also when the peer closed).
    SessionClosed {
        /// The session.
        session: SessionHandle,
        /// Why.
        reason: CloseReason,
    },
    /// The peer acknowledged this node's ping (`SessionMut::ping`), or something sent after it.
    PingAnswered {
        /// The session.
        session: SessionHandle,
        /// The round trip of the newest frame that acknowledgement newly covered, less the delay
        /// the peer reports having held it back (believed up to `EndpointConfig::max_ack_delay`;
        /// not taken off if it is as long as the round trip).
        rtt: Duration,
    },
    /// A traffic key was replaced by the next generation.
    KeyRotated {
        /// The session.
        session: SessionHandle,
        /// Which direction's key.
        direction: Direction,
        /// The new key generation (0 is the handshake's key).
        generation: u32,
    },
    /// The peer opened a stream; take it with `SessionMut::accept_stream`.
    StreamOpened {
        /// The session.
        session: SessionHandle,
        /// The stream.
        stream: StreamId,
        /// True for a live stream.
        live: bool,
    },
    /// A stream has data (or its end, or a skipped gap) to read.
    StreamReadable {
        /// The session.
        session: SessionHandle,
        /// The stream.
        stream: StreamId,
    },
    /// The peer finished its side of a stream and every byte before the end has arrived.
    StreamFinished {
        /// The session.
        session: SessionHandle,
        /// The stream.
        stream: StreamId,
    },
    /// The peer reset its side of a stream.
    StreamReset {
        /// The session.
        session: SessionHandle,
        /// The stream.
        stream: StreamId,
        /// The peer's code.
        code: u32,
    },
    /// A stream whose `write` was short or blocked can take more bytes.
    StreamWritable {
        /// The session.
        session: SessionHandle,
        /// The stream.
        stream: StreamId,
    },
    /// An authenticated frame arrived from a new address or transport; the session now sends there.
    SessionMigrated {
        /// The session.
        session: SessionHandle,
        /// The new remote.
        remote: Remote,
    },
    /// The peer answered a resolve or route request of this node.
    NameReply {
        /// The session the request went out on.
        session: SessionHandle,
        /// The request, as `SessionMut::resolve` or `SessionMut::route` returned it.
        request: RequestId,
        /// The answer.
        reply: NameReply,
    },
    /// Bytes routed to a name this node serves were queued; take them with
    /// `Endpoint::recv_named`.
    NameReadable {
        /// The name's address.
        name: NameAddress,
    },
    /// The peer announced a new list of the names it serves (`SessionRef::peer_names`).
    PeerNamesChanged {
        /// The session.
        session: SessionHandle,
    },
    /// A whole reliable message arrived (one event per message); take it with
    /// `SessionMut::recv_message`.
    MessageReadable {
        /// The session.
        session: SessionHandle,
    },
    /// The message lane has room again after `send_message` returned `Blocked`.
    MessageWritable {
        /// The session.
        session: SessionHandle,
    },
    /// A datagram was dropped, whole or in part; only when
    /// [`crate::EndpointConfig::report_drops`] is on, and at most as many as diagnostic events
    /// may wait (the counters in [`crate::EndpointStats`] count every drop).
    Dropped {
        /// Where it came from.
        remote: Remote,
        /// The session id of its first frame's header, if it had one (for a handshake frame of
        /// types 1-3 and REJECT it is the handshake tag, not a session id).
        session_id: Option<u64>,
        /// Which checks failed: the names of the [`crate::EndpointDrops`] counters it raised
        /// (`malformed`, `unknown_session`, `session_authentication`, ...).
        reasons: alloc::vec::Vec<&'static str>,
    },
    /// A session's traffic secrets, for a key log; only when [`crate::EndpointConfig::key_log`]
    /// is on. Comes once per session, just before its `SessionEstablished`. Write
    /// [`SessionSecrets::key_log_line`] where the user asked, and nowhere else.
    KeyLog {
        /// The session.
        session: SessionHandle,
        /// Its generation-0 secrets (every later generation follows from them).
        secrets: Box<SessionSecrets>,
    },
    /// The peer did not deliver `count` messages this node sent, from `first` on.
    MessagesRefused {
        /// The session.
        session: SessionHandle,
        /// The first message refused, as `SessionMut::send_message` returned it.
        first: MessageId,
        /// How many messages, numbered consecutively from `first`.
        count: u64,
        /// Why.
        reason: MessageRefusal,
    },
}

/// Why a handshake failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer does not hold the same shared seed as this node.
    #[error("authentication failed: the peer does not hold the same shared seed")]
    AuthenticationFailed,
    /// The two nodes allow no AEAD suite in common.
    #[error("no common AEAD suite: allow at least one suite the peer also allows")]
    SuiteMismatch,
    /// The peer's node id is not on the allow-list, or no shared seed is configured for it.
    #[error("peer not allowed: add its node id to the allow-list or give it a shared seed")]
    PeerNotAllowed,
    /// The responder does not accept incoming sessions.
    #[error("the peer is not accepting sessions (server mode is off)")]
    ServerModeOff,
    /// The peer's node id is not the one `connect_to` expected.
    #[error("the peer's node id is not the one expected")]
    UnexpectedPeer,
    /// The node that answered `connect` has its own shared seed in this node's table, and
    /// `connect` used the default seed: open the session with `connect_to(addr, peer)`.
    #[error("the peer has its own shared seed on this node: connect with connect_to(addr, peer) to use it")]
    PeerHasOwnSeed,
    /// The two nodes speak different protocol versions: upgrade the older one.
    #[error("the peer speaks another version of the STT protocol: run the same version on both nodes")]
    UnsupportedVersion,
    /// No answer within the handshake timeout: the peer is unreachable, not running, or (in
    /// stealth mode) silently refused us.
    #[error("handshake timed out: the peer is unreachable or silently refused the handshake")]
    Timeout,
    /// This node stopped accepting the shared seed the handshake used (the end of a seed
    /// rotation's grace period) before the handshake completed: connect again.
    #[error("the shared seed this handshake used was retired (seed rotation): connect again")]
    SeedRetired,
}

impl HandshakeError {
    /// The error a REJECT with reason `r` means to the initiator (and to the responder's
    /// diagnostics).
    pub(crate) fn rejected(r: crate::wire::handshake::RejectReason) -> Self {
        use crate::wire::handshake::RejectReason;
        match r {
            RejectReason::AuthenticationFailed => HandshakeError::AuthenticationFailed,
            RejectReason::SuiteMismatch => HandshakeError::SuiteMismatch,
            RejectReason::PeerNotAllowed => HandshakeError::PeerNotAllowed,
            RejectReason::ServerModeOff => HandshakeError::ServerModeOff,
            RejectReason::UnsupportedVersion => HandshakeError::UnsupportedVersion,
        }
    }
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer sent DISCONNECT.
    ClosedByPeer {
        /// The peer's code.
        code: u32,
        /// The peer's reason.
        reason: String,
    },
    /// This node closed the session; DISCONNECT was sent.
    ClosedLocally {
        /// The code sent.
        code: u32,
        /// The reason sent.
        reason: String,
    },
    /// Nothing authentic arrived for the idle timeout.
    IdleTimeout,
    /// Data or a keepalive went unacknowledged through `probes` probe timeouts in a row, and
    /// nothing authentic arrived for [`crate::EndpointConfig::unreachable_after`]: the peer
    /// vanished (it stopped, or the path broke). No DISCONNECT was sent.
    Unreachable {
        /// Probe timeouts in a row when the session gave up.
        probes: u32,
    },
    /// The packet-number space is exhausted (2^64 frames); open a new session.
    PacketNumbersExhausted,
}

impl core::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CloseReason::ClosedByPeer { code, reason } => write!(f, "closed by peer (code {code}): {reason}"),
            CloseReason::ClosedLocally { code, reason } => write!(f, "closed locally (code {code}): {reason}"),
            CloseReason::IdleTimeout => f.write_str("idle timeout: nothing received from the peer"),
            CloseReason::Unreachable { probes } => {
                write!(f, "the peer stopped answering: {probes} probe timeouts with nothing acknowledged")
            }
            CloseReason::PacketNumbersExhausted => f.write_str("packet numbers exhausted"),
        }
    }
}
