//! stt-web in a real browser: headless Chromium loads `stt-web/www/check.html`, which connects
//! back to an `stt-tokio` listener over `ws://`, moves bytes each way on a stream and a message
//! each way, checks SHA3-256 of what it received, tries a listener that is down, a wrong seed and
//! a wrong peer id, and posts what it saw to this test's small web server. A second run serves the
//! page over HTTPS and the listener over `wss://`, on a certificate made here (Chromium is told
//! to accept it).
//!
//! Needs Chromium (`/usr/bin/chromium`, or `STT_CHROMIUM`), the `wasm32-unknown-unknown` target
//! and `wasm-bindgen` (the CLI, the same version as the crate). Without them the test says what
//! is missing and passes, unless `STT_REQUIRE_BROWSER=1` (as CI sets), when it fails.
//! `STT_BROWSER_BYTES` sets the size moved each way (default 4 MiB; the message is a quarter).
//! It builds the page's module itself with `stt-web/build-page` (into `target/web`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha3::{Digest, Sha3_256};
use stt_cli::web;
use stt_proto::{Channel, Seed};
use stt_tokio::{Node, NodeConfig, TlsIdentity};
use tokio::net::TcpListener;

const SEED: [u8; 32] = [0x5E; 32];

/// The bytes the page expects: xorshift32 from `salt`, as `check.html` makes them.
fn pattern(len: usize, salt: u32) -> Vec<u8> {
    let mut x = salt;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn sha3_hex(bytes: &[u8]) -> String {
    Sha3_256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_path_buf()
}

/// What the test needs from the machine, or why it cannot run.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("STT_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.exists()))
        .ok_or("Chromium is not installed (apt-get install chromium, or set STT_CHROMIUM)")?;
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let bindgen = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(home.map(|h| h.join("bin")))
        .map(|dir| dir.join("wasm-bindgen"))
        .find(|p| p.exists())
        .ok_or("wasm-bindgen is not installed (cargo install wasm-bindgen-cli, the version in Cargo.lock)")?;
    Ok((chromium, bindgen))
}

/// Builds the page with `stt-web/build-page` (stt-web for the browser, wasm-bindgen's module,
/// the pages); returns the folder to serve.
fn build_page(bindgen: &Path) -> PathBuf {
    let root = workspace();
    let out = root.join("target/web/page");
    let bin = bindgen.parent().expect("a path to a file");
    let path = std::env::join_paths(
        std::iter::once(bin.to_path_buf()).chain(std::env::var_os("PATH").iter().flat_map(std::env::split_paths)),
    )
    .expect("a PATH");
    let status = Command::new(root.join("stt-web/build-page")).arg(&out).env("PATH", path).status().expect("bash runs");
    assert!(
        status.success(),
        "stt-web/build-page failed (is the wasm32-unknown-unknown target added, and wasm-bindgen-cli the version in Cargo.lock?)"
    );
    out
}

/// Chromium, killed when the test ends.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn launch(chromium: &Path, url: &str, profile: &Path, trust_any_certificate: bool) -> Browser {
    let child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
        ])
        .args(trust_any_certificate.then_some("--ignore-certificate-errors"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Chromium starts");
    Browser(child)
}

/// Serves the files of `dir` (as `stt listen --web` does), over TLS with `tls`, and takes one
/// POST to `/result`, whose body it returns. Each connection is answered by its own task within
/// 10 s (Chromium opens connections it may never use).
async fn serve(listener: TcpListener, dir: PathBuf, tls: Option<TlsIdentity>) -> String {
    let tls = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.server_config()));
    let (report, mut reported) = tokio::sync::mpsc::unbounded_channel();
    loop {
        let tcp = tokio::select! {
            body = reported.recv() => return body.expect("the sender is held here"),
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let (dir, tls, report) = (dir.clone(), tls.clone(), report.clone());
        tokio::spawn(async move {
            let answered = tokio::time::timeout(Duration::from_secs(10), async {
                match &tls {
                    Some(tls) => match tls.accept(tcp).await {
                        Ok(mut stream) => answer(&mut stream, &dir).await,
                        Err(_) => None,
                    },
                    None => answer(&mut { tcp }, &dir).await,
                }
            });
            if let Ok(Some(body)) = answered.await {
                let _ = report.send(body);
            }
        });
    }
}

/// Answers one request; the body of a POST to `/result`.
async fn answer(
    stream: &mut (impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin),
    dir: &Path,
) -> Option<String> {
    let request = web::read_request(stream, 1 << 20).await?;
    if request.method == "POST" && request.path == "/result" {
        web::respond(stream, "204 No Content", "text/plain", b"").await;
        return Some(String::from_utf8_lossy(&request.body).to_string());
    }
    web::respond_file(stream, dir, &request.path).await;
    None
}

/// A self-signed certificate for 127.0.0.1 and its key, as the listener and the page's server
/// present it.
fn self_signed() -> TlsIdentity {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().self_signed(&key).unwrap();
    TlsIdentity::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap()
}

/// What the listener does with the page's session: checks the upload, sends its own bytes back on
/// the same stream, then a message for the page's message. Returns what it checked.
async fn listener_side(node: Node, size: usize) -> Result<(), String> {
    let session = node.accept().await.ok_or("the listener stopped")?;
    let mut stream = session.accept_stream().await.map_err(|e| format!("accept_stream: {e}"))?;
    let up = stream.recv_half().read_all(size + 1).await.map_err(|e| format!("read: {e}"))?;
    if up.len() != size || sha3_hex(&up) != sha3_hex(&pattern(size, 1)) {
        return Err(format!("the upload differs: {} bytes", up.len()));
    }
    let send = stream.send_half();
    send.write_all_bytes(pattern(size, 3).into()).await.map_err(|e| format!("write: {e}"))?;
    send.finish().map_err(|e| format!("finish: {e}"))?;
    let m = session.recv_message().await.map_err(|e| format!("recv_message: {e}"))?;
    if m.channel != Channel::Frame(0x90) || m.payload[..] != pattern(size / 4, 2)[..] {
        return Err(format!("the message differs: {} bytes on {:?}", m.payload.len(), m.channel));
    }
    session.send_message(Channel::Frame(0x90), pattern(size / 4, 4)).await.map_err(|e| format!("send: {e}"))?;
    session.closed().await;
    Ok(())
}

/// The same moves from an stt-tokio client over `ws://`, for the figures beside the browser's:
/// (handshake, upload) in milliseconds.
async fn tokio_client(ws: &str, size: usize) -> (f64, f64) {
    let client = Node::bind(NodeConfig::new(Seed::new(&SEED).unwrap()).bind("127.0.0.1:0".parse().unwrap()))
        .await
        .expect("client binds");
    let t = Instant::now();
    let session = client.connect_ws(ws).await.expect("the tokio client connects");
    let handshake = t.elapsed().as_secs_f64() * 1e3;
    let mut stream = session.open_stream(stt_proto::StreamMode::Reliable).unwrap();
    let t = Instant::now();
    stream.send_half().write_all_bytes(pattern(size, 1).into()).await.unwrap();
    stream.send_half().finish().unwrap();
    stream.send_half().flushed().await.unwrap();
    (handshake, t.elapsed().as_secs_f64() * 1e3)
}

/// The page's browser tools, or `None` (with the reason printed) when the test is skipped.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    match tools() {
        Ok(t) => Some(t),
        Err(why) if std::env::var_os("STT_REQUIRE_BROWSER").is_some_and(|v| v == "1") => {
            panic!("STT_REQUIRE_BROWSER=1 but {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// One run of the check page against a listener: `tls` puts the page on HTTPS and the listener
/// on `wss://`. Returns the listener and what the page reported, after checking it.
async fn check_in_chromium(chromium: &Path, page: PathBuf, size: usize, tls: bool) -> (Node, serde_json::Value) {
    let identity = tls.then(self_signed);
    let mut cfg = NodeConfig::new(Seed::new(&SEED).unwrap())
        .bind("127.0.0.1:0".parse().unwrap())
        .ws_bind("127.0.0.1:0".parse().unwrap());
    if let Some(identity) = &identity {
        cfg = cfg.wss(identity.clone());
    }
    let node = Node::bind(cfg).await.expect("the listener binds");
    let (ws_scheme, http_scheme) = if tls { ("wss", "https") } else { ("ws", "http") };
    let ws = format!("{ws_scheme}://{}", node.ws_local_addr().unwrap());
    let peer = node.node_id().to_string();
    // A port nobody listens on: bound, then closed.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ws://{}", l.local_addr().unwrap())
    };
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "{http_scheme}://{}/check.html?ws={ws}&down={down}&peer={peer}&bytes={size}&seed={}",
        http.local_addr().unwrap(),
        SEED.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let result = tokio::spawn(serve(http, page, identity));
    let checked = tokio::spawn(listener_side(node.clone(), size));

    let profile = tempfile::tempdir().unwrap();
    let _browser = launch(chromium, &url, profile.path(), tls);
    let body =
        tokio::time::timeout(Duration::from_secs(120), result).await.expect("the page reports within 120 s").unwrap();
    let r: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    println!("the page reported ({http_scheme}, {ws_scheme}): {r:#}");
    assert_eq!(r["ok"], true, "the page failed: {}", r["error"]);
    tokio::time::timeout(Duration::from_secs(30), checked)
        .await
        .expect("the listener's side ends once the page closed")
        .unwrap()
        .expect("the listener received what the page sent");

    let error = |key: &str| r[key].as_str().unwrap_or("").to_string();
    assert!(error("listener_down").starts_with("ConnectionError: cannot reach"), "{}", r["listener_down"]);
    assert!(error("wrong_seed").starts_with("AuthenticationError"), "{}", r["wrong_seed"]);
    assert!(error("wrong_peer").starts_with("AuthenticationError"), "{}", r["wrong_peer"]);
    assert!(error("after_close").starts_with("SessionClosed"), "{}", r["after_close"]);
    assert_eq!(r["peer"], peer.as_str());
    assert_eq!(r["download_len"], size);
    assert_eq!(r["download_sha3"], sha3_hex(&pattern(size, 3)).as_str(), "the download's SHA3-256");
    assert_eq!(r["message_kind"], 0x90);
    assert_eq!(r["message_len"], size / 4);
    assert_eq!(r["message_sha3"], sha3_hex(&pattern(size / 4, 4)).as_str(), "the message's SHA3-256");
    (node, r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_in_chromium_moves_bytes_both_ways_and_gets_typed_errors() {
    let Some((chromium, bindgen)) = browser_tools() else { return };
    let size: usize = std::env::var("STT_BROWSER_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(4 << 20) / 4 * 4;
    let page = tokio::task::spawn_blocking(move || build_page(&bindgen)).await.unwrap();
    let (node, r) = check_in_chromium(&chromium, page.clone(), size, false).await;
    let ws = format!("ws://{}", node.ws_local_addr().unwrap());

    // The same listener, an stt-tokio client over ws://: the figures beside the browser's.
    let accepting = tokio::spawn({
        let node = node.clone();
        async move {
            let s = node.accept().await.unwrap();
            let mut stream = s.accept_stream().await.unwrap();
            stream.recv_half().read_all(size + 1).await.unwrap().len()
        }
    });
    let (handshake, upload) = tokio_client(&ws, size).await;
    assert_eq!(accepting.await.unwrap(), size);
    let mib = size as f64 / f64::from(1 << 20);
    let rate = |ms: f64| mib / (ms / 1e3);
    let page_ms = |key: &str| r[key].as_f64().unwrap_or(f64::NAN);
    println!(
        "browser: handshake {:.1} ms, upload {:.1} MiB/s, download {:.1} MiB/s; stt-tokio over ws://: handshake {:.1} ms, upload {:.1} MiB/s",
        page_ms("handshake_ms"),
        rate(page_ms("upload_ms")),
        rate(page_ms("download_ms")),
        handshake,
        rate(upload)
    );

    // The page over HTTPS, the listener over wss://.
    check_in_chromium(&chromium, page, 1 << 20, true).await;
}
