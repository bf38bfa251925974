//! `stt listen`, `stt send` and `stt cat`: the verified transfer protocol of
//! [`stt_cli::transfer`] driven from the command line, for files, directories (with their
//! manifest) and standard input.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use stt_cli::transfer::{self, Destination, ManifestEntry, Outcome, Receipts, TransferError};
use stt_tokio::{Node, NodeConfig, Session};
use tokio::sync::{mpsc, Mutex};

use crate::{hex, printable, show_progress, Failure};

fn bar(len: Option<u64>, label: &str) -> ProgressBar {
    if !show_progress() {
        return ProgressBar::hidden();
    }
    let (pb, template) = match len {
        Some(n) => (ProgressBar::new(n), "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"),
        None => (ProgressBar::new_spinner(), "{msg} {spinner} {bytes} {bytes_per_sec}"),
    };
    pb.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    pb.set_message(label.to_string());
    pb
}

/// How `listen` reloads its shared seed on SIGHUP (seed rotation).
pub(crate) struct SeedReload {
    /// How long the old seed stays accepted.
    pub(crate) grace: Duration,
    /// Reads the seed again, as at start.
    pub(crate) read: Box<dyn Fn() -> Result<stt_tokio::Seed, Failure> + Send + Sync>,
}

/// On each SIGHUP, reads the seed again and rotates to it if it changed (Unix only).
fn reload_on_hangup(nodes: &[Node], reload: SeedReload) -> Option<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("stt: cannot watch for SIGHUP, the seed will not be reloaded: {e}");
                return None;
            }
        };
        let nodes = nodes.to_vec();
        let mut current = (reload.read)().ok();
        Some(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match (reload.read)() {
                    Ok(seed) if current.as_ref() == Some(&seed) => eprintln!("reload: the shared seed is unchanged"),
                    Ok(seed) => {
                        for node in &nodes {
                            node.rotate_shared_seed(seed.clone(), reload.grace);
                        }
                        current = Some(seed);
                        eprintln!(
                            "reload: new shared seed in use; the old one is accepted for {} s more",
                            reload.grace.as_secs()
                        );
                    }
                    Err(f) => eprintln!("reload: {}; the shared seed is unchanged", f.message),
                }
            }
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = (nodes, reload);
        None
    }
}

/// A task that ends when this is dropped (the page's server ends with the listener).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where a listener listens: UDP, WebSocket (over TLS with `tls`), and the page for browsers
/// with its folder (over HTTPS with `tls`).
pub(crate) struct ListenAt {
    pub bind: SocketAddr,
    pub ws_bind: Option<SocketAddr>,
    pub web: Option<(SocketAddr, PathBuf)>,
    pub tls: Option<stt_tokio::TlsIdentity>,
    /// Shards of the node, one per thread (`Node::bind_shards`); 1: one plain node.
    pub threads: u16,
}

pub(crate) async fn listen(
    cfg: NodeConfig,
    at: ListenAt,
    out: Option<PathBuf>,
    stdout: bool,
    opts: ListenOptions,
    reload: SeedReload,
) -> Result<(), Failure> {
    let ListenOptions { once, .. } = opts;
    let ListenAt { bind, ws_bind, web, tls, threads } = at;
    let mut leftovers = 0;
    if let Some(dir) = &out {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| Failure::new(1, format!("cannot create {}: {e}", dir.display())))?;
        // Temporary files of a listener that was killed mid-transfer (reported once listening).
        leftovers = transfer::remove_leftovers(dir)
            .map_err(|e| Failure::new(1, format!("cannot clean {}: {e}", dir.display())))?;
    }
    let mut cfg = cfg.bind(bind);
    if let Some(ws) = ws_bind {
        cfg = cfg.ws_bind(ws);
    }
    let nodes = match threads {
        1 => vec![Node::bind(cfg).await?],
        n => Node::bind_shards(cfg, n).await?,
    };
    // Shard 0 holds the WebSocket listener and speaks for the node.
    let node = nodes[0].clone();
    let ws_scheme = if tls.is_some() { "wss" } else { "ws" };
    match node.ws_local_addr() {
        Some(ws) => eprintln!("listening on udp {} and {ws_scheme}://{ws}", node.local_addr()),
        None => eprintln!("listening on udp {}", node.local_addr()),
    }
    eprintln!("node id {}", crate::hex(&node.node_id().0));
    if threads > 1 {
        eprintln!("{threads} shards on {threads} threads");
    }
    let _page = match (web, node.ws_local_addr()) {
        (Some((addr, root)), Some(ws)) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Failure::new(1, format!("cannot listen on {addr} for the page: {e}")))?;
            let at = listener.local_addr().map_err(|e| Failure::new(1, format!("{e}")))?;
            let config =
                json!({ "ws_port": ws.port(), "tls": tls.is_some(), "node_id": hex(&node.node_id().0) }).to_string();
            let scheme = if tls.is_some() { "https" } else { "http" };
            eprintln!("page for browsers at {scheme}://{at}/ (the seed is typed into the page)");
            let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.server_config()));
            Some(AbortOnDrop(tokio::spawn(stt_cli::web::serve_page(listener, root, config, acceptor))))
        }
        _ => None,
    };
    if leftovers > 0 {
        eprintln!("removed {leftovers} unfinished file(s) an earlier run left in the output directory");
    }
    let reloader = reload_on_hangup(&nodes, reload);
    // Partial files of interrupted large files are kept for their senders' next attempts, up to
    // `transfer::RESUME_KEEP`; a long-running listener forgets older ones every hour.
    let sweeper = out.clone().map(|dir| {
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(Duration::from_secs(3600));
            loop {
                hourly.tick().await;
                let dir = dir.clone();
                let _ = tokio::task::spawn_blocking(move || transfer::remove_expired_partials(&dir)).await;
            }
        })
    });
    // Every session that sent something reports here when it ends; `--once` ends on the first.
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let sink = Arc::new(Mutex::new(tokio::io::stdout()));
    let acceptors: Vec<_> = nodes
        .iter()
        .map(|node| {
            let (node, out, sink, done_tx, opts) =
                (node.clone(), out.clone(), sink.clone(), done_tx.clone(), opts.clone());
            tokio::spawn(async move {
                while let Some(session) = node.accept().await {
                    let (out, sink, done) = (out.clone(), sink.clone(), done_tx.clone());
                    tokio::spawn(serve(session, out, stdout.then_some(sink), done, opts.clone()));
                }
            })
        })
        .collect();
    drop(done_tx);
    let result = loop {
        match done_rx.recv().await {
            Some(r) if once => break r,
            Some(_) => continue,
            None => break Ok(()),
        }
    };
    for acceptor in acceptors {
        acceptor.abort();
    }
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    // Senders close their sessions once they have read the verdict (a refusal included); give
    // them that moment before closing from this side, which would drop a verdict not yet read.
    let peers_closed = async {
        for session in nodes.iter().flat_map(Node::sessions) {
            session.closed().await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), peers_closed).await;
    crate::scale::shut_down(&nodes, Duration::from_secs(2)).await;
    result.map_err(|m| Failure::new(1, m))
}

async fn serve(
    session: Session,
    out: Option<PathBuf>,
    sink: Option<Arc<Mutex<tokio::io::Stdout>>>,
    done: mpsc::UnboundedSender<Result<(), String>>,
    opts: ListenOptions,
) {
    let peer = session.peer();
    // What this session stored, for the manifests of the directories it sends.
    let mut receipts = Receipts::default();
    // The session's verdict: the first failure, or success once something arrived verified.
    let mut verdict: Option<Result<(), String>> = None;
    while let Ok(stream) = session.accept_stream().await {
        let pb = bar(None, "receiving");
        let progress = |n| pb.set_position(n);
        let r = match (&sink, &out) {
            (Some(sink), _) => {
                let mut w = sink.lock().await;
                transfer::receive_any(stream, Destination::Sink(&mut *w), &opts.limits, &mut receipts, progress).await
            }
            (None, Some(dir)) => {
                let dest = if opts.overwrite { Destination::DirReplace(dir) } else { Destination::Dir(dir) };
                transfer::receive_any::<tokio::io::Stdout>(stream, dest, &opts.limits, &mut receipts, progress).await
            }
            (None, None) => unreachable!("listen has --out or --stdout"),
        };
        pb.finish_and_clear();
        let report: Result<(), String> = match r {
            Ok(Outcome::File(rx)) => {
                let place = rx.path.map(|p| p.display().to_string()).unwrap_or_else(|| "stdout".into());
                let kept = if rx.stored_as_other { " (a file of that name exists and was kept)" } else { "" };
                let resumed = match rx.resumed_from {
                    0 => String::new(),
                    n => format!(", resumed after {n} bytes"),
                };
                eprintln!(
                    "received {} ({} bytes, sha3-256 {}{resumed}) from {peer} into {}{kept}",
                    printable(&rx.name),
                    rx.bytes,
                    hex(&rx.digest),
                    printable(&place)
                );
                Ok(())
            }
            Ok(Outcome::Tree(tree)) => {
                eprintln!(
                    "received directory {} from {peer} into {}: manifest verified ({} files, {} directories, {} bytes)",
                    printable(&tree.name),
                    printable(&tree.path.display().to_string()),
                    tree.files,
                    tree.directories,
                    tree.bytes
                );
                Ok(())
            }
            Err(TransferError::Superseded) => {
                // The sender reconnected and resumes the file in another session.
                eprintln!("transfer from {peer} taken over by the sender's resumed attempt");
                continue;
            }
            Err(e) => {
                eprintln!("transfer from {peer} failed: {}", printable(&e.to_string()));
                Err(format!("transfer failed: {e}"))
            }
        };
        if !matches!(verdict, Some(Err(_))) {
            verdict = Some(report);
        }
    }
    if let Some(verdict) = verdict {
        let _ = done.send(verdict);
    }
}

/// How `listen` treats what it receives.
#[derive(Clone)]
pub(crate) struct ListenOptions {
    /// Exit after the first transfer.
    pub once: bool,
    /// Replace existing files.
    pub overwrite: bool,
    /// What it accepts, shared by every session.
    pub limits: transfer::Limits,
}

/// What `send` sends, found and checked before any network work.
pub(crate) struct Plan {
    items: Vec<Item>,
    /// Entries of the directories that cannot be sent (names a receiver refuses), with why.
    refused: Vec<(String, &'static str)>,
}

/// One path given to `send`.
enum Item {
    /// A file (or anything `open` reads, such as a pipe), sent under `name`.
    File { path: PathBuf, name: String },
    /// A directory: its subdirectories and files, by their names relative to where the
    /// directory lands at the receiver (starting with `top`).
    Tree { top: String, dirs: Vec<String>, files: Vec<(PathBuf, String)> },
}

/// Checks every path given to `send` (each exists and is readable, and has a name a receiver
/// accepts) and walks the directories. A mistake here is the user's: exit 2, nothing sent.
pub(crate) fn plan(paths: &[PathBuf]) -> Result<Plan, Failure> {
    let mut plan = Plan { items: Vec::new(), refused: Vec::new() };
    for path in paths {
        let meta =
            std::fs::metadata(path).map_err(|e| Failure::new(2, format!("cannot read {}: {e}", path.display())))?;
        let name = path.file_name().and_then(|n| n.to_str()).filter(|n| transfer::is_plain_name(n)).ok_or_else(|| {
            Failure::new(
                2,
                format!(
                    "{}: the name cannot be sent (name a file or directory by a plain name: not hidden, no control characters)",
                    path.display()
                ),
            )
        })?;
        if meta.is_dir() {
            let mut dirs = Vec::new();
            let mut files = Vec::new();
            walk(path, name, &mut dirs, &mut files, &mut plan.refused)?;
            plan.items.push(Item::Tree { top: name.to_owned(), dirs, files });
        } else {
            std::fs::File::open(path).map_err(|e| Failure::new(2, format!("cannot read {}: {e}", path.display())))?;
            plan.items.push(Item::File { path: path.clone(), name: name.to_owned() });
        }
    }
    for (name, why) in &plan.refused {
        eprintln!("stt: not sending {}: {why}", printable(name));
    }
    Ok(plan)
}

/// Adds the entries of the directory `dir` (named `rel` at the receiver) to `dirs` and `files`,
/// in name order; links and special files are skipped, names a receiver refuses are listed in
/// `refused`.
fn walk(
    dir: &Path,
    rel: &str,
    dirs: &mut Vec<String>,
    files: &mut Vec<(PathBuf, String)>,
    refused: &mut Vec<(String, &'static str)>,
) -> Result<(), Failure> {
    let unreadable = |e: std::io::Error| Failure::new(2, format!("cannot read {}: {e}", dir.display()));
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).map_err(unreadable)?.collect::<Result<_, _>>().map_err(unreadable)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let os_name = entry.file_name();
        let shown = format!("{rel}/{}", os_name.to_string_lossy());
        let Some(name) = os_name.to_str().filter(|n| transfer::is_plain_name(n)) else {
            refused.push((shown, "a receiver refuses this name (hidden, not UTF-8, or with control characters)"));
            continue;
        };
        let child = format!("{rel}/{name}");
        if !transfer::is_relative_path(&child) {
            refused.push((shown, "the path is too long or too deep"));
            continue;
        }
        let kind = entry.file_type().map_err(unreadable)?;
        if kind.is_dir() {
            dirs.push(child.clone());
            walk(&entry.path(), &child, dirs, files, refused)?;
        } else if kind.is_file() {
            match std::fs::File::open(entry.path()) {
                Ok(_) => files.push((entry.path(), child)),
                Err(_) => refused.push((shown, "the file cannot be read")),
            }
        } else {
            refused.push((shown, "links and special files are not sent"));
        }
    }
    Ok(())
}

/// Sends what `plan` holds; every file must be verified by the receiver and every directory's
/// manifest confirmed. A refusal of one file does not stop the others; a failed session does.
pub(crate) async fn send(session: &Session, plan: &Plan, json: bool) -> Result<(), Failure> {
    let mut failed = plan.refused.len();
    if json {
        for (name, why) in &plan.refused {
            println!("{}", json!({"type": "file", "name": name, "status": "not sent", "message": why}));
        }
    }
    for item in &plan.items {
        match item {
            Item::File { path, name } => {
                if send_one(session, path, name, json).await?.is_none() {
                    failed += 1;
                }
            }
            Item::Tree { top, dirs, files } => {
                let mut entries: Vec<ManifestEntry> =
                    dirs.iter().map(|d| ManifestEntry::Directory { path: d.clone() }).collect();
                for (path, name) in files {
                    match send_one(session, path, name, json).await? {
                        Some(sent) => entries.push(ManifestEntry::File {
                            path: name.clone(),
                            len: sent.bytes,
                            digest: sent.digest,
                        }),
                        None => failed += 1,
                    }
                }
                let checked = transfer::send_manifest(session, top, &entries).await;
                let files = entries.iter().filter(|e| matches!(e, ManifestEntry::File { .. })).count();
                let status = match &checked {
                    Ok(()) => {
                        eprintln!(
                            "sent directory {} ({files} files, {} directories): manifest verified by the receiver",
                            printable(top),
                            dirs.len()
                        );
                        "verified".to_owned()
                    }
                    Err(TransferError::Rejected { status, message }) => {
                        eprintln!("stt: directory {}: {}", printable(top), printable(message));
                        failed += 1;
                        format!("{status:?}: {message}")
                    }
                    Err(_) => return Err(checked.map_err(Failure::from).unwrap_err()),
                };
                if json {
                    let line = json!({"type": "directory", "name": top, "files": files, "directories": dirs.len(), "status": status});
                    println!("{line}");
                }
            }
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(Failure::new(1, format!("{n} file(s) or directories were not sent or not verified (see above)"))),
    }
}

/// Sends one file; `None` when the receiver refused it (reported), an error when the session
/// failed.
async fn send_one(session: &Session, path: &Path, name: &str, json: bool) -> Result<Option<transfer::Sent>, Failure> {
    // A file that went away or became unreadable since it was listed is this file's failure,
    // not the session's: the others are still sent.
    if let Err(e) = std::fs::File::open(path) {
        eprintln!("stt: {} was not sent: cannot read {}: {e}", printable(name), path.display());
        if json {
            let line = json!({"type": "file", "name": name, "status": "not sent", "message": e.to_string()});
            println!("{line}");
        }
        return Ok(None);
    }
    let len = std::fs::metadata(path).ok().filter(|m| m.is_file()).map(|m| m.len());
    let pb = bar(len, &printable(name));
    let sent = transfer::send_file(session, name, path, |n| pb.set_position(n)).await;
    pb.finish_and_clear();
    match sent {
        Ok(sent) => {
            let stored = match &sent.stored_as {
                Some(other) => format!(", stored as {} (a file of that name exists there)", printable(other)),
                None => String::new(),
            };
            let resumed = match sent.resumed_from {
                0 => String::new(),
                n => format!(", resumed: {n} bytes were already there"),
            };
            eprintln!(
                "sent {} ({} bytes, sha3-256 {}{resumed}): verified by the receiver{stored}",
                printable(name),
                sent.bytes,
                hex(&sent.digest)
            );
            if json {
                let line = json!({
                    "type": "file", "name": name, "bytes": sent.bytes, "sha3_256": hex(&sent.digest),
                    "status": "verified", "stored_as": sent.stored_as, "resumed_from": sent.resumed_from,
                });
                println!("{line}");
            }
            Ok(Some(sent))
        }
        Err(TransferError::Rejected { status, message }) => {
            eprintln!("stt: {} was not stored ({status:?}): {}", printable(name), printable(&message));
            if json {
                let line = json!({"type": "file", "name": name, "status": format!("{status:?}"), "message": message});
                println!("{line}");
            }
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn cat(session: &Session) -> Result<(), Failure> {
    let pb = bar(None, "stdin");
    let sent = transfer::send(session, "", None, tokio::io::stdin(), |n| pb.set_position(n)).await;
    pb.finish_and_clear();
    let sent = sent?;
    eprintln!("sent stdin ({} bytes, sha3-256 {}): verified by the receiver", sent.bytes, hex(&sent.digest));
    Ok(())
}
