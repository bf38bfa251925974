//! Resuming a large file: the partial file a receiver keeps when a transfer is cut, under a
//! name derived from the sender's resume key, and the claim that lets a resumed transfer take
//! that file over from a transfer whose sender is gone but whose session has not timed out yet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha3::{Digest, Sha3_256};
use tokio::sync::{watch, OwnedMutexGuard};

/// Files at least this long are sent resumably (smaller ones are cheaper to send again than to
/// negotiate).
pub const RESUME_MIN: u64 = 1 << 20;
/// Prefix of a resumable partial file's name (kept across listener restarts, unlike the
/// `.stt-<hex>.partial` files of other transfers).
pub(super) const PARTIAL_PREFIX: &str = ".stt-resume-";
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

/// Where a receiver keeps the partial file of a resumable transfer in `dir`.
pub(super) fn partial_path(dir: &Path, key: &[u8; 32], name: &str) -> PathBuf {
    let mut h = Sha3_256::new();
    h.update(key);
    h.update(name.as_bytes());
    let digest: [u8; 32] = h.finalize().into();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{PARTIAL_PREFIX}{hex}.partial"))
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
