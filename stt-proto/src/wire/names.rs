//! Payloads of the named-endpoint frames, carried encrypted on stream 0 (see `names` for what
//! they do).
//!
//! ENDPOINT_REGISTER: `version (4) || piece (1) || pieces (1) || count (1) || count × address
//! (32)`: piece `piece` of `pieces` of the complete list of names the sender serves (40 names in
//! every piece but the last); a complete list of a higher version replaces a lower one.
//! ENDPOINT_RESOLVE and ENDPOINT_ROUTE carry a request or its reply:
//! request `0x00 || request_id (4) || floor (4) || address (32) || data` (RESOLVE: no data),
//! reply `0x01 || request_id (4) || status (1)`.

use super::DecodeError;

/// Names one ENDPOINT_REGISTER frame lists at most (a piece must fit a 1472-byte UDP datagram);
/// every piece but the last lists exactly this many.
pub const NAMES_PER_PIECE: usize = 40;
/// Pieces one announcement has at most.
pub const MAX_PIECES: usize = 26;
/// Bytes of a request before its data.
pub const REQUEST_HEADER_LEN: usize = 1 + 4 + 4 + 32;
/// Bytes of a reply.
pub const REPLY_LEN: usize = 1 + 4 + 1;

/// The frame type of a request or reply: ENDPOINT_ROUTE for a route, ENDPOINT_RESOLVE otherwise.
pub fn frame_type(route: bool) -> super::FrameType {
    if route {
        super::FrameType::ENDPOINT_ROUTE
    } else {
        super::FrameType::ENDPOINT_RESOLVE
    }
}

const KIND_REQUEST: u8 = 0;
const KIND_REPLY: u8 = 1;

/// Reply status: the name is served (RESOLVE) or the data was queued (ROUTE).
pub const STATUS_OK: u8 = 0;
/// Reply status: the receiver serves no such name.
pub const STATUS_UNKNOWN_NAME: u8 = 1;
/// Reply status (ROUTE): the name's queue is full; nothing was queued.
pub const STATUS_QUEUE_FULL: u8 = 2;

/// Bytes of an ENDPOINT_REGISTER payload before its addresses.
const REGISTER_HEADER_LEN: usize = 4 + 1 + 1 + 1;

/// Length of an ENDPOINT_REGISTER payload listing `count` names.
pub const fn register_len(count: usize) -> usize {
    REGISTER_HEADER_LEN + 32 * count
}

/// Pieces an announcement of `names` names takes (an empty list takes one).
pub const fn pieces_for(names: usize) -> usize {
    if names == 0 {
        1
    } else {
        names.div_ceil(NAMES_PER_PIECE)
    }
}

/// Writes piece `piece` of `pieces` of an ENDPOINT_REGISTER into
/// `out[..register_len(names.len())]`.
pub fn encode_register<'a>(
    out: &mut [u8],
    version: u32,
    piece: u8,
    pieces: u8,
    names: impl ExactSizeIterator<Item = &'a [u8; 32]>,
) {
    out[..4].copy_from_slice(&version.to_be_bytes());
    out[4] = piece;
    out[5] = pieces;
    out[6] = names.len() as u8;
    for (i, n) in names.enumerate() {
        let at = REGISTER_HEADER_LEN + 32 * i;
        out[at..at + 32].copy_from_slice(n);
    }
}

/// One decoded ENDPOINT_REGISTER piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterPiece<'a> {
    /// The sender's list version.
    pub version: u32,
    /// This piece's index, below `pieces`.
    pub piece: u8,
    /// Pieces of this version.
    pub pieces: u8,
    addresses: &'a [u8],
}

impl<'a> RegisterPiece<'a> {
    /// The addresses this piece lists.
    pub fn names(&self) -> impl ExactSizeIterator<Item = [u8; 32]> + 'a {
        self.addresses.chunks_exact(32).map(|c| c.try_into().expect("32-byte chunk"))
    }
}

/// Parses an ENDPOINT_REGISTER payload. Refuses a piece index outside the announced count, more
/// than [`MAX_PIECES`] pieces, and a piece other than the last that lists fewer than
/// [`NAMES_PER_PIECE`] names (or any that lists more).
pub fn decode_register(buf: &[u8]) -> Result<RegisterPiece<'_>, DecodeError> {
    let bad = DecodeError::BadPayload { what: "ENDPOINT_REGISTER" };
    if buf.len() < REGISTER_HEADER_LEN {
        return Err(bad);
    }
    let (piece, pieces, count) = (buf[4], buf[5], buf[6] as usize);
    let last = pieces.checked_sub(1).ok_or(bad)?;
    let full = count == NAMES_PER_PIECE || (piece == last && count < NAMES_PER_PIECE);
    if pieces as usize > MAX_PIECES || piece > last || !full || buf.len() != register_len(count) {
        return Err(bad);
    }
    let version = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    Ok(RegisterPiece { version, piece, pieces, addresses: &buf[REGISTER_HEADER_LEN..] })
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
        encode_register(&mut buf, 9, 1, 2, names.iter());
        let piece = decode_register(&buf).unwrap();
        assert_eq!((piece.version, piece.piece, piece.pieces), (9, 1, 2));
        assert_eq!(piece.names().collect::<alloc::vec::Vec<_>>(), names);
        assert!(decode_register(&buf[..buf.len() - 1]).is_err());
        // Not the last piece, so it must be full.
        buf[4] = 0;
        assert!(decode_register(&buf).is_err());
        // A piece outside the count, no pieces, too many pieces.
        for (piece, pieces) in [(2u8, 2u8), (0, 0), (0, MAX_PIECES as u8 + 1)] {
            buf[4] = piece;
            buf[5] = pieces;
            assert!(decode_register(&buf).is_err(), "piece {piece} of {pieces}");
        }
        let mut many = [0u8; REGISTER_HEADER_LEN];
        many[5] = 1;
        many[6] = (NAMES_PER_PIECE + 1) as u8;
        assert!(decode_register(&many).is_err());
        assert_eq!((pieces_for(0), pieces_for(40), pieces_for(41), pieces_for(1024)), (1, 1, 2, 26));
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
