//! # stt-mio: the STT core in a mio event loop
//!
//! Two layers, both single-threaded and non-blocking underneath:
//!
//! - [`Driver`] plugs the sans-IO core ([`stt_proto::Endpoint`]) into a `mio::Poll` **you** run:
//!   it registers its UDP socket with your `Registry` under your `Token`, takes readiness events
//!   ([`Driver::handle_event`]), does the work due ([`Driver::process`]), hands out the core's
//!   events ([`Driver::poll_event`]) and tells you how long to sleep ([`Driver::timeout`]).
//!   Commands go straight to the core through [`Driver::endpoint_mut`].
//! - [`Node`] is a blocking API for programs without a loop of their own: connect, accept, open
//!   and accept streams, write, read, custom frames, flush, close. It owns a `Poll` and a
//!   `Driver` and turns them until a call can answer.
//!
//! UDP only: this driver does not carry WebSocket paths (datagrams the core addresses to a
//! WebSocket remote are counted in [`DriverStats::unroutable`]); use `stt-tokio` for those.
//!
//! ```no_run
//! # fn main() -> Result<(), stt_mio::Error> {
//! use stt_mio::stt_proto::{Seed, StreamMode};
//! use stt_mio::Node;
//!
//! let seed = Seed::new(&[7u8; 32])?;
//! let mut node = Node::bind("127.0.0.1:0".parse().unwrap(), seed)?;
//! let session = node.connect("127.0.0.1:9000".parse().unwrap())?;
//! let stream = node.open_stream(session, StreamMode::Reliable)?;
//! node.write_all(session, stream, b"hello")?;
//! node.finish(session, stream)?;
//! let echoed = node.read_to_end(session, stream)?;
//! assert_eq!(echoed, b"hello");
//! node.flush(session)?;
//! node.close(session, 0, "done");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod driver;
mod error;
mod log;
mod node;

pub use driver::{Driver, DriverStats};
pub use error::Error;
pub use node::{Incoming, Node, NodeStats, RefusedMessages};
pub use stt_proto;

/// 32 bytes from the operating system's random source, for RNG seeds and random identities.
pub fn random_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    getrandom::fill(&mut out).expect("the operating system's random source failed");
    out
}
