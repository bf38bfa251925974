//! What both drivers log the same way: a transport's name in `tracing` fields, and dropped input
//! summed and reported at debug level at most once a second.

use std::time::{Duration, Instant};

use stt_proto::{EndpointDrops, Transport};
use tracing::debug;

/// How often dropped input is summarised at most.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The name of a transport in `tracing` fields: `udp`, `websocket`, or `custom` for one a
/// driver brings.
pub fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::WebSocket => "websocket",
        Transport::Custom(_) => "custom",
    }
}

/// Sums of dropped input (the core's [`EndpointDrops`]), reported at debug level when they
/// changed, at most once per second. Nothing is logged per datagram.
#[derive(Debug, Default)]
pub struct DropReport {
    last: EndpointDrops,
    at: Option<Instant>,
}

impl DropReport {
    /// A report with nothing reported yet.
    pub fn new() -> Self {
        DropReport::default()
    }

    /// Reports what was dropped since the last report, if a second has passed since it and
    /// debug logging is on; `drops` is only called then.
    pub fn tick(&mut self, now: Instant, drops: impl FnOnce() -> EndpointDrops) {
        if !tracing::enabled!(tracing::Level::DEBUG) || self.at.is_some_and(|t| now - t < DROP_REPORT_INTERVAL) {
            return;
        }
        let d = drops();
        if d.total() == self.last.total() {
            return;
        }
        let l = self.last;
        debug!(
            dropped = d.total() - l.total(),
            malformed = d.malformed - l.malformed,
            unknown_session = d.unknown_session - l.unknown_session,
            unexpected_handshake = d.unexpected_handshake - l.unexpected_handshake,
            handshake_authentication = d.handshake_authentication - l.handshake_authentication,
            invalid_cookie = d.invalid_cookie - l.invalid_cookie,
            replayed_handshake = d.replayed_handshake - l.replayed_handshake,
            session_authentication = d.session.authentication - l.session.authentication,
            session_replayed = d.session.replayed - l.session.replayed,
            session_malformed = d.session.malformed - l.session.malformed,
            "dropped input since the last report"
        );
        self.last = d;
        self.at = Some(now);
    }
}
