//! Congestion control: the [`CongestionController`] trait a session's sender consults, the
//! samples it is fed, and the controllers STT ships.
//!
//! - [`Bbr`] (the default): a model-based controller of the BBR family. It estimates the
//!   bottleneck bandwidth and the minimum RTT from delivery-rate samples, paces at the estimated
//!   rate and keeps about two bandwidth-delay products in flight. Random loss does not move it;
//!   loss that comes with a standing queue (a real overflow) makes it back off.
//! - [`Cubic`] (RFC 9438) and [`NewReno`] (RFC 9002 §7): loss-based, for comparison and for paths
//!   where the classic behaviour is wanted.
//!
//! Select one with [`crate::EndpointConfig::congestion`] (a [`CongestionFactory`]: [`bbr`],
//! [`cubic`], [`new_reno`], or your own). A controller sees sizes in bytes of frames on the wire,
//! never payloads; every call carries the time, so it reads no clock.

mod bbr;
mod cubic;
mod episode;
mod new_reno;

pub use crate::rtt::RttEstimator;
pub use bbr::Bbr;
pub use cubic::Cubic;
pub use new_reno::NewReno;

use alloc::boxed::Box;
use core::time::Duration;

use crate::time::Instant;

/// The RTT estimator's figures at the time of an acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttSample {
    /// The RTT of the newest frame this ACK acknowledged (its own, unambiguous: every frame has
    /// its own packet number).
    pub latest: Duration,
    /// Smoothed RTT.
    pub smoothed: Duration,
    /// Smallest RTT seen on the session.
    pub min: Duration,
}

/// A delivery-rate sample, in the shape of the IETF "Delivery Rate Estimation" draft: over
/// `interval`, `delivered` bytes reached the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSample {
    /// Bytes acknowledged over the interval.
    pub delivered: u64,
    /// The longer of the send interval and the ACK interval of the frames delivered.
    pub interval: Duration,
    /// The interval included time when the sender had nothing to send (or no credit): a low
    /// rate says nothing about the path, only a high one does.
    pub app_limited: bool,
    /// Total bytes delivered when the newest acknowledged frame was sent (round counting: a
    /// round ends when a frame sent after the round began is acknowledged).
    pub prior_delivered: u64,
    /// Bytes in flight when the newest acknowledged frame was sent.
    pub tx_in_flight: u64,
    /// Bytes declared lost between the newest acknowledged frame's send and now.
    pub lost: u64,
}

impl RateSample {
    /// The delivery rate, bytes per second.
    pub fn rate(&self) -> u64 {
        let nanos = self.interval.as_nanos().max(1);
        (u128::from(self.delivered) * 1_000_000_000 / nanos).min(u128::from(u64::MAX)) as u64
    }
}

/// One ACK's effect on the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckSample {
    /// When the ACK arrived.
    pub now: Instant,
    /// Bytes this ACK newly acknowledged.
    pub acked: u64,
    /// When the newest frame it acknowledged was sent.
    pub newest_sent: Instant,
    /// Bytes delivered so far on the session (all ACKs).
    pub delivered: u64,
    /// Bytes in flight before this ACK.
    pub prior_in_flight: u64,
    /// Bytes in flight after this ACK.
    pub in_flight: u64,
    /// The RTT estimator's figures.
    pub rtt: RttSample,
    /// The delivery-rate sample, when one could be taken.
    pub rate: Option<RateSample>,
    /// The sender has nothing to send, or no credit: a window that grows now grows for nothing.
    pub app_limited: bool,
}

/// Frames declared lost by one ACK or one timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LossSample {
    /// When the loss was declared.
    pub now: Instant,
    /// Bytes declared lost.
    pub lost: u64,
    /// When the newest lost frame was sent (one response per round trip: losses of frames sent
    /// before the response began belong to it).
    pub newest_lost_sent: Instant,
    /// Bytes in flight when that frame was sent.
    pub tx_in_flight: u64,
    /// Bytes in flight now.
    pub in_flight: u64,
    /// Everything sent over a long period was lost (RFC 9002 §7.6): the path may be gone.
    pub persistent: bool,
}

/// A congestion controller for one session.
///
/// The sender calls [`CongestionController::on_sent`] for every ack-eliciting frame,
/// [`CongestionController::on_ack`] once per ACK that acknowledged something, and
/// [`CongestionController::on_loss`] once per batch of frames declared lost. When a frame
/// declared lost is acknowledged after all (it was only reordered),
/// [`CongestionController::on_spurious_loss`] lets the controller undo its response. Object
/// safe, `no_std`.
pub trait CongestionController: Send {
    /// `bytes` of ack-eliciting frames were sent; `in_flight` includes them.
    fn on_sent(&mut self, now: Instant, bytes: u64, in_flight: u64);
    /// An ACK acknowledged frames.
    fn on_ack(&mut self, ack: &AckSample);
    /// Frames were declared lost.
    fn on_loss(&mut self, loss: &LossSample);
    /// A frame sent at `sent` and declared lost was acknowledged: the loss was spurious.
    fn on_spurious_loss(&mut self, now: Instant, sent: Instant) {
        let _ = (now, sent);
    }
    /// Bytes allowed in flight.
    fn window(&self) -> u64;
    /// A short name of the controller's phase, for diagnostics (`PathStats::congestion_phase`).
    fn phase(&self) -> &'static str {
        ""
    }
    /// Sending rate in bytes per second for pacing, if the controller wants pacing; `srtt` is the
    /// path's smoothed RTT (the handshake's before any ACK).
    fn pacing_rate(&self, srtt: Duration) -> Option<u64> {
        let srtt = srtt.as_nanos().max(1);
        Some((u128::from(self.window()) * 5 / 4 * 1_000_000_000 / srtt).min(u128::from(u64::MAX)) as u64)
    }
}

/// Makes one controller per session; `max_datagram` is the path's datagram size.
pub type CongestionFactory = fn(max_datagram: u64) -> Box<dyn CongestionController>;

/// The factory of [`Bbr`], the default.
pub fn bbr(max_datagram: u64) -> Box<dyn CongestionController> {
    Box::new(Bbr::new(max_datagram))
}

/// The factory of [`Cubic`].
pub fn cubic(max_datagram: u64) -> Box<dyn CongestionController> {
    Box::new(Cubic::new(max_datagram))
}

/// The factory of [`NewReno`].
pub fn new_reno(max_datagram: u64) -> Box<dyn CongestionController> {
    Box::new(NewReno::new(max_datagram))
}
