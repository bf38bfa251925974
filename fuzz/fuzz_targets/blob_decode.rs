//! Sealed storage blobs opened from arbitrary bytes, and seal/open round trips.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stt_tests::fuzzing::blob_decode(data));
