//! The pacer: a token bucket that spreads sending at the controller's rate, with short bursts.

use core::time::Duration;

use crate::time::Instant;

/// Token-bucket pacer: spreads a window's worth of sending over one RTT, with short bursts.
#[derive(Clone, Debug)]
pub(super) struct Pacer {
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
    pub(super) fn ready_at(&mut self, now: Instant, bytes: u64, rate: u64, mss: u64) -> Instant {
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
    pub(super) fn on_sent(&mut self, bytes: u64) {
        self.tokens = self.tokens.saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
