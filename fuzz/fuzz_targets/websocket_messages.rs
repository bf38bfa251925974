//! Bytes a WebSocket client sends, read with the tokio driver's limits and handed to an endpoint.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| stt_tests::fuzzing::websocket_messages(data));
