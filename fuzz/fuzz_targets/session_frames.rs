//! An established session driven with frames sealed under its keys: every frame authenticates
//! and reaches the handlers inside the encryption.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stt_tests::fuzzing::session_frames(data));
