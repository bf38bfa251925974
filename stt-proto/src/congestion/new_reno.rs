//! NewReno (RFC 9002 §7): slow start, congestion avoidance, one reduction per recovery period.

use super::{CongestionController, RttEstimator};
use crate::time::Instant;

/// NewReno (RFC 9002 §7): slow start, congestion avoidance, one reduction per recovery period.
#[derive(Clone, Debug)]
pub struct NewReno {
    mss: u64,
    window: u64,
    ssthresh: u64,
    recovery_start: Option<Instant>,
    acked_in_avoidance: u64,
}

impl NewReno {
    /// A controller with the initial window of 10 datagrams.
    pub fn new(mss: u64) -> Self {
        NewReno { mss, window: 10 * mss, ssthresh: u64::MAX, recovery_start: None, acked_in_avoidance: 0 }
    }

    fn min_window(&self) -> u64 {
        2 * self.mss
    }
}

impl CongestionController for NewReno {
    fn on_sent(&mut self, _now: Instant, _bytes: u64) {}

    fn on_ack(&mut self, _now: Instant, sent: Instant, bytes: u64, _rtt: &RttEstimator) {
        if self.recovery_start.is_some_and(|r| sent <= r) {
            return;
        }
        if self.window < self.ssthresh {
            self.window += bytes;
        } else {
            self.acked_in_avoidance += bytes;
            if self.acked_in_avoidance >= self.window {
                self.acked_in_avoidance -= self.window;
                self.window += self.mss;
            }
        }
    }

    fn on_congestion_event(&mut self, now: Instant, sent: Instant, persistent: bool) {
        if self.recovery_start.is_some_and(|r| sent <= r) {
            return;
        }
        self.recovery_start = Some(now);
        self.window = (self.window / 2).max(self.min_window());
        self.ssthresh = self.window;
        self.acked_in_avoidance = 0;
        if persistent {
            self.window = self.min_window();
        }
    }

    fn window(&self) -> u64 {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_reno_grows_and_halves_once_per_recovery() {
        let mut cc = NewReno::new(1000);
        let rtt = RttEstimator::default();
        let t = |ms: u64| Instant::from_nanos(ms * 1_000_000);
        assert_eq!(cc.window(), 10_000);
        cc.on_ack(t(10), t(0), 5_000, &rtt);
        assert_eq!(cc.window(), 15_000, "slow start adds what was acked");
        cc.on_congestion_event(t(20), t(5), false);
        assert_eq!(cc.window(), 7_500);
        cc.on_congestion_event(t(21), t(15), false);
        assert_eq!(cc.window(), 7_500, "losses of frames sent before recovery began do not reduce again");
        cc.on_ack(t(30), t(25), 7_500, &rtt);
        assert_eq!(cc.window(), 8_500, "congestion avoidance adds one datagram per window");
        cc.on_congestion_event(t(40), t(35), true);
        assert_eq!(cc.window(), 2_000);
    }
}
