//! Test support for STT: a deterministic network simulator for `stt-proto` endpoints.
//!
//! [`Sim`] runs any number of endpoints on a virtual network with a virtual clock that jumps to
//! the next event. Links have seeded loss, duplication, reordering, corruption and delay with
//! jitter; a tap records every datagram and an interceptor can drop or rewrite chosen ones. The
//! same seed gives the same run byte for byte ([`Sim::wire_hash`]). Every run loop is bounded.
//!
//! [`relay::Relay`] does the same to real UDP sockets: a userspace impairment relay between a
//! client and a server on loopback.

pub mod counting;
pub mod fuzzing;
pub mod mem;
pub mod relay;
pub mod sim;

/// `docs/SEED_MAP.md`, compiled: every example of the map from the seed documents to the API is
/// a doc test of this module.
#[doc = include_str!("../../docs/SEED_MAP.md")]
pub mod seed_map {}

pub use sim::{Bottleneck, BurstLoss, Datagram, Impairment, NodeIdx, Sim, Steering};
