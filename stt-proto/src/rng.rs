//! The core's randomness: one 32-byte seed from the driver, expanded with ChaCha20.
//!
//! Same seed and same inputs give the same outputs, byte for byte. The core never asks the OS.

use chacha20::rand_core::{Rng as _, SeedableRng};
use chacha20::ChaCha20Rng;

/// A CSPRNG seeded once by the driver.
pub(crate) struct Rng(ChaCha20Rng);

impl core::fmt::Debug for Rng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Rng(..)")
    }
}

impl Rng {
    /// A generator from a 32-byte seed.
    pub(crate) fn from_seed(seed: [u8; 32]) -> Self {
        Rng(ChaCha20Rng::from_seed(seed))
    }

    /// Fills `out` with random bytes.
    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        self.0.fill_bytes(out);
    }

    /// 32 random bytes for a secret that must not be recoverable from this generator later (a
    /// handshake's ephemeral key): after the draw the generator rekeys itself from its own output
    /// and its old state is erased ("fast key erasure"), so a copy of its state taken later does
    /// not give earlier secrets.
    pub(crate) fn secret32(&mut self) -> zeroize::Zeroizing<[u8; 32]> {
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        self.fill(&mut *out);
        let mut next = zeroize::Zeroizing::new([0u8; 32]);
        self.fill(&mut *next);
        // The old generator is dropped here, and erased (chacha20's `zeroize` feature).
        self.0 = ChaCha20Rng::from_seed(*next);
        out
    }

    /// 32 random bytes.
    pub(crate) fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.fill(&mut b);
        b
    }
}
