//! The Noise symmetric state the version 2 handshake runs: `MixHash`, `MixKey`,
//! `MixKeyAndHash`, `EncryptAndHash`, `DecryptAndHash` and `Split`, as the Noise Protocol
//! Framework (revision 34, §5.2) defines them, over STT's primitives.
//!
//! - `HASH` is SHA3-256; `HKDF(ck, ikm)` is RFC 5869 HKDF over HMAC-SHA3-256 with salt `ck`,
//!   input `ikm` and empty info (the same construction as Noise's `HKDF`).
//! - The cipher is the session's negotiated AEAD suite with the 32-byte key `k` and the nonce
//!   `0x00000000 || n` (`n` a 64-bit big-endian counter), associated data `h`.
//!
//! The message pattern (IKpsk1) and what each message carries are in `handshake`'s callers and
//! `docs/PROTOCOL.md` §4.

use zeroize::Zeroizing;

use super::{hkdf, sha3_256, CryptoBackend, OpenError, PacketKey, Suite, KEY_LEN, TAG_LEN};

/// The Noise protocol name hashed into the initial state.
pub const PROTOCOL_NAME: &[u8] = b"Noise_IKpsk1_25519_STTAEAD_SHA3-256";
/// The protocol name of the resumed handshake (INIT and CONFIRM of version 4).
pub const RESUME_PROTOCOL_NAME: &[u8] = b"Noise_NNpsk0_25519_STTAEAD_SHA3-256";

/// The chaining key, handshake hash and cipher key of one handshake in progress. Secrets are
/// erased when it is dropped.
#[derive(Clone)]
pub struct SymmetricState {
    ck: Zeroizing<[u8; KEY_LEN]>,
    h: [u8; KEY_LEN],
    k: Zeroizing<[u8; KEY_LEN]>,
    n: u64,
    suite: Suite,
    backend: CryptoBackend,
}

impl core::fmt::Debug for SymmetricState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SymmetricState(..)")
    }
}

impl SymmetricState {
    /// `InitializeSymmetric(PROTOCOL_NAME)` then `MixHash(prologue)` (the prologue given as
    /// parts, hashed as their concatenation). Until the first `mix_key` the cipher key is zero;
    /// the handshake never encrypts before it.
    pub fn new(suite: Suite, backend: CryptoBackend, prologue: &[&[u8]]) -> Self {
        Self::with_protocol(PROTOCOL_NAME, suite, backend, prologue)
    }

    /// [`SymmetricState::new`] for the protocol named `name` (a name longer than 32 bytes is
    /// hashed, as Noise's `InitializeSymmetric` says).
    pub fn with_protocol(name: &[u8], suite: Suite, backend: CryptoBackend, prologue: &[&[u8]]) -> Self {
        let h = sha3_256(&[name]);
        let mut s = SymmetricState { ck: Zeroizing::new(h), h, k: Zeroizing::new([0; KEY_LEN]), n: 0, suite, backend };
        s.mix_hash(prologue);
        s
    }

    /// The handshake hash `h`: a digest of everything hashed so far.
    pub fn handshake_hash(&self) -> [u8; KEY_LEN] {
        self.h
    }

    /// `MixHash(data)`: `h = HASH(h || data)`, with `data` the concatenation of `parts`.
    pub fn mix_hash(&mut self, parts: &[&[u8]]) {
        use sha3::Digest;
        let mut hash = sha3::Sha3_256::new();
        hash.update(self.h);
        for p in parts {
            hash.update(p);
        }
        self.h = hash.finalize().into();
    }

    /// `MixKey(ikm)`: `ck, k = HKDF(ck, ikm)`; the nonce restarts at 0.
    pub fn mix_key(&mut self, ikm: &[u8]) {
        let mut out = Zeroizing::new([0u8; 2 * KEY_LEN]);
        hkdf(&*self.ck, ikm, &[], &mut *out);
        self.ck.copy_from_slice(&out[..KEY_LEN]);
        self.k.copy_from_slice(&out[KEY_LEN..]);
        self.n = 0;
    }

    /// `MixKeyAndHash(ikm)`: `ck, t, k = HKDF(ck, ikm)`, `MixHash(t)`; the nonce restarts at 0.
    pub fn mix_key_and_hash(&mut self, ikm: &[u8]) {
        let mut out = Zeroizing::new([0u8; 3 * KEY_LEN]);
        hkdf(&*self.ck, ikm, &[], &mut *out);
        self.ck.copy_from_slice(&out[..KEY_LEN]);
        self.mix_hash(&[&out[KEY_LEN..2 * KEY_LEN]]);
        self.k.copy_from_slice(&out[2 * KEY_LEN..]);
        self.n = 0;
    }

    fn cipher(&self) -> PacketKey {
        PacketKey::new(self.suite, self.backend, &self.k, [0; super::NONCE_LEN])
    }

    /// `EncryptAndHash(buf)`: encrypts `buf` in place with associated data `h`, returns the tag,
    /// and hashes the ciphertext and tag into `h`.
    pub fn encrypt_and_hash(&mut self, buf: &mut [u8]) -> [u8; TAG_LEN] {
        let tag = self.cipher().seal(self.n, &self.h, buf);
        self.n += 1;
        self.mix_hash(&[buf, &tag]);
        tag
    }

    /// `DecryptAndHash(buf)`: checks `tag` and decrypts `buf` in place with associated data `h`,
    /// then hashes the ciphertext and tag into `h`. On failure the state is unchanged and `buf`
    /// holds unspecified bytes.
    pub fn decrypt_and_hash(&mut self, buf: &mut [u8], tag: &[u8; TAG_LEN]) -> Result<(), OpenError> {
        let next_h = sha3_256(&[&self.h, buf, tag]);
        self.cipher().open(self.n, &self.h, buf, tag).map_err(|_| OpenError)?;
        self.n += 1;
        self.h = next_h;
        Ok(())
    }

    /// The secret of 0-RTT data after this state's first message: `HKDF(salt = ck, ikm = h,
    /// label)` (`ck` and `h` bind it to everything the message carried).
    pub fn early_secret(&self, label: &[u8]) -> super::TrafficSecret {
        let mut out = [0u8; KEY_LEN];
        hkdf(&*self.ck, &self.h, label, &mut out);
        super::TrafficSecret(out)
    }

    /// `Split()`: the two traffic secrets, initiator → responder first.
    pub fn split(self) -> (super::TrafficSecret, super::TrafficSecret) {
        let mut out = Zeroizing::new([0u8; 2 * KEY_LEN]);
        hkdf(&*self.ck, &[], &[], &mut *out);
        let mut a = [0u8; KEY_LEN];
        let mut b = [0u8; KEY_LEN];
        a.copy_from_slice(&out[..KEY_LEN]);
        b.copy_from_slice(&out[KEY_LEN..]);
        (super::TrafficSecret(a), super::TrafficSecret(b))
    }
}
