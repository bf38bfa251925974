use super::*;
use alloc::vec;
use alloc::vec::Vec;

fn sample() -> (Header, Vec<u8>) {
    let h = Header {
        frame_type: FrameType(0x85),
        session_id: 0x0102_0304_0506_0708,
        stream_id: 9,
        sequence: 10,
        flags: Flags(Flags::KEY_PHASE),
    };
    let mut out = vec![0u8; frame_len(3)];
    let n = encode_frame(&mut out, &h, b"abc", 77, &[0xEE; 16]).unwrap();
    assert_eq!(n, out.len());
    (h, out)
}

#[test]
fn roundtrip_borrows_payload() {
    let (h, bytes) = sample();
    let (f, n) = decode_frame(&bytes).unwrap();
    assert_eq!(n, bytes.len());
    assert_eq!(f.header, h);
    assert_eq!(f.payload, b"abc");
    assert_eq!(f.packet_number, 77);
    assert_eq!(f.tag, &[0xEE; 16]);
    assert!(core::ptr::eq(f.payload.as_ptr(), bytes[24..].as_ptr()));
}

#[test]
fn several_frames_per_datagram() {
    let (_, one) = sample();
    let mut dg = one.clone();
    dg.extend_from_slice(&one);
    dg.extend_from_slice(&one);
    assert_eq!(frames(&dg).filter(|f| f.is_ok()).count(), 3);
}

#[test]
fn every_malformed_case_is_typed() {
    let (_, good) = sample();
    assert!(matches!(decode_frame(&good[..10]), Err(DecodeError::Truncated { .. })));
    let mut b = good.clone();
    b[0] = b'X';
    assert!(matches!(decode_frame(&b), Err(DecodeError::BadMagic(_))));
    let mut b = good.clone();
    b[2] = 0x30;
    assert_eq!(decode_frame(&b), Err(DecodeError::ReservedFrameType(0x30)));
    let mut b = good.clone();
    b[19] = 0x80;
    assert_eq!(decode_frame(&b), Err(DecodeError::ReservedFlags(0x80)));
    let mut b = good.clone();
    b[20..24].copy_from_slice(&1000u32.to_be_bytes());
    assert!(matches!(decode_frame(&b), Err(DecodeError::PayloadOverrun { .. })));
    let mut b = good.clone();
    b[27..31].copy_from_slice(&23u32.to_be_bytes());
    assert_eq!(decode_frame(&b), Err(DecodeError::BadMetadataLength(23)));
    assert!(matches!(decode_frame(&good[..good.len() - 1]), Err(DecodeError::PayloadOverrun { .. })));
}

#[test]
fn frame_too_short_for_its_metadata_is_an_error() {
    // Found by the frame_decode fuzzer: an empty payload and no room left for the metadata.
    let crash = [
        0x53, 0x54, 0x80, 0x01, 0x02, 0x32, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xaa, 0xaa,
    ];
    assert!(matches!(decode_frame(&crash), Err(DecodeError::PayloadOverrun { declared: 0, .. })));
    let (_, good) = sample();
    for cut in 0..good.len() {
        assert!(decode_frame(&good[..cut]).is_err(), "a frame cut at {cut} bytes must not decode");
    }
}

#[test]
fn trailing_garbage_is_an_error_not_a_panic() {
    let (_, mut dg) = sample();
    dg.extend_from_slice(&[0x53, 0x54, 0x01]);
    let results: Vec<_> = frames(&dg).collect();
    assert_eq!(results.len(), 2);
    assert!(results[1].is_err());
}

proptest::proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        for r in frames(&bytes) {
            let _ = r;
        }
    }

    #[test]
    fn encode_decode_roundtrip(ty in 0x80u8.., sid: u64, stream: u32, seq: u32, flags in 0u8..8, pn: u64,
                               payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let h = Header { frame_type: FrameType(ty), session_id: sid, stream_id: stream, sequence: seq, flags: Flags(flags) };
        let mut out = vec![0u8; frame_len(payload.len())];
        encode_frame(&mut out, &h, &payload, pn, &[1; 16]).unwrap();
        let (f, n) = decode_frame(&out).unwrap();
        proptest::prop_assert_eq!(n, out.len());
        proptest::prop_assert_eq!(f.header, h);
        proptest::prop_assert_eq!(f.payload, &payload[..]);
        proptest::prop_assert_eq!(f.packet_number, pn);
    }
}
