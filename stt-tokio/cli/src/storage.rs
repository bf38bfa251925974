//! The filesystem backend for the content-addressed store ([`stt_proto::storage`]): one file per
//! sealed blob, named by its address in hex, written atomically (temporary file, fsync, rename,
//! fsync of the directory), with an optional size limit enforced by least-recently-used eviction.
//!
//! Opening a directory rebuilds the index from the files in it and deletes leftover temporary
//! files, so a writer killed mid-write leaves no partial blob: a blob is either whole (and `get`
//! verifies it) or absent. The calls are blocking file I/O; from async code run them with
//! `tokio::task::spawn_blocking`.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use stt_proto::storage::{Address, BlobBackend};

const TEMP_PREFIX: &str = ".tmp-";

#[derive(Debug)]
struct Entry {
    size: u64,
    last_used: u64,
}

/// Sealed blobs as files in one directory.
#[derive(Debug)]
pub struct FsBackend {
    dir: PathBuf,
    limit: Option<u64>,
    entries: HashMap<Address, Entry>,
    /// `last_used` tick -> address, oldest first.
    by_use: BTreeMap<u64, Address>,
    total: u64,
    tick: u64,
    temp_counter: u64,
}

impl FsBackend {
    /// Opens (creating if needed) `dir`, with no size limit.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<FsBackend> {
        Self::open_with_limit(dir, None)
    }

    /// Opens `dir` and keeps the sealed blobs' total size at or under `limit` bytes by evicting the
    /// least recently used blobs (written or read) when a write would exceed it.
    pub fn open_with_limit(dir: impl AsRef<Path>, limit: Option<u64>) -> io::Result<FsBackend> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let mut backend = FsBackend {
            dir,
            limit,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            total: 0,
            tick: 0,
            temp_counter: 0,
        };
        backend.rebuild_index()?;
        Ok(backend)
    }

    /// Total size of the stored blobs, in bytes.
    pub fn total_size(&self) -> u64 {
        self.total
    }

    /// The file holding `address`.
    pub fn path_of(&self, address: &Address) -> PathBuf {
        self.dir.join(address.to_string())
    }

    fn rebuild_index(&mut self) -> io::Result<()> {
        for item in fs::read_dir(&self.dir)? {
            let item = item?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TEMP_PREFIX) {
                // A write that never reached its rename: not a blob.
                fs::remove_file(item.path())?;
                continue;
            }
            let Some(address) = Address::from_hex(name) else { continue };
            let size = item.metadata()?.len();
            self.insert(address, size);
        }
        Ok(())
    }

    fn touch(&mut self, address: &Address) {
        self.tick += 1;
        if let Some(e) = self.entries.get_mut(address) {
            self.by_use.remove(&e.last_used);
            e.last_used = self.tick;
            self.by_use.insert(self.tick, *address);
        }
    }

    fn insert(&mut self, address: Address, size: u64) {
        self.tick += 1;
        self.entries.insert(address, Entry { size, last_used: self.tick });
        self.by_use.insert(self.tick, address);
        self.total += size;
    }

    fn evict_for(&mut self, incoming: u64) -> io::Result<()> {
        let Some(limit) = self.limit else { return Ok(()) };
        while self.total + incoming > limit {
            let Some((_, oldest)) = self.by_use.first_key_value().map(|(t, a)| (*t, *a)) else { break };
            self.remove(&oldest)?;
        }
        Ok(())
    }
}

impl BlobBackend for FsBackend {
    type Error = io::Error;

    fn write(&mut self, address: &Address, blob: &[u8]) -> io::Result<()> {
        if self.entries.contains_key(address) {
            self.touch(address);
            return Ok(());
        }
        if self.limit.is_some_and(|l| blob.len() as u64 > l) {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("blob of {} bytes exceeds the store's limit", blob.len()),
            ));
        }
        self.evict_for(blob.len() as u64)?;
        self.temp_counter += 1;
        let temp = self.dir.join(format!("{TEMP_PREFIX}{address}-{}-{}", std::process::id(), self.temp_counter));
        let result = (|| {
            let mut file = fs::File::create(&temp)?;
            file.write_all(blob)?;
            file.sync_all()?;
            fs::rename(&temp, self.path_of(address))?;
            // Make the rename itself durable.
            fs::File::open(&self.dir)?.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        self.insert(*address, blob.len() as u64);
        Ok(())
    }

    fn read(&mut self, address: &Address) -> io::Result<Option<Vec<u8>>> {
        if !self.entries.contains_key(address) {
            return Ok(None);
        }
        match fs::read(self.path_of(address)) {
            Ok(blob) => {
                self.touch(address);
                Ok(Some(blob))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Removed behind our back: forget it.
                self.remove(address)?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn read_at(&mut self, address: &Address, offset: u64, buf: &mut [u8]) -> io::Result<Option<usize>> {
        use std::io::{Read, Seek};
        if !self.entries.contains_key(address) {
            return Ok(None);
        }
        let mut file = match fs::File::open(self.path_of(address)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.remove(address)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if offset == 0 {
            self.touch(address);
        }
        file.seek(io::SeekFrom::Start(offset))?;
        let mut n = 0;
        while n < buf.len() {
            match file.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(Some(n))
    }

    fn contains(&self, address: &Address) -> bool {
        self.entries.contains_key(address)
    }

    fn remove(&mut self, address: &Address) -> io::Result<bool> {
        let Some(e) = self.entries.remove(address) else { return Ok(false) };
        self.by_use.remove(&e.last_used);
        self.total -= e.size;
        match fs::remove_file(self.path_of(address)) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(err) => Err(err),
        }
    }

    fn addresses(&self) -> Vec<Address> {
        self.entries.keys().copied().collect()
    }
}
