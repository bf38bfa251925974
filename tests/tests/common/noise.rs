//! The handshake's Noise part written by hand from `docs/PROTOCOL.md` §4.7, with the public
//! pieces only: the tests that play a peer (honest or not) or an attacker build on these.

use stt_proto::crypto::noise::SymmetricState;
use stt_proto::crypto::DhSecret;
use stt_proto::wire::handshake::{Response, VERSION};
use stt_proto::wire::{self, Flags, FrameType, Header};
use stt_proto::{CryptoBackend, Suite};

/// The state both sides start from: the prologue, then the responder's static key.
pub fn start(
    suite: Suite,
    node_id_i: &[u8; 32],
    nonce_i: &[u8; 32],
    nonce_r: &[u8; 32],
    static_r: &[u8; 32],
) -> SymmetricState {
    let mut ss =
        SymmetricState::new(suite, CryptoBackend::RustCrypto, &[&[VERSION, suite.id()], node_id_i, nonce_i, nonce_r]);
    ss.mix_hash(&[static_r]);
    ss
}

/// A handshake frame (stream 0, sequence 0, no flags, packet number 0) whose tag is
/// `tag(frame without its tag)`.
pub fn frame(ty: FrameType, session_id: u64, payload: &[u8], tag: impl FnOnce(&[u8]) -> [u8; 16]) -> Vec<u8> {
    let header = Header { frame_type: ty, session_id, stream_id: 0, sequence: 0, flags: Flags(0) };
    let mut buf = vec![0u8; wire::frame_len(payload.len())];
    wire::encode_frame(&mut buf, &header, payload, 0, &[0; 16]).unwrap();
    let n = buf.len();
    let t = tag(&buf[..n - 16]);
    buf[n - 16..].copy_from_slice(&t);
    buf
}

/// A RESPONSE or CONFIRM frame: its tag is the Noise payload tag over the frame.
pub fn sealed_frame(ty: FrameType, session_id: u64, payload: &[u8], ss: &mut SymmetricState) -> Vec<u8> {
    frame(ty, session_id, payload, |m| {
        ss.mix_hash(&[m]);
        ss.encrypt_and_hash(&mut [])
    })
}

/// Checks a RESPONSE's or CONFIRM's tag against `ss`.
pub fn open_frame(f: &[u8], ss: &mut SymmetricState) -> bool {
    let layout = wire::parse_frame(f).unwrap();
    ss.mix_hash(&[layout.mac_input(f)]);
    ss.decrypt_and_hash(&mut [], &layout.tag).is_ok()
}

/// The initiator's RESPONSE tokens `e, es, s, ss, psk`: shows `shown_static` as its static key
/// and uses `ss_secret` for the `ss` term (an honest initiator passes its own key pair for
/// both). Returns `e`'s public key and the encrypted static key (48 bytes).
pub fn write_response_tokens(
    ss: &mut SymmetricState,
    e: &DhSecret,
    shown_static: &[u8; 32],
    ss_secret: &DhSecret,
    static_r: &[u8; 32],
    psk: &[u8; 32],
) -> ([u8; 32], [u8; 48]) {
    write_response_tokens_with_ss(ss, e, shown_static, &ss_secret.agree(static_r).unwrap(), static_r, psk)
}

/// [`write_response_tokens`] with the `ss` term given: whoever computes it, the initiator with
/// its static secret, or (key-compromise impersonation) someone with the responder's.
pub fn write_response_tokens_with_ss(
    ss: &mut SymmetricState,
    e: &DhSecret,
    shown_static: &[u8; 32],
    ss_value: &[u8; 32],
    static_r: &[u8; 32],
    psk: &[u8; 32],
) -> ([u8; 32], [u8; 48]) {
    let e_pub = e.public_key();
    ss.mix_hash(&[&e_pub]);
    ss.mix_key(&e_pub);
    ss.mix_key(&*e.agree(static_r).unwrap());
    let mut encrypted = [0u8; 48];
    encrypted[..32].copy_from_slice(shown_static);
    let tag = ss.encrypt_and_hash(&mut encrypted[..32]);
    encrypted[32..].copy_from_slice(&tag);
    ss.mix_key(ss_value);
    ss.mix_key_and_hash(psk);
    (e_pub, encrypted)
}

/// The responder's reading of a RESPONSE frame with its static secret key: the state from the
/// prologue through the payload tag. Returns the state and the initiator's static key, or `None`
/// if the encrypted static key or the tag does not verify.
pub fn read_response(frame: &[u8], static_r: &DhSecret, psk: &[u8; 32]) -> Option<(SymmetricState, [u8; 32])> {
    let layout = wire::parse_frame(frame).unwrap();
    let resp = Response::decode(&frame[layout.payload]).unwrap();
    let suite = Suite::from_id(resp.suite).unwrap();
    let mut ss = start(suite, &resp.node_id_i, &resp.nonce_i, &resp.nonce_r, &resp.static_r);
    ss.mix_hash(&[&resp.ephemeral]);
    ss.mix_key(&resp.ephemeral);
    ss.mix_key(&*static_r.agree(&resp.ephemeral).ok()?);
    let mut s_i: [u8; 32] = resp.encrypted_static[..32].try_into().unwrap();
    ss.decrypt_and_hash(&mut s_i, resp.encrypted_static[32..].try_into().unwrap()).ok()?;
    ss.mix_key(&*static_r.agree(&s_i).ok()?);
    ss.mix_key_and_hash(psk);
    open_frame(frame, &mut ss).then_some((ss, s_i))
}

/// A RESPONSE frame as §4.4 builds it: the payload with `seed_mac = MAC16(k_hs, frame[..258])`,
/// then Noise message 1's payload tag over the frame.
pub fn response_frame(resp: &Response<'_>, session_id: u64, k_hs: &[u8; 32], ss: &mut SymmetricState) -> Vec<u8> {
    let mut payload = vec![0u8; resp.len()];
    resp.encode(&mut payload);
    let mut f = frame(FrameType::RESPONSE, session_id, &payload, |_| [0; 16]);
    let at = 24 + Response::SEED_MAC_OFFSET;
    let mac = stt_proto::crypto::mac16(k_hs, &[&f[..at]]);
    f[at..at + 16].copy_from_slice(&mac);
    let n = f.len();
    ss.mix_hash(&[&f[..n - 16]]);
    let tag = ss.encrypt_and_hash(&mut []);
    f[n - 16..].copy_from_slice(&tag);
    f
}

/// The responder's CONFIRM tokens `e, ee, se` with ephemeral `e`, the initiator's ephemeral
/// public key `e_i` and static public key `s_i`. Returns `e`'s public key.
pub fn write_confirm_tokens(ss: &mut SymmetricState, e: &DhSecret, e_i: &[u8; 32], s_i: &[u8; 32]) -> [u8; 32] {
    let e_pub = e.public_key();
    ss.mix_hash(&[&e_pub]);
    ss.mix_key(&e_pub);
    ss.mix_key(&*e.agree(e_i).unwrap());
    ss.mix_key(&*e.agree(s_i).unwrap());
    e_pub
}

/// The responder's reading of an INIT of version 3 (§4.9) with its static secret key, as
/// [`read_response`] does for RESPONSE. Returns the state and the initiator's static key.
pub fn read_fast_init(frame: &[u8], static_r: &DhSecret, psk: &[u8; 32]) -> Option<(SymmetricState, [u8; 32])> {
    let layout = wire::parse_frame(frame).unwrap();
    let init = stt_proto::wire::handshake::FastInit::decode(&frame[layout.payload]).unwrap();
    let suite = Suite::from_id(init.suites[0]).unwrap();
    let prologue: [&[u8]; 3] =
        [&[stt_proto::wire::handshake::FAST_VERSION, suite.id()], &init.node_id_i, &init.nonce_i];
    let mut ss = SymmetricState::new(suite, CryptoBackend::RustCrypto, &prologue);
    ss.mix_hash(&[&init.static_r]);
    ss.mix_hash(&[&init.ephemeral]);
    ss.mix_key(&init.ephemeral);
    ss.mix_key(&*static_r.agree(&init.ephemeral).ok()?);
    let mut s_i: [u8; 32] = init.encrypted_static[..32].try_into().unwrap();
    ss.decrypt_and_hash(&mut s_i, init.encrypted_static[32..].try_into().unwrap()).ok()?;
    ss.mix_key(&*static_r.agree(&s_i).ok()?);
    ss.mix_key_and_hash(psk);
    open_frame(frame, &mut ss).then_some((ss, s_i))
}

/// The resumed handshake's state before its first message (`docs/PROTOCOL.md` §4.11): the
/// prologue of version 4, then `psk = HKDF(ticket_secret, seed_psk, "stt/v4 resumption psk")`.
#[allow(dead_code)]
pub fn resume_start(
    suite: Suite,
    node_id_i: &[u8; 32],
    nonce_i: &[u8; 32],
    ticket_secret: &[u8; 32],
    seed_psk: &[u8; 32],
) -> SymmetricState {
    use stt_proto::crypto::noise::RESUME_PROTOCOL_NAME;
    use stt_proto::wire::handshake::RESUME_VERSION;
    let prologue: [&[u8]; 3] = [&[RESUME_VERSION, suite.id()], node_id_i, nonce_i];
    let mut ss = SymmetricState::with_protocol(RESUME_PROTOCOL_NAME, suite, CryptoBackend::RustCrypto, &prologue);
    let mut psk = [0u8; 32];
    stt_proto::crypto::hkdf(ticket_secret, seed_psk, b"stt/v4 resumption psk", &mut psk);
    ss.mix_key_and_hash(&psk);
    ss
}

/// `e` as read (or written) in a pattern with a psk: hashed, and mixed into the key.
#[allow(dead_code)]
pub fn mix_e(ss: &mut SymmetricState, e: &[u8; 32]) {
    ss.mix_hash(&[e]);
    ss.mix_key(e);
}
