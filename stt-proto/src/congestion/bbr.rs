//! STT's model-based controller, of the BBR family.
//!
//! The model: the bottleneck bandwidth (the largest delivery rate of the last ten round trips)
//! and the path's minimum RTT (of the last ten seconds). The sender paces at `gain × bandwidth`
//! and keeps at most `2 × bandwidth × min RTT` (plus the ACK aggregation seen) in flight. The
//! phases are BBR's: Startup (gain 2.89 until the bandwidth stops growing by a quarter for three
//! rounds), Drain, ProbeBW (a cycle of gains 1.25, 0.75, then six rounds of 1) and ProbeRTT
//! (every ten seconds, half a bandwidth-delay product for 200 ms and a round, so competing flows
//! see the empty queue and the minimum RTT stays true). ProbeBW's 0.75 phase lasts until no more
//! than one bandwidth-delay product is in flight (three round trips at most), so a queue that a
//! slightly high estimate built does not stand: the bottleneck's queue is empty once per cycle.
//!
//! What it takes from BBRv2/v3: loss is a congestion signal only when it is *congestive*. A round
//! that lost anything while its smallest RTT shows a standing queue (a quarter of the minimum
//! RTT, at least 2 ms, above it) cuts the bandwidth and in-flight bounds used for sending to 70%
//! (`bw_lo`, `inflight_lo`; the in-flight bound from what was in flight when the lost data was
//! sent), and ends Startup or a probe. Loss of data sent before that cut does not count again,
//! and a loss behind it that proves spurious lifts the bounds. The bounds grow back by 0.53
//! datagrams per round, the additive increase that goes with a decrease to 70% in CUBIC's
//! Reno-friendly region, so a loss-based flow that shares the queue keeps its share and flows of
//! this kind converge to equal ones; two seconds and a whole ProbeBW cycle after the last cut they are
//! lifted, as BBRv3 probes again after its wait, so a path of thousands of datagrams per
//! bandwidth-delay product is not left at 70% for minutes. Random loss on an empty queue
//! (Wi-Fi, mobile, long links) changes nothing, so the rate holds at 10% loss.

use core::time::Duration;

use super::{AckSample, CongestionController, LossSample, RateSample};
use crate::time::Instant;

/// Gains in thousandths.
const STARTUP_GAIN: u64 = 2885;
const DRAIN_GAIN: u64 = 1_000_000 / STARTUP_GAIN;
const CWND_GAIN: u64 = 2000;
const PROBE_BW_GAINS: [u64; 8] = [1250, 750, 1000, 1000, 1000, 1000, 1000, 1000];
/// Pacing runs this fraction (thousandths) of the model's rate, so the queue drains.
const PACING_MARGIN: u64 = 990;
/// Rounds the bandwidth filter remembers.
const BW_ROUNDS: usize = 10;
/// How long a minimum RTT stays valid before ProbeRTT measures it again.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
const PROBE_RTT_TIME: Duration = Duration::from_millis(200);
/// The most round trips ProbeBW's draining phase lasts while in flight stays above one
/// bandwidth-delay product.
const DRAIN_ROUNDS: u32 = 3;
/// How long after a cut the bounds are lifted at the latest (and at least a whole ProbeBW
/// cycle): BBRv3's wait between bandwidth probes. Growing back at `BOUND_STEP_MILLI` alone would
/// take minutes on a path of thousands of datagrams per bandwidth-delay product.
const PROBE_WAIT: Duration = Duration::from_secs(2);
/// Multiplicative decrease of the bounds on a congested round (thousandths).
const BETA: u64 = 700;
/// The shortest RTT the model works with (see `Bbr::model_rtt`).
const RTT_FLOOR: Duration = Duration::from_millis(1);
/// What the bounds grow by in each round without congestion, in thousandths of a datagram:
/// 3 (1 - β) / (1 + β), the additive increase that makes a decrease to β as fair to Reno and to
/// CUBIC's Reno-friendly region as Reno's own halving.
const BOUND_STEP_MILLI: u64 = 3 * (1000 - BETA) * 1000 / (1000 + BETA);

/// The last cut of the bounds on a congested round: when, and in which round.
#[derive(Clone, Copy, Debug)]
struct Cut {
    at: Instant,
    round: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Startup,
    Drain,
    ProbeBw,
    ProbeRtt,
}

/// A windowed maximum over the last `BW_ROUNDS` rounds, kept in three samples (the running
/// min/max filter of Linux's BBR, after Kathleen Nichols): the best, and the best of the later
/// parts of the window, which take over as the best ages out.
#[derive(Clone, Copy, Debug, Default)]
struct RoundMax {
    s: [(u64, u64); 3],
}

impl RoundMax {
    fn update(&mut self, round: u64, value: u64) {
        let win = BW_ROUNDS as u64;
        let fresh = (round, value);
        if value >= self.s[0].1 || round.saturating_sub(self.s[2].0) > win {
            self.s = [fresh; 3];
            return;
        }
        if value >= self.s[1].1 {
            self.s[1] = fresh;
            self.s[2] = fresh;
        } else if value >= self.s[2].1 {
            self.s[2] = fresh;
        }
        let age = round.saturating_sub(self.s[0].0);
        if age > win {
            self.s[0] = self.s[1];
            self.s[1] = self.s[2];
            self.s[2] = fresh;
            if round.saturating_sub(self.s[0].0) > win {
                self.s[0] = self.s[1];
                self.s[1] = self.s[2];
            }
        } else if self.s[1].0 == self.s[0].0 && age > win / 4 {
            self.s[1] = fresh;
            self.s[2] = fresh;
        } else if self.s[2].0 == self.s[1].0 && age > win / 2 {
            self.s[2] = fresh;
        }
    }

    fn max(&self) -> u64 {
        self.s[0].1
    }
}

/// A BBR-family controller; see the module documentation.
#[derive(Clone, Debug)]
pub struct Bbr {
    mss: u64,
    mode: Mode,
    bw: RoundMax,
    min_rtt: Option<Duration>,
    min_rtt_stamp: Instant,
    round: u64,
    next_round_delivered: u64,
    full_bw: u64,
    full_bw_rounds: u8,
    filled_pipe: bool,
    /// The phase of ProbeBW's cycle (an index into `PROBE_BW_GAINS`).
    cycle: u8,
    cycle_stamp: Instant,
    probe_rtt_done: Option<Instant>,
    probe_rtt_round: Option<u64>,
    prior_cwnd: u64,
    // This round's congestion signals.
    round_lost: u64,
    round_min_rtt: Option<Duration>,
    /// The most bytes in flight when a frame lost this round was sent.
    round_lost_in_flight: u64,
    // Bounds set by congestive loss: they grow back each round and are lifted `PROBE_WAIT` and
    // a whole ProbeBW cycle after the last cut.
    bw_lo: Option<u64>,
    inflight_lo: Option<u64>,
    /// The last cut of the bounds. Loss of data sent before it does not count again.
    last_cut: Option<Cut>,
    // ACK aggregation: bytes acknowledged beyond what the bandwidth explains.
    agg_start: Option<Instant>,
    agg_acked: u64,
    extra_acked: RoundMax,
    cwnd: u64,
    in_flight: u64,
    delivered: u64,
    /// Rounds found congested so far.
    congested_rounds: u64,
}

impl Bbr {
    /// A controller for a path of `mss`-byte datagrams: Startup, 10 datagrams of window.
    pub fn new(mss: u64) -> Self {
        Bbr {
            mss,
            mode: Mode::Startup,
            bw: RoundMax::default(),
            min_rtt: None,
            min_rtt_stamp: Instant::ZERO,
            round: 0,
            next_round_delivered: 0,
            full_bw: 0,
            full_bw_rounds: 0,
            filled_pipe: false,
            cycle: 0,
            cycle_stamp: Instant::ZERO,
            probe_rtt_done: None,
            probe_rtt_round: None,
            prior_cwnd: 0,
            round_lost: 0,
            round_min_rtt: None,
            round_lost_in_flight: 0,
            bw_lo: None,
            inflight_lo: None,
            last_cut: None,
            agg_start: None,
            agg_acked: 0,
            extra_acked: RoundMax::default(),
            cwnd: 10 * mss,
            in_flight: 0,
            delivered: 0,
            congested_rounds: 0,
        }
    }

    fn initial_cwnd(&self) -> u64 {
        10 * self.mss
    }

    fn min_cwnd(&self) -> u64 {
        4 * self.mss
    }

    /// The bandwidth the sender uses: the model's, under the congestion bound.
    fn bw(&self) -> u64 {
        self.bw.max().min(self.bw_lo.unwrap_or(u64::MAX))
    }

    /// `gain` (thousandths) times the bandwidth-delay product; `None` before the model exists.
    fn bdp(&self, gain: u64) -> Option<u64> {
        let (bw, rtt) = (self.bw(), self.model_rtt()?);
        if bw == 0 {
            return None;
        }
        Some((u128::from(bw) * rtt.as_nanos() * u128::from(gain) / 1_000 / 1_000_000_000) as u64)
    }

    /// The minimum RTT as the model uses it: at least `RTT_FLOOR`, since drivers batch sends and
    /// ACKs and their timers tick at about a millisecond, so on a sub-millisecond path (loopback,
    /// a LAN) a window of one measured RTT would idle the sender between batches.
    fn model_rtt(&self) -> Option<Duration> {
        self.min_rtt.map(|r| r.max(RTT_FLOOR))
    }

    fn pacing_gain(&self) -> u64 {
        match self.mode {
            Mode::Startup => STARTUP_GAIN,
            Mode::Drain => DRAIN_GAIN,
            Mode::ProbeBw => PROBE_BW_GAINS[usize::from(self.cycle)],
            Mode::ProbeRtt => 1000,
        }
    }

    /// The least rate the controller paces at: the minimum window per RTT (so a path that
    /// looked congested for many rounds still carries enough to measure it again).
    fn min_rate(&self, rtt: Option<Duration>) -> u64 {
        let rtt = rtt.unwrap_or(RTT_FLOOR).max(RTT_FLOOR);
        (u128::from(self.min_cwnd()) * 1_000_000_000 / rtt.as_nanos()) as u64
    }

    fn probe_rtt_cwnd(&self) -> u64 {
        self.bdp(500).unwrap_or(0).max(self.min_cwnd())
    }

    /// Ends the round that just closed: a round with congestive loss lowers the bounds.
    fn end_round(&mut self, now: Instant) {
        let queued = match (self.round_min_rtt, self.min_rtt) {
            (Some(r), Some(m)) => r > m + (m / 4).max(Duration::from_millis(2)),
            _ => false,
        };
        if self.round_lost > 0 && queued {
            self.on_congestion(now);
        } else {
            self.raise_bounds(now);
        }
        self.round_lost = 0;
        self.round_min_rtt = None;
        self.round_lost_in_flight = 0;
    }

    /// A congested round: back off to 70% of what was being used (the bandwidth, and the bytes
    /// that were in flight when the loss was sent, if less than the window), and stop growing.
    fn on_congestion(&mut self, now: Instant) {
        self.congested_rounds += 1;
        if self.mode == Mode::Startup {
            // Startup overshot into a queue: the bandwidth is found; Drain empties the queue,
            // and the model needs no cut.
            self.filled_pipe = true;
            self.mode = Mode::Drain;
            return;
        }
        self.last_cut = Some(Cut { at: now, round: self.round });
        if self.bw.max() > 0 {
            self.bw_lo = Some((self.bw() * BETA / 1000).max(self.min_rate(self.model_rtt())));
        }
        let inflight = self.inflight_lo.unwrap_or(self.cwnd).min(self.round_lost_in_flight.max(self.min_cwnd()));
        self.inflight_lo = Some((inflight * BETA / 1000).max(self.min_cwnd()));
        if self.mode == Mode::ProbeBw && self.cycle == 0 {
            self.cycle = 1;
            self.cycle_stamp = now;
        }
    }

    /// A round without congestion: the bounds grow back additively, by `BOUND_STEP_MILLI` of a
    /// datagram per round (so flows that share a queue converge to equal shares, as AIMD does,
    /// and a loss-based flow keeps its own), and are lifted once they no longer bind, or
    /// `PROBE_WAIT` and a whole ProbeBW cycle after the last cut (the bandwidth filter has by
    /// then forgotten the rate before it, so the sender probes up from where it is).
    fn raise_bounds(&mut self, now: Instant) {
        let waited = self
            .last_cut
            .is_some_and(|c| now >= c.at + PROBE_WAIT && self.round >= c.round + PROBE_BW_GAINS.len() as u64);
        if waited {
            self.bw_lo = None;
            self.inflight_lo = None;
        }
        let (Some(bw_lo), Some(inflight_lo), Some(min_rtt)) = (self.bw_lo, self.inflight_lo, self.model_rtt()) else {
            return;
        };
        let step = BOUND_STEP_MILLI * self.mss / 1000;
        let bw_step = (u128::from(step) * 1_000_000_000 / min_rtt.as_nanos().max(1)) as u64;
        let (bw_lo, inflight_lo) = (bw_lo + bw_step, inflight_lo + step);
        if bw_lo >= self.bw.max() && self.bdp(CWND_GAIN).is_some_and(|b| inflight_lo >= b) {
            self.bw_lo = None;
            self.inflight_lo = None;
        } else {
            self.bw_lo = Some(bw_lo);
            self.inflight_lo = Some(inflight_lo);
        }
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.mode = Mode::ProbeBw;
        // Start anywhere but the draining phase, so that flows started together desynchronise.
        self.cycle = 2 + (self.round % 6) as u8;
        self.cycle_stamp = now;
    }

    fn advance_cycle(&mut self, ack: &AckSample) {
        let Some(min_rtt) = self.model_rtt() else { return };
        let elapsed = ack.now - self.cycle_stamp;
        let full = elapsed > min_rtt;
        let next = match PROBE_BW_GAINS[usize::from(self.cycle)] {
            g if g > 1000 => {
                full && (ack.prior_in_flight >= self.bdp(g).unwrap_or(0)
                    || self.round_lost > 0
                    || elapsed > 2 * min_rtt)
            }
            // Drain what the probe queued, and whatever queue an estimate a little too high
            // has built since: in flight down to one bandwidth-delay product, so that the cycle
            // leaves the queue empty (a fixed round at 0.75 only takes back the probe's quarter,
            // and a standing queue would stay). A queue that is not this flow's own (a
            // loss-based flow beside it keeps one) does not drain: `DRAIN_ROUNDS` at most.
            g if g < 1000 => ack.prior_in_flight <= self.bdp(1000).unwrap_or(0) || elapsed > min_rtt * DRAIN_ROUNDS,
            _ => full,
        };
        if next {
            self.cycle = (self.cycle + 1) % PROBE_BW_GAINS.len() as u8;
            self.cycle_stamp = ack.now;
        }
    }

    fn check_full_pipe(&mut self, sample: &RateSample) {
        // A sample taken while the application (or the peer's credit) held the sender back says
        // nothing about the path: unless a whole bandwidth-delay product was in flight even so,
        // and a rate that stops growing then is the path's.
        let path_limited = !sample.app_limited || self.bdp(1000).is_some_and(|bdp| sample.tx_in_flight >= bdp);
        if self.filled_pipe || !path_limited {
            return;
        }
        let bw = self.bw.max();
        if bw >= self.full_bw + self.full_bw / 4 {
            self.full_bw = bw;
            self.full_bw_rounds = 0;
            return;
        }
        self.full_bw_rounds += 1;
        if self.full_bw_rounds >= 3 {
            self.filled_pipe = true;
        }
    }

    fn update_ack_aggregation(&mut self, now: Instant, acked: u64) {
        let bw = self.bw();
        let start = *self.agg_start.get_or_insert(now);
        let mut expected = (u128::from(bw) * (now - start).as_nanos() / 1_000_000_000) as u64;
        if self.agg_acked <= expected {
            // ACKs arrived no faster than the bandwidth explains: a new aggregation epoch.
            self.agg_start = Some(now);
            self.agg_acked = 0;
            expected = 0;
        }
        self.agg_acked += acked;
        let extra = (self.agg_acked - expected).min(self.cwnd);
        self.extra_acked.update(self.round, extra);
    }

    fn update_cwnd(&mut self, acked: u64) {
        if let Some(bdp) = self.bdp(CWND_GAIN) {
            let target = bdp + self.extra_acked.max() + 3 * self.mss;
            if self.filled_pipe {
                self.cwnd = (self.cwnd + acked).min(target);
            } else if self.cwnd < target || self.delivered < self.initial_cwnd() {
                self.cwnd += acked;
            }
        } else {
            self.cwnd += acked;
        }
        self.cwnd = self.cwnd.max(self.min_cwnd());
        if let Some(lo) = self.inflight_lo {
            self.cwnd = self.cwnd.min(lo).max(self.min_cwnd());
        }
        if self.mode == Mode::ProbeRtt {
            self.cwnd = self.cwnd.min(self.probe_rtt_cwnd());
        }
    }

    fn check_probe_rtt(&mut self, now: Instant, round_start: bool, expired: bool) {
        if self.mode != Mode::ProbeRtt && expired {
            self.mode = Mode::ProbeRtt;
            self.prior_cwnd = self.cwnd;
            self.probe_rtt_done = None;
            self.probe_rtt_round = None;
        }
        if self.mode != Mode::ProbeRtt {
            return;
        }
        match self.probe_rtt_done {
            None if self.in_flight <= self.probe_rtt_cwnd() => {
                self.probe_rtt_done = Some(now + PROBE_RTT_TIME);
                self.probe_rtt_round = Some(self.round + 1);
            }
            Some(done) if now >= done && round_start && self.probe_rtt_round.is_some_and(|r| self.round >= r) => {
                self.min_rtt_stamp = now;
                self.cwnd = self.cwnd.max(self.prior_cwnd);
                if self.filled_pipe {
                    self.enter_probe_bw(now);
                } else {
                    self.mode = Mode::Startup;
                }
            }
            _ => {}
        }
    }
}

impl CongestionController for Bbr {
    fn on_sent(&mut self, _now: Instant, _bytes: u64, in_flight: u64) {
        self.in_flight = in_flight;
    }

    fn on_ack(&mut self, ack: &AckSample) {
        let now = ack.now;
        self.in_flight = ack.in_flight;
        self.delivered = ack.delivered;
        let mut round_start = false;
        if let Some(rs) = &ack.rate {
            if rs.prior_delivered >= self.next_round_delivered {
                self.next_round_delivered = ack.delivered;
                self.round += 1;
                round_start = true;
                self.end_round(now);
            }
        }
        self.round_min_rtt = Some(self.round_min_rtt.map_or(ack.rtt.latest, |r| r.min(ack.rtt.latest)));
        // The minimum RTT, renewed when a smaller sample comes or the old one expires (which
        // also sends the controller to ProbeRTT, to measure it on an emptied queue).
        let expired = self.min_rtt.is_some() && now > self.min_rtt_stamp + MIN_RTT_WINDOW;
        if self.min_rtt.is_none_or(|m| ack.rtt.latest <= m) || expired {
            self.min_rtt = Some(ack.rtt.latest);
            self.min_rtt_stamp = now;
        }
        if let Some(rs) = ack.rate.filter(|rs| self.min_rtt.is_some_and(|m| rs.interval >= m)) {
            let rate = rs.rate();
            if !rs.app_limited || rate >= self.bw.max() {
                self.bw.update(self.round, rate);
            }
            if round_start {
                self.check_full_pipe(&rs);
            }
        }
        self.update_ack_aggregation(now, ack.acked);
        match self.mode {
            Mode::Startup if self.filled_pipe => self.mode = Mode::Drain,
            Mode::ProbeBw => self.advance_cycle(ack),
            _ => {}
        }
        // Drained once no more than one bandwidth-delay product is in flight; an
        // application-limited sender has no queue of its own to drain.
        if self.mode == Mode::Drain && (self.in_flight <= self.bdp(1000).unwrap_or(u64::MAX) || ack.app_limited) {
            self.enter_probe_bw(now);
        }
        self.check_probe_rtt(now, round_start, expired);
        self.update_cwnd(ack.acked);
    }

    fn on_loss(&mut self, loss: &LossSample) {
        self.in_flight = loss.in_flight;
        if loss.persistent {
            self.cwnd = self.min_cwnd();
        }
        // Data sent before the last cut was sent under the old bounds: its loss is the same
        // congestion, already answered.
        if self.last_cut.is_some_and(|c| loss.newest_lost_sent <= c.at) {
            return;
        }
        self.round_lost += loss.lost;
        self.round_lost_in_flight = self.round_lost_in_flight.max(loss.tx_in_flight);
    }

    fn on_spurious_loss(&mut self, _now: Instant, sent: Instant) {
        // A loss behind the last cut was reordering: the bounds go (as Linux's BBRv2 resets its
        // lower bounds when a reduction is undone).
        if self.last_cut.is_some_and(|c| sent <= c.at) {
            self.bw_lo = None;
            self.inflight_lo = None;
            self.last_cut = None;
        }
    }

    fn window(&self) -> u64 {
        self.cwnd
    }

    fn phase(&self) -> &'static str {
        let bounded = self.bw_lo.is_some() || self.inflight_lo.is_some();
        match (self.mode, bounded) {
            (Mode::Startup, _) => "startup",
            (Mode::Drain, _) => "drain",
            (Mode::ProbeBw, false) => "probe_bw",
            (Mode::ProbeBw, true) => "probe_bw, bounded by loss",
            (Mode::ProbeRtt, _) => "probe_rtt",
        }
    }

    fn pacing_rate(&self, srtt: Duration) -> Option<u64> {
        let gain = self.pacing_gain();
        let bw = self.bw();
        let rate = if bw == 0 || self.min_rtt.is_none() {
            // No model yet: the initial window over the handshake's RTT, at the Startup gain.
            u128::from(self.cwnd) * 1_000_000_000 / srtt.as_nanos().max(1)
        } else {
            u128::from(bw)
        };
        let paced =
            (rate * u128::from(gain) / 1000 * u128::from(PACING_MARGIN) / 1000).min(u128::from(u64::MAX)) as u64;
        Some(paced.max(self.min_rate(Some(srtt))))
    }
}

#[cfg(test)]
mod tests {
    use super::super::RttSample;
    use super::*;

    /// Feeds the controller a path of `rate` bytes/s and `rtt`, acknowledging one window per
    /// round trip, with `loss` of each round lost and `queue` added to every RTT sample.
    fn drive(cc: &mut Bbr, rounds: u64, rate: u64, rtt: Duration, loss_milli: u64, queue: Duration, start: u64) -> u64 {
        let mut delivered = cc.delivered;
        for r in start..start + rounds {
            let now = Instant::from_nanos((r + 1) * rtt.as_nanos() as u64);
            let cap = (u128::from(rate) * rtt.as_nanos() / 1_000_000_000) as u64;
            let sent = cc.window().min(cap * 2);
            let acked = sent.min(cap) * (1000 - loss_milli) / 1000;
            let lost = sent.min(cap) - acked;
            if lost > 0 {
                cc.on_loss(&LossSample {
                    now,
                    lost,
                    newest_lost_sent: Instant::from_nanos(r * rtt.as_nanos() as u64),
                    tx_in_flight: sent,
                    in_flight: sent - lost,
                    persistent: false,
                });
            }
            let prior = delivered;
            delivered += acked;
            let rs = RateSample {
                delivered: acked,
                interval: rtt,
                app_limited: false,
                prior_delivered: prior,
                tx_in_flight: sent,
                lost,
            };
            cc.on_ack(&AckSample {
                now,
                acked,
                newest_sent: Instant::from_nanos(r * rtt.as_nanos() as u64),
                delivered,
                prior_in_flight: sent,
                in_flight: 0,
                rtt: RttSample { latest: rtt + queue, smoothed: rtt + queue, min: rtt },
                rate: Some(rs),
                app_limited: false,
            });
        }
        start + rounds
    }

    #[test]
    fn startup_finds_the_bandwidth_and_settles_at_a_couple_of_bdp() {
        let mut cc = Bbr::new(1200);
        let rtt = Duration::from_millis(50);
        drive(&mut cc, 40, 1_250_000, rtt, 0, Duration::ZERO, 0);
        let bw = cc.bw.max();
        assert!((1_100_000..=1_300_000).contains(&bw), "bandwidth estimate {bw}");
        assert_eq!(cc.mode, Mode::ProbeBw);
        // Two bandwidth-delay products, plus what ACK aggregation adds (this path acknowledges
        // a whole window at once, every round trip), plus three datagrams.
        let bdp = 62_500;
        let extra = cc.extra_acked.max();
        assert!(extra <= bdp + 3 * 1200, "aggregation {extra}");
        assert!(cc.window() >= bdp && cc.window() <= 2 * bdp + extra + 3 * 1200 + 3000, "window {}", cc.window());
        let pacing = cc.pacing_rate(rtt).unwrap();
        assert!((900_000..=1_600_000).contains(&pacing), "pacing {pacing}");
    }

    #[test]
    fn long_congestion_never_pins_the_rate_below_the_minimum_window_per_rtt() {
        let mut cc = Bbr::new(1200);
        let rtt = Duration::from_millis(50);
        let r = drive(&mut cc, 30, 1_250_000, rtt, 0, Duration::ZERO, 0);
        drive(&mut cc, 200, 1_250_000, rtt, 300, Duration::from_millis(40), r);
        assert!(cc.congested_rounds > 50);
        let floor = 4 * 1200 * 1_000_000_000 / rtt.as_nanos() as u64;
        assert!(cc.pacing_rate(rtt).unwrap() >= floor, "pacing {:?} under {floor}", cc.pacing_rate(rtt));
        assert!(cc.window() >= 4 * 1200);
    }

    #[test]
    fn random_loss_without_a_queue_does_not_move_it() {
        let mut cc = Bbr::new(1200);
        let rtt = Duration::from_millis(50);
        let r = drive(&mut cc, 30, 1_250_000, rtt, 0, Duration::ZERO, 0);
        let before = cc.bw();
        drive(&mut cc, 40, 1_250_000, rtt, 100, Duration::ZERO, r);
        assert_eq!(cc.congested_rounds, 0);
        assert!(cc.bw() * 10 >= before * 8, "10% random loss kept the rate: {} of {before}", cc.bw());
    }

    #[test]
    fn loss_with_a_standing_queue_backs_off() {
        let mut cc = Bbr::new(1200);
        let rtt = Duration::from_millis(50);
        let r = drive(&mut cc, 30, 1_250_000, rtt, 0, Duration::ZERO, 0);
        let window = cc.window();
        assert_eq!(cc.congested_rounds, 0);
        drive(&mut cc, 2, 1_250_000, rtt, 50, Duration::from_millis(30), r);
        assert_eq!(cc.congested_rounds, 1, "the lossy round with a standing queue is congested");
        assert!(cc.window() <= window * 7 / 10 + 3 * 1200, "window {} was {window}", cc.window());
    }
}
