//! The segment decoder fed real, altered and arbitrary segments.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stt_tests::fuzzing::segment_decode(data));
