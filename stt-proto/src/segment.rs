//! The segment encoder and decoder: bytes in, encrypted numbered segments out, and back, with no
//! session. Use them to carry a byte stream over any channel (custom frames, a store, a file) or
//! to seal data for later.
//!
//! A segment is `kind (1) || stream_id (4) || sequence (4) || length (4) || ciphertext || tag (16)`,
//! integers big-endian; the 13-byte header is the AEAD's associated data and the sequence number
//! is its nonce counter, so a segment cannot be moved to another position, stream or key.
//! Data segments have kind 0 and sequence 0, 1, 2, ...; in bounded mode the end marker (kind 1)
//! takes the next sequence number and carries the total length (8 bytes) and the number of data
//! segments (4 bytes), encrypted. Live mode has no end marker.
//!
//! A session gives each direction its own segment key ([`crate::SessionRef::segment_encoder_key`],
//! from the session's key exporter); [`SegmentKey::derive`] makes one from any shared secret.
//!
//! Flow control is by credit, as in the seeds' streaming layer: a decoder says how far the
//! encoder may go ([`SegmentDecoder::credit`], a sequence number), the application carries that
//! number to the encoder however it likes, and an encoder made [`SegmentEncoder::with_credit`]
//! takes no more bytes than fit below it ([`SegmentEncoder::writable`]). An encoder that keeps to
//! its credit never overflows the decoder that granted it.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use bytes::Bytes;

use crate::crypto::{
    hkdf_expand, hkdf_expand32, hkdf_extract, labels, CryptoBackend, PacketKey, Suite, KEY_LEN, NONCE_LEN, TAG_LEN,
};

/// Bytes of a segment's header.
pub const SEGMENT_HEADER_LEN: usize = 13;
/// Bytes a segment adds to its payload (header and tag).
pub const SEGMENT_OVERHEAD: usize = SEGMENT_HEADER_LEN + TAG_LEN;
/// Default payload per segment: a segment then fits one custom frame in one 1472-byte UDP
/// datagram (1472 - 52 frame bytes - 29 segment bytes).
pub const DEFAULT_SEGMENT_PAYLOAD: usize = 1472 - 52 - SEGMENT_OVERHEAD;
/// Default bound on what a decoder holds (out of order, or in order but not read yet).
pub const DEFAULT_DECODER_BUFFER: usize = 4 * 1024 * 1024;

const KIND_DATA: u8 = 0;
const KIND_END: u8 = 1;
const END_PAYLOAD_LEN: usize = 12;

/// Everything the encoder or decoder can refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// Shorter than a header and a tag, an unknown kind, or a length that disagrees with the size.
    #[error("malformed segment")]
    Malformed,
    /// The header names another stream than this decoder's.
    #[error("segment belongs to stream {got}, this decoder reads stream {expected}")]
    ForeignStream {
        /// This decoder's stream.
        expected: u32,
        /// The segment's stream.
        got: u32,
    },
    /// The tag does not verify: another key, or the segment was altered.
    #[error("segment failed authentication (another key, or altered)")]
    Authentication,
    /// This sequence number was already accepted.
    #[error("duplicate segment {0}")]
    Duplicate(u32),
    /// A data segment numbered at or past the end marker's count, or a second, different end.
    #[error("segment {0} is past the end of the stream")]
    PastEnd(u32),
    /// Accepting the segment would hold more than the decoder's bound: read what is ready, or
    /// raise the bound. (The segment that fills the first gap is always accepted once
    /// everything ready was read, so a full decoder never gets stuck.)
    #[error("decoder buffer full ({limit} bytes): read what is ready or raise the bound")]
    BufferFull {
        /// The bound.
        limit: usize,
    },
    /// `end()` on a live encoder: live streams have no end marker.
    #[error("live mode has no end marker")]
    LiveHasNoEnd,
    /// A bounded encoder was given more, or ended with fewer, bytes than its declared length.
    #[error("bounded stream declared {declared} bytes but was given {given}")]
    LengthMismatch {
        /// The length given at construction.
        declared: u64,
        /// The bytes written.
        given: u64,
    },
    /// The encoder was already ended.
    #[error("the encoder was already ended")]
    Ended,
    /// 2^32 segments were used under this key and stream.
    #[error("sequence numbers exhausted for this key and stream")]
    Exhausted,
    /// Segment payload size 0.
    #[error("segment payload size must be at least 1 byte")]
    ZeroSegmentSize,
    /// The bytes given do not fit the credit the decoder granted: give at most `writable` bytes
    /// now, and the rest after [`SegmentEncoder::grant`]. Nothing of the call was taken.
    #[error("out of credit: {writable} bytes fit until the decoder grants more")]
    NoCredit {
        /// Bytes the encoder takes now.
        writable: usize,
    },
}

/// The key segments are sealed under.
pub struct SegmentKey {
    key: PacketKey,
}

impl core::fmt::Debug for SegmentKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SegmentKey(..)")
    }
}

impl SegmentKey {
    /// Derives the key of one stream: `PRK = Extract(salt = session_id (8) || stream_id (4),
    /// ikm = secret)`, key = `Expand(PRK, "stt/v1 segment key", 32)`, IV = `Expand(PRK,
    /// "stt/v1 segment iv", 12)`; AES-256-GCM.
    pub fn derive(secret: &[u8], session_id: u64, stream_id: u32) -> SegmentKey {
        let mut salt = [0u8; 12];
        salt[..8].copy_from_slice(&session_id.to_be_bytes());
        salt[8..].copy_from_slice(&stream_id.to_be_bytes());
        let prk = hkdf_extract(&salt, secret);
        let key = hkdf_expand32(&prk, labels::SEGMENT_KEY);
        let mut iv = [0u8; NONCE_LEN];
        hkdf_expand(&prk, labels::SEGMENT_IV, &mut iv);
        SegmentKey::from_parts(&key, iv)
    }

    /// A key given directly (AES-256-GCM). Never use one key and IV for two streams with the same
    /// stream id: the nonces would repeat.
    pub fn from_parts(key: &[u8; KEY_LEN], iv: [u8; NONCE_LEN]) -> SegmentKey {
        SegmentKey { key: PacketKey::new(Suite::Aes256Gcm, CryptoBackend::Fastest, key, iv) }
    }
}

fn header(kind: u8, stream_id: u32, seq: u32, len: usize) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0] = kind;
    h[1..5].copy_from_slice(&stream_id.to_be_bytes());
    h[5..9].copy_from_slice(&seq.to_be_bytes());
    h[9..13].copy_from_slice(&(len as u32).to_be_bytes());
    h
}

fn seal(key: &SegmentKey, kind: u8, stream_id: u32, seq: u32, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + SEGMENT_OVERHEAD);
    let h = header(kind, stream_id, seq, payload.len());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let tag = key.key.seal(seq as u64, &h, &mut out[SEGMENT_HEADER_LEN..]);
    out.extend_from_slice(&tag);
    Bytes::from(out)
}

#[derive(Debug)]
enum Mode {
    Live,
    Bounded { declared: u64 },
}

/// Turns bytes into sealed segments of a fixed payload size.
#[derive(Debug)]
pub struct SegmentEncoder {
    key: SegmentKey,
    stream_id: u32,
    mode: Mode,
    segment_size: usize,
    next_seq: u32,
    pending: Vec<u8>,
    written: u64,
    ended: bool,
    /// With flow control: data segments are sealed only below this sequence number.
    credit: Option<u32>,
}

impl SegmentEncoder {
    /// A live encoder: an unbounded source, no end marker.
    pub fn live(key: SegmentKey, stream_id: u32, segment_size: usize) -> Result<SegmentEncoder, SegmentError> {
        Self::new(key, stream_id, segment_size, Mode::Live)
    }

    /// A bounded encoder for exactly `total_len` bytes, closed by an end marker.
    pub fn bounded(
        key: SegmentKey,
        stream_id: u32,
        segment_size: usize,
        total_len: u64,
    ) -> Result<SegmentEncoder, SegmentError> {
        Self::new(key, stream_id, segment_size, Mode::Bounded { declared: total_len })
    }

    fn new(key: SegmentKey, stream_id: u32, segment_size: usize, mode: Mode) -> Result<SegmentEncoder, SegmentError> {
        if segment_size == 0 {
            return Err(SegmentError::ZeroSegmentSize);
        }
        Ok(SegmentEncoder {
            key,
            stream_id,
            mode,
            segment_size,
            next_seq: 0,
            pending: Vec::new(),
            written: 0,
            ended: false,
            credit: None,
        })
    }

    /// Turns on credit-based flow control: data segments are sealed only below sequence number
    /// `initial` until [`SegmentEncoder::grant`] raises it. Take `initial` from the decoder
    /// ([`SegmentDecoder::credit`]) or agree on it beforehand.
    pub fn with_credit(mut self, initial: u32) -> SegmentEncoder {
        self.credit = Some(initial);
        self
    }

    /// Raises the credit to `credit` (a sequence number from [`SegmentDecoder::credit`]); a lower
    /// or repeated grant changes nothing, so grants may arrive late, twice or out of order.
    /// Without [`SegmentEncoder::with_credit`], nothing to do.
    pub fn grant(&mut self, credit: u32) {
        if let Some(c) = &mut self.credit {
            *c = (*c).max(credit);
        }
    }

    /// How many bytes [`SegmentEncoder::push`] takes now: what fits below the credit (with flow
    /// control), else `usize::MAX`.
    pub fn writable(&self) -> usize {
        match self.credit {
            None => usize::MAX,
            Some(credit) => (credit.saturating_sub(self.next_seq) as usize)
                .saturating_mul(self.segment_size)
                .saturating_sub(self.pending.len()),
        }
    }

    fn is_live(&self) -> bool {
        matches!(self.mode, Mode::Live)
    }

    fn declared(&self) -> u64 {
        match self.mode {
            Mode::Live => u64::MAX,
            Mode::Bounded { declared } => declared,
        }
    }

    fn next(&mut self) -> Result<u32, SegmentError> {
        let seq = self.next_seq;
        self.next_seq = seq.checked_add(1).ok_or(SegmentError::Exhausted)?;
        Ok(seq)
    }

    /// Takes `data` and returns the segments it completes; a partial segment waits for more
    /// (or for [`SegmentEncoder::flush`] / [`SegmentEncoder::end`]).
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Bytes>, SegmentError> {
        if self.ended {
            return Err(SegmentError::Ended);
        }
        let given = self.written + data.len() as u64;
        if !self.is_live() && given > self.declared() {
            return Err(SegmentError::LengthMismatch { declared: self.declared(), given });
        }
        let writable = self.writable();
        if data.len() > writable {
            return Err(SegmentError::NoCredit { writable });
        }
        self.written = given;
        let mut out = Vec::new();
        while !data.is_empty() {
            let take = (self.segment_size - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == self.segment_size {
                out.push(self.seal_pending()?);
            }
        }
        Ok(out)
    }

    /// Seals what is pending as a short segment now (live senders that want data out at once).
    pub fn flush(&mut self) -> Result<Option<Bytes>, SegmentError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        self.seal_pending().map(Some)
    }

    /// Bounded mode: seals what is pending and the end marker. Live mode: an error.
    pub fn end(&mut self) -> Result<Vec<Bytes>, SegmentError> {
        if self.is_live() {
            return Err(SegmentError::LiveHasNoEnd);
        }
        if self.ended {
            return Err(SegmentError::Ended);
        }
        if self.written != self.declared() {
            return Err(SegmentError::LengthMismatch { declared: self.declared(), given: self.written });
        }
        let mut out = Vec::new();
        if let Some(last) = self.flush()? {
            out.push(last);
        }
        let count = self.next_seq;
        let seq = self.next()?;
        let mut payload = [0u8; END_PAYLOAD_LEN];
        payload[..8].copy_from_slice(&self.written.to_be_bytes());
        payload[8..].copy_from_slice(&count.to_be_bytes());
        out.push(seal(&self.key, KIND_END, self.stream_id, seq, &payload));
        self.ended = true;
        Ok(out)
    }

    fn seal_pending(&mut self) -> Result<Bytes, SegmentError> {
        let seq = self.next()?;
        let segment = seal(&self.key, KIND_DATA, self.stream_id, seq, &self.pending);
        self.pending.clear();
        Ok(segment)
    }
}

/// What the decoder counts for each segment it holds besides its bytes: its place in the maps
/// and its buffer. Without it, a million one-byte segments would count as one megabyte and take
/// tens.
pub const SEGMENT_HOLD_COST: usize = 64;

/// Turns segments, in any order, back into the bytes in order.
#[derive(Debug)]
pub struct SegmentDecoder {
    key: SegmentKey,
    stream_id: u32,
    limit: usize,
    /// Next data sequence number to hand out.
    next_seq: u32,
    /// Decrypted segments past a gap.
    waiting: BTreeMap<u32, Bytes>,
    /// Decrypted segments in order, not read yet.
    ready: VecDeque<Bytes>,
    held: usize,
    /// From the end marker: (total length, number of data segments).
    end: Option<(u64, u32)>,
    delivered: u64,
}

impl SegmentDecoder {
    /// A decoder for `stream_id` under `key` that holds at most `limit` bytes.
    pub fn new(key: SegmentKey, stream_id: u32, limit: usize) -> SegmentDecoder {
        SegmentDecoder {
            key,
            stream_id,
            limit,
            next_seq: 0,
            waiting: BTreeMap::new(),
            ready: VecDeque::new(),
            held: 0,
            end: None,
            delivered: 0,
        }
    }

    /// Verifies, decrypts and files one segment.
    pub fn push(&mut self, segment: &[u8]) -> Result<(), SegmentError> {
        if segment.len() < SEGMENT_OVERHEAD {
            return Err(SegmentError::Malformed);
        }
        let (h, rest) = segment.split_at(SEGMENT_HEADER_LEN);
        let kind = h[0];
        let stream = u32::from_be_bytes([h[1], h[2], h[3], h[4]]);
        let seq = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        let len = u32::from_be_bytes([h[9], h[10], h[11], h[12]]) as usize;
        // An empty data segment carries nothing (the encoder never makes one) and would cost an
        // entry: refused.
        let bad_kind =
            kind > KIND_END || (kind == KIND_END && len != END_PAYLOAD_LEN) || (kind == KIND_DATA && len == 0);
        if len != rest.len() - TAG_LEN || bad_kind || seq == u32::MAX {
            return Err(SegmentError::Malformed);
        }
        if stream != self.stream_id {
            return Err(SegmentError::ForeignStream { expected: self.stream_id, got: stream });
        }
        if seq < self.next_seq || self.waiting.contains_key(&seq) {
            return Err(SegmentError::Duplicate(seq));
        }
        if kind == KIND_DATA && (self.end.is_some_and(|(_, count)| seq >= count)) {
            return Err(SegmentError::PastEnd(seq));
        }
        if kind == KIND_END && self.end.is_some() {
            return Err(SegmentError::Duplicate(seq));
        }
        // The bound holds, except for the one segment that fills the first gap while nothing
        // is waiting to be read: refusing it would leave the decoder stuck behind its own buffer.
        let unblocks = seq == self.next_seq && self.ready.is_empty();
        if kind == KIND_DATA && self.held + len + SEGMENT_HOLD_COST > self.limit && !unblocks {
            return Err(SegmentError::BufferFull { limit: self.limit });
        }
        let mut plain = Vec::from(&rest[..len]);
        let tag: [u8; TAG_LEN] = rest[len..].try_into().map_err(|_| SegmentError::Malformed)?;
        self.key.key.open(seq as u64, h, &mut plain, &tag).map_err(|_| SegmentError::Authentication)?;
        if kind == KIND_END {
            let total = u64::from_be_bytes(plain[..8].try_into().map_err(|_| SegmentError::Malformed)?);
            let count = u32::from_be_bytes(plain[8..].try_into().map_err(|_| SegmentError::Malformed)?);
            if count != seq || self.waiting.keys().next_back().is_some_and(|&last| last >= count) {
                return Err(SegmentError::PastEnd(seq));
            }
            self.end = Some((total, count));
            return Ok(());
        }
        self.held += len + SEGMENT_HOLD_COST;
        if seq == self.next_seq {
            self.ready.push_back(Bytes::from(plain));
            self.next_seq += 1;
            while let Some(next) = self.waiting.remove(&self.next_seq) {
                self.ready.push_back(next);
                self.next_seq += 1;
            }
        } else {
            self.waiting.insert(seq, Bytes::from(plain));
        }
        Ok(())
    }

    /// The next bytes in order, if any have arrived.
    pub fn read(&mut self) -> Option<Bytes> {
        let b = self.ready.pop_front()?;
        self.held -= b.len() + SEGMENT_HOLD_COST;
        self.delivered += b.len() as u64;
        Some(b)
    }

    /// True once the end marker arrived and every byte before it was read (bounded mode).
    pub fn is_finished(&self) -> bool {
        self.end
            .is_some_and(|(total, count)| self.next_seq == count && self.delivered == total && self.ready.is_empty())
    }

    /// Live mode: gives up on the oldest gap and continues after it. Returns the number of
    /// segments skipped (0 if there is no gap).
    pub fn skip_gap(&mut self) -> u32 {
        let Some((&first, _)) = self.waiting.iter().next() else { return 0 };
        let skipped = first - self.next_seq;
        self.next_seq = first;
        while let Some(next) = self.waiting.remove(&self.next_seq) {
            self.ready.push_back(next);
            self.next_seq += 1;
        }
        skipped
    }

    /// The credit to grant an encoder whose segments carry at most `segment_size` bytes: the
    /// sequence number below which every data segment still fits this decoder's bound, counting
    /// those already promised. Send it to the encoder ([`SegmentEncoder::grant`]) after reading,
    /// as QUIC's MAX_STREAM_DATA; it never leaves the encoder stuck (the segment that fills the
    /// first gap is always granted when nothing waits to be read).
    pub fn credit(&self, segment_size: usize) -> u32 {
        let per_segment = segment_size.max(1).saturating_add(SEGMENT_HOLD_COST);
        let room = self.limit.saturating_sub(self.held) / per_segment;
        let room = if self.ready.is_empty() { room.max(1) } else { room };
        self.next_seq.saturating_add(u32::try_from(room).unwrap_or(u32::MAX))
    }

    /// Bytes held (waiting behind a gap, or ready and not read), each segment counted with
    /// [`SEGMENT_HOLD_COST`] more.
    pub fn buffered(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_data_segment_is_refused() {
        let key = SegmentKey::derive(b"a secret both ends hold, 32 byte", 1, 1);
        let empty = seal(&key, KIND_DATA, 1, 1, &[]);
        let mut dec = SegmentDecoder::new(key, 1, 1 << 20);
        assert_eq!(dec.push(&empty), Err(SegmentError::Malformed));
        assert_eq!(dec.buffered(), 0);
    }
}
