//! Congestion control behind a trait, NewReno by default, and a pacer.
//!
//! Applications plug their own controller by implementing [`CongestionController`] and setting
//! [`crate::EndpointConfig::congestion`] to a factory for it.

use alloc::boxed::Box;
use core::time::Duration;

use super::rtt::RttEstimator;
use crate::time::Instant;

/// A congestion controller for one session. All sizes are bytes of frames on the wire.
pub trait CongestionController: Send {
    /// `bytes` of ack-eliciting frames were sent.
    fn on_sent(&mut self, now: Instant, bytes: u64);
    /// `bytes` sent at `sent` were acknowledged.
    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, rtt: &RttEstimator);
    /// Frames sent at or before `sent` were lost. `persistent` if everything for a long time was.
    fn on_congestion_event(&mut self, now: Instant, sent: Instant, persistent: bool);
    /// Bytes allowed in flight.
    fn window(&self) -> u64;
    /// Sending rate in bytes per second for pacing, if the controller wants pacing.
    fn pacing_rate(&self, rtt: &RttEstimator) -> Option<u64> {
        let srtt = rtt.smoothed().as_nanos().max(1) as u64;
        Some((self.window() as u128 * 5 / 4 * 1_000_000_000 / srtt as u128) as u64)
    }
}

/// Makes one controller per session; `max_datagram` is the path's datagram size.
pub type CongestionFactory = fn(max_datagram: u64) -> Box<dyn CongestionController>;

/// The default factory: [`NewReno`].
pub fn new_reno(max_datagram: u64) -> Box<dyn CongestionController> {
    Box::new(NewReno::new(max_datagram))
}

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

/// Token-bucket pacer: spreads a window's worth of sending over one RTT, with short bursts.
#[derive(Clone, Debug)]
pub struct Pacer {
    tokens: u64,
    last: Option<Instant>,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer { tokens: u64::MAX, last: None }
    }
}

/// Bursts allowed by the pacer: this long at the pacing rate, at least 10 datagrams.
const BURST: Duration = Duration::from_millis(2);

impl Pacer {
    /// When `bytes` may be sent at `rate` bytes/s (`now` if at once), refilling the bucket first.
    pub fn ready_at(&mut self, now: Instant, bytes: u64, rate: u64, mss: u64) -> Instant {
        let capacity = ((rate as u128 * BURST.as_nanos() / 1_000_000_000) as u64).max(10 * mss);
        let elapsed = self.last.map_or(Duration::MAX, |l| now - l);
        let refill = (rate as u128 * elapsed.as_nanos().min(u64::MAX as u128) / 1_000_000_000) as u64;
        self.tokens = self.tokens.saturating_add(refill).min(capacity);
        self.last = Some(now);
        if self.tokens >= bytes || rate == 0 {
            return now;
        }
        let missing = bytes - self.tokens;
        now + Duration::from_nanos((missing as u128 * 1_000_000_000 / rate as u128) as u64 + 1)
    }

    /// `bytes` were sent.
    pub fn on_sent(&mut self, bytes: u64) {
        self.tokens = self.tokens.saturating_sub(bytes);
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

    #[test]
    fn pacer_spreads_sending() {
        let mut p = Pacer::default();
        let now = Instant::from_nanos(1_000_000_000);
        let rate = 1_000_000; // 1 MB/s
        let mut t = now;
        let mut sent = 0;
        while t < now + Duration::from_millis(100) {
            let at = p.ready_at(t, 1000, rate, 1000);
            if at <= t {
                p.on_sent(1000);
                sent += 1000;
            } else {
                t = at;
            }
        }
        // 100 ms at 1 MB/s is 100 kB, plus the initial burst of 10 datagrams.
        assert!((100_000..=112_000).contains(&sent), "sent {sent}");
    }
}
