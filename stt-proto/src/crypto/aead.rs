//! AEAD suites and their backends.
//!
//! A [`PacketKey`] seals and opens one frame in place under a traffic key, with the nonce built
//! from the packet number (`iv XOR (0^4 || pn_be64)`). Two backends give identical bytes: the
//! pure-Rust RustCrypto crates (the `no_std` one) and `ring` (feature `ring`). Which suites a
//! build can run is chosen by the features `aes-gcm` and `chacha20-poly1305` (at least one).

#[cfg(all(feature = "aes-gcm", not(feature = "chacha20-poly1305")))]
use aes_gcm::aead::{AeadInOut, KeyInit};
use alloc::boxed::Box;
use alloc::vec::Vec;
#[cfg(feature = "chacha20-poly1305")]
use chacha20poly1305::aead::{AeadInOut, KeyInit};

#[cfg(not(any(feature = "aes-gcm", feature = "chacha20-poly1305")))]
compile_error!("stt-proto needs at least one AEAD suite: enable `aes-gcm` or `chacha20-poly1305`");

use super::{KEY_LEN, NONCE_LEN, TAG_LEN};

/// An AEAD suite, as numbered on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Suite {
    /// AES-256-GCM, wire id 0x01.
    Aes256Gcm,
    /// ChaCha20-Poly1305, wire id 0x02.
    ChaCha20Poly1305,
}

impl Suite {
    /// The suite's wire id.
    pub const fn id(self) -> u8 {
        match self {
            Suite::Aes256Gcm => 0x01,
            Suite::ChaCha20Poly1305 => 0x02,
        }
    }

    /// The suite with wire id `id`, if STT knows it.
    pub const fn from_id(id: u8) -> Option<Suite> {
        match id {
            0x01 => Some(Suite::Aes256Gcm),
            0x02 => Some(Suite::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// True if this build can run the suite (features `aes-gcm`, `chacha20-poly1305`).
    pub const fn is_available(self) -> bool {
        match self {
            Suite::Aes256Gcm => cfg!(feature = "aes-gcm"),
            Suite::ChaCha20Poly1305 => cfg!(feature = "chacha20-poly1305"),
        }
    }

    /// The default preference order among the suites this build has: AES-256-GCM first where
    /// the CPU has AES instructions, ChaCha20-Poly1305 first otherwise.
    pub fn default_preference() -> Vec<Suite> {
        let order = if cpu_has_aes() {
            [Suite::Aes256Gcm, Suite::ChaCha20Poly1305]
        } else {
            [Suite::ChaCha20Poly1305, Suite::Aes256Gcm]
        };
        order.into_iter().filter(|s| s.is_available()).collect()
    }
}

#[cfg(all(feature = "std", any(target_arch = "x86", target_arch = "x86_64")))]
fn cpu_has_aes() -> bool {
    std::is_x86_feature_detected!("aes") && std::is_x86_feature_detected!("pclmulqdq")
}

#[cfg(all(feature = "std", target_arch = "aarch64"))]
fn cpu_has_aes() -> bool {
    std::arch::is_aarch64_feature_detected!("aes") && std::arch::is_aarch64_feature_detected!("pmull")
}

#[cfg(not(all(feature = "std", any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64"))))]
fn cpu_has_aes() -> bool {
    cfg!(target_feature = "aes")
}

/// Which implementation runs the AEAD. Both produce identical bytes for the same suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CryptoBackend {
    /// The pure-Rust RustCrypto crates (`aes-gcm`, `chacha20poly1305`). Always available.
    RustCrypto,
    /// `ring` (requires the `ring` feature). Several times faster on x86-64 and aarch64.
    #[cfg(feature = "ring")]
    Ring,
    /// `Ring` when the `ring` feature is on, `RustCrypto` otherwise.
    #[default]
    Fastest,
}

impl CryptoBackend {
    fn resolve(self) -> CryptoBackend {
        match self {
            #[cfg(feature = "ring")]
            CryptoBackend::Fastest => CryptoBackend::Ring,
            #[cfg(not(feature = "ring"))]
            CryptoBackend::Fastest => CryptoBackend::RustCrypto,
            other => other,
        }
    }
}

enum Cipher {
    #[cfg(feature = "aes-gcm")]
    Aes(Box<aes_gcm::Aes256Gcm>),
    #[cfg(feature = "chacha20-poly1305")]
    ChaCha(Box<chacha20poly1305::ChaCha20Poly1305>),
    #[cfg(feature = "ring")]
    Ring(Box<ring::aead::LessSafeKey>),
}

/// The frame failed authentication (wrong key, tampered bytes, or a replayed nonce under a new key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError;

/// One direction's AEAD key and IV at one key generation.
pub struct PacketKey {
    cipher: Cipher,
    iv: [u8; NONCE_LEN],
}

impl core::fmt::Debug for PacketKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PacketKey(..)")
    }
}

impl PacketKey {
    /// A key for `suite` on `backend` from raw key and IV bytes.
    ///
    /// # Panics
    ///
    /// If the build lacks `suite` ([`Suite::is_available`]). Sessions only negotiate suites of
    /// the configuration, which [`crate::EndpointConfig::validate`] checks are available.
    pub fn new(suite: Suite, backend: CryptoBackend, key: &[u8; KEY_LEN], iv: [u8; NONCE_LEN]) -> Self {
        let cipher = match (backend.resolve(), suite) {
            #[cfg(feature = "ring")]
            (CryptoBackend::Ring, suite) => {
                let alg = match suite {
                    Suite::Aes256Gcm => &ring::aead::AES_256_GCM,
                    Suite::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
                };
                let unbound = ring::aead::UnboundKey::new(alg, key).expect("32-byte key fits both suites");
                Cipher::Ring(Box::new(ring::aead::LessSafeKey::new(unbound)))
            }
            #[cfg(feature = "aes-gcm")]
            (_, Suite::Aes256Gcm) => Cipher::Aes(Box::new(aes_gcm::Aes256Gcm::new(key.into()))),
            #[cfg(feature = "chacha20-poly1305")]
            (_, Suite::ChaCha20Poly1305) => {
                Cipher::ChaCha(Box::new(chacha20poly1305::ChaCha20Poly1305::new(key.into())))
            }
            #[allow(unreachable_patterns)]
            (_, suite) => panic!("suite {suite:?} is not in this build (see Suite::is_available)"),
        };
        PacketKey { cipher, iv }
    }

    fn nonce(&self, pn: u64) -> [u8; NONCE_LEN] {
        let mut n = self.iv;
        for (b, p) in n[4..].iter_mut().zip(pn.to_be_bytes()) {
            *b ^= p;
        }
        n
    }

    /// Encrypts `buf` in place under packet number `pn` and returns the tag.
    pub fn seal(&self, pn: u64, aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let nonce = self.nonce(pn);
        let mut out = [0u8; TAG_LEN];
        match &self.cipher {
            #[cfg(feature = "aes-gcm")]
            Cipher::Aes(c) => {
                let t = c
                    .encrypt_inout_detached(&nonce.into(), aad, buf.into())
                    .expect("frames are far below the AES-GCM length limit");
                out.copy_from_slice(&t);
            }
            #[cfg(feature = "chacha20-poly1305")]
            Cipher::ChaCha(c) => {
                let t = c
                    .encrypt_inout_detached(&nonce.into(), aad, buf.into())
                    .expect("frames are far below the ChaCha20-Poly1305 length limit");
                out.copy_from_slice(&t);
            }
            #[cfg(feature = "ring")]
            Cipher::Ring(k) => {
                let t = k
                    .seal_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key(nonce),
                        ring::aead::Aad::from(aad),
                        buf,
                    )
                    .expect("frames are far below ring's length limit");
                out.copy_from_slice(t.as_ref());
            }
        }
        out
    }

    /// Decrypts `buf` in place under packet number `pn`, checking `tag`. On failure `buf` holds
    /// unspecified bytes and must be discarded.
    pub fn open(&self, pn: u64, aad: &[u8], buf: &mut [u8], tag: &[u8; TAG_LEN]) -> Result<(), OpenError> {
        let nonce = self.nonce(pn);
        match &self.cipher {
            #[cfg(feature = "aes-gcm")]
            Cipher::Aes(c) => {
                c.decrypt_inout_detached(&nonce.into(), aad, buf.into(), tag.into()).map_err(|_| OpenError)
            }
            #[cfg(feature = "chacha20-poly1305")]
            Cipher::ChaCha(c) => {
                c.decrypt_inout_detached(&nonce.into(), aad, buf.into(), tag.into()).map_err(|_| OpenError)
            }
            #[cfg(feature = "ring")]
            Cipher::Ring(k) => k
                .open_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key(nonce),
                    ring::aead::Aad::from(aad),
                    ring::aead::Tag::from(*tag),
                    buf,
                    0..,
                )
                .map(|_| ())
                .map_err(|_| OpenError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(suite: Suite, a: CryptoBackend, b: CryptoBackend) {
        let key = [7u8; KEY_LEN];
        let iv = [9u8; NONCE_LEN];
        let sealer = PacketKey::new(suite, a, &key, iv);
        let opener = PacketKey::new(suite, b, &key, iv);
        let mut buf = *b"hello, sealed world";
        let tag = sealer.seal(42, b"aad", &mut buf);
        assert_ne!(&buf, b"hello, sealed world");
        let mut copy = buf;
        opener.open(42, b"aad", &mut copy, &tag).unwrap();
        assert_eq!(&copy, b"hello, sealed world");
        let mut wrong_pn = buf;
        assert_eq!(opener.open(43, b"aad", &mut wrong_pn, &tag), Err(OpenError));
        let mut wrong_aad = buf;
        assert_eq!(opener.open(42, b"aaD", &mut wrong_aad, &tag), Err(OpenError));
    }

    #[test]
    fn suites_roundtrip_on_rustcrypto() {
        let built: Vec<Suite> =
            [Suite::Aes256Gcm, Suite::ChaCha20Poly1305].into_iter().filter(|s| s.is_available()).collect();
        assert!(!built.is_empty());
        assert_eq!(Suite::default_preference().len(), built.len());
        for suite in built {
            roundtrip(suite, CryptoBackend::RustCrypto, CryptoBackend::RustCrypto);
        }
    }

    #[cfg(feature = "ring")]
    #[test]
    fn backends_interoperate() {
        for suite in [Suite::Aes256Gcm, Suite::ChaCha20Poly1305] {
            roundtrip(suite, CryptoBackend::RustCrypto, CryptoBackend::Ring);
            roundtrip(suite, CryptoBackend::Ring, CryptoBackend::RustCrypto);
        }
    }

    #[test]
    fn suite_ids_roundtrip() {
        for s in [Suite::Aes256Gcm, Suite::ChaCha20Poly1305] {
            assert_eq!(Suite::from_id(s.id()), Some(s));
        }
        assert_eq!(Suite::from_id(0), None);
    }
}
