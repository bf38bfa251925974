//! Delivery-rate estimation, in the shape of the IETF "Delivery Rate Estimation" draft
//! (draft-cheng-iccrg-delivery-rate-estimation): each frame remembers, when it is sent, how much
//! had been delivered by then and when; an ACK then compares the newest acknowledged frame's
//! snapshot with now, which gives `delivered / interval` over exactly one round trip of that
//! frame, and whether the sender was application-limited during it.

use core::time::Duration;

use crate::congestion::RateSample;
use crate::time::Instant;

/// What a frame remembers of the connection when it is sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Snapshot {
    delivered: u64,
    delivered_time: Instant,
    first_sent_time: Instant,
    lost: u64,
    tx_in_flight: u64,
    app_limited: bool,
}

/// The session's delivery counters.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct DeliveryRate {
    /// Bytes delivered (acknowledged) so far.
    delivered: u64,
    delivered_time: Instant,
    first_sent_time: Instant,
    /// Bytes declared lost so far.
    lost: u64,
    /// Non-zero while the sender is application-limited: the `delivered` count at which the
    /// app-limited period's last frame will have been acknowledged.
    app_limited_until: u64,
}

impl DeliveryRate {
    /// Bytes delivered so far.
    pub(super) fn delivered(&self) -> u64 {
        self.delivered
    }

    /// True while the sender is application-limited.
    pub(super) fn is_app_limited(&self) -> bool {
        self.app_limited_until != 0
    }

    /// The snapshot for a frame sent now; `in_flight` is before it, `size` its size.
    pub(super) fn on_sent(&mut self, now: Instant, in_flight: u64, size: u64) -> Snapshot {
        if in_flight == 0 {
            self.first_sent_time = now;
            self.delivered_time = now;
        }
        Snapshot {
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            first_sent_time: self.first_sent_time,
            lost: self.lost,
            tx_in_flight: in_flight + size,
            app_limited: self.is_app_limited(),
        }
    }

    /// The sender has nothing to send (or no credit) while the window has room.
    pub(super) fn on_app_limited(&mut self, in_flight: u64) {
        self.app_limited_until = (self.delivered + in_flight).max(1);
    }

    /// A frame of `size` bytes was acknowledged at `now`.
    pub(super) fn on_delivered(&mut self, now: Instant, size: u64) {
        self.delivered += size;
        self.delivered_time = now;
    }

    /// Frames of `size` bytes were declared lost.
    pub(super) fn on_lost(&mut self, size: u64) {
        self.lost += size;
    }

    /// The rate sample of an ACK whose newest acknowledged frame was sent at `sent` with
    /// `snapshot`. Ends an application-limited period whose frames are all delivered.
    pub(super) fn sample(&mut self, sent: Instant, snapshot: &Snapshot) -> RateSample {
        let send_elapsed = sent.saturating_duration_since(snapshot.first_sent_time);
        let ack_elapsed = self.delivered_time.saturating_duration_since(snapshot.delivered_time);
        self.first_sent_time = sent;
        if self.app_limited_until != 0 && self.delivered > self.app_limited_until {
            self.app_limited_until = 0;
        }
        RateSample {
            delivered: self.delivered - snapshot.delivered,
            interval: send_elapsed.max(ack_elapsed).max(Duration::from_nanos(1)),
            app_limited: snapshot.app_limited,
            prior_delivered: snapshot.delivered,
            tx_in_flight: snapshot.tx_in_flight,
            lost: self.lost - snapshot.lost,
        }
    }
}

impl Snapshot {
    /// Bytes in flight when the frame was sent (itself included).
    pub(super) fn tx_in_flight(&self) -> u64 {
        self.tx_in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_nanos(n * 1_000_000)
    }

    #[test]
    fn a_steady_flow_is_measured_at_its_rate() {
        // 1000-byte frames every ms, acknowledged 10 ms later: 1 MB/s.
        let mut r = DeliveryRate::default();
        let mut snaps = alloc::collections::VecDeque::new();
        let mut in_flight = 0;
        let mut last = None;
        for t in 0..100u64 {
            snaps.push_back((ms(t), r.on_sent(ms(t), in_flight, 1000)));
            in_flight += 1000;
            if t >= 10 {
                let (sent, s) = snaps.pop_front().unwrap();
                r.on_delivered(ms(t), 1000);
                in_flight -= 1000;
                last = Some(r.sample(sent, &s));
            }
        }
        let s = last.unwrap();
        assert!((950_000..=1_050_000).contains(&s.rate()), "rate {}", s.rate());
        assert!(!s.app_limited);
    }

    #[test]
    fn samples_taken_while_application_limited_say_so_until_the_period_is_delivered() {
        let mut r = DeliveryRate::default();
        let a = r.on_sent(ms(0), 0, 1000);
        r.on_app_limited(1000);
        let b = r.on_sent(ms(1), 1000, 1000);
        r.on_delivered(ms(10), 1000);
        assert!(!r.sample(ms(0), &a).app_limited);
        r.on_delivered(ms(11), 1000);
        assert!(r.sample(ms(1), &b).app_limited);
        assert!(!r.is_app_limited(), "everything of the period was delivered");
    }
}
