//! [`Session`]: one authenticated, encrypted session with a peer: streams, custom frames,
//! reliable messages, statistics, path changes and close.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stt_proto::segment::SegmentKey;
use stt_proto::{
    Channel, CloseReason, ExportError, Message, MessageError, MessageId, NodeId, PathStats, Remote, SessionHandle,
    SessionStats, StreamMode,
};
use tokio::sync::oneshot;

use crate::shared::{Owner, SessionShared};
use crate::stream::Stream;
use crate::Error;

/// An established session. Cheap to clone; all clones are the same session. While a handle
/// (or one of its streams) exists, its node keeps running.
#[derive(Clone)]
pub struct Session {
    pub(crate) shared: Arc<SessionShared>,
    owner: Option<Arc<Owner>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &format_args!("{:016x}", self.shared.session_id))
            .field("peer", &self.shared.peer)
            .finish()
    }
}

impl PartialEq for Session {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared.node, &other.shared.node) && self.shared.handle == other.shared.handle
    }
}

impl Eq for Session {}

impl Session {
    pub(crate) fn from_shared(shared: Arc<SessionShared>) -> Self {
        let owner = shared.node.keep_alive();
        Session { shared, owner }
    }

    /// The peer's node id (authenticated by the handshake).
    pub fn peer(&self) -> NodeId {
        self.shared.peer
    }

    /// The session id both sides agreed on.
    pub fn session_id(&self) -> u64 {
        self.shared.session_id
    }

    /// The core's handle for this session (as found in [`stt_proto::Event`]s).
    pub fn handle(&self) -> SessionHandle {
        self.shared.handle
    }

    /// Where the peer is now, or `None` once the session ended.
    pub fn remote(&self) -> Option<Remote> {
        let st = self.shared.node.lock();
        st.ep.session(self.shared.handle).map(|s| s.remote())
    }

    /// Statistics, or `None` once the session ended.
    pub fn stats(&self) -> Option<SessionStats> {
        let st = self.shared.node.lock();
        st.ep.session(self.shared.handle).map(|s| s.stats())
    }

    /// Streams the session holds now (opened by either side and not yet over in both
    /// directions), or `None` once the session ended.
    pub fn stream_count(&self) -> Option<usize> {
        let st = self.shared.node.lock();
        st.ep.session(self.shared.handle).map(|s| s.stream_count())
    }

    /// When the session was created: the initiator's `connect`, or the responder's receipt of
    /// the handshake's third message.
    pub fn created_at(&self) -> std::time::Instant {
        self.shared.created
    }

    /// Keeps `value` under `key` on this session, for the application only: never sent, never
    /// read by STT, shared by every clone of this handle, dropped once the session has ended and
    /// its last handle is gone.
    /// True if it replaced a value.
    ///
    /// ```no_run
    /// # async fn demo(session: stt_tokio::Session) {
    /// session.set_metadata("viewer", String::from("alice"));
    /// let name = session.metadata::<String>("viewer");
    /// assert_eq!(name.as_deref().map(String::as_str), Some("alice"));
    /// # }
    /// ```
    pub fn set_metadata<T: std::any::Any + Send + Sync>(&self, key: impl Into<String>, value: T) -> bool {
        self.metadata_lock().insert(key, value)
    }

    /// The value kept under `key` with [`Session::set_metadata`], if there is one of type `T`.
    pub fn metadata<T: std::any::Any + Send + Sync>(&self, key: &str) -> Option<std::sync::Arc<T>> {
        self.metadata_lock().get(key)
    }

    /// Removes the value kept under `key`; true if there was one.
    pub fn remove_metadata(&self, key: &str) -> bool {
        self.metadata_lock().remove(key)
    }

    /// The keys of the values kept on this session.
    pub fn metadata_keys(&self) -> Vec<String> {
        self.metadata_lock().keys().map(String::from).collect()
    }

    fn metadata_lock(&self) -> std::sync::MutexGuard<'_, stt_common::Metadata> {
        self.shared.metadata.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When an authentic frame from the peer last arrived, or `None` once the session ended.
    pub fn last_active_at(&self) -> Option<std::time::Instant> {
        let st = self.shared.node.lock();
        let last = st.ep.session(self.shared.handle).map(|s| s.stats().last_active)?;
        Some(self.shared.node.std_instant(last))
    }

    /// RTT, congestion window and losses, or `None` once the session ended.
    pub fn path_stats(&self) -> Option<PathStats> {
        let st = self.shared.node.lock();
        st.ep.session(self.shared.handle).map(|s| s.path_stats())
    }

    /// Fills `out` with a secret this session exports under `label` and `context`: the peer's
    /// session gives the same bytes for the same label and context, every other session
    /// different ones (TLS's exporter; `docs/PROTOCOL.md` section 3.5). Fails once the session
    /// ended, or for a label over 255 bytes or a length of 0 or over 8,160.
    ///
    /// ```no_run
    /// # async fn f(session: stt_tokio::Session) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut key = [0u8; 32];
    /// session.export_secret(b"my-app file key", b"report.csv", &mut key)?;
    /// # Ok(()) }
    /// ```
    pub fn export_secret(&self, label: &[u8], context: &[u8], out: &mut [u8]) -> Result<(), ExportError> {
        let st = self.shared.node.lock();
        st.ep.session(self.shared.handle).ok_or(ExportError::NotEstablished)?.export_secret(label, context, out)
    }

    /// The key of the segments this end seals on segment stream `stream_id`, for a
    /// [`stt_proto::segment::SegmentEncoder`]; the peer decodes them with its
    /// [`Session::segment_decoder_key`] of the same id. Fails once the session ended.
    pub fn segment_encoder_key(&self, stream_id: u32) -> Result<SegmentKey, ExportError> {
        let st = self.shared.node.lock();
        st.ep.session(self.shared.handle).ok_or(ExportError::NotEstablished)?.segment_encoder_key(stream_id)
    }

    /// The key of the segments the peer seals on segment stream `stream_id`, for a
    /// [`stt_proto::segment::SegmentDecoder`]. Fails once the session ended.
    pub fn segment_decoder_key(&self, stream_id: u32) -> Result<SegmentKey, ExportError> {
        let st = self.shared.node.lock();
        st.ep.session(self.shared.handle).ok_or(ExportError::NotEstablished)?.segment_decoder_key(stream_id)
    }

    /// Measures one round trip to the peer: sends a KEEPALIVE and waits for its acknowledgement
    /// (or that of anything sent after it), and returns the time it took less the delay the peer
    /// reports having held the acknowledgement back. Fails if the session ends first (a peer that
    /// never answers ends it as `Unreachable`).
    pub async fn ping(&self) -> Result<Duration, Error> {
        let rx = self.shared.with(|mut s, slot| {
            s.ping()?;
            let (tx, rx) = oneshot::channel();
            // Callers that gave up waiting (a timeout dropped their future) leave nothing behind.
            slot.ping_waiters.retain(|w| !w.is_closed());
            slot.ping_waiters.push(tx);
            Ok(rx)
        })?;
        rx.await.map_err(|_| self.shared.gone())
    }

    /// Why the session ended, if it did.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.closed.get().cloned()
    }

    /// Opens a stream (reliable, or live with a deadline).
    pub fn open_stream(&self, mode: StreamMode) -> Result<Stream, Error> {
        let id = self.shared.with(|mut s, _| Ok(s.open_stream(mode)?))?;
        Ok(Stream::new(self.shared.clone(), self.owner.clone(), id, None))
    }

    /// Opens a stream with a label that says what it carries (1 to 64 bytes, never interpreted,
    /// as the seeds' "stream 1 = video"): the peer has it before the data, from
    /// [`Stream::label`] or [`Session::accept_labeled_stream`]. Fails with
    /// `StreamError::LabelsUnsupported` if the peer runs a version of STT without labels.
    ///
    /// ```no_run
    /// # async fn f(session: stt_tokio::Session) -> Result<(), stt_tokio::Error> {
    /// use stt_tokio::StreamMode;
    /// let video = session.open_labeled_stream(StreamMode::Reliable, b"video")?;
    /// // At the peer: let video = session.accept_labeled_stream(b"video").await?;
    /// # Ok(()) }
    /// ```
    pub fn open_labeled_stream(&self, mode: StreamMode, label: &[u8]) -> Result<Stream, Error> {
        let id = self.shared.with(|mut s, _| Ok(s.open_labeled_stream(mode, label)?))?;
        Ok(Stream::new(self.shared.clone(), self.owner.clone(), id, Some(Bytes::copy_from_slice(label))))
    }

    /// The next stream the peer opened, labeled or not ([`Stream::label`]).
    pub async fn accept_stream(&self) -> Result<Stream, Error> {
        self.accept_where(|s| s.accept_stream()).await
    }

    /// The next stream the peer opened with `label`; streams with other labels, or none, stay
    /// for [`Session::accept_stream`] (and [`crate::Node::incoming`]).
    pub async fn accept_labeled_stream(&self, label: &[u8]) -> Result<Stream, Error> {
        self.accept_where(|s| s.accept_labeled_stream(label)).await
    }

    async fn accept_where(
        &self,
        mut take: impl FnMut(&mut stt_proto::SessionMut<'_>) -> Option<stt_proto::StreamId>,
    ) -> Result<Stream, Error> {
        loop {
            let notified = self.shared.notify.notified();
            let taken = self.shared.with(|mut s, _| {
                Ok(take(&mut s).map(|id| (id, s.as_ref().stream_label(id).map(Bytes::copy_from_slice))))
            })?;
            if let Some((id, label)) = taken {
                return Ok(Stream::new(self.shared.clone(), self.owner.clone(), id, label));
            }
            notified.await;
        }
    }

    /// Sends a custom frame (type 0x80–0xFF), encrypted, best-effort like a datagram.
    pub fn send_frame(&self, frame_type: u8, payload: impl Into<Bytes>) -> Result<(), Error> {
        let payload = payload.into();
        self.shared.with(|mut s, _| Ok(s.send_frame(frame_type, payload)?))
    }

    /// Sends one whole message to `channel` (a custom frame type or a routed name), reliably and
    /// in order; waits while the message lane's send buffer is full. The peer receives it whole
    /// with [`Session::recv_message`] (or [`crate::Node::incoming`]), after every message this
    /// session sent before it. Up to the node's `max_message_size` (16 MiB by default); if the
    /// peer refuses the message (larger than its limit, or a name it does not serve), the
    /// node's event stream reports `Event::MessagesRefused` with the returned id, and a warning
    /// is logged.
    pub async fn send_message(&self, channel: Channel, payload: impl Into<Bytes>) -> Result<MessageId, Error> {
        let payload = payload.into();
        loop {
            let notified = self.shared.notify.notified();
            match self.shared.with(|mut s, _| Ok(s.send_message(channel, payload.clone())?)) {
                Err(Error::Message(MessageError::Blocked)) => notified.await,
                r => return r,
            }
        }
    }

    /// The next whole message the peer sent, in the order it sent them.
    pub async fn recv_message(&self) -> Result<Message, Error> {
        loop {
            let notified = self.shared.notify.notified();
            if let Some(m) = self.try_recv_message()? {
                return Ok(m);
            }
            notified.await;
        }
    }

    /// The next whole message if one is waiting now.
    pub fn try_recv_message(&self) -> Result<Option<Message>, Error> {
        self.shared.with(|mut s, _| Ok(s.recv_message()))
    }

    /// Replaces this node's send key with the next generation as soon as the rotation rules
    /// allow (see `stt_proto::SessionMut::rotate_keys`).
    pub fn rotate_keys(&self) -> Result<(), Error> {
        self.shared.with(|mut s, _| Ok(s.rotate_keys()?))
    }

    /// Largest custom-frame payload on the current path.
    pub fn max_frame_payload(&self) -> Option<usize> {
        let st = self.shared.node.lock();
        st.ep.session(self.shared.handle).map(|s| s.max_frame_payload())
    }

    /// The next custom frame of a type with no handler registered on the node. Up to 1,024
    /// frames wait per session; past that the oldest is dropped for the newest (custom frames
    /// are best-effort, fresh ones matter more) and counted in `NodeStats::frames_dropped`.
    pub async fn recv_frame(&self) -> Result<(u8, Bytes), Error> {
        loop {
            let notified = self.shared.notify.notified();
            {
                let mut st = self.shared.node.lock();
                match st.sessions.get_mut(&self.shared.handle) {
                    Some(slot) => {
                        if let Some(f) = slot.frames.pop() {
                            return Ok(f);
                        }
                    }
                    None => return Err(self.shared.gone()),
                }
            }
            notified.await;
        }
    }

    /// Waits until every stream's written data (and FIN) is acknowledged by the peer.
    pub async fn flush(&self) -> Result<(), Error> {
        self.shared.wait_flushed(None).await
    }

    /// Closes the session: the peer receives DISCONNECT with `code` and `reason`. Stream data not
    /// yet acknowledged is abandoned; call [`Session::flush`] first to deliver it. As in QUIC,
    /// data the peer's node received but its application has not read yet is dropped there when
    /// DISCONNECT arrives: if the peer's application must have read it, wait for its answer (or
    /// let it close) instead. Returns once DISCONNECT is sent.
    pub async fn close(&self, code: u32, reason: &str) {
        self.close_nowait(code, reason);
        self.closed().await;
    }

    pub(crate) fn close_nowait(&self, code: u32, reason: &str) {
        let now = self.shared.node.now();
        let _ = self.shared.with(|s, _| {
            s.close(now, code, reason);
            Ok(())
        });
    }

    /// Waits until the session ends and says why.
    pub async fn closed(&self) -> CloseReason {
        loop {
            let notified = self.shared.notify.notified();
            if let Some(r) = self.shared.closed.get() {
                return r.clone();
            }
            {
                let st = self.shared.node.lock();
                if st.stopped || !st.sessions.contains_key(&self.shared.handle) {
                    return self
                        .shared
                        .closed
                        .get()
                        .cloned()
                        .unwrap_or(CloseReason::ClosedLocally { code: 0, reason: "node shut down".into() });
                }
            }
            notified.await;
        }
    }

    /// Moves this session to a WebSocket connection to `url` (the same peer's WebSocket
    /// listener). Data in flight is not lost: the peer follows the first authenticated frame that
    /// arrives over the new connection.
    pub async fn switch_to_websocket(&self, url: &str) -> Result<(), Error> {
        let peer = crate::ws::connect(self.shared.node.clone(), url).await?;
        self.shared.with(|mut s, _| {
            s.set_remote(Remote::websocket(peer));
            Ok(())
        })
    }
}
