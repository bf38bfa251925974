//! X25519 Diffie–Hellman (RFC 7748) through `x25519-dalek`: secret keys, public keys and shared
//! secrets, with low-order peer keys refused.
//!
//! One implementation on every target: `ring`'s X25519 offers only single-use ephemeral keys and
//! cannot hold a static identity key or use one ephemeral key twice, which the handshake pattern
//! needs. A test checks that both agree on the same shared secret where `ring` can take part.

use zeroize::Zeroizing;

use super::KEY_LEN;

/// Length of an X25519 public key, secret key and shared secret, in bytes.
pub const DH_LEN: usize = 32;

/// An X25519 secret key (static identity key or handshake ephemeral). Erased when dropped.
#[derive(Clone)]
pub struct DhSecret(x25519_dalek::StaticSecret);

/// The peer's public key is a low-order point: the shared secret would not depend on our secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LowOrderPoint;

impl core::fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DhSecret(..)")
    }
}

impl DhSecret {
    /// A secret key from 32 bytes (clamped by X25519 when used).
    pub fn from_bytes(bytes: [u8; DH_LEN]) -> DhSecret {
        DhSecret(x25519_dalek::StaticSecret::from(bytes))
    }

    /// The 32 bytes this key was made from.
    pub fn to_bytes(&self) -> Zeroizing<[u8; DH_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> [u8; DH_LEN] {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }

    /// X25519(self, peer): the shared secret, or an error if `peer` is a low-order point.
    pub fn agree(&self, peer: &[u8; DH_LEN]) -> Result<Zeroizing<[u8; KEY_LEN]>, LowOrderPoint> {
        let shared = self.0.diffie_hellman(&x25519_dalek::PublicKey::from(*peer));
        if !shared.was_contributory() {
            return Err(LowOrderPoint);
        }
        Ok(Zeroizing::new(shared.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> [u8; 32] {
        core::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
    }

    /// RFC 7748 §6.1: Alice's and Bob's key pairs and their shared secret.
    #[test]
    fn rfc7748_diffie_hellman_vector() {
        let alice = DhSecret::from_bytes(unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
        let bob = DhSecret::from_bytes(unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
        assert_eq!(alice.public_key(), unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
        assert_eq!(bob.public_key(), unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
        let shared = unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(*alice.agree(&bob.public_key()).unwrap(), shared);
        assert_eq!(*bob.agree(&alice.public_key()).unwrap(), shared);
    }

    #[test]
    fn low_order_points_are_refused() {
        let a = DhSecret::from_bytes([7; 32]);
        assert_eq!(a.agree(&[0; 32]), Err(LowOrderPoint));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(a.agree(&one), Err(LowOrderPoint));
    }

    /// `ring` can take part only with single-use ephemeral keys; where it can, it agrees with
    /// `x25519-dalek` byte for byte.
    #[cfg(feature = "ring")]
    #[test]
    fn ring_and_dalek_agree() {
        use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, X25519};
        let rng = ring::rand::SystemRandom::new();
        for i in 0..16u8 {
            let ours = DhSecret::from_bytes([i.wrapping_mul(37).wrapping_add(1); 32]);
            let theirs = EphemeralPrivateKey::generate(&X25519, &rng).unwrap();
            let their_public: [u8; 32] = theirs.compute_public_key().unwrap().as_ref().try_into().unwrap();
            let by_ring = agree_ephemeral(theirs, &UnparsedPublicKey::new(&X25519, ours.public_key()), |k| {
                <[u8; 32]>::try_from(k).unwrap()
            })
            .unwrap();
            assert_eq!(*ours.agree(&their_public).unwrap(), by_ring);
        }
    }
}
