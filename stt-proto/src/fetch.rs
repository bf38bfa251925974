//! The bytes of a remote fetch (`docs/PROTOCOL.md` section 12): the request a fetcher writes on a
//! reliable stream it opens, and [`FetchReply`], which reads the answer, sans-IO, so that every
//! driver's fetcher and the `stt` tool's server speak it from one place. The fetcher checks what
//! arrives against the address: a peer that serves wrong bytes is caught, not believed.
//!
//! ```text
//! fetcher: "STF1" || address (32) || FIN
//! server:  status (1) || ...  || FIN
//!          0 found:      length (8, big-endian) || content
//!          1 not found:  nothing
//!          2 refused:    UTF-8 message (the server's copy is damaged, or its store failed)
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use crate::storage::Address;

/// First bytes of a fetch request.
pub const MAGIC: &[u8; 4] = b"STF1";
/// Length of a request: the magic and the address.
pub const REQUEST_LEN: usize = 36;
/// Reply status: the content follows.
pub const FOUND: u8 = 0;
/// Reply status: the server does not hold the address.
pub const NOT_FOUND: u8 = 1;
/// Reply status: the server refuses; a message follows.
pub const REFUSED: u8 = 2;
/// Longest refusal message a fetcher keeps; the rest is read and dropped.
pub const MAX_REFUSAL_MESSAGE: usize = 4096;
/// What a fetcher reserves before content arrives, at most (it grows as bytes arrive, never
/// from the peer's claim).
const FIRST_RESERVE: u64 = 1 << 20;

/// The request for `address`: write it on a new reliable stream, then finish the stream.
pub fn request(address: &Address) -> [u8; REQUEST_LEN] {
    let mut r = [0u8; REQUEST_LEN];
    r[..4].copy_from_slice(MAGIC);
    r[4..].copy_from_slice(&address.0);
    r
}

/// Why a fetch did not give the content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchFailure {
    /// The peer does not hold the address.
    #[error("the peer does not hold {0}")]
    NotFound(Address),
    /// What the peer sent does not hash to the address (or is not as long as it said): the peer
    /// is lying or its copy is damaged. Nothing it sent is returned.
    #[error("the peer served bytes that do not match {0}; not accepted")]
    Integrity(Address),
    /// The content is larger than the fetcher's limit; read nothing more (reset the stream).
    #[error("the content is {len} bytes, over the {max}-byte limit of this fetch")]
    TooLarge {
        /// Length the peer announced.
        len: u64,
        /// The fetcher's limit.
        max: u64,
    },
    /// The peer refused (its copy is damaged, or its store failed); its message says why.
    #[error("the peer refused: {0}")]
    Refused(String),
    /// The peer answered something this protocol does not define.
    #[error("malformed fetch reply: {0}")]
    Protocol(&'static str),
}

#[derive(Debug)]
enum State {
    Status,
    Length { have: [u8; 8], got: usize },
    Content { len: u64 },
    Refusal,
    Failed,
}

/// Reads a fetch reply as its bytes arrive, in order: [`FetchReply::push`] each piece the
/// stream gives, [`FetchReply::finish`] at its end.
#[derive(Debug)]
pub struct FetchReply {
    address: Address,
    max_len: u64,
    state: State,
    /// The content, or the refusal message.
    bytes: Vec<u8>,
}

impl FetchReply {
    /// A reader for the reply to a request for `address`; content longer than `max_len` is
    /// refused unread.
    pub fn new(address: Address, max_len: u64) -> FetchReply {
        FetchReply { address, max_len, state: State::Status, bytes: Vec::new() }
    }

    /// Takes the next bytes of the reply. An error ends the fetch: stop reading (and for
    /// [`FetchFailure::TooLarge`], reset the stream so the peer stops sending).
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<(), FetchFailure> {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Status => {
                    let status = bytes[0];
                    bytes = &bytes[1..];
                    self.state = match status {
                        FOUND => State::Length { have: [0; 8], got: 0 },
                        NOT_FOUND => return self.fail(FetchFailure::NotFound(self.address)),
                        REFUSED => State::Refusal,
                        _ => return self.fail(FetchFailure::Protocol("unknown status")),
                    };
                }
                State::Length { have, got } => {
                    let take = (8 - *got).min(bytes.len());
                    have[*got..*got + take].copy_from_slice(&bytes[..take]);
                    *got += take;
                    bytes = &bytes[take..];
                    if *got == 8 {
                        let len = u64::from_be_bytes(*have);
                        if len > self.max_len {
                            return self.fail(FetchFailure::TooLarge { len, max: self.max_len });
                        }
                        self.bytes.reserve(len.min(FIRST_RESERVE) as usize);
                        self.state = State::Content { len };
                    }
                }
                State::Content { len } => {
                    if self.bytes.len() as u64 + bytes.len() as u64 > *len {
                        // More than announced.
                        return self.fail(FetchFailure::Integrity(self.address));
                    }
                    self.bytes.extend_from_slice(bytes);
                    bytes = &[];
                }
                State::Refusal => {
                    let room = MAX_REFUSAL_MESSAGE - self.bytes.len();
                    self.bytes.extend_from_slice(&bytes[..room.min(bytes.len())]);
                    bytes = &[];
                }
                State::Failed => return Err(FetchFailure::Protocol("the fetch already failed")),
            }
        }
        Ok(())
    }

    /// True when nothing more of the reply matters (a refusal message as long as a fetcher
    /// keeps): call [`FetchReply::finish`] without waiting for the stream's end.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Refusal) && self.bytes.len() == MAX_REFUSAL_MESSAGE
    }

    fn fail(&mut self, failure: FetchFailure) -> Result<(), FetchFailure> {
        self.state = State::Failed;
        self.bytes = Vec::new();
        Err(failure)
    }

    /// The reply ended: the content, if it is as long as announced and hashes to the address.
    pub fn finish(self) -> Result<Vec<u8>, FetchFailure> {
        match self.state {
            State::Status => Err(FetchFailure::Protocol("no status")),
            State::Length { .. } => Err(FetchFailure::Protocol("no length")),
            State::Content { len } if self.bytes.len() as u64 == len && Address::of(&self.bytes) == self.address => {
                Ok(self.bytes)
            }
            State::Content { .. } => Err(FetchFailure::Integrity(self.address)),
            State::Refusal => Err(FetchFailure::Refused(String::from_utf8_lossy(&self.bytes).into_owned())),
            State::Failed => Err(FetchFailure::Protocol("the fetch already failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u8, rest: &[u8]) -> Vec<u8> {
        [&[status][..], rest].concat()
    }

    #[test]
    fn a_found_reply_in_any_pieces_gives_the_content_and_a_wrong_one_does_not() {
        let content = b"stored bytes";
        let address = Address::of(content);
        let bytes = reply(FOUND, &[&(content.len() as u64).to_be_bytes()[..], content].concat());
        for cut in 0..bytes.len() {
            let mut r = FetchReply::new(address, 1024);
            r.push(&bytes[..cut]).unwrap();
            r.push(&bytes[cut..]).unwrap();
            assert_eq!(r.finish().unwrap(), content);
        }
        let mut altered = bytes.clone();
        *altered.last_mut().unwrap() ^= 1;
        let mut r = FetchReply::new(address, 1024);
        r.push(&altered).unwrap();
        assert_eq!(r.finish(), Err(FetchFailure::Integrity(address)));
        let mut r = FetchReply::new(address, 1024);
        assert_eq!(r.push(&[&bytes[..], b"!"].concat()), Err(FetchFailure::Integrity(address)), "more than announced");
        let mut r = FetchReply::new(address, 4);
        assert_eq!(r.push(&bytes), Err(FetchFailure::TooLarge { len: 12, max: 4 }));
    }

    #[test]
    fn not_found_refused_and_malformed_replies_are_typed() {
        let address = Address::of(b"x");
        let mut r = FetchReply::new(address, 8);
        assert_eq!(r.push(&[NOT_FOUND]), Err(FetchFailure::NotFound(address)));
        let mut r = FetchReply::new(address, 8);
        r.push(&reply(REFUSED, &[b'x'; MAX_REFUSAL_MESSAGE + 10])).unwrap();
        assert!(r.is_done(), "a full refusal message is all a fetcher reads");
        assert!(matches!(r.finish(), Err(FetchFailure::Refused(m)) if m.len() == MAX_REFUSAL_MESSAGE));
        assert_eq!(FetchReply::new(address, 8).finish(), Err(FetchFailure::Protocol("no status")));
        let mut r = FetchReply::new(address, 8);
        r.push(&[FOUND, 0, 0]).unwrap();
        assert_eq!(r.finish(), Err(FetchFailure::Protocol("no length")));
        let mut r = FetchReply::new(address, 8);
        assert_eq!(r.push(&[9]), Err(FetchFailure::Protocol("unknown status")));
        assert_eq!(&request(&address)[..4], MAGIC);
    }
}
