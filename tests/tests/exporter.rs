//! The key exporter and the segment streams keyed by it, over the simulator: both ends export
//! the same secret and no other session does, and a segment stream keyed by its session crosses a
//! reordering path under credit-based flow control without ever overflowing the decoder.

mod common;

use std::time::Duration;

use common::*;
use sha3::{Digest, Sha3_256};
use stt_proto::segment::{SegmentDecoder, SegmentEncoder, SegmentError, DEFAULT_SEGMENT_PAYLOAD};
use stt_proto::{Event, ExportError, SessionHandle, MAX_EXPORT_LEN};
use stt_tests::sim::{NodeIdx, Sim};
use stt_tests::Impairment;

fn export(sim: &Sim, node: NodeIdx, session: SessionHandle, label: &[u8], context: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    sim.nodes[node].endpoint.session(session).expect("established").export_secret(label, context, &mut out).unwrap();
    out
}

#[test]
fn both_ends_export_the_same_secret_and_no_other_session_or_label_does() {
    let (mut sim, c, s) = pair(4100);
    let (c1, s1) = establish(&mut sim, c, s);
    let (c2, s2) = establish(&mut sim, c, s);
    let a = export(&sim, c, c1, b"app key", b"file 1");
    assert_eq!(a, export(&sim, s, s1, b"app key", b"file 1"), "both ends of a session agree");
    assert_ne!(a, [0u8; 32]);
    let others = [
        export(&sim, c, c2, b"app key", b"file 1"),
        export(&sim, c, c1, b"app key", b"file 2"),
        export(&sim, c, c1, b"app kez", b"file 1"),
        export(&sim, c, c1, b"", b""),
    ];
    for o in others {
        assert_ne!(a, o, "another session, context or label gives another secret");
    }
    assert_eq!(others[0], export(&sim, s, s2, b"app key", b"file 1"));

    // A key rotation changes the traffic keys, not what the session exports.
    sim.nodes[c].endpoint.session_mut(c1).unwrap().rotate_keys().unwrap();
    sim.flush(c);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(a, export(&sim, c, c1, b"app key", b"file 1"));

    // Longer outputs are a prefix-free extension of HKDF: the first 32 bytes are the same.
    let mut long = vec![0u8; MAX_EXPORT_LEN];
    let view = sim.nodes[s].endpoint.session(s1).unwrap();
    view.export_secret(b"app key", b"file 1", &mut long).unwrap();
    assert_eq!(long[..32], a);
    assert_eq!(view.export_secret(&[b'x'; 256], b"", &mut [0u8; 32]), Err(ExportError::LabelTooLong(256)));
    assert_eq!(view.export_secret(b"l", b"", &mut []), Err(ExportError::BadLength(0)));
    // The protocol's own labels (segment keys, resumption tickets' secrets) are not given out.
    for label in [&b"stt resumption"[..], b"stt segment", b"stt "] {
        assert_eq!(view.export_secret(label, b"", &mut [0u8; 32]), Err(ExportError::ReservedLabel));
    }
    view.export_secret(b"stt", b"", &mut [0u8; 32]).unwrap();
    let mut too_long = vec![0u8; MAX_EXPORT_LEN + 1];
    assert_eq!(view.export_secret(b"l", b"", &mut too_long), Err(ExportError::BadLength(MAX_EXPORT_LEN + 1)));
}

#[test]
fn each_direction_has_its_own_segment_key() {
    let (mut sim, c, s) = pair(4101);
    let (hc, hs) = establish(&mut sim, c, s);
    let (client, server) = (sim.nodes[c].endpoint.session(hc).unwrap(), sim.nodes[s].endpoint.session(hs).unwrap());
    // Both ends encode on stream 7 at once: each one's segments open only with the other's
    // decoder key, never with its own (no nonce is used twice under one key).
    let mut from_client = SegmentEncoder::live(client.segment_encoder_key(7).unwrap(), 7, 64).unwrap();
    let mut from_server = SegmentEncoder::live(server.segment_encoder_key(7).unwrap(), 7, 64).unwrap();
    let a = from_client.flush_after(b"client says hi");
    let b = from_server.flush_after(b"server says hi");
    let mut at_server = SegmentDecoder::new(server.segment_decoder_key(7).unwrap(), 7, 1 << 16);
    let mut at_client = SegmentDecoder::new(client.segment_decoder_key(7).unwrap(), 7, 1 << 16);
    at_server.push(&a).unwrap();
    at_client.push(&b).unwrap();
    assert_eq!(&at_server.read().unwrap()[..], b"client says hi");
    assert_eq!(&at_client.read().unwrap()[..], b"server says hi");
    let mut own = SegmentDecoder::new(client.segment_decoder_key(7).unwrap(), 7, 1 << 16);
    assert_eq!(own.push(&a), Err(SegmentError::Authentication), "a client's own segment under its decoder key");
}

trait FlushAfter {
    fn flush_after(&mut self, data: &[u8]) -> bytes::Bytes;
}

impl FlushAfter for SegmentEncoder {
    fn flush_after(&mut self, data: &[u8]) -> bytes::Bytes {
        assert!(self.push(data).unwrap().is_empty());
        self.flush().unwrap().unwrap()
    }
}

const SEGMENTS: u8 = 0x90;
const CREDIT: u8 = 0x91;

/// New custom frames of type `ty` that `node` received on `session` since `seen`.
fn frames_since(sim: &Sim, node: NodeIdx, session: SessionHandle, ty: u8, seen: &mut usize) -> Vec<bytes::Bytes> {
    let events = &sim.nodes[node].events;
    let out = events[*seen..]
        .iter()
        .filter_map(|e| match e {
            Event::Frame { session: s, frame_type, payload } if *s == session && *frame_type == ty => {
                Some(payload.clone())
            }
            _ => None,
        })
        .collect();
    *seen = events.len();
    out
}

#[test]
fn a_session_keyed_segment_stream_keeps_to_its_credit_across_a_reordering_path() {
    const LEN: usize = 2 << 20;
    const LIMIT: usize = 64 * 1024;
    let (mut sim, c, s) = pair(4102);
    let (hc, hs) = establish(&mut sim, c, s);
    sim.default_link = Impairment {
        reorder: 0.3,
        reorder_window: Duration::from_millis(20),
        delay: Duration::from_millis(10),
        jitter: Duration::from_millis(5),
        ..Default::default()
    };
    let data: Vec<u8> = (0..LEN as u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
    let size = DEFAULT_SEGMENT_PAYLOAD;
    let (enc_key, dec_key) = (
        sim.nodes[c].endpoint.session(hc).unwrap().segment_encoder_key(3).unwrap(),
        sim.nodes[s].endpoint.session(hs).unwrap().segment_decoder_key(3).unwrap(),
    );
    let mut dec = SegmentDecoder::new(dec_key, 3, LIMIT);
    let mut enc = SegmentEncoder::bounded(enc_key, 3, size, LEN as u64).unwrap().with_credit(dec.credit(size));
    let (mut written, mut ended, mut blocked) = (0usize, false, 0u32);
    let (mut seen_s, mut seen_c) = (0usize, 0usize);
    let (mut received, mut reordered, mut highest, mut max_held) = (Vec::with_capacity(LEN), 0u32, 0u32, 0usize);
    let done = drive(&mut sim, Duration::from_secs(120), |sim| {
        // The sender: as much as the credit lets it, then waits for a grant.
        for grant in frames_since(sim, c, hc, CREDIT, &mut seen_c) {
            enc.grant(u32::from_be_bytes(grant[..4].try_into().unwrap()));
        }
        let mut out = Vec::new();
        while written < LEN {
            let take = (LEN - written).min(size).min(enc.writable());
            if take == 0 {
                blocked += 1;
                assert!(matches!(enc.push(&data[written..written + 1]), Err(SegmentError::NoCredit { writable: 0 })));
                break;
            }
            out.extend(enc.push(&data[written..written + take]).unwrap());
            written += take;
        }
        if written == LEN && !ended {
            out.extend(enc.end().unwrap());
            ended = true;
        }
        if !out.is_empty() {
            let mut m = sim.nodes[c].endpoint.session_mut(hc).unwrap();
            for segment in out {
                m.send_frame(SEGMENTS, segment).unwrap();
            }
            sim.flush(c);
        }
        // The receiver: files what arrived, reads it, and grants what its buffer has room for.
        let arrived = frames_since(sim, s, hs, SEGMENTS, &mut seen_s);
        if !arrived.is_empty() {
            for segment in arrived {
                let seq = u32::from_be_bytes(segment[5..9].try_into().unwrap());
                if seq < highest {
                    reordered += 1;
                }
                highest = highest.max(seq);
                if let Err(e) = dec.push(&segment) {
                    panic!("the decoder refused a segment within its credit: {e}");
                }
                max_held = max_held.max(dec.buffered());
            }
            while let Some(b) = dec.read() {
                received.extend_from_slice(&b);
            }
            send(sim, s, hs, CREDIT, &dec.credit(size).to_be_bytes());
        }
        dec.is_finished()
    });
    assert!(done, "the stream did not finish: {} of {LEN} bytes", received.len());
    assert_eq!(Sha3_256::digest(&received), Sha3_256::digest(&data));
    assert!(max_held <= LIMIT, "the decoder held {max_held} bytes, more than its bound {LIMIT}");
    assert!(blocked > 0, "the sender never waited for credit: the test did not exercise flow control");
    assert!(reordered > 0, "the path reordered nothing: the test did not exercise reordering");
}
