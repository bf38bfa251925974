//! Stateless handshake cookies.
//!
//! The responder answers an INIT without remembering it: the CHALLENGE carries a cookie
//! `time || MAC16(secret, "stt/v2 cookie" || remote || node_id_i || nonce_i || nonce_r || suite || time)`.
//! RESPONSE returns it, and the responder accepts only a cookie made by itself, for that remote
//! and those nonces, within `cookie_lifetime`. The secret rotates every `cookie_lifetime`; the
//! previous secret stays valid for one more period.

use core::time::Duration;

use crate::crypto::{labels, mac16, verify_mac16};
use crate::rng::Rng;
use crate::time::Instant;
use crate::types::Remote;
use crate::wire::handshake::Cookie;

/// The fields a cookie binds.
pub(crate) struct CookieFields<'a> {
    /// Where the INIT came from.
    pub remote: &'a Remote,
    /// Initiator's node id.
    pub node_id_i: &'a [u8; 32],
    /// Initiator's nonce.
    pub nonce_i: &'a [u8; 32],
    /// Responder's nonce.
    pub nonce_r: &'a [u8; 32],
    /// Chosen suite id.
    pub suite: u8,
}

/// The responder's rotating cookie secrets.
pub(crate) struct CookieJar {
    current: [u8; 32],
    previous: [u8; 32],
    rotate_at: Instant,
    lifetime: Duration,
}

impl Drop for CookieJar {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.current);
        zeroize::Zeroize::zeroize(&mut self.previous);
    }
}

impl CookieJar {
    /// A jar with fresh secrets.
    pub(crate) fn new(now: Instant, lifetime: Duration, rng: &mut Rng) -> Self {
        CookieJar { current: rng.bytes32(), previous: rng.bytes32(), rotate_at: now + lifetime, lifetime }
    }

    fn maintain(&mut self, now: Instant, rng: &mut Rng) {
        if now >= self.rotate_at {
            self.previous = self.current;
            self.current = rng.bytes32();
            self.rotate_at = now + self.lifetime;
        }
    }

    /// Hands the cookie MAC's input, as a list of parts, to `g` (which makes or verifies it).
    fn with_input<R>(f: &CookieFields<'_>, time: u64, g: impl FnOnce(&[&[u8]]) -> R) -> R {
        let addr = f.remote.to_bytes();
        g(&[labels::COOKIE, &addr, f.node_id_i, f.nonce_i, f.nonce_r, &[f.suite], &time.to_be_bytes()])
    }

    /// Makes a cookie for these fields at `now`.
    pub(crate) fn make(&mut self, now: Instant, rng: &mut Rng, f: &CookieFields<'_>) -> Cookie {
        self.maintain(now, rng);
        let time = now.as_nanos();
        Cookie { time, mac: Self::with_input(f, time, |parts| mac16(&self.current, parts)) }
    }

    /// True if `cookie` was made by this jar for these fields and is not older than the lifetime.
    pub(crate) fn check(&mut self, now: Instant, rng: &mut Rng, f: &CookieFields<'_>, cookie: &Cookie) -> bool {
        self.maintain(now, rng);
        let made = Instant::from_nanos(cookie.time);
        if made > now || now - made > self.lifetime {
            return false;
        }
        let input_ok =
            |secret: &[u8; 32]| Self::with_input(f, cookie.time, |parts| verify_mac16(secret, parts, &cookie.mac));
        input_ok(&self.current) || input_ok(&self.previous)
    }
}
