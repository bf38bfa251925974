//! Sliding replay window over packet numbers.
//!
//! Remembers the highest packet number accepted and a 2048-bit bitmap of the ones below it.
//! A packet number is fresh if it is above the highest, or inside the window and not yet seen.
//! Check with [`ReplayWindow::is_fresh`] before decrypting; [`ReplayWindow::accept`] only after the
//! frame authenticated, so forged frames cannot move the window.

/// Width of the window in packet numbers.
pub(super) const REPLAY_WINDOW_BITS: u64 = 2048;
const WORDS: usize = (REPLAY_WINDOW_BITS / 64) as usize;

/// Replay window for one direction of one session.
#[derive(Clone, Debug)]
pub(crate) struct ReplayWindow {
    /// Highest accepted packet number plus one; 0 when nothing was accepted yet.
    top: u64,
    bits: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// An empty window: every packet number is fresh.
    pub(crate) const fn new() -> Self {
        ReplayWindow { top: 0, bits: [0; WORDS] }
    }

    /// Highest packet number accepted so far.
    pub(crate) fn highest(&self) -> Option<u64> {
        self.top.checked_sub(1)
    }

    fn slot(pn: u64) -> (usize, u64) {
        let i = pn % REPLAY_WINDOW_BITS;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// True if `pn` was never accepted and is not older than the window.
    pub(crate) fn is_fresh(&self, pn: u64) -> bool {
        if pn >= self.top {
            return pn != u64::MAX;
        }
        if self.top - pn > REPLAY_WINDOW_BITS {
            return false;
        }
        let (w, m) = Self::slot(pn);
        self.bits[w] & m == 0
    }

    /// Records `pn` as seen. Call only for a fresh, authenticated packet number.
    pub(crate) fn accept(&mut self, pn: u64) {
        if pn >= self.top {
            let advance = pn + 1 - self.top;
            if advance >= REPLAY_WINDOW_BITS {
                self.bits = [0; WORDS];
            } else {
                for n in self.top..=pn {
                    let (w, m) = Self::slot(n);
                    self.bits[w] &= !m;
                }
            }
            self.top = pn + 1;
        }
        let (w, m) = Self::slot(pn);
        self.bits[w] |= m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_stale_are_rejected() {
        let mut w = ReplayWindow::new();
        assert!(w.is_fresh(0));
        w.accept(0);
        assert!(!w.is_fresh(0));
        w.accept(5);
        assert!(w.is_fresh(3));
        w.accept(3);
        assert!(!w.is_fresh(3));
        w.accept(5000);
        assert!(!w.is_fresh(5000 - REPLAY_WINDOW_BITS - 1));
        assert!(w.is_fresh(5000 - REPLAY_WINDOW_BITS + 1));
        assert!(!w.is_fresh(5));
        assert_eq!(w.highest(), Some(5000));
    }

    #[test]
    fn slots_are_cleared_when_the_window_slides() {
        let mut w = ReplayWindow::new();
        w.accept(1);
        w.accept(1 + REPLAY_WINDOW_BITS);
        // Same bit slot as 1, one window later: fresh until accepted.
        assert!(w.is_fresh(1 + REPLAY_WINDOW_BITS - 1));
        assert!(!w.is_fresh(1 + REPLAY_WINDOW_BITS));
    }

    proptest::proptest! {
        #[test]
        fn never_accepts_twice(pns in proptest::collection::vec(0u64..10_000, 1..400)) {
            let mut w = ReplayWindow::new();
            let mut seen = std::collections::BTreeSet::new();
            for pn in pns {
                if w.is_fresh(pn) {
                    proptest::prop_assert!(seen.insert(pn), "pn {} accepted twice", pn);
                    w.accept(pn);
                }
            }
        }
    }
}
