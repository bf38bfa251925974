//! Loss recovery for one session (the shape of RFC 9002, with RACK-TLP's loss detection): which
//! ack-eliciting frames are in flight, RTT samples from ACKs, delivery-rate samples
//! (`rate.rs`), time-based loss detection with an adaptive reordering window (`rack.rs`),
//! detection and undo of spurious losses, the probe timeout, and the congestion controller
//! (`crate::congestion`) and pacer (`pacer.rs`) that gate new sending.
//!
//! Every encrypted frame has its own packet number, so "packet" here means one frame. Frames are
//! recorded in send order; the payload tag says what to do when one is acknowledged or lost. A
//! frame declared lost is kept for a few round trips: an ACK that names it then proves the loss
//! spurious, which widens the reordering window and lets the controller undo its response.

mod pacer;
mod rack;
mod rate;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::time::Duration;

use crate::congestion::{AckSample, CongestionController, LossSample, RttSample};
use crate::rtt::RttEstimator;
use crate::time::Instant;
use crate::wire::stream::Ack;
use pacer::Pacer;
use rack::Rack;
use rate::{DeliveryRate, Snapshot};

/// What became of a frame in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The peer acknowledged it.
    Acked,
    /// It is lost: repair it if it matters.
    Lost,
}

/// What an ack-eliciting frame carried, so that its loss can be repaired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SentPayload {
    /// NEW_TICKET (the session keeps its payload until acknowledged).
    #[cfg(feature = "resumption")]
    Ticket,
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
    /// STREAM_CLOSE refusing a stream the peer opened past the limit.
    Refusal {
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
    /// One piece of an ENDPOINT_REGISTER announcement of this registry version.
    #[cfg_attr(not(feature = "names"), allow(dead_code))]
    NameAnnounce {
        /// Registry version.
        version: u32,
        /// The piece.
        piece: u8,
    },
    /// An ENDPOINT_RESOLVE or ENDPOINT_ROUTE request.
    #[cfg_attr(not(feature = "names"), allow(dead_code))]
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FrameState {
    InFlight,
    Acked,
    /// Declared lost at this time; kept to recognise a late acknowledgement.
    Lost(Instant),
}

#[derive(Clone, Copy, Debug)]
struct SentFrame {
    pn: u64,
    time: Instant,
    size: u32,
    payload: SentPayload,
    state: FrameState,
    snapshot: Snapshot,
}

/// Recovery state of one session.
pub(crate) struct Recovery {
    sent: VecDeque<SentFrame>,
    in_flight: u64,
    largest_acked: Option<u64>,
    /// The packet number the next frame will carry (or later): rounds for the reordering window.
    next_pn: u64,
    loss_time: Option<Instant>,
    pto_count: u32,
    /// When the frame the current row of probe timeouts waits on went out.
    probing_since: Option<Instant>,
    last_eliciting_sent: Option<Instant>,
    rtt: RttEstimator,
    cc: Box<dyn CongestionController>,
    pacer: Pacer,
    rate: DeliveryRate,
    rack: Rack,
    /// The peer's `max_ack_delay` in microseconds (a `u32` packs beside `pto_count`: every
    /// idle session holds one).
    max_ack_delay_us: u32,
    mss: u64,
    lost_frames: u64,
    spurious_losses: u64,
}

impl core::fmt::Debug for Recovery {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Recovery").field("in_flight", &self.in_flight).field("rtt", &self.rtt).finish()
    }
}

impl Recovery {
    /// The peer's maximum ACK delay.
    fn max_ack_delay(&self) -> Duration {
        Duration::from_micros(u64::from(self.max_ack_delay_us))
    }

    /// Fresh state with a controller and the peer's maximum ACK delay.
    pub(crate) fn new(cc: Box<dyn CongestionController>, max_ack_delay: Duration, mss: u64) -> Self {
        Recovery {
            sent: VecDeque::new(),
            in_flight: 0,
            largest_acked: None,
            next_pn: 0,
            loss_time: None,
            pto_count: 0,
            probing_since: None,
            last_eliciting_sent: None,
            rtt: RttEstimator::default(),
            cc,
            pacer: Pacer::default(),
            rate: DeliveryRate::default(),
            rack: Rack::default(),
            max_ack_delay_us: u32::try_from(max_ack_delay.as_micros()).unwrap_or(u32::MAX),
            mss,
            lost_frames: 0,
            spurious_losses: 0,
        }
    }

    /// The packet number after the newest tracked frame: every tracked frame sent from now on
    /// has this number or a larger one.
    pub(crate) fn next_pn(&self) -> u64 {
        self.next_pn
    }

    /// The RTT estimator.
    pub(crate) fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Seeds the estimator with a handshake round trip.
    pub(crate) fn seed_rtt(&mut self, rtt: Duration) {
        if !self.rtt.has_sample() {
            self.rtt.update(rtt, Duration::ZERO);
        }
    }

    /// Bytes of ack-eliciting frames in flight.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Congestion window.
    pub(crate) fn window(&self) -> u64 {
        self.cc.window()
    }

    /// Frames declared lost so far (spurious ones included).
    pub(crate) fn lost_frames(&self) -> u64 {
        self.lost_frames
    }

    /// Frames declared lost that were acknowledged after all.
    pub(crate) fn spurious_losses(&self) -> u64 {
        self.spurious_losses
    }

    /// Bytes delivered so far.
    pub(crate) fn delivered(&self) -> u64 {
        self.rate.delivered()
    }

    /// The controller's pacing rate now (bytes per second).
    pub(crate) fn pacing_rate(&self) -> Option<u64> {
        self.cc.pacing_rate(self.rtt.smoothed())
    }

    /// The controller's phase, for diagnostics.
    pub(crate) fn congestion_phase(&self) -> &'static str {
        self.cc.phase()
    }

    /// The reordering window RACK's time threshold uses now.
    pub(crate) fn reordering_window(&self) -> Duration {
        self.rack.reo_wnd(self.rtt.min(), self.rtt.smoothed())
    }

    /// True if the congestion window has room for `bytes` more.
    pub(crate) fn window_allows(&self, bytes: u64) -> bool {
        self.in_flight + bytes <= self.cc.window()
    }

    /// When `bytes` may go out under pacing (`now` if at once).
    pub(crate) fn pacing_ready_at(&mut self, now: Instant, bytes: u64) -> Instant {
        match self.cc.pacing_rate(self.rtt.smoothed()) {
            Some(rate) => self.pacer.ready_at(now, bytes, rate, self.mss),
            None => now,
        }
    }

    /// The sender has nothing to send, or no credit to send it, while the window has room: rate
    /// samples taken until what is in flight now is delivered say so, and windows do not grow.
    pub(crate) fn on_app_limited(&mut self) {
        if self.in_flight < self.cc.window() {
            self.rate.on_app_limited(self.in_flight);
        }
    }

    /// Records an ack-eliciting frame just sent.
    pub(crate) fn on_sent(&mut self, now: Instant, pn: u64, size: usize, payload: SentPayload) {
        debug_assert!(self.sent.back().is_none_or(|f| f.pn < pn));
        let size = size as u64;
        let snapshot = self.rate.on_sent(now, self.in_flight, size);
        self.sent.push_back(SentFrame {
            pn,
            time: now,
            size: size as u32,
            payload,
            state: FrameState::InFlight,
            snapshot,
        });
        self.in_flight += size;
        self.next_pn = self.next_pn.max(pn + 1);
        self.last_eliciting_sent = Some(now);
        self.cc.on_sent(now, size, self.in_flight);
        self.pacer.on_sent(size);
    }

    /// Processes an ACK: calls `f` with every newly acknowledged frame (and every frame declared
    /// lost that the ACK proves arrived) and every frame this ACK shows to be lost. Returns the
    /// packet number of the newest frame it newly acknowledged and that frame's round trip, less
    /// the delay the peer reports (at most `max_ack_delay`; kept whole if the delay is as long as
    /// the round trip); `None` if it acknowledged nothing new.
    pub(crate) fn on_ack(
        &mut self,
        now: Instant,
        ack: &Ack<'_>,
        mut f: impl FnMut(SentPayload, Outcome),
    ) -> Option<(u64, Duration)> {
        let ack_delay = Duration::from_micros(u64::from(ack.ack_delay_us)).min(self.max_ack_delay());
        let prior_in_flight = self.in_flight;
        let largest_before = self.largest_acked;
        let mut acked = 0u64;
        let mut rtt_sample = None;
        // The newest frame acknowledged (by packet number): its snapshot gives the rate sample.
        let mut newest: Option<(u64, Instant, Snapshot)> = None;
        let mut spurious: Option<Instant> = None;
        for range in ack.ranges() {
            let start = self.sent.partition_point(|fr| fr.pn < range.smallest);
            for fr in self.sent.range_mut(start..) {
                if fr.pn > range.largest {
                    break;
                }
                match fr.state {
                    FrameState::Acked => continue,
                    FrameState::InFlight => {
                        self.in_flight -= u64::from(fr.size);
                        acked += u64::from(fr.size);
                    }
                    FrameState::Lost(_) => {
                        self.spurious_losses += 1;
                        spurious = Some(spurious.map_or(fr.time, |t: Instant| t.min(fr.time)));
                    }
                }
                fr.state = FrameState::Acked;
                self.rate.on_delivered(now, u64::from(fr.size));
                if largest_before.is_some_and(|l| fr.pn < l) {
                    self.rack.on_reordering();
                }
                self.rack.on_acked(fr.time, fr.pn, now - fr.time);
                if newest.is_none_or(|(pn, _, _)| fr.pn > pn) {
                    newest = Some((fr.pn, fr.time, fr.snapshot));
                }
                if fr.pn == ack.largest() {
                    rtt_sample = Some(now - fr.time);
                }
                f(fr.payload, Outcome::Acked);
            }
        }
        let (newest_pn, newest_sent, snapshot) = newest?;
        if self.largest_acked.is_none_or(|l| ack.largest() > l) {
            self.largest_acked = Some(ack.largest());
            if let Some(rtt) = rtt_sample {
                self.rtt.update(rtt, ack_delay);
            }
        }
        // The newest frame this ACK newly acknowledged, even when the ACK's largest packet is one
        // nothing tracks (an ACK that rode behind it). Unlike the estimator, which keeps a delay
        // that would take the sample below the minimum RTT (RFC 9002 §5.3), this takes the delay
        // off whenever something is left: on an idle session every sample waited for the
        // delayed ACK, the minimum too.
        let rtt = now - newest_sent;
        let sample = Some((newest_pn, rtt.checked_sub(ack_delay).filter(|d| !d.is_zero()).unwrap_or(rtt)));
        let rate = self.rate.sample(newest_sent, &snapshot);
        if let Some(sent) = spurious {
            self.rack.on_spurious(self.largest_acked.unwrap_or(0), self.next_pn);
            self.cc.on_spurious_loss(now, sent);
        }
        if acked > 0 {
            self.pto_count = 0;
            self.probing_since = None;
            let rtt = RttSample { latest: self.rtt.latest(), smoothed: self.rtt.smoothed(), min: self.rtt.min() };
            self.cc.on_ack(&AckSample {
                now,
                acked,
                newest_sent,
                delivered: self.rate.delivered(),
                prior_in_flight,
                in_flight: self.in_flight,
                rtt,
                rate: Some(rate),
                app_limited: self.rate.is_app_limited(),
            });
        }
        self.detect_lost(now, |p| f(p, Outcome::Lost));
        self.trim(now);
        sample
    }

    /// Drops from the front what no ACK can change any more: acknowledged frames, and lost ones
    /// past the time a late acknowledgement could still come.
    fn trim(&mut self, now: Instant) {
        let keep = self.rtt.smoothed().max(self.rtt.latest()) * 3;
        while let Some(f) = self.sent.front() {
            match f.state {
                FrameState::Acked => {}
                FrameState::Lost(at) if at + keep <= now => {}
                _ => break,
            }
            self.sent.pop_front();
        }
    }

    fn detect_lost(&mut self, now: Instant, mut lost: impl FnMut(SentPayload)) {
        self.loss_time = None;
        let (Some(largest), Some(end_pn)) = (self.largest_acked, self.rack.end_pn()) else { return };
        let reo_wnd = self.reordering_window();
        let mut lost_bytes = 0u64;
        let mut newest: Option<(Instant, u64)> = None;
        let mut oldest: Option<Instant> = None;
        for f in self.sent.iter_mut() {
            if f.state != FrameState::InFlight {
                continue;
            }
            // Frames sent after the most recently acknowledged one cannot be judged yet (the
            // probe timeout covers them).
            if f.pn >= end_pn {
                break;
            }
            let deadline = self.rack.deadline(f.time, reo_wnd);
            if self.rack.lost_by_count(f.pn, largest) || deadline <= now {
                f.state = FrameState::Lost(now);
                let size = u64::from(f.size);
                self.in_flight -= size;
                self.rate.on_lost(size);
                self.lost_frames += 1;
                lost_bytes += size;
                newest = Some((f.time, f.snapshot.tx_in_flight()));
                oldest.get_or_insert(f.time);
                lost(f.payload);
            } else {
                // Frames are in send order: the later ones are due later.
                self.loss_time = Some(deadline);
                break;
            }
        }
        if let (Some((newest_lost_sent, tx_in_flight)), Some(oldest)) = (newest, oldest) {
            // Persistent congestion (RFC 9002 §7.6, simplified): lost frames spanning three
            // probe timeouts, after a probe timeout fired.
            let persistent =
                self.pto_count > 0 && newest_lost_sent - oldest > self.rtt.pto_base(self.max_ack_delay()) * 3;
            self.rack.on_loss_episode();
            self.cc.on_loss(&LossSample {
                now,
                lost: lost_bytes,
                newest_lost_sent,
                tx_in_flight,
                in_flight: self.in_flight,
                persistent,
            });
        }
    }

    /// When recovery next needs `on_timeout`: the loss timer, else the probe timeout if anything
    /// ack-eliciting is in flight.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.loss_time.is_some() {
            return self.loss_time;
        }
        if self.in_flight == 0 {
            return None;
        }
        let backoff = 1u32 << self.pto_count.min(16);
        self.last_eliciting_sent.map(|t| t + self.rtt.pto_base(self.max_ack_delay()) * backoff)
    }

    /// When the frame that the current row of probe timeouts waits on went out (`None` once
    /// something was acknowledged since).
    pub(crate) fn probing_since(&self) -> Option<Instant> {
        self.probing_since
    }

    /// Probe timeouts in a row since anything was last acknowledged.
    pub(crate) fn probe_timeouts(&self) -> u32 {
        self.pto_count
    }

    /// Runs the loss timer or the probe timeout. Returns true if a probe must be sent.
    pub(crate) fn on_timeout(&mut self, now: Instant, lost: impl FnMut(SentPayload)) -> bool {
        let Some(deadline) = self.deadline() else { return false };
        if now < deadline {
            return false;
        }
        if self.loss_time.is_some() {
            self.detect_lost(now, lost);
            self.trim(now);
            return false;
        }
        self.pto_count += 1;
        // The row started when the frame whose probe timeout this is went out.
        let since = self.last_eliciting_sent.unwrap_or(now);
        self.probing_since.get_or_insert(since);
        true
    }

    /// The oldest DATA segment or credit update (MAX_DATA) still in flight: a probe that resends
    /// it both elicits an ACK and, if it gets through, delivers what the peer waits for (RFC
    /// 9002 §6.2.4). A receiver whose only frame in flight is the credit its blocked peer needs
    /// resends that credit, not an empty KEEPALIVE that would take another round trip to reveal
    /// the loss.
    pub(crate) fn oldest_repairable_in_flight(&self) -> Option<SentPayload> {
        self.sent
            .iter()
            .find(|f| {
                f.state == FrameState::InFlight
                    && matches!(f.payload, SentPayload::Data { .. } | SentPayload::MaxData { .. })
            })
            .map(|f| f.payload)
    }

    /// The credit updates (MAX_DATA) still in flight, oldest first.
    pub(crate) fn credit_in_flight(&self) -> impl Iterator<Item = SentPayload> + '_ {
        self.sent
            .iter()
            .filter(|f| f.state == FrameState::InFlight && matches!(f.payload, SentPayload::MaxData { .. }))
            .map(|f| f.payload)
    }

    /// The frames numbered below `pn_end` that are still in flight were 0-RTT data the peer
    /// never took (its handshake refused the ticket): lost now, each handed to `lost`, with no
    /// congestion response (they say nothing of the path).
    pub(crate) fn abandon_before(&mut self, pn_end: u64, now: Instant, mut lost: impl FnMut(SentPayload)) {
        for f in self.sent.iter_mut() {
            if f.pn >= pn_end {
                break;
            }
            if f.state == FrameState::InFlight {
                f.state = FrameState::Lost(now);
                self.in_flight -= u64::from(f.size);
                lost(f.payload);
            }
        }
    }

    /// Checks the in-flight count against the frames (property tests).
    #[cfg(test)]
    pub(crate) fn check_accounting(&self) -> Result<(), alloc::string::String> {
        let sum: u64 = self.sent.iter().filter(|f| f.state == FrameState::InFlight).map(|f| u64::from(f.size)).sum();
        if sum != self.in_flight {
            return Err(alloc::format!("in_flight {} but frames in flight sum to {sum}", self.in_flight));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::new_reno;
    use crate::wire::stream::{encode_ack, AckRange};
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// Send a frame of this size.
        Send(u16),
        /// Acknowledge a random selection of the frames sent so far (at most 32 ranges).
        Ack(Vec<bool>),
        /// Let this many milliseconds pass and run the timers.
        Wait(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (60u16..1500).prop_map(Op::Send),
            3 => proptest::collection::vec(any::<bool>(), 1..80).prop_map(Op::Ack),
            1 => (1u8..200).prop_map(Op::Wait),
        ]
    }

    /// Builds an ACK for the selected packet numbers (largest first, at most 32 ranges).
    fn ack_bytes(pns: &[u64]) -> Vec<u8> {
        let mut ranges: Vec<AckRange> = Vec::new();
        for &pn in pns.iter().rev() {
            match ranges.last_mut() {
                Some(r) if r.smallest == pn + 1 => r.smallest = pn,
                _ => ranges.push(AckRange { largest: pn, smallest: pn }),
            }
        }
        ranges.truncate(32);
        let mut buf = alloc::vec![0u8; crate::wire::stream::ack_len(ranges.len())];
        encode_ack(&mut buf, 0, ranges.into_iter());
        buf
    }

    /// The sample `on_ack` returns comes from the newest frame it newly acknowledged, also when
    /// the ACK's largest packet number is one nothing tracks (an ACK that rode behind a
    /// KEEPALIVE), with the reported delay taken off.
    #[test]
    fn the_sample_is_the_newest_tracked_frame_less_the_reported_delay() {
        let mut r = Recovery::new(new_reno(1200), Duration::from_millis(25), 1200);
        let sent = Instant::from_nanos(1_000_000_000);
        r.on_sent(sent, 5, 60, SentPayload::Ping);
        // Packet 6 (an ACK frame) is untracked; the peer acknowledges 5 and 6 after 70 ms,
        // saying it held its acknowledgement for 20 ms.
        let mut buf = alloc::vec![0u8; crate::wire::stream::ack_len(1)];
        encode_ack(&mut buf, 20_000, [AckRange { largest: 6, smallest: 5 }].into_iter());
        let ack = Ack::decode(&buf).unwrap();
        let sample = r.on_ack(sent + Duration::from_millis(70), &ack, |_, _| {});
        assert_eq!(sample, Some((5, Duration::from_millis(50))));
        // Nothing new acknowledged: no sample.
        assert_eq!(r.on_ack(sent + Duration::from_millis(80), &ack, |_, _| {}), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// No frame is ever acknowledged twice or declared lost twice; a frame acknowledged
        /// after it was declared lost moves the spurious-loss counter (and only those do); in
        /// flight always equals the frames in flight; delivered counts every byte acknowledged;
        /// and once everything is acknowledged, nothing is in flight.
        #[test]
        fn outcomes_and_in_flight_accounting_stay_consistent(ops in proptest::collection::vec(op(), 1..200)) {
            let mut r = Recovery::new(new_reno(1200), Duration::from_millis(25), 1200);
            r.seed_rtt(Duration::from_millis(20));
            let mut now = Instant::from_nanos(1_000_000_000);
            let mut sizes: BTreeMap<u64, u64> = BTreeMap::new();
            let mut acked: BTreeMap<u64, u32> = BTreeMap::new();
            let mut lost: BTreeMap<u64, u32> = BTreeMap::new();
            let mut spurious = 0u64;
            let mut delivered = 0u64;
            let mut next = 0u64;
            let record = |p: SentPayload, o: Outcome, acked: &mut BTreeMap<u64, u32>, lost: &mut BTreeMap<u64, u32>, spurious: &mut u64, delivered: &mut u64, sizes: &BTreeMap<u64, u64>| {
                let SentPayload::MaxData { stream } = p else { unreachable!() };
                let pn = u64::from(stream);
                match o {
                    Outcome::Acked => {
                        *acked.entry(pn).or_default() += 1;
                        *delivered += sizes[&pn];
                        if lost.contains_key(&pn) {
                            *spurious += 1;
                        }
                    }
                    Outcome::Lost => *lost.entry(pn).or_default() += 1,
                }
            };
            for o in ops {
                match o {
                    Op::Send(size) => {
                        r.on_sent(now, next, usize::from(size), SentPayload::MaxData { stream: next as u32 });
                        sizes.insert(next, u64::from(size));
                        next += 1;
                        now += Duration::from_micros(300);
                    }
                    Op::Ack(pick) => {
                        let pns: Vec<u64> = (0..next).filter(|pn| pick.get(*pn as usize % pick.len()).copied().unwrap_or(false)).collect();
                        if pns.is_empty() {
                            continue;
                        }
                        now += Duration::from_millis(5);
                        let bytes = ack_bytes(&pns);
                        let ack = Ack::decode(&bytes).unwrap();
                        r.on_ack(now, &ack, |p, o| record(p, o, &mut acked, &mut lost, &mut spurious, &mut delivered, &sizes));
                    }
                    Op::Wait(ms) => {
                        now += Duration::from_millis(u64::from(ms));
                        let _ = r.on_timeout(now, |p| record(p, Outcome::Lost, &mut acked, &mut lost, &mut spurious, &mut delivered, &sizes));
                    }
                }
                prop_assert!(r.check_accounting().is_ok(), "{:?}", r.check_accounting());
                prop_assert!(acked.values().all(|&n| n == 1), "a frame acknowledged twice");
                prop_assert!(lost.values().all(|&n| n == 1), "a frame declared lost twice");
                prop_assert_eq!(r.spurious_losses(), spurious);
                prop_assert_eq!(r.delivered(), delivered);
            }
            // Acknowledge everything still unacknowledged, 32 at a time.
            let rest: Vec<u64> = (0..next).filter(|pn| !acked.contains_key(pn)).collect();
            for chunk in rest.chunks(32) {
                now += Duration::from_millis(1);
                let bytes = ack_bytes(chunk);
                let ack = Ack::decode(&bytes).unwrap();
                r.on_ack(now, &ack, |p, o| record(p, o, &mut acked, &mut lost, &mut spurious, &mut delivered, &sizes));
            }
            prop_assert_eq!(r.in_flight(), 0);
            prop_assert!(r.check_accounting().is_ok());
            prop_assert_eq!(r.spurious_losses(), spurious);
        }
    }

    #[test]
    fn a_frame_acknowledged_after_it_was_declared_lost_is_a_spurious_loss() {
        let mut r = Recovery::new(new_reno(1200), Duration::from_millis(25), 1200);
        r.seed_rtt(Duration::from_millis(20));
        let t0 = Instant::from_nanos(1_000_000_000);
        for pn in 0..5 {
            r.on_sent(t0, pn, 1000, SentPayload::Ping);
        }
        // 1..=4 arrive: 0 is lost by count (no reordering seen yet).
        let bytes = ack_bytes(&[1, 2, 3, 4]);
        let mut outcomes = Vec::new();
        r.on_ack(t0 + Duration::from_millis(20), &Ack::decode(&bytes).unwrap(), |_, o| outcomes.push(o));
        assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Lost).count(), 1);
        assert_eq!(r.in_flight(), 0);
        // Then 0 arrives after all.
        let bytes = ack_bytes(&[0, 1, 2, 3, 4]);
        r.on_ack(t0 + Duration::from_millis(25), &Ack::decode(&bytes).unwrap(), |_, _| {});
        assert_eq!(r.spurious_losses(), 1);
        assert_eq!(r.lost_frames(), 1);
        assert_eq!(r.in_flight(), 0);
    }
}
