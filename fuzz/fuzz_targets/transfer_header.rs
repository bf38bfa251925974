//! The `stt` transfer protocol's receiving side on arbitrary bytes, into a sink and a directory.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stt_tests::fuzzing::transfer_header(data));
