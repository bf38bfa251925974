//! Loss recovery for one session (the shape of RFC 9002): which ack-eliciting frames are in
//! flight, RTT samples from ACKs, loss by packet threshold (3) and time threshold (9/8 RTT), the
//! probe timeout, and the congestion controller (`crate::congestion`) and pacer (`pacer.rs`)
//! that gate new sending.
//!
//! Every encrypted frame has its own packet number, so "packet" here means one frame. Frames are
//! recorded in send order; the payload tag says what to do when one is acknowledged or lost.

mod pacer;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::time::Duration;

use crate::congestion::CongestionController;
use crate::rtt::RttEstimator;
use crate::time::Instant;
use crate::wire::stream::Ack;
use pacer::Pacer;

/// Packet-number distance after which an unacknowledged frame is lost.
pub const PACKET_THRESHOLD: u64 = 3;

/// What became of a frame in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The peer acknowledged it.
    Acked,
    /// It is lost: repair it if it matters.
    Lost,
}

/// What an ack-eliciting frame carried, so that its loss can be repaired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentPayload {
    /// A DATA segment.
    Data {
        /// Stream id.
        stream: u32,
        /// Segment index.
        seq: u32,
    },
    /// STREAM_OPEN.
    StreamOpen {
        /// Stream id.
        stream: u32,
    },
    /// STREAM_CLOSE (reset).
    StreamClose {
        /// Stream id.
        stream: u32,
    },
    /// MAX_DATA for a stream (0 = session).
    MaxData {
        /// Stream id or 0.
        stream: u32,
    },
    /// KEEPALIVE, also used as a probe.
    Ping,
    /// ENDPOINT_REGISTER carrying this registry version.
    NameAnnounce {
        /// Registry version.
        version: u32,
    },
    /// An ENDPOINT_RESOLVE or ENDPOINT_ROUTE request.
    NameRequest {
        /// Request number.
        id: u32,
    },
    /// A reply to the peer's request.
    NameReply {
        /// The peer's request number.
        id: u32,
        /// ENDPOINT_ROUTE (else ENDPOINT_RESOLVE).
        route: bool,
        /// The status sent.
        status: u8,
    },
}

#[derive(Clone, Copy, Debug)]
struct SentFrame {
    pn: u64,
    time: Instant,
    size: u32,
    payload: SentPayload,
    done: bool,
}

/// Recovery state of one session.
pub struct Recovery {
    sent: VecDeque<SentFrame>,
    in_flight: u64,
    largest_acked: Option<u64>,
    loss_time: Option<Instant>,
    pto_count: u32,
    last_eliciting_sent: Option<Instant>,
    rtt: RttEstimator,
    cc: Box<dyn CongestionController>,
    pacer: Pacer,
    max_ack_delay: Duration,
    mss: u64,
    lost_frames: u64,
}

impl core::fmt::Debug for Recovery {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Recovery").field("in_flight", &self.in_flight).field("rtt", &self.rtt).finish()
    }
}

impl Recovery {
    /// Fresh state with a controller and the peer's maximum ACK delay.
    pub fn new(cc: Box<dyn CongestionController>, max_ack_delay: Duration, mss: u64) -> Self {
        Recovery {
            sent: VecDeque::new(),
            in_flight: 0,
            largest_acked: None,
            loss_time: None,
            pto_count: 0,
            last_eliciting_sent: None,
            rtt: RttEstimator::default(),
            cc,
            pacer: Pacer::default(),
            max_ack_delay,
            mss,
            lost_frames: 0,
        }
    }

    /// The RTT estimator.
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Seeds the estimator with a handshake round trip.
    pub fn seed_rtt(&mut self, rtt: Duration) {
        if !self.rtt.has_sample() {
            self.rtt.update(rtt, Duration::ZERO);
        }
    }

    /// Bytes of ack-eliciting frames in flight.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Congestion window.
    pub fn window(&self) -> u64 {
        self.cc.window()
    }

    /// Frames declared lost so far.
    pub fn lost_frames(&self) -> u64 {
        self.lost_frames
    }

    /// True if the congestion window has room for `bytes` more.
    pub fn window_allows(&self, bytes: u64) -> bool {
        self.in_flight + bytes <= self.cc.window()
    }

    /// When `bytes` may go out under pacing (`now` if at once).
    pub fn pacing_ready_at(&mut self, now: Instant, bytes: u64) -> Instant {
        match self.cc.pacing_rate(&self.rtt) {
            Some(rate) => self.pacer.ready_at(now, bytes, rate, self.mss),
            None => now,
        }
    }

    /// Records an ack-eliciting frame just sent.
    pub fn on_sent(&mut self, now: Instant, pn: u64, size: usize, payload: SentPayload) {
        debug_assert!(self.sent.back().is_none_or(|f| f.pn < pn));
        self.sent.push_back(SentFrame { pn, time: now, size: size as u32, payload, done: false });
        self.in_flight += size as u64;
        self.last_eliciting_sent = Some(now);
        self.cc.on_sent(now, size as u64);
        self.pacer.on_sent(size as u64);
    }

    /// Processes an ACK: calls `f` with every newly acknowledged frame and every frame this ACK
    /// shows to be lost.
    pub fn on_ack(&mut self, now: Instant, ack: &Ack<'_>, mut f: impl FnMut(SentPayload, Outcome)) {
        let ack_delay = Duration::from_micros(u64::from(ack.ack_delay_us)).min(self.max_ack_delay);
        let mut newly_acked = false;
        let mut rtt_sample = None;
        for range in ack.ranges() {
            let start = self.sent.partition_point(|fr| fr.pn < range.smallest);
            for fr in self.sent.range_mut(start..) {
                if fr.pn > range.largest {
                    break;
                }
                if fr.done {
                    continue;
                }
                fr.done = true;
                newly_acked = true;
                self.in_flight -= u64::from(fr.size);
                if fr.pn == ack.largest() {
                    rtt_sample = Some(now - fr.time);
                }
                self.cc.on_ack(now, fr.time, u64::from(fr.size), &self.rtt);
                f(fr.payload, Outcome::Acked);
            }
        }
        if self.largest_acked.is_none_or(|l| ack.largest() > l) {
            self.largest_acked = Some(ack.largest());
            if let Some(rtt) = rtt_sample {
                self.rtt.update(rtt, ack_delay);
            }
        }
        if newly_acked {
            self.pto_count = 0;
        }
        self.detect_lost(now, |p| f(p, Outcome::Lost));
        self.trim();
    }

    fn trim(&mut self) {
        while self.sent.front().is_some_and(|f| f.done) {
            self.sent.pop_front();
        }
    }

    fn detect_lost(&mut self, now: Instant, mut lost: impl FnMut(SentPayload)) {
        let Some(largest) = self.largest_acked else { return };
        let loss_delay = self.rtt.loss_delay();
        self.loss_time = None;
        let mut latest_lost = None;
        // Frames are in send order, so the first frame that is not lost ends the scan.
        for f in self.sent.iter_mut() {
            if f.done {
                continue;
            }
            if f.pn >= largest {
                break;
            }
            let by_time = f.time + loss_delay <= now;
            if by_time || f.pn + PACKET_THRESHOLD <= largest {
                f.done = true;
                self.in_flight -= u64::from(f.size);
                self.lost_frames += 1;
                latest_lost = Some(f.time);
                lost(f.payload);
            } else {
                self.loss_time = Some(f.time + loss_delay);
                break;
            }
        }
        if let Some(sent) = latest_lost {
            self.cc.on_congestion_event(now, sent, false);
        }
    }

    /// When recovery next needs `on_timeout`: the loss timer, else the probe timeout if anything
    /// ack-eliciting is in flight.
    pub fn deadline(&self) -> Option<Instant> {
        if self.loss_time.is_some() {
            return self.loss_time;
        }
        if self.in_flight == 0 {
            return None;
        }
        let backoff = 1u32 << self.pto_count.min(16);
        self.last_eliciting_sent.map(|t| t + self.rtt.pto_base(self.max_ack_delay) * backoff)
    }

    /// Runs the loss timer or the probe timeout. Returns true if a probe must be sent.
    pub fn on_timeout(&mut self, now: Instant, lost: impl FnMut(SentPayload)) -> bool {
        let Some(deadline) = self.deadline() else { return false };
        if now < deadline {
            return false;
        }
        if self.loss_time.is_some() {
            self.detect_lost(now, lost);
            self.trim();
            return false;
        }
        self.pto_count += 1;
        true
    }

    /// The oldest DATA segment still in flight: a probe that resends it both elicits an ACK and,
    /// if it gets through, delivers data (RFC 9002 §6.2.4).
    pub fn oldest_data_in_flight(&self) -> Option<SentPayload> {
        self.sent.iter().find(|f| !f.done && matches!(f.payload, SentPayload::Data { .. })).map(|f| f.payload)
    }
}
