//! The wire codec: STT frames and the payloads of control frames.
//!
//! A datagram holds one or more frames back to back. Each frame is
//!
//! ```text
//! offset size field
//! 0      2    magic            0x53 0x54 ("ST")
//! 2      1    frame_type
//! 3      8    session_id       big-endian
//! 11     4    stream_id        big-endian; 0 = session control
//! 15     4    sequence         big-endian
//! 19     1    flags
//! 20     4    payload_length   big-endian
//! 24     N    payload
//! 24+N   4    metadata_length  big-endian; always 24
//! 28+N   24   metadata         packet number (8, big-endian) || tag (16)
//! ```
//!
//! Decoding borrows from the datagram and never panics: every malformed input is a
//! [`DecodeError`]. Encoding writes into a caller-provided buffer.

pub mod control;
pub mod handshake;
pub mod message;
pub mod names;
pub mod stream;

use core::ops::Range;

use crate::crypto::{OpenError, PacketKey, TAG_LEN};

/// The two magic bytes that start every frame: `"ST"`.
pub const MAGIC: [u8; 2] = *b"ST";
/// Size of the fixed header.
pub const HEADER_LEN: usize = 20;
/// Size of the metadata: packet number (8) and tag (16).
pub const METADATA_LEN: usize = 24;
/// Bytes a frame adds around its payload: header, both length fields and metadata.
pub const FRAME_OVERHEAD: usize = HEADER_LEN + 4 + 4 + METADATA_LEN;
/// Largest payload a frame may declare (WebSocket messages carry frames up to 2 MiB).
pub const MAX_PAYLOAD_LEN: usize = 2 * 1024 * 1024;
/// Size of the associated data of an encrypted frame: header and both length fields.
pub const AAD_LEN: usize = HEADER_LEN + 8;

/// A frame type byte. 0x01–0x7F belong to STT, 0x80–0xFF to applications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FrameType(pub u8);

impl FrameType {
    /// Handshake message 1, initiator to responder (cleartext, MACed).
    pub const INIT: FrameType = FrameType(0x01);
    /// Handshake message 2, responder to initiator (cleartext, MACed).
    pub const CHALLENGE: FrameType = FrameType(0x02);
    /// Handshake message 3, initiator to responder (cleartext, MACed).
    pub const RESPONSE: FrameType = FrameType(0x03);
    /// Handshake message 4, responder to initiator (cleartext, MACed).
    pub const CONFIRM: FrameType = FrameType(0x04);
    /// Stream data.
    pub const DATA: FrameType = FrameType(0x10);
    /// Opens a stream.
    pub const STREAM_OPEN: FrameType = FrameType(0x11);
    /// Closes a stream.
    pub const STREAM_CLOSE: FrameType = FrameType(0x12);
    /// Acknowledges packet-number ranges.
    pub const ACK: FrameType = FrameType(0x13);
    /// Keeps an idle session alive; also carries key-phase confirmation.
    pub const KEEPALIVE: FrameType = FrameType(0x14);
    /// Ends a session with a reason.
    pub const DISCONNECT: FrameType = FrameType(0x15);
    /// Handshake rejection, responder to initiator (cleartext, bound to the initiator's nonce).
    pub const REJECT: FrameType = FrameType(0x16);
    /// Flow-control credit: a new byte limit for a stream (or, on stream 0, the session).
    pub const MAX_DATA: FrameType = FrameType(0x17);
    /// Asks the peer to echo 8 bytes: sent to a new address before the session moves there.
    pub const PATH_CHALLENGE: FrameType = FrameType(0x18);
    /// Echoes a PATH_CHALLENGE's 8 bytes.
    pub const PATH_RESPONSE: FrameType = FrameType(0x19);
    /// A resumption ticket, responder to initiator (section 4.11 of the protocol).
    pub const NEW_TICKET: FrameType = FrameType(0x1A);
    /// Registers a named endpoint.
    pub const ENDPOINT_REGISTER: FrameType = FrameType(0x20);
    /// Resolves a named endpoint.
    pub const ENDPOINT_RESOLVE: FrameType = FrameType(0x21);
    /// Routes bytes to a named endpoint.
    pub const ENDPOINT_ROUTE: FrameType = FrameType(0x22);

    /// True for the application-defined range 0x80–0xFF.
    pub const fn is_custom(self) -> bool {
        self.0 >= 0x80
    }

    /// True for the cleartext handshake frames (INIT, CHALLENGE, RESPONSE, CONFIRM, REJECT).
    pub const fn is_handshake(self) -> bool {
        matches!(self.0, 0x01..=0x04 | 0x16)
    }

    /// True if this version of STT defines the type (every custom type counts as defined).
    pub const fn is_known(self) -> bool {
        matches!(self.0, 0x01..=0x04 | 0x10..=0x1A | 0x20..=0x22) || self.is_custom()
    }
}

/// The flag bits of a frame header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Flags(pub u8);

impl Flags {
    /// Last segment of a stream.
    pub const FIN: u8 = 0x01;
    /// Key phase of the sender's traffic key (flips at each key rotation).
    pub const KEY_PHASE: u8 = 0x02;
    /// Key phase the sender currently uses to *receive*: confirms the peer's latest rotation.
    pub const PEER_KEY_PHASE: u8 = 0x04;
    /// DATA of a live stream (never retransmitted; the receiver may skip gaps).
    pub const LIVE: u8 = 0x08;
    /// DATA, STREAM_OPEN or STREAM_CLOSE of a message lane (see [`message`]); never with LIVE.
    pub const MESSAGE: u8 = 0x10;
    /// Bits this version defines; the others must be zero.
    pub const DEFINED: u8 = Self::FIN | Self::KEY_PHASE | Self::PEER_KEY_PHASE | Self::LIVE | Self::MESSAGE;

    /// True if every bit of `bit` is set.
    pub const fn has(self, bit: u8) -> bool {
        self.0 & bit == bit
    }

    /// `self` with `bit` set or cleared.
    pub const fn with(self, bit: u8, on: bool) -> Flags {
        if on {
            Flags(self.0 | bit)
        } else {
            Flags(self.0 & !bit)
        }
    }
}

/// The decoded 20-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Header {
    /// Frame type.
    pub frame_type: FrameType,
    /// Session id (handshake frames before RESPONSE carry the initiator's handshake tag).
    pub session_id: u64,
    /// Stream id; 0 is session control.
    pub stream_id: u32,
    /// Per-stream segment number.
    pub sequence: u32,
    /// Flag bits.
    pub flags: Flags,
}

impl Header {
    /// Writes the header into the first 20 bytes of `out`.
    pub fn write(&self, out: &mut [u8; HEADER_LEN]) {
        out[0..2].copy_from_slice(&MAGIC);
        out[2] = self.frame_type.0;
        out[3..11].copy_from_slice(&self.session_id.to_be_bytes());
        out[11..15].copy_from_slice(&self.stream_id.to_be_bytes());
        out[15..19].copy_from_slice(&self.sequence.to_be_bytes());
        out[19] = self.flags.0;
    }
}

/// Why bytes are not a valid frame. Every variant is reachable from network input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than a header and its length field.
    #[error("frame truncated: {len} bytes, a frame needs at least {needed}")]
    Truncated {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The first two bytes are not `"ST"`.
    #[error("bad magic {0:#06x}: not an STT frame")]
    BadMagic(u16),
    /// A frame type STT does not define (0x00, or an unassigned value below 0x80).
    #[error("frame type {0:#04x} is reserved")]
    ReservedFrameType(u8),
    /// Flag bits this version does not define are set.
    #[error("reserved flag bits set: {0:#04x}")]
    ReservedFlags(u8),
    /// The declared payload runs past the end of the datagram or past the 2 MiB limit.
    #[error("payload length {declared} exceeds the {available} bytes available")]
    PayloadOverrun {
        /// Declared payload length.
        declared: u64,
        /// Bytes left for it.
        available: usize,
    },
    /// The metadata length field is not 24.
    #[error("metadata length {0} is invalid: it must be 24 (packet number and tag)")]
    BadMetadataLength(u32),
    /// A control or handshake payload is malformed.
    #[error("malformed {what} payload")]
    BadPayload {
        /// Which payload.
        what: &'static str,
    },
    /// A handshake message carries a protocol version this node does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
}

/// Where the parts of one frame lie inside a datagram, as byte ranges.
///
/// The ranges let the caller decrypt the payload in place and then hand out slices of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameLayout {
    /// The decoded header.
    pub header: Header,
    /// The payload's bytes.
    pub payload: Range<usize>,
    /// The packet number from the metadata.
    pub packet_number: u64,
    /// The tag (AEAD tag, or handshake MAC) from the metadata.
    pub tag: [u8; TAG_LEN],
    /// Total length of the frame; the next frame starts here.
    pub len: usize,
}

impl FrameLayout {
    /// The associated data of this frame (header and both length fields), read from `frame`.
    pub fn aad(&self, frame: &[u8]) -> [u8; AAD_LEN] {
        aad_of(frame)
    }

    /// The bytes a handshake MAC covers: everything but the tag.
    pub fn mac_input<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        &frame[..self.len - TAG_LEN]
    }
}

/// The associated data of an encrypted frame: its 20-byte header, its payload length, and the
/// metadata length (always 24). `frame` must start with the header and payload length.
pub fn aad_of(frame: &[u8]) -> [u8; AAD_LEN] {
    let mut aad = [0u8; AAD_LEN];
    aad[..HEADER_LEN + 4].copy_from_slice(&frame[..HEADER_LEN + 4]);
    aad[HEADER_LEN + 4..].copy_from_slice(&(METADATA_LEN as u32).to_be_bytes());
    aad
}

/// Decrypts the encrypted frame at the start of `frame` in place under `key`: the AEAD of
/// section 3.3 with `layout`'s packet number and tag, the associated data read from `frame`.
/// `layout` is [`parse_frame`] of the same bytes. On success the payload range holds the
/// plaintext; on failure (wrong key or generation, tampered bytes, or a `layout` that does not
/// fit `frame`) the payload holds unspecified bytes.
pub fn open_frame(key: &PacketKey, frame: &mut [u8], layout: &FrameLayout) -> Result<(), OpenError> {
    if frame.len() < layout.len || layout.payload.end > layout.len || layout.payload.start != HEADER_LEN + 4 {
        return Err(OpenError);
    }
    let aad = aad_of(frame);
    key.open(layout.packet_number, &aad, &mut frame[layout.payload.clone()], &layout.tag)
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Parses the frame at the start of `buf`, returning where its parts lie.
pub fn parse_frame(buf: &[u8]) -> Result<FrameLayout, DecodeError> {
    if buf.len() < HEADER_LEN + 4 {
        return Err(DecodeError::Truncated { len: buf.len(), needed: FRAME_OVERHEAD });
    }
    let magic = [buf[0], buf[1]];
    if magic != MAGIC {
        return Err(DecodeError::BadMagic(u16::from_be_bytes(magic)));
    }
    let frame_type = FrameType(buf[2]);
    if !frame_type.is_known() {
        return Err(DecodeError::ReservedFrameType(buf[2]));
    }
    let flags = Flags(buf[19]);
    if flags.0 & !Flags::DEFINED != 0 {
        return Err(DecodeError::ReservedFlags(flags.0 & !Flags::DEFINED));
    }
    let header = Header {
        frame_type,
        session_id: be_u64(&buf[3..11]),
        stream_id: be_u32(&buf[11..15]),
        sequence: be_u32(&buf[15..19]),
        flags,
    };
    let declared = be_u32(&buf[20..24]) as usize;
    let available = buf.len() - (HEADER_LEN + 4);
    // `declared` is at most 2^32 - 1, so the sum cannot overflow a 64-bit usize; on 32-bit targets
    // the first comparison has already rejected anything above 2 MiB.
    if declared > MAX_PAYLOAD_LEN || declared + 4 + METADATA_LEN > available {
        return Err(DecodeError::PayloadOverrun { declared: declared as u64, available });
    }
    let payload = HEADER_LEN + 4..HEADER_LEN + 4 + declared;
    let meta_len = be_u32(&buf[payload.end..payload.end + 4]);
    if meta_len as usize != METADATA_LEN {
        return Err(DecodeError::BadMetadataLength(meta_len));
    }
    let meta = payload.end + 4;
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&buf[meta + 8..meta + METADATA_LEN]);
    Ok(FrameLayout { header, packet_number: be_u64(&buf[meta..meta + 8]), tag, len: meta + METADATA_LEN, payload })
}

/// A decoded frame borrowing from its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header.
    pub header: Header,
    /// The payload as carried (ciphertext for encrypted frames).
    pub payload: &'a [u8],
    /// Packet number from the metadata.
    pub packet_number: u64,
    /// Tag from the metadata.
    pub tag: &'a [u8; TAG_LEN],
}

/// Decodes the first frame of `buf`; returns it and the number of bytes it used.
pub fn decode_frame(buf: &[u8]) -> Result<(Frame<'_>, usize), DecodeError> {
    let l = parse_frame(buf)?;
    let tag: &[u8; TAG_LEN] = buf[l.len - TAG_LEN..l.len].try_into().expect("16-byte slice");
    Ok((Frame { header: l.header, payload: &buf[l.payload.clone()], packet_number: l.packet_number, tag }, l.len))
}

/// Iterates the frames of a datagram. Stops after the first error, which it yields.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    rest: &'a [u8],
}

/// Frames of `datagram`, in order.
pub fn frames(datagram: &[u8]) -> Frames<'_> {
    Frames { rest: datagram }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match decode_frame(self.rest) {
            Ok((f, n)) => {
                self.rest = &self.rest[n..];
                Some(Ok(f))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Space a frame with a `payload_len`-byte payload occupies on the wire.
pub const fn frame_len(payload_len: usize) -> usize {
    payload_len + FRAME_OVERHEAD
}

/// Writes the frame skeleton into `out[..frame_len(payload_len)]`: header, payload length,
/// metadata length and packet number. The caller then fills the payload range and the tag.
///
/// Returns the payload range and the tag range. `out` must hold `frame_len(payload_len)` bytes.
pub fn write_skeleton(
    out: &mut [u8],
    header: &Header,
    payload_len: usize,
    packet_number: u64,
) -> (Range<usize>, Range<usize>) {
    let (head, _) = out.split_at_mut(HEADER_LEN);
    header.write(head.try_into().expect("20-byte header"));
    out[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&(payload_len as u32).to_be_bytes());
    let payload = HEADER_LEN + 4..HEADER_LEN + 4 + payload_len;
    let meta = payload.end;
    out[meta..meta + 4].copy_from_slice(&(METADATA_LEN as u32).to_be_bytes());
    out[meta + 4..meta + 12].copy_from_slice(&packet_number.to_be_bytes());
    (payload, meta + 12..meta + 12 + TAG_LEN)
}

/// Encodes a complete frame with an already-final payload and tag (used for test vectors and
/// tools). Returns the number of bytes written, or `None` if `out` is too small.
pub fn encode_frame(
    out: &mut [u8],
    header: &Header,
    payload: &[u8],
    packet_number: u64,
    tag: &[u8; TAG_LEN],
) -> Option<usize> {
    let n = frame_len(payload.len());
    if out.len() < n || payload.len() > MAX_PAYLOAD_LEN {
        return None;
    }
    let (p, t) = write_skeleton(&mut out[..n], header, payload.len(), packet_number);
    out[p].copy_from_slice(payload);
    out[t].copy_from_slice(tag);
    Some(n)
}

#[cfg(test)]
mod tests;
