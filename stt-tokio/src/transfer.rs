//! Verified transfer of one file (or any byte source) over one reliable stream: the protocol the
//! `stt` tool speaks, usable from applications too.
//!
//! The sender writes, on a stream it opens:
//!
//! ```text
//! u8      version (2)
//! u16     name length N (big-endian), then N bytes of UTF-8 name ("" for stdin)
//! u64     data length (big-endian), or 2^64-1 if the sender does not know it (stdin)
//! repeat: u32 chunk length L (big-endian, L > 0), then L bytes
//! u32     0 (end of data)
//! [32]    SHA3-256 of all data bytes
//! FIN
//! ```
//!
//! A receiver refuses an announced length over its limit (`TooLarge`) or over the free space of
//! its directory (`NoSpace`) at once, before any data is written, and a transfer whose data is
//! longer or shorter than announced.
//!
//! The receiver writes the data to a temporary file beside the destination (`.stt-<16 hex
//! digits>.partial`, whatever the name's length), checks the digest, syncs, moves the file into
//! place, and answers on the same stream with one status byte (0 verified, 1 digest mismatch,
//! 2 refused name, 3 storage error, 4 too large, 5 no space) followed by a UTF-8 message and FIN. A file is visible under
//! its name only once complete and verified. An existing file is never replaced (unless the
//! receiver asked for [`Destination::DirReplace`]): the new one is stored as `name (1).ext`,
//! `name (2).ext`, …, and the verified message says `verified as <stored name>`. Data with no
//! name (standard input) is saved as `stdin-<16 hex digits>`. Names with control characters are
//! refused.

use std::path::{Path, PathBuf};

use sha3::{Digest, Sha3_256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Error, Session, StreamMode};

/// Wire version of this protocol.
pub const VERSION: u8 = 2;
/// The data length a sender announces when it does not know it (standard input).
pub const UNKNOWN_LENGTH: u64 = u64::MAX;
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
    /// The data exceeded the receiver's size limit; nothing was stored.
    TooLarge = 4,
    /// The announced length exceeds the free space of the receiver's directory; nothing was
    /// stored.
    NoSpace = 5,
}

impl Status {
    fn from_byte(b: u8) -> Option<Status> {
        Some(match b {
            0 => Status::Verified,
            1 => Status::DigestMismatch,
            2 => Status::RefusedName,
            3 => Status::StorageError,
            4 => Status::TooLarge,
            5 => Status::NoSpace,
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
    /// The name the receiver stored the file under, when it is not the name sent (a file of
    /// that name existed there).
    pub stored_as: Option<String>,
}

/// Sends `source` under `name` on a new stream of `session`, and waits for the receiver's
/// verdict. `len` is the data length if known (a file's size): the receiver then refuses at once
/// what it cannot store, and the source must deliver exactly that many bytes. `progress` is
/// called with the running byte count.
pub async fn send(
    session: &Session,
    name: &str,
    len: Option<u64>,
    mut source: impl AsyncRead + Unpin,
    mut progress: impl FnMut(u64),
) -> Result<Sent, TransferError> {
    if name.len() > MAX_NAME {
        return Err(TransferError::Protocol("name longer than 255 bytes"));
    }
    let (mut tx, mut rx) = session.open_stream(StreamMode::Reliable)?.into_split();
    let writing = async {
        let mut head = vec![VERSION];
        head.extend_from_slice(&(name.len() as u16).to_be_bytes());
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(&len.unwrap_or(UNKNOWN_LENGTH).to_be_bytes());
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
        if len.is_some_and(|l| l != total) {
            // The receiver refuses it too; say why from this side.
            return Err(TransferError::Protocol("the source's length changed while it was sent"));
        }
        let digest: [u8; 32] = hasher.finalize().into();
        let mut tail = [0u8; 36];
        tail[4..].copy_from_slice(&digest);
        tx.write_all(&tail).await?;
        tx.finish()?;
        Ok::<_, TransferError>((total, digest))
    };
    // The receiver may refuse before the end (a size limit) and stop reading: its verdict is
    // read while the data is still being written, and ends the transfer when it comes first.
    let reading = rx.read_all(4096);
    tokio::pin!(writing, reading);
    let first = tokio::select! {
        // When both are ready (the session ended after the verdict came), the verdict wins.
        biased;
        a = &mut reading => Err(a),
        w = &mut writing => Ok(w),
    };
    let (written, answer) = match first {
        Ok(w) => (Some(w?), reading.await?),
        Err(a) => (None, a?),
    };
    let (&code, message) = answer.split_first().ok_or(TransferError::Protocol("empty answer"))?;
    let status = Status::from_byte(code).ok_or(TransferError::Protocol("unknown status byte"))?;
    let message = String::from_utf8_lossy(message).into_owned();
    if status != Status::Verified {
        return Err(TransferError::Rejected { status, message });
    }
    let Some((total, digest)) = written else {
        return Err(TransferError::Protocol("the receiver confirmed before the data ended"));
    };
    let stored_as = message.strip_prefix(VERIFIED_AS).map(str::to_owned);
    Ok(Sent { bytes: total, digest, stored_as })
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
    /// True when a file of the sender's name existed and this one was stored under another
    /// (`path` says which).
    pub stored_as_other: bool,
}

/// The verified message's prefix when the file was stored under another name.
const VERIFIED_AS: &str = "verified as ";

/// How many other names (`name (1).ext` …) are tried before the receiver gives up.
const MAX_OTHER_NAMES: u32 = 1000;

/// Where received data goes.
pub enum Destination<'a, W> {
    /// A file named by the sender, in this directory; an existing file is kept, and the new one
    /// is stored as `name (1).ext` (or the next free number).
    Dir(&'a Path),
    /// A file named by the sender, in this directory, replacing a file of that name.
    DirReplace(&'a Path),
    /// A writer (for example stdout); the digest is checked at the end.
    Sink(&'a mut W),
}

/// True if `name` is a plain file name (no path separators, not `.` or `..`, not hidden, no
/// control characters).
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
        && Path::new(name).file_name().is_some_and(|f| f == name)
}

/// Temporary files a receiver left behind in `dir` (killed mid-transfer): `.stt-*.partial`.
/// Removes them and returns how many there were.
pub fn remove_leftovers(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".stt-") && name.ends_with(".partial") && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// `name` with ` (n)` before its extension: `report.txt` → `report (1).txt`.
fn numbered(name: &str, n: u32) -> String {
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({n}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({n})"),
    }
}

/// Moves the finished temporary file to `name` in `dir`: replacing a file of that name, or
/// (without `replace`) under the first free name among `name`, `name (1)`, …; returns the name
/// used. A hard link makes taking the name atomic: an existing file is never overwritten.
async fn place(tmp: &Path, dir: &Path, name: &str, replace: bool) -> Result<String, TransferError> {
    if replace {
        tokio::fs::rename(tmp, dir.join(name)).await?;
        return Ok(name.to_owned());
    }
    for n in 0..=MAX_OTHER_NAMES {
        let candidate = if n == 0 { name.to_owned() } else { numbered(name, n) };
        if candidate.len() > MAX_NAME {
            break;
        }
        match tokio::fs::hard_link(tmp, dir.join(&candidate)).await {
            Ok(()) => {
                tokio::fs::remove_file(tmp).await?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(TransferError::Rejected {
        status: Status::StorageError,
        message: format!("{name:?} and {MAX_OTHER_NAMES} numbered variants exist already"),
    })
}

/// Receives one transfer from `stream` and answers the sender.
pub async fn receive<W: AsyncWrite + Unpin>(
    stream: crate::Stream,
    dest: Destination<'_, W>,
    progress: impl FnMut(u64),
) -> Result<Received, TransferError> {
    receive_at_most(stream, dest, u64::MAX, progress).await
}

/// [`receive`], refusing data longer than `max_size` bytes: at once if the sender announced a
/// longer length, otherwise when the data passes the limit (the partial file is removed); the
/// sender is told [`Status::TooLarge`].
pub async fn receive_at_most<W: AsyncWrite + Unpin>(
    stream: crate::Stream,
    dest: Destination<'_, W>,
    max_size: u64,
    mut progress: impl FnMut(u64),
) -> Result<Received, TransferError> {
    let (mut tx, mut rx) = stream.into_split();
    let result = receive_data(&mut rx, dest, max_size, &mut progress).await;
    let (status, message) = match &result {
        Ok(r) if r.stored_as_other => {
            let stored = r.path.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
            (Status::Verified, format!("{VERIFIED_AS}{}", stored.unwrap_or_default()))
        }
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

/// The receiving half of the protocol over any byte source, without the answer: reads the
/// header, the chunks and the digest from `rx` into `dest` (what [`receive_at_most`] runs on its
/// stream before it answers). Useful to read a recorded transfer, and what the fuzz target
/// `transfer_header` drives.
pub async fn read_transfer<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    rx: &mut R,
    dest: Destination<'_, W>,
    max_size: u64,
    mut progress: impl FnMut(u64),
) -> Result<Received, TransferError> {
    receive_data(rx, dest, max_size, &mut progress).await
}

async fn receive_data<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    rx: &mut R,
    dest: Destination<'_, W>,
    max_size: u64,
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
    let mut len = [0u8; 8];
    rx.read_exact(&mut len).await?;
    let announced = Some(u64::from_be_bytes(len)).filter(|&l| l != UNKNOWN_LENGTH);
    if let Some(len) = announced.filter(|&l| l > max_size) {
        return Err(TransferError::Rejected {
            status: Status::TooLarge,
            message: format!("the data is {len} bytes, over the receiver's limit of {max_size} bytes"),
        });
    }
    match dest {
        Destination::Dir(dir) | Destination::DirReplace(dir) => {
            let replace = matches!(dest, Destination::DirReplace(_));
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
            if let (Some(len), Some(free)) = (announced, available_space(dir)) {
                if len > free {
                    return Err(TransferError::Rejected {
                        status: Status::NoSpace,
                        message: format!("the data is {len} bytes and the receiver has {free} bytes free"),
                    });
                }
            }
            let tmp = dir.join(format!(".stt-{}.partial", hex8(&crate::shared::random_bytes())));
            let stored = async {
                let mut file = tokio::fs::File::create(&tmp).await?;
                let (bytes, digest) = copy_chunks(rx, &mut file, max_size, announced, progress).await?;
                file.sync_all().await?;
                drop(file);
                let stored = place(&tmp, dir, &name, replace).await?;
                Ok::<_, TransferError>((bytes, digest, stored))
            }
            .await;
            match stored {
                Ok((bytes, digest, stored)) => {
                    Ok(Received { stored_as_other: stored != name, path: Some(dir.join(&stored)), name, bytes, digest })
                }
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    Err(e)
                }
            }
        }
        Destination::Sink(w) => {
            let (bytes, digest) = copy_chunks(rx, w, max_size, announced, progress).await?;
            w.flush().await?;
            Ok(Received { name, path: None, bytes, digest, stored_as_other: false })
        }
    }
}

fn hex8(b: &[u8; 32]) -> String {
    b[..8].iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes free for an unprivileged user on the file system of `dir`, where the OS says.
fn available_space(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let st = rustix::fs::statvfs(dir).ok()?;
        Some(st.f_bavail.saturating_mul(st.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Copies the chunked data to `w`, then checks the announced length and the sender's digest.
async fn copy_chunks<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    rx: &mut R,
    w: &mut W,
    max_size: u64,
    announced: Option<u64>,
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
        if total + left as u64 > max_size {
            return Err(TransferError::Rejected {
                status: Status::TooLarge,
                message: format!("the data exceeds the receiver's limit of {max_size} bytes"),
            });
        }
        if announced.is_some_and(|a| total + left as u64 > a) {
            return Err(TransferError::Protocol("more data than the sender announced"));
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
    if announced.is_some_and(|a| total != a) {
        return Err(TransferError::Protocol("less data than the sender announced"));
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
