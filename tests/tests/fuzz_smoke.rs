//! Runs the fuzz target bodies on seeded random input, so normal test runs exercise them.

use stt_tests::fuzzing::{
    blob_decode, endpoint_datagrams, frame_decode, segment_decode, session_frames, stream_reassembly, transfer_header,
    websocket_messages,
};
use stt_tests::sim::TestRng;

fn random_bytes(rng: &mut TestRng, max: usize) -> Vec<u8> {
    let len = (rng.next_u64() as usize) % max;
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn frame_decode_survives_random_input() {
    let mut rng = TestRng::new(1);
    for _ in 0..20_000 {
        let mut b = random_bytes(&mut rng, 300);
        if b.len() > 3 && rng.chance(0.5) {
            b[..2].copy_from_slice(b"ST");
            b[2] = [0x01, 0x02, 0x03, 0x04, 0x14, 0x15, 0x16, 0x80][(rng.next_u64() % 8) as usize];
        }
        frame_decode(&b);
    }
}

#[test]
fn endpoint_survives_random_operation_sequences() {
    let mut rng = TestRng::new(2);
    for _ in 0..300 {
        endpoint_datagrams(&random_bytes(&mut rng, 4000));
    }
}

#[test]
fn a_session_survives_random_frames_inside_the_encryption() {
    let mut rng = TestRng::new(6);
    for _ in 0..300 {
        session_frames(&random_bytes(&mut rng, 4000));
    }
}

#[test]
fn the_transfer_reader_survives_random_input() {
    let mut rng = TestRng::new(7);
    for _ in 0..2_000 {
        let mut b = random_bytes(&mut rng, 600);
        if b.len() > 4 && rng.chance(0.5) {
            b[1] = stt_cli::transfer::VERSION; // a valid version byte, so the name is read
            b[2] = 0;
        }
        transfer_header(&b);
    }
}

/// Cut resumable transfers into a directory where links were planted: at the announced name, in
/// place of the private directory, and in place of the partial file the first read kept.
#[test]
fn the_transfer_reader_writes_nothing_through_planted_links() {
    let mut rng = TestRng::new(9);
    for round in 0..64u8 {
        // mode: into a directory (4), with links at the name (8), the private directory (16,
        // every fourth round), symbolic (32) or hard links in place of the partial file.
        let mut mode = 4 | 8 | (round & 32);
        if round % 4 == 3 {
            mode |= 16;
        }
        let name: &[u8] = if round % 2 == 0 { b"a.bin" } else { b"d/a.bin" };
        let mut b = vec![mode, stt_cli::transfer::RESUMABLE, 0, name.len() as u8];
        b.extend_from_slice(name);
        b.extend_from_slice(&4096u64.to_be_bytes());
        b.extend_from_slice(&[round; 32]); // the resume key
        b.extend_from_slice(&0u64.to_be_bytes()); // start from the beginning
                                                  // Some data, cut before its end.
        let data = random_bytes(&mut rng, 2000);
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(&data);
        transfer_header(&b);
    }
}

#[test]
fn the_websocket_message_path_survives_random_input() {
    let mut rng = TestRng::new(8);
    for _ in 0..200 {
        websocket_messages(&random_bytes(&mut rng, 3000));
    }
}

#[test]
fn stream_reassembly_survives_random_segments() {
    let mut rng = TestRng::new(3);
    for _ in 0..2_000 {
        stream_reassembly(&random_bytes(&mut rng, 3000));
    }
}

#[test]
fn segment_decoder_survives_random_operations() {
    let mut rng = TestRng::new(4);
    for _ in 0..2_000 {
        segment_decode(&random_bytes(&mut rng, 3000));
    }
}

#[test]
fn blob_decoding_survives_random_input() {
    let mut rng = TestRng::new(5);
    for _ in 0..2_000 {
        blob_decode(&random_bytes(&mut rng, 2000));
    }
}

#[test]
fn every_named_regression_input_replays_without_a_panic() {
    // fuzz/regressions/<target>/<what it once broke>.bin: inputs that crashed a target once.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    type Target = fn(&[u8]);
    let targets: [(&str, Target); 8] = [
        ("frame_decode", frame_decode),
        ("endpoint_datagrams", endpoint_datagrams),
        ("session_frames", session_frames),
        ("transfer_header", transfer_header),
        ("websocket_messages", websocket_messages),
        ("stream_reassembly", stream_reassembly),
        ("segment_decode", segment_decode),
        ("blob_decode", blob_decode),
    ];
    let mut replayed = 0;
    for (name, target) in targets {
        let Ok(dir) = std::fs::read_dir(root.join(name)) else { continue };
        for entry in dir {
            let input = std::fs::read(entry.unwrap().path()).unwrap();
            target(&input);
            replayed += 1;
        }
    }
    assert!(replayed >= 1, "the regression inputs are found (fuzz/regressions)");
}
