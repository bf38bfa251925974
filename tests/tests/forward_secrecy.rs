//! Forward secrecy: a session is recorded in full and ended; the "attacker" then gets the shared
//! seed and everything that persists on both nodes (their node seeds, hence their static secret
//! keys). It can read the first Noise message (the long-term keys are enough for `es`, `ss` and
//! `se`), but not the traffic: the ephemeral–ephemeral term `ee` is gone with the ephemeral
//! secrets. Neither the version 1 schedule (seed and public transcript) nor the version 2 schedule
//! with any value the attacker can compute in place of `ee` opens a recorded data frame; the same
//! holds for a session opened in one round trip (INIT and CONFIRM of version 3), and for a
//! resumed one (version 4) even when the attacker also holds the resumption ticket's secret.

mod common;

use std::time::Duration;

use common::*;
use stt_proto::crypto::{
    hkdf_expand32, hkdf_extract, node_id_from_public_key, sha3_256, static_key_from_seed, DhSecret, HandshakeKeys,
    TrafficSecret,
};
use stt_proto::wire::handshake::{Confirm, FastConfirm, FastInit, Response, ResumeInit, RESUME_VERSION};
use stt_proto::wire::{self, FrameLayout};
use stt_proto::{CryptoBackend, Suite};

struct Recorded {
    response: Vec<u8>,
    confirm: Vec<u8>,
    /// Encrypted frames from the initiator (type 0x80, the secret payload).
    data: Vec<Vec<u8>>,
}

fn record_a_session() -> Recorded {
    let (mut sim, c, s) = pair(77);
    sim.record();
    let (hc, _) = establish(&mut sim, c, s);
    send_secrets_and_close(&mut sim, c, hc, 0x03)
}

/// The initiator `c` sends the secret three times on `hc` and closes it; returns the recording,
/// with the first frame of type `first_message` as the first Noise message.
fn send_secrets_and_close(
    sim: &mut stt_tests::Sim,
    c: usize,
    hc: stt_proto::SessionHandle,
    first_message: u8,
) -> Recorded {
    for _ in 0..3 {
        send(sim, c, hc, 0x80, b"the secret the attacker wants");
    }
    sim.run_for(Duration::from_millis(200));
    let now = sim.now;
    sim.nodes[c].endpoint.session_mut(hc).unwrap().close(now, 0, "done");
    sim.flush(c);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.nodes[c].endpoint.session_count(), 0, "the session is over");
    let tap = sim.tap.take().unwrap();
    let of_type = |t: u8| tap.iter().filter(|d| d.bytes[2] == t).map(|d| d.bytes.clone()).collect::<Vec<_>>();
    Recorded { response: of_type(first_message).remove(0), confirm: of_type(0x04).remove(0), data: of_type(0x80) }
}

fn layout(frame: &[u8]) -> FrameLayout {
    wire::parse_frame(frame).unwrap()
}

/// True if `secret` (initiator to responder, generation 0) opens any recorded data frame.
fn opens_any(rec: &Recorded, suite: Suite, secret: &TrafficSecret) -> bool {
    let key = secret.packet_key(suite, CryptoBackend::RustCrypto);
    rec.data.iter().any(|f| {
        let l = layout(f);
        let mut payload = f[l.payload.clone()].to_vec();
        key.open(l.packet_number, &l.aad(f), &mut payload, &l.tag).is_ok()
    })
}

/// Everything the attacker can do with the long-term secrets, with `ee` replaced by
/// `ee_guess`: reads RESPONSE (asserting it can), then derives the traffic secrets. Returns
/// whether CONFIRM's tag verified, and the initiator-to-responder secret.
fn attack(
    rec: &Recorded,
    static_i: &DhSecret,
    static_r: &DhSecret,
    psk: &[u8; 32],
    ee_guess: &[u8; 32],
) -> (bool, TrafficSecret) {
    let (mut ss, s_i) =
        noise::read_response(&rec.response, static_r, psk).expect("the long-term keys are enough to read RESPONSE");
    assert_eq!(s_i, static_i.public_key(), "the attacker reads the initiator's static key");

    let cl = layout(&rec.confirm);
    let confirm = Confirm::decode(&rec.confirm[cl.payload.clone()]).unwrap();
    ss.mix_hash(&[&confirm.ephemeral]);
    ss.mix_key(&confirm.ephemeral);
    ss.mix_key(ee_guess);
    ss.mix_key(&*static_i.agree(&confirm.ephemeral).unwrap()); // se: computable from static_i
    let confirmed = noise::open_frame(&rec.confirm, &mut ss);
    (confirmed, ss.split().0)
}

#[test]
fn the_seed_and_both_static_keys_do_not_decrypt_a_recorded_session() {
    let rec = record_a_session();
    assert!(rec.data.len() >= 3);
    // What persists: the shared seed and both node seeds (the sim's nodes 0 and 1 use seed(1), seed(2)).
    let (static_i, static_r) = (static_key_from_seed(&seed(1)), static_key_from_seed(&seed(2)));
    let psk = HandshakeKeys::from_shared_seed(&SHARED).psk;
    let rl = layout(&rec.response);
    let resp = Response::decode(&rec.response[rl.payload.clone()]).unwrap();
    let suite = Suite::from_id(resp.suite).unwrap();
    assert_eq!(resp.node_id_i, node_id_from_public_key(&static_i.public_key()), "the right node seeds");

    // Version 1's schedule: seed and the public transcript.
    let node_id_r = node_id_from_public_key(&resp.static_r);
    let th = sha3_256(&[&[1, suite.id()], &resp.node_id_i, &node_id_r, &resp.nonce_i, &resp.nonce_r]);
    let prk = hkdf_extract(&th, &SHARED);
    let v1 = TrafficSecret(hkdf_expand32(&prk, b"stt/v1 i2r"));
    assert!(!opens_any(&rec, suite, &v1), "the version 1 derivation opens nothing");

    // Version 2 with every Diffie-Hellman value the attacker can compute in place of `ee`.
    let cl = layout(&rec.confirm);
    let e_r = Confirm::decode(&rec.confirm[cl.payload.clone()]).unwrap().ephemeral;
    let publics = [resp.ephemeral, e_r, static_i.public_key(), static_r.public_key()];
    let mut guesses: Vec<[u8; 32]> = vec![[0; 32], psk];
    for secret in [&static_i, &static_r] {
        for p in &publics {
            guesses.push(*secret.agree(p).unwrap());
        }
    }
    for guess in &guesses {
        let (confirmed, i2r) = attack(&rec, &static_i, &static_r, &psk, guess);
        assert!(!confirmed, "a guess for ee passed CONFIRM's tag");
        assert!(!opens_any(&rec, suite, &i2r), "a guess for ee opened recorded traffic");
    }
}

/// The attack code is right: given the real `ee`, it reads CONFIRM and opens the traffic. The
/// ephemeral secrets are chosen here (the endpoints never let theirs out), with frames built as
/// the endpoints build them.
#[test]
fn with_the_ephemeral_secrets_the_same_code_opens_the_traffic() {
    let (static_i, static_r) = (static_key_from_seed(&seed(1)), static_key_from_seed(&seed(2)));
    let psk = HandshakeKeys::from_shared_seed(&SHARED).psk;
    let (e_i, e_r) = (DhSecret::from_bytes([0x61; 32]), DhSecret::from_bytes([0x62; 32]));
    let suite = Suite::ChaCha20Poly1305;
    let node_id_i = node_id_from_public_key(&static_i.public_key());
    let (nonce_i, nonce_r) = ([1u8; 32], [2u8; 32]);
    let start = || noise::start(suite, &node_id_i, &nonce_i, &nonce_r, &static_r.public_key());
    // The initiator writes RESPONSE.
    let mut ini = start();
    let (e_pub, enc) =
        noise::write_response_tokens(&mut ini, &e_i, &static_i.public_key(), &static_i, &static_r.public_key(), &psk);
    let resp = Response {
        node_id_i,
        static_r: static_r.public_key(),
        nonce_i,
        nonce_r,
        suite: suite.id(),
        cookie: stt_proto::wire::handshake::Cookie { time: 0, mac: [0; 16] },
        ephemeral: e_pub,
        encrypted_static: enc,
        seed_mac: [0; 16],
        extensions: &[],
    };
    let response = noise::response_frame(&resp, 9, &HandshakeKeys::from_shared_seed(&SHARED).k_hs, &mut ini);
    // The responder's CONFIRM, written by the same rules (its state read from RESPONSE).
    let (mut res, s_i) = noise::read_response(&response, &static_r, &psk).expect("RESPONSE reads");
    let e_r_pub = noise::write_confirm_tokens(&mut res, &e_r, &e_pub, &s_i);
    let c = Confirm { ephemeral: e_r_pub, extensions: &[] };
    let mut p = vec![0u8; c.len()];
    c.encode(&mut p);
    let confirm = noise::sealed_frame(wire::FrameType::CONFIRM, 9, &p, &mut res);
    let (i2r, _) = res.split();
    // One data frame under i2r, as a session seals it.
    let key = i2r.packet_key(suite, CryptoBackend::RustCrypto);
    let h = wire::Header {
        frame_type: wire::FrameType(0x80),
        session_id: 9,
        stream_id: 0,
        sequence: 0,
        flags: wire::Flags(0),
    };
    let mut data = vec![0u8; wire::frame_len(6)];
    wire::encode_frame(&mut data, &h, b"secret", 0, &[0; 16]).unwrap();
    let l = layout(&data);
    let aad = l.aad(&data);
    let tag = key.seal(0, &aad, &mut data[l.payload.clone()]);
    let n = data.len();
    data[n - 16..].copy_from_slice(&tag);

    let rec = Recorded { response, confirm, data: vec![data] };
    let ee = e_i.agree(&e_r.public_key()).unwrap();
    let (confirmed, secret) = attack(&rec, &static_i, &static_r, &psk, &ee);
    assert!(confirmed, "with the real ee, CONFIRM's tag verifies");
    assert!(opens_any(&rec, suite, &secret), "with the real ee, the traffic opens");
}

/// A session opened in one round trip (the second with the same peer), recorded in full: its INIT
/// of version 3, its CONFIRM of version 3 and the initiator's data frames.
fn record_a_one_round_trip_session() -> Recorded {
    let (mut sim, c, s) = pair(78);
    let (hc, _) = establish(&mut sim, c, s);
    let now = sim.now;
    sim.nodes[c].endpoint.session_mut(hc).unwrap().close(now, 0, "first");
    sim.flush(c);
    sim.run_for(Duration::from_secs(1));
    sim.record();
    let (hc, _) = establish(&mut sim, c, s);
    assert_eq!(sim.nodes[s].endpoint.stats().one_round_trip_accepted, 1, "the second one took one round trip");
    send_secrets_and_close(&mut sim, c, hc, 0x01)
}

#[test]
fn the_seed_and_both_static_keys_do_not_decrypt_a_session_opened_in_one_round_trip() {
    let rec = record_a_one_round_trip_session();
    assert_eq!(rec.response[24], stt_proto::wire::handshake::FAST_VERSION);
    assert!(rec.data.len() >= 3);
    let (static_i, static_r) = (static_key_from_seed(&seed(1)), static_key_from_seed(&seed(2)));
    let psk = HandshakeKeys::from_shared_seed(&SHARED).psk;
    let cl = layout(&rec.confirm);
    let e_r = FastConfirm::decode(&rec.confirm[cl.payload.clone()]).unwrap().ephemeral;
    let (_, s_i) = noise::read_fast_init(&rec.response, &static_r, &psk).expect("the long-term keys read INIT");
    assert_eq!(s_i, static_i.public_key());
    let il = layout(&rec.response);
    let init = FastInit::decode(&rec.response[il.payload.clone()]).unwrap();
    let suite = Suite::from_id(init.suites[0]).unwrap();
    let publics = [init.ephemeral, e_r, static_i.public_key(), static_r.public_key()];
    let mut guesses: Vec<[u8; 32]> = vec![[0; 32], psk];
    for secret in [&static_i, &static_r] {
        for p in &publics {
            guesses.push(*secret.agree(p).unwrap());
        }
    }
    let attack = |ee_guess: &[u8; 32]| {
        let (mut ss, _) = noise::read_fast_init(&rec.response, &static_r, &psk).unwrap();
        ss.mix_hash(&[&e_r]);
        ss.mix_key(&e_r);
        ss.mix_key(ee_guess);
        ss.mix_key(&*static_i.agree(&e_r).unwrap());
        (noise::open_frame(&rec.confirm, &mut ss), ss.split().0)
    };
    for guess in &guesses {
        let (confirmed, i2r) = attack(guess);
        assert!(!confirmed, "a guess for ee passed CONFIRM's tag");
        assert!(!opens_any(&rec, suite, &i2r), "a guess for ee opened recorded traffic");
    }
}

/// A resumed session (the second with the same peer, with the ticket the first gave), recorded
/// in full, and the ticket's secret (as the initiator's saved ticket holds it).
fn record_a_resumed_session() -> (Recorded, [u8; 32]) {
    let mut cfg = config();
    cfg.resumption = true;
    let mut sim = stt_tests::Sim::new(79);
    let c = sim.add_node(cfg.clone(), seed(1));
    let s = sim.add_node(cfg, seed(2));
    let (hc, _) = establish(&mut sim, c, s);
    assert!(sim.run_until(Duration::from_secs(5), |sim| sim.nodes[c].endpoint.stats().tickets_received == 1));
    let now = sim.now;
    let saved = sim.nodes[c].endpoint.saved_tickets(now).remove(0).to_bytes();
    let ticket_secret: [u8; 32] = saved[41..73].try_into().unwrap();
    sim.nodes[c].endpoint.session_mut(hc).unwrap().close(now, 0, "first");
    sim.flush(c);
    sim.run_for(Duration::from_secs(1));
    sim.record();
    let (hc, _) = establish(&mut sim, c, s);
    assert_eq!(sim.nodes[s].endpoint.stats().sessions_resumed, 1, "the second one resumed");
    (send_secrets_and_close(&mut sim, c, hc, 0x01), ticket_secret)
}

#[test]
fn the_seed_both_static_keys_and_the_ticket_do_not_decrypt_a_resumed_session() {
    let (rec, ticket_secret) = record_a_resumed_session();
    assert_eq!(rec.response[24], RESUME_VERSION);
    assert!(rec.data.len() >= 3);
    let (static_i, static_r) = (static_key_from_seed(&seed(1)), static_key_from_seed(&seed(2)));
    let psk = HandshakeKeys::from_shared_seed(&SHARED).psk;
    let il = layout(&rec.response);
    let init = ResumeInit::decode(&rec.response[il.payload.clone()]).unwrap();
    let suite = Suite::from_id(init.suites[0]).unwrap();
    let cl = layout(&rec.confirm);
    let e_r = FastConfirm::decode(&rec.confirm[cl.payload.clone()]).unwrap().ephemeral;
    // With the ticket's secret and the seed, the attacker reads INIT (its tag verifies: the
    // attack code derives what the endpoints derive)...
    let read_init = || {
        let mut ss = noise::resume_start(suite, &init.node_id_i, &init.nonce_i, &ticket_secret, &psk);
        noise::mix_e(&mut ss, &init.ephemeral);
        assert!(noise::open_frame(&rec.response, &mut ss), "the ticket's secret reads INIT");
        ss
    };
    read_init();
    // ...but without `ee` nothing after it: no value it can compute passes CONFIRM's tag or opens
    // the traffic.
    let publics = [init.ephemeral, e_r, static_i.public_key(), static_r.public_key()];
    let mut guesses: Vec<[u8; 32]> = vec![[0; 32], psk, ticket_secret];
    for secret in [&static_i, &static_r] {
        for p in &publics {
            guesses.push(*secret.agree(p).unwrap());
        }
    }
    for guess in &guesses {
        let mut ss = read_init();
        noise::mix_e(&mut ss, &e_r);
        ss.mix_key(guess);
        assert!(!noise::open_frame(&rec.confirm, &mut ss), "a guess for ee passed CONFIRM's tag");
        assert!(!opens_any(&rec, suite, &ss.split().0), "a guess for ee opened recorded traffic");
    }
}
