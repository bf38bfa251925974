//! Payloads of the named-endpoint frames, carried encrypted on stream 0 (see `names` for what
//! they do).
//!
//! ENDPOINT_REGISTER: `version (4) || count (1) || count × address (32)`: the complete list of
//! names the sender serves; a higher version replaces a lower one.
//! ENDPOINT_RESOLVE and ENDPOINT_ROUTE carry a request or its reply:
//! request `0x00 || request_id (4) || floor (4) || address (32) || data` (RESOLVE: no data),
//! reply `0x01 || request_id (4) || status (1)`.

use super::DecodeError;

/// Names one ENDPOINT_REGISTER frame can list (it must fit a 1472-byte UDP datagram).
pub const MAX_REGISTERED: usize = 40;
/// Bytes of a request before its data.
pub const REQUEST_HEADER_LEN: usize = 1 + 4 + 4 + 32;
/// Bytes of a reply.
pub const REPLY_LEN: usize = 1 + 4 + 1;

const KIND_REQUEST: u8 = 0;
const KIND_REPLY: u8 = 1;

/// Reply status: the name is served (RESOLVE) or the data was queued (ROUTE).
pub const STATUS_OK: u8 = 0;
/// Reply status: the receiver serves no such name.
pub const STATUS_UNKNOWN_NAME: u8 = 1;
/// Reply status (ROUTE): the name's queue is full; nothing was queued.
pub const STATUS_QUEUE_FULL: u8 = 2;

/// Length of an ENDPOINT_REGISTER payload listing `count` names.
pub const fn register_len(count: usize) -> usize {
    4 + 1 + 32 * count
}

/// Writes an ENDPOINT_REGISTER payload into `out[..register_len(names.len())]`.
pub fn encode_register<'a>(out: &mut [u8], version: u32, names: impl ExactSizeIterator<Item = &'a [u8; 32]>) {
    out[..4].copy_from_slice(&version.to_be_bytes());
    out[4] = names.len() as u8;
    for (i, n) in names.enumerate() {
        out[5 + 32 * i..5 + 32 * (i + 1)].copy_from_slice(n);
    }
}

/// Parses an ENDPOINT_REGISTER payload: the version and the listed addresses.
pub fn decode_register(buf: &[u8]) -> Result<(u32, impl Iterator<Item = [u8; 32]> + '_), DecodeError> {
    let bad = DecodeError::BadPayload { what: "ENDPOINT_REGISTER" };
    if buf.len() < 5 {
        return Err(bad);
    }
    let count = buf[4] as usize;
    if count > MAX_REGISTERED || buf.len() != register_len(count) {
        return Err(bad);
    }
    let version = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    Ok((version, buf[5..].chunks_exact(32).map(|c| c.try_into().expect("32-byte chunk"))))
}

/// A decoded ENDPOINT_RESOLVE or ENDPOINT_ROUTE payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameMessage<'a> {
    /// A request.
    Request {
        /// The sender's request number.
        id: u32,
        /// Every request number below this is settled on the sender's side.
        floor: u32,
        /// SHA3-256 of the name.
        address: [u8; 32],
        /// Routed bytes (empty for RESOLVE).
        data: &'a [u8],
    },
    /// The answer to a request.
    Reply {
        /// The request it answers.
        id: u32,
        /// `STATUS_*`.
        status: u8,
    },
}

/// Writes a request header into `out[..REQUEST_HEADER_LEN]`; the data follows it.
pub fn encode_request_header(out: &mut [u8], id: u32, floor: u32, address: &[u8; 32]) {
    out[0] = KIND_REQUEST;
    out[1..5].copy_from_slice(&id.to_be_bytes());
    out[5..9].copy_from_slice(&floor.to_be_bytes());
    out[9..41].copy_from_slice(address);
}

/// Writes a reply into `out[..REPLY_LEN]`.
pub fn encode_reply(out: &mut [u8], id: u32, status: u8) {
    out[0] = KIND_REPLY;
    out[1..5].copy_from_slice(&id.to_be_bytes());
    out[5] = status;
}

/// Parses an ENDPOINT_RESOLVE or ENDPOINT_ROUTE payload. `what` names the frame in errors.
pub fn decode_message<'a>(buf: &'a [u8], what: &'static str) -> Result<NameMessage<'a>, DecodeError> {
    let bad = DecodeError::BadPayload { what };
    let u32_at = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    match buf.first() {
        Some(&KIND_REQUEST) if buf.len() >= REQUEST_HEADER_LEN => Ok(NameMessage::Request {
            id: u32_at(1),
            floor: u32_at(5),
            address: buf[9..41].try_into().expect("32 bytes"),
            data: &buf[REQUEST_HEADER_LEN..],
        }),
        Some(&KIND_REPLY) if buf.len() == REPLY_LEN && buf[5] <= STATUS_QUEUE_FULL => {
            Ok(NameMessage::Reply { id: u32_at(1), status: buf[5] })
        }
        _ => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_roundtrip_and_limits() {
        let names = [[1u8; 32], [2u8; 32]];
        let mut buf = [0u8; register_len(2)];
        encode_register(&mut buf, 9, names.iter());
        let (v, it) = decode_register(&buf).unwrap();
        assert_eq!(v, 9);
        assert_eq!(it.collect::<alloc::vec::Vec<_>>(), names);
        assert!(decode_register(&buf[..buf.len() - 1]).is_err());
        let mut many = [0u8; 5];
        many[4] = (MAX_REGISTERED + 1) as u8;
        assert!(decode_register(&many).is_err());
    }

    #[test]
    fn request_and_reply_roundtrip() {
        let mut buf = [0u8; REQUEST_HEADER_LEN + 3];
        encode_request_header(&mut buf, 7, 5, &[9; 32]);
        buf[REQUEST_HEADER_LEN..].copy_from_slice(b"abc");
        let m = decode_message(&buf, "ENDPOINT_ROUTE").unwrap();
        assert_eq!(m, NameMessage::Request { id: 7, floor: 5, address: [9; 32], data: b"abc" });
        let mut r = [0u8; REPLY_LEN];
        encode_reply(&mut r, 7, STATUS_QUEUE_FULL);
        assert_eq!(decode_message(&r, "x").unwrap(), NameMessage::Reply { id: 7, status: STATUS_QUEUE_FULL });
        r[5] = 3;
        assert!(decode_message(&r, "x").is_err());
        assert!(decode_message(&buf[..REQUEST_HEADER_LEN - 1], "x").is_err());
        assert!(decode_message(&[], "x").is_err());
    }
}
