//! Payloads of session control frames carried encrypted on stream 0.
//!
//! DISCONNECT: `code: u32`, `reason_len: u16`, `reason` (UTF-8, at most 1024 bytes).
//! KEEPALIVE: empty.
//! NEW_TICKET: `lifetime_seconds: u32`, `ticket_nonce: u64`, `ticket` (the rest, 1 to 256 bytes).

use super::DecodeError;

/// Longest DISCONNECT reason carried on the wire, in bytes; longer reasons are truncated at a
/// character boundary.
pub const MAX_REASON_LEN: usize = 1024;

/// DISCONNECT payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// Application- or STT-defined code.
    pub code: u32,
    /// Human-readable reason (UTF-8).
    pub reason: &'a str,
}

/// Cuts `s` to at most `max` bytes without splitting a character.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl<'a> Disconnect<'a> {
    /// Encoded length (after truncating the reason).
    pub fn len(&self) -> usize {
        4 + 2 + truncate_utf8(self.reason, MAX_REASON_LEN).len()
    }
    /// Never empty; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Writes the payload into `out[..self.len()]`.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        let reason = truncate_utf8(self.reason, MAX_REASON_LEN).as_bytes();
        out[..4].copy_from_slice(&self.code.to_be_bytes());
        out[4..6].copy_from_slice(&(reason.len() as u16).to_be_bytes());
        out[6..6 + reason.len()].copy_from_slice(reason);
        6 + reason.len()
    }
    /// Parses a DISCONNECT payload.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let bad = DecodeError::BadPayload { what: "DISCONNECT" };
        if buf.len() < 6 {
            return Err(bad);
        }
        let code = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let n = u16::from_be_bytes([buf[4], buf[5]]) as usize;
        if buf.len() != 6 + n || n > MAX_REASON_LEN {
            return Err(bad);
        }
        let reason = core::str::from_utf8(&buf[6..]).map_err(|_| bad)?;
        Ok(Disconnect { code, reason })
    }
}

/// NEW_TICKET payload: a resumption ticket the responder gives the initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewTicket<'a> {
    /// How long the responder accepts the ticket, in seconds from when it issued it.
    pub lifetime_seconds: u32,
    /// The context of the ticket's secret: `export("stt resumption", ticket_nonce, 32)`.
    pub ticket_nonce: u64,
    /// The ticket, opaque to the initiator.
    pub ticket: &'a [u8],
}

impl<'a> NewTicket<'a> {
    /// Encoded length.
    pub fn len(&self) -> usize {
        12 + self.ticket.len()
    }
    /// Never empty; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Writes the payload into `out[..self.len()]`.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        out[..4].copy_from_slice(&self.lifetime_seconds.to_be_bytes());
        out[4..12].copy_from_slice(&self.ticket_nonce.to_be_bytes());
        out[12..12 + self.ticket.len()].copy_from_slice(self.ticket);
        self.len()
    }
    /// Parses a NEW_TICKET payload.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let bad = DecodeError::BadPayload { what: "NEW_TICKET" };
        if buf.len() <= 12 || buf.len() > 12 + super::handshake::MAX_TICKET_LEN {
            return Err(bad);
        }
        let lifetime_seconds = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&buf[4..12]);
        Ok(NewTicket { lifetime_seconds, ticket_nonce: u64::from_be_bytes(nonce), ticket: &buf[12..] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ticket_roundtrip() {
        let mut buf = [0u8; 300];
        let t = NewTicket { lifetime_seconds: 7200, ticket_nonce: 9, ticket: &[4; 96] };
        let n = t.encode(&mut buf);
        assert_eq!(NewTicket::decode(&buf[..n]).unwrap(), t);
        assert!(NewTicket::decode(&buf[..12]).is_err(), "a ticket is never empty");
        assert!(NewTicket::decode(&[0; 12 + 257]).is_err(), "nor longer than an INIT carries");
    }

    #[test]
    fn disconnect_roundtrip_and_truncation() {
        let mut buf = [0u8; 2048];
        let d = Disconnect { code: 7, reason: "bye" };
        let n = d.encode(&mut buf);
        assert_eq!(Disconnect::decode(&buf[..n]).unwrap(), d);
        let long = "é".repeat(600);
        let d = Disconnect { code: 1, reason: &long };
        let n = d.encode(&mut buf);
        let back = Disconnect::decode(&buf[..n]).unwrap();
        assert!(back.reason.len() <= MAX_REASON_LEN);
        assert!(long.starts_with(back.reason));
        assert!(Disconnect::decode(&buf[..5]).is_err());
    }
}
