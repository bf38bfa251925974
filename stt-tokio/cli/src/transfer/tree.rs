//! Directories: relative paths (checked component by component, never leaving the receiving
//! directory), the directories a path needs (created without following a link), and the
//! manifest a sender writes after a directory's files, which the receiver verifies against the
//! files it stored in this session and the disk.

use std::collections::HashMap;
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::dir::{self, Dir, FileId};
use super::{is_plain_name, Limits, Received, Status, TransferError, DIRECTORY_COST, MANIFEST};

/// Longest relative path (the name field of a file in a directory, or of a manifest entry).
pub const MAX_PATH: usize = 4096;
/// Most components in a relative path.
pub const MAX_DEPTH: usize = 64;
/// Most entries one manifest may list on the wire ([`Limits::max_manifest_entries`] is a
/// receiver's own, lower, limit).
pub const MAX_ENTRIES: u32 = 1_000_000;
/// Most bytes of paths one manifest may hold.
pub(super) const MAX_MANIFEST_PATHS: usize = 64 << 20;
/// Problems named in a [`Status::ManifestMismatch`] message; the rest are counted.
const PROBLEMS_NAMED: usize = 5;

/// True if `path` is a relative path a receiver accepts: components separated by `/`, each a
/// plain name ([`is_plain_name`]), at most [`MAX_DEPTH`] of them and [`MAX_PATH`] bytes.
pub fn is_relative_path(path: &str) -> bool {
    path.len() <= MAX_PATH
        && path.split('/').count() <= MAX_DEPTH
        && path.split('/').all(|c| c.len() <= super::MAX_NAME && is_plain_name(c))
}

/// One entry of a directory's manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestEntry {
    /// A directory (it exists at the receiver after the manifest, empty or not).
    Directory {
        /// Its relative path, starting with the top directory's name.
        path: String,
    },
    /// A file the receiver verified in this session.
    File {
        /// Its relative path, starting with the top directory's name.
        path: String,
        /// Its length in bytes.
        len: u64,
        /// SHA3-256 of its contents.
        digest: [u8; 32],
    },
}

impl ManifestEntry {
    /// The entry's relative path.
    pub fn path(&self) -> &str {
        match self {
            ManifestEntry::Directory { path } | ManifestEntry::File { path, .. } => path,
        }
    }
}

/// The manifest's bytes: type, top directory name, entry count and entries.
pub(super) fn encode_manifest(top: &str, entries: &[ManifestEntry]) -> Vec<u8> {
    let mut out = vec![MANIFEST];
    out.extend_from_slice(&(top.len() as u16).to_be_bytes());
    out.extend_from_slice(top.as_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for entry in entries {
        let path = entry.path();
        out.push(matches!(entry, ManifestEntry::File { .. }) as u8);
        out.extend_from_slice(&(path.len() as u16).to_be_bytes());
        out.extend_from_slice(path.as_bytes());
        if let ManifestEntry::File { len, digest, .. } = entry {
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(digest);
        }
    }
    out
}

/// Reads a manifest after its type byte: the top directory's name and the entries, each path
/// checked and inside the top directory, within `limits` (entries, directories, and the
/// directories' [`DIRECTORY_COST`] against the size limit): a manifest past them is refused
/// before any directory is made.
pub(super) async fn read_manifest<R: AsyncRead + Unpin>(
    rx: &mut R,
    limits: &Limits,
) -> Result<(String, Vec<ManifestEntry>), TransferError> {
    let top = read_path(rx).await?;
    if !is_plain_name(&top) {
        return Err(refused(&top));
    }
    let count = rx.read_u32().await?;
    if count > MAX_ENTRIES {
        return Err(TransferError::Protocol("manifest with more than 1,000,000 entries"));
    }
    let too_many = |what: String| TransferError::Rejected { status: Status::TooLarge, message: what };
    if count > limits.max_manifest_entries {
        let max = limits.max_manifest_entries;
        return Err(too_many(format!("the manifest lists {count} entries, over the receiver's limit of {max}")));
    }
    // The top directory is made too.
    let mut directories = 1u64;
    // Grown as entries arrive, never reserved from the peer's count.
    let mut entries = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut path_bytes = 0;
    for _ in 0..count {
        let kind = rx.read_u8().await?;
        let path = read_path(rx).await?;
        if !is_relative_path(&path) || !(path == top || path.starts_with(&format!("{top}/"))) {
            return Err(refused(&path));
        }
        path_bytes += path.len();
        if path_bytes > MAX_MANIFEST_PATHS {
            return Err(TransferError::Protocol("manifest paths longer than 64 MiB in all"));
        }
        // Each file is hashed once: a path listed twice is refused.
        if !seen.insert(path.clone()) {
            return Err(TransferError::Protocol("a path listed twice in a manifest"));
        }
        entries.push(match kind {
            0 => {
                directories += 1;
                if directories > u64::from(limits.max_manifest_directories) {
                    let max = limits.max_manifest_directories;
                    return Err(too_many(format!("the manifest lists more than {max} directories, the receiver's limit")));
                }
                if directories.saturating_mul(DIRECTORY_COST) > limits.max_size {
                    return Err(too_many(format!(
                        "the manifest's directories count {DIRECTORY_COST} bytes each, over the receiver's limit of {} bytes",
                        limits.max_size
                    )));
                }
                ManifestEntry::Directory { path }
            }
            1 => {
                let len = rx.read_u64().await?;
                let mut digest = [0u8; 32];
                rx.read_exact(&mut digest).await?;
                ManifestEntry::File { path, len, digest }
            }
            _ => return Err(TransferError::Protocol("unknown manifest entry kind")),
        });
    }
    Ok((top, entries))
}

async fn read_path<R: AsyncRead + Unpin>(rx: &mut R) -> Result<String, TransferError> {
    let len = rx.read_u16().await? as usize;
    if len > MAX_PATH {
        return Err(TransferError::Protocol("path longer than 4096 bytes"));
    }
    let mut bytes = vec![0u8; len];
    rx.read_exact(&mut bytes).await?;
    String::from_utf8(bytes).map_err(|_| TransferError::Protocol("path is not UTF-8"))
}

fn refused(path: &str) -> TransferError {
    TransferError::Rejected {
        status: Status::RefusedName,
        message: format!("refused name {path:?}: send plain names (no '..', no hidden names, no control characters)"),
    }
}

/// What a receiver stored in one session, by the name the sender gave each file, with its length,
/// digest and identity as placed: what a manifest is checked against, without reading the files
/// again.
#[derive(Debug, Default)]
pub struct Receipts {
    stored: HashMap<String, Stored>,
}

#[derive(Debug)]
struct Stored {
    path: PathBuf,
    len: u64,
    digest: [u8; 32],
    file: FileId,
}

impl Receipts {
    /// Notes a file stored in a directory (a file written to a sink is not noted).
    pub fn record(&mut self, received: &Received) {
        if let (Some(path), Some(file)) = (&received.path, received.file) {
            let stored = Stored { path: path.clone(), len: received.bytes, digest: received.digest, file };
            self.stored.insert(received.name.clone(), stored);
        }
    }

    /// Where the file the sender called `name` was stored in this session.
    pub fn stored_at(&self, name: &str) -> Option<&std::path::Path> {
        self.stored.get(name).map(|s| s.path.as_path())
    }
}

/// A directory verified against its manifest.
#[derive(Clone, Debug)]
pub struct VerifiedTree {
    /// The top directory's name.
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// Files checked.
    pub files: u64,
    /// Directories present (empty ones created).
    pub directories: u64,
    /// Bytes of the files checked.
    pub bytes: u64,
}

/// Opens the directories of `relative` (a checked relative path) under `top`, one component at
/// a time relative to the one before, creating those that are missing (counted against
/// `limits`); a component that exists as anything but a directory (a file, a link) is an
/// error, so nothing is ever written through a link.
pub(super) fn create_dirs(top: &Dir, relative: &str, limits: &Limits) -> Result<Dir, TransferError> {
    let mut components = relative.split('/').filter(|c| !c.is_empty());
    let Some(first) = components.next() else { return Ok(Dir::open(top.path())?) };
    let open = |parent: &Dir, component: &str| {
        parent.subdir(component, 0o777, || limits.count_directory()).map(|(d, _)| d).map_err(|e| {
            TransferError::Rejected { status: Status::StorageError, message: format!("{relative:?}: {e}") }
        })
    };
    let mut dir = open(top, first)?;
    for component in components {
        dir = open(&dir, component)?;
    }
    Ok(dir)
}

/// Checks a manifest read from the sender against `receipts` and the disk under `top`: every
/// directory exists (created if missing), every file was stored in this session with the
/// listed length and SHA3-256, and is still the file placed then (same inode, length and change
/// time: nothing has written to it since), so no file is read again.
pub(super) fn verify_manifest(
    top: &Dir,
    top_name: String,
    entries: Vec<ManifestEntry>,
    receipts: &Receipts,
    limits: &Limits,
) -> Result<VerifiedTree, TransferError> {
    // The first problems, named; the others counted.
    let mut problems = Vec::new();
    let mut more_problems = 0usize;
    let mut problem = |text: String| {
        if problems.len() < PROBLEMS_NAMED {
            problems.push(text);
        } else {
            more_problems += 1;
        }
    };
    let (mut files, mut directories, mut bytes) = (0u64, 0u64, 0u64);
    create_dirs(top, &top_name, limits)?;
    for entry in &entries {
        match entry {
            ManifestEntry::Directory { path } => match create_dirs(top, path, limits) {
                Ok(_) => directories += 1,
                Err(e) => problem(format!("{path} ({e})")),
            },
            ManifestEntry::File { path, len, digest } => {
                let Some(stored) = receipts.stored.get(path) else {
                    problem(format!("{path} (not received)"));
                    continue;
                };
                if stored.len != *len || stored.digest != *digest {
                    problem(format!("{path} (differs from the sender's)"));
                } else if dir::id_at(&stored.path).ok() != Some(stored.file) {
                    problem(format!("{path} (changed at the receiver since it was received)"));
                } else {
                    files += 1;
                    bytes += len;
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(VerifiedTree { path: top.path().join(&top_name), name: top_name, files, directories, bytes });
    }
    let total = problems.len() + more_problems;
    let mut message =
        format!("{total} of {} entries of {top_name:?} do not match: {}", entries.len(), problems.join(", "));
    if more_problems > 0 {
        message.push_str(&format!(" and {more_problems} more"));
    }
    Err(TransferError::Rejected { status: Status::ManifestMismatch, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside_and_are_plain() {
        assert!(is_relative_path("photos/2026/a.jpg"));
        assert!(is_relative_path("a"));
        for bad in ["", "/etc/passwd", "a/../b", "a//b", "a/./b", "a/.hidden", "a\\b", "a/b\n", "a/"] {
            assert!(!is_relative_path(bad), "{bad:?} accepted");
        }
        assert!(!is_relative_path(&["d"; MAX_DEPTH + 1].join("/")));
    }

    #[tokio::test]
    async fn a_manifest_reads_back_and_refuses_paths_outside_its_directory() {
        let entries = vec![
            ManifestEntry::Directory { path: "top/empty".into() },
            ManifestEntry::File { path: "top/a.txt".into(), len: 3, digest: [7; 32] },
        ];
        let bytes = encode_manifest("top", &entries);
        let mut rx = &bytes[1..];
        let (top, read) = read_manifest(&mut rx, &Limits::default()).await.unwrap();
        assert_eq!((top.as_str(), read), ("top", entries));
        let twice = encode_manifest(
            "top",
            &[ManifestEntry::Directory { path: "top/a".into() }, ManifestEntry::Directory { path: "top/a".into() }],
        );
        let mut rx = &twice[1..];
        assert!(
            matches!(read_manifest(&mut rx, &Limits::default()).await, Err(TransferError::Protocol(m)) if m.contains("twice"))
        );
        let outside = encode_manifest("top", &[ManifestEntry::Directory { path: "other/x".into() }]);
        let mut rx = &outside[1..];
        assert!(matches!(
            read_manifest(&mut rx, &Limits::default()).await,
            Err(TransferError::Rejected { status: Status::RefusedName, .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn directories_are_never_created_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("top")).unwrap();
        let top = Dir::open(dir.path()).unwrap();
        assert!(create_dirs(&top, "top/sub", &Limits::default()).is_err());
        assert!(!elsewhere.path().join("sub").exists());
    }
}
