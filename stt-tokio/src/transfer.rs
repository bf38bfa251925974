//! Verified transfer of one file (or any byte source) over one reliable stream: the protocol the
//! `stt` tool speaks, usable from applications too.
//!
//! The sender writes, on a stream it opens:
//!
//! ```text
//! u8      version (1)
//! u16     name length N (big-endian), then N bytes of UTF-8 name ("" for stdin)
//! repeat: u32 chunk length L (big-endian, L > 0), then L bytes
//! u32     0 (end of data)
//! [32]    SHA3-256 of all data bytes
//! FIN
//! ```
//!
//! The receiver writes the data to a temporary file beside the destination, checks the digest,
//! syncs, renames the file into place, and answers on the same stream with one status byte
//! (0 verified, 1 digest mismatch, 2 refused name, 3 storage error) followed by a UTF-8 message
//! and FIN. A file is visible under its name only once complete and verified. Data with no name
//! (standard input) is saved as `stdin-<16 hex digits>`.

use std::path::{Path, PathBuf};

use sha3::{Digest, Sha3_256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::stream::RecvStream;
use crate::{Error, Session, StreamMode};

/// Wire version of this protocol.
pub const VERSION: u8 = 1;
/// Largest name accepted.
pub const MAX_NAME: usize = 255;
/// Chunk size the sender uses.
pub const CHUNK: usize = 64 * 1024;

/// The receiver's verdict on a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Stored and verified.
    Verified = 0,
    /// The data did not match the sender's digest; nothing was stored.
    DigestMismatch = 1,
    /// The name was not a plain file name; nothing was stored.
    RefusedName = 2,
    /// The receiver could not store the file.
    StorageError = 3,
}

impl Status {
    fn from_byte(b: u8) -> Option<Status> {
        Some(match b {
            0 => Status::Verified,
            1 => Status::DigestMismatch,
            2 => Status::RefusedName,
            3 => Status::StorageError,
            _ => return None,
        })
    }
}

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The session or stream failed.
    #[error(transparent)]
    Stt(#[from] Error),
    /// Reading the source or writing the destination failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke the transfer protocol.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// The receiver refused or could not verify the file.
    #[error("receiver reported {status:?}: {message}")]
    Rejected {
        /// Its verdict.
        status: Status,
        /// Its explanation.
        message: String,
    },
}

/// What the sender learns.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Data bytes sent.
    pub bytes: u64,
    /// SHA3-256 of the data.
    pub digest: [u8; 32],
}

/// Sends `source` under `name` on a new stream of `session`, and waits for the receiver's
/// verdict. `progress` is called with the running byte count.
pub async fn send(
    session: &Session,
    name: &str,
    mut source: impl AsyncRead + Unpin,
    mut progress: impl FnMut(u64),
) -> Result<Sent, TransferError> {
    if name.len() > MAX_NAME {
        return Err(TransferError::Protocol("name longer than 255 bytes"));
    }
    let (mut tx, mut rx) = session.open_stream(StreamMode::Reliable)?.into_split();
    let mut head = vec![VERSION];
    head.extend_from_slice(&(name.len() as u16).to_be_bytes());
    head.extend_from_slice(name.as_bytes());
    tx.write_all(&head).await?;
    let mut hasher = Sha3_256::new();
    let mut buf = vec![0u8; CHUNK + 4];
    let mut total = 0u64;
    loop {
        let n = read_full(&mut source, &mut buf[4..]).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[4..4 + n]);
        buf[..4].copy_from_slice(&(n as u32).to_be_bytes());
        tx.write_all(&buf[..4 + n]).await?;
        total += n as u64;
        progress(total);
    }
    let digest: [u8; 32] = hasher.finalize().into();
    let mut tail = [0u8; 36];
    tail[4..].copy_from_slice(&digest);
    tx.write_all(&tail).await?;
    tx.finish()?;
    let answer = rx.read_all(4096).await?;
    let (&code, message) = answer.split_first().ok_or(TransferError::Protocol("empty answer"))?;
    let status = Status::from_byte(code).ok_or(TransferError::Protocol("unknown status byte"))?;
    if status != Status::Verified {
        return Err(TransferError::Rejected { status, message: String::from_utf8_lossy(message).into_owned() });
    }
    Ok(Sent { bytes: total, digest })
}

async fn read_full(r: &mut (impl AsyncRead + Unpin), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = r.read(&mut buf[n..]).await?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// What the receiver stored.
#[derive(Clone, Debug)]
pub struct Received {
    /// The sender's name for it ("" for stdin).
    pub name: String,
    /// Where it is now (`None` when written to a sink instead of a directory).
    pub path: Option<PathBuf>,
    /// Data bytes.
    pub bytes: u64,
    /// SHA3-256 of the data, equal to the sender's.
    pub digest: [u8; 32],
}

/// Where received data goes.
pub enum Destination<'a, W> {
    /// A file named by the sender, in this directory.
    Dir(&'a Path),
    /// A writer (for example stdout); the digest is checked at the end.
    Sink(&'a mut W),
}

/// True if `name` is a plain file name (no path separators, not `.` or `..`, not hidden).
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).file_name().is_some_and(|f| f == name)
}

/// Receives one transfer from `stream` and answers the sender.
pub async fn receive<W: AsyncWrite + Unpin>(
    stream: crate::Stream,
    dest: Destination<'_, W>,
    mut progress: impl FnMut(u64),
) -> Result<Received, TransferError> {
    let (mut tx, mut rx) = stream.into_split();
    let result = receive_data(&mut rx, dest, &mut progress).await;
    let (status, message) = match &result {
        Ok(_) => (Status::Verified, String::from("verified")),
        Err(TransferError::Rejected { status, message }) => (*status, message.clone()),
        Err(e) => (Status::StorageError, e.to_string()),
    };
    let mut answer = vec![status as u8];
    answer.extend_from_slice(message.as_bytes());
    // The sender may be gone already; its error is the one that matters then.
    if tx.write_all(&answer).await.is_ok() {
        let _ = tx.finish();
        let _ = tx.flushed().await;
    }
    result
}

async fn receive_data<W: AsyncWrite + Unpin>(
    rx: &mut RecvStream,
    dest: Destination<'_, W>,
    progress: &mut impl FnMut(u64),
) -> Result<Received, TransferError> {
    let mut head = [0u8; 3];
    rx.read_exact(&mut head).await?;
    if head[0] != VERSION {
        return Err(TransferError::Protocol("unknown transfer version"));
    }
    let name_len = u16::from_be_bytes([head[1], head[2]]) as usize;
    if name_len > MAX_NAME {
        return Err(TransferError::Protocol("name longer than 255 bytes"));
    }
    let mut name = vec![0u8; name_len];
    rx.read_exact(&mut name).await?;
    let name = String::from_utf8(name).map_err(|_| TransferError::Protocol("name is not UTF-8"))?;
    match dest {
        Destination::Dir(dir) => {
            let name = if name.is_empty() {
                // Standard input has no name: give it one that cannot collide.
                format!("stdin-{}", hex8(&crate::shared::random_bytes()))
            } else {
                name
            };
            if !is_plain_name(&name) {
                return Err(TransferError::Rejected {
                    status: Status::RefusedName,
                    message: format!("refused name {name:?}: send a plain file name"),
                });
            }
            let final_path = dir.join(&name);
            let tmp = dir.join(format!(".{name}.{}.partial", hex8(&crate::shared::random_bytes())));
            let stored = async {
                let mut file = tokio::fs::File::create(&tmp).await?;
                let (bytes, digest) = copy_chunks(rx, &mut file, progress).await?;
                file.sync_all().await?;
                drop(file);
                tokio::fs::rename(&tmp, &final_path).await?;
                Ok::<_, TransferError>((bytes, digest))
            }
            .await;
            match stored {
                Ok((bytes, digest)) => Ok(Received { name, path: Some(final_path), bytes, digest }),
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    Err(e)
                }
            }
        }
        Destination::Sink(w) => {
            let (bytes, digest) = copy_chunks(rx, w, progress).await?;
            w.flush().await?;
            Ok(Received { name, path: None, bytes, digest })
        }
    }
}

fn hex8(b: &[u8; 32]) -> String {
    b[..8].iter().map(|x| format!("{x:02x}")).collect()
}

/// Copies the chunked data to `w`, then checks the sender's digest.
async fn copy_chunks<W: AsyncWrite + Unpin>(
    rx: &mut RecvStream,
    w: &mut W,
    progress: &mut impl FnMut(u64),
) -> Result<(u64, [u8; 32]), TransferError> {
    let mut hasher = Sha3_256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let mut len = [0u8; 4];
        rx.read_exact(&mut len).await?;
        let mut left = u32::from_be_bytes(len) as usize;
        if left == 0 {
            break;
        }
        while left > 0 {
            let k = left.min(buf.len());
            rx.read_exact(&mut buf[..k]).await?;
            hasher.update(&buf[..k]);
            w.write_all(&buf[..k]).await?;
            left -= k;
            total += k as u64;
        }
        progress(total);
    }
    let mut theirs = [0u8; 32];
    rx.read_exact(&mut theirs).await?;
    let ours: [u8; 32] = hasher.finalize().into();
    if ours != theirs {
        return Err(TransferError::Rejected {
            status: Status::DigestMismatch,
            message: "SHA3-256 of the received data differs from the sender's".into(),
        });
    }
    Ok((total, ours))
}
