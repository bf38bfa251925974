//! The recovery episode of a loss-based controller (CUBIC, NewReno; RFC 9002 §7.3.2): one
//! reduction per episode, no growth during it or while the window is not in use, and the state
//! from before the reduction, kept so that a loss that proves spurious can undo it.

use super::{AckSample, LossSample};
use crate::time::Instant;

/// When the current recovery episode began, and what to restore if its loss was spurious.
#[derive(Clone, Debug)]
pub(super) struct Episode<S> {
    start: Option<Instant>,
    before: Option<S>,
}

impl<S> Episode<S> {
    /// No episode yet.
    pub(super) const fn new() -> Self {
        Episode { start: None, before: None }
    }

    /// Whether `ack` may grow a window of `window` bytes. Not for a frame sent before the current
    /// episode began, and not while the window is not in use (RFC 9002 §7.8): the sender is
    /// application-limited, or had less than half the window in flight. A frame sent after the
    /// reduction ends the episode's undo: the reduction stands.
    pub(super) fn may_grow(&mut self, ack: &AckSample, window: u64) -> bool {
        let underused = ack.app_limited || ack.prior_in_flight * 2 < window;
        if self.start.is_some_and(|r| ack.newest_sent <= r) || underused {
            return false;
        }
        if self.start.is_some() {
            self.before = None;
        }
        true
    }

    /// Begins an episode for `loss` unless the lost data was sent during the current one, keeping
    /// `before` (computed by the caller from its state before it reduces) for an undo. Returns
    /// whether it began: the caller reduces its window only then.
    pub(super) fn begin(&mut self, loss: &LossSample, before: impl FnOnce() -> S) -> bool {
        if self.start.is_some_and(|r| loss.newest_lost_sent <= r) {
            return false;
        }
        self.before = Some(before());
        self.start = Some(loss.now);
        true
    }

    /// Persistent congestion: the reduction can no longer be undone.
    pub(super) fn forget_undo(&mut self) {
        self.before = None;
    }

    /// The state from before the reduction, if data sent at `sent` was declared lost in this
    /// episode and has now been acknowledged (a spurious loss); at most once per episode.
    pub(super) fn undo(&mut self, sent: Instant) -> Option<S> {
        if self.start.is_some_and(|r| sent <= r) {
            self.before.take()
        } else {
            None
        }
    }
}
