//! CUBIC (RFC 9438): the window follows `W(t) = C (t - K)^3 + W_max` after each reduction, with
//! the Reno-friendly region, fast convergence, β = 0.7, C = 0.4; no growth while the sender is
//! application-limited; undo of a reduction that a spurious loss caused.
//!
//! Arithmetic is in integers and fixed point (`no_std` has no `cbrt`): windows in bytes, time in
//! microseconds.

use super::episode::Episode;
use super::{AckSample, CongestionController, LossSample};
use crate::time::Instant;

/// β, the multiplicative decrease, in thousandths.
const BETA: u64 = 700;
/// C in thousandths of a segment per second cubed.
const C: u64 = 400;

/// CUBIC.
#[derive(Clone, Debug)]
pub struct Cubic {
    mss: u64,
    window: u64,
    ssthresh: u64,
    /// Window before the last reduction, in bytes.
    w_max: u64,
    /// Time to reach `w_max` again, microseconds.
    k_us: u64,
    epoch_start: Option<Instant>,
    /// The window standard Reno would have (Reno-friendly region).
    w_est: u64,
    /// The recovery episode; its undo restores the window, the threshold and `w_max`.
    episode: Episode<(u64, u64, u64)>,
}

/// The integer cube root of `x` (the largest `r` with `r^3 <= x`).
fn icbrt(x: u128) -> u64 {
    if x == 0 {
        return 0;
    }
    // Newton's method from an upper bound.
    let bits = 128 - x.leading_zeros();
    let mut r: u128 = 1 << bits.div_ceil(3);
    loop {
        let next = (2 * r + x / (r * r)) / 3;
        if next >= r {
            break;
        }
        r = next;
    }
    while r * r * r > x {
        r -= 1;
    }
    r as u64
}

impl Cubic {
    /// A controller with the initial window of 10 datagrams.
    pub fn new(mss: u64) -> Self {
        Cubic {
            mss,
            window: 10 * mss,
            ssthresh: u64::MAX,
            w_max: 0,
            k_us: 0,
            epoch_start: None,
            w_est: 0,
            episode: Episode::new(),
        }
    }

    fn min_window(&self) -> u64 {
        2 * self.mss
    }

    /// `W_cubic(t)` in bytes, `t` in microseconds since the epoch began.
    fn w_cubic(&self, t_us: u64) -> u64 {
        // C (t - K)^3 in segments, t in seconds: C/1000 * d^3 / 1e18 with d in microseconds.
        let d = t_us.abs_diff(self.k_us) as u128;
        let delta = C as u128 * d * d * d * self.mss as u128 / 1_000 / 1_000_000_000_000_000_000;
        let delta = delta.min(u128::from(u64::MAX / 2)) as u64;
        if t_us >= self.k_us {
            self.w_max.saturating_add(delta)
        } else {
            self.w_max.saturating_sub(delta)
        }
    }
}

impl CongestionController for Cubic {
    fn on_sent(&mut self, _now: Instant, _bytes: u64, _in_flight: u64) {}

    fn on_ack(&mut self, ack: &AckSample) {
        if !self.episode.may_grow(ack, self.window) {
            return;
        }
        if self.window < self.ssthresh {
            self.window += ack.acked;
            return;
        }
        let epoch = *self.epoch_start.get_or_insert_with(|| {
            self.w_est = self.window;
            ack.now
        });
        // The target one RTT ahead (RFC 9438 §4.2), at most 1.5 times the window.
        let t_us = (ack.now - epoch + ack.rtt.smoothed).as_micros().min(u128::from(u64::MAX)) as u64;
        let target = self.w_cubic(t_us).clamp(self.window, self.window + self.window / 2);
        // Reno-friendly: alpha = 3 (1 - β) / (1 + β) segments per window.
        let alpha_milli = 3 * (1000 - BETA) * 1000 / (1000 + BETA);
        self.w_est += alpha_milli * self.mss / 1000 * ack.acked / self.window.max(1);
        let grow = if self.w_est > target {
            self.w_est.saturating_sub(self.window)
        } else {
            (target - self.window) * ack.acked / self.window.max(1)
        };
        self.window += grow.min(ack.acked);
    }

    fn on_loss(&mut self, loss: &LossSample) {
        if self.episode.begin(loss, || (self.window, self.ssthresh, self.w_max)) {
            // Fast convergence: a flow that lost before reaching its last maximum yields.
            self.w_max = if self.window < self.w_max { self.window * (1000 + BETA) / 2000 } else { self.window };
            self.window = (self.window * BETA / 1000).max(self.min_window());
            self.ssthresh = self.window;
            self.epoch_start = None;
            // K = cbrt(W_max (1 - β) / C), in segments and seconds, computed in microseconds.
            let segments_milli = u128::from(self.w_max.saturating_sub(self.window)) * 1000 / u128::from(self.mss);
            self.k_us = icbrt(segments_milli * 1_000_000_000_000_000_000 / u128::from(C));
        }
        if loss.persistent {
            self.window = self.min_window();
            self.episode.forget_undo();
        }
    }

    fn on_spurious_loss(&mut self, _now: Instant, sent: Instant) {
        if let Some((window, ssthresh, w_max)) = self.episode.undo(sent) {
            self.window = self.window.max(window);
            self.ssthresh = ssthresh;
            self.w_max = w_max;
            self.epoch_start = None;
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

    fn ack(now_ms: u64, sent_ms: u64, acked: u64) -> AckSample {
        let rtt = RttSample {
            latest: Duration::from_millis(50),
            smoothed: Duration::from_millis(50),
            min: Duration::from_millis(50),
        };
        AckSample {
            now: Instant::from_nanos(now_ms * 1_000_000),
            acked,
            newest_sent: Instant::from_nanos(sent_ms * 1_000_000),
            delivered: 0,
            prior_in_flight: 1 << 40,
            in_flight: 0,
            rtt,
            rate: None,
            app_limited: false,
        }
    }

    #[test]
    fn cube_root() {
        for x in [0u128, 1, 7, 8, 9, 26, 27, 1000, 999_999, 1 << 70] {
            let r = u128::from(icbrt(x));
            assert!(r * r * r <= x && (r + 1) * (r + 1) * (r + 1) > x, "{x}");
        }
    }

    #[test]
    fn reduces_by_beta_then_grows_back_to_w_max_in_about_k() {
        let mss = 1000;
        let mut cc = Cubic::new(mss);
        cc.ssthresh = 0; // straight to congestion avoidance
        cc.window = 100 * mss;
        cc.on_loss(&LossSample {
            now: Instant::from_nanos(1_000_000),
            lost: mss,
            newest_lost_sent: Instant::from_nanos(500_000),
            tx_in_flight: 0,
            in_flight: 0,
            persistent: false,
        });
        assert_eq!(cc.window(), 70 * mss);
        // K = cbrt(100 * 0.3 / 0.4) = 4.22 s.
        assert!((4_200_000..4_250_000).contains(&cc.k_us), "K = {} us", cc.k_us);
        // Acknowledge a window every 50 ms for 6 s.
        let mut now = 2;
        while now < 6_000 {
            let w = cc.window();
            cc.on_ack(&ack(now, now - 1, w));
            now += 50;
        }
        assert!(cc.window() > 100 * mss, "past W_max after K: {}", cc.window());
        assert!(cc.window() < 200 * mss, "but not explosively: {}", cc.window());
    }
}
