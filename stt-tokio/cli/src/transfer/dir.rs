//! The directories a receiver writes in, reached without following links: a [`Dir`] is a handle
//! opened once, and every file and directory below it is created, opened, linked, renamed and
//! removed relative to a handle (`openat`, `mkdirat`, `linkat`, `renameat`, `unlinkat` with
//! `O_NOFOLLOW`), never by a path that a local user could redirect between two steps. The
//! receiving directory itself is the operator's choice and may be a link; nothing under it is
//! followed.
//!
//! Files in progress live in the receiving directory's private directory ([`PRIVATE_DIR`],
//! mode 0700, owned by the receiver), created with `O_EXCL`, and are linked into place once
//! verified.
//!
//! On systems without these calls (not unix) the same operations go through paths, with
//! `create_new` for files: there a local user who can write in the receiving directory can
//! redirect a write through a link.

use std::io;
use std::path::{Path, PathBuf};

/// The private directory inside a receiving directory that holds files in progress and the kept
/// partial files of interrupted resumable transfers.
pub const PRIVATE_DIR: &str = ".stt-receiving";

/// What a receiver knows of a file without reading it: enough to tell that a file is still the
/// one it wrote (device and inode), that it has one name (a link count of 1), and whether its
/// contents may have changed since (length and change time, which no user can set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device and inode.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Length in bytes.
    pub len: u64,
    /// Names the file has.
    pub links: u64,
    /// Status change time (seconds and nanoseconds): changes on every write.
    pub changed: (i64, i64),
    /// A regular file (not a directory, link, device or pipe).
    pub regular: bool,
}

/// A directory handle.
#[derive(Debug)]
pub(super) struct Dir {
    #[cfg(unix)]
    fd: std::os::fd::OwnedFd,
    path: PathBuf,
}

fn not_a_directory(path: &Path) -> io::Error {
    io::Error::other(format!("{} exists and is not a directory", path.display()))
}

#[cfg(unix)]
mod sys {
    pub(super) use rustix::fs::{AtFlags, Mode, OFlags};
}

/// What a `stat` says of a file.
#[cfg(unix)]
// The field types differ between platforms (u64 on some, i32 or u32 on others).
#[allow(clippy::unnecessary_cast)]
fn id_of_stat(st: &rustix::fs::Stat) -> FileId {
    FileId {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        len: st.st_size as u64,
        links: st.st_nlink as u64,
        changed: (st.st_ctime as i64, st.st_ctime_nsec as i64),
        regular: rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile,
    }
}

impl Dir {
    /// Opens the receiving directory at `path` (the operator's; a link there is followed).
    pub(super) fn open(path: &Path) -> io::Result<Dir> {
        #[cfg(unix)]
        {
            let flags = sys::OFlags::RDONLY | sys::OFlags::DIRECTORY | sys::OFlags::CLOEXEC;
            let fd = rustix::fs::open(path, flags, sys::Mode::empty())?;
            Ok(Dir { fd, path: path.to_path_buf() })
        }
        #[cfg(not(unix))]
        {
            if !std::fs::metadata(path)?.is_dir() {
                return Err(not_a_directory(path));
            }
            Ok(Dir { path: path.to_path_buf() })
        }
    }

    /// The path this handle was opened at (for messages; never used to reach a file on unix).
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The directory `name` in this one, created (with `mode`, less the umask) if it does not
    /// exist and `create` allows it (called once, before anything is created). Returns the
    /// directory and whether it was created. A name that exists as anything but a directory, a
    /// link included, is an error.
    pub(super) fn subdir(
        &self,
        name: &str,
        mode: u32,
        create: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<(Dir, bool)> {
        let path = self.path.join(name);
        let exists = self.stat(name)?.is_some();
        let mut created = false;
        if !exists {
            create()?;
            #[cfg(unix)]
            let made =
                rustix::fs::mkdirat(&self.fd, name, sys::Mode::from_raw_mode(mode as _)).map_err(io::Error::from);
            #[cfg(not(unix))]
            let made = {
                let _ = mode;
                std::fs::create_dir(&path)
            };
            match made {
                Ok(()) => created = true,
                // Made by a transfer running beside this one.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        #[cfg(unix)]
        {
            let flags = sys::OFlags::RDONLY | sys::OFlags::DIRECTORY | sys::OFlags::NOFOLLOW | sys::OFlags::CLOEXEC;
            match rustix::fs::openat(&self.fd, name, flags, sys::Mode::empty()) {
                Ok(fd) => Ok((Dir { fd, path }, created)),
                Err(rustix::io::Errno::NOTDIR | rustix::io::Errno::LOOP) => Err(not_a_directory(&path)),
                Err(e) => Err(e.into()),
            }
        }
        #[cfg(not(unix))]
        {
            if !std::fs::symlink_metadata(&path)?.is_dir() {
                return Err(not_a_directory(&path));
            }
            Ok((Dir { path }, created))
        }
    }

    /// The private directory of this receiving directory ([`PRIVATE_DIR`]), created with mode
    /// 0700 if missing. One that this user does not own, or that others may enter, is refused:
    /// another local user may have made it to watch or redirect what is received.
    pub(super) fn private(&self) -> io::Result<Dir> {
        let (dir, _) = self.subdir(PRIVATE_DIR, 0o700, || Ok(()))?;
        #[cfg(unix)]
        {
            let st = rustix::fs::fstat(&dir.fd)?;
            if st.st_uid != rustix::process::geteuid().as_raw() || st.st_mode & 0o077 != 0 {
                return Err(io::Error::other(format!(
                    "{} is not private to this user (owner {}, mode {:o}): remove it and let the receiver make it again",
                    dir.path.display(),
                    st.st_uid,
                    st.st_mode & 0o7777
                )));
            }
        }
        Ok(dir)
    }

    /// Creates the file `name`, which must not exist (not even as a link), for reading and
    /// writing, with `mode` less the umask (0o666 for a file that becomes visible, as `create`
    /// makes it; 0o600 for one that stays private).
    pub(super) fn create_new(&self, name: &str, mode: u32) -> io::Result<std::fs::File> {
        #[cfg(unix)]
        {
            let flags = sys::OFlags::RDWR
                | sys::OFlags::CREATE
                | sys::OFlags::EXCL
                | sys::OFlags::NOFOLLOW
                | sys::OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&self.fd, name, flags, sys::Mode::from_raw_mode(mode as _))?;
            Ok(std::fs::File::from(fd))
        }
        #[cfg(not(unix))]
        {
            let _ = mode;
            std::fs::File::options().read(true).write(true).create_new(true).open(self.path.join(name))
        }
    }

    /// Opens the existing file `name` for reading and writing, if there is one; a link is not
    /// followed (an error).
    pub(super) fn open_existing(&self, name: &str) -> io::Result<Option<std::fs::File>> {
        #[cfg(unix)]
        let opened = {
            let flags = sys::OFlags::RDWR | sys::OFlags::NOFOLLOW | sys::OFlags::CLOEXEC;
            rustix::fs::openat(&self.fd, name, flags, sys::Mode::empty())
                .map(std::fs::File::from)
                .map_err(io::Error::from)
        };
        #[cfg(not(unix))]
        let opened = std::fs::File::options().read(true).write(true).open(self.path.join(name));
        match opened {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// What the entry `name` is, without following a link; `None` if there is none.
    pub(super) fn stat(&self, name: &str) -> io::Result<Option<FileId>> {
        #[cfg(unix)]
        let found = rustix::fs::statat(&self.fd, name, sys::AtFlags::SYMLINK_NOFOLLOW)
            .map(|st| id_of_stat(&st))
            .map_err(io::Error::from);
        #[cfg(not(unix))]
        let found = std::fs::symlink_metadata(self.path.join(name)).map(|m| id_of_metadata(&m));
        match found {
            Ok(id) => Ok(Some(id)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Gives the file `name` of this directory the name `to_name` in `to` as well; fails with
    /// `AlreadyExists` if that name is taken (by anything, a link included): nothing is replaced.
    pub(super) fn link_to(&self, name: &str, to: &Dir, to_name: &str) -> io::Result<()> {
        #[cfg(unix)]
        {
            rustix::fs::linkat(&self.fd, name, &to.fd, to_name, sys::AtFlags::empty())?;
            Ok(())
        }
        #[cfg(not(unix))]
        {
            std::fs::hard_link(self.path.join(name), to.path.join(to_name))
        }
    }

    /// Moves the file `name` to `to_name` in `to`, replacing what has that name (a link there is
    /// replaced, not followed).
    pub(super) fn rename_to(&self, name: &str, to: &Dir, to_name: &str) -> io::Result<()> {
        #[cfg(unix)]
        {
            rustix::fs::renameat(&self.fd, name, &to.fd, to_name)?;
            Ok(())
        }
        #[cfg(not(unix))]
        {
            std::fs::rename(self.path.join(name), to.path.join(to_name))
        }
    }

    /// Removes the file (or link) `name`; one that is already gone is not an error.
    pub(super) fn remove(&self, name: &str) -> io::Result<()> {
        #[cfg(unix)]
        let removed = rustix::fs::unlinkat(&self.fd, name, sys::AtFlags::empty()).map_err(io::Error::from);
        #[cfg(not(unix))]
        let removed = std::fs::remove_file(self.path.join(name));
        match removed {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// The names in this directory (`.` and `..` left out).
    pub(super) fn names(&self) -> io::Result<Vec<String>> {
        #[cfg(unix)]
        {
            let mut out = Vec::new();
            for entry in rustix::fs::Dir::read_from(&self.fd)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name != "." && name != ".." {
                    out.push(name);
                }
            }
            Ok(out)
        }
        #[cfg(not(unix))]
        {
            std::fs::read_dir(&self.path)?.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect()
        }
    }
}

/// What is at `path`, without following a link in its last component (metadata only: nothing
/// is read, so an intermediate link reveals nothing but whether the file is the same one).
pub(super) fn id_at(path: &Path) -> io::Result<FileId> {
    let m = std::fs::symlink_metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(FileId {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            links: m.nlink(),
            changed: (m.ctime(), m.ctime_nsec()),
            regular: m.file_type().is_file(),
        })
    }
    #[cfg(not(unix))]
    {
        Ok(id_of_metadata(&m))
    }
}

/// What `file` is (an open file: no path involved).
pub(super) fn id_of(file: &std::fs::File) -> io::Result<FileId> {
    #[cfg(unix)]
    {
        Ok(id_of_stat(&rustix::fs::fstat(file)?))
    }
    #[cfg(not(unix))]
    {
        Ok(id_of_metadata(&file.metadata()?))
    }
}

#[cfg(not(unix))]
fn id_of_metadata(m: &std::fs::Metadata) -> FileId {
    let changed = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
    FileId {
        dev: 0,
        ino: 0,
        len: m.len(),
        links: 1,
        changed: (changed.as_secs() as i64, i64::from(changed.subsec_nanos())),
        regular: m.is_file(),
    }
}
