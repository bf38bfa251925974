//! The responder's measure of its handshake load, which decides whether a one-round-trip INIT
//! is answered at once (Diffie–Hellman now, CONFIRM of version 3) or with CHALLENGE (a cookie
//! first, as in the two-round-trip handshake). Loaded means: more INITs in the last second than
//! [`crate::EndpointConfig::cookie_above_inits_per_second`], or at least
//! [`crate::EndpointConfig::cookie_above_half_open`] sessions waiting for their initiator's first
//! frame. A source address whose half-open session expired, or whose one-round-trip INIT failed
//! after its seed MAC verified, always gets a cookie for a while, whatever the load.

use alloc::collections::VecDeque;
use core::net::IpAddr;
use core::time::Duration;

use crate::time::Instant;

/// Source addresses remembered as failed (fewer on a small device). They are searched in order,
/// only for a one-round-trip INIT whose seed MAC verified, which is about to cost a
/// Diffie–Hellman many times what the search does; a plain list keeps the firmware small.
const FAILED_CAPACITY: usize = if cfg!(feature = "small") { 8 } else { 4096 };
/// How long a failed source gets cookies.
const FAILED_FOR: Duration = Duration::from_secs(60);
/// The length of one counting window of INITs.
const WINDOW: Duration = Duration::from_secs(1);

/// INITs per window, half-open sessions and failed sources.
#[derive(Default)]
pub(crate) struct HandshakeLoad {
    window_start: Instant,
    inits_this_window: u32,
    inits_last_window: u32,
    half_open: usize,
    /// Failed sources and when each is forgotten, the oldest first.
    failed: VecDeque<(IpAddr, Instant)>,
}

impl HandshakeLoad {
    /// Counts an INIT (of any version) received at `now`.
    pub(crate) fn on_init(&mut self, now: Instant) {
        if now >= self.window_start + WINDOW {
            // The window just past becomes the last one; after a quiet window, both start anew.
            let next = now < self.window_start + WINDOW * 2;
            self.inits_last_window = if next { self.inits_this_window } else { 0 };
            self.inits_this_window = 0;
            self.window_start = if next { self.window_start + WINDOW } else { now };
        }
        self.inits_this_window = self.inits_this_window.saturating_add(1);
    }

    /// True if a one-round-trip INIT from `source` gets a cookie first.
    pub(crate) fn wants_cookie(&mut self, now: Instant, source: IpAddr, max_inits: u32, max_half_open: usize) -> bool {
        self.expire(now);
        // The last full window and the share of this one: a burst is seen as it comes, and a
        // window boundary does not reset it.
        let inits = self.inits_this_window.max(self.inits_last_window);
        inits > max_inits || self.half_open >= max_half_open || self.failed.iter().any(|&(ip, _)| ip == source)
    }

    /// A responder's session was made and waits for its initiator's first frame.
    pub(crate) fn half_open_added(&mut self) {
        self.half_open += 1;
    }

    /// A half-open session was confirmed or removed.
    pub(crate) fn half_open_removed(&mut self) {
        self.half_open = self.half_open.saturating_sub(1);
    }

    /// `source` left a half-open session to expire, or sent a one-round-trip INIT whose Noise
    /// message failed: it gets cookies for the next minute.
    pub(crate) fn failed(&mut self, now: Instant, source: IpAddr) {
        self.expire(now);
        self.failed.retain(|&(ip, _)| ip != source);
        if self.failed.len() >= FAILED_CAPACITY {
            self.failed.pop_front();
        }
        self.failed.push_back((source, now + FAILED_FOR));
    }

    fn expire(&mut self, now: Instant) {
        while self.failed.front().is_some_and(|&(_, until)| until <= now) {
            self.failed.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn the_rate_of_inits_the_half_open_count_and_failed_sources_each_ask_for_cookies() {
        let mut l = HandshakeLoad::default();
        let t = Instant::from_nanos(5_000_000_000);
        for _ in 0..10 {
            l.on_init(t);
        }
        assert!(!l.wants_cookie(t, A, 10, 4));
        l.on_init(t);
        assert!(l.wants_cookie(t, A, 10, 4), "11 INITs in a second, 10 allowed");
        // The next window still remembers the burst; the one after forgets it.
        let t1 = t + Duration::from_millis(1500);
        l.on_init(t1);
        assert!(l.wants_cookie(t1, A, 10, 4));
        let t2 = t1 + Duration::from_secs(2);
        l.on_init(t2);
        assert!(!l.wants_cookie(t2, A, 10, 4));

        for _ in 0..4 {
            l.half_open_added();
        }
        assert!(l.wants_cookie(t2, A, 10, 4));
        l.half_open_removed();
        assert!(!l.wants_cookie(t2, A, 10, 4));

        l.failed(t2, A);
        assert!(l.wants_cookie(t2, A, 10, 4));
        assert!(!l.wants_cookie(t2, B, 10, 4));
        assert!(!l.wants_cookie(t2 + FAILED_FOR, A, 10, 4), "a failure is forgotten after a minute");
    }
}
