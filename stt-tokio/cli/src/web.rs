//! The page `stt listen --web ADDR` serves: the browser driver's files (built by
//! `stt-web/build-page`) over HTTP, or HTTPS on the listener's certificate when it has one, and
//! `/config.json`, which tells the page where the listener's WebSocket is, whether it is `wss://`,
//! and which node id to expect. The seed is never served: the user types it into the page. A
//! deliberately small server: `GET` of the files directly in one folder, requests of at most
//! 16 KiB and without a body, 10 s each, one connection per request, 64 at once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Longest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// Connections the page's server answers at once; the next wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// Time one request may take, from accept to the last byte of the answer.
const REQUEST_TIME: Duration = Duration::from_secs(10);

/// One HTTP request.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// Reads one request from `tcp` with a body of at most `max_body` bytes; `None` if it is
/// malformed, too large or cut short.
pub async fn read_request(tcp: &mut (impl AsyncRead + Unpin), max_body: usize) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if data.len() > MAX_HEAD {
            return None;
        }
        let n = tcp.read(&mut buf).await.ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
    };
    let head = std::str::from_utf8(&data[..head_end]).ok()?;
    let mut words = head.split_whitespace();
    let method = words.next()?.to_string();
    let target = words.next()?;
    let path = target.split('?').next().unwrap_or("/").to_string();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .map_or(Some(0), |(_, v)| v.trim().parse().ok())?;
    if length > max_body {
        return None;
    }
    while data.len() < head_end + length {
        let n = tcp.read(&mut buf).await.ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
    let body = data[head_end..head_end + length].to_vec();
    Some(Request { method, path, body })
}

/// Writes a whole answer and closes the connection.
pub async fn respond(tcp: &mut (impl AsyncWrite + Unpin), status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = tcp.write_all(head.as_bytes()).await;
    let _ = tcp.write_all(body).await;
    let _ = tcp.shutdown().await;
}

/// Answers with the file `path` names in `root` (`/` is `index.html`): only plain names directly
/// in the folder (letters, digits, `_`, `-`, `.`; not starting with a dot), else 404.
pub async fn respond_file(tcp: &mut (impl AsyncWrite + Unpin), root: &Path, path: &str) {
    let name = match path.trim_start_matches('/') {
        "" => "index.html",
        name => name,
    };
    let plain =
        !name.starts_with('.') && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    let body = match plain {
        true => tokio::fs::read(root.join(name)).await.ok(),
        false => None,
    };
    match body {
        Some(body) => {
            let kind = match name.rsplit('.').next() {
                Some("wasm") => "application/wasm",
                Some("js") => "text/javascript; charset=utf-8",
                Some("json") => "application/json",
                Some("html") => "text/html; charset=utf-8",
                _ => "application/octet-stream",
            };
            respond(tcp, "200 OK", kind, &body).await;
        }
        None => respond(tcp, "404 Not Found", "text/plain; charset=utf-8", b"not found\n").await,
    }
}

/// The folder `stt-web/build-page` writes to in this source tree.
pub fn default_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/web/page")
}

/// Checks that `root` holds a built page, with a message that says how to build it.
pub fn check_root(root: &Path) -> Result<(), String> {
    if root.join("stt_web.js").is_file() && root.join("stt_web_bg.wasm").is_file() && root.join("index.html").is_file()
    {
        Ok(())
    } else {
        Err(format!(
            "{} holds no built page: run stt-web/build-page (it needs the wasm32-unknown-unknown target and \
             wasm-bindgen-cli), or give --web-root the folder it wrote",
            root.display()
        ))
    }
}

/// Serves the page from `root` on `listener` until the task is dropped, with `/config.json`
/// giving `config`; over TLS with `tls`.
pub async fn serve_page(listener: TcpListener, root: PathBuf, config: String, tls: Option<TlsAcceptor>) {
    let places = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(place) = places.clone().acquire_owned().await else { return };
        let Ok((tcp, _)) = listener.accept().await else {
            // Out of descriptors, say: pause instead of spinning.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (root, config, tls) = (root.clone(), config.clone(), tls.clone());
        tokio::spawn(async move {
            let _place = place;
            let _ = tokio::time::timeout(REQUEST_TIME, async {
                match tls {
                    Some(tls) => {
                        if let Ok(mut stream) = tls.accept(tcp).await {
                            answer(&mut stream, &root, &config).await;
                        }
                    }
                    None => answer(&mut { tcp }, &root, &config).await,
                }
            })
            .await;
        });
    }
}

/// Answers one request of the page's server.
async fn answer(stream: &mut (impl AsyncRead + AsyncWrite + Unpin), root: &Path, config: &str) {
    let Some(request) = read_request(stream, 0).await else {
        return respond(stream, "400 Bad Request", "text/plain", b"bad request\n").await;
    };
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/config.json") => respond(stream, "200 OK", "application/json", config.as_bytes()).await,
        ("GET", path) => respond_file(stream, root, path).await,
        _ => respond(stream, "405 Method Not Allowed", "text/plain", b"GET only\n").await,
    }
}
