//! Content-addressed, encrypted storage: `put(bytes)` returns the SHA3-256 of the bytes as their
//! address; blobs are sealed at rest; `get` verifies both the seal and the hash, so a store never
//! returns wrong bytes. The backend (where sealed blobs live) is a trait: [`MemoryBackend`] here,
//! a filesystem backend in `stt-tokio`.
//!
//! Sealed blob: `"STB1" (4) || plaintext length (8, big-endian) || ciphertext || tag (16)`.
//! Storage key = `HKDF(salt = "", ikm = storage seed, "stt/v1 storage")`; per blob,
//! `PRK = Extract(salt = address, ikm = storage key)`, key = `Expand(PRK, "stt/v1 blob", 32)`,
//! IV = `Expand(PRK, "stt/v1 blob", 44)[32..]`; AES-256-GCM, nonce counter 0, associated data =
//! `"STB1" || address || length`. One content gives one blob (deduplication).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::crypto::{hkdf, hkdf_expand, hkdf_extract, labels, sha3_256, CryptoBackend, PacketKey, Suite, KEY_LEN};
use crate::crypto::{NONCE_LEN, TAG_LEN};

const MAGIC: &[u8; 4] = b"STB1";
/// Bytes a sealed blob adds to its content.
pub const BLOB_OVERHEAD: usize = 4 + 8 + TAG_LEN;

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

    /// The content at `address`, verified; `None` if absent.
    pub fn get(&mut self, address: &Address) -> Result<Option<Vec<u8>>, StoreError<B::Error>> {
        let Some(blob) = self.backend.read(address).map_err(StoreError::Backend)? else { return Ok(None) };
        open_blob(&self.key, address, blob).map(Some).ok_or(StoreError::Integrity(*address))
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

fn aad(address: &Address, len: u64) -> [u8; 44] {
    let mut a = [0u8; 44];
    a[..4].copy_from_slice(MAGIC);
    a[4..36].copy_from_slice(&address.0);
    a[36..].copy_from_slice(&len.to_be_bytes());
    a
}

/// Seals `content` (whose address is `address`) under the storage key.
pub fn seal_blob(storage_key: &[u8; KEY_LEN], address: &Address, content: &[u8]) -> Vec<u8> {
    let len = content.len() as u64;
    let mut blob = Vec::with_capacity(content.len() + BLOB_OVERHEAD);
    blob.extend_from_slice(MAGIC);
    blob.extend_from_slice(&len.to_be_bytes());
    blob.extend_from_slice(content);
    let tag = blob_key(storage_key, address).seal(0, &aad(address, len), &mut blob[12..]);
    blob.extend_from_slice(&tag);
    blob
}

/// Opens a sealed blob and checks that its content hashes to `address`; `None` if anything is
/// wrong (truncated, altered, another key, another address). Never panics on any input.
pub fn open_blob(storage_key: &[u8; KEY_LEN], address: &Address, mut blob: Vec<u8>) -> Option<Vec<u8>> {
    if blob.len() < BLOB_OVERHEAD || &blob[..4] != MAGIC {
        return None;
    }
    let len = u64::from_be_bytes(blob[4..12].try_into().ok()?);
    if len != (blob.len() - BLOB_OVERHEAD) as u64 {
        return None;
    }
    let tag: [u8; TAG_LEN] = blob[blob.len() - TAG_LEN..].try_into().ok()?;
    let end = blob.len() - TAG_LEN;
    blob_key(storage_key, address).open(0, &aad(address, len), &mut blob[12..end], &tag).ok()?;
    blob.truncate(end);
    blob.drain(..12);
    (Address::of(&blob) == *address).then_some(blob)
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
