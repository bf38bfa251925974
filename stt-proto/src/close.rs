//! The codes STT itself puts in DISCONNECT and STREAM_CLOSE frames, in one place so that no two
//! share a value. They sit at the top of the `u32` range; an application's own codes are the
//! values below them (PROTOCOL.md, "Close codes").

/// STREAM_CLOSE code of a stream the receiver refused: the peer opened more streams than
/// allowed, or a message lane the receiver's build does not support.
pub const STREAM_REFUSED: u32 = 0xFFFF_FFFF;

/// DISCONNECT code of a session closed because the peer kept opening streams past the limit
/// after being refused (more than [`MAX_REFUSALS`](crate::MAX_REFUSALS) refusals in one session).
pub const STREAM_LIMIT_ABUSED: u32 = 0xFFFF_FFFE;

/// DISCONNECT code of a session closed because the peer's message lane could not be parsed (an
/// unknown channel kind, or a reserved frame type): the peer's implementation is broken.
pub const MESSAGE_LANE_MALFORMED: u32 = 0xFFFF_FFFD;

/// DISCONNECT code of a session closed because the application removed its peer
/// ([`Endpoint::remove_peer`](crate::Endpoint::remove_peer)).
pub const PEER_REMOVED: u32 = 0xFFFF_FFFC;

/// DISCONNECT code of a session closed because the node stopped accepting the shared seed it
/// was opened with ([`Endpoint::retire_previous_seed`](crate::Endpoint::retire_previous_seed),
/// the end of a seed rotation's grace period).
pub const SEED_RETIRED: u32 = 0xFFFF_FFFB;

/// The lowest code STT reserves; codes from here to `u32::MAX` mean what this module says.
pub const RESERVED_FROM: u32 = SEED_RETIRED;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_value_and_is_reserved() {
        let codes = [STREAM_REFUSED, STREAM_LIMIT_ABUSED, MESSAGE_LANE_MALFORMED, PEER_REMOVED, SEED_RETIRED];
        for (i, a) in codes.iter().enumerate() {
            assert!(*a >= RESERVED_FROM);
            assert!(codes[i + 1..].iter().all(|b| a != b), "{a:#x} is used twice");
        }
    }
}
