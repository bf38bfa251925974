//! `stt listen`, `stt send` and `stt cat`: the verified transfer protocol of
//! [`stt_tokio::transfer`] driven from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use stt_tokio::transfer::{self, Destination};
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

pub(crate) async fn listen(
    cfg: NodeConfig,
    bind: SocketAddr,
    ws_bind: Option<SocketAddr>,
    out: Option<PathBuf>,
    stdout: bool,
    opts: ListenOptions,
) -> Result<(), Failure> {
    let ListenOptions { once, .. } = opts;
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
    let node = Node::bind(cfg).await?;
    match node.ws_local_addr() {
        Some(ws) => eprintln!("listening on udp {} and ws://{ws}", node.local_addr()),
        None => eprintln!("listening on udp {}", node.local_addr()),
    }
    eprintln!("node id {}", crate::hex(&node.node_id().0));
    if leftovers > 0 {
        eprintln!("removed {leftovers} unfinished file(s) an earlier run left in the output directory");
    }
    // Every finished transfer reports here; `--once` ends on the first.
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let sink = Arc::new(Mutex::new(tokio::io::stdout()));
    let acceptor = {
        let node = node.clone();
        tokio::spawn(async move {
            while let Some(session) = node.accept().await {
                let (out, sink, done) = (out.clone(), sink.clone(), done_tx.clone());
                tokio::spawn(serve(session, out, stdout.then_some(sink), done, opts));
            }
        })
    };
    let result = loop {
        match done_rx.recv().await {
            Some(r) if once => break r,
            Some(_) => continue,
            None => break Ok(()),
        }
    };
    acceptor.abort();
    // Senders close their sessions once they have read the verdict (a refusal included); give
    // them that moment before closing from this side, which would drop a verdict not yet read.
    let peers_closed = async {
        for session in node.sessions() {
            session.closed().await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), peers_closed).await;
    node.shutdown(Duration::from_secs(2)).await;
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
    while let Ok(stream) = session.accept_stream().await {
        let pb = bar(None, "receiving");
        let progress = |n| pb.set_position(n);
        let r = match (&sink, &out) {
            (Some(sink), _) => {
                let mut w = sink.lock().await;
                transfer::receive_at_most(stream, Destination::Sink(&mut *w), opts.max_size, progress).await
            }
            (None, Some(dir)) => {
                let dest = if opts.overwrite { Destination::DirReplace(dir) } else { Destination::Dir(dir) };
                transfer::receive_at_most::<tokio::io::Stdout>(stream, dest, opts.max_size, progress).await
            }
            (None, None) => unreachable!("clap requires --out or --stdout"),
        };
        pb.finish_and_clear();
        let report = match r {
            Ok(rx) => {
                let place = rx.path.map(|p| p.display().to_string()).unwrap_or_else(|| "stdout".into());
                let kept = if rx.stored_as_other { " (a file of that name exists and was kept)" } else { "" };
                eprintln!(
                    "received {} ({} bytes, sha3-256 {}) from {peer} into {}{kept}",
                    printable(&rx.name),
                    rx.bytes,
                    hex(&rx.digest),
                    printable(&place)
                );
                Ok(())
            }
            Err(e) => {
                eprintln!("transfer from {peer} failed: {}", printable(&e.to_string()));
                Err(format!("transfer failed: {e}"))
            }
        };
        if done.send(report).is_err() {
            return;
        }
    }
}

/// How `listen` treats what it receives.
#[derive(Clone, Copy)]
pub(crate) struct ListenOptions {
    /// Exit after the first transfer.
    pub once: bool,
    /// Replace existing files.
    pub overwrite: bool,
    /// Refuse data longer than this.
    pub max_size: u64,
}

pub(crate) async fn send(session: &Session, paths: &[PathBuf]) -> Result<(), Failure> {
    for path in paths {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Failure::new(1, format!("cannot open {}: {e}", path.display())))?;
        // Only a regular file's size is known in advance (not a pipe's or a device's).
        let len = file.metadata().await.ok().filter(|m| m.is_file()).map(|m| m.len());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Failure::new(2, format!("{} has no usable file name", path.display())))?;
        let pb = bar(len, &printable(name));
        let sent = transfer::send(session, name, len, file, |n| pb.set_position(n)).await;
        pb.finish_and_clear();
        let sent = sent?;
        let stored = match &sent.stored_as {
            Some(other) => format!(", stored as {} (a file of that name exists there)", printable(other)),
            None => String::new(),
        };
        eprintln!(
            "sent {} ({} bytes, sha3-256 {}): verified by the receiver{stored}",
            printable(name),
            sent.bytes,
            hex(&sent.digest)
        );
    }
    Ok(())
}

pub(crate) async fn cat(session: &Session) -> Result<(), Failure> {
    let pb = bar(None, "stdin");
    let sent = transfer::send(session, "", None, tokio::io::stdin(), |n| pb.set_position(n)).await;
    pb.finish_and_clear();
    let sent = sent?;
    eprintln!("sent stdin ({} bytes, sha3-256 {}): verified by the receiver", sent.bytes, hex(&sent.digest));
    Ok(())
}
