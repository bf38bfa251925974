//! # stt-mio: the mio driver for STT
//!
//! This crate will wire the sans-IO core in [`stt_proto`] to a `mio::Poll` loop the user already
//! runs. It is not implemented yet: today it only re-exports the core. Until it lands, drive
//! [`stt_proto::Endpoint`] directly (see the run loop in its crate docs).

#![forbid(unsafe_code)]

pub use stt_proto;
