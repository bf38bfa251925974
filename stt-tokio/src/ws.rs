//! WebSocket transport: each binary message carries one STT datagram. A listener accepts
//! connections; each connection (accepted or dialled) gets a reader task that feeds the core and a
//! writer task that drains a bounded queue of outgoing datagrams.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use stt_proto::Remote;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::Error;
use crate::shared::Inner;

/// Datagrams queued per connection before new ones are dropped (as a full socket buffer would).
const QUEUE: usize = 4096;

/// Accepts WebSocket connections until the node stops.
pub(crate) async fn listen(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => {
                // Out of descriptors or a transient error: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let node = inner.clone();
        inner.spawn(async move {
            if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                attach(node, ws, peer);
            }
        });
    }
}

/// Dials `url` and attaches the connection to the node, unless one to the same peer is open
/// already (sessions to one peer share a connection); returns the peer's address, which names
/// the connection in [`Remote::websocket`].
pub(crate) async fn connect(inner: Arc<Inner>, url: &str) -> Result<SocketAddr, Error> {
    if !url.starts_with("ws://") {
        return Err(Error::WebSocket(format!("unsupported URL {url:?}: use ws://host:port (wss is not supported)")));
    }
    let (ws, _response) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| Error::WebSocket(format!("connecting to {url}: {e}")))?;
    let peer = match ws.get_ref() {
        MaybeTlsStream::Plain(tcp) => {
            let _ = tcp.set_nodelay(true);
            tcp.peer_addr()?
        }
        _ => return Err(Error::WebSocket("only plain ws:// connections are supported".into())),
    };
    let reuse = inner.lock().ws.get(&peer).is_some_and(|tx| !tx.is_closed());
    if !reuse {
        attach(inner, ws, peer);
    }
    // Otherwise the new connection is dropped: sessions to one peer share one connection, told
    // apart by their session ids.
    Ok(peer)
}

/// Registers the connection with the node and starts its reader and writer tasks.
fn attach<S>(inner: Arc<Inner>, ws: WebSocketStream<S>, peer: SocketAddr)
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
        while let Some(Ok(msg)) = source.next().await {
            match msg {
                Message::Binary(b) => node.handle_datagrams([(remote, BytesMut::from(b))]),
                Message::Close(_) => break,
                _ => {}
            }
        }
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
