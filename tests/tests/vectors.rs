//! Test vectors: recomputes every value listed between the `vectors:begin` and `vectors:end`
//! markers of `docs/PROTOCOL.md` and checks it matches. `STT_PRINT_VECTORS=1` prints the
//! computed block (to refresh the document after a deliberate protocol change).

mod common;

use std::collections::BTreeMap;

use bytes::BytesMut;
use common::noise;
use stt_proto::crypto::{
    hkdf_expand32, labels, node_id_from_public_key, static_key_from_seed, DhSecret, HandshakeKeys, PacketKey, Suite,
    TrafficSecret,
};
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
    let (static_a, static_b) = (static_key_from_seed(&seed_a), static_key_from_seed(&seed_b));
    put("static_secret_a", &*static_a.to_bytes());
    put("static_secret_b", &*static_b.to_bytes());
    put("public_key_a", &static_a.public_key());
    put("public_key_b", &static_b.public_key());
    put("node_id_a", &node_id_from_public_key(&static_a.public_key()));
    put("node_id_b", &node_id_from_public_key(&static_b.public_key()));
    assert_eq!(
        Identity::from_seed_bytes(&seed_a).unwrap().node_id().0,
        node_id_from_public_key(&static_a.public_key())
    );
    let hk = HandshakeKeys::from_shared_seed(&shared);
    put("k_hs", &hk.k_hs);
    put("psk", &hk.psk);

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

    // The Noise IKpsk1 pattern with fixed ephemeral keys, computed here from PROTOCOL.md §4
    // with the public pieces only (SymmetricState, DhSecret), both sides.
    let (nonce_i, nonce_r) = (seq(0x60), seq(0x80));
    let (e_i, e_r) = (DhSecret::from_bytes(seq(0xA0)), DhSecret::from_bytes(seq(0xC0)));
    put("noise_nonce_i", &nonce_i);
    put("noise_nonce_r", &nonce_r);
    put("noise_ephemeral_secret_i", &*e_i.to_bytes());
    put("noise_ephemeral_secret_r", &*e_r.to_bytes());
    let (i2r, r2i, values) = noise_example(&static_a, &static_b, &e_i, &e_r, &nonce_i, &nonce_r, &hk.psk);
    for (k, val) in values {
        put(&k, &val);
    }
    put("schedule_secret_i2r_0", &i2r.0);
    put("schedule_secret_r2i_0", &r2i.0);
    let (key, iv) = i2r.key_and_iv();
    put("schedule_key_i2r_0", &key);
    put("schedule_iv_i2r_0", &iv);
    put("schedule_secret_i2r_1", &i2r.next().0);
    // The update label, applied by hand, gives the same secret as `next()`.
    assert_eq!(hkdf_expand32(&i2r.0, labels::KEY_UPDATE), i2r.next().0);

    // A whole handshake and one custom frame between two endpoints with fixed RNG seeds.
    for (k, val) in handshake_transcript(&seed_a, &seed_b, &shared) {
        v.push((k, val));
    }
    // The same in one round trip, A knowing B's static key.
    v.extend(fast_handshake_transcript(&seed_a, &seed_b, &shared));
    // A ticket from a session, then the session it resumes.
    v.extend(resumed_transcript(&seed_a, &seed_b, &shared));
    v.extend(outside_a_session(&shared));
    v
}

/// One handshake's Noise part written by the initiator and read by the responder, then the
/// other way, from fixed keys: RESPONSE's ephemeral key, encrypted static key and tag over a
/// fixed frame, CONFIRM's the same, and the split. Returns the traffic secrets and the values.
fn noise_example(
    static_i: &DhSecret,
    static_r: &DhSecret,
    e_i: &DhSecret,
    e_r: &DhSecret,
    nonce_i: &[u8; 32],
    nonce_r: &[u8; 32],
    psk: &[u8; 32],
) -> (TrafficSecret, TrafficSecret, Vec<(String, Vec<u8>)>) {
    let suite = Suite::Aes256Gcm;
    let node_id_i = node_id_from_public_key(&static_i.public_key());
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let start = || noise::start(suite, &node_id_i, nonce_i, nonce_r, &static_r.public_key());
    let (mut ini, mut res) = (start(), start());
    out.push(("noise_h0".into(), ini.handshake_hash().to_vec()));
    // RESPONSE: -> e, es, s, ss, psk; payload tag over the frame.
    let (e_pub, enc_static) =
        noise::write_response_tokens(&mut ini, e_i, &static_i.public_key(), static_i, &static_r.public_key(), psk);
    let enc_static = enc_static.to_vec();
    const SESSION: u64 = 0x1122_3344_5566_7788;
    let resp_payload = [&e_pub[..], &enc_static[..]].concat();
    let resp_frame = noise::sealed_frame(FrameType::RESPONSE, SESSION, &resp_payload, &mut ini);
    out.push(("noise_response_ephemeral".into(), e_pub.to_vec()));
    out.push(("noise_response_encrypted_static".into(), enc_static.clone()));
    out.push(("noise_response_frame".into(), resp_frame.clone()));
    // The responder reads it.
    res.mix_hash(&[&e_pub]);
    res.mix_key(&e_pub);
    res.mix_key(&*static_r.agree(&e_pub).unwrap());
    let mut s_i: [u8; 32] = enc_static[..32].try_into().unwrap();
    res.decrypt_and_hash(&mut s_i, enc_static[32..].try_into().unwrap()).unwrap();
    assert_eq!(s_i, static_i.public_key());
    res.mix_key(&*static_r.agree(&s_i).unwrap());
    res.mix_key_and_hash(psk);
    assert!(noise::open_frame(&resp_frame, &mut res));
    // CONFIRM: <- e, ee, se; payload tag over the frame.
    let e_r_pub = noise::write_confirm_tokens(&mut res, e_r, &e_pub, &s_i);
    let confirm_frame = noise::sealed_frame(FrameType::CONFIRM, SESSION, &e_r_pub, &mut res);
    out.push(("noise_confirm_frame".into(), confirm_frame.clone()));
    // The initiator reads it.
    ini.mix_hash(&[&e_r_pub]);
    ini.mix_key(&e_r_pub);
    ini.mix_key(&*e_i.agree(&e_r_pub).unwrap());
    ini.mix_key(&*static_i.agree(&e_r_pub).unwrap());
    assert!(noise::open_frame(&confirm_frame, &mut ini));
    out.push(("noise_h_final".into(), ini.handshake_hash().to_vec()));
    assert_eq!(ini.handshake_hash(), res.handshake_hash());
    let (i2r, r2i) = ini.split();
    let (i2r_r, r2i_r) = res.split();
    assert!(i2r == i2r_r && r2i == r2i_r);
    (i2r, r2i, out)
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
    names::encode_register(&mut register, 2, 0, 1, [video.0].iter());
    put("register_payload", &register);
    let mut request = vec![0u8; names::REQUEST_HEADER_LEN + 5];
    names::encode_request_header(&mut request, 3, 1, &video.0);
    request[names::REQUEST_HEADER_LEN..].copy_from_slice(b"frame");
    put("route_request_payload", &request);
    let mut reply = [0u8; names::REPLY_LEN];
    names::encode_reply(&mut reply, 3, names::STATUS_QUEUE_FULL);
    put("route_reply_payload", &reply);

    // Section 7.1: the STREAM_OPEN of a live stream with a 250 ms deadline, labeled "video".
    let open = wire::stream::StreamOpen { live: true, deadline_ms: 250, label: b"video" };
    let mut payload = vec![0u8; open.encoded_len()];
    open.encode(&mut payload);
    put("stream_open_labeled_payload", &payload);
    v
}

fn handshake_transcript(seed_a: &[u8; 32], seed_b: &[u8; 32], shared: &[u8; 32]) -> Vec<(String, String)> {
    transcript(seed_a, seed_b, shared, false)
}

/// The one-round-trip handshake (§4.9): A (RNG seed 32 × 0xA1) was given B's static key; B's
/// RNG seed is 32 × 0xB1.
fn fast_handshake_transcript(seed_a: &[u8; 32], seed_b: &[u8; 32], shared: &[u8; 32]) -> Vec<(String, String)> {
    transcript(seed_a, seed_b, shared, true)
}

fn transcript(seed_a: &[u8; 32], seed_b: &[u8; 32], shared: &[u8; 32], fast: bool) -> Vec<(String, String)> {
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(shared).unwrap());
    cfg.suites = vec![Suite::Aes256Gcm, Suite::ChaCha20Poly1305];
    cfg.crypto_backend = CryptoBackend::RustCrypto;
    let (rng_a, rng_b) = if fast { ([0xA1; 32], [0xB1; 32]) } else { ([0xA0; 32], [0xB0; 32]) };
    let mut a = Endpoint::new(cfg.clone(), Identity::from_seed_bytes(seed_a).unwrap(), rng_a).unwrap();
    let mut b = Endpoint::new(cfg, Identity::from_seed_bytes(seed_b).unwrap(), rng_b).unwrap();
    let (a_addr, b_addr) = ("192.0.2.1:1000".parse().unwrap(), "192.0.2.2:2000".parse().unwrap());
    let now = Instant::from_nanos(1_000_000_000);
    let h = if fast {
        let peer = a.add_peer_key(b.public_key());
        a.connect_to(now, Remote::udp(b_addr), peer).unwrap()
    } else {
        a.connect(now, Remote::udp(b_addr)).unwrap()
    };
    a.session_mut(h).unwrap().send_frame(0x80, &b"hello"[..]).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    let names: &[&str] = if fast {
        &["fast_transcript_init", "fast_transcript_confirm", "fast_transcript_custom_0x80_hello"]
    } else {
        &[
            "transcript_init",
            "transcript_challenge",
            "transcript_response",
            "transcript_confirm",
            "transcript_custom_0x80_hello",
        ]
    };
    let prefix = if fast { "fast_transcript" } else { "transcript" };
    let mut n = 0;
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now, 1, &mut buf) {
            out.push((names.get(n).map_or(format!("{prefix}_extra"), |s| s.to_string()), hex(&buf[..t.len])));
            n += 1;
            b.handle_datagram(now, Remote::udp(a_addr), BytesMut::from(&buf[..t.len]));
            moved = true;
        }
        while let Some(t) = b.poll_transmit(now, 1, &mut buf) {
            out.push((names.get(n).map_or(format!("{prefix}_extra"), |s| s.to_string()), hex(&buf[..t.len])));
            n += 1;
            a.handle_datagram(now, Remote::udp(b_addr), BytesMut::from(&buf[..t.len]));
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let sid = a.session(h).unwrap().session_id();
    out.push((format!("{prefix}_session_id"), format!("{sid:016x}")));
    if !fast {
        // Section 3.5: what A's session exports, and a segment it seals with its session's key.
        let view = a.session(h).unwrap();
        let mut exported = [0u8; 32];
        view.export_secret(b"example", b"context", &mut exported).unwrap();
        out.push(("exporter_example".into(), hex(&exported)));
        let mut enc = SegmentEncoder::live(view.segment_encoder_key(5).unwrap(), 5, 8).unwrap();
        assert!(enc.push(b"hello").unwrap().is_empty());
        out.push(("segment_from_session".into(), hex(&enc.flush().unwrap().unwrap())));
    }
    out
}

/// Resumption (§4.11): A (RNG seed 32 × 0xA2) and B (32 × 0xB2), both with resumption on,
/// open a session at 1 s as the transcript does (two round trips; A's custom frame and
/// KEEPALIVE); B answers that datagram with the NEW_TICKET it owes (`resumed_new_ticket`, and
/// the secret A derives from it, `resumed_ticket_secret`).
/// At 2 s A connects again and resumes with that ticket, its custom frame queued before the
/// handshake ends.
fn resumed_transcript(seed_a: &[u8; 32], seed_b: &[u8; 32], shared: &[u8; 32]) -> Vec<(String, String)> {
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(shared).unwrap());
    cfg.suites = vec![Suite::Aes256Gcm, Suite::ChaCha20Poly1305];
    cfg.crypto_backend = CryptoBackend::RustCrypto;
    cfg.resumption = true;
    let mut a = Endpoint::new(cfg.clone(), Identity::from_seed_bytes(seed_a).unwrap(), [0xA2; 32]).unwrap();
    let mut b = Endpoint::new(cfg, Identity::from_seed_bytes(seed_b).unwrap(), [0xB2; 32]).unwrap();
    let (a_addr, b_addr) = ("192.0.2.1:1000".parse().unwrap(), "192.0.2.2:2000".parse().unwrap());
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    // Runs both ends at `now` until neither has anything to send; returns every datagram, A's
    // and B's, in the order sent.
    let mut exchange = |a: &mut Endpoint, b: &mut Endpoint, now: Instant| {
        let mut sent: Vec<(char, Vec<u8>)> = Vec::new();
        loop {
            let mut moved = false;
            while let Some(t) = a.poll_transmit(now, 1, &mut buf) {
                sent.push(('a', buf[..t.len].to_vec()));
                b.handle_datagram(now, Remote::udp(a_addr), BytesMut::from(&buf[..t.len]));
                moved = true;
            }
            while let Some(t) = b.poll_transmit(now, 1, &mut buf) {
                sent.push(('b', buf[..t.len].to_vec()));
                a.handle_datagram(now, Remote::udp(b_addr), BytesMut::from(&buf[..t.len]));
                moved = true;
            }
            if !moved {
                return sent;
            }
        }
    };
    let first = Instant::from_nanos(1_000_000_000);
    let h = a.connect(first, Remote::udp(b_addr)).unwrap();
    a.session_mut(h).unwrap().send_frame(0x80, &b"hello"[..]).unwrap();
    let sent = exchange(&mut a, &mut b, first);
    let kinds: Vec<(char, u8)> = sent.iter().map(|(who, d)| (*who, d[2])).collect();
    assert_eq!(kinds, [('a', 0x01), ('b', 0x02), ('a', 0x03), ('b', 0x04), ('a', 0x80), ('b', 0x1A)]);
    // B's datagram: NEW_TICKET (packet number 0), then an ACK.
    let ticket_frame = &sent[5].1[..wire::frame_len(12 + 96)];
    out.push(("resumed_new_ticket".to_string(), hex(ticket_frame)));
    assert_eq!(a.stats().tickets_received, 1);
    let saved = a.saved_tickets(first).remove(0).to_bytes();
    out.push(("resumed_ticket_secret".to_string(), hex(&saved[41..73])));
    let now = first + std::time::Duration::from_secs(1);
    let peer = b.node_id();
    let h = a.connect_to(now, Remote::udp(b_addr), peer).unwrap();
    a.session_mut(h).unwrap().send_frame(0x80, &b"hello"[..]).unwrap();
    let sent = exchange(&mut a, &mut b, now);
    let kinds: Vec<(char, u8)> = sent.iter().map(|(who, d)| (*who, d[2])).collect();
    // The fourth: B's NEW_TICKET for the next resumption (not a vector).
    assert_eq!(kinds, [('a', 0x01), ('b', 0x04), ('a', 0x80), ('b', 0x1A)]);
    let names = ["resumed_transcript_init", "resumed_transcript_confirm", "resumed_transcript_custom_0x80_hello"];
    for (name, (_, d)) in names.iter().zip(&sent) {
        out.push((name.to_string(), hex(d)));
    }
    assert_eq!(b.stats().sessions_resumed, 1);
    let sid = a.session(h).unwrap().session_id();
    out.push(("resumed_transcript_session_id".into(), format!("{sid:016x}")));
    // 0-RTT data (§4.12): at 3 s A resumes with the ticket the resumed session gave (its number
    // 1), a custom frame allowed as 0-RTT data: sealed under the early key behind the INIT.
    let later = first + std::time::Duration::from_secs(2);
    let saved = a.saved_tickets(later).remove(0).to_bytes();
    out.push(("early_ticket_secret".to_string(), hex(&saved[41..73])));
    let h = a.connect_to(later, Remote::udp(b_addr), peer).unwrap();
    let mut sm = a.session_mut(h).unwrap();
    sm.allow_early_data().unwrap();
    sm.send_frame(0x80, &b"hello"[..]).unwrap();
    let events = b.stats().sessions_established;
    let sent = exchange(&mut a, &mut b, later);
    assert_eq!((sent[0].0, sent[0].1[2]), ('a', 0x01));
    out.push(("early_transcript_init_datagram".to_string(), hex(&sent[0].1)));
    assert_eq!(b.stats().sessions_resumed, 2);
    assert_eq!(b.stats().sessions_established, events + 1);
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

/// The RESPONSE two real endpoints exchange follows the pattern as `noise_example` (and
/// PROTOCOL.md) writes it: a responder built from the public pieces alone reads the initiator's
/// static key out of it and accepts its tag.
#[test]
fn a_real_response_reads_with_the_documented_pattern() {
    let (seed_a, seed_b, shared) = (seq(0x00), seq(0x20), seq(0x40));
    let transcript = handshake_transcript(&seed_a, &seed_b, &shared);
    let hex_of = |name: &str| transcript.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
    let bytes: Vec<u8> = (0..hex_of("transcript_response").len() / 2)
        .map(|i| u8::from_str_radix(&hex_of("transcript_response")[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let layout = wire::parse_frame(&bytes).unwrap();
    let resp = handshake::Response::decode(&bytes[layout.payload.clone()]).unwrap();
    let (static_a, static_b) = (static_key_from_seed(&seed_a), static_key_from_seed(&seed_b));
    assert_eq!(resp.static_r, static_b.public_key());
    let keys = HandshakeKeys::from_shared_seed(&shared);
    let at = 24 + handshake::Response::SEED_MAC_OFFSET;
    assert_eq!(at, 258, "PROTOCOL.md §4.4 names this offset");
    assert_eq!(stt_proto::crypto::mac16(&keys.k_hs, &[&bytes[..at]]), resp.seed_mac, "seed_mac as §4.4 defines it");
    let (_, s_i) =
        noise::read_response(&bytes, &static_b, &keys.psk).expect("the RESPONSE follows the documented pattern");
    assert_eq!(s_i, static_a.public_key());
    assert_eq!(node_id_from_public_key(&s_i), resp.node_id_i);
}
