//! An endpoint pair with an established session, fed arbitrary datagrams, mutations, replays,
//! clock jumps and commands.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stt_tests::fuzzing::endpoint_datagrams(data));
