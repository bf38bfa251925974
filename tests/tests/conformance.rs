//! A conformance check that does not trust the implementation: it reads the test vectors of
//! `docs/PROTOCOL.md` section 9 and recomputes them from the document's text with a second,
//! small implementation written here from that text (sections 1, 3, 4, 9, 10, 11, including 3.5), on the
//! standard primitives only (SHA3-256, HMAC, X25519, AES-256-GCM, ChaCha20-Poly1305, the
//! ChaCha20 keystream).
//! Nothing of `stt-proto` is called. A change that leaves the document behind fails here.
//!
//! Covered: the identities and handshake keys, the AEAD rule, the frame layout, the Noise
//! handshake and its key schedule, the whole transcript (INIT, CHALLENGE with its cookie,
//! RESPONSE, CONFIRM, the first sealed datagram and the session id) from the RNG seeds through
//! the generator of section 9, the same in one round trip (4.9) and resumed with a ticket
//! (4.11, with the NEW_TICKET that gave it) and with 0-RTT data behind the INIT (4.12), a
//! labeled STREAM_OPEN (section 7.1), the key
//! exporter and a segment keyed by it (section 3.5), the
//! segments and the stored blob, and the named-endpoint
//! payloads: every vector of section 9.

use std::collections::BTreeMap;

use aes_gcm::aead::{AeadInOut, KeyInit};
use chacha20::cipher::{KeyIvInit, StreamCipher};
use hmac::{Mac, SimpleHmac};
use sha3::{Digest, Sha3_256};

/// The extension block of §4 with the stream-labels entry (type 0x0001, empty value), as
/// RESPONSE, INIT of version 3 and both CONFIRMs carry it.
const LABELS_EXT: [u8; 6] = [0, 4, 0, 1, 0, 0];

fn doc_vectors() -> BTreeMap<String, Vec<u8>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md")).unwrap();
    let block = doc.split("<!-- vectors:begin -->").nth(1).unwrap().split("<!-- vectors:end -->").next().unwrap();
    block
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| {
            (k.to_owned(), (0..v.len()).step_by(2).map(|i| u8::from_str_radix(&v[i..i + 2], 16).unwrap()).collect())
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---- primitives, as the conventions at the top of the document define them -----------------

fn sha3(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha3_256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <SimpleHmac<Sha3_256> as hmac::KeyInit>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn mac16(key: &[u8], m: &[u8]) -> [u8; 16] {
    hmac(key, &[m])[..16].try_into().unwrap()
}

/// RFC 5869: Extract(salt, ikm) = HMAC(salt, ikm).
fn extract(salt: &[u8], ikm: &[u8]) -> [u8; 32] {
    hmac(salt, &[ikm])
}

/// RFC 5869: Expand(prk, info, len), T(i) = HMAC(prk, T(i-1) || info || i).
fn expand(prk: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let (mut out, mut t) = (Vec::new(), Vec::new());
    for i in 1u8.. {
        if out.len() >= len {
            break;
        }
        t = hmac(prk, &[&t, info, &[i]]).to_vec();
        out.extend_from_slice(&t);
    }
    out.truncate(len);
    out
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
    expand(&extract(salt, ikm), info, 32).try_into().unwrap()
}

fn x25519(secret: [u8; 32], public: [u8; 32]) -> [u8; 32] {
    x25519_dalek::StaticSecret::from(secret).diffie_hellman(&x25519_dalek::PublicKey::from(public)).to_bytes()
}

fn public(secret: [u8; 32]) -> [u8; 32] {
    x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(secret)).to_bytes()
}

/// AES-256-GCM seal; the document's nonces are 12 bytes.
fn seal(key: &[u8], nonce: [u8; 12], aad: &[u8], plaintext: &[u8]) -> (Vec<u8>, [u8; 16]) {
    let cipher = aes_gcm::Aes256Gcm::new(key.try_into().unwrap());
    let mut buf = plaintext.to_vec();
    let tag = cipher.encrypt_inout_detached(&nonce.into(), aad, buf.as_mut_slice().into()).unwrap();
    (buf, tag.into())
}

/// Section 9's generator: the ChaCha20 keystream of `key` (zero nonce, counter 0).
fn keystream(key: [u8; 32], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    chacha20::ChaCha20::new(&key.into(), &[0u8; 12].into()).apply_keystream(&mut out);
    out
}

fn take32(b: &[u8], at: usize) -> [u8; 32] {
    b[at..at + 32].try_into().unwrap()
}

// ---- section 1: frames ----------------------------------------------------------------------

/// A frame: the header, the payload, metadata length 24, the packet number, and a tag made by
/// `tag` over everything before it.
fn frame(ty: u8, session_id: u64, flags: u8, payload: &[u8], pn: u64, tag: impl FnOnce(&[u8]) -> [u8; 16]) -> Vec<u8> {
    let mut f = vec![0x53, 0x54, ty];
    f.extend_from_slice(&session_id.to_be_bytes());
    f.extend_from_slice(&[0; 8]); // stream 0, sequence 0
    f.push(flags);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f.extend_from_slice(&24u32.to_be_bytes());
    f.extend_from_slice(&pn.to_be_bytes());
    let t = tag(&f);
    f.extend_from_slice(&t);
    f
}

/// Section 3.3: a frame sealed under a traffic secret (stream 0, sequence 0).
fn sealed_frame(ty: u8, session_id: u64, flags: u8, plaintext: &[u8], pn: u64, secret: &[u8; 32]) -> Vec<u8> {
    let key = expand(secret, b"stt/v1 aead key", 32);
    let iv: [u8; 12] = expand(secret, b"stt/v1 aead iv", 12).try_into().unwrap();
    let mut f = frame(ty, session_id, flags, plaintext, pn, |_| [0; 16]);
    let n = plaintext.len();
    let mut nonce = iv;
    for (b, p) in nonce[4..].iter_mut().zip(pn.to_be_bytes()) {
        *b ^= p;
    }
    let mut aad = f[..24].to_vec();
    aad.extend_from_slice(&24u32.to_be_bytes());
    let (ct, tag) = seal(&key, nonce, &aad, plaintext);
    f[24..24 + n].copy_from_slice(&ct);
    f[36 + n..].copy_from_slice(&tag);
    f
}

// ---- section 4.7: the Noise symmetric state ------------------------------------------------

struct Noise {
    h: [u8; 32],
    ck: [u8; 32],
    k: Option<[u8; 32]>,
    n: u64,
}

impl Noise {
    fn start(suite: u8, node_id_i: &[u8; 32], nonce_i: &[u8; 32], nonce_r: &[u8; 32], static_r: &[u8; 32]) -> Noise {
        let h = sha3(&[b"Noise_IKpsk1_25519_STTAEAD_SHA3-256"]);
        let mut s = Noise { h, ck: h, k: None, n: 0 };
        s.mix_hash(&[&[0x02, suite], node_id_i, nonce_i, nonce_r]);
        s.mix_hash(&[static_r]);
        s
    }

    /// The one-round-trip handshake's start (section 4.9): version 3, no responder nonce.
    fn start_fast(suite: u8, node_id_i: &[u8; 32], nonce_i: &[u8; 32], static_r: &[u8; 32]) -> Noise {
        let h = sha3(&[b"Noise_IKpsk1_25519_STTAEAD_SHA3-256"]);
        let mut s = Noise { h, ck: h, k: None, n: 0 };
        s.mix_hash(&[&[0x03, suite], node_id_i, nonce_i]);
        s.mix_hash(&[static_r]);
        s
    }

    fn mix_hash(&mut self, parts: &[&[u8]]) {
        let mut all: Vec<&[u8]> = vec![&self.h];
        all.extend_from_slice(parts);
        self.h = sha3(&all);
    }

    /// HKDF(ck, ikm) cut into `n` outputs of 32 bytes.
    fn hkdf(&self, ikm: &[u8], n: usize) -> Vec<[u8; 32]> {
        expand(&extract(&self.ck, ikm), &[], 32 * n).chunks(32).map(|c| c.try_into().unwrap()).collect()
    }

    fn mix_key(&mut self, ikm: &[u8]) {
        let out = self.hkdf(ikm, 2);
        (self.ck, self.k, self.n) = (out[0], Some(out[1]), 0);
    }

    fn mix_key_and_hash(&mut self, ikm: &[u8]) {
        let out = self.hkdf(ikm, 3);
        self.ck = out[0];
        self.mix_hash(&[&out[1]]);
        (self.k, self.n) = (Some(out[2]), 0);
    }

    fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let key = self.k.expect("a key is set before any encryption in IKpsk1");
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.n.to_be_bytes());
        self.n += 1;
        let (mut ct, tag) = seal(&key, nonce, &self.h, plaintext);
        ct.extend_from_slice(&tag);
        self.mix_hash(&[&ct]);
        ct
    }

    /// The payload token over a frame: MixHash(frame[0 .. len-16]); tag = EncryptAndHash("").
    fn frame_tag(&mut self, without_tag: &[u8]) -> [u8; 16] {
        self.mix_hash(&[without_tag]);
        self.encrypt_and_hash(&[]).try_into().unwrap()
    }

    fn split(&self) -> ([u8; 32], [u8; 32]) {
        let out = self.hkdf(&[], 2);
        (out[0], out[1])
    }
}

/// The two parties' long-term values, section 3.1.
struct Node {
    static_secret: [u8; 32],
    static_public: [u8; 32],
    node_id: [u8; 32],
}

fn node(seed: &[u8; 32]) -> Node {
    let static_secret = hkdf(b"", seed, b"stt/v2 static key");
    let static_public = public(static_secret);
    Node { static_secret, static_public, node_id: sha3(&[b"stt/v2 node id", &static_public]) }
}

/// Noise message 1 (RESPONSE) by `a` to `b`, and message 2 (CONFIRM) back, around the frames
/// `response_frame` and `confirm_frame` build (each gets the bytes to tag and returns the frame
/// without its tag). Returns the two frames, h after the pre-message and at the end, and the
/// traffic secrets.
/// `s` is the started state (section 4.7 or 4.9).
fn noise_handshake(
    mut s: Noise,
    a: &Node,
    b: &Node,
    (e_i, e_r): ([u8; 32], [u8; 32]),
    psk: &[u8; 32],
    response_frame: impl FnOnce(&[u8; 32], &[u8]) -> Vec<u8>,
    confirm_frame: impl FnOnce(&[u8; 32]) -> Vec<u8>,
) -> Handshake {
    let h0 = s.h;
    let e_i_pub = public(e_i);
    s.mix_hash(&[&e_i_pub]);
    s.mix_key(&e_i_pub);
    s.mix_key(&x25519(e_i, b.static_public));
    let encrypted_static = s.encrypt_and_hash(&a.static_public);
    s.mix_key(&x25519(a.static_secret, b.static_public));
    s.mix_key_and_hash(psk);
    let mut response = response_frame(&e_i_pub, &encrypted_static);
    let tag = s.frame_tag(&response);
    response.extend_from_slice(&tag);
    let e_r_pub = public(e_r);
    s.mix_hash(&[&e_r_pub]);
    s.mix_key(&e_r_pub);
    s.mix_key(&x25519(e_r, e_i_pub));
    s.mix_key(&x25519(e_r, a.static_public));
    let mut confirm = confirm_frame(&e_r_pub);
    let tag = s.frame_tag(&confirm);
    confirm.extend_from_slice(&tag);
    Handshake { response, confirm, h0, h_final: s.h, secrets: s.split() }
}

/// What [`noise_handshake`] gives.
struct Handshake {
    response: Vec<u8>,
    confirm: Vec<u8>,
    /// `h` after the pre-message, and at the end.
    h0: [u8; 32],
    h_final: [u8; 32],
    /// The traffic secrets: initiator to responder, responder to initiator.
    secrets: ([u8; 32], [u8; 32]),
}

/// A frame with its tag left off (the Noise payload token makes it).
fn untagged(ty: u8, session_id: u64, payload: &[u8]) -> Vec<u8> {
    let mut f = frame(ty, session_id, 0, payload, 0, |_| [0; 16]);
    f.truncate(f.len() - 16);
    f
}

/// The two-round-trip exchange of §9's transcript between `a` (initiator, RNG seed `rng_a`) and
/// `b` (`rng_b`), A at 192.0.2.1:1000, B's clock at 1 s, suites [0x01, 0x02].
struct TwoRoundTrips {
    init: Vec<u8>,
    challenge: Vec<u8>,
    response: Vec<u8>,
    confirm: Vec<u8>,
    sid: u64,
    i2r: [u8; 32],
    r2i: [u8; 32],
    /// The generators' keys after the exchange (each rekeyed after its ephemeral secret).
    next_a: [u8; 32],
    next_b: [u8; 32],
}

fn two_round_trips(
    a: &Node,
    b: &Node,
    (k_hs, psk): (&[u8; 32], &[u8; 32]),
    rng_a: [u8; 32],
    rng_b: [u8; 32],
) -> TwoRoundTrips {
    let (ks_a, ks_b) = (keystream(rng_a, 96), keystream(rng_b, 160));
    let (nonce_i, e_i) = (take32(&ks_a, 0), take32(&ks_a, 32));
    let (nonce_r, cookie_secret, e_r) = (take32(&ks_b, 0), take32(&ks_b, 32), take32(&ks_b, 96));
    let tag8 = u64::from_be_bytes(nonce_i[..8].try_into().unwrap());
    let init_payload = [&[0x02][..], &a.node_id, &nonce_i, &[2, 0x01, 0x02], &[0, 0]].concat();
    let init = frame(0x01, tag8, 0, &init_payload, 0, |f| mac16(k_hs, f));
    // A at 192.0.2.1:1000 over UDP, as an IPv4-mapped address; B's clock at 1 s.
    let mut remote = vec![0u8];
    remote.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 0, 2, 1]);
    remote.extend_from_slice(&1000u16.to_be_bytes());
    let cookie_time = 1_000_000_000u64.to_be_bytes();
    let cookie_mac = mac16(
        &cookie_secret,
        &[&b"stt/v2 cookie"[..], &remote, &a.node_id, &nonce_i, &nonce_r, &[0x01], &cookie_time].concat(),
    );
    let challenge_payload =
        [&[0x02][..], &b.static_public, &nonce_i, &nonce_r, &[0x01], &cookie_time, &cookie_mac, &[0, 0]].concat();
    let challenge = frame(0x02, tag8, 0, &challenge_payload, 0, |f| mac16(k_hs, f));
    let sid = u64::from_be_bytes(std::array::from_fn(|i| nonce_i[i] ^ nonce_r[i] ^ a.node_id[i] ^ b.node_id[i]));
    let Handshake { response, confirm, secrets: (i2r, r2i), .. } = noise_handshake(
        Noise::start(0x01, &a.node_id, &nonce_i, &nonce_r, &b.static_public),
        a,
        b,
        (e_i, e_r),
        psk,
        |e, es| {
            let fields =
                [&[0x02][..], &a.node_id, &b.static_public, &nonce_i, &nonce_r, &[0x01], &cookie_time, &cookie_mac];
            let mut payload = [&fields.concat()[..], e, es, &[0; 16], &LABELS_EXT].concat();
            let mut f = untagged(0x03, sid, &payload);
            let seed_mac = mac16(k_hs, &f[..258]);
            payload[234..250].copy_from_slice(&seed_mac);
            f[24..24 + payload.len()].copy_from_slice(&payload);
            f
        },
        |e| untagged(0x04, sid, &[&[0x02][..], e, &LABELS_EXT].concat()),
    );
    let (next_a, next_b) = (take32(&ks_a, 64), take32(&ks_b, 128));
    TwoRoundTrips { init, challenge, response, confirm, sid, i2r, r2i, next_a, next_b }
}

#[test]
fn section_9_vectors_follow_from_the_text() {
    let v = doc_vectors();
    let mut checked = 0;
    let mut check = |name: &str, got: &[u8]| {
        let want = v.get(name).unwrap_or_else(|| panic!("docs/PROTOCOL.md has no vector {name}"));
        assert_eq!(hex(got), hex(want), "{name} does not follow from the text");
        checked += 1;
    };
    let seq = |start: u8| -> [u8; 32] { std::array::from_fn(|i| start + i as u8) };
    let (seed_a, seed_b, shared) = (seq(0x00), seq(0x20), seq(0x40));
    check("node_seed_a", &seed_a);
    check("node_seed_b", &seed_b);
    check("shared_seed", &shared);
    let (a, b) = (node(&seed_a), node(&seed_b));
    check("static_secret_a", &a.static_secret);
    check("static_secret_b", &b.static_secret);
    check("public_key_a", &a.static_public);
    check("public_key_b", &b.static_public);
    check("node_id_a", &a.node_id);
    check("node_id_b", &b.node_id);
    let k_hs = hkdf(b"", &shared, b"stt/v2 handshake");
    let psk = hkdf(b"", &shared, b"stt/v2 psk");
    check("k_hs", &k_hs);
    check("psk", &psk);

    // Section 1 and 3.3.
    check("frame_example", &frame(0x80, 0x0102030405060708, 0x02, b"hello", 7, |_| [0xAA; 16]));
    let mut nonce = [0x22u8; 12];
    for (b, p) in nonce[4..].iter_mut().zip(5u64.to_be_bytes()) {
        *b ^= p;
    }
    let (ct, tag) = seal(&[0x11; 32], nonce, b"aad", b"hello");
    check("aead_aes256gcm", &[ct, tag.to_vec()].concat());
    let chacha = chacha20poly1305::ChaCha20Poly1305::new(&[0x11; 32].into());
    let mut buf = b"hello".to_vec();
    let tag = chacha.encrypt_inout_detached(&nonce.into(), b"aad", buf.as_mut_slice().into()).unwrap();
    check("aead_chacha20poly1305", &[&buf[..], &tag].concat());

    // Section 4.7 on its own: the listed nonces and ephemeral keys, suite 0x01, session id
    // 0x1122334455667788, the payloads only the Noise fields.
    let (nonce_i, nonce_r, e_i, e_r) = (seq(0x60), seq(0x80), seq(0xA0), seq(0xC0));
    check("noise_nonce_i", &nonce_i);
    check("noise_nonce_r", &nonce_r);
    check("noise_ephemeral_secret_i", &e_i);
    check("noise_ephemeral_secret_r", &e_r);
    let sid = 0x1122334455667788;
    let Handshake { response, confirm, h0, h_final, secrets: (i2r, r2i) } = noise_handshake(
        Noise::start(0x01, &a.node_id, &nonce_i, &nonce_r, &b.static_public),
        &a,
        &b,
        (e_i, e_r),
        &psk,
        |e, es| untagged(0x03, sid, &[&e[..], es].concat()),
        |e| untagged(0x04, sid, e),
    );
    check("noise_h0", &h0);
    check("noise_response_ephemeral", &public(e_i));
    check("noise_response_encrypted_static", &response[24 + 32..24 + 80]);
    check("noise_response_frame", &response);
    check("noise_confirm_frame", &confirm);
    check("noise_h_final", &h_final);
    check("schedule_secret_i2r_0", &i2r);
    check("schedule_secret_r2i_0", &r2i);
    check("schedule_key_i2r_0", &expand(&i2r, b"stt/v1 aead key", 32));
    check("schedule_iv_i2r_0", &expand(&i2r, b"stt/v1 aead iv", 12));
    check("schedule_secret_i2r_1", &expand(&i2r, b"stt/v1 key update", 32));

    // The transcript, from the RNG seeds through the generator.
    let t = two_round_trips(&a, &b, (&k_hs, &psk), [0xA0; 32], [0xB0; 32]);
    let (sid, i2r, r2i) = (t.sid, t.i2r, t.r2i);
    check("transcript_init", &t.init);
    check("transcript_challenge", &t.challenge);
    check("transcript_session_id", &sid.to_be_bytes());
    check("transcript_response", &t.response);
    check("transcript_confirm", &t.confirm);
    let first = [sealed_frame(0x80, sid, 0, b"hello", 0, &i2r), sealed_frame(0x14, sid, 0, b"", 1, &i2r)].concat();
    check("transcript_custom_0x80_hello", &first);

    // Section 3.5: the transcript session's exporter, one export, and the initiator's segment key.
    let exporter = hkdf(&[], &[i2r, r2i].concat(), b"stt/v3 exporter");
    let export = |label: &[u8], context: &[u8]| {
        let info = [&b"stt/v3 export"[..], &[label.len() as u8], label, &sha3(&[context])].concat();
        expand(&exporter, &info, 32)
    };
    check("exporter_example", &export(b"example", b"context"));
    let secret = export(b"stt segment", &[0x01]);
    let prk = extract(&[&sid.to_be_bytes()[..], &5u32.to_be_bytes()].concat(), &secret);
    let (key, iv) = (expand(&prk, b"stt/v1 segment key", 32), expand(&prk, b"stt/v1 segment iv", 12));
    let header = [&[0u8][..], &5u32.to_be_bytes(), &0u32.to_be_bytes(), &5u32.to_be_bytes()].concat();
    let (ciphertext, tag) = seal(&key, iv.try_into().unwrap(), &header, b"hello");
    check("segment_from_session", &[&header[..], &ciphertext, &tag].concat());

    // Section 4.9: the one-round-trip transcript. A draws its nonce, then its ephemeral secret;
    // B, at its first INIT of version 3, the key of its nonces, then its ephemeral secret.
    let (ks_a, ks_b) = (keystream([0xA1; 32], 64), keystream([0xB1; 32], 64));
    let (nonce_i, e_i) = (take32(&ks_a, 0), take32(&ks_a, 32));
    let (nonce_key, e_r) = (take32(&ks_b, 0), take32(&ks_b, 32));
    let tag8 = u64::from_be_bytes(nonce_i[..8].try_into().unwrap());
    let nonce_r = hmac(&nonce_key, &[b"stt/v3 responder nonce", &a.node_id, &nonce_i]);
    let sid = u64::from_be_bytes(std::array::from_fn(|i| nonce_i[i] ^ nonce_r[i] ^ a.node_id[i] ^ b.node_id[i]));
    check("fast_transcript_session_id", &sid.to_be_bytes());
    let Handshake { response: init, confirm, secrets: (i2r, _), .. } = noise_handshake(
        Noise::start_fast(0x01, &a.node_id, &nonce_i, &b.static_public),
        &a,
        &b,
        (e_i, e_r),
        &psk,
        |e, es| {
            let fields = [&[0x03][..], &a.node_id, &nonce_i, &[2, 0x01, 0x02], &b.static_public];
            let mut payload = [&fields.concat()[..], e, es, &[0; 16], &LABELS_EXT].concat();
            // seed_mac at payload offset o = 1 + 32 + 32 + 1 + 2 + 32 + 32 + 48 = 180.
            let mut f = untagged(0x01, tag8, &payload);
            let seed_mac = mac16(&k_hs, &f[..24 + 180]);
            payload[180..196].copy_from_slice(&seed_mac);
            f[24..24 + payload.len()].copy_from_slice(&payload);
            f
        },
        |e| untagged(0x04, tag8, &[&[0x03][..], &nonce_r, e, &LABELS_EXT].concat()),
    );
    check("fast_transcript_init", &init);
    check("fast_transcript_confirm", &confirm);
    let first = [sealed_frame(0x80, sid, 0, b"hello", 0, &i2r), sealed_frame(0x14, sid, 0, b"", 1, &i2r)].concat();
    check("fast_transcript_custom_0x80_hello", &first);

    // Section 4.11: resumption. A (RNG seed 0xA2) and B (0xB2) run the two-round-trip exchange;
    // B, when A's first datagram confirms the session, draws its ticket key's secret and seals
    // ticket number 0 for A.
    let t = two_round_trips(&a, &b, (&k_hs, &psk), [0xA2; 32], [0xB2; 32]);
    let ks_b = keystream(t.next_b, 64);
    let ticket_key = hkdf(b"", &take32(&ks_b, 0), b"stt/v4 ticket key");
    let exporter = hkdf(&[], &[t.i2r, t.r2i].concat(), b"stt/v3 exporter");
    let number = 0u64.to_be_bytes();
    let info = [&b"stt/v3 export"[..], &[14], b"stt resumption", &sha3(&[&number])].concat();
    let ticket_secret: [u8; 32] = expand(&exporter, &info, 32).try_into().unwrap();
    check("resumed_ticket_secret", &ticket_secret);
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&number);
    let plaintext = [&a.node_id[..], &ticket_secret, &1_000_000_000u64.to_be_bytes()].concat();
    let (ct, tag) = seal(&ticket_key, nonce, &number, &plaintext);
    let ticket = [&number[..], &ct, &tag].concat();
    let new_ticket = [&7200u32.to_be_bytes()[..], &number, &ticket].concat();
    check("resumed_new_ticket", &sealed_frame(0x1A, t.sid, 0, &new_ticket, 0, &t.r2i));
    // At 2 s A resumes: its nonce and ephemeral secret from its rekeyed generator; B's key of
    // nonces and ephemeral secret from its generator rekeyed after the ticket key.
    let (ks_a, ks_b) = (keystream(t.next_a, 64), keystream(take32(&ks_b, 32), 64));
    let (nonce_i, e_i) = (take32(&ks_a, 0), take32(&ks_a, 32));
    let (nonce_key, e_r) = (take32(&ks_b, 0), take32(&ks_b, 32));
    let tag8 = u64::from_be_bytes(nonce_i[..8].try_into().unwrap());
    let nonce_r = hmac(&nonce_key, &[b"stt/v3 responder nonce", &a.node_id, &nonce_i]);
    let sid = u64::from_be_bytes(std::array::from_fn(|i| nonce_i[i] ^ nonce_r[i] ^ a.node_id[i] ^ b.node_id[i]));
    check("resumed_transcript_session_id", &sid.to_be_bytes());
    let h = sha3(&[b"Noise_NNpsk0_25519_STTAEAD_SHA3-256"]);
    let mut s = Noise { h, ck: h, k: None, n: 0 };
    s.mix_hash(&[&[0x04, 0x01], &a.node_id, &nonce_i]);
    s.mix_key_and_hash(&hkdf(&ticket_secret, &psk, b"stt/v4 resumption psk"));
    let e_i_pub = public(e_i);
    s.mix_hash(&[&e_i_pub]);
    s.mix_key(&e_i_pub);
    let fields = [&[0x04][..], &a.node_id, &nonce_i, &[2, 0x01, 0x02], &e_i_pub, &96u16.to_be_bytes(), &ticket];
    let mut payload = [&fields.concat()[..], &[0; 16], &LABELS_EXT].concat();
    // seed_mac at payload offset o = 1 + 32 + 32 + 1 + 2 + 32 + 2 + 96 = 198.
    let seed_mac = mac16(&k_hs, &untagged(0x01, tag8, &payload)[..24 + 198]);
    payload[198..214].copy_from_slice(&seed_mac);
    let mut init = untagged(0x01, tag8, &payload);
    let tag = s.frame_tag(&init);
    init.extend_from_slice(&tag);
    check("resumed_transcript_init", &init);
    let e_r_pub = public(e_r);
    s.mix_hash(&[&e_r_pub]);
    s.mix_key(&e_r_pub);
    s.mix_key(&x25519(e_r, e_i_pub));
    let mut confirm = untagged(0x04, tag8, &[&[0x04][..], &nonce_r, &e_r_pub, &LABELS_EXT].concat());
    let tag = s.frame_tag(&confirm);
    confirm.extend_from_slice(&tag);
    check("resumed_transcript_confirm", &confirm);
    let (i2r, r2i) = s.split();
    let first = [sealed_frame(0x80, sid, 0, b"hello", 0, &i2r), sealed_frame(0x14, sid, 0, b"", 1, &i2r)].concat();
    check("resumed_transcript_custom_0x80_hello", &first);

    // Section 4.12: 0-RTT data. The resumed session's ticket (number 1) has the secret its
    // exporter gives; from the INIT frame of the datagram alone, the seed's psk and that secret:
    // the Noise state after message 1 (the INIT's tag checks), the early key, and the custom
    // frame behind the INIT.
    let exporter = hkdf(&[], &[i2r, r2i].concat(), b"stt/v3 exporter");
    let info = [&b"stt/v3 export"[..], &[14], b"stt resumption", &sha3(&[&1u64.to_be_bytes()])].concat();
    let ticket_secret: [u8; 32] = expand(&exporter, &info, 32).try_into().unwrap();
    check("early_ticket_secret", &ticket_secret);
    let datagram = v["early_transcript_init_datagram"].clone();
    let plen = u32::from_be_bytes(datagram[20..24].try_into().unwrap()) as usize;
    let init = &datagram[..52 + plen];
    let p = &init[24..24 + plen];
    let (node_id_i, nonce_i, suite) = (&p[1..33], &p[33..65], p[66]);
    let e_i_pub: [u8; 32] = p[66 + p[65] as usize..][..32].try_into().unwrap();
    let tag8 = u64::from_be_bytes(init[3..11].try_into().unwrap());
    let h = sha3(&[b"Noise_NNpsk0_25519_STTAEAD_SHA3-256"]);
    let mut s = Noise { h, ck: h, k: None, n: 0 };
    s.mix_hash(&[&[0x04, suite], node_id_i, nonce_i]);
    s.mix_key_and_hash(&hkdf(&ticket_secret, &psk, b"stt/v4 resumption psk"));
    s.mix_hash(&[&e_i_pub]);
    s.mix_key(&e_i_pub);
    let tag = s.frame_tag(&init[..init.len() - 16]);
    assert_eq!(tag[..], init[init.len() - 16..], "the INIT's tag, under early_ticket_secret");
    let early = hkdf(&s.ck, &s.h, b"stt/v4 early data");
    check("early_transcript_init_datagram", &[init, &sealed_frame(0x80, tag8, 0, b"hello", 0, &early)].concat());

    // Section 10: segments of "hello world", 8 bytes each, stream 5, from secret = the shared
    // seed and session id 0x0102030405060708; then the end marker.
    let prk = extract(&[&0x0102030405060708u64.to_be_bytes()[..], &5u32.to_be_bytes()].concat(), &shared);
    let key = expand(&prk, b"stt/v1 segment key", 32);
    let iv: [u8; 12] = expand(&prk, b"stt/v1 segment iv", 12).try_into().unwrap();
    let segment = |kind: u8, sequence: u32, plaintext: &[u8]| {
        let mut header = vec![kind];
        header.extend_from_slice(&5u32.to_be_bytes());
        header.extend_from_slice(&sequence.to_be_bytes());
        header.extend_from_slice(&(plaintext.len() as u32).to_be_bytes());
        let mut nonce = iv;
        for (b, p) in nonce[4..].iter_mut().zip(u64::from(sequence).to_be_bytes()) {
            *b ^= p;
        }
        let (ct, tag) = seal(&key, nonce, &header, plaintext);
        [header, ct, tag.to_vec()].concat()
    };
    check("segment_0", &segment(0, 0, b"hello wo"));
    check("segment_1", &segment(0, 1, b"rld"));
    check("segment_end", &segment(1, 2, &[&11u64.to_be_bytes()[..], &2u32.to_be_bytes()].concat()));

    // Section 10: the stored blob ("STB2", one chunk).
    let content = b"hello, store";
    let address = sha3(&[content]);
    check("blob_address", &address);
    let storage_key = hkdf(b"", &shared, b"stt/v1 storage");
    let okm = expand(&extract(&address, &storage_key), b"stt/v1 blob", 44);
    let len = (content.len() as u64).to_be_bytes();
    let aad = [&b"STB2"[..], &address, &len].concat();
    let (ct, tag) = seal(&okm[..32], okm[32..44].try_into().unwrap(), &aad, content);
    check("blob_sealed", &[&b"STB2"[..], &len, &ct, &tag].concat());

    // Section 11: named endpoints (payloads before AEAD protection).
    let video = sha3(&[b"video_sink"]);
    check("name_video_sink", &video);
    check("register_payload", &[&2u32.to_be_bytes()[..], &[0, 1, 1], &video].concat());
    check("route_request_payload", &[&[0u8][..], &3u32.to_be_bytes(), &1u32.to_be_bytes(), &video, b"frame"].concat());
    check("route_reply_payload", &[&[1u8][..], &3u32.to_be_bytes(), &[2]].concat());

    // Section 7.1: a labeled STREAM_OPEN (live, 250 ms, "video"), before AEAD protection.
    check("stream_open_labeled_payload", &[&[1u8][..], &250u32.to_be_bytes(), &[5], b"video"].concat());

    assert_eq!(checked, v.len(), "every vector of section 9 is recomputed");
}
