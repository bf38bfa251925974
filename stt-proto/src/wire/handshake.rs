//! Payloads of the handshake frames: INIT, CHALLENGE, RESPONSE, CONFIRM and REJECT, the
//! one-round-trip pair (INIT and CONFIRM of version 3: [`FastInit`], [`FastConfirm`]) and the
//! resumed INIT of version 4 ([`ResumeInit`], answered by a [`FastConfirm`] of version 4).
//!
//! All start with a version byte; all but REJECT end with an extension block
//! (`ext_len: u16` then `ext_len` bytes): a list of `type (2) || length (2) || value` entries,
//! unknown types ignored, so that versions can add options without a new frame layout. The
//! initiator's RESPONSE and INIT of version 3, and the responder's CONFIRM of either version,
//! say what the sender accepts inside the session ([`Features`]). Every version's INIT
//! starts with version, node id and nonce, and REJECT keeps one layout across versions, so a
//! node can refuse a version it does not speak with a REJECT the other side understands.
//! Integers are big-endian. See `docs/PROTOCOL.md` for the byte-by-byte layout.

use super::DecodeError;

/// The version of the two-round-trip handshake messages (INIT, CHALLENGE, RESPONSE, CONFIRM).
pub const VERSION: u8 = 2;
/// The version of the one-round-trip pair: an INIT that carries the first Noise message to a
/// responder whose static key the initiator knows, and the CONFIRM that answers it. A node of
/// version 2 answers such an INIT with `REJECT(UnsupportedVersion)`.
pub const FAST_VERSION: u8 = 3;
/// The version of the resumed pair: an INIT that presents a resumption ticket the responder
/// issued in an earlier session, and the CONFIRM that answers it. A node of an earlier version
/// answers such an INIT with `REJECT(UnsupportedVersion)`.
pub const RESUME_VERSION: u8 = 4;
/// Largest resumption ticket an INIT of version 4 may carry.
pub const MAX_TICKET_LEN: usize = 256;
/// Length of an X25519 public key as carried in CHALLENGE, RESPONSE and CONFIRM.
pub const KEY_LEN: usize = 32;
/// Length of the initiator's encrypted static key in RESPONSE: 32 bytes and a 16-byte tag.
pub const ENCRYPTED_STATIC_LEN: usize = 48;
/// Most suites an INIT may list.
pub const MAX_SUITES: usize = 8;
/// Largest extension block accepted.
pub const MAX_EXTENSIONS_LEN: usize = 1024;
/// Size of a stateless cookie: creation time (8) and MAC (16).
pub const COOKIE_LEN: usize = 24;

/// Extension type: the sender accepts stream labels in STREAM_OPEN (empty value).
pub const EXT_STREAM_LABELS: u16 = 0x0001;

/// What one side of a session accepts beyond the first version of each frame, as its
/// handshake's extension block says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// STREAM_OPEN may carry a label ([`EXT_STREAM_LABELS`]).
    pub stream_labels: bool,
}

impl Features {
    /// What this implementation accepts.
    pub const ALL: Features = Features { stream_labels: true };

    /// The extension block (without its length) announcing these features.
    pub fn extensions(&self) -> &'static [u8] {
        if self.stream_labels {
            &[0x00, 0x01, 0x00, 0x00]
        } else {
            &[]
        }
    }

    /// The features an extension block announces. Entries of unknown types are skipped; a
    /// block that is not a whole list of entries announces nothing (earlier versions sent it
    /// empty and ignored it).
    pub fn from_extensions(mut ext: &[u8]) -> Features {
        let mut f = Features::default();
        while !ext.is_empty() {
            let [t0, t1, l0, l1, rest @ ..] = ext else { return Features::default() };
            let len = usize::from(u16::from_be_bytes([*l0, *l1]));
            if rest.len() < len {
                return Features::default();
            }
            if u16::from_be_bytes([*t0, *t1]) == EXT_STREAM_LABELS {
                f.stream_labels = true;
            }
            ext = &rest[len..];
        }
        f
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }
    fn err(&self) -> DecodeError {
        DecodeError::BadPayload { what: self.what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(self.err());
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn arr32(&mut self) -> Result<[u8; 32], DecodeError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
    fn version(&mut self, expected: u8) -> Result<u8, DecodeError> {
        let v = self.u8()?;
        if v != expected {
            return Err(DecodeError::UnsupportedVersion(v));
        }
        Ok(v)
    }
    fn extensions(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u16()? as usize;
        if n > MAX_EXTENSIONS_LEN {
            return Err(self.err());
        }
        self.take(n)
    }
    fn encrypted_static(&mut self) -> Result<[u8; ENCRYPTED_STATIC_LEN], DecodeError> {
        let mut a = [0u8; ENCRYPTED_STATIC_LEN];
        a.copy_from_slice(self.take(ENCRYPTED_STATIC_LEN)?);
        Ok(a)
    }
    fn mac(&mut self) -> Result<[u8; 16], DecodeError> {
        let mut a = [0u8; 16];
        a.copy_from_slice(self.take(16)?);
        Ok(a)
    }
    fn suites(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u8()? as usize;
        if n == 0 || n > MAX_SUITES {
            return Err(self.err());
        }
        self.take(n)
    }
    fn cookie(&mut self) -> Result<Cookie, DecodeError> {
        let time = self.u64()?;
        let mut mac = [0u8; 16];
        mac.copy_from_slice(self.take(16)?);
        Ok(Cookie { time, mac })
    }
    fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::BadPayload { what: self.what })
        }
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl<'a> Writer<'a> {
    fn put(&mut self, b: &[u8]) {
        self.out[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn extensions(&mut self, ext: &[u8]) {
        self.put(&(ext.len() as u16).to_be_bytes());
        self.put(ext);
    }
}

/// A stateless cookie: the responder's clock when it made the CHALLENGE, and a MAC binding the
/// cookie to the remote address and the handshake fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie {
    /// Responder's [`crate::Instant`] in nanoseconds when the cookie was made.
    pub time: u64,
    /// MAC under the responder's cookie secret.
    pub mac: [u8; 16],
}

/// INIT payload (initiator → responder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Init<'a> {
    /// Initiator's node id.
    pub node_id: [u8; 32],
    /// Initiator's fresh random nonce.
    pub nonce: [u8; 32],
    /// Suite ids in the initiator's preference order (1 to 8 of them).
    pub suites: &'a [u8],
    /// Extension block (empty in version 2).
    pub extensions: &'a [u8],
}

impl<'a> Init<'a> {
    /// Encoded length.
    pub fn len(&self) -> usize {
        1 + 32 + 32 + 1 + self.suites.len() + 2 + self.extensions.len()
    }
    /// Never empty; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Writes the payload into `out[..self.len()]`.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        let mut w = Writer { out, at: 0 };
        w.put(&[VERSION]);
        w.put(&self.node_id);
        w.put(&self.nonce);
        w.put(&[self.suites.len() as u8]);
        w.put(self.suites);
        w.extensions(self.extensions);
        w.at
    }
    /// Parses an INIT payload.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, "INIT");
        r.version(VERSION)?;
        let node_id = r.arr32()?;
        let nonce = r.arr32()?;
        let suites = r.suites()?;
        let extensions = r.extensions()?;
        r.finish()?;
        Ok(Init { node_id, nonce, suites, extensions })
    }
}

/// CHALLENGE payload (responder → initiator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Challenge<'a> {
    /// Responder's static public key (its node id is derived from it).
    pub static_key: [u8; 32],
    /// The initiator's nonce, echoed.
    pub nonce_i: [u8; 32],
    /// Responder's fresh random nonce.
    pub nonce_r: [u8; 32],
    /// The suite the responder chose.
    pub suite: u8,
    /// The stateless cookie the initiator must return in RESPONSE.
    pub cookie: Cookie,
    /// Extension block (empty in version 2).
    pub extensions: &'a [u8],
}

impl<'a> Challenge<'a> {
    /// Encoded length.
    pub fn len(&self) -> usize {
        1 + 32 * 3 + 1 + COOKIE_LEN + 2 + self.extensions.len()
    }
    /// Never empty; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Writes the payload into `out[..self.len()]`.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        let mut w = Writer { out, at: 0 };
        w.put(&[VERSION]);
        self.encode_body(&mut w);
        w.extensions(self.extensions);
        w.at
    }
    /// Parses a CHALLENGE payload.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, "CHALLENGE");
        r.version(VERSION)?;
        let mut ch = Self::decode_body(&mut r)?;
        ch.extensions = r.extensions()?;
        r.finish()?;
        Ok(ch)
    }
    /// Everything after the version byte but the extensions; RESPONSE repeats it after the
    /// initiator's node id.
    fn encode_body(&self, w: &mut Writer<'_>) {
        w.put(&self.static_key);
        w.put(&self.nonce_i);
        w.put(&self.nonce_r);
        w.put(&[self.suite]);
        w.put(&self.cookie.time.to_be_bytes());
        w.put(&self.cookie.mac);
    }
    fn decode_body(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Challenge {
            static_key: r.arr32()?,
            nonce_i: r.arr32()?,
            nonce_r: r.arr32()?,
            suite: r.u8()?,
            cookie: r.cookie()?,
            extensions: &[],
        })
    }
}

/// RESPONSE payload (initiator → responder): the CHALLENGE's fields and the cookie, so that the
/// responder can check the cookie without having kept any state, then the first Noise message
/// (the initiator's ephemeral key and its encrypted static key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// Initiator's node id.
    pub node_id_i: [u8; 32],
    /// Responder's static public key, from CHALLENGE.
    pub static_r: [u8; 32],
    /// Initiator's nonce.
    pub nonce_i: [u8; 32],
    /// Responder's nonce.
    pub nonce_r: [u8; 32],
    /// The chosen suite.
    pub suite: u8,
    /// The cookie from CHALLENGE.
    pub cookie: Cookie,
    /// Initiator's ephemeral X25519 public key (Noise `e`).
    pub ephemeral: [u8; 32],
    /// Initiator's static public key, encrypted (Noise `s`): 32 bytes and a 16-byte tag.
    pub encrypted_static: [u8; ENCRYPTED_STATIC_LEN],
    /// `MAC16(K_hs, frame up to this field)`: proves the shared seed before the responder does
    /// any Diffie–Hellman.
    pub seed_mac: [u8; 16],
    /// Extension block (empty in version 2).
    pub extensions: &'a [u8],
}

impl<'a> Response<'a> {
    /// Offset of `seed_mac` in the payload.
    pub const SEED_MAC_OFFSET: usize = 1 + 32 + 32 * 3 + 1 + COOKIE_LEN + KEY_LEN + ENCRYPTED_STATIC_LEN;

    /// Encoded length.
    pub fn len(&self) -> usize {
        Self::SEED_MAC_OFFSET + 16 + 2 + self.extensions.len()
    }
    /// Never empty; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// The CHALLENGE this RESPONSE answers, as the initiator echoes it.
    pub fn challenge(&self) -> Challenge<'a> {
        Challenge {
            static_key: self.static_r,
            nonce_i: self.nonce_i,
            nonce_r: self.nonce_r,
            suite: self.suite,
            cookie: self.cookie,
            extensions: &[],
        }
    }
    /// Writes the payload into `out[..self.len()]`.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        let mut w = Writer { out, at: 0 };
        w.put(&[VERSION]);
        w.put(&self.node_id_i);
        self.challenge().encode_body(&mut w);
        w.put(&self.ephemeral);
        w.put(&self.encrypted_static);
        w.put(&self.seed_mac);
        w.extensions(self.extensions);
        w.at
    }
    /// Parses a RESPONSE payload.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, "RESPONSE");
        r.version(VERSION)?;
        let node_id_i = r.arr32()?;
        let ch = Challenge::decode_body(&mut r)?;
        let ephemeral = r.arr32()?;
        let encrypted_static = r.encrypted_static()?;
        let seed_mac = r.mac()?;
        let extensions = r.extensions()?;
        r.finish()?;
        Ok(Response {
            node_id_i,
            static_r: ch.static_key,
            nonce_i: ch.nonce_i,
            nonce_r: ch.nonce_r,
            suite: ch.suite,
            cookie: ch.cookie,
            ephemeral,
            encrypted_static,
            seed_mac,
            extensions,
        })
    }
}

/// CONFIRM payload (responder → initiator): the second Noise message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Confirm<'a> {
    /// Responder's ephemeral X25519 public key (Noise `e`).
    pub ephemeral: [u8; 32],
    /// Extension block (empty in version 2).
    pub extensions: &'a [u8],
}

impl<'a> Confirm<'a> {
    /// Encoded length.
    pub fn len(&self) -> usize {
        1 + KEY_LEN + 2 + self.extensions.len()
    }
    /// Never empty; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Writes the payload into `out[..self.len()]`.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        let mut w = Writer { out, at: 0 };
        w.put(&[VERSION]);
        w.put(&self.ephemeral);
        w.extensions(self.extensions);
        w.at
    }
    /// Parses a CONFIRM payload.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, "CONFIRM");
        r.version(VERSION)?;
        let ephemeral = r.arr32()?;
        let extensions = r.extensions()?;
        r.finish()?;
        Ok(Confirm { ephemeral, extensions })
    }
}

/// INIT of version 3 (initiator → responder), for a responder whose static key the initiator
/// knows: the fields of an INIT, the static key it is meant for, and the first Noise message
/// (`e, es, s, ss, psk`), so that the responder can answer with the second one and the session
/// opens in one round trip. The Noise messages use `suites[0]`; a responder that does not allow
/// it, has another static key or is under load answers CHALLENGE, and the handshake goes on as
/// the two-round-trip one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastInit<'a> {
    /// Initiator's node id.
    pub node_id_i: [u8; 32],
    /// Initiator's fresh random nonce.
    pub nonce_i: [u8; 32],
    /// Suite ids in the initiator's preference order (1 to 8); the first is the one used.
    pub suites: &'a [u8],
    /// The responder's static public key, as the initiator knows it.
    pub static_r: [u8; 32],
    /// Initiator's ephemeral X25519 public key (Noise `e`).
    pub ephemeral: [u8; 32],
    /// Initiator's static public key, encrypted (Noise `s`): 32 bytes and a 16-byte tag.
    pub encrypted_static: [u8; ENCRYPTED_STATIC_LEN],
    /// `MAC16(K_hs, frame up to this field)`: proves the shared seed before the responder does
    /// any Diffie–Hellman.
    pub seed_mac: [u8; 16],
    /// Extension block (empty in version 3).
    pub extensions: &'a [u8],
}

impl<'a> FastInit<'a> {
    /// Offset of `seed_mac` in the payload.
    pub fn seed_mac_offset(&self) -> usize {
        1 + 32 + 32 + 1 + self.suites.len() + KEY_LEN + KEY_LEN + ENCRYPTED_STATIC_LEN
    }
    /// Encoded length.
    pub fn len(&self) -> usize {
        self.seed_mac_offset() + 16 + 2 + self.extensions.len()
    }
    /// Never empty; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Writes the payload into `out[..self.len()]`.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        let mut w = Writer { out, at: 0 };
        w.put(&[FAST_VERSION]);
        w.put(&self.node_id_i);
        w.put(&self.nonce_i);
        w.put(&[self.suites.len() as u8]);
        w.put(self.suites);
        w.put(&self.static_r);
        w.put(&self.ephemeral);
        w.put(&self.encrypted_static);
        w.put(&self.seed_mac);
        w.extensions(self.extensions);
        w.at
    }
    /// Parses an INIT payload of version 3.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, "INIT");
        r.version(FAST_VERSION)?;
        let fast = FastInit {
            node_id_i: r.arr32()?,
            nonce_i: r.arr32()?,
            suites: r.suites()?,
            static_r: r.arr32()?,
            ephemeral: r.arr32()?,
            encrypted_static: r.encrypted_static()?,
            seed_mac: r.mac()?,
            extensions: r.extensions()?,
        };
        r.finish()?;
        Ok(fast)
    }
    /// The INIT of version 2 with the same node id, nonce and suites (what the responder
    /// answers with CHALLENGE when it does not take the one-round-trip path).
    pub fn as_init(&self) -> Init<'a> {
        Init { node_id: self.node_id_i, nonce: self.nonce_i, suites: self.suites, extensions: &[] }
    }
}

/// CONFIRM of version 3 (responder → initiator): the answer to a [`FastInit`], with the
/// responder's nonce (the session id needs it) and the second Noise message (`e, ee, se`). Its
/// header carries the handshake tag, as CHALLENGE does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastConfirm<'a> {
    /// [`FAST_VERSION`], or [`RESUME_VERSION`] for the answer to a [`ResumeInit`].
    pub version: u8,
    /// Responder's nonce.
    pub nonce_r: [u8; 32],
    /// Responder's ephemeral X25519 public key (Noise `e`).
    pub ephemeral: [u8; 32],
    /// Extension block (empty in version 3).
    pub extensions: &'a [u8],
}

impl<'a> FastConfirm<'a> {
    /// Encoded length.
    pub fn len(&self) -> usize {
        1 + 32 + KEY_LEN + 2 + self.extensions.len()
    }
    /// Never empty; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Writes the payload into `out[..self.len()]`.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        let mut w = Writer { out, at: 0 };
        w.put(&[self.version]);
        w.put(&self.nonce_r);
        w.put(&self.ephemeral);
        w.extensions(self.extensions);
        w.at
    }
    /// Parses a CONFIRM payload of version 3 or 4.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, "CONFIRM");
        let version = r.u8()?;
        if version != FAST_VERSION && version != RESUME_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let c = FastConfirm { version, nonce_r: r.arr32()?, ephemeral: r.arr32()?, extensions: r.extensions()? };
        r.finish()?;
        Ok(c)
    }
}

/// INIT of version 4 (initiator → responder): resumes with a responder that issued this node a
/// ticket in an earlier session. The first message of the resumed Noise pattern (`psk, e`, the
/// ticket's secret and the shared seed's psk as the pre-shared keys) goes with it; the responder
/// answers with a [`FastConfirm`] of version 4 (`e, ee`). A responder that cannot use the ticket
/// (another node's, expired, used, altered), does not resume or is under load answers CHALLENGE,
/// and the handshake goes on as the two-round-trip one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumeInit<'a> {
    /// Initiator's node id.
    pub node_id_i: [u8; 32],
    /// Initiator's fresh random nonce.
    pub nonce_i: [u8; 32],
    /// Suite ids in the initiator's preference order (1 to 8); the first is the one used.
    pub suites: &'a [u8],
    /// Initiator's ephemeral X25519 public key (Noise `e`).
    pub ephemeral: [u8; 32],
    /// The ticket, as the responder issued it (opaque to the initiator; 1 to
    /// [`MAX_TICKET_LEN`] bytes).
    pub ticket: &'a [u8],
    /// `MAC16(K_hs, frame up to this field)`: proves the shared seed before the responder opens
    /// the ticket.
    pub seed_mac: [u8; 16],
    /// Extension block.
    pub extensions: &'a [u8],
}

impl<'a> ResumeInit<'a> {
    /// Offset of `seed_mac` in the payload.
    pub fn seed_mac_offset(&self) -> usize {
        1 + 32 + 32 + 1 + self.suites.len() + KEY_LEN + 2 + self.ticket.len()
    }
    /// Encoded length.
    pub fn len(&self) -> usize {
        self.seed_mac_offset() + 16 + 2 + self.extensions.len()
    }
    /// Never empty; present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Writes the payload into `out[..self.len()]`.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        let mut w = Writer { out, at: 0 };
        w.put(&[RESUME_VERSION]);
        w.put(&self.node_id_i);
        w.put(&self.nonce_i);
        w.put(&[self.suites.len() as u8]);
        w.put(self.suites);
        w.put(&self.ephemeral);
        w.put(&(self.ticket.len() as u16).to_be_bytes());
        w.put(self.ticket);
        w.put(&self.seed_mac);
        w.extensions(self.extensions);
        w.at
    }
    /// Parses an INIT payload of version 4.
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, "INIT");
        r.version(RESUME_VERSION)?;
        let (node_id_i, nonce_i, suites, ephemeral) = (r.arr32()?, r.arr32()?, r.suites()?, r.arr32()?);
        let ticket_len = usize::from(r.u16()?);
        if ticket_len == 0 || ticket_len > MAX_TICKET_LEN {
            return Err(r.err());
        }
        let ticket = r.take(ticket_len)?;
        let resume = ResumeInit {
            node_id_i,
            nonce_i,
            suites,
            ephemeral,
            ticket,
            seed_mac: r.mac()?,
            extensions: r.extensions()?,
        };
        r.finish()?;
        Ok(resume)
    }
    /// The INIT of version 2 with the same node id, nonce and suites (what the responder
    /// answers with CHALLENGE when it does not resume).
    pub fn as_init(&self) -> Init<'a> {
        Init { node_id: self.node_id_i, nonce: self.nonce_i, suites: self.suites, extensions: &[] }
    }
}

/// The start every version's INIT shares: version, initiator's node id and nonce. Lets a
/// responder answer an INIT of a version it does not speak with
/// `REJECT(UnsupportedVersion)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitPrefix {
    /// The INIT's version byte.
    pub version: u8,
    /// Initiator's node id.
    pub node_id: [u8; 32],
    /// Initiator's nonce.
    pub nonce: [u8; 32],
}

impl InitPrefix {
    /// Reads the prefix of an INIT payload of any version.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, "INIT");
        Ok(InitPrefix { version: r.u8()?, node_id: r.arr32()?, nonce: r.arr32()? })
    }
}

/// Why a responder refused an INIT, as carried in REJECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The INIT's MAC did not verify: the nodes do not hold the same shared seed. (1)
    AuthenticationFailed,
    /// No suite in the INIT is allowed by the responder. (2)
    SuiteMismatch,
    /// The responder has no seed for, or does not allow, the initiator's node id. (3)
    PeerNotAllowed,
    /// The responder does not accept incoming sessions. (4)
    ServerModeOff,
    /// The responder does not speak the INIT's protocol version. (5)
    UnsupportedVersion,
}

impl RejectReason {
    /// Wire code.
    pub const fn code(self) -> u8 {
        match self {
            RejectReason::AuthenticationFailed => 1,
            RejectReason::SuiteMismatch => 2,
            RejectReason::PeerNotAllowed => 3,
            RejectReason::ServerModeOff => 4,
            RejectReason::UnsupportedVersion => 5,
        }
    }
    /// Reason for a wire code.
    pub const fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(RejectReason::AuthenticationFailed),
            2 => Some(RejectReason::SuiteMismatch),
            3 => Some(RejectReason::PeerNotAllowed),
            4 => Some(RejectReason::ServerModeOff),
            5 => Some(RejectReason::UnsupportedVersion),
            _ => None,
        }
    }
}

/// REJECT payload (responder → initiator). Not MACed (the responder may not share a key with the
/// initiator); it is bound to the handshake by echoing the initiator's 32-byte random nonce, which
/// an off-path attacker cannot guess. Its layout is the same in every version: the version byte
/// is the sender's, and a REJECT of any version is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reject {
    /// The sender's protocol version.
    pub version: u8,
    /// The initiator's nonce, echoed.
    pub nonce_i: [u8; 32],
    /// Why.
    pub reason: RejectReason,
}

impl Reject {
    /// Encoded length.
    pub const LEN: usize = 1 + 32 + 1;
    /// Writes the payload into `out[..Self::LEN]`.
    pub fn encode(&self, out: &mut [u8]) -> usize {
        let mut w = Writer { out, at: 0 };
        w.put(&[self.version]);
        w.put(&self.nonce_i);
        w.put(&[self.reason.code()]);
        w.at
    }
    /// Parses a REJECT payload.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, "REJECT");
        let version = r.u8()?;
        let nonce_i = r.arr32()?;
        let reason = RejectReason::from_code(r.u8()?).ok_or(DecodeError::BadPayload { what: "REJECT" })?;
        r.finish()?;
        Ok(Reject { version, nonce_i, reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_roundtrip() {
        let mut buf = [0u8; 512];
        let init = Init { node_id: [1; 32], nonce: [2; 32], suites: &[1, 2], extensions: &[] };
        let n = init.encode(&mut buf);
        assert_eq!(n, init.len());
        assert_eq!(Init::decode(&buf[..n]).unwrap(), init);
        assert!(Init::decode(&buf[..n - 1]).is_err());

        let cookie = Cookie { time: 5, mac: [3; 16] };
        let ch =
            Challenge { static_key: [4; 32], nonce_i: [2; 32], nonce_r: [5; 32], suite: 1, cookie, extensions: &[9] };
        let n = ch.encode(&mut buf);
        assert_eq!(n, ch.len());
        assert_eq!(Challenge::decode(&buf[..n]).unwrap(), ch);

        let resp = Response {
            node_id_i: [1; 32],
            static_r: [4; 32],
            nonce_i: [2; 32],
            nonce_r: [5; 32],
            suite: 1,
            cookie,
            ephemeral: [6; 32],
            encrypted_static: [7; 48],
            seed_mac: [9; 16],
            extensions: &[],
        };
        let n = resp.encode(&mut buf);
        assert_eq!(n, resp.len());
        assert_eq!(Response::decode(&buf[..n]).unwrap(), resp);

        let c = Confirm { ephemeral: [8; 32], extensions: &[] };
        let n = c.encode(&mut buf);
        assert_eq!(Confirm::decode(&buf[..n]).unwrap(), c);

        let fast = FastInit {
            node_id_i: [1; 32],
            nonce_i: [2; 32],
            suites: &[2, 1],
            static_r: [4; 32],
            ephemeral: [6; 32],
            encrypted_static: [7; 48],
            seed_mac: [9; 16],
            extensions: &[5],
        };
        let n = fast.encode(&mut buf);
        assert_eq!(n, fast.len());
        assert_eq!(FastInit::decode(&buf[..n]).unwrap(), fast);
        assert_eq!(&buf[fast.seed_mac_offset()..fast.seed_mac_offset() + 16], &[9; 16]);
        assert_eq!(InitPrefix::decode(&buf[..n]).unwrap().version, FAST_VERSION);
        assert!(FastInit::decode(&buf[..n - 1]).is_err());
        assert_eq!(Init::decode(&buf[..n]), Err(DecodeError::UnsupportedVersion(FAST_VERSION)));

        let fc = FastConfirm { version: FAST_VERSION, nonce_r: [3; 32], ephemeral: [8; 32], extensions: &[] };
        let n = fc.encode(&mut buf);
        assert_eq!(n, fc.len());
        assert_eq!(FastConfirm::decode(&buf[..n]).unwrap(), fc);
        assert_eq!(Confirm::decode(&buf[..n]), Err(DecodeError::UnsupportedVersion(FAST_VERSION)));
        let fc = FastConfirm { version: RESUME_VERSION, ..fc };
        let n = fc.encode(&mut buf);
        assert_eq!(FastConfirm::decode(&buf[..n]).unwrap(), fc);

        let resume = ResumeInit {
            node_id_i: [1; 32],
            nonce_i: [2; 32],
            suites: &[2],
            ephemeral: [6; 32],
            ticket: &[7; 96],
            seed_mac: [9; 16],
            extensions: &[5],
        };
        let n = resume.encode(&mut buf);
        assert_eq!(n, resume.len());
        assert_eq!(ResumeInit::decode(&buf[..n]).unwrap(), resume);
        assert_eq!(&buf[resume.seed_mac_offset()..resume.seed_mac_offset() + 16], &[9; 16]);
        assert_eq!(InitPrefix::decode(&buf[..n]).unwrap().version, RESUME_VERSION);
        assert!(ResumeInit::decode(&buf[..n - 1]).is_err());
        assert!(FastInit::decode(&buf[..n]).is_err());
        let empty = ResumeInit { ticket: &[], ..resume };
        let n = empty.encode(&mut buf);
        assert!(ResumeInit::decode(&buf[..n]).is_err(), "an empty ticket is malformed");

        let rj = Reject { version: VERSION, nonce_i: [7; 32], reason: RejectReason::ServerModeOff };
        let n = rj.encode(&mut buf);
        assert_eq!(n, Reject::LEN);
        assert_eq!(Reject::decode(&buf[..n]).unwrap(), rj);
    }

    #[test]
    fn bad_payloads_are_typed_errors() {
        let mut buf = [0u8; 512];
        let init = Init { node_id: [1; 32], nonce: [2; 32], suites: &[1], extensions: &[] };
        let n = init.encode(&mut buf);
        buf[0] = 1;
        assert_eq!(Init::decode(&buf[..n]), Err(DecodeError::UnsupportedVersion(1)));
        assert_eq!(InitPrefix::decode(&buf[..n]).unwrap().nonce, [2; 32]);
        buf[0] = VERSION;
        buf[65] = 0; // zero suites
        assert!(matches!(Init::decode(&buf[..n]), Err(DecodeError::BadPayload { .. })));
        assert!(Reject::decode(&[VERSION]).is_err());
    }
}
