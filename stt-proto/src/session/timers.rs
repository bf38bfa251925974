//! A session's timers: what is due when, and what happens then.
//!
//! [`Session::next_deadline`] is the earliest of: handshake retransmission or timeout; idle
//! timeout; keepalive; key rotation by age; discarding a retained key; delayed ACK; loss timer or
//! probe timeout; pacer; live-stream gap deadlines. The endpoint keeps it in its timer queue,
//! moved whenever the session changes, and calls [`Session::handle_timeout`] when it is due;
//! firing early is harmless (the session re-arms).

use super::{apply_outcome, Ctx, Session, SessionEnd, State, Then, PATH_CHALLENGES};
use crate::config::EndpointConfig;
use crate::event::{CloseReason, Event, HandshakeError};
use crate::handshake::initiator::HandshakeTimer;
use crate::recovery::{Outcome, SentPayload};
use crate::time::Instant;
use crate::types::{Direction, Role};

impl Session {
    /// Runs every timer of this session that is due at `ctx.now`.
    pub(crate) fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) -> Then {
        let now = ctx.now;
        let cfg = ctx.cfg;
        match &mut self.state {
            State::Handshaking(h) => match h.on_timeout(now, cfg) {
                HandshakeTimer::Expired => Then::End(SessionEnd::HandshakeFailed(HandshakeError::Timeout)),
                HandshakeTimer::Retransmit => {
                    self.queue_handshake();
                    Then::Transmit
                }
                HandshakeTimer::Wait => Then::Wait,
            },
            State::Closing => Then::Wait,
            State::Established => {
                if now >= self.stats.last_active + cfg.idle_timeout {
                    return Then::End(SessionEnd::Closed(CloseReason::IdleTimeout));
                }
                if !self.is_confirmed() {
                    if now >= self.stats.created + cfg.handshake_timeout {
                        // The initiator never showed it holds the keys.
                        return Then::End(SessionEnd::Closed(CloseReason::IdleTimeout));
                    }
                    // Nothing else runs before the initiator proved its keys: no keepalive or
                    // probe goes to an address that is not proven.
                    return if self.resend_confirm_if_due(now, cfg) { Then::Transmit } else { Then::Wait };
                }
                let handle = ctx.handle;
                let Session { recovery, streams, names, ticket, .. } = self;
                let events = &mut *ctx.events;
                let probed = recovery
                    .on_timeout(now, |p| apply_outcome(streams, names, ticket, events, handle, p, Outcome::Lost));
                if self.unreachable_at(cfg).is_some_and(|at| now >= at) {
                    let probes = self.recovery.probe_timeouts();
                    return Then::End(SessionEnd::Closed(CloseReason::Unreachable { probes }));
                }
                let Session { recovery, streams, names, ticket, .. } = self;
                let events = &mut *ctx.events;
                if probed {
                    // Probe timeout: two probes, an ack-eliciting KEEPALIVE (the peer's ACK reveals
                    // what was lost) and a copy of the oldest data or credit in flight (still
                    // useful if the original is lost; a duplicate is harmless).
                    match recovery.oldest_repairable_in_flight() {
                        Some(p @ SentPayload::Data { stream, .. }) if streams.contains(stream) => {
                            apply_outcome(streams, names, ticket, events, handle, p, Outcome::Lost);
                            // Probes are sent whatever the congestion window says.
                            self.probes_owed = 1;
                        }
                        Some(p @ SentPayload::MaxData { .. }) => {
                            apply_outcome(streams, names, ticket, events, handle, p, Outcome::Lost);
                        }
                        _ => {}
                    }
                    self.queue_keepalive();
                }
                if self.pacing_until.is_some_and(|t| t <= now) {
                    self.pacing_until = None;
                }
                if self.path_probe.as_ref().is_some_and(|p| p.sent >= PATH_CHALLENGES && p.next_send <= now) {
                    // No answer from the new address: it was not the peer's.
                    self.path_probe = None;
                }
                self.skip_live_gaps(ctx);
                if let Some(keys) = self.keys.as_mut() {
                    keys.discard_expired(now);
                    if let Some(generation) = keys.maybe_rotate_send(now, &cfg.key_rotation, cfg.key_retention) {
                        self.stats.key_generations.0 = generation;
                        ctx.events.push_back(Event::KeyRotated {
                            session: ctx.handle,
                            direction: Direction::Send,
                            generation,
                        });
                    }
                }
                if self.keepalive_at(cfg).is_some_and(|at| now >= at) {
                    self.queue_keepalive();
                }
                if self.blocked_probe_at(cfg).is_some_and(|at| now >= at) {
                    // Data waits for the peer's credit and nothing is in flight: a probe the
                    // peer acknowledges, so that a peer that vanished is noticed (its probe
                    // timeouts end the session as `Unreachable`).
                    self.queue_keepalive();
                }
                Then::Transmit
            }
        }
    }

    /// When this session gives its peer up as unreachable, once enough probe timeouts came in a
    /// row (`max_probe_timeouts`): `unreachable_after` after the later of the last authentic
    /// frame and the frame the probes wait on. Checked at every timeout, not only at probe
    /// timeouts, whose doubling intervals may be long on a slow path.
    fn unreachable_at(&self, cfg: &EndpointConfig) -> Option<Instant> {
        let probes = self.recovery.probe_timeouts();
        if cfg.max_probe_timeouts == 0 || probes < cfg.max_probe_timeouts {
            return None;
        }
        let after = match self.unreachable_after_ms {
            0 => cfg.unreachable_after,
            ms => core::time::Duration::from_millis(u64::from(ms)),
        };
        let since = self.recovery.probing_since().map_or(self.stats.last_active, |p| p.max(self.stats.last_active));
        Some(since + after)
    }

    /// When this session next sends a KEEPALIVE to keep an idle session open: the initiator
    /// [`EndpointConfig::keep_alive_interval`] after it last sent anything. The responder waits
    /// a quarter longer, counted from the later of its last send and the last authentic frame
    /// received: while the initiator keeps the session alive, its keepalives arrive first and
    /// the responder only acknowledges them (two datagrams an interval, where both ends'
    /// keepalives coming due together made three), and when the initiator falls silent the
    /// responder's own keepalive finds out whether it vanished.
    ///
    /// The instant is rounded up to a grid of the endpoint's clock (the largest power of two
    /// nanoseconds not above 1/64 of the interval: 134 ms at 15 s), so that the keepalives of a
    /// node's many idle sessions come due in groups a driver sends in one turn, and their peer
    /// receives in one, rather than one wake-up each; each goes at most 1/64 of the interval
    /// late.
    fn keepalive_at(&self, cfg: &EndpointConfig) -> Option<Instant> {
        let ka = cfg.keep_alive_interval?;
        let due = match self.role {
            Role::Initiator => self.last_sent + ka,
            Role::Responder => self.last_sent.max(self.stats.last_active) + ka + ka / 4,
        };
        let grid = 1u64 << (63 - ((ka.as_nanos() / 64) as u64).max(1).leading_zeros());
        Some(Instant::from_nanos(due.as_nanos().saturating_add(grid - 1) & !(grid - 1)))
    }

    /// When a session whose data waits for the peer's credit, with nothing in flight, next sends
    /// a KEEPALIVE: a third of [`EndpointConfig::unreachable_after`] after it last sent anything.
    /// `None` when no data waits, something is in flight (its probe timeout covers it), a
    /// keepalive is already queued, or unreachable peers are never given up on.
    fn blocked_probe_at(&self, cfg: &EndpointConfig) -> Option<Instant> {
        if cfg.max_probe_timeouts == 0 || self.keepalive_queued || self.recovery.in_flight() > 0 {
            return None;
        }
        let waiting = self.streams.any_unsent();
        waiting.then(|| self.last_sent + cfg.unreachable_after / 3)
    }

    /// Live streams: skips gaps whose deadline passed and reports what became readable. Only
    /// streams with a gap are looked at.
    fn skip_live_gaps(&mut self, ctx: &mut Ctx<'_>) {
        let (session, events) = (ctx.handle, &mut *ctx.events);
        self.streams.skip_expired_gaps(ctx.now, |stream| events.push_back(Event::StreamReadable { session, stream }));
    }

    /// Earliest instant at which this session has something to do on its own.
    pub(crate) fn next_deadline(&self, cfg: &EndpointConfig) -> Option<Instant> {
        match &self.state {
            State::Handshaking(h) => Some(h.next_deadline()),
            State::Closing => None,
            State::Established => {
                let mut t = self.stats.last_active + cfg.idle_timeout;
                if !self.is_confirmed() {
                    t = t.min(self.stats.created + cfg.handshake_timeout);
                    if let Some(at) = self.confirm.as_ref().and_then(|c| c.resend_at) {
                        t = t.min(at);
                    }
                    return Some(t);
                }
                if let Some(at) = self.keepalive_at(cfg).filter(|_| !self.keepalive_queued) {
                    t = t.min(at);
                }
                if let Some(at) = self.blocked_probe_at(cfg) {
                    t = t.min(at);
                }
                if let Some(at) = self.unreachable_at(cfg) {
                    t = t.min(at);
                }
                if let Some(keys) = &self.keys {
                    if let Some(r) = keys.send_rotation_deadline(&cfg.key_rotation, cfg.key_retention) {
                        t = t.min(r);
                    }
                    if let Some(d) = keys.previous_key_deadline() {
                        t = t.min(d);
                    }
                }
                let others = [
                    self.acks.deadline(),
                    self.recovery.deadline(),
                    self.pacing_until.filter(|_| self.streams.has_queued_data()),
                    self.streams.next_gap_deadline(),
                    self.path_probe.as_ref().map(|p| p.next_send),
                ];
                Some(others.into_iter().flatten().fold(t, Instant::min))
            }
        }
    }
}
