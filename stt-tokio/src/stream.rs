//! [`Stream`]: one byte stream of a session, with `AsyncRead`/`AsyncWrite`, and its halves
//! [`SendStream`] and [`RecvStream`] for use from two tasks.
//!
//! A half locks the node for one core call; when the core has nothing to read, or no room to
//! write, the half leaves its waker with the node and the driver wakes it on the matching core
//! event (`StreamReadable`, `StreamWritable`).

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use stt_proto::{StreamError, StreamId, StreamRead};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::shared::{Owner, SessionShared};
use crate::Error;

/// A bidirectional stream. `AsyncRead + AsyncWrite`; [`Stream::into_split`] gives halves.
pub struct Stream {
    send: SendStream,
    recv: RecvStream,
    label: Option<Bytes>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("session_id", &format_args!("{:016x}", self.send.session.session_id))
            .field("id", &self.send.id.0)
            .finish()
    }
}

impl Stream {
    pub(crate) fn new(
        session: Arc<SessionShared>,
        owner: Option<Arc<Owner>>,
        id: StreamId,
        label: Option<Bytes>,
    ) -> Stream {
        Stream {
            label,
            send: SendStream { session: session.clone(), _owner: owner.clone(), id, finished: false },
            recv: RecvStream {
                session,
                _owner: owner,
                id,
                leftover: Bytes::new(),
                eof: false,
                skipped: 0,
                position: 0,
            },
        }
    }

    /// The stream id (odd: opened by the initiator; even: by the responder).
    pub fn id(&self) -> StreamId {
        self.send.id
    }

    /// What the opener said the stream carries ([`crate::Session::open_labeled_stream`]), if it
    /// said.
    pub fn label(&self) -> Option<&Bytes> {
        self.label.as_ref()
    }

    /// The halves, each usable from its own task.
    pub fn into_split(self) -> (SendStream, RecvStream) {
        (self.send, self.recv)
    }

    /// The sending half.
    pub fn send_half(&mut self) -> &mut SendStream {
        &mut self.send
    }

    /// The receiving half.
    pub fn recv_half(&mut self) -> &mut RecvStream {
        &mut self.recv
    }
}

/// The sending half of a stream.
pub struct SendStream {
    session: Arc<SessionShared>,
    _owner: Option<Arc<Owner>>,
    id: StreamId,
    finished: bool,
}

impl SendStream {
    /// The stream id.
    pub fn id(&self) -> StreamId {
        self.id
    }

    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(&mut stt_proto::SessionMut<'_>) -> Result<usize, StreamError>,
    ) -> Poll<Result<usize, Error>> {
        let id = self.id;
        let r = self.session.with(|mut s, slot| {
            let r = write(&mut s);
            if let Err(StreamError::Blocked) = r {
                slot.write_wakers.insert(id.0, cx.waker().clone());
            }
            Ok(r)
        });
        match r {
            Ok(Ok(n)) => Poll::Ready(Ok(n)),
            Ok(Err(StreamError::Blocked)) => Poll::Pending,
            Ok(Err(e)) => Poll::Ready(Err(e.into())),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Writes all of `data` without copying it (the stream keeps slices until acknowledged).
    pub async fn write_all_bytes(&mut self, mut data: Bytes) -> Result<(), Error> {
        let id = self.id;
        while !data.is_empty() {
            let n = poll_fn(|cx| {
                let chunk = &data;
                self.poll_write_with(cx, |s| s.write_bytes(id, chunk))
            })
            .await?;
            let _ = data.split_to(n);
        }
        Ok(())
    }

    /// Ends the stream after what was written (FIN). Idempotent.
    pub fn finish(&mut self) -> Result<(), Error> {
        if self.finished {
            return Ok(());
        }
        let id = self.id;
        self.session.with(|mut s, _| Ok(s.finish(id)?))?;
        self.finished = true;
        Ok(())
    }

    /// Abandons the stream: unsent data is dropped and the peer's reads fail with `code`.
    pub fn reset(&mut self, code: u32) -> Result<(), Error> {
        let id = self.id;
        self.finished = true;
        self.session.with(|mut s, _| Ok(s.reset(id, code)?))
    }

    /// Waits until everything written (and the FIN, if finished) is acknowledged by the peer.
    pub async fn flushed(&self) -> Result<(), Error> {
        self.session.wait_flushed(Some(self.id)).await
    }
}

impl AsyncWrite for SendStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let id = this.id;
        this.poll_write_with(cx, |s| s.write(id, buf)).map_err(io::Error::from)
    }

    /// Written bytes are already with the protocol, which sends them as the congestion window
    /// allows; to wait for the peer's acknowledgement use [`SendStream::flushed`].
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Sends FIN after what was written.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().finish().map_err(io::Error::from))
    }
}

/// The receiving half of a stream.
pub struct RecvStream {
    session: Arc<SessionShared>,
    _owner: Option<Arc<Owner>>,
    id: StreamId,
    leftover: Bytes,
    eof: bool,
    skipped: u64,
    /// Bytes of the stream consumed by `read_record` (data and skipped gaps).
    position: u64,
}

impl RecvStream {
    /// The stream id.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Live streams: bytes skipped so far because they missed their deadline.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped
    }

    fn poll_read_piece(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<StreamRead>, Error>> {
        if self.eof {
            return Poll::Ready(Ok(None));
        }
        let id = self.id;
        let r = self.session.with(|mut s, slot| {
            let r = s.read(id)?;
            if r.is_none() {
                slot.read_wakers.insert(id.0, cx.waker().clone());
            }
            Ok(r)
        });
        match r {
            Ok(None) => Poll::Pending,
            Ok(Some(StreamRead::Finished)) => {
                self.eof = true;
                Poll::Ready(Ok(None))
            }
            Ok(Some(StreamRead::Skipped { bytes, segments })) => {
                self.skipped += bytes;
                Poll::Ready(Ok(Some(StreamRead::Skipped { bytes, segments })))
            }
            Ok(Some(data)) => Poll::Ready(Ok(Some(data))),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// The next piece of the stream: data (zero-copy), or on live streams a skipped gap; `None`
    /// at the end.
    pub async fn read_piece(&mut self) -> Result<Option<StreamRead>, Error> {
        if !self.leftover.is_empty() {
            return Ok(Some(StreamRead::Data(std::mem::take(&mut self.leftover))));
        }
        poll_fn(|cx| self.poll_read_piece(cx)).await
    }

    /// The next received bytes (zero-copy), skipping over gaps of live streams; `None` at the end.
    pub async fn read_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            match self.read_piece().await? {
                Some(StreamRead::Data(b)) => return Ok(Some(b)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The next whole record of a stream cut into records of `record.len()` bytes, written into
    /// `record`; returns its index (its position in the stream divided by the record size), or
    /// `None` at the end. On a live stream a skipped gap loses the records it touches and no
    /// more: reading resumes at the next record boundary, and the index shows the jump. A
    /// partial record at the end is discarded. Positions are counted from the first
    /// `read_record` call, so read a record stream with this method only.
    pub async fn read_record(&mut self, record: &mut [u8]) -> Result<Option<u64>, Error> {
        let size = record.len() as u64;
        assert!(size > 0, "records must be at least one byte");
        // `filled` bytes of `record` are the start of the record at `position - filled`.
        let mut filled = 0usize;
        loop {
            let data = match self.read_piece().await? {
                None => return Ok(None),
                Some(StreamRead::Skipped { bytes, .. }) => {
                    self.position += bytes;
                    filled = 0;
                    continue;
                }
                Some(StreamRead::Data(b)) => b,
                Some(StreamRead::Finished) => return Ok(None),
            };
            let mut at = 0;
            while at < data.len() {
                let into = (self.position % size) as usize;
                let take = (size as usize - into).min(data.len() - at);
                if into == filled {
                    record[filled..filled + take].copy_from_slice(&data[at..at + take]);
                    filled += take;
                } // else: the tail of a record whose start was skipped.
                at += take;
                self.position += take as u64;
                if self.position.is_multiple_of(size) {
                    if filled == size as usize {
                        if at < data.len() {
                            self.leftover = data.slice(at..);
                        }
                        return Ok(Some(self.position / size - 1));
                    }
                    filled = 0;
                }
            }
        }
    }

    /// Reads everything until the end, refusing more than `limit` bytes.
    pub async fn read_all(&mut self, limit: usize) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        while let Some(b) = self.read_chunk().await? {
            if out.len() + b.len() > limit {
                return Err(Error::Io(io::Error::new(io::ErrorKind::InvalidData, "stream longer than the limit")));
            }
            out.extend_from_slice(&b);
        }
        Ok(out)
    }
}

impl AsyncRead for RecvStream {
    /// Fills `buf` with as many received pieces as are ready, under one lock of the node (a
    /// piece is one datagram's worth); skipped gaps of live streams are passed over (see
    /// [`RecvStream::skipped_bytes`]).
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.leftover.is_empty() {
            let n = this.leftover.len().min(buf.remaining());
            buf.put_slice(&this.leftover.split_to(n));
            return Poll::Ready(Ok(()));
        }
        if this.eof || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let (id, start) = (this.id, buf.filled().len());
        let RecvStream { session, leftover, eof, skipped, .. } = this;
        let r = session.with(|mut s, slot| {
            while buf.remaining() > 0 {
                match s.read(id)? {
                    Some(StreamRead::Data(mut b)) => {
                        let n = b.len().min(buf.remaining());
                        buf.put_slice(&b.split_to(n));
                        *leftover = b;
                    }
                    Some(StreamRead::Skipped { bytes, .. }) => *skipped += bytes,
                    Some(StreamRead::Finished) => {
                        *eof = true;
                        break;
                    }
                    None => {
                        if buf.filled().len() == start {
                            slot.read_wakers.insert(id.0, cx.waker().clone());
                        }
                        break;
                    }
                }
            }
            Ok(())
        });
        match r {
            Err(e) => Poll::Ready(Err(e.into())),
            Ok(()) if buf.filled().len() == start && !*eof => Poll::Pending,
            Ok(()) => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().recv).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().send).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().send).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().send).poll_shutdown(cx)
    }
}
