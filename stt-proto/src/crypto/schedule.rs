//! The key schedule: from the shared seed and the handshake transcript to traffic keys.
//!
//! ```text
//! K_hs        = HKDF(salt = "", ikm = S, "stt/v1 handshake")            MAC key for INIT, CHALLENGE
//! T           = version || suite || node_id_i || node_id_r || nonce_i || nonce_r
//! PRK         = HKDF-Extract(salt = SHA3-256(T), ikm = S)
//! K_response  = HKDF-Expand(PRK, "stt/v1 response", 32)               MAC key for RESPONSE
//! K_confirm   = HKDF-Expand(PRK, "stt/v1 confirm", 32)                MAC key for CONFIRM
//! secret_i2r0 = HKDF-Expand(PRK, "stt/v1 i2r", 32)
//! secret_r2i0 = HKDF-Expand(PRK, "stt/v1 r2i", 32)
//! key_n       = HKDF-Expand(secret_n, "stt/v1 aead key", 32)
//! iv_n        = HKDF-Expand(secret_n, "stt/v1 aead iv", 12)
//! secret_n+1  = HKDF-Expand(secret_n, "stt/v1 key update", 32)
//! ```

use super::{hkdf, hkdf_expand, hkdf_expand32, hkdf_extract, labels, sha3_256, CryptoBackend, PacketKey, Suite};
use super::{KEY_LEN, NONCE_LEN};

/// The handshake MAC key derived from one shared seed.
#[derive(Clone)]
pub struct HandshakeKeys {
    /// `K_hs`: authenticates INIT and CHALLENGE.
    pub k_hs: [u8; KEY_LEN],
}

impl HandshakeKeys {
    /// Derives `K_hs` from a shared seed.
    pub fn from_shared_seed(seed: &[u8]) -> Self {
        let mut k_hs = [0u8; KEY_LEN];
        hkdf(&[], seed, labels::HANDSHAKE, &mut k_hs);
        HandshakeKeys { k_hs }
    }
}

/// Everything a completed handshake derives: MAC keys for RESPONSE and CONFIRM and the first
/// traffic secret of each direction.
#[derive(Clone)]
pub struct SessionSecrets {
    /// MAC key for RESPONSE.
    pub k_response: [u8; KEY_LEN],
    /// MAC key for CONFIRM.
    pub k_confirm: [u8; KEY_LEN],
    /// Generation-0 traffic secret, initiator to responder.
    pub i2r: TrafficSecret,
    /// Generation-0 traffic secret, responder to initiator.
    pub r2i: TrafficSecret,
}

impl SessionSecrets {
    /// Derives the session secrets from the shared seed and the transcript fields.
    pub fn derive(
        shared_seed: &[u8],
        version: u8,
        suite: Suite,
        node_id_i: &[u8; 32],
        node_id_r: &[u8; 32],
        nonce_i: &[u8; 32],
        nonce_r: &[u8; 32],
    ) -> Self {
        let th = sha3_256(&[&[version, suite.id()], node_id_i, node_id_r, nonce_i, nonce_r]);
        let prk = hkdf_extract(&th, shared_seed);
        SessionSecrets {
            k_response: hkdf_expand32(&prk, labels::RESPONSE),
            k_confirm: hkdf_expand32(&prk, labels::CONFIRM),
            i2r: TrafficSecret(hkdf_expand32(&prk, labels::I2R)),
            r2i: TrafficSecret(hkdf_expand32(&prk, labels::R2I)),
        }
    }
}

/// One direction's traffic secret at one key generation.
#[derive(Clone, PartialEq, Eq)]
pub struct TrafficSecret(pub [u8; KEY_LEN]);

impl Drop for HandshakeKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.k_hs);
    }
}

impl Drop for TrafficSecret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Drop for SessionSecrets {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.k_response);
        zeroize::Zeroize::zeroize(&mut self.k_confirm);
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
