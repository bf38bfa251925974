//! A session's traffic keys, packet numbers and replay window, with key rotation.
//!
//! Each direction has a chain of traffic secrets (`secret_n+1 = HKDF-Expand(secret_n,
//! "stt/v1 key update")`). The sender rotates when its policy says so and flips the KEY_PHASE bit.
//! The receiver, seeing the other phase on a frame newer than anything of its current generation,
//! tries the next key; if it authenticates, that key becomes current and the old one is kept for
//! `key_retention` to open reordered frames. Every frame also carries PEER_KEY_PHASE, the phase
//! the sender currently *receives* with; a sender rotates again only after the peer confirmed the
//! current generation this way, so the one-bit phase is never ambiguous.

use core::time::Duration;

use crate::config::KeyRotationPolicy;
use crate::crypto::{
    CryptoBackend, ExportError, ExporterSecret, PacketKey, ReplayWindow, Suite, TrafficSecret, TAG_LEN,
};
use crate::time::Instant;
use crate::wire::Flags;

/// Send half.
struct SendKeys {
    secret: TrafficSecret,
    key: PacketKey,
    phase: bool,
    generation: u32,
    installed_at: Instant,
    bytes: u64,
    frames: u64,
    /// The peer confirmed it receives with this generation.
    confirmed: bool,
    /// Only frames above this packet number may confirm the current generation.
    confirm_floor: Option<u64>,
    /// The application asked for a rotation (`SessionMut::rotate_keys`).
    requested: bool,
}

/// Receive half.
struct RecvKeys {
    secret: TrafficSecret,
    key: PacketKey,
    phase: bool,
    generation: u32,
    /// Lowest packet number opened with the current generation.
    first_pn: Option<u64>,
    previous: Option<(PacketKey, Instant)>,
    next: Option<(TrafficSecret, PacketKey)>,
}

/// Why an encrypted frame was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenFailure {
    /// Packet number already seen or older than the replay window.
    Replayed,
    /// Authentication failed under every candidate key.
    Authentication,
}

/// What opening a frame changed besides decrypting it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Opened {
    /// The receive key advanced to this generation.
    pub rotated_to: Option<u32>,
    /// The frame has the highest packet number seen so far.
    pub newest: bool,
}

/// Both directions' keys of an established session.
pub(crate) struct SessionKeys {
    suite: Suite,
    backend: CryptoBackend,
    send: SendKeys,
    recv: RecvKeys,
    next_pn: u64,
    replay: ReplayWindow,
    /// How long a previous receive key is kept after a rotation.
    retention: Duration,
    /// What the application's exported secrets derive from.
    exporter: ExporterSecret,
}

impl SessionKeys {
    /// Keys at generation 0 from the handshake's traffic secrets.
    pub(crate) fn new(
        now: Instant,
        suite: Suite,
        backend: CryptoBackend,
        retention: Duration,
        send: TrafficSecret,
        recv: TrafficSecret,
        exporter: ExporterSecret,
    ) -> Self {
        SessionKeys {
            exporter,
            suite,
            backend,
            send: SendKeys {
                key: send.packet_key(suite, backend),
                secret: send,
                phase: false,
                generation: 0,
                installed_at: now,
                bytes: 0,
                frames: 0,
                confirmed: true,
                confirm_floor: None,
                requested: false,
            },
            recv: RecvKeys {
                key: recv.packet_key(suite, backend),
                secret: recv,
                phase: false,
                generation: 0,
                first_pn: None,
                previous: None,
                next: None,
            },
            next_pn: 0,
            replay: ReplayWindow::new(),
            retention,
        }
    }

    /// The negotiated suite.
    pub(crate) fn suite(&self) -> Suite {
        self.suite
    }

    /// Fills `out` with the secret this session exports under `label` and `context`.
    pub(crate) fn export(&self, label: &[u8], context: &[u8], out: &mut [u8]) -> Result<(), ExportError> {
        self.exporter.export(label, context, out)
    }

    /// Current send and receive key generations.
    pub(crate) fn generations(&self) -> (u32, u32) {
        (self.send.generation, self.recv.generation)
    }

    /// True when no packet number is left (2^64 - 1 frames sent).
    pub(crate) fn exhausted(&self) -> bool {
        self.next_pn == u64::MAX
    }

    /// Rotates the send key if the policy asks for it, the peer confirmed the current key, and
    /// the current key is at least `min_interval` old (the receiver keeps only one previous key,
    /// for `key_retention`; rotating faster would orphan frames still in flight).
    /// Returns the new generation if it rotated.
    pub(crate) fn maybe_rotate_send(
        &mut self,
        now: Instant,
        policy: &KeyRotationPolicy,
        min_interval: Duration,
    ) -> Option<u32> {
        let s = &self.send;
        let age = now - s.installed_at;
        let due = s.requested || s.bytes >= policy.max_bytes || s.frames >= policy.max_frames || age >= policy.max_age;
        if !due || !s.confirmed || age < min_interval {
            return None;
        }
        let secret = s.secret.next();
        self.send = SendKeys {
            key: secret.packet_key(self.suite, self.backend),
            secret,
            phase: !s.phase,
            generation: s.generation + 1,
            installed_at: now,
            bytes: 0,
            frames: 0,
            confirmed: false,
            confirm_floor: self.replay.highest(),
            requested: false,
        };
        Some(self.send.generation)
    }

    /// Rotates the send key at the first moment the rules allow (the peer confirmed the current
    /// generation and it is at least `min_interval` old), whatever the policy.
    pub(crate) fn request_rotation(&mut self) {
        self.send.requested = true;
    }

    /// When the send key next needs a rotation check: at its maximum age, or (if a byte or frame
    /// threshold is already reached) when the minimum interval has passed.
    pub(crate) fn send_rotation_deadline(&self, policy: &KeyRotationPolicy, min_interval: Duration) -> Option<Instant> {
        let s = &self.send;
        if !s.confirmed {
            return None;
        }
        let by_volume = s.requested || s.bytes >= policy.max_bytes || s.frames >= policy.max_frames;
        let age_limit = if by_volume { min_interval } else { policy.max_age.max(min_interval) };
        Some(s.installed_at + age_limit)
    }

    /// When the previous receive key is due to be discarded.
    pub(crate) fn previous_key_deadline(&self) -> Option<Instant> {
        self.recv.previous.as_ref().map(|(_, t)| *t)
    }

    /// Drops the previous receive key if its retention ended.
    pub(crate) fn discard_expired(&mut self, now: Instant) {
        if self.recv.previous.as_ref().is_some_and(|(_, t)| now >= *t) {
            self.recv.previous = None;
        }
    }

    /// Flags for an outgoing frame (key phase bits) on top of `base`.
    pub(crate) fn flags(&self, base: Flags) -> Flags {
        base.with(Flags::KEY_PHASE, self.send.phase).with(Flags::PEER_KEY_PHASE, self.recv.phase)
    }

    /// The session's numbering goes on after the `taken` packet numbers its 0-RTT frames used.
    pub(crate) fn continue_after(&mut self, taken: u64) {
        self.next_pn = self.next_pn.max(taken);
    }

    /// Opens a 0-RTT frame (sealed under the handshake's `early` key) in place: replay check,
    /// authentication, replay-window update. The key phase bits say nothing here.
    pub(crate) fn open_early(
        &mut self,
        early: &PacketKey,
        pn: u64,
        aad: &[u8],
        payload: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<Opened, OpenFailure> {
        self.check_fresh(pn)?;
        early.open(pn, aad, payload, tag).map_err(|_| OpenFailure::Authentication)?;
        let newest = self.replay.highest().is_none_or(|h| pn > h);
        self.replay.accept(pn);
        Ok(Opened { rotated_to: None, newest })
    }

    /// `Replayed` for a packet number seen before or older than the replay window.
    fn check_fresh(&self, pn: u64) -> Result<(), OpenFailure> {
        if self.replay.is_fresh(pn) {
            Ok(())
        } else {
            Err(OpenFailure::Replayed)
        }
    }

    /// Takes the next packet number. `None` when exhausted.
    pub(crate) fn next_packet_number(&mut self) -> Option<u64> {
        if self.exhausted() {
            return None;
        }
        let pn = self.next_pn;
        self.next_pn += 1;
        Some(pn)
    }

    /// Seals `payload` in place under the current send key.
    pub(crate) fn seal(&mut self, pn: u64, aad: &[u8], payload: &mut [u8]) -> [u8; TAG_LEN] {
        self.send.bytes += payload.len() as u64;
        self.send.frames += 1;
        self.send.key.seal(pn, aad, payload)
    }

    /// Opens a frame in place: replay check, key selection by phase, authentication, replay-window
    /// update, key promotion and confirmation of our own rotation.
    pub(crate) fn open(
        &mut self,
        now: Instant,
        flags: Flags,
        pn: u64,
        aad: &[u8],
        payload: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<Opened, OpenFailure> {
        self.check_fresh(pn)?;
        let mut opened = Opened::default();
        let phase = flags.has(Flags::KEY_PHASE);
        if phase == self.recv.phase {
            self.recv.key.open(pn, aad, payload, tag).map_err(|_| OpenFailure::Authentication)?;
        } else if self.recv.first_pn.is_some_and(|first| pn < first) {
            let (prev, _) = self.recv.previous.as_ref().ok_or(OpenFailure::Authentication)?;
            prev.open(pn, aad, payload, tag).map_err(|_| OpenFailure::Authentication)?;
        } else {
            if self.recv.next.is_none() {
                let s = self.recv.secret.next();
                let k = s.packet_key(self.suite, self.backend);
                self.recv.next = Some((s, k));
            }
            let (_, next_key) = self.recv.next.as_ref().expect("just derived");
            next_key.open(pn, aad, payload, tag).map_err(|_| OpenFailure::Authentication)?;
            let (secret, key) = self.recv.next.take().expect("just used");
            let old = core::mem::replace(&mut self.recv.key, key);
            self.recv.previous = Some((old, now + self.retention));
            self.recv.secret = secret;
            self.recv.phase = phase;
            self.recv.generation += 1;
            self.recv.first_pn = Some(pn);
            opened.rotated_to = Some(self.recv.generation);
        }
        if self.recv.first_pn.is_none_or(|first| pn < first) && opened.rotated_to.is_none() && phase == self.recv.phase
        {
            self.recv.first_pn = Some(pn);
        }
        opened.newest = self.replay.highest().is_none_or(|h| pn > h);
        self.replay.accept(pn);
        if !self.send.confirmed
            && flags.has(Flags::PEER_KEY_PHASE) == self.send.phase
            && self.send.confirm_floor.is_none_or(|floor| pn > floor)
        {
            self.send.confirmed = true;
        }
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RET: Duration = Duration::from_secs(3);

    fn pair(policy_frames: u64) -> (SessionKeys, SessionKeys, KeyRotationPolicy) {
        let a = TrafficSecret([1; 32]);
        let b = TrafficSecret([2; 32]);
        let now = Instant::ZERO;
        let ex = ExporterSecret::new(&a, &b);
        let suite = Suite::default_preference()[0];
        let x = SessionKeys::new(now, suite, CryptoBackend::RustCrypto, RET, a.clone(), b.clone(), ex.clone());
        let y = SessionKeys::new(now, suite, CryptoBackend::RustCrypto, RET, b, a, ex);
        (x, y, KeyRotationPolicy { max_frames: policy_frames, ..Default::default() })
    }

    fn send(k: &mut SessionKeys, now: Instant, policy: &KeyRotationPolicy) -> (Flags, u64, [u8; 8], [u8; 16]) {
        k.maybe_rotate_send(now, policy, Duration::ZERO);
        let pn = k.next_packet_number().unwrap();
        let flags = k.flags(Flags(0));
        let mut buf = pn.to_be_bytes();
        let tag = k.seal(pn, b"aad", &mut buf);
        (flags, pn, buf, tag)
    }

    #[test]
    fn rotation_waits_for_confirmation_and_reordering_survives() {
        let (mut a, mut b, policy) = pair(3);
        let now = Instant::ZERO;
        let mut pending = alloc::vec::Vec::new();
        for _ in 0..10 {
            pending.push(send(&mut a, now, &policy));
        }
        // a rotated once (after 3 frames) and then must wait: b has confirmed nothing.
        assert_eq!(a.generations().0, 1);
        // Deliver in reverse: the older generation's frames use the retained key.
        for (flags, pn, mut buf, tag) in pending.into_iter().rev() {
            b.open(now, flags, pn, b"aad", &mut buf, &tag).unwrap();
            assert_eq!(u64::from_be_bytes(buf), pn);
        }
        assert_eq!(b.generations().1, 1);
        // b's next frame confirms generation 1, so a may rotate again.
        let (flags, pn, mut buf, tag) = send(&mut b, now, &policy);
        a.open(now, flags, pn, b"aad", &mut buf, &tag).unwrap();
        for _ in 0..4 {
            let (flags, pn, mut buf, tag) = send(&mut a, now, &policy);
            b.open(now, flags, pn, b"aad", &mut buf, &tag).unwrap();
        }
        assert_eq!(a.generations().0, 2);
        assert_eq!(b.generations().1, 2);
    }

    #[test]
    fn replay_and_forgery_are_distinguished() {
        let (mut a, mut b, policy) = pair(1000);
        let now = Instant::ZERO;
        let (flags, pn, buf, tag) = send(&mut a, now, &policy);
        let mut c = buf;
        b.open(now, flags, pn, b"aad", &mut c, &tag).unwrap();
        let mut c = buf;
        assert_eq!(b.open(now, flags, pn, b"aad", &mut c, &tag), Err(OpenFailure::Replayed));
        let (flags, pn, mut buf, tag) = send(&mut a, now, &policy);
        buf[0] ^= 1;
        assert_eq!(b.open(now, flags, pn, b"aad", &mut buf, &tag), Err(OpenFailure::Authentication));
    }
}
