//! Remote fetch of stored content: a peer that opts in serves its [`Store`] with a
//! [`StoreServer`], and [`fetch`] asks it for one address over one reliable stream. The fetcher
//! hashes what arrives, so a peer that serves wrong bytes is caught, not believed. The bytes on
//! the stream are the core's (`stt_proto::fetch`, where the stt-mio driver's fetcher reads them
//! too); this module adds the tokio fetcher and the server with its memory budget.

use std::fmt::Display;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use stt_proto::fetch::{FetchFailure, FetchReply, FOUND, NOT_FOUND, REFUSED};
use stt_proto::storage::{Address, BlobBackend, BlobChunks, Store, BLOB_CHUNK};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use stt_tokio::{Error, Session, Stream, StreamMode};

pub use stt_proto::fetch::MAGIC;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The reply gave no content: the peer does not hold the address, refused, announced more
    /// than the limit, served bytes that do not match, or answered something undefined (and on
    /// the serving side, a request that is not one, or a store that failed).
    #[error(transparent)]
    Reply(#[from] FetchFailure),
    /// The fetcher acknowledged nothing for this long; its stream was reset.
    #[error("the fetcher took nothing for {0:?}; the request was cut")]
    Stalled(std::time::Duration),
    /// The session or stream failed.
    #[error(transparent)]
    Transport(#[from] Error),
}

impl From<std::io::Error> for FetchError {
    fn from(e: std::io::Error) -> Self {
        FetchError::Transport(Error::Io(e))
    }
}

/// Fetches the content at `address` from the peer of `session`, which must run a
/// [`StoreServer`] on the session's streams. Content longer than `max_len` is refused unread.
/// The content is returned only if its SHA3-256 is `address`.
pub async fn fetch(session: &Session, address: &Address, max_len: u64) -> Result<Vec<u8>, FetchError> {
    let mut stream = session.open_stream(StreamMode::Reliable)?;
    stream.write_all(&stt_proto::fetch::request(address)).await?;
    stream.shutdown().await?;
    let mut reply = FetchReply::new(*address, max_len);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(reply.finish()?);
        }
        if let Err(failure) = reply.push(&buf[..n]) {
            if matches!(failure, FetchFailure::TooLarge { .. }) {
                // Nothing more is read: the server stops sending.
                let _ = stream.send_half().reset(0);
            }
            return Err(failure.into());
        }
        if reply.is_done() {
            return Ok(reply.finish()?);
        }
    }
}

/// Fetch requests one session may have served at once ([`StoreServer::serve_session`]); later
/// streams wait, and past the session's stream limit the peer is refused.
pub const MAX_SERVES_PER_SESSION: usize = 8;

/// What a [`StoreServer`] holds in memory and how long it waits for a fetcher.
#[derive(Clone, Copy, Debug)]
pub struct ServeLimits {
    /// Bytes of content held at once over every request of every session: read from the store
    /// and not yet acknowledged by the fetcher. Default 32 MiB.
    pub budget: u64,
    /// Bytes of content one session's requests together ([`StoreServer::serve_session`]), or
    /// one request served alone ([`StoreServer::serve_stream`]), may have sent and not yet had
    /// acknowledged; a fetcher that stops reading costs the server this much at most, and the
    /// budget serves others. Default 1 MiB (20 MB/s on a 50 ms path).
    pub per_session: u64,
    /// How long a request waits for its fetcher to acknowledge what it sent before the stream is
    /// reset and what it held released. Default 10 s.
    pub progress_timeout: std::time::Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits { budget: 32 << 20, per_session: 1 << 20, progress_timeout: std::time::Duration::from_secs(10) }
    }
}

/// Chunks of [`BLOB_CHUNK`] bytes that `bytes` take, at least one: the unit of the budgets.
fn units(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(BLOB_CHUNK as u64).max(1)).unwrap_or(u32::MAX)
}

/// A chunk of content on its way to a fetcher, and the budget it holds until the stream lets go
/// of it (once the fetcher acknowledged it, or the stream is reset).
struct Held {
    content: Vec<u8>,
    _node: OwnedSemaphorePermit,
    _session: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.content
    }
}

/// Serves a [`Store`] to fetchers, one chunk at a time straight from the store, within
/// [`ServeLimits`]. Cheap to clone; clones serve the same store within the same budget.
pub struct StoreServer<B> {
    store: Arc<Mutex<Store<B>>>,
    budget: Arc<Semaphore>,
    limits: ServeLimits,
}

impl<B> Clone for StoreServer<B> {
    fn clone(&self) -> Self {
        StoreServer { store: self.store.clone(), budget: self.budget.clone(), limits: self.limits }
    }
}

impl<B> StoreServer<B>
where
    B: BlobBackend + Send + 'static,
    B::Error: Display,
{
    /// Serves `store` (shared with the application, which may keep adding to it) within the
    /// default limits.
    pub fn new(store: Arc<Mutex<Store<B>>>) -> Self {
        Self::with_limits(store, ServeLimits::default())
    }

    /// Serves `store` within `limits`.
    pub fn with_limits(store: Arc<Mutex<Store<B>>>, limits: ServeLimits) -> Self {
        let budget = Arc::new(Semaphore::new(units(limits.budget) as usize));
        StoreServer { store, budget, limits }
    }

    /// Answers the fetch request on `stream`, a stream the peer opened. Returns the address
    /// asked for and whether it was served. A stream that does not start with a fetch request
    /// is reset and reported as [`FetchFailure::Protocol`]; a fetcher that leaves what was sent
    /// unacknowledged for [`ServeLimits::progress_timeout`] has its stream reset
    /// ([`FetchError::Stalled`]).
    pub async fn serve_stream(&self, stream: Stream) -> Result<(Address, bool), FetchError> {
        self.serve_within(stream, self.session_budget()).await
    }

    fn session_budget(&self) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(units(self.limits.per_session) as usize))
    }

    /// [`StoreServer::serve_stream`] within `session`, the budget of the requests of one session.
    async fn serve_within(&self, mut stream: Stream, session: Arc<Semaphore>) -> Result<(Address, bool), FetchError> {
        let mut request = [0u8; 36];
        if stream.read_exact(&mut request).await.is_err() || &request[..4] != MAGIC {
            let _ = stream.send_half().reset(0);
            return Err(FetchError::Reply(FetchFailure::Protocol("not a fetch request")));
        }
        let address = Address(request[4..].try_into().expect("32 bytes"));
        let store = self.store.clone();
        // Store reads touch the disk: off the async threads.
        let found = tokio::task::spawn_blocking(move || {
            store.lock().unwrap_or_else(|p| p.into_inner()).chunks(&address).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| FetchError::Reply(FetchFailure::Refused(e.to_string())))?;
        let chunks = match found {
            Ok(Some(chunks)) => chunks,
            Ok(None) => {
                stream.write_all(&[NOT_FOUND]).await?;
                return self.finish(stream, address, false).await;
            }
            Err(message) => return self.refuse(stream, address, &message).await,
        };
        let need = units(chunks.chunk_len());
        if u64::from(need) > u64::from(units(self.limits.per_session)).min(u64::from(units(self.limits.budget))) {
            let message = format!(
                "{address} is stored in one piece of {} bytes (the format of an earlier version), more than this server holds for one request: add the content to the store again",
                chunks.chunk_len()
            );
            return self.refuse(stream, address, &message).await;
        }
        // The first chunk is read (and checked) before anything is promised: a damaged blob of
        // one chunk, the common case, is refused with a reason rather than cut.
        let len = chunks.len();
        let (mut chunks, mut next) = match self.next_chunk(chunks, need, &session).await {
            Ok(first) => first,
            Err(FetchError::Reply(FetchFailure::Refused(message))) => {
                return self.refuse(stream, address, &message).await
            }
            Err(e) => {
                let _ = stream.send_half().reset(0);
                return Err(e);
            }
        };
        let mut head = [0u8; 9];
        head[0] = FOUND;
        head[1..].copy_from_slice(&len.to_be_bytes());
        stream.write_all(&head).await?;
        while let Some(held) = next {
            stream.send_half().write_all_bytes(Bytes::from_owner(held)).await?;
            match self.next_chunk(chunks, need, &session).await {
                Ok((back, read)) => (chunks, next) = (back, read),
                Err(e) => {
                    // A later chunk failed its check after the length was promised.
                    let _ = stream.send_half().reset(0);
                    return Err(e);
                }
            }
        }
        self.finish(stream, address, true).await
    }

    /// The next chunk of the content, read once it may be held: `need` units of the session's
    /// budget (waited for at most the progress timeout: the fetcher must acknowledge what it was
    /// sent) and of the node's. `None` once every chunk was read.
    async fn next_chunk(
        &self,
        mut chunks: BlobChunks,
        need: u32,
        session: &Arc<Semaphore>,
    ) -> Result<(BlobChunks, Option<Held>), FetchError> {
        let timeout = self.limits.progress_timeout;
        let for_session = tokio::time::timeout(timeout, session.clone().acquire_many_owned(need))
            .await
            .map_err(|_| FetchError::Stalled(timeout))?
            .expect("the session's semaphore is never closed");
        // Waits for other requests to make room.
        let for_node = self.budget.clone().acquire_many_owned(need).await.expect("the budget is never closed");
        let store = self.store.clone();
        let (read, chunks) = tokio::task::spawn_blocking(move || {
            let mut content = Vec::new();
            let read = store.lock().unwrap_or_else(|p| p.into_inner()).read_chunk(&mut chunks, &mut content);
            (read.map(|more| more.then_some(content)).map_err(|e| e.to_string()), chunks)
        })
        .await
        .map_err(|e| FetchError::Reply(FetchFailure::Refused(e.to_string())))?;
        let content = read.map_err(|m| FetchError::Reply(FetchFailure::Refused(m)))?;
        Ok((chunks, content.map(|content| Held { content, _node: for_node, _session: for_session })))
    }

    async fn refuse(&self, mut stream: Stream, address: Address, message: &str) -> Result<(Address, bool), FetchError> {
        stream.write_all(&[REFUSED]).await?;
        stream.write_all(message.as_bytes()).await?;
        self.finish(stream, address, false).await
    }

    /// Ends the stream and waits (at most the progress timeout) until the fetcher has it all.
    async fn finish(&self, mut stream: Stream, address: Address, served: bool) -> Result<(Address, bool), FetchError> {
        stream.shutdown().await?;
        match tokio::time::timeout(self.limits.progress_timeout, stream.send_half().flushed()).await {
            Ok(flushed) => flushed?,
            Err(_) => {
                let _ = stream.send_half().reset(0);
                return Err(FetchError::Stalled(self.limits.progress_timeout));
            }
        }
        Ok((address, served))
    }

    /// Serves every stream the peer opens on `session` until the session ends, each in its own
    /// task. For sessions dedicated to fetching; an application that also uses streams for
    /// other things calls [`StoreServer::serve_stream`] on the streams it routes here.
    /// At most [`MAX_SERVES_PER_SESSION`] requests are served at once.
    pub fn serve_session(&self, session: Session) -> JoinHandle<()> {
        let server = self.clone();
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_SERVES_PER_SESSION));
        let budget = self.session_budget();
        tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                let Ok(stream) = session.accept_stream().await else { return };
                let (server, budget) = (server.clone(), budget.clone());
                tokio::spawn(async move {
                    let _ = server.serve_within(stream, budget).await;
                    drop(permit);
                });
            }
        })
    }
}
