//! Payloads of the stream and recovery frames: DATA, STREAM_OPEN, STREAM_CLOSE, ACK, MAX_DATA.
//!
//! ```text
//! DATA          offset(8) || bytes                 header: stream_id, sequence = segment index,
//!                                                  flags FIN (last segment), LIVE (live stream)
//! STREAM_OPEN   mode(1) || deadline_ms(4)          mode 0 reliable, 1 live; deadline 0 for reliable
//!               [|| label_len(1) || label]         a label of 1 to 64 bytes, if the peer takes them
//! STREAM_CLOSE  code(4)                            abrupt reset of the stream by its sender
//! ACK           ack_delay_us(4) || count(1) || (largest(8) || smallest(8)) * count, descending
//! MAX_DATA      limit(8)                           header stream_id 0 = whole session
//! ```

use super::{be_u32 as u32_at, be_u64 as u64_at, DecodeError};

/// Most packet-number ranges one ACK carries.
pub const MAX_ACK_RANGES: usize = 32;

/// Bytes before the data in a DATA payload.
pub const DATA_HEADER_LEN: usize = 8;

/// Splits a DATA payload into its stream offset and the data.
pub fn decode_data(payload: &[u8]) -> Result<(u64, &[u8]), DecodeError> {
    if payload.len() < DATA_HEADER_LEN {
        return Err(DecodeError::BadPayload { what: "DATA" });
    }
    let offset = u64_at(payload);
    if offset.checked_add((payload.len() - DATA_HEADER_LEN) as u64).is_none() {
        return Err(DecodeError::BadPayload { what: "DATA" });
    }
    Ok((offset, &payload[DATA_HEADER_LEN..]))
}

/// Longest stream label, in bytes.
pub const MAX_STREAM_LABEL: usize = 64;

/// STREAM_OPEN payload: `mode (1) || deadline_ms (4)`, then, on a stream with a label,
/// `label_len (1) || label` (1 to [`MAX_STREAM_LABEL`] bytes; only to a peer whose handshake
/// announced stream labels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamOpen<'a> {
    /// True for a live stream.
    pub live: bool,
    /// Live streams: how long the receiver waits for a gap before skipping it, in milliseconds.
    pub deadline_ms: u32,
    /// What the opener says the stream carries; empty for none.
    pub label: &'a [u8],
}

impl<'a> StreamOpen<'a> {
    /// Length without a label.
    pub const LEN: usize = 5;
    /// Encoded length.
    pub fn encoded_len(&self) -> usize {
        if self.label.is_empty() {
            Self::LEN
        } else {
            Self::LEN + 1 + self.label.len()
        }
    }
    /// Writes the payload into `out[..self.encoded_len()]`.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        out[0] = u8::from(self.live);
        out[1..5].copy_from_slice(&self.deadline_ms.to_be_bytes());
        if !self.label.is_empty() {
            out[5] = self.label.len() as u8;
            out[6..6 + self.label.len()].copy_from_slice(self.label);
        }
        self.encoded_len()
    }
    /// Parses a STREAM_OPEN payload.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let bad = DecodeError::BadPayload { what: "STREAM_OPEN" };
        if buf.len() < Self::LEN || buf[0] > 1 {
            return Err(bad);
        }
        let label = match &buf[Self::LEN..] {
            [] => &[][..],
            [len, label @ ..] if usize::from(*len) == label.len() && (1..=MAX_STREAM_LABEL).contains(&label.len()) => {
                label
            }
            _ => return Err(bad),
        };
        Ok(StreamOpen { live: buf[0] == 1, deadline_ms: u32_at(&buf[1..]), label })
    }
}

/// STREAM_CLOSE payload: the reset code.
pub fn decode_stream_close(buf: &[u8]) -> Result<u32, DecodeError> {
    if buf.len() != 4 {
        return Err(DecodeError::BadPayload { what: "STREAM_CLOSE" });
    }
    Ok(u32_at(buf))
}

/// MAX_DATA payload: the new limit.
pub fn decode_max_data(buf: &[u8]) -> Result<u64, DecodeError> {
    if buf.len() != 8 {
        return Err(DecodeError::BadPayload { what: "MAX_DATA" });
    }
    Ok(u64_at(buf))
}

/// An inclusive range of packet numbers `smallest..=largest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckRange {
    /// Largest packet number in the range.
    pub largest: u64,
    /// Smallest packet number in the range.
    pub smallest: u64,
}

/// Encoded length of an ACK with `ranges` ranges.
pub const fn ack_len(ranges: usize) -> usize {
    5 + 16 * ranges
}

/// Writes an ACK payload. `ranges` must be descending and disjoint, at most 32.
pub fn encode_ack(out: &mut [u8], ack_delay_us: u32, ranges: impl ExactSizeIterator<Item = AckRange>) -> usize {
    out[..4].copy_from_slice(&ack_delay_us.to_be_bytes());
    out[4] = ranges.len() as u8;
    let mut at = 5;
    for r in ranges {
        out[at..at + 8].copy_from_slice(&r.largest.to_be_bytes());
        out[at + 8..at + 16].copy_from_slice(&r.smallest.to_be_bytes());
        at += 16;
    }
    at
}

/// A decoded ACK payload; iterate its ranges with [`Ack::ranges`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack<'a> {
    /// How long the receiver held the ACK back, in microseconds.
    pub ack_delay_us: u32,
    raw: &'a [u8],
}

impl<'a> Ack<'a> {
    /// Parses an ACK payload: 1 to 32 ranges, each `smallest <= largest`, strictly descending with
    /// gaps between them.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let bad = DecodeError::BadPayload { what: "ACK" };
        if buf.len() < 5 {
            return Err(bad);
        }
        let n = buf[4] as usize;
        if n == 0 || n > MAX_ACK_RANGES || buf.len() != ack_len(n) {
            return Err(bad);
        }
        let ack = Ack { ack_delay_us: u32_at(buf), raw: &buf[5..] };
        let mut prev_smallest: Option<u64> = None;
        for r in ack.ranges() {
            if r.smallest > r.largest || prev_smallest.is_some_and(|p| r.largest.saturating_add(1) >= p) {
                return Err(bad);
            }
            prev_smallest = Some(r.smallest);
        }
        Ok(ack)
    }

    /// The ranges, largest first.
    pub fn ranges(&self) -> impl Iterator<Item = AckRange> + 'a {
        self.raw.chunks_exact(16).map(|c| AckRange { largest: u64_at(c), smallest: u64_at(&c[8..]) })
    }

    /// The largest packet number acknowledged.
    pub fn largest(&self) -> u64 {
        u64_at(self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_roundtrip_and_validation() {
        let mut buf = [0u8; 64];
        let ranges = [AckRange { largest: 10, smallest: 8 }, AckRange { largest: 5, smallest: 5 }];
        let n = encode_ack(&mut buf, 250, ranges.iter().copied());
        assert_eq!(n, ack_len(2));
        let ack = Ack::decode(&buf[..n]).unwrap();
        assert_eq!(ack.ack_delay_us, 250);
        assert_eq!(ack.largest(), 10);
        assert_eq!(ack.ranges().collect::<alloc::vec::Vec<_>>(), ranges);
        // Overlapping or adjacent ranges, inverted ranges and zero ranges are refused.
        let n = encode_ack(
            &mut buf,
            0,
            [AckRange { largest: 10, smallest: 8 }, AckRange { largest: 7, smallest: 1 }].into_iter(),
        );
        assert!(Ack::decode(&buf[..n]).is_err());
        let n = encode_ack(&mut buf, 0, [AckRange { largest: 1, smallest: 2 }].into_iter());
        assert!(Ack::decode(&buf[..n]).is_err());
        assert!(Ack::decode(&[0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn data_open_close_max_data() {
        let mut p = [0u8; 12];
        p[..8].copy_from_slice(&5u64.to_be_bytes());
        p[8..].copy_from_slice(b"abcd");
        assert_eq!(decode_data(&p).unwrap(), (5, &b"abcd"[..]));
        assert!(decode_data(&p[..7]).is_err());
        let mut q = [0xFFu8; 10];
        assert!(decode_data(&q).is_err(), "offset + length overflows");
        q[0] = 0;
        assert!(decode_data(&q).is_ok());
        let mut o = [0u8; 5];
        StreamOpen { live: true, deadline_ms: 300, label: &[] }.encode(&mut o);
        assert_eq!(StreamOpen::decode(&o).unwrap(), StreamOpen { live: true, deadline_ms: 300, label: &[] });
        o[0] = 2;
        assert!(StreamOpen::decode(&o).is_err());
        let mut o = [0u8; 11];
        let labeled = StreamOpen { live: false, deadline_ms: 0, label: b"video" };
        assert_eq!(labeled.encode(&mut o), 11);
        assert_eq!(StreamOpen::decode(&o).unwrap(), labeled);
        assert!(StreamOpen::decode(&o[..10]).is_err(), "a label shorter than its length");
        assert!(StreamOpen::decode(&[0, 0, 0, 0, 0, 0]).is_err(), "an empty label is never sent");
        assert_eq!(decode_stream_close(&7u32.to_be_bytes()).unwrap(), 7);
        assert_eq!(decode_max_data(&9u64.to_be_bytes()).unwrap(), 9);
        assert!(decode_max_data(&[0; 7]).is_err());
    }
}
