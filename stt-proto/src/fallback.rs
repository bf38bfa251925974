//! The UDP-to-WebSocket fallback and return policy: when a connection attempt gives up on UDP and
//! takes WebSocket, and how a session that fell back finds its way to UDP again (and back to
//! WebSocket if UDP breaks once more).
//!
//! The policy only decides, on timers, like the rest of the core: the driver asks for
//! [`FallbackPolicy::next_deadline`], calls [`FallbackPolicy::on_timeout`] when it passes, and
//! carries out the [`FallbackAction`] it gets (abandon the UDP attempt and dial the WebSocket URL,
//! probe the UDP address, or dial the WebSocket URL and probe that path). Both drivers run their
//! `connect_with_fallback` on it, so they fall back and return alike.

use core::time::Duration;

use crate::time::Instant;
use crate::types::Transport;

/// When a connection falls back from UDP to WebSocket, and how it comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fallback {
    /// How long UDP may stay unanswered before the WebSocket is tried. Default 2 s.
    pub udp_timeout: Duration,
    /// How often a session that fell back probes UDP to move back (and, back on UDP, looks for
    /// silence). Default 5 s; values below [`Fallback::MIN_PROBE_INTERVAL`] are
    /// taken as it.
    pub probe_interval: Duration,
    /// A session back on UDP that receives nothing for this long goes to WebSocket again (and
    /// probes UDP from there). Keep it above the endpoint's `keep_alive_interval` (15 s by
    /// default), so that an idle but healthy path is not taken for a broken one. Default 20 s.
    pub silence: Duration,
}

impl Default for Fallback {
    fn default() -> Self {
        Fallback {
            udp_timeout: Duration::from_secs(2),
            probe_interval: Duration::from_secs(5),
            silence: Duration::from_secs(20),
        }
    }
}

impl Fallback {
    /// The shortest [`Fallback::probe_interval`] the policy uses: a shorter one (zero, say) would
    /// have the driver probe on every turn.
    pub const MIN_PROBE_INTERVAL: Duration = Duration::from_millis(10);

    /// How long a session that fell back keeps going without hearing from its peer
    /// (`SessionMut::set_unreachable_after`): long enough that unanswered probes on a broken
    /// path do not end it before the policy has had two chances to move it to the other one.
    pub fn unreachable_after(&self) -> Duration {
        self.silence.saturating_add(self.probe_interval.saturating_mul(2))
    }
}

/// What the driver does when the policy's deadline passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackAction {
    /// UDP brought no answer within [`Fallback::udp_timeout`]: close the UDP attempt (unless its
    /// handshake completed meanwhile) and open the session over the WebSocket URL; then call
    /// [`FallbackPolicy::on_established`].
    UseWebSocket,
    /// The session runs over WebSocket: probe the UDP address (`SessionMut::probe_path`), so
    /// the session moves back when the peer answers there.
    ProbeUdp,
    /// The session runs over UDP but has received nothing for [`Fallback::silence`]: dial the
    /// WebSocket URL and probe that path.
    ProbeWebSocket,
}

/// Where the connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The UDP handshake is under way; at the deadline, give up on it.
    TryingUdp,
    /// The policy has said [`FallbackAction::UseWebSocket`]; nothing is due until the driver
    /// reports the session open.
    OpeningWebSocket,
    /// A session is open; every probe interval, look at its path.
    Watching,
    /// The connection attempt ended without a session, or the session closed.
    Done,
}

/// The fallback-and-return decisions for one connection, on the core's clock.
///
/// ```
/// use core::time::Duration;
/// use stt_proto::{Fallback, FallbackAction, FallbackPolicy, Instant, Transport};
///
/// let start = Instant::ZERO;
/// let mut policy = FallbackPolicy::new(Fallback::default(), start);
/// // No answer over UDP within two seconds: take WebSocket.
/// let t = policy.next_deadline().unwrap();
/// assert_eq!(t, start + Duration::from_secs(2));
/// assert_eq!(policy.on_timeout(t, None), Some(FallbackAction::UseWebSocket));
/// policy.on_established(t);
/// // On WebSocket, UDP is probed every five seconds.
/// let t = policy.next_deadline().unwrap();
/// assert_eq!(policy.on_timeout(t, Some((Transport::WebSocket, t))), Some(FallbackAction::ProbeUdp));
/// ```
#[derive(Clone, Debug)]
pub struct FallbackPolicy {
    config: Fallback,
    phase: Phase,
    deadline: Instant,
}

impl FallbackPolicy {
    /// The policy of a connection whose UDP handshake starts at `now`.
    pub fn new(config: Fallback, now: Instant) -> Self {
        FallbackPolicy { config, phase: Phase::TryingUdp, deadline: now + config.udp_timeout }
    }

    /// The interval between two looks at the path.
    fn interval(&self) -> Duration {
        self.config.probe_interval.max(Fallback::MIN_PROBE_INTERVAL)
    }

    /// The configuration the policy runs on.
    pub fn config(&self) -> &Fallback {
        &self.config
    }

    /// When [`FallbackPolicy::on_timeout`] is next due; `None` while nothing is (the driver is
    /// opening the WebSocket session, or the policy is done).
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::TryingUdp | Phase::Watching => Some(self.deadline),
            Phase::OpeningWebSocket | Phase::Done => None,
        }
    }

    /// True while the UDP handshake may still decide the connection (before the UDP timeout).
    pub fn is_trying_udp(&self) -> bool {
        self.phase == Phase::TryingUdp
    }

    /// A session is open (over UDP before the timeout, or over WebSocket after
    /// [`FallbackAction::UseWebSocket`]) at `now`: from now on the policy watches its path.
    pub fn on_established(&mut self, now: Instant) {
        self.phase = Phase::Watching;
        self.deadline = now + self.interval();
    }

    /// The connection attempt failed, or the session closed: nothing more is due.
    pub fn on_closed(&mut self) {
        self.phase = Phase::Done;
    }

    /// The deadline has passed (`now` at or after it; earlier calls do nothing). `path` is the
    /// session's current transport and the last time anything arrived on it
    /// (`SessionStats::last_active`), or `None` while there is no session. Returns what the
    /// driver should do, if anything, and sets the next deadline.
    pub fn on_timeout(&mut self, now: Instant, path: Option<(Transport, Instant)>) -> Option<FallbackAction> {
        if now < self.deadline {
            return None;
        }
        match self.phase {
            Phase::TryingUdp => {
                self.phase = Phase::OpeningWebSocket;
                Some(FallbackAction::UseWebSocket)
            }
            Phase::Watching => {
                self.deadline = now + self.interval();
                let (transport, last_active) = path?;
                match transport {
                    Transport::WebSocket => Some(FallbackAction::ProbeUdp),
                    Transport::Udp if now.saturating_duration_since(last_active) >= self.config.silence => {
                        Some(FallbackAction::ProbeWebSocket)
                    }
                    Transport::Udp | Transport::Custom(_) => None,
                }
            }
            Phase::OpeningWebSocket | Phase::Done => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn config() -> Fallback {
        Fallback { udp_timeout: secs(2), probe_interval: secs(5), silence: secs(20) }
    }

    #[test]
    fn udp_that_answers_in_time_is_kept_and_watched() {
        let t0 = Instant::ZERO + secs(100);
        let mut p = FallbackPolicy::new(config(), t0);
        assert!(p.is_trying_udp());
        assert_eq!(p.on_timeout(t0 + secs(1), None), None, "before the deadline nothing happens");
        p.on_established(t0 + secs(1));
        assert!(!p.is_trying_udp());
        assert_eq!(p.next_deadline(), Some(t0 + secs(6)));
        // A healthy UDP path: nothing to do, the next look one interval later.
        let t = t0 + secs(6);
        assert_eq!(p.on_timeout(t, Some((Transport::Udp, t))), None);
        assert_eq!(p.next_deadline(), Some(t + secs(5)));
    }

    #[test]
    fn silent_udp_falls_back_then_probes_udp_until_it_moves() {
        let t0 = Instant::ZERO;
        let mut p = FallbackPolicy::new(config(), t0);
        assert_eq!(p.on_timeout(t0 + secs(2), None), Some(FallbackAction::UseWebSocket));
        assert_eq!(p.next_deadline(), None, "nothing is due while the driver dials");
        assert_eq!(p.on_timeout(t0 + secs(50), None), None);
        p.on_established(t0 + secs(3));
        let t = t0 + secs(8);
        assert_eq!(p.on_timeout(t, Some((Transport::WebSocket, t))), Some(FallbackAction::ProbeUdp));
        let t = t + secs(5);
        assert_eq!(p.on_timeout(t, Some((Transport::WebSocket, t))), Some(FallbackAction::ProbeUdp));
        // Moved back to UDP (last heard from at `heard`): quiet until `silence` has passed, then
        // WebSocket again.
        let heard = t;
        let t = heard + secs(19);
        assert_eq!(p.on_timeout(t, Some((Transport::Udp, heard))), None);
        let t = p.next_deadline().unwrap();
        assert_eq!(t, heard + secs(24));
        assert_eq!(p.on_timeout(t, Some((Transport::Udp, heard))), Some(FallbackAction::ProbeWebSocket));
    }

    #[test]
    fn a_closed_connection_has_nothing_due() {
        let mut p = FallbackPolicy::new(config(), Instant::ZERO);
        p.on_established(Instant::ZERO);
        p.on_closed();
        assert_eq!(p.next_deadline(), None);
        assert_eq!(p.on_timeout(Instant::ZERO + secs(1000), Some((Transport::WebSocket, Instant::ZERO))), None);
    }

    #[test]
    fn a_session_gone_missing_is_not_probed() {
        let mut p = FallbackPolicy::new(config(), Instant::ZERO);
        p.on_established(Instant::ZERO);
        assert_eq!(p.on_timeout(Instant::ZERO + secs(5), None), None);
        assert_eq!(p.next_deadline(), Some(Instant::ZERO + secs(10)));
    }

    #[test]
    fn unreachable_after_covers_silence_and_two_probes() {
        assert_eq!(config().unreachable_after(), secs(30));
        let never = Fallback { probe_interval: Duration::MAX, silence: Duration::MAX, ..config() };
        assert_eq!(never.unreachable_after(), Duration::MAX, "saturates instead of overflowing");
    }

    #[test]
    fn a_zero_probe_interval_does_not_make_the_driver_spin() {
        let mut p = FallbackPolicy::new(Fallback { probe_interval: Duration::ZERO, ..config() }, Instant::ZERO);
        p.on_established(Instant::ZERO);
        assert_eq!(p.next_deadline(), Some(Instant::ZERO + Fallback::MIN_PROBE_INTERVAL));
    }
}
