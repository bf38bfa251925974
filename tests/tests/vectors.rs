//! Test vectors: recomputes every value listed between the `vectors:begin` and `vectors:end`
//! markers of `docs/PROTOCOL.md` and checks it matches. `STT_PRINT_VECTORS=1` prints the
//! computed block (to refresh the document after a deliberate protocol change).

use std::collections::BTreeMap;

use bytes::BytesMut;
use stt_proto::crypto::{hkdf_expand32, labels, node_id_from_seed, HandshakeKeys, PacketKey, SessionSecrets, Suite};
use stt_proto::segment::{SegmentDecoder, SegmentEncoder, SegmentKey};
use stt_proto::storage::{seal_blob, storage_key, Address};
use stt_proto::wire::{self, handshake, names, Flags, FrameType, Header};
use stt_proto::NameAddress;
use stt_proto::{CryptoBackend, Endpoint, EndpointConfig, Identity, Instant, Remote, Seed};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn seq(start: u8) -> [u8; 32] {
    std::array::from_fn(|i| start + i as u8)
}

fn compute() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, b: &[u8]| v.push((k.to_string(), hex(b)));
    let (seed_a, seed_b, shared) = (seq(0x00), seq(0x20), seq(0x40));
    put("node_seed_a", &seed_a);
    put("node_seed_b", &seed_b);
    put("shared_seed", &shared);
    put("node_id_a", &node_id_from_seed(&seed_a));
    put("node_id_b", &node_id_from_seed(&seed_b));
    put("k_hs", &HandshakeKeys::from_shared_seed(&shared).k_hs);

    // Codec: a custom frame with a fixed (fake) tag.
    let h = Header {
        frame_type: FrameType(0x80),
        session_id: 0x0102_0304_0506_0708,
        stream_id: 0,
        sequence: 0,
        flags: Flags(Flags::KEY_PHASE),
    };
    let mut buf = vec![0u8; wire::frame_len(5)];
    wire::encode_frame(&mut buf, &h, b"hello", 7, &[0xAA; 16]).unwrap();
    put("frame_example", &buf);

    // AEAD nonce construction: key 0x11.., iv 0x22.., pn 5, aad "aad", plaintext "hello".
    for (name, suite) in [("aead_aes256gcm", Suite::Aes256Gcm), ("aead_chacha20poly1305", Suite::ChaCha20Poly1305)] {
        let k = PacketKey::new(suite, CryptoBackend::RustCrypto, &[0x11; 32], [0x22; 12]);
        let mut pt = *b"hello";
        let tag = k.seal(5, b"aad", &mut pt);
        let mut out = pt.to_vec();
        out.extend_from_slice(&tag);
        put(name, &out);
    }

    // Key schedule from fixed transcript fields.
    let (nid_a, nid_b) = (node_id_from_seed(&seed_a), node_id_from_seed(&seed_b));
    let (nonce_i, nonce_r) = (seq(0x60), seq(0x80));
    let s = SessionSecrets::derive(&shared, handshake::VERSION, Suite::Aes256Gcm, &nid_a, &nid_b, &nonce_i, &nonce_r);
    put("schedule_nonce_i", &nonce_i);
    put("schedule_nonce_r", &nonce_r);
    put("schedule_k_response", &s.k_response);
    put("schedule_k_confirm", &s.k_confirm);
    put("schedule_secret_i2r_0", &s.i2r.0);
    put("schedule_secret_r2i_0", &s.r2i.0);
    let (key, iv) = s.i2r.key_and_iv();
    put("schedule_key_i2r_0", &key);
    put("schedule_iv_i2r_0", &iv);
    put("schedule_secret_i2r_1", &s.i2r.next().0);
    // The update label, applied by hand, gives the same secret as `next()`.
    assert_eq!(hkdf_expand32(&s.i2r.0, labels::KEY_UPDATE), s.i2r.next().0);

    // A whole handshake and one custom frame between two endpoints with fixed RNG seeds.
    for (k, val) in handshake_transcript(&seed_a, &seed_b, &shared) {
        v.push((k, val));
    }
    v.extend(outside_a_session(&shared));
    v
}

/// Segments, a stored blob and named-endpoint payloads.
fn outside_a_session(shared: &[u8; 32]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, b: &[u8]| v.push((k.to_string(), hex(b)));
    // "hello world" in bounded mode, 8-byte segments, stream 5, key from the shared seed.
    let key = || SegmentKey::derive(shared, 0x0102_0304_0506_0708, 5);
    let mut enc = SegmentEncoder::bounded(key(), 5, 8, 11).unwrap();
    let mut segments = enc.push(b"hello world").unwrap();
    segments.extend(enc.end().unwrap());
    assert_eq!(segments.len(), 3);
    for (name, s) in ["segment_0", "segment_1", "segment_end"].iter().zip(&segments) {
        put(name, s);
    }
    let mut dec = SegmentDecoder::new(key(), 5, 1024);
    for s in segments.iter().rev() {
        dec.push(s).unwrap();
    }
    let decoded: Vec<u8> = std::iter::from_fn(|| dec.read()).flatten().collect();
    assert_eq!(decoded, b"hello world");
    assert!(dec.is_finished());

    // "hello, store" sealed under the storage seed = the shared seed.
    let address = Address::of(b"hello, store");
    put("blob_address", &address.0);
    put("blob_sealed", &seal_blob(&storage_key(shared), &address, b"hello, store"));

    // Named endpoints.
    let video = NameAddress::of("video_sink");
    put("name_video_sink", &video.0);
    let mut register = vec![0u8; names::register_len(1)];
    names::encode_register(&mut register, 2, [video.0].iter());
    put("register_payload", &register);
    let mut request = vec![0u8; names::REQUEST_HEADER_LEN + 5];
    names::encode_request_header(&mut request, 3, 1, &video.0);
    request[names::REQUEST_HEADER_LEN..].copy_from_slice(b"frame");
    put("route_request_payload", &request);
    let mut reply = [0u8; names::REPLY_LEN];
    names::encode_reply(&mut reply, 3, names::STATUS_QUEUE_FULL);
    put("route_reply_payload", &reply);
    v
}

fn handshake_transcript(seed_a: &[u8; 32], seed_b: &[u8; 32], shared: &[u8; 32]) -> Vec<(String, String)> {
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(shared).unwrap());
    cfg.suites = vec![Suite::Aes256Gcm, Suite::ChaCha20Poly1305];
    cfg.crypto_backend = CryptoBackend::RustCrypto;
    let mut a = Endpoint::new(cfg.clone(), Identity::from_seed_bytes(seed_a).unwrap(), [0xA0; 32]).unwrap();
    let mut b = Endpoint::new(cfg, Identity::from_seed_bytes(seed_b).unwrap(), [0xB0; 32]).unwrap();
    let (a_addr, b_addr) = ("192.0.2.1:1000".parse().unwrap(), "192.0.2.2:2000".parse().unwrap());
    let now = Instant::from_nanos(1_000_000_000);
    let h = a.connect(now, Remote::udp(b_addr)).unwrap();
    a.session_mut(h).unwrap().send_frame(0x80, &b"hello"[..]).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    let names = [
        "transcript_init",
        "transcript_challenge",
        "transcript_response",
        "transcript_confirm",
        "transcript_custom_0x80_hello",
    ];
    let mut n = 0;
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now, 1, &mut buf) {
            out.push((names.get(n).copied().unwrap_or("transcript_extra").to_string(), hex(&buf[..t.len])));
            n += 1;
            b.handle_datagram(now, Remote::udp(a_addr), BytesMut::from(&buf[..t.len]));
            moved = true;
        }
        while let Some(t) = b.poll_transmit(now, 1, &mut buf) {
            out.push((names.get(n).copied().unwrap_or("transcript_extra").to_string(), hex(&buf[..t.len])));
            n += 1;
            a.handle_datagram(now, Remote::udp(b_addr), BytesMut::from(&buf[..t.len]));
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let sid = a.session(h).unwrap().session_id();
    out.push(("transcript_session_id".into(), format!("{sid:016x}")));
    out
}

fn documented() -> BTreeMap<String, String> {
    let doc = include_str!("../../docs/PROTOCOL.md");
    let start = doc.find("<!-- vectors:begin -->").expect("vectors:begin marker in docs/PROTOCOL.md");
    let end = doc.find("<!-- vectors:end -->").expect("vectors:end marker");
    doc[start..end]
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| !k.contains(' ') && !k.starts_with('<') && !k.starts_with('`'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn protocol_md_vectors_match_the_implementation() {
    let computed = compute();
    if std::env::var_os("STT_PRINT_VECTORS").is_some() {
        for (k, v) in &computed {
            println!("{k}: {v}");
        }
    }
    let doc = documented();
    assert_eq!(
        doc.len(),
        computed.len(),
        "docs/PROTOCOL.md lists {} vectors, the implementation computes {}",
        doc.len(),
        computed.len()
    );
    for (k, v) in &computed {
        assert_eq!(doc.get(k), Some(v), "vector {k} differs from docs/PROTOCOL.md");
    }
    // Sanity: the transcript has the four handshake messages and the custom frame, in order.
    let types: Vec<&str> = computed
        .iter()
        .filter(|(k, _)| k.starts_with("transcript_") && k != "transcript_session_id")
        .map(|(_, v)| &v[4..6])
        .collect();
    assert_eq!(types, ["01", "02", "03", "04", "80"]);
}
