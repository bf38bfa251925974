//! # stt-cli: the `stt` tool and the protocols it speaks
//!
//! The `stt` command-line tool (`keygen | listen | send | cat | ping | bench | serve-store |
//! fetch | decrypt`, described in `docs/CLI.md`) and, as a library for applications that want
//! the same behaviour, what it is built from on top of the tokio driver [`stt_tokio`]:
//!
//! - [`transfer`]: the verified file-transfer protocol (files, resumable files, directories and
//!   their manifests);
//! - [`fetch`]: fetching a blob from a peer's content-addressed store, and serving one;
//! - [`storage`]: the content-addressed store's filesystem backend.
//!
//! The driver itself depends on none of this package's dependencies (clap, indicatif, serde,
//! toml, pcap-file, tracing-subscriber).

#![warn(unreachable_pub)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod fetch;
pub mod storage;
pub mod transfer;
pub mod web;

// 32 bytes from the operating system's random source (names of temporary files).
use stt_tokio::random_bytes;
