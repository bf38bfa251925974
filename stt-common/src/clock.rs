//! The core's clock for a driver: the core reads no clock, so a driver gives it nanoseconds since
//! its own start, and turns the instants the core reports back into `std` instants.

use std::time::Duration;

use stt_proto::Instant;

/// A driver's clock: an origin taken when the driver started.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock { origin: std::time::Instant::now() }
    }

    /// Now, for the core: nanoseconds since the origin.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.origin.elapsed().as_nanos() as u64)
    }

    /// The `std` instant of a core instant (a deadline to sleep until, a session's creation).
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        self.origin + Duration::from_nanos(t.as_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_instants_go_back_to_the_std_instants_they_came_from() {
        let clock = Clock::start();
        let before = std::time::Instant::now();
        let t = clock.now();
        let back = clock.to_std(t);
        assert!(back <= std::time::Instant::now() && back + Duration::from_millis(1) >= before);
        assert_eq!(clock.to_std(Instant::ZERO), clock.origin);
    }
}
