//! The bytes of a message lane (a reliable stream whose frames carry the MESSAGE flag).
//!
//! ```text
//! opener -> peer   message*    message = kind(1) || key || length(4) || bytes(length)
//!                              kind 0x00: key = custom frame type (1 byte, 0x80-0xFF)
//!                              kind 0x01: key = name address (32 bytes, SHA3-256 of the name)
//! peer -> opener   refusal*    refusal = index(8) || reason(1)
//!                              index: the message's position on the lane, from 0
//!                              reason 0x01 too large, 0x02 unknown name
//! ```
//!
//! Integers are big-endian. A lane never ends while the session lasts.

/// Channel kind: a custom frame type.
pub const KIND_FRAME: u8 = 0x00;
/// Channel kind: a routed name.
pub const KIND_NAME: u8 = 0x01;
/// The longest message header: kind, a name address and the length.
pub const MAX_HEADER_LEN: usize = 1 + 32 + 4;
/// Bytes of one refusal record.
pub const REFUSAL_LEN: usize = 9;
/// Refusal reason: the message is larger than the receiver's limit.
pub const REASON_TOO_LARGE: u8 = 0x01;
/// Refusal reason: the receiver serves no such name.
pub const REASON_UNKNOWN_NAME: u8 = 0x02;

/// A message header's length once its first byte (the kind) is known; `None` for an unknown kind.
pub fn header_len(kind: u8) -> Option<usize> {
    match kind {
        KIND_FRAME => Some(1 + 1 + 4),
        KIND_NAME => Some(MAX_HEADER_LEN),
        _ => None,
    }
}

/// Writes the header of a message of `len` bytes to the channel `kind`/`key` (a frame type byte,
/// or a 32-byte name address) into `out`; returns its length.
pub fn encode_header(kind: u8, key: &[u8], len: u32, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
    out[0] = kind;
    out[1..1 + key.len()].copy_from_slice(key);
    let at = 1 + key.len();
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    at + 4
}

/// Parses a complete header (`header_len(buf[0])` bytes): kind, key and message length. `None`
/// for an unknown kind, a wrong length, or a frame type below 0x80.
pub fn decode_header(buf: &[u8]) -> Option<(u8, &[u8], u32)> {
    let kind = *buf.first()?;
    if header_len(kind)? != buf.len() || (kind == KIND_FRAME && buf[1] < 0x80) {
        return None;
    }
    let (key, len) = buf[1..].split_at(buf.len() - 5);
    Some((kind, key, super::be_u32(len)))
}

/// A refusal record of the message at `index` on the lane.
pub fn encode_refusal(index: u64, reason: u8) -> [u8; REFUSAL_LEN] {
    let mut out = [0u8; REFUSAL_LEN];
    out[..8].copy_from_slice(&index.to_be_bytes());
    out[8] = reason;
    out
}

/// Parses a refusal record: the message's index and the reason byte.
pub fn decode_refusal(buf: &[u8; REFUSAL_LEN]) -> (u64, u8) {
    (super::be_u64(buf), buf[8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_reject_what_is_not_a_channel() {
        let mut out = [0u8; MAX_HEADER_LEN];
        let n = encode_header(KIND_FRAME, &[0x81], 5, &mut out);
        assert_eq!(&out[..n], &[0x00, 0x81, 0, 0, 0, 5]);
        assert_eq!(decode_header(&out[..n]), Some((KIND_FRAME, &[0x81][..], 5)));
        let n = encode_header(KIND_NAME, &[7; 32], 1 << 20, &mut out);
        assert_eq!(n, header_len(out[0]).unwrap());
        assert_eq!(decode_header(&out[..n]), Some((KIND_NAME, &[7; 32][..], 1 << 20)));
        assert_eq!(decode_header(&[0x00, 0x7F, 0, 0, 0, 1]), None, "a reserved frame type");
        assert_eq!(decode_header(&[0x00, 0x80, 0, 0, 0]), None, "a short header");
        assert_eq!(header_len(0x02), None);
        assert_eq!(decode_header(&[0x02, 0, 0, 0, 0, 0]), None);
        // The example of docs/PROTOCOL.md section 7.5.
        let n = encode_header(KIND_FRAME, &[0x81], 2, &mut out);
        let mut example = out[..n].to_vec();
        example.extend_from_slice(b"hi");
        let address = crate::crypto::sha3_256(&[b"video_sink"]);
        let m = encode_header(KIND_NAME, &address, 0, &mut out);
        example.extend_from_slice(&out[..m]);
        let hex: alloc::string::String = example.iter().map(|b| alloc::format!("{b:02x}")).collect();
        assert_eq!(hex, "0081000000026869011caacffda79177569c718502a1bf0cf140ed701b90286f783a7a112974def84000000000");
        assert_eq!(encode_refusal(1, REASON_UNKNOWN_NAME), [0, 0, 0, 0, 0, 0, 0, 1, 2]);
        let r = encode_refusal(7, REASON_UNKNOWN_NAME);
        assert_eq!(r, [0, 0, 0, 0, 0, 0, 0, 7, 2]);
        assert_eq!(decode_refusal(&r), (7, REASON_UNKNOWN_NAME));
    }
}
