//! NewReno (RFC 9002 §7): slow start, congestion avoidance, one reduction per recovery period,
//! no growth while the sender is application-limited, and undo of a reduction that a spurious
//! loss caused.

use super::episode::Episode;
use super::{AckSample, CongestionController, LossSample};
use crate::time::Instant;

/// NewReno.
#[derive(Clone, Debug)]
pub struct NewReno {
    mss: u64,
    window: u64,
    ssthresh: u64,
    acked_in_avoidance: u64,
    /// The recovery episode; its undo restores the window and the threshold.
    episode: Episode<(u64, u64)>,
}

impl NewReno {
    /// A controller with the initial window of 10 datagrams.
    pub fn new(mss: u64) -> Self {
        NewReno { mss, window: 10 * mss, ssthresh: u64::MAX, acked_in_avoidance: 0, episode: Episode::new() }
    }

    fn min_window(&self) -> u64 {
        2 * self.mss
    }
}

impl CongestionController for NewReno {
    fn on_sent(&mut self, _now: Instant, _bytes: u64, _in_flight: u64) {}

    fn on_ack(&mut self, ack: &AckSample) {
        if !self.episode.may_grow(ack, self.window) {
            return;
        }
        if self.window < self.ssthresh {
            self.window += ack.acked;
        } else {
            self.acked_in_avoidance += ack.acked;
            if self.acked_in_avoidance >= self.window {
                self.acked_in_avoidance -= self.window;
                self.window += self.mss;
            }
        }
    }

    fn on_loss(&mut self, loss: &LossSample) {
        if self.episode.begin(loss, || (self.window, self.ssthresh)) {
            self.window = (self.window / 2).max(self.min_window());
            self.ssthresh = self.window;
            self.acked_in_avoidance = 0;
        }
        if loss.persistent {
            self.window = self.min_window();
            self.episode.forget_undo();
        }
    }

    fn on_spurious_loss(&mut self, _now: Instant, sent: Instant) {
        // The loss that started this recovery was reordering: restore the window it cut.
        if let Some((window, ssthresh)) = self.episode.undo(sent) {
            self.window = self.window.max(window);
            self.ssthresh = ssthresh;
        }
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn phase(&self) -> &'static str {
        if self.window < self.ssthresh {
            "slow_start"
        } else {
            "congestion_avoidance"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::RttSample;
    use super::*;
    use core::time::Duration;

    fn t(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    fn ack(now: u64, sent: u64, acked: u64) -> AckSample {
        let rtt = RttSample {
            latest: Duration::from_millis(10),
            smoothed: Duration::from_millis(10),
            min: Duration::from_millis(10),
        };
        AckSample {
            now: t(now),
            acked,
            newest_sent: t(sent),
            delivered: 0,
            prior_in_flight: 1 << 40,
            in_flight: 0,
            rtt,
            rate: None,
            app_limited: false,
        }
    }

    fn loss(now: u64, sent: u64, persistent: bool) -> LossSample {
        LossSample { now: t(now), lost: 1000, newest_lost_sent: t(sent), tx_in_flight: 0, in_flight: 0, persistent }
    }

    #[test]
    fn grows_and_halves_once_per_recovery() {
        let mut cc = NewReno::new(1000);
        assert_eq!(cc.window(), 10_000);
        cc.on_ack(&ack(10, 0, 5_000));
        assert_eq!(cc.window(), 15_000, "slow start adds what was acked");
        cc.on_loss(&loss(20, 5, false));
        assert_eq!(cc.window(), 7_500);
        cc.on_loss(&loss(21, 15, false));
        assert_eq!(cc.window(), 7_500, "losses of frames sent before recovery began do not reduce again");
        cc.on_ack(&ack(30, 25, 7_500));
        assert_eq!(cc.window(), 8_500, "congestion avoidance adds one datagram per window");
        cc.on_loss(&loss(40, 35, true));
        assert_eq!(cc.window(), 2_000);
    }

    #[test]
    fn does_not_grow_while_application_limited_or_the_window_is_mostly_unused() {
        let mut cc = NewReno::new(1000);
        let mut a = ack(10, 0, 5_000);
        a.app_limited = true;
        cc.on_ack(&a);
        assert_eq!(cc.window(), 10_000);
        let mut a = ack(10, 0, 5_000);
        a.prior_in_flight = 4_000;
        cc.on_ack(&a);
        assert_eq!(cc.window(), 10_000, "less than half the window was in flight");
    }

    #[test]
    fn a_spurious_loss_undoes_the_reduction() {
        let mut cc = NewReno::new(1000);
        cc.on_ack(&ack(10, 0, 10_000));
        cc.on_loss(&loss(20, 12, false));
        assert_eq!(cc.window(), 10_000);
        cc.on_spurious_loss(t(22), t(12));
        assert_eq!(cc.window(), 20_000);
    }
}
