//! The cryptographic seam: every primitive STT uses is reached through this module.
//!
//! It owns the key-derivation labels, HKDF-SHA3-256, the handshake MAC (HMAC-SHA3-256 truncated to
//! 128 bits), SHA3-256 content hashing, node ids, the AEAD suites with their two backends, and the
//! replay window. The protocol logic never names a cipher crate; changing the suite touches only
//! this module. No primitive is implemented here: they are composed from audited crates.

mod aead;
mod dh;
pub mod noise;
mod replay;
mod schedule;

pub use aead::{CryptoBackend, OpenError, PacketKey, Suite};
pub use dh::{DhSecret, LowOrderPoint, DH_LEN};
pub(crate) use replay::ReplayWindow;
pub(crate) use schedule::ExporterSecret;
pub use schedule::{
    ExportError, HandshakeKeys, SessionSecrets, TrafficSecret, KEY_LOG_LABEL, MAX_EXPORT_LABEL, MAX_EXPORT_LEN,
};

use hmac::{KeyInit, Mac, SimpleHmac};
use sha3::{Digest, Sha3_256};

/// Length of every derived key, node id and content address, in bytes.
pub const KEY_LEN: usize = 32;
/// Length of an AEAD tag and of a handshake MAC, in bytes.
pub const TAG_LEN: usize = 16;
/// Length of an AEAD nonce, in bytes.
pub const NONCE_LEN: usize = 12;

/// The HKDF `info` labels and hash prefixes, one per purpose. Every label is ASCII and starts
/// with `stt/v1 `, `stt/v2 ` or `stt/v3 ` (the protocol version that introduced it), except
/// [`labels::SEGMENT_EXPORT`], an exporter label like an application's.
pub mod labels {
    /// Node id from a static public key (a SHA3-256 prefix, not an HKDF label).
    pub const NODE_ID: &[u8] = b"stt/v2 node id";
    /// Static identity secret key from a node seed.
    pub const STATIC_KEY: &[u8] = b"stt/v2 static key";
    /// Key for the MACs on INIT and CHALLENGE, from the shared seed.
    pub const HANDSHAKE: &[u8] = b"stt/v2 handshake";
    /// The Noise pre-shared key, from the shared seed.
    pub const PSK: &[u8] = b"stt/v2 psk";
    /// Next traffic secret from the current one (key rotation).
    pub const KEY_UPDATE: &[u8] = b"stt/v1 key update";
    /// AEAD key from a traffic secret.
    pub const AEAD_KEY: &[u8] = b"stt/v1 aead key";
    /// AEAD IV from a traffic secret.
    pub const AEAD_IV: &[u8] = b"stt/v1 aead iv";
    /// Stateless handshake cookie MAC.
    pub const COOKIE: &[u8] = b"stt/v2 cookie";
    /// The responder's nonce for a one-round-trip INIT (a private derivation: any
    /// unpredictable function of the INIT will do).
    pub const FAST_NONCE: &[u8] = b"stt/v3 responder nonce";
    /// Storage encryption key from a storage seed.
    pub const STORAGE: &[u8] = b"stt/v1 storage";
    /// Per-blob AEAD key and IV (salt: the blob's address) from the storage key.
    pub const BLOB: &[u8] = b"stt/v1 blob";
    /// Segment encoder key (salt: session id and stream id) from a secret.
    pub const SEGMENT_KEY: &[u8] = b"stt/v1 segment key";
    /// Segment encoder IV (salt: session id and stream id) from a secret.
    pub const SEGMENT_IV: &[u8] = b"stt/v1 segment iv";
    /// A session's exporter secret from its generation-0 traffic secrets.
    pub const EXPORTER: &[u8] = b"stt/v3 exporter";
    /// One exported secret from the exporter secret (followed by the label and the context's
    /// hash).
    pub const EXPORT: &[u8] = b"stt/v3 export";
    /// The exporter label of a session's segment keys.
    pub const SEGMENT_EXPORT: &[u8] = b"stt segment";
    /// The exporter label of a resumption ticket's secret (context: the ticket nonce).
    pub const RESUMPTION_EXPORT: &[u8] = b"stt resumption";
    /// The key that seals a responder's tickets, from the secret it draws at its first ticket
    /// (a private derivation).
    pub const TICKET_KEY: &[u8] = b"stt/v4 ticket key";
    /// The traffic secret of 0-RTT frames behind an INIT of version 4, from the Noise state
    /// after its first message.
    pub const EARLY_DATA: &[u8] = b"stt/v4 early data";
}

pub(crate) type HkdfSha3 = hkdf::SimpleHkdf<Sha3_256>;
type HmacSha3 = SimpleHmac<Sha3_256>;

/// HKDF-Extract(salt, ikm) followed by HKDF-Expand(prk, label) into `out`.
///
/// `out` may be at most 255 × 32 bytes; every caller in STT asks for 12 or 32.
pub fn hkdf(salt: &[u8], ikm: &[u8], label: &[u8], out: &mut [u8]) {
    HkdfSha3::new(Some(salt), ikm).expand(label, out).expect("STT derives at most 32 bytes per expand");
}

/// HKDF-Extract(salt, ikm): a 32-byte pseudorandom key.
pub fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> [u8; KEY_LEN] {
    let (prk, _) = HkdfSha3::extract(Some(salt), ikm);
    let mut out = [0u8; KEY_LEN];
    out.copy_from_slice(&prk);
    out
}

/// HKDF-Expand(prk, label) into `out`.
pub fn hkdf_expand(prk: &[u8; KEY_LEN], label: &[u8], out: &mut [u8]) {
    HkdfSha3::from_prk(prk)
        .expect("a 32-byte PRK is always valid for SHA3-256")
        .expand(label, out)
        .expect("STT derives at most 32 bytes per expand");
}

/// HKDF-Expand(prk, label) to 32 bytes.
pub fn hkdf_expand32(prk: &[u8; KEY_LEN], label: &[u8]) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    hkdf_expand(prk, label, &mut out);
    out
}

/// SHA3-256 over the concatenation of `parts`.
pub fn sha3_256(parts: &[&[u8]]) -> [u8; KEY_LEN] {
    let mut h = Sha3_256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA3-256 over bytes given piece by piece.
#[derive(Clone, Default)]
pub struct Sha3(Sha3_256);

impl Sha3 {
    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything added.
    pub fn finish(self) -> [u8; KEY_LEN] {
        self.0.finalize().into()
    }
}

impl core::fmt::Debug for Sha3 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sha3")
    }
}

/// HMAC-SHA3-256 over the concatenation of `parts`, truncated to its first 16 bytes.
pub fn mac16(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u8; TAG_LEN] {
    let mut m = <HmacSha3 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    let full = m.finalize().into_bytes();
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&full[..TAG_LEN]);
    out
}

/// HMAC-SHA3-256 over the concatenation of `parts`, all 32 bytes.
pub(crate) fn mac32(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u8; KEY_LEN] {
    let mut m = <HmacSha3 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Checks a truncated MAC from [`mac16`] in constant time.
pub fn verify_mac16(key: &[u8; KEY_LEN], parts: &[&[u8]], tag: &[u8; TAG_LEN]) -> bool {
    let mut m = <HmacSha3 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.verify_truncated_left(tag).is_ok()
}

/// The static identity secret key of a node seed: HKDF(salt = "", ikm = seed,
/// info = "stt/v2 static key"), 32 bytes (X25519 clamps it when used).
pub fn static_key_from_seed(seed: &[u8]) -> DhSecret {
    let mut out = zeroize::Zeroizing::new([0u8; KEY_LEN]);
    hkdf(&[], seed, labels::STATIC_KEY, &mut *out);
    DhSecret::from_bytes(*out)
}

/// The node id of a static public key: SHA3-256("stt/v2 node id" || public key).
pub fn node_id_from_public_key(public_key: &[u8; DH_LEN]) -> [u8; KEY_LEN] {
    sha3_256(&[labels::NODE_ID, public_key])
}
