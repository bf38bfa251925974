//! The resumption tickets file of `--tickets FILE`: the tickets a client node holds, kept from
//! one run to the next so that the next session to the same listener resumes (one round trip,
//! one X25519 agreement a side). The file holds secrets: it is created with mode 0600 and
//! replaced whole (written beside, then renamed); a file others may read is warned about.
//!
//! Format: `"STT tickets 1\n"`, then per ticket `expires (8, Unix time in ms) || len (2) ||
//! SavedTicket::to_bytes()`. Expired tickets are skipped when read and not written back; a
//! ticket used in a run is gone from the node (it opens one session) and so from the file.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stt_tokio::{Node, SavedTicket};
use zeroize::Zeroizing;

use crate::Failure;

const MAGIC: &[u8] = b"STT tickets 1\n";

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Gives `node` the valid tickets of `path` (none if it does not exist yet); returns how many.
pub(crate) fn load(node: &Node, path: &Path) -> Result<usize, Failure> {
    let bytes = match std::fs::read(path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Failure::new(2, format!("cannot read tickets file {}: {e}", path.display()))),
    };
    warn_if_readable(path);
    let bad = || Failure::new(2, format!("{} is not a tickets file (delete it to start afresh)", path.display()));
    let mut rest = bytes.strip_prefix(MAGIC).ok_or_else(bad)?;
    let now = unix_ms(SystemTime::now());
    let mut restored = 0;
    while !rest.is_empty() {
        let (head, tail) = rest.split_at_checked(10).ok_or_else(bad)?;
        let expires = u64::from_be_bytes(head[..8].try_into().expect("8 bytes"));
        let len = usize::from(u16::from_be_bytes([head[8], head[9]]));
        let (entry, tail) = tail.split_at_checked(len).ok_or_else(bad)?;
        rest = tail;
        let mut ticket = SavedTicket::from_bytes(entry).ok_or_else(bad)?;
        if expires > now {
            ticket.valid_for = Duration::from_millis(expires - now);
            node.restore_ticket(ticket);
            restored += 1;
        }
    }
    Ok(restored)
}

/// Writes the tickets `node` holds now to `path` (mode 0600), replacing it.
pub(crate) fn save(node: &Node, path: &Path) -> Result<(), Failure> {
    use std::io::Write;
    let now = unix_ms(SystemTime::now());
    let tickets: Vec<(Duration, Zeroizing<Vec<u8>>)> =
        node.saved_tickets().into_iter().map(|t| (t.valid_for, t.to_bytes())).collect();
    // Sized once, so that the buffer of secrets never moves (a move would leave a copy behind).
    let size = MAGIC.len() + tickets.iter().map(|(_, b)| 10 + b.len()).sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(size));
    out.extend_from_slice(MAGIC);
    for (valid_for, bytes) in &tickets {
        let expires = now.saturating_add(u64::try_from(valid_for.as_millis()).unwrap_or(u64::MAX));
        out.extend_from_slice(&expires.to_be_bytes());
        out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    // A new file of a name nobody can guess, never one that exists (or a link planted there).
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| Failure::new(1, format!("no OS randomness: {e}")))?;
    let beside = path.with_file_name(format!(".{name}.{}.tmp", crate::hex(&nonce)));
    let failed = |e: std::io::Error| Failure::new(1, format!("cannot write tickets file {}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&beside).map_err(failed)?;
    let written = file.write_all(&out).and_then(|()| file.sync_all()).and_then(|()| std::fs::rename(&beside, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&beside);
    }
    written.map_err(failed)
}

fn warn_if_readable(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "stt: warning: tickets file {} can be read by other users (mode {mode:04o}): each ticket opens a \
                 session in this node's name; run: chmod 600 {}",
                path.display(),
                path.display()
            );
        }
    }
}
