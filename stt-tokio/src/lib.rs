//! # stt-tokio: the tokio driver for STT
//!
//! This crate will own the UDP and WebSocket sockets, the timers and the async
//! `Node` / `Session` / `Stream` API over the sans-IO core in [`stt_proto`], and ship the `stt`
//! command-line tool. It is not implemented yet: today it only re-exports the core so that
//! dependants can name one crate. Until it lands, drive [`stt_proto::Endpoint`] directly (see the
//! run loop in its crate docs, and `tests/examples/loopback.rs` for a blocking UDP driver).

#![forbid(unsafe_code)]

pub use stt_proto;
