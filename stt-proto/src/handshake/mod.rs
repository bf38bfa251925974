//! Handshake pieces shared by the initiator and responder paths of the endpoint: the stateless
//! cookie jar, the Noise IKpsk1 pattern of RESPONSE and CONFIRM, the static keys of peers met
//! before (`known.rs`, for the one-round-trip handshake), the responder's measure of its load
//! (`load.rs`: when a one-round-trip INIT gets a CHALLENGE instead), resumption (`tickets.rs`:
//! sealing, opening and holding tickets; `resume.rs`: the resumed Noise pattern), and the writer
//! for handshake frames.
//!
//! The message flow (INIT → CHALLENGE → RESPONSE → CONFIRM, INIT → REJECT, with a known key
//! INIT → CONFIRM of version 3, or with a ticket INIT → CONFIRM of version 4) is driven by
//! `endpoint::initiator` and `endpoint::responder`; the key schedule is in `crypto`.

pub(crate) mod cookie;
pub(crate) mod ik;
pub(crate) mod initiator;
pub(crate) mod known;
pub(crate) mod load;
#[cfg(feature = "resumption")]
pub(crate) mod resume;
pub(crate) mod static_shared;
#[cfg(feature = "resumption")]
pub(crate) mod tickets;

pub(crate) use cookie::CookieJar;

use crate::crypto::{mac16, TAG_LEN};
use crate::wire::{frame_len, write_skeleton, Flags, FrameType, Header};

/// Writes a handshake frame into `out` and returns its length, or `None` if `out` is too small.
///
/// `encode` writes the `payload_len`-byte payload. With `mac_key` the tag is
/// HMAC-SHA3-256(mac_key, frame without its tag)[..16]; without, it is zero (REJECT).
/// Handshake frames carry packet number 0, stream 0, sequence 0, no flags.
pub(crate) fn write_handshake_frame(
    out: &mut [u8],
    frame_type: FrameType,
    session_id: u64,
    payload_len: usize,
    encode: impl FnOnce(&mut [u8]) -> usize,
    mac_key: Option<&[u8; 32]>,
) -> Option<usize> {
    write_handshake_frame_sealed(out, frame_type, session_id, payload_len, encode, |prefix| match mac_key {
        Some(k) => mac16(k, &[prefix]),
        None => [0u8; TAG_LEN],
    })
}

/// Like [`write_handshake_frame`], with the tag computed by `seal` over the frame without its
/// tag (RESPONSE and CONFIRM: the Noise payload tag).
pub(crate) fn write_handshake_frame_sealed(
    out: &mut [u8],
    frame_type: FrameType,
    session_id: u64,
    payload_len: usize,
    encode: impl FnOnce(&mut [u8]) -> usize,
    seal: impl FnOnce(&[u8]) -> [u8; TAG_LEN],
) -> Option<usize> {
    let n = frame_len(payload_len);
    if out.len() < n {
        return None;
    }
    let out = &mut out[..n];
    let header = Header { frame_type, session_id, stream_id: 0, sequence: 0, flags: Flags(0) };
    let (payload, tag) = write_skeleton(out, &header, payload_len, 0);
    let written = encode(&mut out[payload]);
    debug_assert_eq!(written, payload_len);
    let mac = seal(&out[..n - TAG_LEN]);
    out[tag].copy_from_slice(&mac);
    Some(n)
}

/// Where RESPONSE's `seed_mac` sits in its frame; the MAC covers every byte before it.
pub(crate) const RESPONSE_SEED_MAC_AT: usize = seed_mac_at(crate::wire::handshake::Response::SEED_MAC_OFFSET);

/// Where a `seed_mac` at `payload_offset` in a handshake payload sits in its frame.
pub(crate) const fn seed_mac_at(payload_offset: usize) -> usize {
    crate::wire::HEADER_LEN + 4 + payload_offset
}

/// Writes a RESPONSE frame (see [`write_seed_maced_frame`]).
pub(crate) fn write_response_frame(
    response: &crate::wire::handshake::Response<'_>,
    session_id: u64,
    k_hs: &[u8; 32],
    seal: impl FnOnce(&[u8]) -> [u8; TAG_LEN],
) -> alloc::vec::Vec<u8> {
    let payload = (response.len(), |p: &mut [u8]| response.encode(p));
    write_seed_maced_frame(FrameType::RESPONSE, session_id, payload, RESPONSE_SEED_MAC_AT, k_hs, seal)
}

/// Writes a frame that carries the first Noise message (RESPONSE, or INIT of version 3): the
/// payload of `payload.0` bytes from `payload.1`, then `seed_mac = MAC16(K_hs, frame[..seed_mac_at])`
/// in place, then the Noise payload tag from `seal` over the whole frame but the tag. Returns
/// the frame.
pub(crate) fn write_seed_maced_frame(
    frame_type: FrameType,
    session_id: u64,
    payload: (usize, impl FnOnce(&mut [u8]) -> usize),
    seed_mac_at: usize,
    k_hs: &[u8; 32],
    seal: impl FnOnce(&[u8]) -> [u8; TAG_LEN],
) -> alloc::vec::Vec<u8> {
    let (payload_len, encode) = payload;
    let mut frame = alloc::vec![0u8; frame_len(payload_len)];
    write_handshake_frame_sealed(&mut frame, frame_type, session_id, payload_len, encode, |_| [0; TAG_LEN])
        .expect("the buffer is sized for the frame");
    let mac = mac16(k_hs, &[&frame[..seed_mac_at]]);
    frame[seed_mac_at..seed_mac_at + TAG_LEN].copy_from_slice(&mac);
    let n = frame.len();
    let tag = seal(&frame[..n - TAG_LEN]);
    frame[n - TAG_LEN..].copy_from_slice(&tag);
    frame
}

/// The 8-byte handshake tag that routes CHALLENGE and REJECT back to the initiator: the first
/// 8 bytes of its nonce, big-endian.
pub(crate) fn handshake_tag(nonce_i: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&nonce_i[..8]);
    u64::from_be_bytes(b)
}

/// `session_id = (nonce_i ⊕ nonce_r ⊕ node_id_i ⊕ node_id_r)[0..8]`, big-endian.
pub(crate) fn session_id(nonce_i: &[u8; 32], nonce_r: &[u8; 32], node_id_i: &[u8; 32], node_id_r: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in b.iter_mut().enumerate() {
        *x = nonce_i[i] ^ nonce_r[i] ^ node_id_i[i] ^ node_id_r[i];
    }
    u64::from_be_bytes(b)
}
