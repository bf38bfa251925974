//! The Noise IKpsk1 message pattern that RESPONSE and CONFIRM carry, over
//! [`crate::crypto::noise::SymmetricState`]:
//!
//! ```text
//! prologue: version || suite || node_id_i || nonce_i || nonce_r     (two round trips, version 2)
//!           version || suite || node_id_i || nonce_i                (one round trip, version 3)
//!   <- s                                   (the responder's static key: from CHALLENGE, or known)
//!   ...
//!   -> e, es, s, ss, psk                   (RESPONSE, or INIT of version 3)
//!   <- e, ee, se                           (CONFIRM)
//! ```
//!
//! Each message's (empty) Noise payload is sealed after hashing the whole frame but its tag, and
//! that payload's AEAD tag is the frame's tag: so the tag authenticates the header, the cookie and
//! every cleartext field as well as the handshake. The responder runs none of this before the
//! cookie has proven the initiator's address.

use zeroize::Zeroizing;

use super::static_shared::StaticShared;
use crate::config::Identity;
use crate::crypto::noise::SymmetricState;
use crate::crypto::{node_id_from_public_key, CryptoBackend, DhSecret, Suite, TAG_LEN};
use crate::wire::handshake::{ENCRYPTED_STATIC_LEN, FAST_VERSION, KEY_LEN, VERSION};

/// Why the Noise part of a handshake failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IkError {
    /// A public key was a low-order point.
    LowOrderPoint,
    /// A tag did not verify: the peer lacks the keys it claims (or the bytes were altered).
    Authentication,
    /// The initiator's static key does not hash to the node id it claimed.
    IdentityMismatch,
}

impl From<crate::crypto::LowOrderPoint> for IkError {
    fn from(_: crate::crypto::LowOrderPoint) -> Self {
        IkError::LowOrderPoint
    }
}

/// The transcript fields both sides know before the first Noise message.
pub(crate) struct Prologue<'a> {
    pub suite: Suite,
    pub node_id_i: &'a [u8; 32],
    pub nonce_i: &'a [u8; 32],
    /// The responder's nonce, from CHALLENGE; `None` in the one-round-trip handshake, where the
    /// responder sends it with the second message (whose frame the transcript hashes).
    pub nonce_r: Option<&'a [u8; 32]>,
}

/// The initial state: the prologue, then the responder's static key (the pre-message `<- s`).
pub(crate) fn start(backend: CryptoBackend, p: &Prologue<'_>, static_r: &[u8; KEY_LEN]) -> SymmetricState {
    let mut ss = match p.nonce_r {
        Some(nonce_r) => {
            SymmetricState::new(p.suite, backend, &[&[VERSION, p.suite.id()], p.node_id_i, p.nonce_i, nonce_r])
        }
        None => SymmetricState::new(p.suite, backend, &[&[FAST_VERSION, p.suite.id()], p.node_id_i, p.nonce_i]),
    };
    ss.mix_hash(&[static_r]);
    ss
}

/// `e` for the side that sends it: its public key is hashed and, with a PSK in the pattern,
/// mixed into the key.
fn write_e(ss: &mut SymmetricState, e: &DhSecret, dh: &mut u64) -> [u8; KEY_LEN] {
    *dh += 1;
    let public = e.public_key();
    read_e(ss, &public);
    public
}

fn read_e(ss: &mut SymmetricState, public: &[u8; KEY_LEN]) {
    ss.mix_hash(&[public]);
    ss.mix_key(public);
}

/// Initiator, tokens `e, es, s, ss, psk` (RESPONSE or INIT of version 3): returns `e`'s public key and the encrypted
/// static key.
pub(crate) fn initiator_write_response(
    ss: &mut SymmetricState,
    e: &DhSecret,
    me: &Identity,
    static_r: &[u8; KEY_LEN],
    psk: &[u8; 32],
    statics: &mut StaticShared,
    dh: &mut u64,
) -> Result<([u8; KEY_LEN], [u8; ENCRYPTED_STATIC_LEN]), IkError> {
    let e_pub = write_e(ss, e, dh);
    *dh += 1;
    ss.mix_key(&*e.agree(static_r)?);
    let mut encrypted = [0u8; ENCRYPTED_STATIC_LEN];
    encrypted[..KEY_LEN].copy_from_slice(&me.public_key());
    let tag = ss.encrypt_and_hash(&mut encrypted[..KEY_LEN]);
    encrypted[KEY_LEN..].copy_from_slice(&tag);
    ss.mix_key(&*statics.get(me, static_r, dh)?);
    ss.mix_key_and_hash(psk);
    Ok((e_pub, encrypted))
}

/// The fields of the first Noise message as RESPONSE or INIT of version 3 carries them.
pub(crate) struct MessageOne<'a> {
    pub node_id_i: &'a [u8; 32],
    pub ephemeral: &'a [u8; KEY_LEN],
    pub encrypted_static: &'a [u8; ENCRYPTED_STATIC_LEN],
}

/// Responder, tokens `e, es, s, ss, psk` (RESPONSE or INIT of version 3): returns the
/// initiator's static key, checked against the node id it claimed.
pub(crate) fn responder_read_message_one(
    ss: &mut SymmetricState,
    me: &Identity,
    m: &MessageOne<'_>,
    psk: &[u8; 32],
    statics: &mut StaticShared,
    dh: &mut u64,
) -> Result<[u8; KEY_LEN], IkError> {
    read_e(ss, m.ephemeral);
    *dh += 1;
    ss.mix_key(&*me.secret().agree(m.ephemeral)?);
    let mut s_i = Zeroizing::new([0u8; KEY_LEN]);
    s_i.copy_from_slice(&m.encrypted_static[..KEY_LEN]);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&m.encrypted_static[KEY_LEN..]);
    ss.decrypt_and_hash(&mut *s_i, &tag).map_err(|_| IkError::Authentication)?;
    if node_id_from_public_key(&s_i) != *m.node_id_i {
        return Err(IkError::IdentityMismatch);
    }
    ss.mix_key(&*statics.get(me, &s_i, dh)?);
    ss.mix_key_and_hash(psk);
    Ok(*s_i)
}

/// Responder, CONFIRM tokens `e, ee, se`: returns `e`'s public key.
pub(crate) fn responder_write_confirm(
    ss: &mut SymmetricState,
    e: &DhSecret,
    e_i: &[u8; KEY_LEN],
    s_i: &[u8; KEY_LEN],
    dh: &mut u64,
) -> Result<[u8; KEY_LEN], IkError> {
    let e_pub = write_e(ss, e, dh);
    *dh += 2;
    ss.mix_key(&*e.agree(e_i)?);
    ss.mix_key(&*e.agree(s_i)?);
    Ok(e_pub)
}

/// Initiator, CONFIRM tokens `e, ee, se`.
pub(crate) fn initiator_read_confirm(
    ss: &mut SymmetricState,
    e: &DhSecret,
    me: &Identity,
    e_r: &[u8; KEY_LEN],
    dh: &mut u64,
) -> Result<(), IkError> {
    read_e(ss, e_r);
    *dh += 2;
    ss.mix_key(&*e.agree(e_r)?);
    ss.mix_key(&*me.secret().agree(e_r)?);
    Ok(())
}

/// The message's payload tag: the frame (all but its tag) is hashed, then the empty payload is
/// encrypted.
pub(crate) fn seal_frame(ss: &mut SymmetricState, frame_without_tag: &[u8]) -> [u8; TAG_LEN] {
    ss.mix_hash(&[frame_without_tag]);
    ss.encrypt_and_hash(&mut [])
}

/// Checks a message's payload tag (see [`seal_frame`]).
pub(crate) fn open_frame(
    ss: &mut SymmetricState,
    frame_without_tag: &[u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), IkError> {
    ss.mix_hash(&[frame_without_tag]);
    ss.decrypt_and_hash(&mut [], tag).map_err(|_| IkError::Authentication)
}
