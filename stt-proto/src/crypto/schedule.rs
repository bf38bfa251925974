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
//! exporter    = HKDF(salt = "", ikm = secret_i2r0 || secret_r2i0, "stt/v3 exporter")
//! export(label, context, L) = HKDF-Expand(exporter,
//!                 "stt/v3 export" || len(label) (1) || label || SHA3-256(context), L)
//! ```

use alloc::string::String;

use super::{hkdf, hkdf_expand, hkdf_expand32, labels, sha3_256, CryptoBackend, HkdfSha3, PacketKey, Suite};
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

/// The longest exporter label, in bytes.
pub const MAX_EXPORT_LABEL: usize = 255;
/// The most bytes one export gives (HKDF-Expand's limit with SHA3-256: 255 × 32).
pub const MAX_EXPORT_LEN: usize = 255 * KEY_LEN;

/// Why a session could not export a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The session has no keys yet (still handshaking) or no longer (closed).
    #[error("the session has no keys to export from: wait until it is established")]
    NotEstablished,
    /// The label is longer than [`MAX_EXPORT_LABEL`] bytes.
    #[error("exporter label of {0} bytes is longer than 255")]
    LabelTooLong(usize),
    /// Zero bytes, or more than [`MAX_EXPORT_LEN`], were asked for.
    #[error("an export gives 1 to 8160 bytes, {0} were asked for")]
    BadLength(usize),
    /// Labels starting with `stt ` are the protocol's own (segment keys, resumption tickets).
    #[error("exporter labels starting with \"stt \" are the protocol's own: choose another")]
    ReservedLabel,
}

/// A session's exporter secret: what [`crate::SessionRef::export_secret`] derives from. It is a
/// function of both generation-0 traffic secrets, so both ends hold the same one and no other
/// session has it; it does not change when the traffic keys rotate.
#[derive(Clone)]
pub(crate) struct ExporterSecret([u8; KEY_LEN]);

impl Drop for ExporterSecret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl ExporterSecret {
    /// The exporter secret of the session whose generation-0 secrets these are.
    pub(crate) fn new(initiator_to_responder: &TrafficSecret, responder_to_initiator: &TrafficSecret) -> Self {
        let mut ikm = [0u8; 2 * KEY_LEN];
        ikm[..KEY_LEN].copy_from_slice(&initiator_to_responder.0);
        ikm[KEY_LEN..].copy_from_slice(&responder_to_initiator.0);
        let mut secret = [0u8; KEY_LEN];
        hkdf(&[], &ikm, labels::EXPORTER, &mut secret);
        zeroize::Zeroize::zeroize(&mut ikm);
        ExporterSecret(secret)
    }

    /// Fills `out` with the secret exported under `label` and `context`.
    pub(crate) fn export(&self, label: &[u8], context: &[u8], out: &mut [u8]) -> Result<(), ExportError> {
        if label.len() > MAX_EXPORT_LABEL {
            return Err(ExportError::LabelTooLong(label.len()));
        }
        if out.is_empty() || out.len() > MAX_EXPORT_LEN {
            return Err(ExportError::BadLength(out.len()));
        }
        let context_hash = sha3_256(&[context]);
        HkdfSha3::from_prk(&self.0)
            .map_err(|_| ExportError::BadLength(out.len()))?
            .expand_multi_info(&[labels::EXPORT, &[label.len() as u8], label, &context_hash], out)
            .map_err(|_| ExportError::BadLength(out.len()))
    }
}

/// The label that starts a key-log line (`docs/PROTOCOL.md`, section 14).
pub const KEY_LOG_LABEL: &str = "STT_SESSION_SECRETS";

/// A session's generation-0 traffic secrets, as the key log records them: with them (and the
/// one-way ratchet of section 6) every frame of the session, in both directions and at every key
/// generation, can be decrypted. Reported only when [`crate::EndpointConfig::key_log`] is on, as
/// [`crate::Event::KeyLog`]. Whoever holds these reads the session: they are for decrypting
/// one's own captures, never for production logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSecrets {
    /// The session id (the header's `session_id` of every encrypted frame).
    pub session_id: u64,
    /// The negotiated AEAD suite.
    pub suite: Suite,
    /// `secret_i2r0`: initiator to responder, generation 0.
    pub(crate) initiator_to_responder: TrafficSecret,
    /// `secret_r2i0`: responder to initiator, generation 0.
    pub(crate) responder_to_initiator: TrafficSecret,
}

// The traffic secrets themselves are for tools that decrypt captures, as the rest of `crypto` is.
#[cfg(feature = "unstable-wire")]
impl SessionSecrets {
    /// `secret_i2r0`: initiator to responder, generation 0.
    pub fn initiator_to_responder(&self) -> &TrafficSecret {
        &self.initiator_to_responder
    }

    /// `secret_r2i0`: responder to initiator, generation 0.
    pub fn responder_to_initiator(&self) -> &TrafficSecret {
        &self.responder_to_initiator
    }
}

impl SessionSecrets {
    /// The key-log line of these secrets, without a line end:
    /// `STT_SESSION_SECRETS <session_id, 16 hex> <suite id, 2 hex> <secret_i2r0, 64 hex>
    /// <secret_r2i0, 64 hex>`, lowercase hex, one space between fields.
    pub fn key_log_line(&self) -> String {
        use core::fmt::Write;
        let mut line = String::with_capacity(KEY_LOG_LABEL.len() + 1 + 16 + 1 + 2 + 2 * (1 + 2 * KEY_LEN));
        let _ = write!(line, "{KEY_LOG_LABEL} {:016x} {:02x} ", self.session_id, self.suite.id());
        for (i, secret) in [&self.initiator_to_responder, &self.responder_to_initiator].into_iter().enumerate() {
            if i == 1 {
                line.push(' ');
            }
            for b in secret.0 {
                let _ = write!(line, "{b:02x}");
            }
        }
        line
    }

    /// Reads one key-log line as written by [`SessionSecrets::key_log_line`] (surrounding white
    /// space and either hex case accepted). `None` if the line is not such a line: another label,
    /// a comment, a wrong field count or length, bad hex, or a suite STT does not define.
    pub fn from_key_log_line(line: &str) -> Option<SessionSecrets> {
        let mut words = line.split_ascii_whitespace();
        if words.next()? != KEY_LOG_LABEL {
            return None;
        }
        let (sid, suite, i2r, r2i) = (words.next()?, words.next()?, words.next()?, words.next()?);
        let is_hex = |w: &str, len: usize| w.len() == len && w.bytes().all(|b| b.is_ascii_hexdigit());
        if words.next().is_some() || !is_hex(sid, 16) || !is_hex(suite, 2) {
            return None;
        }
        let session_id = u64::from_str_radix(sid, 16).ok()?;
        let suite = Suite::from_id(u8::from_str_radix(suite, 16).ok()?)?;
        Some(SessionSecrets {
            session_id,
            suite,
            initiator_to_responder: TrafficSecret(hex32(i2r)?),
            responder_to_initiator: TrafficSecret(hex32(r2i)?),
        })
    }
}

fn hex32(text: &str) -> Option<[u8; KEY_LEN]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * KEY_LEN {
        return None;
    }
    let mut out = [0u8; KEY_LEN];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        *o = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_log_line_roundtrips_and_rejects_garbage() {
        let s = SessionSecrets {
            session_id: 0x861b_b99a_67e4_e964,
            suite: Suite::ChaCha20Poly1305,
            initiator_to_responder: TrafficSecret([0xab; KEY_LEN]),
            responder_to_initiator: TrafficSecret([0x01; KEY_LEN]),
        };
        let line = s.key_log_line();
        assert_eq!(
            line,
            alloc::format!("STT_SESSION_SECRETS 861bb99a67e4e964 02 {} {}", "ab".repeat(32), "01".repeat(32))
        );
        assert_eq!(SessionSecrets::from_key_log_line(&line), Some(s.clone()));
        assert_eq!(SessionSecrets::from_key_log_line(&alloc::format!("  {}\r", line.to_uppercase())), Some(s));
        for bad in [
            "",
            "# comment",
            "CLIENT_RANDOM 00 11",
            "STT_SESSION_SECRETS 861bb99a67e4e964 02",
            "STT_SESSION_SECRETS 861bb99a67e4e96 02 00 00",
            &alloc::format!("STT_SESSION_SECRETS 861bb99a67e4e964 07 {} {}", "ab".repeat(32), "01".repeat(32)),
            &alloc::format!("STT_SESSION_SECRETS 861bb99a67e4e964 02 {} {}", "zz".repeat(32), "01".repeat(32)),
            &alloc::format!("STT_SESSION_SECRETS 861bb99a67e4e964 02 {} {} x", "ab".repeat(32), "01".repeat(32)),
            &alloc::format!("STT_SESSION_SECRETS +61bb99a67e4e964 02 {} {}", "ab".repeat(32), "01".repeat(32)),
        ] {
            assert_eq!(SessionSecrets::from_key_log_line(bad), None, "{bad:?}");
        }
    }
}
