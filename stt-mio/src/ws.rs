//! The WebSocket transport of the mio driver, `ws://` only: each binary message carries one STT
//! datagram, as in `stt-tokio` (`docs/PROTOCOL.md` section 1), so the two drivers interoperate.
//!
//! It owns a TCP listener and the connections (accepted or dialled), each a non-blocking
//! `mio::net::TcpStream` registered under a token of the range the caller gave the driver, taken
//! through the TCP connect, the upgrade (`tungstenite`, resumed on readiness) and then carrying
//! messages. The listener's [`WebSocketLimits`] bound what a client without a session can hold;
//! a connection that breaks a rule is closed with its reason logged, never a panic.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant as StdInstant};

use bytes::{Bytes, BytesMut};
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use stt_proto::{Endpoint, Instant, Remote};
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::server::{NoCallback, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::{Error, WebSocketLimits, WebSocketStats};
use stt_common::{AcceptBackoff, ConnectionCaps, WebSocketUrl};

/// Unsent bytes one connection may hold (datagrams the peer's TCP window has not taken yet);
/// past it new datagrams for that connection are dropped, as a full socket buffer drops them, and
/// the protocol recovers them.
const MAX_UNSENT: usize = 4 << 20;
/// Messages read from one connection per [`WebSockets::process`] before yielding.
const READ_BATCH: usize = 256;
/// Connections accepted per [`WebSockets::process`] before yielding.
const ACCEPT_BATCH: usize = 64;
/// Failed dials remembered until [`WebSockets::dial_result`] takes them.
const MAX_DIAL_ERRORS: usize = 64;

/// What a connection is doing.
enum State {
    /// A dialled connection whose TCP connect is in progress; `url` is what the upgrade asks for.
    Connecting { stream: TcpStream, url: String },
    /// This node's upgrade request, waiting for readiness.
    Client(MidHandshake<ClientHandshake<TcpStream>>),
    /// A client's upgrade request being read or answered.
    Server(MidHandshake<ServerHandshake<TcpStream, NoCallback>>),
    /// Upgraded: carries datagrams.
    Open(WebSocket<TcpStream>),
}

impl State {
    fn stream(&mut self) -> &mut TcpStream {
        match self {
            State::Connecting { stream, .. } => stream,
            State::Client(mid) => mid.get_mut().get_mut(),
            State::Server(mid) => mid.get_mut().get_mut(),
            State::Open(ws) => ws.get_mut(),
        }
    }
}

/// One TCP connection.
struct Conn {
    peer: SocketAddr,
    /// Accepted by the listener (and holding a place under its caps), or dialled by this node.
    accepted: bool,
    state: State,
    /// Readiness was reported (or a read stopped at its budget): try the connection again.
    ready: bool,
    /// Messages were written that may not have reached the socket yet.
    unflushed: bool,
    /// Before the upgrade: when it must be complete. After, for an accepted connection: when to
    /// check that it carries a session.
    deadline: Option<StdInstant>,
}

/// Why a connection is closed, and which counter it goes to.
enum Close {
    /// Closed by the peer, or this node: no counter.
    Normal,
    UpgradeFailed,
    Idle,
    Errors,
}

/// The listening socket.
struct Listener {
    socket: TcpListener,
    token: Token,
    addr: SocketAddr,
    /// Connections may be waiting (readiness is edge-triggered).
    ready: bool,
    /// `accept` failed with an error other than "would block": try again at this time.
    paused_until: Option<StdInstant>,
    backoff: AcceptBackoff,
}

/// The WebSocket side of a [`crate::Driver`]: listener, connections, caps and counters.
pub(crate) struct WebSockets {
    registry: Registry,
    tokens: Range<usize>,
    next_token: usize,
    limits: WebSocketLimits,
    config: WebSocketConfig,
    listener: Option<Listener>,
    conns: HashMap<Token, Conn>,
    /// The connection that carries each WebSocket remote (the peer's TCP address).
    by_peer: HashMap<SocketAddr, Token>,
    /// Accepted connections' places under the caps.
    caps: ConnectionCaps,
    /// Connections with writes not yet flushed.
    dirty: Vec<Token>,
    dial_errors: HashMap<SocketAddr, String>,
    stats: WebSocketStats,
    /// A read or the listener stopped at its budget: process again without sleeping.
    more: bool,
    /// The earliest deadline of a connection or the listener's pause.
    deadline: Option<StdInstant>,
}

impl std::fmt::Debug for WebSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSockets")
            .field("tokens", &self.tokens)
            .field("listening", &self.listener.as_ref().map(|l| l.addr))
            .field("connections", &self.conns.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl WebSockets {
    /// No listener, no connections, no tokens yet; messages up to `max_datagram` bytes.
    pub(crate) fn new(registry: Registry, max_datagram: usize) -> WebSockets {
        let config = stt_common::websocket_config(max_datagram).max_write_buffer_size(MAX_UNSENT);
        WebSockets {
            registry,
            tokens: 0..0,
            next_token: 0,
            limits: WebSocketLimits::default(),
            config,
            listener: None,
            conns: HashMap::new(),
            by_peer: HashMap::new(),
            caps: ConnectionCaps::default(),
            dirty: Vec::new(),
            dial_errors: HashMap::new(),
            stats: WebSocketStats::default(),
            more: false,
            deadline: None,
        }
    }

    pub(crate) fn set_tokens(&mut self, tokens: Range<usize>) {
        self.next_token = tokens.start;
        self.tokens = tokens;
    }

    pub(crate) fn stats(&self) -> WebSocketStats {
        let mut stats = self.stats;
        stats.connections = self.conns.len();
        stats
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().map(|l| l.addr)
    }

    /// Zero if work is left over, else the time until the next deadline.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        if self.more {
            return Some(Duration::ZERO);
        }
        self.deadline.map(|d| d.saturating_duration_since(StdInstant::now()))
    }

    /// A free token of the range, or `None` if every one is in use.
    fn token(&mut self) -> Option<Token> {
        let len = self.tokens.len();
        for _ in 0..len.min(self.conns.len() + 2) {
            let t = self.next_token;
            self.next_token = if t + 1 >= self.tokens.end { self.tokens.start } else { t + 1 };
            let token = Token(t);
            if !self.conns.contains_key(&token) && self.listener.as_ref().is_none_or(|l| l.token != token) {
                return Some(token);
            }
        }
        None
    }

    fn no_token() -> Error {
        Error::WebSocket(
            "no token left for a WebSocket socket: give the driver a range with Driver::set_ws_tokens".into(),
        )
    }

    /// Listens for WebSocket connections on `addr` under `limits`.
    pub(crate) fn listen(&mut self, addr: SocketAddr, limits: WebSocketLimits) -> Result<SocketAddr, Error> {
        if let Some(l) = &self.listener {
            return Err(Error::WebSocket(format!("already listening for WebSocket connections on {}", l.addr)));
        }
        let token = self.token().ok_or_else(Self::no_token)?;
        let mut socket = TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        let local = socket.local_addr()?;
        self.registry.register(&mut socket, token, Interest::READABLE)?;
        self.limits = limits;
        self.listener = Some(Listener {
            socket,
            token,
            addr: local,
            ready: true,
            paused_until: None,
            backoff: AcceptBackoff::new(),
        });
        stt_common::log_websocket::listening(local);
        Ok(local)
    }

    /// Starts a connection to `addr` that asks for `url` (`ws://` only), unless one to `addr` is
    /// open or on its way already. Returns the remote that names it.
    pub(crate) fn dial(&mut self, url: &str, addr: SocketAddr) -> Result<Remote, Error> {
        check_url(url)?;
        self.dial_errors.remove(&addr);
        if self.by_peer.contains_key(&addr) {
            return Ok(Remote::websocket(addr));
        }
        let token = self.token().ok_or_else(Self::no_token)?;
        let mut stream =
            TcpStream::connect(addr).map_err(|e| Error::WebSocket(format!("connecting to {url} ({addr}): {e}")))?;
        self.registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        let deadline = StdInstant::now() + self.limits.upgrade_timeout;
        self.conns.insert(
            token,
            Conn {
                peer: addr,
                accepted: false,
                state: State::Connecting { stream, url: url.to_string() },
                ready: true,
                unflushed: false,
                deadline: Some(deadline),
            },
        );
        self.by_peer.insert(addr, token);
        self.deadline = Some(self.deadline.map_or(deadline, |d| d.min(deadline)));
        Ok(Remote::websocket(addr))
    }

    /// `None` while the connection to `addr` is being dialled; `Ok` once it is open; the reason
    /// if it failed (given once).
    pub(crate) fn dial_result(&mut self, addr: SocketAddr) -> Option<Result<(), Error>> {
        if let Some(reason) = self.dial_errors.remove(&addr) {
            return Some(Err(Error::WebSocket(reason)));
        }
        match self.by_peer.get(&addr).and_then(|t| self.conns.get(t)) {
            Some(c) if matches!(c.state, State::Open(_)) => Some(Ok(())),
            Some(_) => None,
            None => Some(Err(Error::WebSocket(format!("no connection to {addr}")))),
        }
    }

    /// Notes readiness; `false` if the token is not one of the range.
    pub(crate) fn handle_event(&mut self, event: &mio::event::Event) -> bool {
        let token = event.token();
        if !self.tokens.contains(&token.0) {
            return false;
        }
        if let Some(l) = self.listener.as_mut().filter(|l| l.token == token) {
            l.ready = true;
        } else if let Some(c) = self.conns.get_mut(&token) {
            c.ready = true;
        }
        true
    }

    /// Accepts what is waiting, advances connections that are ready or past a deadline (the TCP
    /// connect, the upgrade, reading messages into `endpoint`, flushing), and closes those that
    /// broke a rule.
    pub(crate) fn process(&mut self, endpoint: &mut Endpoint, now: Instant) {
        if self.conns.is_empty() && self.listener.is_none() {
            return;
        }
        let clock = StdInstant::now();
        self.more = false;
        let due: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| c.ready || c.deadline.is_some_and(|d| d <= clock))
            .map(|(t, _)| *t)
            .collect();
        for token in due {
            self.advance(token, endpoint, now, clock);
        }
        // After the connections, so that places they gave back are free for new ones.
        self.accept(clock);
        let conns = self.conns.values().filter_map(|c| c.deadline);
        let pause = self.listener.as_ref().and_then(|l| l.paused_until);
        self.deadline = conns.chain(pause).min();
    }

    fn accept(&mut self, clock: StdInstant) {
        let Some(l) = self.listener.as_mut() else { return };
        if l.paused_until.is_some_and(|t| t > clock) {
            return;
        }
        l.paused_until = None;
        if !l.ready {
            return;
        }
        for _ in 0..ACCEPT_BATCH {
            let Some(l) = self.listener.as_mut() else { return };
            match l.socket.accept() {
                Ok((stream, peer)) => {
                    l.backoff.succeeded();
                    self.admit(stream, peer, clock)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    l.ready = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors or a transient error: back off instead of spinning.
                    stt_common::log_websocket::accept_failed(&e);
                    l.paused_until = Some(clock + l.backoff.failed());
                    return;
                }
            }
        }
        self.more = true;
    }

    /// Takes an accepted connection under the caps and starts its upgrade.
    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr, clock: StdInstant) {
        let placed = self.caps.admit(peer.ip(), &self.limits);
        let token = placed.and_then(|()| {
            self.token().ok_or_else(|| {
                self.caps.release(peer.ip());
                "no token left"
            })
        });
        let token = match token {
            Ok(t) => t,
            Err(why) => {
                self.stats.refused += 1;
                stt_common::log_websocket::closed(peer, why);
                return; // dropping the stream closes it
            }
        };
        let _ = stream.set_nodelay(true);
        if let Err(e) = self.registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE) {
            self.caps.release(peer.ip());
            self.stats.refused += 1;
            stt_common::log_websocket::closed(peer, &format!("could not register the connection: {e}"));
            return;
        }
        stt_common::log_websocket::accepted(peer);
        // The upgrade runs in `advance`, which sees `ready`: the request may be there already.
        let mid = match tungstenite::accept_with_config(stream, Some(self.config)) {
            Err(HandshakeError::Interrupted(mid)) => mid,
            Ok(ws) => {
                self.insert_open(token, peer, ws, true, clock);
                return;
            }
            Err(HandshakeError::Failure(e)) => {
                self.release(peer, true);
                self.stats.upgrade_failed += 1;
                stt_common::log_websocket::closed(peer, &format!("the upgrade failed: {e}"));
                return;
            }
        };
        let conn = Conn {
            peer,
            accepted: true,
            state: State::Server(mid),
            ready: false,
            unflushed: false,
            deadline: Some(clock + self.limits.upgrade_timeout),
        };
        self.insert(token, conn);
    }

    fn insert(&mut self, token: Token, conn: Conn) {
        if let Some(old) = self.by_peer.insert(conn.peer, token) {
            // A newer connection from the same address replaces an older one.
            if old != token {
                if let Some(old) = self.conns.remove(&old) {
                    self.drop_conn(old, "replaced by a newer connection from the same address", Close::Normal);
                }
            }
        }
        self.conns.insert(token, conn);
    }

    fn insert_open(
        &mut self,
        token: Token,
        peer: SocketAddr,
        ws: WebSocket<TcpStream>,
        accepted: bool,
        clock: StdInstant,
    ) {
        stt_common::log_websocket::open(peer, accepted);
        let deadline = accepted.then(|| clock + self.limits.session_timeout);
        let conn = Conn { peer, accepted, state: State::Open(ws), ready: true, unflushed: false, deadline };
        self.insert(token, conn);
        self.more = true;
    }

    /// Gives back an accepted connection's place under the caps.
    fn release(&mut self, peer: SocketAddr, accepted: bool) {
        if accepted {
            self.caps.release(peer.ip());
        }
    }

    /// Forgets which connection carries `peer` if that connection is gone (taken out of `conns`).
    fn forget_peer(&mut self, peer: SocketAddr) {
        if self.by_peer.get(&peer).is_some_and(|t| !self.conns.contains_key(t)) {
            self.by_peer.remove(&peer);
        }
    }

    /// Closes a connection already taken out of `conns`.
    fn drop_conn(&mut self, mut conn: Conn, reason: &str, why: Close) {
        let _ = self.registry.deregister(conn.state.stream());
        self.release(conn.peer, conn.accepted);
        self.forget_peer(conn.peer);
        match why {
            Close::Normal => {}
            Close::UpgradeFailed => self.stats.upgrade_failed += 1,
            Close::Idle => self.stats.closed_idle += 1,
            Close::Errors => self.stats.closed_errors += 1,
        }
        if !conn.accepted && !matches!(conn.state, State::Open(_)) {
            if self.dial_errors.len() >= MAX_DIAL_ERRORS {
                self.dial_errors.clear();
            }
            self.dial_errors.insert(conn.peer, format!("connection to {}: {reason}", conn.peer));
        }
        stt_common::log_websocket::closed(conn.peer, reason);
    }

    /// One step of the connection at `token`: deadline, TCP connect, upgrade, or messages.
    fn advance(&mut self, token: Token, endpoint: &mut Endpoint, now: Instant, clock: StdInstant) {
        let Some(mut conn) = self.conns.remove(&token) else { return };
        let open = matches!(conn.state, State::Open(_));
        if conn.deadline.is_some_and(|d| d <= clock) {
            if !open {
                let t = self.limits.upgrade_timeout;
                let what = if conn.accepted { "the client" } else { "the listener" };
                let reason = format!("{what} did not complete the WebSocket upgrade within {t:?}");
                return self.drop_conn(conn, &reason, Close::UpgradeFailed);
            }
            if conn.accepted {
                let remote = Remote::websocket(conn.peer);
                if !endpoint.has_session_on(remote) {
                    let t = self.limits.session_timeout;
                    return self.drop_conn(conn, &format!("carried no session for {t:?}"), Close::Idle);
                }
                conn.deadline = Some(clock + self.limits.session_timeout);
            } else {
                conn.deadline = None;
            }
        }
        if !conn.ready {
            self.conns.insert(token, conn);
            return;
        }
        conn.ready = false;
        let Conn { state, peer, accepted, unflushed, deadline, .. } = conn;
        let shell = Shell { peer, accepted, unflushed, deadline };
        let state = match state {
            State::Connecting { stream, url } => {
                if let Some(e) = stream.take_error().unwrap_or_else(Some) {
                    let conn = shell.with(State::Connecting { stream, url });
                    return self.drop_conn(conn, &format!("TCP connect failed: {e}"), Close::UpgradeFailed);
                }
                match stream.peer_addr() {
                    Ok(_) => {
                        let _ = stream.set_nodelay(true);
                        match tungstenite::client::client_with_config(url.as_str(), stream, Some(self.config)) {
                            Ok((ws, _)) => return self.insert_open(token, peer, ws, false, clock),
                            Err(HandshakeError::Interrupted(mid)) => State::Client(mid),
                            Err(HandshakeError::Failure(e)) => {
                                // The stream is gone with the failed handshake: nothing to deregister.
                                return self.dial_failed(peer, &format!("the upgrade failed: {e}"));
                            }
                        }
                    }
                    Err(e) if matches!(e.kind(), io::ErrorKind::NotConnected | io::ErrorKind::WouldBlock) => {
                        State::Connecting { stream, url }
                    }
                    Err(e) => {
                        let conn = shell.with(State::Connecting { stream, url });
                        return self.drop_conn(conn, &format!("TCP connect failed: {e}"), Close::UpgradeFailed);
                    }
                }
            }
            State::Client(mid) => match mid.handshake() {
                Ok((ws, _)) => return self.insert_open(token, peer, ws, false, clock),
                Err(HandshakeError::Interrupted(mid)) => State::Client(mid),
                Err(HandshakeError::Failure(e)) => return self.dial_failed(peer, &format!("the upgrade failed: {e}")),
            },
            State::Server(mid) => match mid.handshake() {
                Ok(ws) => return self.insert_open(token, peer, ws, true, clock),
                Err(HandshakeError::Interrupted(mid)) => State::Server(mid),
                Err(HandshakeError::Failure(e)) => {
                    self.forget_peer(peer);
                    self.release(peer, true);
                    self.stats.upgrade_failed += 1;
                    stt_common::log_websocket::closed(peer, &format!("the upgrade failed: {e}"));
                    return;
                }
            },
            State::Open(ws) => {
                let mut conn = shell.with(State::Open(ws));
                if let Err((reason, why)) = self.read(&mut conn, endpoint, now) {
                    return self.drop_conn(conn, &reason, why);
                }
                self.conns.insert(token, conn);
                return;
            }
        };
        self.conns.insert(token, shell.with(state));
    }

    /// A dial whose stream the failed upgrade consumed.
    fn dial_failed(&mut self, peer: SocketAddr, reason: &str) {
        self.forget_peer(peer);
        self.stats.upgrade_failed += 1;
        if self.dial_errors.len() >= MAX_DIAL_ERRORS {
            self.dial_errors.clear();
        }
        self.dial_errors.insert(peer, format!("connection to {peer}: {reason}"));
        stt_common::log_websocket::closed(peer, reason);
    }

    /// Reads messages from an open connection into `endpoint` until the socket would block or
    /// the batch is done, and flushes what is unsent. An error closes the connection.
    fn read(&mut self, conn: &mut Conn, endpoint: &mut Endpoint, now: Instant) -> Result<(), (String, Close)> {
        let State::Open(ws) = &mut conn.state else { return Ok(()) };
        let remote = Remote::websocket(conn.peer);
        let mut blocked = false;
        for _ in 0..READ_BATCH {
            match ws.read() {
                Ok(Message::Binary(b)) => endpoint.handle_datagram(now, remote, BytesMut::from(b)),
                Ok(Message::Close(_)) => return Err(("closed by the peer".into(), Close::Normal)),
                Ok(_) => {} // text, ping and pong carry no datagram
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocked = true;
                    break;
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(match stt_common::peer_left(&e) {
                        Some(why) => (why.into(), Close::Normal),
                        None => (format!("{e}"), Close::Errors),
                    })
                }
            }
        }
        if !blocked {
            conn.ready = true;
            self.more = true;
        }
        if conn.unflushed {
            flush(conn).map_err(|e| (e, Close::Errors))?;
        }
        Ok(())
    }

    /// Queues one datagram on the connection that carries `peer`. `false` if there is none.
    pub(crate) fn send(&mut self, peer: SocketAddr, datagram: &[u8]) -> bool {
        let Some(&token) = self.by_peer.get(&peer) else { return false };
        let Some(conn) = self.conns.get_mut(&token) else { return false };
        let State::Open(ws) = &mut conn.state else {
            self.stats.dropped += 1;
            return true;
        };
        match ws.write(Message::Binary(Bytes::copy_from_slice(datagram))) {
            // "Would block" leaves the message in the connection's buffer, sent on writability.
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(tungstenite::Error::WriteBufferFull(_)) => {
                self.stats.dropped += 1;
                return true;
            }
            Err(e) => {
                if let Some(conn) = self.conns.remove(&token) {
                    self.drop_conn(conn, &format!("sending failed: {e}"), Close::Errors);
                }
                return true;
            }
        }
        if !conn.unflushed {
            conn.unflushed = true;
            self.dirty.push(token);
        }
        true
    }

    /// Pushes what this turn wrote towards the sockets; what would block goes when the socket is
    /// writable again.
    pub(crate) fn flush(&mut self) {
        for token in std::mem::take(&mut self.dirty) {
            let Some(conn) = self.conns.get_mut(&token) else { continue };
            if let Err(reason) = flush(conn) {
                if let Some(conn) = self.conns.remove(&token) {
                    self.drop_conn(conn, &reason, Close::Errors);
                }
            }
        }
    }
}

/// The fields of a connection other than its state, while the state moves on.
#[derive(Clone, Copy)]
struct Shell {
    peer: SocketAddr,
    accepted: bool,
    unflushed: bool,
    deadline: Option<StdInstant>,
}

impl Shell {
    fn with(self, state: State) -> Conn {
        let Shell { peer, accepted, unflushed, deadline } = self;
        Conn { peer, accepted, state, ready: false, unflushed, deadline }
    }
}

fn flush(conn: &mut Conn) -> Result<(), String> {
    let State::Open(ws) = &mut conn.state else { return Ok(()) };
    match ws.flush() {
        Ok(()) => {
            conn.unflushed = false;
            Ok(())
        }
        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
            conn.unflushed = true;
            Ok(())
        }
        Err(e) => Err(format!("sending failed: {e}")),
    }
}

/// Refuses anything but a `ws://` URL, with a message that says what to use.
fn check_url(url: &str) -> Result<WebSocketUrl, Error> {
    let parsed = WebSocketUrl::parse(url)?;
    if parsed.tls {
        return Err(Error::WebSocket(format!(
            "{url}: the mio driver has no TLS; use a ws:// URL, or stt-tokio for wss://"
        )));
    }
    Ok(parsed)
}

/// The addresses a `ws://host[:port]/...` URL names (port 80 if none), a host name resolved by the
/// system's resolver.
pub(crate) fn resolve(url: &str) -> Result<Vec<SocketAddr>, Error> {
    check_url(url)?.resolve()
}
