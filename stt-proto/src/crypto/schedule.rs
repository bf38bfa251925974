//! The key schedule: from the shared seed to the handshake keys, and from a traffic secret to
//! packet keys and the next generation.
//!
//! ```text
//! K_hs        = HKDF(salt = "", ikm = S, "stt/v2 handshake")          MAC key for INIT, CHALLENGE
//! psk         = HKDF(salt = "", ikm = S, "stt/v2 psk")                Noise pre-shared key
//! secret_i2r0, secret_r2i0 = Split() of the Noise handshake (crypto::noise)
//! key_n       = HKDF-Expand(secret_n, "stt/v1 aead key", 32)
//! iv_n        = HKDF-Expand(secret_n, "stt/v1 aead iv", 12)
//! secret_n+1  = HKDF-Expand(secret_n, "stt/v1 key update", 32)
//! ```

use super::{hkdf, hkdf_expand, hkdf_expand32, labels, CryptoBackend, PacketKey, Suite};
use super::{KEY_LEN, NONCE_LEN};

/// The keys one shared seed gives the handshake.
#[derive(Clone)]
pub struct HandshakeKeys {
    /// `K_hs`: authenticates INIT and CHALLENGE.
    pub k_hs: [u8; KEY_LEN],
    /// `psk`: mixed into the Noise handshake (the `psk` token).
    pub psk: [u8; KEY_LEN],
}

impl HandshakeKeys {
    /// Derives `K_hs` and `psk` from a shared seed.
    pub fn from_shared_seed(seed: &[u8]) -> Self {
        let mut k_hs = [0u8; KEY_LEN];
        let mut psk = [0u8; KEY_LEN];
        hkdf(&[], seed, labels::HANDSHAKE, &mut k_hs);
        hkdf(&[], seed, labels::PSK, &mut psk);
        HandshakeKeys { k_hs, psk }
    }
}

/// One direction's traffic secret at one key generation.
#[derive(Clone, PartialEq, Eq)]
pub struct TrafficSecret(pub [u8; KEY_LEN]);

impl Drop for HandshakeKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.k_hs);
        zeroize::Zeroize::zeroize(&mut self.psk);
    }
}

impl Drop for TrafficSecret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl core::fmt::Debug for TrafficSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TrafficSecret(..)")
    }
}

impl TrafficSecret {
    /// The secret of the next key generation.
    pub fn next(&self) -> TrafficSecret {
        TrafficSecret(hkdf_expand32(&self.0, labels::KEY_UPDATE))
    }

    /// The AEAD key and IV of this generation.
    pub fn key_and_iv(&self) -> ([u8; KEY_LEN], [u8; NONCE_LEN]) {
        let key = hkdf_expand32(&self.0, labels::AEAD_KEY);
        let mut iv = [0u8; NONCE_LEN];
        hkdf_expand(&self.0, labels::AEAD_IV, &mut iv);
        (key, iv)
    }

    /// The packet key of this generation for `suite` on `backend`.
    pub fn packet_key(&self, suite: Suite, backend: CryptoBackend) -> PacketKey {
        let (key, iv) = self.key_and_iv();
        PacketKey::new(suite, backend, &key, iv)
    }
}
