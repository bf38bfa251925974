//! Content-addressed, encrypted storage: `put(bytes)` returns the SHA3-256 of the bytes as their
//! address; blobs are sealed at rest; `get` verifies both the seal and the hash, so a store never
//! returns wrong bytes. The backend (where sealed blobs live) is a trait: [`MemoryBackend`] here,
//! a filesystem backend in `stt-tokio`.
//!
//! Sealed blob: `"STB2" (4) || plaintext length (8, big-endian) || chunks`, the content cut into
//! chunks of [`BLOB_CHUNK`] bytes (the last shorter; one empty chunk for empty content), each
//! `ciphertext || tag (16)`. Storage key = `HKDF(salt = "", ikm = storage seed, "stt/v1
//! storage")`; per blob, `PRK = Extract(salt = address, ikm = storage key)`, key =
//! `Expand(PRK, "stt/v1 blob", 32)`, IV = `Expand(PRK, "stt/v1 blob", 44)[32..]`; AES-256-GCM,
//! nonce counter = chunk index, associated data = `"STB2" || address || length`. A blob can be
//! opened one chunk at a time ([`Store::chunks`]), so a large one is served without holding it
//! whole. Blobs of the earlier format `"STB1"` (one chunk of any length, counter 0, associated
//! data with `"STB1"`) are still read. One content gives one blob (deduplication).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::crypto::{hkdf, hkdf_expand, hkdf_extract, labels, sha3_256, CryptoBackend, PacketKey, Suite, KEY_LEN};
use crate::crypto::{NONCE_LEN, TAG_LEN};

const MAGIC: &[u8; 4] = b"STB2";
/// The single-chunk format of earlier versions, still read.
const MAGIC_V1: &[u8; 4] = b"STB1";
/// Bytes of content in each chunk of a sealed blob but the last.
pub const BLOB_CHUNK: usize = 64 * 1024;
const HEADER: usize = 4 + 8;

/// Bytes of the sealed blob of `content_len` bytes of content.
pub const fn sealed_len(content_len: u64) -> u64 {
    let chunks = if content_len == 0 { 1 } else { content_len.div_ceil(BLOB_CHUNK as u64) };
    HEADER as u64 + content_len + chunks * TAG_LEN as u64
}

/// A content address: SHA3-256 of the plaintext.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 32]);

impl Address {
    /// The address of `content`.
    pub fn of(content: &[u8]) -> Address {
        Address(sha3_256(&[content]))
    }

    /// Parses 64 hex digits.
    pub fn from_hex(hex: &str) -> Option<Address> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16);
            out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Some(Address(out))
    }
}

impl core::fmt::Display for Address {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl core::fmt::Debug for Address {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Address({self})")
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError<E> {
    /// The stored blob is damaged or not sealed under this store's key, or its content does not
    /// hash to the address. The blob is left in place; delete it or restore it from a peer.
    #[error("integrity check failed for {0}: the stored blob is damaged or from another key")]
    Integrity(Address),
    /// The backend failed.
    #[error("storage backend: {0}")]
    Backend(E),
}

/// Where sealed blobs live. Implementations store opaque bytes under an address.
pub trait BlobBackend {
    /// The backend's error.
    type Error;
    /// Stores `blob` under `address`, replacing nothing if it exists. Must be atomic: after a
    /// crash the blob is either whole or absent.
    fn write(&mut self, address: &Address, blob: &[u8]) -> Result<(), Self::Error>;
    /// The blob under `address`, if any.
    fn read(&mut self, address: &Address) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Bytes of the blob under `address` from `offset` into `buf`: how many were read (fewer at
    /// the blob's end), or `None` if there is no such blob. The default reads the whole blob; a
    /// backend on a disk reads only the range.
    fn read_at(&mut self, address: &Address, offset: u64, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        Ok(self.read(address)?.map(|blob| copy_from(&blob, offset, buf)))
    }
    /// True if a blob is stored under `address`.
    fn contains(&self, address: &Address) -> bool;
    /// Removes the blob; returns whether there was one.
    fn remove(&mut self, address: &Address) -> Result<bool, Self::Error>;
    /// Every stored address.
    fn addresses(&self) -> Vec<Address>;
}

/// The content-addressed store over a backend.
#[derive(Debug)]
pub struct Store<B> {
    backend: B,
    key: [u8; KEY_LEN],
}

impl<B: BlobBackend> Store<B> {
    /// A store whose blobs are sealed under a key derived from `storage_seed`.
    pub fn new(backend: B, storage_seed: &[u8]) -> Store<B> {
        Store { backend, key: storage_key(storage_seed) }
    }

    /// Stores `content`; returns its address. Storing the same content again stores nothing new.
    pub fn put(&mut self, content: &[u8]) -> Result<Address, StoreError<B::Error>> {
        let address = Address::of(content);
        if !self.backend.contains(&address) {
            let blob = seal_blob(&self.key, &address, content);
            self.backend.write(&address, &blob).map_err(StoreError::Backend)?;
        }
        Ok(address)
    }

    /// The content at `address`, verified; `None` if absent. Holds the whole content: a large
    /// one is better read with [`Store::chunks`].
    pub fn get(&mut self, address: &Address) -> Result<Option<Vec<u8>>, StoreError<B::Error>> {
        let Some(mut chunks) = self.chunks(address)? else { return Ok(None) };
        let mut content = Vec::new();
        let mut chunk = Vec::new();
        while self.read_chunk(&mut chunks, &mut chunk)? {
            content.extend_from_slice(&chunk);
        }
        Ok(Some(content))
    }

    /// Opens the content at `address` for reading one chunk at a time with
    /// [`Store::read_chunk`]; `None` if absent. Only the blob's header is read here.
    pub fn chunks(&mut self, address: &Address) -> Result<Option<BlobChunks>, StoreError<B::Error>> {
        let mut header = [0u8; HEADER];
        match self.backend.read_at(address, 0, &mut header).map_err(StoreError::Backend)? {
            None => return Ok(None),
            Some(n) if n < HEADER => return Err(StoreError::Integrity(*address)),
            Some(_) => {}
        }
        let len = u64::from_be_bytes(header[4..].try_into().expect("8 bytes"));
        let (v1, chunk) = match &header[..4] {
            m if m == MAGIC => (false, BLOB_CHUNK as u64),
            m if m == MAGIC_V1 => (true, len.max(1)),
            _ => return Err(StoreError::Integrity(*address)),
        };
        let count = if len == 0 { 1 } else { len.div_ceil(chunk) };
        Ok(Some(BlobChunks {
            address: *address,
            len,
            v1,
            chunk,
            count,
            next: 0,
            hasher: crate::crypto::Sha3::default(),
        }))
    }

    /// The next chunk of the content `chunks` reads, verified, into `out` (replacing what it
    /// held); `false` once every chunk was read. The last chunk is given only if the whole
    /// content hashes to the address. Holds one chunk in memory (a blob of the earlier
    /// single-chunk format is one chunk, whatever its length: [`BlobChunks::chunk_len`]).
    pub fn read_chunk(&mut self, chunks: &mut BlobChunks, out: &mut Vec<u8>) -> Result<bool, StoreError<B::Error>> {
        if chunks.next == chunks.count {
            return Ok(false);
        }
        let address = chunks.address;
        let index = chunks.next;
        let start = index * chunks.chunk;
        let plain =
            usize::try_from(chunks.chunk.min(chunks.len - start)).map_err(|_| StoreError::Integrity(address))?;
        // A damaged length can make these overflow: such a blob is not intact.
        let sealed = plain.checked_add(TAG_LEN).ok_or(StoreError::Integrity(address))?;
        let offset = (HEADER as u64)
            .checked_add(start)
            .and_then(|at| at.checked_add(index.checked_mul(TAG_LEN as u64)?))
            .ok_or(StoreError::Integrity(address))?;
        let after = offset.checked_add(sealed as u64).ok_or(StoreError::Integrity(address))?;
        // The chunk's last byte must exist before room is made for it (a damaged length in a
        // blob of the single-chunk format could ask for any amount).
        let mut last = [0u8; 1];
        let probe = self.backend.read_at(&address, after - 1, &mut last);
        if probe.map_err(StoreError::Backend)? != Some(1) {
            return Err(StoreError::Integrity(address));
        }
        out.clear();
        out.resize(sealed, 0);
        match self.backend.read_at(&address, offset, out).map_err(StoreError::Backend)? {
            Some(n) if n == out.len() => {}
            _ => return Err(StoreError::Integrity(address)),
        }
        let tag: [u8; TAG_LEN] = out[plain..].try_into().expect("16 bytes");
        out.truncate(plain);
        let magic = if chunks.v1 { MAGIC_V1 } else { MAGIC };
        blob_key(&self.key, &address)
            .open(index, &aad(magic, &address, chunks.len), out, &tag)
            .map_err(|_| StoreError::Integrity(address))?;
        chunks.hasher.update(out);
        chunks.next += 1;
        if chunks.next == chunks.count {
            // Nothing may follow the last chunk, and the whole content is the address's.
            let mut past = [0u8; 1];
            let trailing = self.backend.read_at(&address, after, &mut past).map_err(StoreError::Backend)?;
            let hasher = core::mem::take(&mut chunks.hasher);
            if trailing != Some(0) || Address(hasher.finish()) != address {
                out.clear();
                return Err(StoreError::Integrity(address));
            }
        }
        Ok(true)
    }

    /// True if `address` is stored (not verified; `get` verifies).
    pub fn contains(&self, address: &Address) -> bool {
        self.backend.contains(address)
    }

    /// Deletes the content at `address`; returns whether it was there.
    pub fn delete(&mut self, address: &Address) -> Result<bool, StoreError<B::Error>> {
        self.backend.remove(address).map_err(StoreError::Backend)
    }

    /// Every stored address.
    pub fn list(&self) -> Vec<Address> {
        self.backend.addresses()
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, mutably (to corrupt it in tests, or to tune it).
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }
}

fn blob_key(storage_key: &[u8; KEY_LEN], address: &Address) -> PacketKey {
    let prk = hkdf_extract(&address.0, storage_key);
    let mut okm = [0u8; KEY_LEN + NONCE_LEN];
    hkdf_expand(&prk, labels::BLOB, &mut okm);
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&okm[..KEY_LEN]);
    let mut iv = [0u8; NONCE_LEN];
    iv.copy_from_slice(&okm[KEY_LEN..]);
    PacketKey::new(Suite::Aes256Gcm, CryptoBackend::Fastest, &key, iv)
}

/// The content at an address, read one verified chunk at a time ([`Store::chunks`]).
#[derive(Debug)]
pub struct BlobChunks {
    address: Address,
    len: u64,
    v1: bool,
    chunk: u64,
    count: u64,
    next: u64,
    hasher: crate::crypto::Sha3,
}

impl BlobChunks {
    /// Bytes of content.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for empty content.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of content in one chunk at most ([`BLOB_CHUNK`], or the whole length for a blob of
    /// the earlier single-chunk format).
    pub fn chunk_len(&self) -> u64 {
        self.chunk.min(self.len)
    }
}

fn aad(magic: &[u8; 4], address: &Address, len: u64) -> [u8; 44] {
    let mut a = [0u8; 44];
    a[..4].copy_from_slice(magic);
    a[4..36].copy_from_slice(&address.0);
    a[36..].copy_from_slice(&len.to_be_bytes());
    a
}

/// Seals `content` (whose address is `address`) under the storage key.
pub fn seal_blob(storage_key: &[u8; KEY_LEN], address: &Address, content: &[u8]) -> Vec<u8> {
    let len = content.len() as u64;
    let key = blob_key(storage_key, address);
    let aad = aad(MAGIC, address, len);
    let mut blob = Vec::with_capacity(usize::try_from(sealed_len(len)).unwrap_or(usize::MAX));
    blob.extend_from_slice(MAGIC);
    blob.extend_from_slice(&len.to_be_bytes());
    let mut pieces = content.chunks(BLOB_CHUNK).peekable();
    if pieces.peek().is_none() {
        blob.extend_from_slice(&key.seal(0, &aad, &mut []));
    }
    for (index, piece) in pieces.enumerate() {
        let at = blob.len();
        blob.extend_from_slice(piece);
        let tag = key.seal(index as u64, &aad, &mut blob[at..]);
        blob.extend_from_slice(&tag);
    }
    blob
}

/// Opens a sealed blob (either format) and checks that its content hashes to `address`; `None`
/// if anything is wrong (truncated, altered, another key, another address). Never panics on any
/// input.
pub fn open_blob(storage_key: &[u8; KEY_LEN], address: &Address, blob: Vec<u8>) -> Option<Vec<u8>> {
    let mut store = Store { backend: OneBlob(blob), key: *storage_key };
    let mut chunks = store.chunks(address).ok()??;
    let mut content = Vec::new();
    let mut chunk = Vec::new();
    while store.read_chunk(&mut chunks, &mut chunk).ok()? {
        content.extend_from_slice(&chunk);
    }
    Some(content)
}

/// Copies the bytes of `blob` from `offset` into `buf`; returns how many (fewer at its end).
fn copy_from(blob: &[u8], offset: u64, buf: &mut [u8]) -> usize {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(blob.len());
    let n = buf.len().min(blob.len() - start);
    buf[..n].copy_from_slice(&blob[start..start + n]);
    n
}

/// One sealed blob, whatever the address: how [`open_blob`] reads it through [`Store`].
struct OneBlob(Vec<u8>);

impl BlobBackend for OneBlob {
    type Error = core::convert::Infallible;

    fn write(&mut self, _: &Address, _: &[u8]) -> Result<(), Self::Error> {
        Ok(())
    }

    fn read(&mut self, _: &Address) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(Some(self.0.clone()))
    }

    fn read_at(&mut self, _: &Address, offset: u64, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        Ok(Some(copy_from(&self.0, offset, buf)))
    }

    fn contains(&self, _: &Address) -> bool {
        true
    }

    fn remove(&mut self, _: &Address) -> Result<bool, Self::Error> {
        Ok(false)
    }

    fn addresses(&self) -> Vec<Address> {
        Vec::new()
    }
}

/// Sealed blobs in memory, unbounded.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    blobs: BTreeMap<Address, Vec<u8>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    /// The sealed blob itself, mutably (tests use it to simulate damage).
    pub fn blob_mut(&mut self, address: &Address) -> Option<&mut Vec<u8>> {
        self.blobs.get_mut(address)
    }
}

impl BlobBackend for MemoryBackend {
    type Error = core::convert::Infallible;

    fn write(&mut self, address: &Address, blob: &[u8]) -> Result<(), Self::Error> {
        self.blobs.entry(*address).or_insert_with(|| blob.to_vec());
        Ok(())
    }

    fn read(&mut self, address: &Address) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(self.blobs.get(address).cloned())
    }

    fn read_at(&mut self, address: &Address, offset: u64, buf: &mut [u8]) -> Result<Option<usize>, Self::Error> {
        Ok(self.blobs.get(address).map(|blob| copy_from(blob, offset, buf)))
    }

    fn contains(&self, address: &Address) -> bool {
        self.blobs.contains_key(address)
    }

    fn remove(&mut self, address: &Address) -> Result<bool, Self::Error> {
        Ok(self.blobs.remove(address).is_some())
    }

    fn addresses(&self) -> Vec<Address> {
        self.blobs.keys().copied().collect()
    }
}

/// The storage key of a storage seed (for [`seal_blob`] / [`open_blob`] outside a [`Store`]).
pub fn storage_key(storage_seed: &[u8]) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    hkdf(&[], storage_seed, labels::STORAGE, &mut key);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const SEED: &[u8] = b"storage seed for the unit tests!";

    #[test]
    fn content_of_several_chunks_is_read_one_chunk_at_a_time() {
        let mut store = Store::new(MemoryBackend::new(), SEED);
        let content: Vec<u8> = (0..3 * BLOB_CHUNK + 5).map(|i| (i % 251) as u8).collect();
        let address = store.put(&content).unwrap();
        assert_eq!(store.backend_mut().blob_mut(&address).unwrap().len() as u64, sealed_len(content.len() as u64));
        let mut chunks = store.chunks(&address).unwrap().unwrap();
        assert_eq!((chunks.len(), chunks.chunk_len()), (content.len() as u64, BLOB_CHUNK as u64));
        let (mut read, mut chunk) = (Vec::new(), Vec::new());
        while store.read_chunk(&mut chunks, &mut chunk).unwrap() {
            assert!(chunk.len() <= BLOB_CHUNK);
            read.extend_from_slice(&chunk);
        }
        assert_eq!(read, content);
        assert_eq!(store.get(&Address::of(b"")).unwrap(), None);
        let empty = store.put(b"").unwrap();
        assert_eq!(store.get(&empty).unwrap().unwrap(), b"");
    }

    #[test]
    fn swapped_cut_or_extended_chunks_are_integrity_errors() {
        let key = storage_key(SEED);
        let content: Vec<u8> = (0..2 * BLOB_CHUNK).map(|i| (i % 253) as u8).collect();
        let address = Address::of(&content);
        let blob = seal_blob(&key, &address, &content);
        let piece = BLOB_CHUNK + TAG_LEN;
        let mut swapped = blob[..HEADER].to_vec();
        swapped.extend_from_slice(&blob[HEADER + piece..]);
        swapped.extend_from_slice(&blob[HEADER..HEADER + piece]);
        assert!(open_blob(&key, &address, swapped).is_none());
        assert!(open_blob(&key, &address, blob[..blob.len() - 1].to_vec()).is_none());
        let mut longer = blob.clone();
        longer.push(0);
        assert!(open_blob(&key, &address, longer).is_none());
        assert_eq!(open_blob(&key, &address, blob).unwrap(), content);
    }

    #[test]
    fn blobs_of_the_single_chunk_format_are_still_read() {
        let key = storage_key(SEED);
        let content = vec![9u8; BLOB_CHUNK + 1000];
        let address = Address::of(&content);
        let len = content.len() as u64;
        let mut v1 = MAGIC_V1.to_vec();
        v1.extend_from_slice(&len.to_be_bytes());
        v1.extend_from_slice(&content);
        let tag = blob_key(&key, &address).seal(0, &aad(MAGIC_V1, &address, len), &mut v1[HEADER..]);
        v1.extend_from_slice(&tag);
        assert_eq!(open_blob(&key, &address, v1.clone()).unwrap(), content);
        let mut backend = MemoryBackend::new();
        backend.write(&address, &v1).unwrap();
        let mut store = Store::new(backend, SEED);
        let chunks = store.chunks(&address).unwrap().unwrap();
        assert_eq!(chunks.chunk_len(), len, "one chunk of the whole length");
        // A damaged length cannot make the reader reserve what is not there.
        for damaged in [1u64 << 40, u64::MAX - 20, u64::MAX] {
            v1[4..12].copy_from_slice(&damaged.to_be_bytes());
            assert!(open_blob(&key, &address, v1.clone()).is_none(), "length {damaged}");
        }
    }
}
