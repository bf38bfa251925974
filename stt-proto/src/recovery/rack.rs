//! Time-based loss detection in the shape of RACK (RFC 8985).
//!
//! A frame is lost when a frame sent after it has been acknowledged and more than
//! `RACK.rtt + reo_wnd` has passed since it was sent, where `RACK.rtt` is the RTT of the most
//! recently sent frame that was acknowledged. Until reordering has been seen, a frame with three
//! later frames acknowledged is lost at once (the packet threshold). Once it has been seen, the
//! reordering window is a quarter of the minimum RTT, grown by one quarter each round in which a
//! spurious loss (an acknowledgement for a frame already declared lost) shows it too small, up to
//! the smoothed RTT, and brought back after 16 loss episodes without one.
//!
//! Every frame has its own packet number, so each acknowledgement names exactly one transmission:
//! RTT samples are never ambiguous, and an ACK for a frame declared lost proves the loss spurious
//! (the role DSACK plays in TCP).

use core::time::Duration;

use crate::time::Instant;

/// Frames acknowledged above a hole before it is lost, while no reordering has been seen.
pub(super) const PACKET_THRESHOLD: u64 = 3;
/// Loss episodes after the last spurious loss before the window goes back to its base size.
const PERSIST: u8 = 16;

/// RACK's state for one session.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rack {
    /// Send time and packet number of the most recently sent frame that was acknowledged.
    xmit_ts: Option<Instant>,
    end_pn: u64,
    /// Its RTT.
    rtt: Duration,
    reordering_seen: bool,
    /// The window, in quarters of the minimum RTT.
    mult: u32,
    persist: u8,
    /// No further growth until the largest acknowledged packet number reaches this (one growth
    /// per round).
    grow_after: Option<u64>,
}

impl Default for Rack {
    fn default() -> Self {
        Rack {
            xmit_ts: None,
            end_pn: 0,
            rtt: Duration::ZERO,
            reordering_seen: false,
            mult: 1,
            persist: 0,
            grow_after: None,
        }
    }
}

impl Rack {
    /// A frame sent at `sent` with number `pn` was acknowledged `rtt` after it was sent.
    pub(super) fn on_acked(&mut self, sent: Instant, pn: u64, rtt: Duration) {
        if self.xmit_ts.is_none_or(|t| sent > t || (sent == t && pn > self.end_pn)) {
            self.xmit_ts = Some(sent);
            self.end_pn = pn;
            self.rtt = rtt;
        }
    }

    /// A frame arrived after a later one: the path reorders.
    pub(super) fn on_reordering(&mut self) {
        self.reordering_seen = true;
    }

    /// A frame declared lost was acknowledged. `largest_acked` and `next_pn` place the round.
    pub(super) fn on_spurious(&mut self, largest_acked: u64, next_pn: u64) {
        self.reordering_seen = true;
        if self.grow_after.is_none_or(|g| largest_acked >= g) {
            self.mult = self.mult.saturating_add(1);
            self.grow_after = Some(next_pn);
        }
        self.persist = PERSIST;
    }

    /// A loss episode ended (frames were declared lost).
    pub(super) fn on_loss_episode(&mut self) {
        self.persist = self.persist.saturating_sub(1);
        if self.persist == 0 {
            self.mult = 1;
        }
    }

    /// The reordering window now.
    pub(super) fn reo_wnd(&self, min_rtt: Duration, srtt: Duration) -> Duration {
        (min_rtt / 4 * self.mult).min(srtt)
    }

    /// The packet number of the most recently sent frame acknowledged; only frames below it can
    /// be judged.
    pub(super) fn end_pn(&self) -> Option<u64> {
        self.xmit_ts.map(|_| self.end_pn)
    }

    /// When a frame sent at `sent` is lost if nothing acknowledges it, given the window.
    pub(super) fn deadline(&self, sent: Instant, reo_wnd: Duration) -> Instant {
        sent + self.rtt + reo_wnd
    }

    /// True if a frame `pn` with `largest_acked` above it is lost by count alone.
    pub(super) fn lost_by_count(&self, pn: u64, largest_acked: u64) -> bool {
        !self.reordering_seen && pn + PACKET_THRESHOLD <= largest_acked
    }
}
