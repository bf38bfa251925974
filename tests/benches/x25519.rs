//! X25519 candidates side by side, in one process: the Diffie-Hellman a handshake does with a
//! peer's public key (variable base), and the key generation of an ephemeral key (fixed base).
//!
//! - `x25519-dalek`: the Montgomery ladder for Diffie-Hellman (what `stt-proto` uses without
//!   AVX2), the precomputed Edwards basepoint table for key generation.
//! - `curve25519-dalek`, Edwards form: the peer's point converted to Edwards coordinates,
//!   multiplied by the clamped scalar with the crate's best backend for this CPU (AVX2 where
//!   present), converted back. Same result for every valid public key (checked below); a point on
//!   the twist has no Edwards form (`stt-proto` takes the ladder for it).
//! - `ring` (for scale only: it takes no static key, so the core cannot use it for `es`/`ss`):
//!   an ephemeral key generated and agreed with a peer's public key.
//!
//! `cargo bench -p stt-tests --bench x25519` prints min / median / max of the time per operation
//! over 9 runs of 2,000 operations each.

use std::hint::black_box;
use std::time::Instant;

use curve25519_dalek::montgomery::MontgomeryPoint;
use ring_direct::agreement;
use ring_direct::rand::SystemRandom;

const OPS: usize = 2_000;
const RUNS: usize = 9;

/// Microseconds per operation of `f`, min / median / max over the runs.
fn measure(mut f: impl FnMut(usize)) -> [f64; 3] {
    let mut per_op: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..OPS {
                f(i);
            }
            start.elapsed().as_secs_f64() * 1e6 / OPS as f64
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    [per_op[0], per_op[RUNS / 2], per_op[RUNS - 1]]
}

/// Diffie-Hellman through the Edwards form: `None` for a point with no Edwards form (the twist).
fn edwards_dh(secret: [u8; 32], peer: [u8; 32]) -> Option<[u8; 32]> {
    let point = MontgomeryPoint(peer).to_edwards(0)?;
    Some(point.mul_clamped(secret).to_montgomery().to_bytes())
}

fn main() {
    // Fixed keys: a secret per operation index, and peers' public keys made from them.
    let secrets: Vec<[u8; 32]> =
        (0..64u8).map(|i| core::array::from_fn(|j| i.wrapping_mul(31) ^ j as u8 ^ 0x5a)).collect();
    let publics: Vec<[u8; 32]> = secrets
        .iter()
        .map(|s| x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*s)).to_bytes())
        .collect();
    for (i, s) in secrets.iter().enumerate() {
        let peer = publics[(i + 1) % publics.len()];
        let ladder =
            x25519_dalek::StaticSecret::from(*s).diffie_hellman(&x25519_dalek::PublicKey::from(peer)).to_bytes();
        assert_eq!(edwards_dh(*s, peer), Some(ladder), "the Edwards form computes the same shared secret");
    }
    let pick = |i: usize| (secrets[i % 64], publics[(i + 7) % 64]);

    let rows: Vec<(&str, [f64; 3])> = vec![
        (
            "x25519-dalek Diffie-Hellman (Montgomery ladder: stt-proto without AVX2 and on other targets)",
            measure(|i| {
                let (s, p) = pick(i);
                let secret = x25519_dalek::StaticSecret::from(s);
                black_box(secret.diffie_hellman(&x25519_dalek::PublicKey::from(p)));
            }),
        ),
        (
            "curve25519-dalek Diffie-Hellman through the Edwards form (stt-proto on x86-64 with AVX2)",
            measure(|i| {
                let (s, p) = pick(i);
                black_box(edwards_dh(s, p));
            }),
        ),
        (
            "x25519-dalek key generation (basepoint table)",
            measure(|i| {
                let (s, _) = pick(i);
                black_box(x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(s)));
            }),
        ),
        ("ring: ephemeral key generation plus agreement (for scale only)", {
            let rng = SystemRandom::new();
            measure(|i| {
                let (_, p) = pick(i);
                let key = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng).unwrap();
                let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, p);
                black_box(agreement::agree_ephemeral(key, &peer, |k| k[0]).unwrap());
            })
        }),
    ];
    println!("| operation | min µs | median µs | max µs |");
    println!("|---|---|---|---|");
    for (name, [min, med, max]) in rows {
        println!("| {name} | {min:.1} | {med:.1} | {max:.1} |");
    }
}
