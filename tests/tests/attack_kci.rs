//! Key-compromise impersonation. An attacker who holds the shared seed and the responder's
//! static secret key (not the initiator's) can make a RESPONSE in any allowed initiator's name:
//! that is the known property of the first message of the IK pattern, since its `ss` term is
//! the same from either end. Before the fix the responder reported `SessionEstablished` with
//! the victim's node id as soon as such a RESPONSE checked out, and counted it against the
//! victim's per-peer limit: 256 forged sessions locked the honest node out (`source_limit`).
//!
//! Now such a session stays half-open: unreported, not counted against its peer, nothing
//! delivered, gone after the handshake timeout, because the attacker cannot produce the
//! initiator's first authentic frame (its keys need `se`, which needs the initiator's static
//! secret or the responder's ephemeral one).

mod common;

use bytes::BytesMut;
use common::noise;
use stt_proto::crypto::{node_id_from_public_key, static_key_from_seed, DhSecret, HandshakeKeys};
use stt_proto::wire::handshake::{Challenge, Init, Response};
use stt_proto::wire::{self, FrameType};
use stt_proto::{CryptoBackend, Endpoint, EndpointConfig, Event, Identity, Instant, NodeId, Remote, Seed, Suite};

const SHARED: [u8; 32] = [0x40; 32];
const RESPONDER_SEED: [u8; 32] = [0x01; 32];
const VICTIM_SEED: [u8; 32] = [0x0A; 32];

fn at(ms: u64) -> Instant {
    Instant::from_nanos(1_000_000_000 + ms * 1_000_000)
}

fn config() -> EndpointConfig {
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(&SHARED).unwrap());
    cfg.suites = vec![Suite::ChaCha20Poly1305];
    cfg.crypto_backend = CryptoBackend::RustCrypto;
    cfg
}

fn drain(ep: &mut Endpoint, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(t) = ep.poll_transmit(now, 1, &mut buf) {
        out.push(buf[..t.len].to_vec());
    }
    out
}

/// One forged handshake in the victim's name from `from`, with the responder's static secret
/// standing in for the victim's in the `ss` term. True if the responder made a session of it.
fn impersonate(responder: &mut Endpoint, victim: &Identity, responder_secret: &DhSecret, n: u8, from: Remote) -> bool {
    let keys = HandshakeKeys::from_shared_seed(&SHARED);
    let nonce_i = [n; 32];
    let init =
        Init { node_id: victim.node_id().0, nonce: nonce_i, suites: &[Suite::ChaCha20Poly1305.id()], extensions: &[] };
    let mut p = vec![0u8; init.len()];
    init.encode(&mut p);
    let tag8 = u64::from_be_bytes(nonce_i[..8].try_into().unwrap());
    let init_frame = noise::frame(FrameType::INIT, tag8, &p, |m| stt_proto::crypto::mac16(&keys.k_hs, &[m]));
    responder.handle_datagram(at(0), from, BytesMut::from(&init_frame[..]));
    let replies = drain(responder, at(0));
    let layout = wire::parse_frame(&replies[0]).unwrap();
    let ch = Challenge::decode(&replies[0][layout.payload]).unwrap();
    let node_id_r = node_id_from_public_key(&ch.static_key);
    let sid =
        u64::from_be_bytes(std::array::from_fn(|i| nonce_i[i] ^ ch.nonce_r[i] ^ victim.node_id().0[i] ^ node_id_r[i]));
    let mut ss = noise::start(Suite::ChaCha20Poly1305, &victim.node_id().0, &nonce_i, &ch.nonce_r, &ch.static_key);
    let e = DhSecret::from_bytes([n ^ 0x5A; 32]);
    // ss = DH(s_r, s_i): computed with the responder's secret and the victim's public key.
    let ss_value = responder_secret.agree(&victim.public_key()).unwrap();
    let (e_pub, encrypted_static) =
        noise::write_response_tokens_with_ss(&mut ss, &e, &victim.public_key(), &ss_value, &ch.static_key, &keys.psk);
    let resp = Response {
        node_id_i: victim.node_id().0,
        static_r: ch.static_key,
        nonce_i,
        nonce_r: ch.nonce_r,
        suite: ch.suite,
        cookie: ch.cookie,
        ephemeral: e_pub,
        encrypted_static,
        seed_mac: [0; 16],
        extensions: &[],
    };
    let resp_frame = noise::response_frame(&resp, sid, &keys.k_hs, &mut ss);
    let before = responder.session_count();
    responder.handle_datagram(at(0), from, BytesMut::from(&resp_frame[..]));
    drain(responder, at(0));
    responder.session_count() > before
}

fn established(ep: &mut Endpoint) -> Vec<NodeId> {
    std::iter::from_fn(|| ep.poll_event())
        .filter_map(|e| match e {
            Event::SessionEstablished { peer, .. } => Some(peer),
            Event::SessionClosed { .. } => panic!("a session the application never saw was reported closed"),
            _ => None,
        })
        .collect()
}

#[test]
fn forged_sessions_in_a_victims_name_are_never_reported_and_do_not_lock_it_out() {
    let victim = Identity::from_seed_bytes(&VICTIM_SEED).unwrap();
    let responder_secret = static_key_from_seed(&RESPONDER_SEED);
    let mut cfg = config();
    cfg.allow_list = Some([victim.node_id()].into_iter().collect());
    cfg.max_sessions_per_peer = 4;
    cfg.max_sessions_per_address = 64;
    let mut responder = Endpoint::new(cfg, Identity::from_seed_bytes(&RESPONDER_SEED).unwrap(), [9; 32]).unwrap();
    let attacker = Remote::udp("192.0.2.66:6666".parse().unwrap());

    // Twice the per-peer limit: every forged RESPONSE checks out and makes a session...
    for n in 0..8 {
        assert!(impersonate(&mut responder, &victim, &responder_secret, 0x20 + n, attacker), "forgery {n}");
    }
    assert_eq!(responder.session_count(), 8);
    // ...that the application never hears of and cannot reach.
    assert!(established(&mut responder).is_empty(), "a forged session was reported");
    assert_eq!(responder.sessions().count(), 0);
    assert_eq!(responder.stats().sessions_established, 0);

    // The honest node connects while the forgeries are held, and both ends report the session.
    let mut honest = Endpoint::new(config(), victim.clone(), [7; 32]).unwrap();
    let (h_addr, r_addr) =
        (Remote::udp("192.0.2.10:1".parse().unwrap()), Remote::udp("192.0.2.1:7400".parse().unwrap()));
    let handle = honest.connect(at(1), r_addr).unwrap();
    let mut buf = vec![0u8; 2048];
    for _ in 0..8 {
        while let Some(t) = honest.poll_transmit(at(1), 1, &mut buf) {
            responder.handle_datagram(at(1), h_addr, BytesMut::from(&buf[..t.len]));
        }
        while let Some(t) = responder.poll_transmit(at(1), 1, &mut buf) {
            honest.handle_datagram(at(1), r_addr, BytesMut::from(&buf[..t.len]));
        }
    }
    assert_eq!(established(&mut honest), vec![NodeId(node_id_from_public_key(&responder_secret.public_key()))]);
    assert_eq!(established(&mut responder), vec![victim.node_id()], "the honest node got its session");
    assert!(honest.session(handle).is_some());

    // The forgeries expire after the handshake timeout, silently; the honest session stays.
    responder.handle_timeout(at(11_000));
    assert_eq!(responder.stats().half_open_expired, 8);
    assert_eq!(responder.session_count(), 1);
    assert_eq!(responder.sessions().count(), 1);
    assert!(established(&mut responder).is_empty());
}
