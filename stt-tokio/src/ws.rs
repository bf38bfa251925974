//! WebSocket transport, `ws://` or `wss://` (TLS, see `tls.rs`): each binary message carries one
//! STT datagram. A listener accepts connections within [`WebSocketLimits`]; each connection (accepted or dialled) gets a reader
//! task that feeds the core and a writer task that drains a bounded queue of outgoing datagrams.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use stt_proto::Remote;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::shared::Inner;
use crate::tls::{TlsIdentity, TlsRoots};
use crate::{Error, WebSocketLimits};
use stt_common::{AcceptBackoff, ConnectionCaps, WebSocketUrl};

/// Datagrams queued per connection before new ones are dropped (as a full socket buffer would).
const QUEUE: usize = 4096;

/// Every connection's limits (`stt_common::websocket_config`): messages and frames no larger
/// than one datagram.
fn ws_config(inner: &Inner) -> WebSocketConfig {
    stt_common::websocket_config(inner.max_ws_datagram)
}

/// One accepted connection's place under the caps; given back when dropped.
struct Admitted {
    caps: Arc<Mutex<ConnectionCaps>>,
    ip: IpAddr,
}

impl Admitted {
    /// Takes a place for a connection from `ip`, or says which cap is reached.
    fn new(caps: &Arc<Mutex<ConnectionCaps>>, ip: IpAddr, limits: &WebSocketLimits) -> Result<Admitted, &'static str> {
        caps.lock().unwrap_or_else(|p| p.into_inner()).admit(ip, limits)?;
        Ok(Admitted { caps: caps.clone(), ip })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.caps.lock().unwrap_or_else(|p| p.into_inner()).release(self.ip);
    }
}

/// Accepts WebSocket connections (over TLS when the node has a certificate) until the node stops.
pub(crate) async fn listen(
    inner: Arc<Inner>,
    listener: TcpListener,
    limits: WebSocketLimits,
    tls: Option<TlsIdentity>,
) {
    let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.0));
    if let Ok(addr) = listener.local_addr() {
        stt_common::log_websocket::listening(addr);
    }
    let caps = Arc::new(Mutex::new(ConnectionCaps::default()));
    let mut backoff = AcceptBackoff::new();
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => {
                backoff.succeeded();
                c
            }
            Err(e) => {
                // Out of descriptors or a transient error: back off instead of spinning.
                stt_common::log_websocket::accept_failed(&e);
                tokio::time::sleep(backoff.failed()).await;
                continue;
            }
        };
        let place = match Admitted::new(&caps, peer.ip(), &limits) {
            Ok(place) => place,
            Err(why) => {
                inner.lock().driver_stats.websocket.refused += 1;
                stt_common::log_websocket::closed(peer, why);
                continue; // dropping the stream closes it
            }
        };
        stt_common::log_websocket::accepted(peer);
        let _ = tcp.set_nodelay(true);
        let node = inner.clone();
        let limits = limits.clone();
        let acceptor = acceptor.clone();
        inner.spawn(async move {
            let place = (place, limits.session_timeout);
            // The TLS handshake, if any, and the upgrade together within the upgrade timeout.
            let upgraded = tokio::time::timeout(limits.upgrade_timeout, async {
                match acceptor {
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(tls) => upgrade(node.clone(), tls, peer, place).await,
                        Err(_) => false,
                    },
                    None => upgrade(node.clone(), tcp, peer, place).await,
                }
            })
            .await;
            if upgraded != Ok(true) {
                node.lock().driver_stats.websocket.upgrade_failed += 1;
            }
        });
    }
}

/// Completes the WebSocket upgrade of an accepted connection (plain or TLS) and attaches it; a
/// failed upgrade drops the connection and returns false.
async fn upgrade<S>(node: Arc<Inner>, stream: S, peer: SocketAddr, place: (Admitted, Duration)) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = Some(ws_config(&node));
    match tokio_tungstenite::accept_async_with_config(stream, config).await {
        Ok(ws) => {
            attach(node, ws, peer, Some(place));
            true
        }
        Err(_) => false,
    }
}

/// Dials `url` and attaches the connection to the node, unless one to the same peer is open
/// already (sessions to one peer share a connection); returns the peer's address, which names
/// the connection in [`Remote::websocket`].
pub(crate) async fn connect(inner: Arc<Inner>, url: &str) -> Result<SocketAddr, Error> {
    let connector = if WebSocketUrl::parse(url)?.tls {
        let roots = match &inner.tls_roots {
            Some(roots) => roots.clone(),
            None => TlsRoots::system()?,
        };
        Connector::Rustls(roots.0)
    } else {
        Connector::Plain
    };
    let (ws, _response) =
        tokio_tungstenite::connect_async_tls_with_config(url, Some(ws_config(&inner)), true, Some(connector))
            .await
            .map_err(|e| {
                if !matches!(e, WsError::Url(_)) {
                    // A dial that was tried (a URL refused before any connection is not).
                    inner.lock().driver_stats.websocket.upgrade_failed += 1;
                }
                // A certificate the client does not trust comes back as an I/O error wrapping
                // the TLS one.
                let tls = match &e {
                    WsError::Tls(_) => true,
                    WsError::Io(io) => io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()),
                    _ => false,
                };
                if tls {
                    Error::Tls(format!("connecting to {url}: {e}"))
                } else {
                    Error::WebSocket(format!("connecting to {url}: {e}"))
                }
            })?;
    let peer = match ws.get_ref() {
        MaybeTlsStream::Plain(tcp) => tcp.peer_addr()?,
        MaybeTlsStream::Rustls(tls) => tls.get_ref().0.peer_addr()?,
        _ => return Err(Error::WebSocket("unexpected stream type".into())),
    };
    let reuse = inner.lock().ws.get(&peer).is_some_and(|tx| !tx.is_closed());
    if !reuse {
        attach(inner, ws, peer, None);
    }
    // Otherwise the new connection is dropped: sessions to one peer share one connection, told
    // apart by their session ids.
    Ok(peer)
}

/// Registers the connection with the node and starts its reader and writer tasks. An accepted
/// connection comes with its place under the caps and the interval at which it must carry a
/// session.
fn attach<S>(inner: Arc<Inner>, ws: WebSocketStream<S>, peer: SocketAddr, accepted: Option<(Admitted, Duration)>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    {
        let mut st = inner.lock();
        if st.stopped {
            return;
        }
        st.ws.insert(peer, tx.clone());
    }
    let mine = tx.downgrade();
    drop(tx);
    stt_common::log_websocket::open(peer, accepted.is_some());
    inner.spawn_writer(async move {
        while let Some(d) = rx.recv().await {
            if sink.feed(Message::Binary(d)).await.is_err() {
                return;
            }
            while let Ok(d) = rx.try_recv() {
                if sink.feed(Message::Binary(d)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let node = inner.clone();
    inner.spawn(async move {
        let remote = Remote::websocket(peer);
        let (place, session_timeout) = match accepted {
            Some((place, t)) => (Some(place), Some(t)),
            None => (None, None),
        };
        let mut check = tokio::time::Instant::now() + session_timeout.unwrap_or(Duration::MAX / 4);
        let why: std::borrow::Cow<'static, str> = loop {
            tokio::select! {
                msg = source.next() => match msg {
                    Some(Ok(Message::Binary(b))) => node.handle_datagrams([(remote, BytesMut::from(b))]),
                    Some(Ok(Message::Close(_))) | None => break "closed by the peer".into(),
                    // The peer went away, with or without the closing handshake: a close.
                    Some(Err(e)) if stt_common::peer_left(&e).is_some() => {
                        break stt_common::peer_left(&e).unwrap_or_default().into()
                    }
                    Some(Err(e)) => {
                        // Oversized, malformed, or the connection failed.
                        node.lock().driver_stats.websocket.closed_errors += 1;
                        break format!("{e}").into();
                    }
                    Some(Ok(_)) => {}
                },
                _ = tokio::time::sleep_until(check), if session_timeout.is_some() => {
                    if !node.has_session_on(remote) {
                        node.lock().driver_stats.websocket.closed_idle += 1;
                        break "it carried no session in time".into();
                    }
                    check += session_timeout.unwrap_or_default();
                }
            }
        };
        stt_common::log_websocket::closed(peer, &why);
        drop(place);
        // Forget the connection unless a newer one to the same peer replaced it.
        let mut st = node.lock();
        let replaced = match mine.upgrade() {
            Some(tx) => st.ws.get(&peer).is_some_and(|current| !current.same_channel(&tx)),
            None => true,
        };
        if !replaced {
            st.ws.remove(&peer);
        }
    });
}
