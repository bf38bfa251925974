//! `stt`: send and receive files over STT, generate seeds, and measure a loopback pair.
//!
//! Exit codes: 0 success, 2 usage (including an unreadable seed file), 3 authentication failed
//! (the peer does not hold the same shared seed), 4 timeout or unreachable, 1 anything else.
//! Every failure prints one line on stderr.

mod bench;
mod files;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use stt_tokio::stt_proto::Identity;
use stt_tokio::{Error, Node, NodeConfig, NodeId, Seed, Session};
use zeroize::Zeroizing;

/// stt: send and receive files over STT, an encrypted peer-to-peer transport between nodes
/// that share a pre-shared seed; generate seeds and identities; measure a loopback pair.
#[derive(Parser)]
#[command(name = "stt", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log on stderr (-v: warnings, sessions and their ends; -vv: also handshakes, key rotations
    /// and dropped input; -vvv: everything). Without it a failure is one line. RUST_LOG, if set,
    /// takes precedence (for example RUST_LOG=stt_tokio=debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// No log output at all, whatever RUST_LOG says.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
}

/// Log output on stderr, through `tracing-subscriber`: errors only by default, so that a failure
/// stays one line (the tool's own message says what went wrong).
fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    if quiet {
        return;
    }
    let level = match verbose {
        0 => "error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[derive(Subcommand)]
enum Command {
    /// Print a new random 32-byte seed as 64 hex characters, or write it to a new file that only
    /// its owner can read.
    Keygen {
        /// Create this file (mode 0600; an existing file is never replaced) instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Make an identity key (an X25519 secret key, same format) for `--identity`, and print
        /// its node id on stderr (for the peers file of the nodes that will know this one).
        #[arg(long)]
        identity: bool,
    },
    /// Print the node id of an identity key file (made by `stt keygen --identity`).
    Id {
        /// The identity key file.
        #[arg(long)]
        identity: PathBuf,
    },
    /// Accept sessions and save every file sent into a directory (or write it to stdout).
    Listen {
        /// UDP address to listen on, e.g. 0.0.0.0:7400.
        #[arg(long)]
        bind: SocketAddr,
        /// Also accept WebSocket connections on this TCP address.
        #[arg(long)]
        ws_bind: Option<SocketAddr>,
        #[command(flatten)]
        keys: KeyArgs,
        /// Directory to save received files in (created if missing).
        #[arg(long, required_unless_present = "stdout", conflicts_with = "stdout")]
        out: Option<PathBuf>,
        /// Write received data to stdout instead of a directory.
        #[arg(long)]
        stdout: bool,
        /// Exit after the first transfer: 0 if it was verified, non-zero if it failed.
        #[arg(long)]
        once: bool,
        /// Replace an existing file of the same name (default: keep it and store the new one as
        /// `name (1).ext`).
        #[arg(long, conflicts_with = "stdout")]
        overwrite: bool,
        /// Refuse a transfer once its data passes this many bytes (the partial file is removed
        /// and the sender told). Default: no limit.
        #[arg(long)]
        max_size: Option<u64>,
    },
    /// Send files; succeeds only when the receiver confirmed each one verified.
    Send {
        #[command(flatten)]
        peer: PeerArgs,
        /// Files to send.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Send standard input as one transfer (the listener needs --stdout or --out).
    Cat {
        #[command(flatten)]
        peer: PeerArgs,
    },
    /// Run two nodes on loopback in this process; print handshake time and throughput.
    Bench {
        /// Bytes to transfer in total.
        #[arg(long, default_value_t = 256 << 20)]
        size: u64,
        /// Streams to spread the bytes over.
        #[arg(long, default_value_t = 1)]
        streams: u32,
        /// Transport between the two nodes.
        #[arg(long, value_enum, default_value_t = TransportArg::Udp)]
        transport: TransportArg,
        /// Sequential handshakes to time.
        #[arg(long, default_value_t = 500)]
        handshakes: u32,
        /// Congestion controller of both nodes.
        #[arg(long, value_enum, default_value_t = CongestionArg::Bbr)]
        congestion: CongestionArg,
        /// One datagram per system call (no GSO/GRO, no recvmmsg), to measure what batching buys.
        #[arg(long)]
        no_batching: bool,
    },
}

/// This node's keys: its identity and the seeds it shares with others.
#[derive(clap::Args)]
struct KeyArgs {
    /// File holding the shared seed used with every peer not in --peers: 64 hex characters, or
    /// at least 32 raw bytes.
    #[arg(long, required_unless_present = "peers")]
    seed_file: Option<PathBuf>,
    /// This node's identity key (`stt keygen --identity`); default: a new random identity.
    #[arg(long)]
    identity: Option<PathBuf>,
    /// Known peers, one per line: a node id (64 hex characters), optionally followed by the
    /// file of the seed shared with that peer; `#` starts a comment. Only these peers may hold
    /// a session with this node.
    #[arg(long)]
    peers: Option<PathBuf>,
}

/// Where `send` and `cat` connect, and with which keys.
#[derive(clap::Args)]
struct PeerArgs {
    /// The listener: host:port over UDP (a host name is resolved), or with --ws its WebSocket address (host:port or ws:// URL).
    #[arg(long)]
    to: String,
    /// Connect over WebSocket instead of UDP.
    #[arg(long)]
    ws: bool,
    #[command(flatten)]
    keys: KeyArgs,
    /// The listener's node id (64 hex characters): the handshake proves the listener holds that
    /// identity, and its seed from --peers is used.
    #[arg(long)]
    peer_id: Option<String>,
    /// Seconds to wait for the handshake.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// Which transport `bench` uses.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum TransportArg {
    /// UDP datagrams.
    Udp,
    /// WebSocket binary messages.
    Ws,
}

/// A congestion controller (`stt_proto::congestion`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum CongestionArg {
    /// The BBR-family controller (the default).
    Bbr,
    /// CUBIC (RFC 9438).
    Cubic,
    /// NewReno (RFC 9002).
    NewReno,
}

impl CongestionArg {
    fn factory(self) -> stt_tokio::stt_proto::congestion::CongestionFactory {
        use stt_tokio::stt_proto::congestion;
        match self {
            CongestionArg::Bbr => congestion::bbr,
            CongestionArg::Cubic => congestion::cubic,
            CongestionArg::NewReno => congestion::new_reno,
        }
    }
}

/// A failure with its exit code.
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = if e.is_authentication_failure() {
            3
        } else if e.is_timeout() {
            4
        } else {
            1
        };
        let message = if code == 3 {
            format!("{e}: check that both sides use the same seed file")
        } else if code == 4 {
            format!("{e}: is the listener running at that address?")
        } else {
            e.to_string()
        };
        Failure { code, message }
    }
}

impl From<stt_tokio::transfer::TransferError> for Failure {
    fn from(e: stt_tokio::transfer::TransferError) -> Self {
        match e {
            stt_tokio::transfer::TransferError::Stt(e) => e.into(),
            other => Failure::new(1, other.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::new(1, e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stt: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("stt: {}", printable(&f.message));
            ExitCode::from(f.code)
        }
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Keygen { out, identity } => {
            let mut seed = Zeroizing::new([0u8; 32]);
            getrandom::fill(&mut *seed).map_err(|e| Failure::new(1, format!("no OS randomness: {e}")))?;
            let text = Zeroizing::new(format!("{}\n", hex(&*seed)));
            match out {
                None => print!("{}", *text),
                Some(path) => write_private(&path, text.as_bytes())?,
            }
            if identity {
                eprintln!("node id {}", hex(&Identity::from_secret_key(*seed).node_id().0));
            }
            Ok(())
        }
        Command::Id { identity } => {
            println!("{}", hex(&read_identity(&identity)?.node_id().0));
            Ok(())
        }
        Command::Listen { bind, ws_bind, keys, out, stdout, once, overwrite, max_size } => {
            let cfg = node_config(&keys)?;
            let opts = files::ListenOptions { once, overwrite, max_size: max_size.unwrap_or(u64::MAX) };
            files::listen(cfg, bind, ws_bind, out, stdout, opts).await
        }
        Command::Send { peer, paths } => {
            let (node, session) = connect(&peer).await?;
            let sent = files::send(&session, &paths).await;
            finish(node, session, &sent).await;
            sent
        }
        Command::Cat { peer } => {
            let (node, session) = connect(&peer).await?;
            let sent = files::cat(&session).await;
            finish(node, session, &sent).await;
            sent
        }
        Command::Bench { size, streams, transport, handshakes, congestion, no_batching } => {
            let opts = bench::Options {
                size,
                streams: streams.max(1),
                ws: transport == TransportArg::Ws,
                handshakes,
                batching: !no_batching,
                congestion: congestion.factory(),
            };
            bench::run(opts).await
        }
    }
}

/// The node configuration of `keys`: default seed, identity, known peers and their seeds.
fn node_config(keys: &KeyArgs) -> Result<NodeConfig, Failure> {
    let mut cfg = match &keys.seed_file {
        Some(path) => NodeConfig::new(read_seed(path)?),
        None => NodeConfig::per_peer(),
    };
    if let Some(path) = &keys.identity {
        cfg = cfg.identity(read_identity(path)?);
    }
    if let Some(path) = &keys.peers {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(2, format!("cannot read peers file {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let bad = |what: &str| Failure::new(2, format!("peers file {} line {}: {what}", path.display(), n + 1));
            let id =
                words.next().and_then(parse_node_id).ok_or_else(|| bad("expected a node id of 64 hex characters"))?;
            cfg = cfg.allow(id);
            if let Some(seed_file) = words.next() {
                cfg = cfg.peer_seed(id, read_seed(&base.join(seed_file))?);
            }
            if words.next().is_some() {
                return Err(bad("expected a node id and at most one seed file"));
            }
        }
        if cfg.endpoint.allow_list.is_none() {
            return Err(Failure::new(2, format!("peers file {} lists no peer", path.display())));
        }
    }
    Ok(cfg)
}

fn parse_node_id(text: &str) -> Option<NodeId> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex")).collect();
    Some(NodeId(bytes.try_into().expect("32 bytes")))
}

/// Reads the keys and connects to the listener over UDP or WebSocket (to the node `--peer-id`
/// if given).
async fn connect(peer: &PeerArgs) -> Result<(Node, Session), Failure> {
    let PeerArgs { to, ws, keys, peer_id, timeout } = peer;
    let expected = match peer_id {
        Some(text) => Some(
            parse_node_id(text)
                .ok_or_else(|| Failure::new(2, format!("--peer-id {text:?} is not a node id of 64 hex characters")))?,
        ),
        None => None,
    };
    let mut cfg = node_config(keys)?.server_mode(false);
    cfg.endpoint.handshake_timeout = Duration::from_secs((*timeout).max(1));
    let node = Node::bind(cfg).await?;
    let session = if *ws {
        let url = if to.starts_with("ws://") { to.to_string() } else { format!("ws://{to}") };
        let session = match expected {
            Some(id) => node.connect_ws_to(&url, id).await,
            None => node.connect_ws(&url).await,
        };
        session.map_err(|e| match e {
            Error::WebSocket(m) => Failure::new(4, format!("{m}: is the listener running with --ws-bind?")),
            other => other.into(),
        })?
    } else {
        let session = match expected {
            Some(id) => node.connect_to(to.as_str(), id).await,
            None => node.connect(to.as_str()).await,
        };
        // A name that does not resolve is the user's mistake (exit 2), said before any network work.
        session.map_err(|e| match e {
            Error::Resolve(m) => Failure::new(2, format!("--to: {m} (expected host:port)")),
            other => other.into(),
        })?
    };
    Ok((node, session))
}

/// Closes the session (DISCONNECT, so the listener learns at once how it ended, even after a
/// failure) and stops the node.
async fn finish(node: Node, session: Session, outcome: &Result<(), Failure>) {
    match outcome {
        Ok(()) => session.close(0, "transfer complete").await,
        Err(f) => {
            // DISCONNECT reasons are at most 1024 bytes.
            let reason: String = format!("sender gave up: {}", f.message).chars().take(256).collect();
            session.close(1, &reason).await
        }
    }
    node.shutdown(Duration::from_secs(2)).await;
}

/// Creates `path` readable and writable by its owner only, and writes `bytes`; an existing file
/// is an error, never replaced.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| {
        Failure::new(2, format!("cannot create seed file {} (it is never replaced): {e}", path.display()))
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Failure::new(1, format!("cannot write seed file {}: {e}", path.display())))
}

/// Warns when a seed file can be read by other users than its owner.
fn check_seed_permissions(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "stt: warning: seed file {} can be read by other users (mode {mode:04o}); run: chmod 600 {}",
                path.display(),
                path.display()
            );
        }
    }
}

/// Reads an identity key file (`stt keygen --identity`: 64 hex characters).
fn read_identity(path: &Path) -> Result<Identity, Failure> {
    let seed = read_seed(path)?;
    let key: [u8; 32] = seed.as_bytes().try_into().map_err(|_| {
        Failure::new(
            2,
            format!(
                "identity file {} must hold 64 hex characters (make one with `stt keygen --identity`)",
                path.display()
            ),
        )
    })?;
    Ok(Identity::from_secret_key(key))
}

/// Reads a seed file: 64 hex characters (whitespace ignored) or at least 32 raw bytes. Warns if
/// others than its owner may read it; the bytes read are erased once the seed is made.
fn read_seed(path: &Path) -> Result<Seed, Failure> {
    check_seed_permissions(path);
    let raw = Zeroizing::new(
        std::fs::read(path).map_err(|e| Failure::new(2, format!("cannot read seed file {}: {e}", path.display())))?,
    );
    let text: Zeroizing<Vec<u8>> = Zeroizing::new(raw.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect());
    let bytes: Zeroizing<Vec<u8>> = if text.len() == 64 && text.iter().all(u8::is_ascii_hexdigit) {
        Zeroizing::new(
            text.chunks(2)
                .map(|p| u8::from_str_radix(std::str::from_utf8(p).expect("ascii"), 16).expect("hex"))
                .collect(),
        )
    } else {
        raw
    };
    Seed::new(&bytes).map_err(|_| {
        Failure::new(
            2,
            format!(
                "seed file {} must hold 64 hex characters or at least 32 raw bytes (make one with `stt keygen`)",
                path.display()
            ),
        )
    })
}

/// `s` with control characters escaped (`\u{1b}`, `\n`, …): peer-supplied text (file names,
/// DISCONNECT reasons, the receiver's messages) never reaches the terminal raw.
pub(crate) fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// True when progress bars should be drawn.
pub(crate) fn show_progress() -> bool {
    std::io::stderr().is_terminal()
}
