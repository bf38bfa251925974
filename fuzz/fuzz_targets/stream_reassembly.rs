//! A stream's receive half fed arbitrary segments, clock jumps and reads.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stt_tests::fuzzing::stream_reassembly(data));
