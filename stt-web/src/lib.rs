//! # stt-web: STT in the browser
//!
//! The third driver, beside `stt-tokio` and `stt-mio`: the sans-IO core ([`stt_proto`]) compiled
//! to WebAssembly and driven by the browser's own event loop. The browser gives the socket (a
//! `WebSocket`, one binary message per STT datagram), the clock (`performance.now()`), the timer
//! (`setTimeout`) and the randomness (`crypto.getRandomValues`); the core does everything else,
//! exactly as it does natively. One [`Node::connect`] opens one session to a listener that serves
//! WebSocket (`stt listen --ws-bind ...`, or an `stt-tokio` / `stt-mio` node with `ws_bind`).
//!
//! From JavaScript (after `wasm-bindgen --target web`):
//!
//! ```js
//! import init, { Node, sha3_256 } from "./stt_web.js";
//! await init();
//! const session = await Node.connect("ws://127.0.0.1:9001", { seed: "5e5e…" /* 64 hex digits */ });
//! const stream = session.openStream();
//! await stream.write(new TextEncoder().encode("hello"));
//! await stream.finish();                    // resolves once the peer acknowledged every byte
//! for await (const chunk of stream.chunks()) { /* Uint8Array */ }   // or: await stream.read()
//! await session.sendMessage(0x90, bytes);   // one whole message, reliable
//! const { kind, bytes } = await session.nextMessage();
//! session.onframe = (kind, payload) => {};  // custom frames, best-effort
//! await session.close();
//! ```
//!
//! Errors are JavaScript `Error`s whose `name` says what failed: `AuthenticationError` (the
//! listener holds another seed and said so, or it proved another identity than `peerId`),
//! `TimeoutError` (no answer in time: a listener in stealth mode does not answer a wrong seed
//! either), `ConnectionError` (the WebSocket could not be opened, or it closed, or the peer went
//! silent), `SessionClosed` (the session ended, or was dropped: the reason is in the message),
//! `HandshakeError` (another handshake failure, named in the message), `StreamError`,
//! `MessageError` and `FrameError` (a call the core refused, with its reason), `InvalidArgument`.
//!
//! The seed and the node's identity stay in the module's memory: they are never logged, never
//! handed back to JavaScript (the copies made on the way in are wiped), and the core zeroes its
//! own when the node is dropped.
//!
//! A page or a Web Worker may run it: time, timers and randomness are taken from the global
//! scope. A wait shorter than the timers' 4 ms clamp (the pacer's next datagram, mostly) runs at
//! the next task instead, so the driver may run back to back for up to 4 ms while it sends.
//!
//! What the driver does not do yet: UDP (a browser has none), several sessions on one node, a
//! resumption across page loads, TLS of its own (the browser's `wss://` is used as is).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(unreachable_pub)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use zeroize::Zeroize;

use bytes::{Bytes, BytesMut};
use js_sys::{Function, Promise, Reflect, Uint8Array};
use stt_proto::{
    Channel, CloseReason, Endpoint, EndpointConfig, Event, HandshakeError, Identity, Instant, NodeId, Remote,
    SessionHandle, SessionState, StreamError, StreamId, StreamMode, StreamRead,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, MessageEvent, WebSocket};

/// A promise's two ends, kept until the driver can settle it.
struct Pending {
    resolve: Function,
    reject: Function,
}

impl Pending {
    fn resolve(self, value: &JsValue) {
        let _ = self.resolve.call1(&JsValue::NULL, value);
    }

    fn reject(self, error: &JsValue) {
        let _ = self.reject.call1(&JsValue::NULL, error);
    }
}

/// A promise, and its two ends for the driver.
fn promise() -> (Promise, Pending) {
    let mut ends = None;
    let p = Promise::new(&mut |resolve, reject| ends = Some(Pending { resolve, reject }));
    let ends = ends.unwrap_or_else(|| unreachable!("the Promise constructor calls its executor at once"));
    (p, ends)
}

/// A JavaScript `Error` named `name`, with `message`.
fn error(name: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    e.set_name(name);
    e.into()
}

fn invalid(message: &str) -> JsValue {
    error("InvalidArgument", message)
}

/// The error a failed handshake gives the page.
fn handshake_error(reason: &HandshakeError) -> JsValue {
    match reason {
        HandshakeError::Timeout => {
            error("TimeoutError", &format!("the handshake got no answer: {reason} (a listener in stealth mode does not answer a wrong seed either)"))
        }
        HandshakeError::AuthenticationFailed | HandshakeError::UnexpectedPeer | HandshakeError::PeerNotAllowed => {
            error("AuthenticationError", &format!("the handshake failed: {reason}"))
        }
        _ => error("HandshakeError", &format!("the handshake failed: {reason}")),
    }
}

/// A stream operation the core could not complete yet.
enum StreamOp {
    /// `write`: the rest of `data` from `done`, then settle.
    Write { stream: StreamId, data: Bytes, done: usize, pending: Pending },
    /// `read`: the next piece.
    Read { stream: StreamId, pending: Pending },
    /// `finish`, after the writes asked for before it on the same stream.
    Finish { stream: StreamId, pending: Pending },
}

/// Everything the browser driver owns: the core endpoint, the WebSocket, the timer, and the
/// promises waiting on the core.
struct Driver {
    ep: Endpoint,
    ws: WebSocket,
    url: String,
    remote: Remote,
    /// `performance.now()` when the node started: the core's time is measured from it.
    origin: f64,
    peer: Option<NodeId>,
    /// The handle `connect` returned; events about any other session are not this driver's.
    handle: Option<SessionHandle>,
    /// Set once the session is established.
    session: Option<SessionHandle>,
    connect: Option<Pending>,
    ops: VecDeque<StreamOp>,
    accepts: VecDeque<Pending>,
    messages_wanted: VecDeque<Pending>,
    messages_to_send: VecDeque<(u8, Bytes, Pending)>,
    /// `finish` and `close` calls waiting until everything written was acknowledged.
    flushes: Vec<Pending>,
    closes: Vec<Pending>,
    onframe: Option<Function>,
    onmessage: Option<Function>,
    /// Why the session or the connection ended (`name`, message), once it has.
    ended: Option<(String, String)>,
    timer: Option<i32>,
    transmit: Vec<u8>,
    /// The WebSocket and timer callbacks (kept alive as long as the driver).
    callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
    tick: Option<Closure<dyn FnMut()>>,
    /// A task queue without the timers' clamping (`setTimeout` waits at least 4 ms once nested):
    /// a message posted to `soon.port2` runs the driver at the next turn of the event loop.
    soon: Option<web_sys::MessageChannel>,
    soon_posted: bool,
    /// The driver itself, for the streams it hands out.
    this: Weak<RefCell<Driver>>,
    /// The session ended: the socket closes after the turn's last datagrams are sent.
    close_socket: bool,
}

type Shared = Rc<RefCell<Driver>>;

/// Waits shorter than this run at the event loop's next turn rather than by `setTimeout`.
const TIMER_CLAMP_MS: u64 = 4;

impl Drop for Driver {
    /// The page let go of the session (or its `connect` failed): the socket, the timer and the
    /// task queue must not call the callbacks dropped with the driver.
    fn drop(&mut self) {
        // `end` settles what waits and stops the timer and the task queue; the socket is left.
        self.end("SessionClosed", "the session was dropped");
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

/// A callback to run once the driver's state is no longer borrowed (it is the page's code, which
/// may call back into the session).
struct Call {
    function: Function,
    args: [JsValue; 2],
}

/// `performance.now()` of the page or worker (`Date.now()` where there is none).
fn now_ms() -> f64 {
    let performance = Reflect::get(&js_sys::global(), &"performance".into()).ok();
    let now = performance.as_ref().and_then(|p| Reflect::get(p, &"now".into()).ok()?.dyn_into::<Function>().ok());
    match (performance, now) {
        (Some(p), Some(now)) => now.call0(&p).ok().and_then(|v| v.as_f64()).unwrap_or_else(js_sys::Date::now),
        _ => js_sys::Date::now(),
    }
}

/// The global scope's `setTimeout(callback, ms)`, in a page or a worker.
fn set_timeout(callback: &Function, ms: i32) -> Option<i32> {
    let global = js_sys::global();
    let set: Function = Reflect::get(&global, &"setTimeout".into()).ok()?.dyn_into().ok()?;
    set.call2(&global, callback, &JsValue::from(ms)).ok()?.as_f64().map(|h| h as i32)
}

/// The global scope's `clearTimeout(handle)`.
fn clear_timeout(handle: i32) {
    let global = js_sys::global();
    if let Some(clear) = Reflect::get(&global, &"clearTimeout".into()).ok().and_then(|f| f.dyn_into::<Function>().ok())
    {
        let _ = clear.call1(&global, &JsValue::from(handle));
    }
}

/// 32 bytes from the browser's `crypto.getRandomValues`.
fn random_bytes() -> Result<[u8; 32], JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    let get: Function = Reflect::get(&crypto, &"getRandomValues".into())?.dyn_into()?;
    let array = Uint8Array::new_with_length(32);
    get.call1(&crypto, &array)?;
    let mut out = [0u8; 32];
    array.copy_to(&mut out);
    // The bytes become a secret (the endpoint's random seed, an identity): none left in JS.
    array.fill(0, 0, 32);
    Ok(out)
}

/// 32 bytes from a `Uint8Array` or 64 hex digits.
fn seed_bytes(value: &JsValue, what: &str) -> Result<Vec<u8>, JsValue> {
    if let Some(hex) = value.as_string() {
        return decode_hex(hex.trim()).ok_or_else(|| invalid(&format!("{what}: expected hex digits")));
    }
    if let Some(array) = value.dyn_ref::<Uint8Array>() {
        return Ok(array.to_vec());
    }
    Err(invalid(&format!("{what}: expected a Uint8Array or a hex string")))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

impl Driver {
    fn now(&self) -> Instant {
        let ms = (now_ms() - self.origin).max(0.0);
        Instant::from_nanos((ms * 1_000_000.0) as u64)
    }

    /// The end of everything: every waiting promise is rejected with `name` and `message`.
    fn end(&mut self, name: &str, message: &str) {
        if self.ended.is_none() {
            self.ended = Some((name.to_string(), message.to_string()));
        }
        let e = error(name, message);
        if let Some(p) = self.connect.take() {
            p.reject(&e);
        }
        for op in self.ops.drain(..) {
            match op {
                StreamOp::Write { pending, .. } | StreamOp::Read { pending, .. } | StreamOp::Finish { pending, .. } => {
                    pending.reject(&e)
                }
            }
        }
        // The page's callbacks may hold the session: let go of them.
        self.onframe = None;
        self.onmessage = None;
        for p in self.accepts.drain(..).chain(self.messages_wanted.drain(..)).chain(self.flushes.drain(..)) {
            p.reject(&e);
        }
        for (_, _, p) in self.messages_to_send.drain(..) {
            p.reject(&e);
        }
        // A close that was asked for is done when the session ends.
        for p in self.closes.drain(..) {
            p.resolve(&JsValue::UNDEFINED);
        }
        if let Some(t) = self.timer.take() {
            clear_timeout(t);
        }
        if let Some(soon) = self.soon.take() {
            soon.port1().set_onmessage(None);
            soon.port1().close();
        }
    }

    fn on_event(&mut self, ev: Event, calls: &mut Vec<Call>) {
        let mine = |s: SessionHandle| Some(s) == self.handle;
        match ev {
            Event::SessionEstablished { session, peer, .. } if mine(session) => {
                self.session = Some(session);
                self.peer = Some(peer);
                if let Some(p) = self.connect.take() {
                    p.resolve(&JsValue::TRUE);
                }
            }
            Event::HandshakeFailed { session: Some(session), reason, .. } if mine(session) => {
                let e = handshake_error(&reason);
                let message = Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_default();
                let name = Reflect::get(&e, &"name".into()).ok().and_then(|m| m.as_string()).unwrap_or_default();
                self.end(&name, &message);
                self.close_socket = true;
            }
            Event::SessionClosed { session, reason } if mine(session) => {
                self.session = None;
                let name = match reason {
                    CloseReason::IdleTimeout | CloseReason::Unreachable { .. } => "ConnectionError",
                    _ => "SessionClosed",
                };
                self.end(name, &format!("the session ended: {reason}"));
                self.close_socket = true;
            }
            Event::Frame { session, frame_type, payload } if mine(session) => {
                if let Some(f) = &self.onframe {
                    let bytes = Uint8Array::from(&payload[..]);
                    calls.push(Call { function: f.clone(), args: [JsValue::from(frame_type), bytes.into()] });
                }
            }
            _ => {}
        }
    }

    /// Settles whatever the core can answer now.
    fn progress(&mut self, calls: &mut Vec<Call>) {
        let Some(h) = self.session else { return };
        let Some(mut s) = self.ep.session_mut(h) else { return };
        // Writes, finishes and reads, in the order they were asked for; one that cannot go on
        // waits, and so does a finish behind a waiting write on its stream.
        let mut waiting = VecDeque::new();
        while let Some(op) = self.ops.pop_front() {
            match op {
                StreamOp::Finish { stream, pending } => {
                    if waiting
                        .iter()
                        .any(|w| matches!(w, StreamOp::Write { stream: w_stream, .. } if *w_stream == stream))
                    {
                        waiting.push_back(StreamOp::Finish { stream, pending });
                    } else {
                        match s.finish(stream) {
                            Ok(()) => self.flushes.push(pending),
                            Err(e) => pending.reject(&error("StreamError", &format!("finish: {e}"))),
                        }
                    }
                }
                StreamOp::Write { stream, data, mut done, pending } => {
                    let mut failed = None;
                    while done < data.len() {
                        match s.write(stream, &data[done..]) {
                            Ok(0) | Err(StreamError::Blocked) => break,
                            Ok(n) => done += n,
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                    if let Some(e) = failed {
                        pending.reject(&error("StreamError", &format!("write: {e}")));
                    } else if done == data.len() {
                        pending.resolve(&JsValue::UNDEFINED);
                    } else {
                        waiting.push_back(StreamOp::Write { stream, data, done, pending });
                    }
                }
                StreamOp::Read { stream, pending } => loop {
                    match s.read(stream) {
                        Ok(Some(StreamRead::Data(b))) => break pending.resolve(&Uint8Array::from(&b[..]).into()),
                        Ok(Some(StreamRead::Finished)) => break pending.resolve(&JsValue::UNDEFINED),
                        Ok(Some(StreamRead::Skipped { .. })) => continue,
                        Ok(None) => break waiting.push_back(StreamOp::Read { stream, pending }),
                        Err(e) => break pending.reject(&error("StreamError", &format!("read: {e}"))),
                    }
                },
            }
        }
        self.ops = waiting;
        while !self.accepts.is_empty() {
            let Some(id) = s.accept_stream() else { break };
            if let Some(p) = self.accepts.pop_front() {
                if let Some(node) = self.this.upgrade() {
                    p.resolve(&Stream { node, id }.into());
                }
            }
        }
        while let Some((kind, payload, p)) = self.messages_to_send.pop_front() {
            match s.send_message(Channel::Frame(kind), payload.clone()) {
                Ok(_) => p.resolve(&JsValue::UNDEFINED),
                Err(stt_proto::MessageError::Blocked) => {
                    self.messages_to_send.push_front((kind, payload, p));
                    break;
                }
                Err(e) => p.reject(&error("MessageError", &format!("sendMessage: {e}"))),
            }
        }
        while !self.messages_wanted.is_empty() || self.onmessage.is_some() {
            let Some(m) = s.recv_message() else { break };
            let kind = match m.channel {
                Channel::Frame(kind) => JsValue::from(kind),
                Channel::Name(_) => JsValue::NULL,
            };
            let bytes: JsValue = Uint8Array::from(&m.payload[..]).into();
            if let Some(p) = self.messages_wanted.pop_front() {
                let out = js_sys::Object::new();
                let _ = Reflect::set(&out, &"kind".into(), &kind);
                let _ = Reflect::set(&out, &"bytes".into(), &bytes);
                p.resolve(&out);
            } else if let Some(f) = &self.onmessage {
                calls.push(Call { function: f.clone(), args: [kind, bytes] });
            }
        }
        if s.as_ref().streams_flushed() {
            for p in self.flushes.drain(..) {
                p.resolve(&JsValue::UNDEFINED);
            }
            // A close waits for what the page asked to send, as well as for the acknowledgements.
            let sending =
                self.ops.iter().any(|op| !matches!(op, StreamOp::Read { .. })) || !self.messages_to_send.is_empty();
            if !self.closes.is_empty() && !sending && s.as_ref().state() == SessionState::Established {
                let now = self.now();
                if let Some(s) = self.ep.session_mut(h) {
                    s.close(now, 0, "closed by the page");
                }
            }
        }
    }

    /// Sends what the core has ready, one WebSocket message per datagram. Returns whether
    /// anything was sent.
    fn transmit(&mut self, now: Instant) -> bool {
        let mut sent = false;
        while let Some(t) = self.ep.poll_transmit(now, 1, &mut self.transmit) {
            let len = t.len;
            let step = t.segment_size.unwrap_or(len).max(1);
            for d in self.transmit[..len].chunks(step) {
                let _ = self.ws.send_with_u8_array(d);
            }
            sent = true;
        }
        sent
    }
}

/// One turn of the driver: timers, events, the waiting promises, then what to send; repeated
/// while a turn changed something, then the timer is set for the core's next deadline.
fn turn(shared: &Shared) {
    let mut calls = Vec::new();
    {
        let Ok(mut d) = shared.try_borrow_mut() else { return };
        let d = &mut *d;
        for _ in 0..64 {
            let now = d.now();
            if d.ep.poll_timeout().is_some_and(|t| t <= now) {
                d.ep.handle_timeout(now);
            }
            let mut changed = false;
            while let Some(ev) = d.ep.poll_event() {
                d.on_event(ev, &mut calls);
                changed = true;
            }
            if d.ended.is_some() {
                // The session's last datagrams (a DISCONNECT) go out before the socket closes.
                d.transmit(now);
                if std::mem::take(&mut d.close_socket) {
                    let _ = d.ws.close();
                }
                break;
            }
            d.progress(&mut calls);
            changed |= d.transmit(now);
            if !changed {
                break;
            }
        }
        if let Some(tick) = d.tick.as_ref() {
            if let Some(t) = d.timer.take() {
                clear_timeout(t);
            }
            if d.ended.is_none() {
                if let Some(due) = d.ep.poll_timeout() {
                    let wait = due.as_nanos().saturating_sub(d.now().as_nanos()) / 1_000_000;
                    match &d.soon {
                        // The pacer's next datagram, mostly: a timer would be late by up to 4 ms,
                        // more than the pacer's burst, and the sending rate would fall with it.
                        Some(soon) if wait < TIMER_CLAMP_MS => {
                            if !d.soon_posted {
                                d.soon_posted = soon.port2().post_message(&JsValue::NULL).is_ok();
                            }
                        }
                        _ => {
                            let wait = i32::try_from(wait).unwrap_or(i32::MAX);
                            d.timer = set_timeout(tick.as_ref().unchecked_ref(), wait);
                        }
                    }
                }
            }
        }
    }
    for c in calls {
        let _ = c.function.call2(&JsValue::NULL, &c.args[0], &c.args[1]);
    }
}

/// A node in the page: it opens one session over WebSocket with [`Node::connect`].
#[wasm_bindgen]
pub struct Node;

#[wasm_bindgen]
impl Node {
    /// Opens a session to the listener at `url` (`ws://` or `wss://`). `options`: `seed` (the
    /// shared seed: a `Uint8Array` or hex digits, at least 32 bytes), `identity` (this node's
    /// seed, the same forms; a random identity if absent), `peerId` (the listener's node id in
    /// hex: the session opens only if it proves that identity). Resolves to a [`Session`].
    pub fn connect(url: String, options: JsValue) -> Promise {
        match start(url, options) {
            Ok(p) => p,
            Err(e) => Promise::reject(&e),
        }
    }
}

fn start(url: String, options: JsValue) -> Result<Promise, JsValue> {
    if !url.starts_with("ws://") && !url.starts_with("wss://") {
        return Err(invalid(&format!("unsupported URL {url:?}: use ws://host:port or wss://host:port")));
    }
    let option = |name: &str| Reflect::get(&options, &name.into()).ok().filter(|v| !v.is_undefined() && !v.is_null());
    let seed = option("seed").ok_or_else(|| invalid("options.seed: the shared seed is required"))?;
    let mut bytes = seed_bytes(&seed, "options.seed")?;
    let seed = stt_proto::Seed::new(&bytes).map_err(|e| invalid(&format!("options.seed: {e}")));
    bytes.zeroize();
    let seed = seed?;
    let identity = match option("identity") {
        Some(v) => {
            let mut bytes = seed_bytes(&v, "options.identity")?;
            let identity = Identity::from_seed_bytes(&bytes).map_err(|e| invalid(&format!("options.identity: {e}")));
            bytes.zeroize();
            identity?
        }
        None => {
            let mut bytes = random_bytes()?;
            let identity = Identity::from_seed_bytes(&bytes).map_err(|e| invalid(&format!("identity: {e}")));
            bytes.zeroize();
            identity?
        }
    };
    let peer = match option("peerId") {
        Some(v) => {
            let hex = v.as_string().ok_or_else(|| invalid("options.peerId: expected hex digits"))?;
            let bytes = decode_hex(hex.trim()).ok_or_else(|| invalid("options.peerId: expected hex digits"))?;
            let id: [u8; 32] = bytes.try_into().map_err(|_| invalid("options.peerId: expected 64 hex digits"))?;
            Some(NodeId(id))
        }
        None => None,
    };
    let mut config = EndpointConfig::with_shared_seed(seed);
    // A page opens sessions; it accepts none.
    config.server_mode = false;
    // No AES instructions in WebAssembly: ChaCha20-Poly1305 only, several times faster there.
    config.suites = vec![stt_proto::Suite::ChaCha20Poly1305];
    // As every driver does: WebSocket datagrams the size of UDP ones, so that nodes agree.
    config.max_websocket_datagram = config.max_udp_datagram;
    let transmit = vec![0u8; config.max_websocket_datagram.max(config.max_udp_datagram)];
    let mut rng_seed = random_bytes()?;
    let ep = Endpoint::new(config, identity, rng_seed).map_err(|e| invalid(&format!("configuration: {e}")));
    rng_seed.zeroize();
    let ep = ep?;
    let ws = WebSocket::new(&url).map_err(|e| {
        let why = Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_default();
        error("ConnectionError", &format!("cannot open {url}: {why}"))
    })?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let (opened, pending) = promise();
    let shared: Shared = Rc::new(RefCell::new(Driver {
        ep,
        ws: ws.clone(),
        url,
        // The browser does not say where the socket goes: one fixed address names the path.
        remote: Remote::websocket(std::net::SocketAddr::from(([0, 0, 0, 0], 1))),
        origin: now_ms(),
        peer: None,
        handle: None,
        session: None,
        connect: Some(pending),
        ops: VecDeque::new(),
        accepts: VecDeque::new(),
        messages_wanted: VecDeque::new(),
        messages_to_send: VecDeque::new(),
        flushes: Vec::new(),
        closes: Vec::new(),
        onframe: None,
        onmessage: None,
        ended: None,
        timer: None,
        transmit,
        callbacks: Vec::new(),
        tick: None,
        soon: web_sys::MessageChannel::new().ok(),
        soon_posted: false,
        this: Weak::new(),
        close_socket: false,
    }));
    let weak = Rc::downgrade(&shared);
    shared.borrow_mut().this = weak.clone();
    let on_open = {
        let weak = weak.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let Some(shared) = weak.upgrade() else { return };
            {
                let mut d = shared.borrow_mut();
                let now = d.now();
                let remote = d.remote;
                let started = match peer {
                    Some(peer) => d.ep.connect_to(now, remote, peer),
                    None => d.ep.connect(now, remote),
                };
                match started {
                    Ok(h) => d.handle = Some(h),
                    Err(e) => d.end("HandshakeError", &format!("cannot start the handshake: {e}")),
                }
            }
            turn(&shared);
        })
    };
    let on_message = {
        let weak = weak.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let Some(shared) = weak.upgrade() else { return };
            let Ok(ev) = ev.dyn_into::<MessageEvent>() else { return };
            let Ok(buf) = ev.data().dyn_into::<js_sys::ArrayBuffer>() else { return };
            let datagram = BytesMut::from(&Uint8Array::new(&buf).to_vec()[..]);
            // The core takes the datagram now; the rest of the turn runs once for all the
            // datagrams that arrive together (at the event loop's next turn).
            let Ok(mut d) = shared.try_borrow_mut() else { return };
            let (now, remote) = (d.now(), d.remote);
            d.ep.handle_datagram(now, remote, datagram);
            if !d.soon_posted {
                d.soon_posted = d.soon.as_ref().is_some_and(|soon| soon.port2().post_message(&JsValue::NULL).is_ok());
            }
            let posted = d.soon_posted;
            drop(d);
            if !posted {
                turn(&shared);
            }
        })
    };
    let on_close = {
        let weak = weak.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let Some(shared) = weak.upgrade() else { return };
            let mut d = shared.borrow_mut();
            let message = if d.connect.is_some() && d.session.is_none() {
                format!("cannot reach {}: the WebSocket connection failed or was refused", d.url)
            } else {
                format!("the WebSocket connection to {} closed", d.url)
            };
            d.end("ConnectionError", &message);
        })
    };
    let tick = {
        let weak = weak.clone();
        Closure::<dyn FnMut()>::new(move || {
            if let Some(shared) = weak.upgrade() {
                if let Ok(mut d) = shared.try_borrow_mut() {
                    d.timer = None;
                }
                turn(&shared);
            }
        })
    };
    let on_soon = {
        let weak = weak.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| {
            if let Some(shared) = weak.upgrade() {
                if let Ok(mut d) = shared.try_borrow_mut() {
                    d.soon_posted = false;
                }
                turn(&shared);
            }
        })
    };
    if let Some(soon) = &shared.borrow().soon {
        soon.port1().set_onmessage(Some(on_soon.as_ref().unchecked_ref()));
    }
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    {
        let mut d = shared.borrow_mut();
        d.callbacks = vec![on_open, on_message, on_close, on_soon];
        d.tick = Some(tick);
    }
    let session = Session { node: shared };
    Ok(wasm_bindgen_futures::future_to_promise(async move {
        wasm_bindgen_futures::JsFuture::from(opened).await?;
        Ok(session.into())
    }))
}

/// An open session (from [`Node::connect`]).
#[wasm_bindgen]
pub struct Session {
    node: Shared,
}

impl Session {
    /// Runs `f` on the driver unless the session ended, then turns the driver.
    fn with<T>(&self, f: impl FnOnce(&mut Driver) -> Result<T, JsValue>) -> Result<T, JsValue> {
        let out = {
            let mut d = self.node.borrow_mut();
            if let Some((name, message)) = &d.ended {
                return Err(error(name, message));
            }
            f(&mut d)
        };
        turn(&self.node);
        out
    }

    /// A promise the driver settles later, or rejected now if the session ended.
    fn wait(&self, f: impl FnOnce(&mut Driver, Pending)) -> Promise {
        let (p, pending) = promise();
        if let Err(e) = self.with(|d| {
            f(d, pending);
            Ok(())
        }) {
            return Promise::reject(&e);
        }
        p
    }
}

#[wasm_bindgen]
impl Session {
    /// The peer's node id, in hex.
    #[wasm_bindgen(getter, js_name = peerId)]
    pub fn peer_id(&self) -> String {
        self.node.borrow().peer.map(|p| p.to_string()).unwrap_or_default()
    }

    /// Opens a reliable stream.
    #[wasm_bindgen(js_name = openStream)]
    pub fn open_stream(&self) -> Result<Stream, JsValue> {
        let id = self.with(|d| {
            let h = d.session.ok_or_else(|| error("SessionClosed", "the session is not open"))?;
            let mut s = d.ep.session_mut(h).ok_or_else(|| error("SessionClosed", "the session is not open"))?;
            s.open_stream(StreamMode::Reliable).map_err(|e| error("StreamError", &format!("openStream: {e}")))
        })?;
        Ok(Stream { node: self.node.clone(), id })
    }

    /// The next stream the peer opens.
    #[wasm_bindgen(js_name = acceptStream)]
    pub fn accept_stream(&self) -> Promise {
        self.wait(|d, pending| d.accepts.push_back(pending))
    }

    /// Sends one whole message on the reliable lane, as a custom frame type's message (`kind`,
    /// 0x80–0xFF). Resolves once the core took it (it waits while the lane's buffer is full).
    #[wasm_bindgen(js_name = sendMessage)]
    pub fn send_message(&self, kind: u8, bytes: &[u8]) -> Promise {
        let payload = Bytes::copy_from_slice(bytes);
        self.wait(|d, pending| d.messages_to_send.push_back((kind, payload, pending)))
    }

    /// The next whole message from the peer: `{ kind, bytes }`.
    #[wasm_bindgen(js_name = nextMessage)]
    pub fn next_message(&self) -> Promise {
        self.wait(|d, pending| d.messages_wanted.push_back(pending))
    }

    /// A function called with `(kind, bytes)` for each whole message that no `nextMessage`
    /// waits for; `null` to stop.
    #[wasm_bindgen(setter)]
    pub fn set_onmessage(&self, f: Option<Function>) {
        self.node.borrow_mut().onmessage = f;
        turn(&self.node);
    }

    /// Sends a custom frame (type 0x80–0xFF): best-effort, not retransmitted.
    #[wasm_bindgen(js_name = sendFrame)]
    pub fn send_frame(&self, kind: u8, bytes: &[u8]) -> Result<(), JsValue> {
        let payload = Bytes::copy_from_slice(bytes);
        self.with(|d| {
            let h = d.session.ok_or_else(|| error("SessionClosed", "the session is not open"))?;
            let mut s = d.ep.session_mut(h).ok_or_else(|| error("SessionClosed", "the session is not open"))?;
            s.send_frame(kind, payload).map_err(|e| error("FrameError", &format!("sendFrame: {e}")))
        })
    }

    /// A function called with `(kind, bytes)` for each custom frame; `null` to stop.
    #[wasm_bindgen(setter)]
    pub fn set_onframe(&self, f: Option<Function>) {
        self.node.borrow_mut().onframe = f;
    }

    /// Closes the session once everything written was acknowledged; resolves when it is closed.
    pub fn close(&self) -> Promise {
        self.wait(|d, pending| d.closes.push(pending))
    }

    /// Closes the session now: what waits to be sent is dropped, and every call still waiting is
    /// rejected with `SessionClosed`.
    pub fn abort(&self) {
        if let Ok(mut d) = self.node.try_borrow_mut() {
            if d.ended.is_none() {
                let now = d.now();
                match d.session.or(d.handle).and_then(|h| d.ep.session_mut(h)) {
                    Some(s) => s.close(now, 0, "aborted by the page"),
                    None => {
                        d.end("SessionClosed", "aborted by the page");
                        d.close_socket = true;
                    }
                }
            }
        }
        turn(&self.node);
    }
}

/// A reliable stream of a [`Session`]. It keeps its session alive.
#[wasm_bindgen]
pub struct Stream {
    node: Shared,
    id: StreamId,
}

impl Stream {
    fn wait(&self, f: impl FnOnce(&mut Driver, Pending)) -> Promise {
        Session { node: self.node.clone() }.wait(f)
    }
}

#[wasm_bindgen]
impl Stream {
    /// The stream's id in its session.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> u32 {
        self.id.0
    }

    /// Writes all of `bytes`; resolves once the core took them (it waits while the stream's send
    /// buffer is full, which is the backpressure).
    pub fn write(&self, bytes: &[u8]) -> Promise {
        let (stream, data) = (self.id, Bytes::copy_from_slice(bytes));
        self.wait(|d, pending| d.ops.push_back(StreamOp::Write { stream, data, done: 0, pending }))
    }

    /// Ends this side of the stream after the writes asked for before it; resolves once the peer
    /// acknowledged every byte written on the session.
    pub fn finish(&self) -> Promise {
        let stream = self.id;
        self.wait(|d, pending| d.ops.push_back(StreamOp::Finish { stream, pending }))
    }

    /// The next bytes the peer sent on this stream (a `Uint8Array`), or `undefined` at its end.
    pub fn read(&self) -> Promise {
        let stream = self.id;
        self.wait(|d, pending| d.ops.push_back(StreamOp::Read { stream, pending }))
    }

    /// The stream's bytes as an async iterable of `Uint8Array`s, to the end:
    /// `for await (const chunk of stream.chunks()) { ... }`.
    pub fn chunks(&self) -> JsValue {
        let stream = Stream { node: self.node.clone(), id: self.id };
        let next = Closure::<dyn FnMut() -> Promise>::new(move || {
            let read = stream.read();
            wasm_bindgen_futures::future_to_promise(async move {
                let value = wasm_bindgen_futures::JsFuture::from(read).await?;
                let step = js_sys::Object::new();
                Reflect::set(&step, &"done".into(), &JsValue::from(value.is_undefined()))?;
                Reflect::set(&step, &"value".into(), &value)?;
                Ok(step.into())
            })
        });
        let iterator = js_sys::Object::new();
        let _ = Reflect::set(&iterator, &"next".into(), &next.into_js_value());
        let start = Closure::<dyn FnMut() -> JsValue>::new(move || iterator.clone().into());
        let iterable = js_sys::Object::new();
        let _ = Reflect::set(&iterable, &js_sys::Symbol::async_iterator(), &start.into_js_value());
        iterable.into()
    }
}

/// SHA3-256 of `bytes` (the page checks what it moved with it; browsers' WebCrypto has no SHA-3).
#[wasm_bindgen]
pub fn sha3_256(bytes: &[u8]) -> Vec<u8> {
    use sha3::Digest;
    sha3::Sha3_256::digest(bytes).to_vec()
}

/// SHA3-256 over bytes given piece by piece (a file too large to hold at once).
#[wasm_bindgen]
#[derive(Default)]
pub struct Sha3 {
    state: sha3::Sha3_256,
}

#[wasm_bindgen]
impl Sha3 {
    /// An empty hash.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Sha3 {
        Sha3::default()
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        sha3::Digest::update(&mut self.state, bytes);
    }

    /// The digest of everything added (the hash starts again empty).
    pub fn digest(&mut self) -> Vec<u8> {
        sha3::Digest::finalize_reset(&mut self.state).to_vec()
    }
}
