//! The resumed handshake's Noise pattern (INIT and CONFIRM of version 4), over
//! [`crate::crypto::noise::SymmetricState`]:
//!
//! ```text
//! name:     Noise_NNpsk0_25519_STTAEAD_SHA3-256
//! prologue: version 4 || suite || node_id_i || nonce_i
//! psk:      HKDF(salt = ticket secret, ikm = shared seed's psk, "stt/v4 resumption psk")
//!   -> psk, e                              (INIT of version 4)
//!   <- e, ee                               (CONFIRM of version 4)
//! ```
//!
//! The ticket's secret stands for both static keys (it was exported from a session whose
//! handshake proved them), so one X25519 agreement per side (`ee`) gives the new session forward
//! secrecy. As in `ik.rs`, each message's payload tag is sealed over its whole frame.

use zeroize::Zeroizing;

use super::ik::IkError;
use crate::crypto::noise::{SymmetricState, RESUME_PROTOCOL_NAME};
use crate::crypto::{hkdf, CryptoBackend, DhSecret, Suite};
use crate::wire::handshake::{KEY_LEN, RESUME_VERSION};

/// Label of the resumed handshake's pre-shared key.
const RESUMPTION_PSK: &[u8] = b"stt/v4 resumption psk";

/// The state before the first message: the prologue, then `psk` (the ticket's secret bound to
/// the shared seed's psk).
pub(crate) fn start(
    backend: CryptoBackend,
    suite: Suite,
    node_id_i: &[u8; 32],
    nonce_i: &[u8; 32],
    ticket_secret: &[u8; 32],
    seed_psk: &[u8; 32],
) -> SymmetricState {
    let prologue: [&[u8]; 3] = [&[RESUME_VERSION, suite.id()], node_id_i, nonce_i];
    let mut ss = SymmetricState::with_protocol(RESUME_PROTOCOL_NAME, suite, backend, &prologue);
    let mut psk = Zeroizing::new([0u8; KEY_LEN]);
    hkdf(ticket_secret, seed_psk, RESUMPTION_PSK, &mut *psk);
    ss.mix_key_and_hash(&*psk);
    ss
}

/// `e` as its sender writes it (with a psk in the pattern, it is mixed into the key too).
pub(crate) fn write_e(ss: &mut SymmetricState, e: &DhSecret, dh: &mut u64) -> [u8; KEY_LEN] {
    *dh += 1;
    let public = e.public_key();
    read_e(ss, &public);
    public
}

/// `e` as its receiver reads it.
pub(crate) fn read_e(ss: &mut SymmetricState, public: &[u8; KEY_LEN]) {
    ss.mix_hash(&[public]);
    ss.mix_key(public);
}

/// Responder, CONFIRM tokens `e, ee`: returns `e`'s public key.
pub(crate) fn responder_write_confirm(
    ss: &mut SymmetricState,
    e: &DhSecret,
    e_i: &[u8; KEY_LEN],
    dh: &mut u64,
) -> Result<[u8; KEY_LEN], IkError> {
    let e_pub = write_e(ss, e, dh);
    *dh += 1;
    ss.mix_key(&*e.agree(e_i)?);
    Ok(e_pub)
}

/// Initiator, CONFIRM tokens `e, ee`.
pub(crate) fn initiator_read_confirm(
    ss: &mut SymmetricState,
    e: &DhSecret,
    e_r: &[u8; KEY_LEN],
    dh: &mut u64,
) -> Result<(), IkError> {
    read_e(ss, e_r);
    *dh += 1;
    ss.mix_key(&*e.agree(e_r)?);
    Ok(())
}
