//! The segment encoder and decoder, through their public API.

use proptest::prelude::*;
use stt_proto::segment::{SegmentDecoder, SegmentEncoder, SegmentError, SegmentKey, DEFAULT_SEGMENT_PAYLOAD};

const SECRET: &[u8] = b"a secret both ends hold, 32 byte";

fn key(stream: u32) -> SegmentKey {
    SegmentKey::derive(SECRET, 77, stream)
}

fn data(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2654435761) >> 9) as u8).collect()
}

fn encode_bounded(bytes: &[u8], size: usize) -> Vec<bytes::Bytes> {
    let mut enc = SegmentEncoder::bounded(key(1), 1, size, bytes.len() as u64).unwrap();
    let mut segments = enc.push(bytes).unwrap();
    segments.extend(enc.end().unwrap());
    segments
}

fn drain(dec: &mut SegmentDecoder) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = dec.read() {
        out.extend_from_slice(&b);
    }
    out
}

#[test]
fn fifty_thousand_bytes_make_four_segments_and_an_end_and_decode_in_reverse() {
    let bytes = data(50_000);
    let segments = encode_bounded(&bytes, 16_384);
    assert_eq!(segments.len(), 5, "4 data segments and the end marker");
    assert_eq!(segments[0].len(), 16_384 + 29);
    assert_eq!(segments[3].len(), 50_000 - 3 * 16_384 + 29);
    let mut dec = SegmentDecoder::new(key(1), 1, 1 << 20);
    for s in segments.iter().rev() {
        dec.push(s).unwrap();
        assert!(!dec.is_finished() || dec.buffered() == 0);
    }
    assert_eq!(drain(&mut dec), bytes);
    assert!(dec.is_finished());
}

#[test]
fn foreign_altered_and_duplicate_segments_are_rejected_with_typed_errors() {
    let segments = encode_bounded(&data(5_000), 1_000);
    // Another stream's key, same stream id in the header: authentication fails.
    let mut other_key = SegmentDecoder::new(key(2), 1, 1 << 20);
    assert_eq!(other_key.push(&segments[0]), Err(SegmentError::Authentication));
    // A decoder for another stream id refuses the header before decrypting.
    let mut other_stream = SegmentDecoder::new(key(1), 9, 1 << 20);
    assert_eq!(other_stream.push(&segments[0]), Err(SegmentError::ForeignStream { expected: 9, got: 1 }));
    let mut dec = SegmentDecoder::new(key(1), 1, 1 << 20);
    let mut altered = segments[1].to_vec();
    altered[20] ^= 1;
    assert_eq!(dec.push(&altered), Err(SegmentError::Authentication));
    assert_eq!(dec.push(&segments[1][..10]), Err(SegmentError::Malformed));
    dec.push(&segments[1]).unwrap();
    assert_eq!(dec.push(&segments[1]), Err(SegmentError::Duplicate(1)));
    dec.push(&segments[0]).unwrap();
    assert_eq!(dec.push(&segments[0]), Err(SegmentError::Duplicate(0)), "also after it was delivered");
}

#[test]
fn live_mode_has_no_end_marker() {
    let mut enc = SegmentEncoder::live(key(3), 3, DEFAULT_SEGMENT_PAYLOAD).unwrap();
    let mut segments = enc.push(&data(3_000)).unwrap();
    assert_eq!(segments.len(), 2);
    segments.extend(enc.flush().unwrap());
    assert_eq!(enc.end(), Err(SegmentError::LiveHasNoEnd));
    // A receiver that lost segment 1 skips it and goes on.
    let mut dec = SegmentDecoder::new(key(3), 3, 1 << 20);
    dec.push(&segments[0]).unwrap();
    dec.push(&segments[2]).unwrap();
    assert_eq!(drain(&mut dec).len(), DEFAULT_SEGMENT_PAYLOAD);
    assert_eq!(dec.skip_gap(), 1);
    assert_eq!(drain(&mut dec).len(), 3_000 - 2 * DEFAULT_SEGMENT_PAYLOAD);
    assert!(!dec.is_finished());
}

#[test]
fn buffering_past_the_bound_is_an_error_not_growth() {
    let segments = encode_bounded(&data(10_000), 1_000);
    // Room for three 1,000-byte segments and their bookkeeping.
    let limit = 3 * (1_000 + stt_proto::segment::SEGMENT_HOLD_COST);
    let mut dec = SegmentDecoder::new(key(1), 1, limit);
    for s in &segments[1..4] {
        dec.push(s).unwrap();
    }
    assert_eq!(dec.push(&segments[4]), Err(SegmentError::BufferFull { limit }));
    assert_eq!(dec.buffered(), limit);
    // The segment that fills the gap is still accepted (a full decoder must not get stuck),
    // and nothing accepted is lost.
    dec.push(&segments[0]).unwrap();
    assert_eq!(drain(&mut dec), data(4_000));
    let mut rest = Vec::new();
    for s in &segments[4..] {
        dec.push(s).unwrap();
        rest.extend(drain(&mut dec));
    }
    assert_eq!(rest, data(10_000)[4_000..]);
    assert!(dec.is_finished());
}

#[test]
fn a_bounded_encoder_holds_to_its_declared_length() {
    let mut enc = SegmentEncoder::bounded(key(1), 1, 100, 10).unwrap();
    assert!(matches!(enc.push(&[0; 11]), Err(SegmentError::LengthMismatch { declared: 10, given: 11 })));
    enc.push(&[0; 4]).unwrap();
    assert!(matches!(enc.end(), Err(SegmentError::LengthMismatch { declared: 10, given: 4 })));
    assert!(matches!(SegmentEncoder::live(key(1), 1, 0), Err(SegmentError::ZeroSegmentSize)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_permutation_with_duplicates_decodes_to_the_original(
        len in 0usize..20_000,
        size in 1usize..3_000,
        order in proptest::collection::vec(any::<u32>(), 0..64),
        dups in proptest::collection::vec(any::<u16>(), 0..16),
    ) {
        let bytes = data(len);
        let segments = encode_bounded(&bytes, size);
        let mut feed: Vec<usize> = (0..segments.len()).collect();
        for (i, r) in order.iter().enumerate() {
            let n = feed.len();
            feed.swap(i % n, *r as usize % n);
        }
        for d in &dups {
            let pick = feed[*d as usize % feed.len()];
            feed.insert(*d as usize % (feed.len() + 1), pick);
        }
        let mut dec = SegmentDecoder::new(key(1), 1, usize::MAX);
        let mut out = Vec::new();
        for i in feed {
            match dec.push(&segments[i]) {
                Ok(()) | Err(SegmentError::Duplicate(_)) => {}
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
            out.extend(drain(&mut dec));
        }
        prop_assert_eq!(out, bytes);
        prop_assert!(dec.is_finished());
    }
}

#[test]
fn a_flood_of_tiny_segments_behind_a_gap_is_bounded_by_count_as_well_as_bytes() {
    // One-byte segments, the first withheld: before, 1,000,000 of them fitted a 1 MiB bound (one
    // byte each) while their bookkeeping took tens of megabytes.
    let bytes = data(200_000);
    let segments = encode_bounded(&bytes, 1);
    let mut dec = SegmentDecoder::new(key(1), 1, 1 << 20);
    let mut accepted = 0;
    for s in &segments[1..segments.len() - 1] {
        match dec.push(s) {
            Ok(()) => accepted += 1,
            Err(SegmentError::BufferFull { .. }) => break,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let per_segment = 1 + stt_proto::segment::SEGMENT_HOLD_COST;
    assert_eq!(accepted, (1 << 20) / per_segment, "the bound counts each held segment's cost");
    assert!(dec.buffered() <= 1 << 20);
    // The withheld first segment still unblocks the decoder.
    dec.push(&segments[0]).unwrap();
    assert_eq!(drain(&mut dec).len(), accepted + 1);
}

#[test]
fn an_encoder_keeps_to_its_credit_and_a_refused_push_takes_nothing() {
    let mut dec = SegmentDecoder::new(key(4), 4, 3 * (100 + 64));
    assert_eq!(dec.credit(100), 3, "three 100-byte segments fit 492 bytes with their hold cost");
    let mut enc = SegmentEncoder::live(key(4), 4, 100).unwrap().with_credit(dec.credit(100));
    assert_eq!(enc.writable(), 300);
    assert_eq!(enc.push(&data(301)), Err(SegmentError::NoCredit { writable: 300 }));
    let segments = enc.push(&data(250)).unwrap();
    assert_eq!((segments.len(), enc.writable()), (2, 50), "half of the third segment is pending");
    enc.grant(2);
    assert_eq!(enc.writable(), 50, "a lower grant changes nothing");
    for s in &segments {
        dec.push(s).unwrap();
    }
    assert_eq!(dec.credit(100), 3, "nothing read yet: the third segment is still the last that fits");
    dec.read().unwrap();
    enc.grant(dec.credit(100));
    assert_eq!(enc.writable(), 150);
    // A decoder too small for one segment still grants the next one while nothing waits to be
    // read, so flow control never deadlocks.
    let tiny = SegmentDecoder::new(key(4), 4, 10);
    assert_eq!(tiny.credit(100), 1);
}
