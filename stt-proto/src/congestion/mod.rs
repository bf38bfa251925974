//! Congestion control: the [`CongestionController`] trait a session's sender consults, and the
//! controllers STT ships.
//!
//! Applications plug their own controller by implementing the trait and setting
//! [`crate::EndpointConfig::congestion`] to a factory for it. All sizes are bytes of frames on the
//! wire; a controller never sees payloads.

mod new_reno;

pub use crate::rtt::RttEstimator;
pub use new_reno::NewReno;

use alloc::boxed::Box;

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

/// The factory of [`NewReno`].
pub fn new_reno(max_datagram: u64) -> Box<dyn CongestionController> {
    Box::new(NewReno::new(max_datagram))
}
