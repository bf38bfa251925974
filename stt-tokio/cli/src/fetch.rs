//! Remote fetch of stored content: a peer that opts in serves its [`Store`] with a
//! [`StoreServer`], and [`fetch`] asks it for one address over one reliable stream. The fetcher
//! hashes what arrives, so a peer that serves wrong bytes is caught, not believed.
//!
//! On the stream the fetcher opens:
//!
//! ```text
//! fetcher: "STF1" || address (32) || FIN
//! server:  status (1) || ...  || FIN
//!          0 found:      length (8, big-endian) || content
//!          1 not found:  nothing
//!          2 refused:    UTF-8 message (the server's copy is damaged, or its store failed)
//! ```

use std::fmt::Display;
use std::sync::{Arc, Mutex};

use stt_proto::storage::{Address, BlobBackend, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use stt_tokio::{Error, Session, Stream, StreamMode};

/// First bytes of a fetch request.
pub const MAGIC: &[u8; 4] = b"STF1";
const FOUND: u8 = 0;
const NOT_FOUND: u8 = 1;
const REFUSED: u8 = 2;
/// Largest refusal message read.
const MAX_MESSAGE: u64 = 4096;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The peer does not hold the address.
    #[error("the peer does not hold {0}")]
    NotFound(Address),
    /// What the peer sent does not hash to the address (or is not as long as it said): the peer
    /// is lying or its copy is damaged. Nothing it sent is returned.
    #[error("the peer served bytes that do not match {0}; not accepted")]
    Integrity(Address),
    /// The content is larger than the fetcher's limit; nothing more was read.
    #[error("the content is {len} bytes, over the {max}-byte limit of this fetch")]
    TooLarge {
        /// Length the peer announced.
        len: u64,
        /// The limit given to `fetch`.
        max: u64,
    },
    /// The peer refused (its copy is damaged, or its store failed); its message says why.
    #[error("the peer refused: {0}")]
    Refused(String),
    /// The peer answered something this protocol does not define.
    #[error("malformed fetch reply: {0}")]
    Protocol(&'static str),
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
    let mut request = [0u8; 36];
    request[..4].copy_from_slice(MAGIC);
    request[4..].copy_from_slice(&address.0);
    stream.write_all(&request).await?;
    stream.shutdown().await?;
    let status = stream.read_u8().await.map_err(|_| FetchError::Protocol("no status"))?;
    match status {
        FOUND => {}
        NOT_FOUND => return Err(FetchError::NotFound(*address)),
        REFUSED => {
            let mut msg = Vec::new();
            (&mut stream).take(MAX_MESSAGE).read_to_end(&mut msg).await?;
            return Err(FetchError::Refused(String::from_utf8_lossy(&msg).into_owned()));
        }
        _ => return Err(FetchError::Protocol("unknown status")),
    }
    let len = stream.read_u64().await.map_err(|_| FetchError::Protocol("no length"))?;
    if len > max_len {
        let _ = stream.send_half().reset(0);
        return Err(FetchError::TooLarge { len, max: max_len });
    }
    // Grown as bytes arrive, never reserved from the peer's claim.
    let mut content = Vec::with_capacity(len.min(FIRST_RESERVE) as usize);
    // One byte more than announced, to notice a peer that sends more than it said.
    (&mut stream).take(len + 1).read_to_end(&mut content).await?;
    if content.len() as u64 != len || Address::of(&content) != *address {
        return Err(FetchError::Integrity(*address));
    }
    Ok(content)
}

/// What a fetcher reserves before content arrives, at most.
const FIRST_RESERVE: u64 = 1 << 20;

/// Fetch requests one session may have served at once ([`StoreServer::serve_session`]); later
/// streams wait, and past the session's stream limit the peer is refused.
pub const MAX_SERVES_PER_SESSION: usize = 8;

/// Serves a [`Store`] to fetchers. Cheap to clone; clones serve the same store.
pub struct StoreServer<B> {
    store: Arc<Mutex<Store<B>>>,
}

impl<B> Clone for StoreServer<B> {
    fn clone(&self) -> Self {
        StoreServer { store: self.store.clone() }
    }
}

impl<B> StoreServer<B>
where
    B: BlobBackend + Send + 'static,
    B::Error: Display,
{
    /// Serves `store` (shared with the application, which may keep adding to it).
    pub fn new(store: Arc<Mutex<Store<B>>>) -> Self {
        StoreServer { store }
    }

    /// Answers the fetch request on `stream`, a stream the peer opened. Returns the address
    /// asked for and whether it was served. A stream that does not start with a fetch request
    /// is reset and reported as [`FetchError::Protocol`].
    pub async fn serve_stream(&self, mut stream: Stream) -> Result<(Address, bool), FetchError> {
        let mut request = [0u8; 36];
        if stream.read_exact(&mut request).await.is_err() || &request[..4] != MAGIC {
            let _ = stream.send_half().reset(0);
            return Err(FetchError::Protocol("not a fetch request"));
        }
        let address = Address(request[4..].try_into().expect("32 bytes"));
        let store = self.store.clone();
        // Store reads may touch the disk: off the async threads.
        let found = tokio::task::spawn_blocking(move || {
            store.lock().unwrap_or_else(|p| p.into_inner()).get(&address).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| FetchError::Refused(e.to_string()))?;
        let served = matches!(found, Ok(Some(_)));
        match found {
            Ok(Some(content)) => {
                let mut head = [0u8; 9];
                head[0] = FOUND;
                head[1..].copy_from_slice(&(content.len() as u64).to_be_bytes());
                stream.write_all(&head).await?;
                stream.write_all(&content).await?;
            }
            Ok(None) => stream.write_all(&[NOT_FOUND]).await?,
            Err(message) => {
                stream.write_all(&[REFUSED]).await?;
                stream.write_all(message.as_bytes()).await?;
            }
        }
        stream.shutdown().await?;
        stream.send_half().flushed().await?;
        Ok((address, served))
    }

    /// Serves every stream the peer opens on `session` until the session ends, each in its own
    /// task. For sessions dedicated to fetching; an application that also uses streams for
    /// other things calls [`StoreServer::serve_stream`] on the streams it routes here.
    /// At most [`MAX_SERVES_PER_SESSION`] requests are served at once (each holds its blob in
    /// memory).
    pub fn serve_session(&self, session: Session) -> JoinHandle<()> {
        let server = self.clone();
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_SERVES_PER_SESSION));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                let Ok(stream) = session.accept_stream().await else { return };
                let server = server.clone();
                tokio::spawn(async move {
                    let _ = server.serve_stream(stream).await;
                    drop(permit);
                });
            }
        })
    }
}
