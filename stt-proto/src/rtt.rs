//! Round-trip time estimation (RFC 9002 §5): smoothed RTT, variation and minimum of one
//! session's path. Recovery updates it from ACKs; congestion controllers read it.

use core::time::Duration;

/// RTT before any sample (RFC 9002's 333 ms).
pub(crate) const INITIAL_RTT: Duration = Duration::from_millis(333);
/// Timer granularity used in loss and probe timeouts.
pub(crate) const GRANULARITY: Duration = Duration::from_millis(1);

/// Smoothed RTT, variation and minimum of one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    latest: Duration,
    smoothed: Option<Duration>,
    var: Duration,
    min: Duration,
}

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator { latest: INITIAL_RTT, smoothed: None, var: INITIAL_RTT / 2, min: INITIAL_RTT }
    }
}

impl RttEstimator {
    /// Adds a sample: `rtt` measured from send to ACK, `ack_delay` the peer's reported hold time.
    pub fn update(&mut self, rtt: Duration, ack_delay: Duration) {
        self.latest = rtt;
        match self.smoothed {
            None => {
                self.min = rtt;
                self.smoothed = Some(rtt);
                self.var = rtt / 2;
            }
            Some(srtt) => {
                self.min = self.min.min(rtt);
                let adjusted = if rtt >= self.min + ack_delay { rtt - ack_delay } else { rtt };
                let diff = srtt.abs_diff(adjusted);
                self.var = (self.var * 3 + diff) / 4;
                self.smoothed = Some((srtt * 7 + adjusted) / 8);
            }
        }
    }

    /// Smoothed RTT (the initial RTT before any sample).
    pub fn smoothed(&self) -> Duration {
        self.smoothed.unwrap_or(INITIAL_RTT)
    }

    /// Latest sample.
    pub fn latest(&self) -> Duration {
        self.latest
    }

    /// Smallest sample.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// True once a sample was taken.
    pub fn has_sample(&self) -> bool {
        self.smoothed.is_some()
    }

    /// Base probe timeout: `srtt + max(4 * rttvar, granularity) + max_ack_delay`.
    pub fn pto_base(&self, max_ack_delay: Duration) -> Duration {
        self.smoothed() + (self.var * 4).max(GRANULARITY) + max_ack_delay
    }

    /// Time threshold for declaring loss: `9/8 * max(srtt, latest)`, at least the granularity.
    pub fn loss_delay(&self) -> Duration {
        (self.smoothed().max(self.latest) * 9 / 8).max(GRANULARITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_and_respects_ack_delay() {
        let mut r = RttEstimator::default();
        r.update(Duration::from_millis(100), Duration::ZERO);
        assert_eq!(r.smoothed(), Duration::from_millis(100));
        for _ in 0..50 {
            r.update(Duration::from_millis(60), Duration::from_millis(10));
        }
        let s = r.smoothed().as_millis();
        assert!((48..=62).contains(&s), "smoothed {s} ms");
        assert_eq!(r.min(), Duration::from_millis(60));
    }
}
