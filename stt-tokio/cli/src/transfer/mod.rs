//! Verified transfer of files, directories and any byte source over reliable streams: the
//! protocol the `stt` tool speaks, usable from applications too. One stream carries one file,
//! or one directory's manifest.
//!
//! The sender writes, on a stream it opens, one of three kinds of transfer. A file (type 2):
//!
//! ```text
//! u8      type: 2
//! u16     name length N (big-endian), then N bytes of UTF-8 name ("" for stdin)
//! u64     data length (big-endian), or 2^64-1 if the sender does not know it (stdin)
//! repeat: u32 chunk length L (big-endian, L > 0), then L bytes
//! u32     0 (end of data)
//! [32]    SHA3-256 of all data bytes
//! FIN
//! ```
//!
//! A resumable file (type 3, files of at least [`RESUME_MIN`] bytes): the same header with the
//! type 3 and, after the length, a 32-byte resume key. The receiver answers with an offer before
//! any data: `0x80 || u64 offset || [32] SHA3-256 of its first offset bytes` (offset 0 when it
//! holds nothing for that key and name). The sender compares the digest with its own file's
//! first `offset` bytes and writes `u64 start` (the offset if they match, else 0), then the
//! chunks from `start`, `u32 0` and the SHA3-256 of the whole file, and FIN. The receiver keeps
//! the partial file of a transfer cut by a lost session or stream (in its private directory,
//! [`PRIVATE_DIR`], for [`RESUME_KEEP`]) so that the sender's next attempt sends only the rest;
//! it offers only bytes it wrote itself for that key and name (a record of the file's identity
//! and a keyed digest of its first bytes). That attempt takes the partial file over at once from
//! an attempt whose session is not yet timed out. A transfer that ends in any other failure
//! leaves nothing. Receivers older than type 3 refuse it (`unknown transfer type`).
//!
//! A directory's manifest (type 4), after the directory's files, each sent as a file named by
//! its relative path (`top/sub/name`):
//!
//! ```text
//! u8      type: 4
//! u16     length, then the top directory's name
//! u32     entry count
//! entry:  u8 kind (0 directory, 1 file) || u16 length || relative path
//!         [file: u64 length || [32] SHA3-256]
//! FIN
//! ```
//!
//! The receiver creates the listed directories (empty ones included), checks that each listed
//! file was stored in this session with that length and digest and not written to since, and
//! answers `verified` or [`Status::ManifestMismatch`] naming what differs. A manifest past the
//! receiver's [`Limits`] is refused before any directory is made.
//!
//! A receiver refuses an announced length over its limit (`TooLarge`) or over the free space of
//! its directory (`NoSpace`) at once, before any data is written, and a transfer whose data is
//! longer or shorter than announced. Names are relative paths of plain components
//! ([`is_relative_path`]: no `..`, no hidden names, no control characters). Every file and
//! directory under the receiving directory is reached relative to a directory handle, never
//! through a link.
//!
//! The receiver writes the data to a temporary file in its private directory, checks the digest,
//! syncs, links the file into place, and answers on the same stream with one status byte (0
//! verified, 1 digest mismatch, 2 refused name, 3 storage error, 4 too large, 5 no space, 6
//! manifest mismatch) followed by a UTF-8 message and FIN. A file is visible under its name only
//! once complete and verified. An existing file is never replaced (unless the receiver asked for
//! [`Destination::DirReplace`]): the new one is stored as `name (1).ext`, `name (2).ext`, …, and
//! the verified message says `verified as <stored name>`; a file already there with the same
//! length and SHA3-256 is kept as the stored one (sending a file or a directory again adds no
//! numbered copies). Data with no name (standard input) is saved as `stdin-<16 hex digits>`.
//!
//! `docs/TRANSFER.md` specifies all of it byte by byte, with test vectors.

mod dir;
mod resume;
mod tree;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha3::{Digest, Sha3_256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt};

pub use dir::{FileId, PRIVATE_DIR};
pub use resume::RESUME_MIN;
pub use tree::{is_relative_path, ManifestEntry, Receipts, VerifiedTree, MAX_DEPTH, MAX_ENTRIES, MAX_PATH};

use dir::Dir;
use stt_tokio::{Error, Session, StreamMode};

/// The first byte of a file transfer (type 2; the protocol's version 2 began with it).
pub const VERSION: u8 = 2;
/// The first byte of a resumable file transfer.
pub const RESUMABLE: u8 = 3;
/// The first byte of a directory's manifest.
pub const MANIFEST: u8 = 4;
/// The data length a sender announces when it does not know it (standard input).
pub const UNKNOWN_LENGTH: u64 = u64::MAX;
/// Largest name of one path component.
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
    /// The name was not a plain relative path; nothing was stored.
    RefusedName = 2,
    /// The receiver could not store the file.
    StorageError = 3,
    /// The data exceeded the receiver's size limit; nothing was stored.
    TooLarge = 4,
    /// The announced length exceeds the free space of the receiver's directory; nothing was
    /// stored.
    NoSpace = 5,
    /// A directory's files at the receiver differ from the sender's manifest (missing or
    /// changed); the message names them.
    ManifestMismatch = 6,
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
            6 => Status::ManifestMismatch,
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
    /// A resumed attempt of the same file (its sender reconnected) took this transfer's
    /// partial file over; what it received is kept for that attempt.
    #[error("superseded: the sender resumed this file in another session")]
    Superseded,
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
    /// Data bytes of the file (or source).
    pub bytes: u64,
    /// SHA3-256 of the data.
    pub digest: [u8; 32],
    /// The name the receiver stored the file under, when it is not the name sent (a file of
    /// that name existed there).
    pub stored_as: Option<String>,
    /// Bytes the receiver already held from an interrupted transfer of the same file, and that
    /// were not sent again (0 when the transfer started from the beginning).
    pub resumed_from: u64,
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
    check_name_length(name)?;
    let (mut tx, mut rx) = session.open_stream(StreamMode::Reliable)?.into_split();
    let mut head = vec![VERSION];
    head.extend_from_slice(&(name.len() as u16).to_be_bytes());
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(&len.unwrap_or(UNKNOWN_LENGTH).to_be_bytes());
    tx.write_all(&head).await?;
    let body = Body { start: 0, hasher: Sha3_256::new(), len, progress: &mut progress };
    send_body(&mut tx, &mut rx, &mut source, body).await
}

/// Sends the file at `path` under `name` (a plain name, or a relative path such as
/// `photos/a.jpg` inside a directory being sent) and waits for the receiver's verdict. A file
/// of at least [`RESUME_MIN`] bytes is sent resumably: if the receiver holds the beginning of it
/// from an interrupted attempt, and that beginning matches this file, only the rest is sent.
pub async fn send_file(
    session: &Session,
    name: &str,
    path: &Path,
    mut progress: impl FnMut(u64),
) -> Result<Sent, TransferError> {
    let mut file = tokio::fs::File::open(path).await?;
    let meta = file.metadata().await?;
    if !meta.is_file() {
        // A pipe or a device: its length is not known in advance.
        return send(session, name, None, file, progress).await;
    }
    let len = meta.len();
    if len < RESUME_MIN {
        return send(session, name, Some(len), file, progress).await;
    }
    check_name_length(name)?;
    let modified =
        meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let (mut tx, mut rx) = session.open_stream(StreamMode::Reliable)?.into_split();
    let mut head = vec![RESUMABLE];
    head.extend_from_slice(&(name.len() as u16).to_be_bytes());
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(&len.to_be_bytes());
    head.extend_from_slice(&resume::resume_key(name, len, modified));
    tx.write_all(&head).await?;
    // The receiver's offer, or its refusal.
    let first = rx.read_u8().await?;
    if first != resume::OFFER {
        let message = rx.read_all(4096).await?;
        return Err(verdict(first, &message).err().unwrap_or(TransferError::Protocol("verified before any data")));
    }
    let offset = rx.read_u64().await?;
    let mut theirs = [0u8; 32];
    rx.read_exact(&mut theirs).await?;
    // Resume only from bytes that are this file's: hash our own first `offset` bytes.
    let mut hasher = Sha3_256::new();
    let mut start = 0;
    if offset > 0 && offset <= len {
        let (prefix, read) = hash_prefix(&mut file, offset).await?;
        if read == offset && <[u8; 32]>::from(prefix.clone().finalize()) == theirs {
            (start, hasher) = (offset, prefix);
        }
    }
    file.seek(std::io::SeekFrom::Start(start)).await?;
    tx.write_all(&start.to_be_bytes()).await?;
    progress(start);
    let body = Body { start, hasher, len: Some(len), progress: &mut progress };
    // No more than announced, should the file grow while it is sent.
    let mut rest = file.take(len - start);
    let mut sent = send_body(&mut tx, &mut rx, &mut rest, body).await?;
    sent.resumed_from = start;
    Ok(sent)
}

/// Sends the manifest of the directory `top` (its entries: the directories, and the files
/// the receiver verified in this session) and waits for the receiver to check it.
pub async fn send_manifest(session: &Session, top: &str, entries: &[ManifestEntry]) -> Result<(), TransferError> {
    if entries.len() as u64 > u64::from(MAX_ENTRIES) {
        return Err(TransferError::Protocol("a manifest lists at most 1,000,000 entries"));
    }
    check_name_length(top)?;
    for entry in entries {
        check_name_length(entry.path())?;
    }
    let (mut tx, mut rx) = session.open_stream(StreamMode::Reliable)?.into_split();
    tx.write_all(&tree::encode_manifest(top, entries)).await?;
    tx.finish()?;
    let answer = rx.read_all(64 * 1024).await?;
    let (&code, message) = answer.split_first().ok_or(TransferError::Protocol("empty answer"))?;
    verdict(code, message).map(drop)
}

fn check_name_length(name: &str) -> Result<(), TransferError> {
    if name.len() > MAX_PATH {
        return Err(TransferError::Protocol("name longer than 4096 bytes"));
    }
    Ok(())
}

/// The receiver's answer as a result: the message of a verified transfer, or the refusal.
fn verdict(code: u8, message: &[u8]) -> Result<String, TransferError> {
    let status = Status::from_byte(code).ok_or(TransferError::Protocol("unknown status byte"))?;
    let message = String::from_utf8_lossy(message).into_owned();
    match status {
        Status::Verified => Ok(message),
        status => Err(TransferError::Rejected { status, message }),
    }
}

/// Where the data of a transfer starts, and what was hashed before it.
struct Body<'a, P> {
    start: u64,
    hasher: Sha3_256,
    len: Option<u64>,
    progress: &'a mut P,
}

/// Writes the chunks from `source` (positioned at `body.start`), the end mark and the digest,
/// and reads the receiver's verdict.
async fn send_body<R: AsyncRead + Unpin, P: FnMut(u64)>(
    tx: &mut stt_tokio::SendStream,
    rx: &mut stt_tokio::RecvStream,
    source: &mut R,
    body: Body<'_, P>,
) -> Result<Sent, TransferError> {
    let Body { start, mut hasher, len, progress } = body;
    let writing = async {
        let mut buf = vec![0u8; CHUNK + 4];
        let mut total = start;
        loop {
            let n = read_full(source, &mut buf[4..]).await?;
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
    let message = verdict(code, message)?;
    let Some((total, digest)) = written else {
        return Err(TransferError::Protocol("the receiver confirmed before the data ended"));
    };
    let stored_as = message.strip_prefix(VERIFIED_AS).map(str::to_owned);
    Ok(Sent { bytes: total, digest, stored_as, resumed_from: 0 })
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
    /// Bytes kept from an interrupted transfer of the same file and not received again.
    pub resumed_from: u64,
    /// The stored file as it was when placed (device, inode, length, change time; `None` for a
    /// sink): a manifest is checked against it without reading the file again.
    pub file: Option<FileId>,
}

/// What one stream delivered to a receiver.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// A file (or a sender's standard input).
    File(Received),
    /// A directory's manifest, checked against the files stored in this session.
    Tree(VerifiedTree),
}

/// The verified message's prefix when the file was stored under another name.
const VERIFIED_AS: &str = "verified as ";

/// How many other names (`name (1).ext` …) are tried before the receiver gives up.
const MAX_OTHER_NAMES: u32 = 1000;

/// How many existing files of the same length, whose digest the receiver has not recorded, one
/// transfer reads to find out whether one of them is the file being stored; the others count
/// as different (the file is stored under a further numbered name).
const MAX_CANDIDATES_HASHED: usize = 2;

/// How long a receiver keeps the partial file of an interrupted resumable transfer.
pub const RESUME_KEEP: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// What a receiver accepts: from one transfer, and from all of them together (clones share the
/// count of directories created).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest file, in bytes. Each directory a manifest lists counts [`DIRECTORY_COST`] bytes
    /// against it too.
    pub max_size: u64,
    /// Most entries one manifest may list.
    pub max_manifest_entries: u32,
    /// Most directories one manifest may list.
    pub max_manifest_directories: u32,
    /// Most directories the receiver creates over all transfers (the count is shared by clones
    /// of these limits).
    pub max_directories: u64,
    created_directories: Arc<AtomicU64>,
}

/// What one directory is counted as against [`Limits::max_size`]: a block of metadata.
pub const DIRECTORY_COST: u64 = 4096;

impl Default for Limits {
    /// No size limit; 250,000 manifest entries and 20,000 directories per manifest, 100,000
    /// directories in all. Measured on a development machine: a Rust toolchain is 117,793 files
    /// in 2,951 directories, `/usr/share` 44,903 files in 3,399 directories.
    fn default() -> Self {
        Limits {
            max_size: u64::MAX,
            max_manifest_entries: 250_000,
            max_manifest_directories: 20_000,
            max_directories: 100_000,
            created_directories: Arc::default(),
        }
    }
}

impl Limits {
    /// The default limits with `max_size`.
    pub fn with_max_size(max_size: u64) -> Limits {
        Limits { max_size, ..Limits::default() }
    }

    /// Directories created so far under these limits.
    pub fn directories_created(&self) -> u64 {
        self.created_directories.load(Ordering::Relaxed)
    }

    /// Counts one directory about to be created, or refuses it past [`Limits::max_directories`].
    fn count_directory(&self) -> std::io::Result<()> {
        let max = self.max_directories;
        self.created_directories
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < max).then_some(n + 1))
            .map(drop)
            .map_err(|_| std::io::Error::other(format!("the receiver's limit of {max} directories is reached")))
    }
}

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

/// Temporary files a receiver left behind in `dir` (killed mid-transfer): the files in progress
/// in its private directory ([`PRIVATE_DIR`]), except the partial files of resumable transfers
/// younger than [`RESUME_KEEP`], which an interrupted sender's next attempt continues, and the
/// `.stt-*.partial` files that versions before the private directory left in `dir` itself.
/// Removes them and returns how many there were.
pub fn remove_leftovers(dir: &Path) -> std::io::Result<usize> {
    let top = Dir::open(dir)?;
    let mut removed = 0;
    for name in top.names()? {
        if name.starts_with(".stt-") && name.ends_with(".partial") && top.stat(&name)?.is_some_and(|f| f.regular) {
            top.remove(&name)?;
            removed += 1;
        }
    }
    Ok(removed + clean_private(&top, false)?)
}

/// Removes the kept partial files of resumable transfers in `dir` that no attempt has touched
/// for [`RESUME_KEEP`]; returns how many. A listener that runs for long calls it now and then
/// ([`remove_leftovers`] runs once, at start).
pub fn remove_expired_partials(dir: &Path) -> std::io::Result<usize> {
    clean_private(&Dir::open(dir)?, true)
}

/// Removes from `top`'s private directory the partial files of resumable transfers older than
/// [`RESUME_KEEP`] with their records, and (unless `expired_only`) every other file in progress
/// and every record without its partial file. Returns how many partial files went.
fn clean_private(top: &Dir, expired_only: bool) -> std::io::Result<usize> {
    let private = top.private()?;
    let names = private.names()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut removed = 0;
    for name in &names {
        if name == resume::SECRET {
            continue;
        }
        let kept_partial = name.starts_with(resume::PARTIAL_PREFIX) && name.ends_with(".partial");
        if kept_partial {
            let Some(file) = private.stat(name)? else { continue };
            let age = now.as_secs().saturating_sub(u64::try_from(file.changed.0).unwrap_or(0));
            if age >= RESUME_KEEP.as_secs() {
                private.remove(name)?;
                resume::Record::remove(&private, name)?;
                removed += 1;
            }
        } else if !expired_only {
            let orphan_record =
                name.strip_suffix(resume::RECORD_SUFFIX).is_some_and(|partial| !names.iter().any(|n| n == partial));
            if orphan_record || !name.ends_with(resume::RECORD_SUFFIX) {
                private.remove(name)?;
                removed += usize::from(name.ends_with(".partial"));
            }
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

/// The SHA3-256 of files this process stored or read, by device and inode, valid while the
/// file's length and change time are the same (no user can set a change time): how the receiver
/// tells that an existing file is the one being stored without reading it again.
static DIGESTS: std::sync::Mutex<Option<HashMap<(u64, u64), RecordedDigest>>> = std::sync::Mutex::new(None);
/// A file's length, change time and SHA3-256 when its digest was recorded.
type RecordedDigest = (u64, (i64, i64), [u8; 32]);
/// Files whose digest is remembered at most (the table is emptied when it is full).
const DIGESTS_KEPT: usize = 100_000;

fn recorded_digest(file: &FileId) -> Option<[u8; 32]> {
    let digests = DIGESTS.lock().unwrap_or_else(|p| p.into_inner());
    let &(len, changed, digest) = digests.as_ref()?.get(&(file.dev, file.ino))?;
    (len == file.len && changed == file.changed).then_some(digest)
}

fn record_digest(file: &FileId, digest: [u8; 32]) {
    let mut digests = DIGESTS.lock().unwrap_or_else(|p| p.into_inner());
    let table = digests.get_or_insert_with(HashMap::new);
    if table.len() >= DIGESTS_KEPT {
        table.clear();
    }
    table.insert((file.dev, file.ino), (file.len, file.changed, digest));
}

/// Moves the finished file `tmp` of the private directory to `name` in `parent`: replacing a
/// file of that name, or (without `replace`) under the first free name among `name`, `name (1)`,
/// …; returns the name used and the file as placed. A link makes taking the name atomic: an
/// existing file (or link) is never overwritten. A file that is already there with the same
/// length and SHA3-256 (`content`) is the one kept: sending the same file (or directory) again
/// adds no numbered copies. Existing files are compared by their recorded digest; at most
/// [`MAX_CANDIDATES_HASHED`] of those without one are read.
fn place(
    private: &Dir,
    tmp: (&str, &std::fs::File),
    parent: &Dir,
    name: &str,
    replace: bool,
    content: (u64, [u8; 32]),
) -> Result<(String, FileId), TransferError> {
    let (tmp, file) = tmp;
    let placed = |stored: String| {
        let id = dir::id_of(file)?;
        record_digest(&id, content.1);
        Ok((stored, id))
    };
    if replace {
        private.rename_to(tmp, parent, name)?;
        return placed(name.to_owned());
    }
    let mut hashed = 0;
    for n in 0..=MAX_OTHER_NAMES {
        let candidate = if n == 0 { name.to_owned() } else { numbered(name, n) };
        if candidate.len() > MAX_NAME {
            break;
        }
        match private.link_to(tmp, parent, &candidate) {
            Ok(()) => {
                private.remove(tmp)?;
                return placed(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let Some(existing) = parent.stat(&candidate)?.filter(|f| f.regular && f.len == content.0) else {
                    continue;
                };
                let digest = match recorded_digest(&existing) {
                    Some(digest) => Some(digest),
                    None if hashed < MAX_CANDIDATES_HASHED => {
                        hashed += 1;
                        hash_existing(parent, &candidate, existing)?
                    }
                    None => None,
                };
                if digest == Some(content.1) {
                    private.remove(tmp)?;
                    return Ok((candidate, existing));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(TransferError::Rejected {
        status: Status::StorageError,
        message: format!("{name:?} and {MAX_OTHER_NAMES} numbered variants exist already"),
    })
}

/// The SHA3-256 of the file `name` in `parent`, opened without following a link, if it is still
/// the file `expected` when read (recorded for the next time).
fn hash_existing(parent: &Dir, name: &str, expected: FileId) -> std::io::Result<Option<[u8; 32]>> {
    use std::io::Read;
    let Some(mut file) = parent.open_existing(name)? else { return Ok(None) };
    if dir::id_of(&file)? != expected {
        return Ok(None);
    }
    let mut hasher = Sha3_256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let digest: [u8; 32] = hasher.finalize().into();
    if dir::id_of(&file)? != expected {
        return Ok(None);
    }
    record_digest(&expected, digest);
    Ok(Some(digest))
}

/// Receives one file from `stream` and answers the sender.
pub async fn receive<W: AsyncWrite + Unpin>(
    stream: stt_tokio::Stream,
    dest: Destination<'_, W>,
    progress: impl FnMut(u64),
) -> Result<Received, TransferError> {
    receive_at_most(stream, dest, u64::MAX, progress).await
}

/// [`receive`], refusing data longer than `max_size` bytes: at once if the sender announced a
/// longer length, otherwise when the data passes the limit (the partial file is removed); the
/// sender is told [`Status::TooLarge`]. A directory's manifest is refused: use [`receive_any`].
pub async fn receive_at_most<W: AsyncWrite + Unpin>(
    stream: stt_tokio::Stream,
    dest: Destination<'_, W>,
    max_size: u64,
    progress: impl FnMut(u64),
) -> Result<Received, TransferError> {
    match receive_stream(stream, dest, &Limits::with_max_size(max_size), None, progress).await? {
        Outcome::File(received) => Ok(received),
        Outcome::Tree(_) => unreachable!("manifests are refused without receipts"),
    }
}

/// Receives whatever the sender sends on `stream` (a file, or a directory's manifest, checked
/// against what `receipts` says this session stored) under `limits`, and answers the sender.
/// Files stored in a directory are added to `receipts`: give every stream of one session the
/// same receipts, and every session of one receiver clones of the same limits.
pub async fn receive_any<W: AsyncWrite + Unpin>(
    stream: stt_tokio::Stream,
    dest: Destination<'_, W>,
    limits: &Limits,
    receipts: &mut Receipts,
    progress: impl FnMut(u64),
) -> Result<Outcome, TransferError> {
    receive_stream(stream, dest, limits, Some(receipts), progress).await
}

async fn receive_stream<W: AsyncWrite + Unpin>(
    stream: stt_tokio::Stream,
    dest: Destination<'_, W>,
    limits: &Limits,
    mut receipts: Option<&mut Receipts>,
    mut progress: impl FnMut(u64),
) -> Result<Outcome, TransferError> {
    let (mut tx, mut rx) = stream.into_split();
    let result = receive_data(&mut rx, &mut tx, dest, limits, receipts.as_deref_mut(), &mut progress).await;
    if let (Ok(Outcome::File(received)), Some(receipts)) = (&result, receipts) {
        receipts.record(received);
    }
    if matches!(result, Err(TransferError::Superseded)) {
        // The sender went away and resumed elsewhere: nobody reads an answer here.
        return result;
    }
    let (status, message) = match &result {
        Ok(Outcome::File(r)) if r.stored_as_other => {
            let stored = r.path.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
            (Status::Verified, format!("{VERIFIED_AS}{}", stored.unwrap_or_default()))
        }
        Ok(Outcome::File(_)) => (Status::Verified, String::from("verified")),
        Ok(Outcome::Tree(t)) => {
            (Status::Verified, format!("verified: {} files, {} directories", t.files, t.directories))
        }
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
/// stream before it answers); the offer of a resumable transfer is discarded. Useful to read a
/// recorded transfer, and what the fuzz target `transfer_header` drives.
pub async fn read_transfer<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    rx: &mut R,
    dest: Destination<'_, W>,
    max_size: u64,
    mut progress: impl FnMut(u64),
) -> Result<Received, TransferError> {
    let limits = Limits::with_max_size(max_size);
    match receive_data(rx, &mut tokio::io::sink(), dest, &limits, None, &mut progress).await? {
        Outcome::File(received) => Ok(received),
        Outcome::Tree(_) => unreachable!("manifests are refused without receipts"),
    }
}

async fn receive_data<R: AsyncRead + Unpin, O: AsyncWrite + Unpin, W: AsyncWrite + Unpin>(
    rx: &mut R,
    offer: &mut O,
    dest: Destination<'_, W>,
    limits: &Limits,
    receipts: Option<&mut Receipts>,
    progress: &mut impl FnMut(u64),
) -> Result<Outcome, TransferError> {
    let max_size = limits.max_size;
    let kind = rx.read_u8().await?;
    match kind {
        VERSION | RESUMABLE => {}
        MANIFEST => {
            let (Some(receipts), Destination::Dir(dir) | Destination::DirReplace(dir)) = (receipts, dest) else {
                return Err(single_files_only());
            };
            let (top, entries) = tree::read_manifest(rx, limits).await?;
            return tree::verify_manifest(&Dir::open(dir)?, top, entries, receipts, limits).map(Outcome::Tree);
        }
        _ => return Err(TransferError::Protocol("unknown transfer type")),
    }
    let mut head = [0u8; 2];
    rx.read_exact(&mut head).await?;
    let name_len = u16::from_be_bytes(head) as usize;
    if name_len > MAX_PATH {
        return Err(TransferError::Protocol("name longer than 4096 bytes"));
    }
    let mut name = vec![0u8; name_len];
    rx.read_exact(&mut name).await?;
    let name = String::from_utf8(name).map_err(|_| TransferError::Protocol("name is not UTF-8"))?;
    let mut len = [0u8; 8];
    rx.read_exact(&mut len).await?;
    let announced = Some(u64::from_be_bytes(len)).filter(|&l| l != UNKNOWN_LENGTH);
    let key = match kind {
        RESUMABLE => {
            let mut key = [0u8; 32];
            rx.read_exact(&mut key).await?;
            if announced.is_none() {
                return Err(TransferError::Protocol("a resumable transfer without a length"));
            }
            Some(key)
        }
        _ => None,
    };
    if let Some(len) = announced.filter(|&l| l > max_size) {
        return Err(TransferError::Rejected {
            status: Status::TooLarge,
            message: format!("the data is {len} bytes, over the receiver's limit of {max_size} bytes"),
        });
    }
    let (dir, replace) = match dest {
        Destination::Dir(dir) => (dir, false),
        Destination::DirReplace(dir) => (dir, true),
        Destination::Sink(w) => {
            if name.contains('/') {
                return Err(single_files_only());
            }
            if key.is_some() {
                // Nothing kept to resume from: offer the beginning.
                send_offer(offer, 0, Sha3_256::new()).await?;
                if rx.read_u64().await? != 0 {
                    return Err(TransferError::Protocol("resumed from an offset that was not offered"));
                }
            }
            let (bytes, digest) = copy_chunks(rx, w, max_size, announced, (Sha3_256::new(), 0), progress, None).await?;
            w.flush().await?;
            let received =
                Received { name, path: None, bytes, digest, stored_as_other: false, resumed_from: 0, file: None };
            return Ok(Outcome::File(received));
        }
    };
    let name = if name.is_empty() {
        // Standard input has no name: give it one that cannot collide.
        format!("stdin-{}", hex8(&crate::random_bytes()))
    } else {
        name
    };
    if !is_relative_path(&name) {
        return Err(TransferError::Rejected {
            status: Status::RefusedName,
            message: format!("refused name {name:?}: send a plain file name or relative path"),
        });
    }
    // What a kept partial file of a resumed attempt holds needs no more room (an estimate:
    // metadata only, before anything is created).
    let partial = key.map(|key| resume::partial_name(&key, &name));
    let held = match &partial {
        Some(partial) => dir::id_at(&dir.join(PRIVATE_DIR).join(partial)).map_or(0, |f| f.len),
        None => 0,
    };
    if let (Some(len), Some(free)) = (announced, available_space(dir)) {
        if len.saturating_sub(held) > free {
            return Err(TransferError::Rejected {
                status: Status::NoSpace,
                message: format!("the data is {len} bytes and the receiver has {free} bytes free"),
            });
        }
    }
    let top = Dir::open(dir)?;
    let private = top.private()?;
    let (parent_path, file_name) = name.rsplit_once('/').unwrap_or(("", name.as_str()));
    let parent = tree::create_dirs(&top, parent_path, limits)?;
    let file_name = file_name.to_owned();
    // Held until the file is in place: no resumed attempt takes the partial file before.
    let _claim;
    let (tmp, stored) = match (partial, announced) {
        (Some(partial), Some(len)) => {
            let mut claim = resume::Claim::take(&private.path().join(&partial)).await;
            // A resumed attempt of the same file (its sender reconnected) takes over wherever
            // this one waits: for the sender's answer to the offer, or for data.
            let stored = tokio::select! {
                stored = receive_resumable(rx, offer, (&private, &partial), len, max_size, progress) => stored,
                () = claim.superseded() => Err(TransferError::Superseded),
            };
            _claim = claim;
            (partial, stored)
        }
        _ => {
            let tmp = format!("{}.partial", hex8(&crate::random_bytes()));
            let stored = async {
                let mut file = tokio::fs::File::from_std(private.create_new(&tmp, 0o666)?);
                let (bytes, digest) =
                    copy_chunks(rx, &mut file, max_size, announced, (Sha3_256::new(), 0), progress, None).await?;
                file.sync_all().await?;
                Ok::<_, TransferError>((bytes, digest, 0, file.into_std().await))
            }
            .await;
            (tmp, stored)
        }
    };
    let placed = stored.and_then(|(bytes, digest, resumed_from, file)| {
        let (stored, id) = place(&private, (&tmp, &file), &parent, &file_name, replace, (bytes, digest))?;
        Ok((bytes, digest, resumed_from, stored, id))
    });
    match placed {
        Ok((bytes, digest, resumed_from, stored, id)) => {
            if key.is_some() {
                resume::Record::remove(&private, &tmp)?;
            }
            Ok(Outcome::File(Received {
                stored_as_other: stored != file_name,
                path: Some(parent.path().join(&stored)),
                name,
                bytes,
                digest,
                resumed_from,
                file: Some(id),
            }))
        }
        Err(e) => {
            // A resumable transfer cut by its session (or taken over by the sender's next
            // attempt) keeps what it has; every other failure leaves nothing.
            let keep =
                key.is_some() && matches!(e, TransferError::Stt(_) | TransferError::Io(_) | TransferError::Superseded);
            if !keep {
                let _ = private.remove(&tmp);
                if key.is_some() {
                    let _ = resume::Record::remove(&private, &tmp);
                }
            }
            Err(e)
        }
    }
}

fn single_files_only() -> TransferError {
    TransferError::Rejected {
        status: Status::StorageError,
        message: "this receiver writes to a stream and takes single files only, not directories".into(),
    }
}

/// The SHA3-256 state over the first `len` bytes of `file` (from its current position), and how
/// many bytes there were (fewer if the file is shorter): what both ends of a resumed transfer
/// compare.
async fn hash_prefix(file: &mut tokio::fs::File, len: u64) -> std::io::Result<(Sha3_256, u64)> {
    let mut hasher = Sha3_256::new();
    let mut prefix = file.take(len);
    let mut buf = vec![0u8; CHUNK];
    let mut read = 0;
    loop {
        let n = prefix.read(&mut buf).await?;
        if n == 0 {
            return Ok((hasher, read));
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
}

/// The offer that starts a resumable transfer: the bytes held and their digest.
async fn send_offer<O: AsyncWrite + Unpin>(offer: &mut O, held: u64, hasher: Sha3_256) -> std::io::Result<()> {
    let mut bytes = [0u8; 41];
    bytes[0] = resume::OFFER;
    bytes[1..9].copy_from_slice(&held.to_be_bytes());
    bytes[9..].copy_from_slice(&hasher.finalize());
    offer.write_all(&bytes).await?;
    offer.flush().await
}

/// The kept partial file `partial` of the private directory, opened, and how many of its first
/// bytes this receiver vouches for, with their SHA3-256 state: a file its record names and
/// whose first bytes match the record's keyed digest. Anything else there (a link, a file with
/// another name, one without a record or changed since) is removed and a new file made.
async fn open_partial(
    private: &Dir,
    partial: &str,
    secret: &[u8; 32],
    len: u64,
) -> Result<(tokio::fs::File, u64, Sha3_256), TransferError> {
    // A link (refused by O_NOFOLLOW) or something else that cannot be opened is not ours.
    let existing = private.open_existing(partial).unwrap_or_default();
    if let Some(file) = existing {
        let id = dir::id_of(&file)?;
        let record = resume::Record::load(private, partial)?;
        if let Some(vouched) = record.and_then(|r| r.vouches_for(id)).filter(|&n| n <= len) {
            let mut file = tokio::fs::File::from_std(file);
            let (hasher, read) = hash_prefix(&mut file, vouched).await?;
            let digest: [u8; 32] = hasher.clone().finalize().into();
            if read == vouched && record.is_some_and(|r| r.matches(secret, &digest)) {
                return Ok((file, vouched, hasher));
            }
        }
    }
    private.remove(partial)?;
    resume::Record::remove(private, partial)?;
    let file = tokio::fs::File::from_std(private.create_new(partial, 0o666)?);
    Ok((file, 0, Sha3_256::new()))
}

/// A resumable file into its partial file (`partial` in the private directory): offers what
/// the partial file holds and continues from where the sender says, bringing the partial file's
/// record up to date as data arrives. Returns length, digest, the bytes kept from before and
/// the file.
async fn receive_resumable<R: AsyncRead + Unpin, O: AsyncWrite + Unpin>(
    rx: &mut R,
    offer: &mut O,
    (private, partial): (&Dir, &str),
    len: u64,
    max_size: u64,
    progress: &mut impl FnMut(u64),
) -> Result<(u64, [u8; 32], u64, std::fs::File), TransferError> {
    let secret = resume::secret(private)?;
    let (mut file, held, mut hasher) = open_partial(private, partial, &secret, len).await?;
    send_offer(offer, held, hasher.clone()).await?;
    let start = rx.read_u64().await?;
    if start == 0 {
        hasher = Sha3_256::new();
    } else if start != held {
        return Err(TransferError::Protocol("resumed from an offset that was not offered"));
    }
    file.set_len(start).await?;
    file.seek(std::io::SeekFrom::Start(start)).await?;
    progress(start);
    let id = dir::id_of(&file.try_clone().await?.into_std().await)?;
    let mut checkpoint = Checkpoint { private, partial, secret: &secret, file: id, next: start + resume::CHECKPOINT };
    match copy_chunks(rx, &mut file, max_size, Some(len), (hasher, start), progress, Some(&mut checkpoint)).await {
        Ok((bytes, digest)) => {
            file.sync_all().await?;
            Ok((bytes, digest, start, file.into_std().await))
        }
        Err(e) => {
            // What reached the file is kept for the next attempt (the sender checks it); the
            // record says how much of it is good.
            let _ = file.sync_all().await;
            Err(e)
        }
    }
}

/// Brings a partial file's record up to date as its data arrives.
struct Checkpoint<'a> {
    private: &'a Dir,
    partial: &'a str,
    secret: &'a [u8; 32],
    file: FileId,
    /// The byte count at which the record is written next.
    next: u64,
}

impl Checkpoint<'_> {
    /// Called, once `next` is reached, with the bytes written so far (flushed to the file) and
    /// their SHA3-256 state.
    fn reached(&mut self, total: u64, hasher: &Sha3_256) -> std::io::Result<()> {
        self.next = total + resume::CHECKPOINT;
        let digest: [u8; 32] = hasher.clone().finalize().into();
        resume::Record::new(self.secret, self.file, total, &digest).save(self.private, self.partial)
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

/// Copies the chunked data to `w` (after `start` bytes already hashed into `hasher`), then
/// checks the announced length and the sender's digest. A `checkpoint` is told, from time to
/// time, how many bytes reached `w` (flushed) and their digest state.
async fn copy_chunks<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    rx: &mut R,
    w: &mut W,
    max_size: u64,
    announced: Option<u64>,
    (mut hasher, start): (Sha3_256, u64),
    progress: &mut impl FnMut(u64),
    mut checkpoint: Option<&mut Checkpoint<'_>>,
) -> Result<(u64, [u8; 32]), TransferError> {
    let mut total = start;
    let mut buf = vec![0u8; CHUNK];
    let copied = async {
        loop {
            let mut len = [0u8; 4];
            rx.read_exact(&mut len).await?;
            let mut left = u32::from_be_bytes(len) as usize;
            if left == 0 {
                return Ok(());
            }
            if total.saturating_add(left as u64) > max_size {
                return Err(TransferError::Rejected {
                    status: Status::TooLarge,
                    message: format!("the data exceeds the receiver's limit of {max_size} bytes"),
                });
            }
            if announced.is_some_and(|a| total.saturating_add(left as u64) > a) {
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
            if let Some(checkpoint) = checkpoint.as_deref_mut().filter(|c| total >= c.next) {
                w.flush().await?;
                checkpoint.reached(total, &hasher)?;
            }
        }
    }
    .await;
    if let Err(e) = copied {
        // A cut transfer's record says exactly what reached the file, for the next attempt.
        if let Some(checkpoint) = checkpoint {
            if w.flush().await.is_ok() {
                let _ = checkpoint.reached(total, &hasher);
            }
        }
        return Err(e);
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
