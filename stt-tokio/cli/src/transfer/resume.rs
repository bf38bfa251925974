//! Resuming a large file: the partial file a receiver keeps when a transfer is cut, under a
//! name derived from the sender's resume key in its private directory, the record that says
//! which file and how many of its bytes this receiver wrote, and the claim that lets a resumed
//! transfer take that file over from a transfer whose sender is gone but whose session has not
//! timed out yet.
//!
//! A kept partial file is continued only if it is the very file the record names (device and
//! inode), a regular file with no other name, at least as long as the record says, and its
//! first bytes have the keyed digest the record holds. Anything else (a link, a file put there
//! by someone else, one changed since) is removed and the transfer starts from the beginning,
//! so a resume offer only ever describes bytes that a sender sent to this receiver.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha3::{Digest, Sha3_256};
use tokio::sync::{watch, OwnedMutexGuard};

use super::dir::{Dir, FileId};

/// Files at least this long are sent resumably (smaller ones are cheaper to send again than to
/// negotiate).
pub const RESUME_MIN: u64 = 1 << 20;
/// Prefix of a resumable partial file's name in the private directory (kept across listener
/// restarts, unlike the `<hex>.partial` files of other transfers).
pub(super) const PARTIAL_PREFIX: &str = "resume-";
/// Suffix of a partial file's record.
pub(super) const RECORD_SUFFIX: &str = ".record";
/// The private directory's secret, which keys the records' digests.
pub(super) const SECRET: &str = "secret";
/// A record is brought up to date each time this many more bytes reached the partial file.
pub(super) const CHECKPOINT: u64 = 4 << 20;
/// The byte that starts a receiver's resume offer (status bytes are below it).
pub(super) const OFFER: u8 = 0x80;

/// The sender's resume key for a file: SHA3-256 over its name, length and modification time,
/// so a changed file is never resumed from an older copy's bytes.
pub(super) fn resume_key(name: &str, len: u64, modified_nanos: u128) -> [u8; 32] {
    let mut h = Sha3_256::new();
    h.update(b"stt transfer resume key");
    h.update((name.len() as u64).to_be_bytes());
    h.update(name.as_bytes());
    h.update(len.to_be_bytes());
    h.update(modified_nanos.to_be_bytes());
    h.finalize().into()
}

/// The name under which a receiver keeps the partial file of a resumable transfer, in its
/// private directory.
pub(super) fn partial_name(key: &[u8; 32], name: &str) -> String {
    let mut h = Sha3_256::new();
    h.update(key);
    h.update(name.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{PARTIAL_PREFIX}{hex}.partial")
}

/// The private directory's secret: 32 random bytes in [`SECRET`], made on first use.
pub(super) fn secret(private: &Dir) -> std::io::Result<[u8; 32]> {
    loop {
        if let Some(mut file) = private.open_existing(SECRET)? {
            let mut secret = [0u8; 32];
            let id = super::dir::id_of(&file)?;
            if id.regular && id.len == 32 {
                file.read_exact(&mut secret)?;
                return Ok(secret);
            }
            // Cut short when it was made (the receiver died): make it again.
            private.remove(SECRET)?;
        }
        let fresh = crate::random_bytes();
        let new = format!("{SECRET}.{}.new", super::hex8(&crate::random_bytes()));
        let mut file = private.create_new(&new, 0o600)?;
        file.write_all(&fresh)?;
        file.sync_all()?;
        // Another transfer may have made it meanwhile: the first one stays.
        let linked = private.link_to(&new, private, SECRET);
        private.remove(&new)?;
        match linked {
            Ok(()) => return Ok(fresh),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Which file a receiver wrote a partial file's first `len` bytes to, and their keyed digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Record {
    dev: u64,
    ino: u64,
    len: u64,
    tag: [u8; 32],
}

const RECORD_MAGIC: &[u8; 4] = b"STR1";

impl Record {
    /// The record of `file`'s first `len` bytes, whose SHA3-256 is `prefix`.
    pub(super) fn new(secret: &[u8; 32], file: FileId, len: u64, prefix: &[u8; 32]) -> Record {
        Record { dev: file.dev, ino: file.ino, len, tag: tag(secret, file.dev, file.ino, len, prefix) }
    }

    /// The bytes a record may vouch for in `file`: its length, if `file` is the file it names,
    /// has one name and holds at least that many bytes.
    pub(super) fn vouches_for(&self, file: FileId) -> Option<u64> {
        (file.regular && file.links == 1 && file.dev == self.dev && file.ino == self.ino && file.len >= self.len)
            .then_some(self.len)
    }

    /// True if `prefix` (the SHA3-256 of the first [`Record::vouches_for`] bytes) is what was written.
    pub(super) fn matches(&self, secret: &[u8; 32], prefix: &[u8; 32]) -> bool {
        tag(secret, self.dev, self.ino, self.len, prefix) == self.tag
    }

    /// Writes the record of the partial file `partial` in `private` (a new file renamed over the
    /// old record, so a reader sees the old record or the new one, whole).
    pub(super) fn save(&self, private: &Dir, partial: &str) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(60);
        bytes.extend_from_slice(RECORD_MAGIC);
        bytes.extend_from_slice(&self.dev.to_be_bytes());
        bytes.extend_from_slice(&self.ino.to_be_bytes());
        bytes.extend_from_slice(&self.len.to_be_bytes());
        bytes.extend_from_slice(&self.tag);
        let new = format!("{partial}{RECORD_SUFFIX}.{}.new", super::hex8(&crate::random_bytes()));
        let mut file = private.create_new(&new, 0o600)?;
        file.write_all(&bytes)?;
        private.rename_to(&new, private, &format!("{partial}{RECORD_SUFFIX}"))
    }

    /// The record of the partial file `partial` in `private`, if there is a well-formed one.
    pub(super) fn load(private: &Dir, partial: &str) -> std::io::Result<Option<Record>> {
        let Some(mut file) = private.open_existing(&format!("{partial}{RECORD_SUFFIX}"))? else { return Ok(None) };
        let mut bytes = Vec::new();
        Read::by_ref(&mut file).take(61).read_to_end(&mut bytes)?;
        if bytes.len() != 60 || &bytes[..4] != RECORD_MAGIC {
            return Ok(None);
        }
        let word = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        Ok(Some(Record {
            dev: word(4),
            ino: word(12),
            len: word(20),
            tag: bytes[28..60].try_into().expect("32 bytes"),
        }))
    }

    /// Removes the record of the partial file `partial`.
    pub(super) fn remove(private: &Dir, partial: &str) -> std::io::Result<()> {
        private.remove(&format!("{partial}{RECORD_SUFFIX}"))
    }
}

/// The keyed digest of a record: SHA3-256 over the secret, the file's identity, the length and
/// the SHA3-256 of its first `len` bytes (SHA3 with a secret prefix is a MAC).
fn tag(secret: &[u8; 32], dev: u64, ino: u64, len: u64, prefix: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha3_256::new();
    h.update(b"stt transfer partial record");
    h.update(secret);
    h.update(dev.to_be_bytes());
    h.update(ino.to_be_bytes());
    h.update(len.to_be_bytes());
    h.update(prefix);
    h.finalize().into()
}

/// The attempts at each partial file, by its path: the lock an attempt holds while it writes
/// there, and the number of attempts that asked for it so far (each attempt's ticket).
type Claims = BTreeMap<PathBuf, (Arc<tokio::sync::Mutex<()>>, Arc<watch::Sender<u64>>)>;
static CLAIMS: Mutex<Claims> = Mutex::new(BTreeMap::new());

/// A transfer's exclusive hold on a partial file. The latest attempt wins: an attempt that
/// asks after this one makes [`Claim::superseded`] complete, and this one lets go.
pub(super) struct Claim {
    path: PathBuf,
    _guard: OwnedMutexGuard<()>,
    ticket: u64,
    requests: watch::Receiver<u64>,
}

impl Claim {
    /// Takes the partial file at `path`, first asking the attempt that holds it (if any) to
    /// stop: its sender reconnected, and its old session is dead but not yet timed out.
    pub(super) async fn take(path: &Path) -> Claim {
        let (lock, requests) = {
            let mut claims = CLAIMS.lock().unwrap_or_else(|p| p.into_inner());
            let entry =
                claims.entry(path.to_path_buf()).or_insert_with(|| (Arc::default(), Arc::new(watch::Sender::new(0))));
            (entry.0.clone(), entry.1.clone())
        };
        // A ticket above the holder's is its signal to stop; the count never goes back, so no
        // request is lost whoever holds the lock when it is made.
        let mut ticket = 0;
        requests.send_modify(|n| {
            *n += 1;
            ticket = *n;
        });
        let guard = lock.lock_owned().await;
        Claim { path: path.to_path_buf(), _guard: guard, ticket, requests: requests.subscribe() }
    }

    /// Completes when a later attempt of the same file asks for the partial file.
    pub(super) async fn superseded(&mut self) {
        let ticket = self.ticket;
        // The sender lives in the map as long as a claim on the path exists.
        let _ = self.requests.wait_for(|n| *n > ticket).await;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut claims = CLAIMS.lock().unwrap_or_else(|p| p.into_inner());
        // Forget the entry when no other attempt waits for it (the map holds one reference
        // to the lock and this claim's guard another).
        if claims.get(&self.path).is_some_and(|(lock, _)| Arc::strong_count(lock) <= 2) {
            claims.remove(&self.path);
        }
    }
}
