//! `stt`: send and receive files and directories over STT, serve and fetch stored content,
//! check a peer, generate seeds and identities, and measure a loopback pair.
//!
//! Exit codes: 0 success, 2 usage (including an unreadable seed or configuration file, and any
//! local mistake found before the network is touched), 3 authentication failed (the peer does
//! not hold the same shared seed), 4 timeout or unreachable, 1 anything else. Every failure
//! prints one line on stderr; results (and only results) go to stdout.

mod bench;
mod churn;
mod config;
mod decrypt;
mod files;
mod ops;
mod scale;
mod tickets;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use stt_tokio::stt_proto::Identity;
use stt_tokio::{Error, Node, NodeConfig, NodeId, Seed, Session};
use zeroize::Zeroizing;

use crate::config::Config;

/// stt moves files and directories between machines that share a secret, over STT: an
/// encrypted, authenticated peer-to-peer transport over UDP or WebSocket. A file is stored only
/// once the receiver has verified it; an interrupted large file resumes where it stopped.
#[derive(Parser)]
#[command(name = "stt", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Read settings from this TOML file (identity, seeds, peers, addresses, limits; see
    /// docs/CLI.md). Flags given on the command line win over it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
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
        /// Print the static public key instead (for `peers.key` in the configuration files of
        /// the nodes that will connect to this one: their sessions open in one round trip).
        #[arg(long)]
        public_key: bool,
    },
    /// Accept sessions and save every file and directory sent into a directory (or write the
    /// data to stdout).
    Listen {
        /// UDP address to listen on, e.g. 0.0.0.0:7400 (config: bind).
        #[arg(long)]
        bind: Option<SocketAddr>,
        /// Also accept WebSocket connections on this TCP address (config: ws_bind).
        #[arg(long)]
        ws_bind: Option<SocketAddr>,
        /// WebSocket connections open at once from one IP address; raise it for many clients
        /// behind one NAT. Default: 32 (config: ws_max_per_address).
        #[arg(long)]
        ws_max_per_address: Option<usize>,
        /// Serve a page at this TCP address (http://ADDR/) from which a browser sends a file to
        /// this listener over its WebSocket (needs --ws-bind; build the page first with
        /// stt-web/build-page).
        #[arg(long)]
        web: Option<SocketAddr>,
        /// The folder of the built page (default: target/web/page of this source tree).
        #[arg(long, requires = "web")]
        web_root: Option<PathBuf>,
        /// Serve WebSocket as wss:// (and the --web page as https://) with this certificate
        /// chain, a PEM file (leaf first).
        #[arg(long, requires_all = ["ws_bind", "ws_key"], value_name = "PEM")]
        ws_cert: Option<PathBuf>,
        /// The private key of --ws-cert, a PEM file (PKCS#8, PKCS#1 or SEC1).
        #[arg(long, requires = "ws_cert", value_name = "PEM")]
        ws_key: Option<PathBuf>,
        #[command(flatten)]
        keys: KeyArgs,
        /// Directory to save received files in, created if missing (config: out).
        #[arg(long, conflicts_with = "stdout")]
        out: Option<PathBuf>,
        /// Write received data to stdout instead of a directory.
        #[arg(long)]
        stdout: bool,
        /// Run the node as this many shards on as many threads, all on the one port (1 to 1024;
        /// more than one needs SO_REUSEPORT; on Linux the kernel steers each datagram to its
        /// session's shard).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: u16,
        /// Exit once the first sender's session ends: 0 if everything it sent (files,
        /// directories, stdin) was verified, non-zero if anything failed.
        #[arg(long)]
        once: bool,
        /// Replace an existing file of the same name (default: keep it and store the new one as
        /// `name (1).ext`) (config: overwrite).
        #[arg(long, conflicts_with = "stdout")]
        overwrite: bool,
        /// Refuse a transfer once its data passes this many bytes (the partial file is removed
        /// and the sender told); each directory a manifest lists counts 4096 bytes against it.
        /// Default: no limit (config: max_size).
        #[arg(long)]
        max_size: Option<u64>,
        /// Refuse a directory whose manifest lists more entries than this, before any directory
        /// is made. Default: 250000 (config: max_entries).
        #[arg(long)]
        max_entries: Option<u32>,
        /// Create at most this many directories in all while listening; a manifest also lists at
        /// most a fifth of it. Default: 100000 (config: max_directories).
        #[arg(long)]
        max_directories: Option<u64>,
        /// After a reload (SIGHUP) changed the shared seed, keep accepting the old one, and the
        /// sessions opened with it, for this many seconds. Default: 300 (config: seed_grace).
        #[arg(long, value_name = "SECONDS")]
        seed_grace: Option<u64>,
    },
    /// Send files and directories (recursively); succeeds only when the receiver confirmed
    /// each file and each directory's manifest.
    Send {
        #[command(flatten)]
        peer: PeerArgs,
        /// Files and directories to send. A directory arrives under its own name, with its
        /// tree (empty directories included).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print one JSON object per file and per directory on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Send standard input as one transfer (the listener needs --stdout or --out).
    Cat {
        #[command(flatten)]
        peer: PeerArgs,
    },
    /// Open sessions to a peer one after another and print each handshake time and three round
    /// trips measured on the session; exits 0 if every handshake and round trip succeeded.
    Ping {
        #[command(flatten)]
        peer: PeerArgs,
        /// Handshakes to make.
        #[arg(long, default_value_t = 3)]
        count: u32,
        /// Print the results as one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Serve a content-addressed store to peers that `stt fetch` from it; with --add, first
    /// store files in it and print their addresses.
    ServeStore {
        /// The store's directory (created if missing). Its sealing seed is DIR/store.seed,
        /// created on first use, unless --store-seed-file is given.
        dir: PathBuf,
        /// UDP address to listen on (config: bind).
        #[arg(long)]
        bind: Option<SocketAddr>,
        #[command(flatten)]
        keys: KeyArgs,
        /// Store these files first and print `<address> <file>` for each on stdout.
        #[arg(long, value_name = "FILE")]
        add: Vec<PathBuf>,
        /// The seed that seals the store's blobs at rest (64 hex characters or 32 raw bytes).
        #[arg(long, value_name = "FILE")]
        store_seed_file: Option<PathBuf>,
        /// Store the files given with --add, print their addresses and exit without serving.
        #[arg(long, requires = "add")]
        add_only: bool,
    },
    /// Fetch the content at a store address (64 hex characters) from a peer running
    /// `stt serve-store`; the bytes are checked against the address before they are written.
    Fetch {
        #[command(flatten)]
        peer: PeerArgs,
        /// The address, as `stt serve-store --add` printed it.
        address: String,
        /// Write the content to this new file instead of stdout (an existing file is kept).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Refuse content larger than this many bytes.
        #[arg(long, default_value_t = 1 << 30)]
        max_size: u64,
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
        /// After the transfer, move the same bytes again while this many sessions from 16 other
        /// client nodes open to the receiving node, and compare.
        #[arg(long, default_value_t = 0)]
        connects_during: u32,
        /// Instead: open this many sessions to one listening node (from client nodes spread over
        /// loopback addresses, 1,000 sessions each), hold them idle for --idle seconds, then
        /// report the establishment rate, resident memory and idle CPU per session, a PING's
        /// round trip on random sessions, the sessions still alive, and --size bytes moved on
        /// one more session beside them against the same transfer before they existed (five
        /// transfers each way, compared by their medians).
        #[arg(long, default_value_t = 0, conflicts_with_all = ["connects_during", "streams", "transport"])]
        sessions: u32,
        /// Seconds the sessions of --sessions stay idle before they are measured.
        #[arg(long, default_value_t = 10, requires = "sessions", value_name = "SECONDS")]
        idle: u64,
        /// Seconds of silence after which a session of --sessions sends a keepalive (both ends;
        /// each session's idle timeout is four times this). The default is the library's, 15 s;
        /// a hub of many devices may choose a longer period, as MQTT brokers do.
        #[arg(long, default_value_t = 15, requires = "sessions", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
        keepalive: u64,
        /// Instead: open --rate sessions a second to one listening node for this many seconds,
        /// each used for one message and closed (one in a hundred abandoned); report the
        /// listener's memory over the run and check that its counters add up.
        #[arg(long, default_value_t = 0, value_name = "SECONDS", conflicts_with_all = ["sessions", "connects_during", "streams", "transport"])]
        churn: u64,
        /// Sessions a second for --churn.
        #[arg(long, default_value_t = 1_000, requires = "churn")]
        rate: u32,
        /// With --sessions or --churn: run only the clients' half, against the listener at --to
        /// (which holds the seed of --seed-file and admits 1,000 sessions per address and node
        /// id). `stt bench --sessions N` and `--churn S` run this half in a second process.
        #[arg(long, requires = "to")]
        clients_only: bool,
        /// The listener of --clients-only.
        #[arg(long, requires = "clients_only", value_name = "ADDRESS")]
        to: Option<SocketAddr>,
        /// The seed file of --clients-only (64 hex characters or at least 32 raw bytes).
        #[arg(long, requires = "clients_only", conflicts_with = "controlled")]
        seed_file: Option<PathBuf>,
        /// --clients-only started by `stt bench --sessions`: the seed comes as a line on stdin,
        /// each step is reported as a JSON line, and the sessions close when stdin says so.
        #[arg(long, requires = "clients_only", hide = true)]
        controlled: bool,
        /// Print the results as one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Decrypt the STT packets of a capture with a key log (written with STT_KEYLOGFILE set), for
    /// Wireshark and tshark with docs/wireshark/stt.lua.
    Decrypt(decrypt::DecryptArgs),
}

/// This node's keys: its identity and the seeds it shares with others.
#[derive(clap::Args)]
struct KeyArgs {
    /// File holding the shared seed used with every peer not in --peers: 64 hex characters, or
    /// at least 32 raw bytes (config: seed_file). Needed unless every peer has its own seed.
    #[arg(long)]
    seed_file: Option<PathBuf>,
    /// This node's identity key (`stt keygen --identity`); default: a new random identity
    /// (config: identity).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// Known peers, one per line: a node id (64 hex characters), optionally followed by the
    /// file of the seed shared with that peer; `#` starts a comment. Only these peers (and
    /// those of the config file) may hold a session with this node.
    #[arg(long)]
    peers: Option<PathBuf>,
}

/// Where `send`, `cat`, `ping` and `fetch` connect, and with which keys.
#[derive(clap::Args)]
pub(crate) struct PeerArgs {
    /// The listener: host:port over UDP (a host name is resolved), a peer's name from the
    /// config file, or with --ws its WebSocket address (host:port or ws:// URL).
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
    /// Seconds to wait for the handshake [default: 5] (config: handshake_timeout).
    #[arg(long)]
    timeout: Option<u64>,
    /// Keep resumption tickets in this file (created with mode 0600): the next run to the same
    /// listener resumes its session, in one round trip with one X25519 agreement a side. Needs
    /// --identity (a ticket serves the node it was given to). The file holds secrets: each
    /// ticket opens one session in this node's name.
    #[arg(long, value_name = "FILE")]
    tickets: Option<PathBuf>,
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
    pub(crate) message: String,
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
        } else if code == 4 && matches!(e, Error::Handshake(_)) {
            format!("{e}: is the listener running at that address?")
        } else {
            e.to_string()
        };
        Failure { code, message }
    }
}

impl From<stt_cli::transfer::TransferError> for Failure {
    fn from(e: stt_cli::transfer::TransferError) -> Self {
        match e {
            stt_cli::transfer::TransferError::Stt(e) => e.into(),
            stt_cli::transfer::TransferError::Io(e) => e.into(),
            other => Failure::new(1, other.to_string()),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        // A stream's I/O error that carries the driver's (a session that ended) keeps its code.
        match e.downcast::<Error>() {
            Ok(stt) => stt.into(),
            Err(e) => Failure::new(1, e.to_string()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    // Two worker threads, or one per shard of a listener that asks for more.
    let workers = match &cli.command {
        Command::Listen { threads, .. } => usize::from(*threads).max(2),
        _ => 2,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stt: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli.command, cli.config.as_deref())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("stt: {}", printable(&f.message));
            ExitCode::from(f.code)
        }
    }
}

async fn run(command: Command, config: Option<&Path>) -> Result<(), Failure> {
    let cfg = match config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
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
        Command::Id { identity, public_key } => {
            let identity = read_identity(&identity)?;
            if public_key {
                println!("{}", hex(&identity.public_key()));
            } else {
                println!("{}", hex(&identity.node_id().0));
            }
            Ok(())
        }
        Command::Listen {
            bind,
            ws_bind,
            ws_max_per_address,
            web,
            web_root,
            ws_cert,
            ws_key,
            keys,
            out,
            stdout,
            threads,
            once,
            overwrite,
            max_size,
            max_entries,
            max_directories,
            seed_grace,
        } => {
            let bind = bind
                .or(cfg.bind)
                .ok_or_else(|| Failure::new(2, "listen needs --bind ADDRESS (or bind in the config file)"))?;
            let out = match stdout {
                true => None,
                false => Some(out.or_else(|| cfg.out.clone()).ok_or_else(|| {
                    Failure::new(2, "listen needs --out DIR or --stdout (or out in the config file)")
                })?),
            };
            let mut node_cfg = listener_config(&keys, &cfg)?;
            if let Some(per_address) = ws_max_per_address.or(cfg.ws_max_per_address) {
                if per_address == 0 {
                    return Err(Failure::new(2, "--ws-max-per-address must be at least 1"));
                }
                let ws_limits =
                    stt_tokio::WebSocketLimits { max_connections_per_ip: per_address, ..Default::default() };
                node_cfg = node_cfg.ws_limits(ws_limits);
            }
            let opts = files::ListenOptions {
                once,
                overwrite: !stdout && (overwrite || cfg.overwrite.unwrap_or(false)),
                limits: listen_limits(
                    max_size.or(cfg.max_size),
                    max_entries.or(cfg.max_entries),
                    max_directories.or(cfg.max_directories),
                ),
            };
            // SIGHUP reads the seed again (the flag's file, or the configuration file's).
            let seed_flag = keys.seed_file.clone();
            let config_path = config.map(Path::to_path_buf);
            let reload = files::SeedReload {
                grace: Duration::from_secs(seed_grace.or(cfg.seed_grace).unwrap_or(300)),
                read: Box::new(move || {
                    let cfg = match &config_path {
                        Some(path) => Config::load(path)?,
                        None => Config::default(),
                    };
                    let file = seed_flag.clone().or(cfg.seed_file).ok_or_else(|| {
                        Failure::new(2, "no seed file to reload: the listener has no default shared seed")
                    })?;
                    read_seed(&file)
                }),
            };
            let ws_bind = ws_bind.or(cfg.ws_bind);
            let web = match web {
                Some(_) if ws_bind.is_none() => {
                    return Err(Failure::new(2, "--web needs --ws-bind ADDRESS (or ws_bind in the config file)"))
                }
                Some(addr) => {
                    let root = web_root.unwrap_or_else(stt_cli::web::default_root);
                    stt_cli::web::check_root(&root).map_err(|m| Failure::new(2, m))?;
                    Some((addr, root))
                }
                None => None,
            };
            let tls = match (ws_cert, ws_key) {
                (Some(cert), Some(key)) => Some(
                    stt_tokio::TlsIdentity::from_pem_files(&cert, &key)
                        .map_err(|e| Failure::new(2, format!("--ws-cert / --ws-key: {e}")))?,
                ),
                _ => None,
            };
            if let Some(tls) = &tls {
                node_cfg = node_cfg.wss(tls.clone());
            }
            let at = files::ListenAt { bind, ws_bind, web, tls, threads };
            files::listen(node_cfg, at, out, stdout, opts, reload).await
        }
        Command::Send { peer, paths, json } => {
            // Every local mistake (unreadable keys, a missing file, a name that cannot be sent)
            // is found here, before any network work.
            let node_cfg = client_config(&peer, &cfg)?;
            let plan = files::plan(&paths)?;
            let (node, session) = connect(&peer, &cfg, node_cfg).await?;
            let sent = files::send(&session, &plan, json).await;
            finish(node, &peer, session, &sent).await;
            sent
        }
        Command::Cat { peer } => {
            let (node, session) = connect(&peer, &cfg, client_config(&peer, &cfg)?).await?;
            let sent = files::cat(&session).await;
            finish(node, &peer, session, &sent).await;
            sent
        }
        Command::Ping { peer, count, json } => ops::ping(&peer, &cfg, count.max(1), json).await,
        Command::ServeStore { dir, bind, keys, add, store_seed_file, add_only } => {
            let opts = ops::StoreOptions { dir, add, store_seed_file, add_only };
            let bind = match (bind.or(cfg.bind), add_only) {
                (Some(bind), _) => Some(bind),
                (None, true) => None,
                (None, false) => {
                    return Err(Failure::new(2, "serve-store needs --bind ADDRESS (or bind in the config file)"));
                }
            };
            let node_cfg = if add_only { None } else { Some(listener_config(&keys, &cfg)?) };
            ops::serve_store(opts, bind, node_cfg).await
        }
        Command::Fetch { peer, address, out, max_size } => ops::fetch(&peer, &cfg, &address, out, max_size).await,
        Command::Bench {
            sessions,
            churn,
            rate,
            idle,
            keepalive,
            clients_only: true,
            to: Some(to),
            seed_file,
            controlled,
            json,
            ..
        } => {
            if sessions == 0 && churn == 0 {
                return Err(Failure::new(
                    2,
                    "--clients-only runs the clients of --sessions N or --churn SECONDS: give one",
                ));
            }
            let seed = match (controlled, seed_file) {
                (true, _) => scale::controlled_seed()?,
                (false, Some(path)) => read_seed(&path)?,
                (false, None) => return Err(Failure::new(2, "--clients-only needs --seed-file, the listener's seed")),
            };
            if churn > 0 {
                churn::run_clients(churn, rate, to, &seed, controlled).await
            } else {
                let opts = scale::Options {
                    sessions,
                    idle: Duration::from_secs(idle),
                    keepalive: Duration::from_secs(keepalive),
                    size: 0,
                };
                scale::run_clients(&opts, to, &seed, controlled, json).await
            }
        }
        Command::Bench { churn, rate, json, .. } if churn > 0 => churn::run(churn, rate, json).await,
        Command::Bench { sessions, idle, keepalive, size, json, .. } if sessions > 0 => {
            let keepalive = Duration::from_secs(keepalive);
            scale::run(scale::Options { sessions, idle: Duration::from_secs(idle), keepalive, size }, json).await
        }
        Command::Bench {
            size, streams, transport, handshakes, congestion, no_batching, connects_during, json, ..
        } => {
            let opts = bench::Options {
                size,
                streams: streams.max(1),
                ws: transport == TransportArg::Ws,
                handshakes,
                batching: !no_batching,
                congestion: congestion.factory(),
                connects_during,
            };
            bench::run(opts, json).await
        }
        Command::Decrypt(args) => decrypt::run(&args),
    }
}

/// The node configuration of a listening node: [`node_config`] with the file's session limit.
/// The receiving limits of `listen`: the defaults of [`stt_cli::transfer::Limits`] where no flag
/// or key says otherwise; a manifest lists at most a fifth of the directories allowed in all.
fn listen_limits(
    max_size: Option<u64>,
    max_entries: Option<u32>,
    max_directories: Option<u64>,
) -> stt_cli::transfer::Limits {
    let mut limits = stt_cli::transfer::Limits::with_max_size(max_size.unwrap_or(u64::MAX));
    if let Some(entries) = max_entries {
        limits.max_manifest_entries = entries;
    }
    if let Some(directories) = max_directories {
        limits.max_directories = directories;
        limits.max_manifest_directories = u32::try_from(directories / 5).unwrap_or(u32::MAX);
    }
    limits
}

fn listener_config(keys: &KeyArgs, cfg: &Config) -> Result<NodeConfig, Failure> {
    let mut node_cfg = node_config(keys, cfg)?;
    if let Some(max) = cfg.max_sessions {
        node_cfg.endpoint.max_sessions = max;
    }
    Ok(node_cfg)
}

/// The node configuration of `keys` over the config file: default seed, identity, known peers
/// and their seeds, timeouts.
fn node_config(keys: &KeyArgs, cfg: &Config) -> Result<NodeConfig, Failure> {
    let seed_file = keys.seed_file.as_ref().or(cfg.seed_file.as_ref());
    // A node with no seed at all could never complete a handshake: said here, not at the first.
    let mut any_seed = seed_file.is_some();
    let mut node_cfg = match seed_file {
        Some(path) => NodeConfig::new(read_seed(path)?),
        None => NodeConfig::per_peer(),
    };
    if let Some(path) = keys.identity.as_ref().or(cfg.identity.as_ref()) {
        node_cfg = node_cfg.identity(read_identity(path)?);
    }
    if let Some(secs) = cfg.handshake_timeout {
        node_cfg.endpoint.handshake_timeout = Duration::from_secs(secs);
    }
    // -vvv (or RUST_LOG at trace for the driver): why each datagram was dropped, rate-limited.
    node_cfg.endpoint.report_drops = tracing::enabled!(target: "stt_tokio::log", tracing::Level::TRACE);
    // A listener gives its clients tickets; a client resumes with the ones it holds (in memory,
    // or in the file of --tickets).
    node_cfg.endpoint.resumption = true;
    if let Some(secs) = cfg.idle_timeout {
        node_cfg.endpoint.idle_timeout = Duration::from_secs(secs);
    }
    for peer in &cfg.peers {
        node_cfg = node_cfg.allow(peer.id);
        if let Some(key) = peer.key {
            node_cfg = node_cfg.peer_key(key);
        }
        if let Some(seed_file) = &peer.seed_file {
            node_cfg = node_cfg.peer_seed(peer.id, read_seed(seed_file)?);
            any_seed = true;
        }
    }
    if let Some(path) = &keys.peers {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(2, format!("cannot read peers file {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut listed = 0;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let bad = |what: &str| Failure::new(2, format!("peers file {} line {}: {what}", path.display(), n + 1));
            let id =
                words.next().and_then(parse_node_id).ok_or_else(|| bad("expected a node id of 64 hex characters"))?;
            node_cfg = node_cfg.allow(id);
            listed += 1;
            if let Some(seed_file) = words.next() {
                node_cfg = node_cfg.peer_seed(id, read_seed(&base.join(seed_file))?);
                any_seed = true;
            }
            if words.next().is_some() {
                return Err(bad("expected a node id and at most one seed file"));
            }
        }
        if listed == 0 {
            return Err(Failure::new(2, format!("peers file {} lists no peer", path.display())));
        }
    }
    if !any_seed {
        return Err(Failure::new(
            2,
            "no seed: give --seed-file FILE, or peers with their own seed files (--peers, or seed_file or [[peers]] in the config file)",
        ));
    }
    Ok(decrypt::key_log_from_env(node_cfg))
}

pub(crate) fn parse_node_id(text: &str) -> Option<NodeId> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex")).collect();
    Some(NodeId(bytes.try_into().expect("32 bytes")))
}

/// Where `peer` points and whom it expects there: `--to` is a config peer's name or an
/// address; `--peer-id` (or the named peer's id) is the node that must answer.
pub(crate) fn target(peer: &PeerArgs, cfg: &Config) -> Result<(String, Option<NodeId>), Failure> {
    let named = cfg.peer_named(&peer.to);
    let to = match named {
        Some(p) => p
            .address
            .clone()
            .ok_or_else(|| Failure::new(2, format!("--to {}: that peer has no address in the config file", peer.to)))?,
        None => peer.to.clone(),
    };
    let expected = match &peer.peer_id {
        Some(text) => Some(
            parse_node_id(text)
                .ok_or_else(|| Failure::new(2, format!("--peer-id {text:?} is not a node id of 64 hex characters")))?,
        ),
        None => named.map(|p| p.id),
    };
    Ok((to, expected))
}

/// The configuration of `peer`'s client node (keys, handshake timeout): every key file is read
/// here, once.
pub(crate) fn client_config(peer: &PeerArgs, cfg: &Config) -> Result<NodeConfig, Failure> {
    if peer.tickets.is_some() && peer.keys.identity.is_none() && cfg.identity.is_none() {
        return Err(Failure::new(
            2,
            "--tickets needs a lasting identity (--identity FILE, or identity in the config file): a ticket opens a \
             session only for the node it was given to, and without one each run is a new node",
        ));
    }
    let mut node_cfg = node_config(&peer.keys, cfg)?.server_mode(false);
    let timeout = peer.timeout.or(cfg.handshake_timeout).unwrap_or(5);
    node_cfg.endpoint.handshake_timeout = Duration::from_secs(timeout.max(1));
    // A client waits for answers (a verdict, a fetched blob) with nothing of its own in flight:
    // a keepalive after a second of silence lets a listener that vanished be noticed within a
    // few seconds (`CloseReason::Unreachable`, exit 4) rather than after the idle timeout.
    node_cfg.endpoint.keep_alive_interval = Some(Duration::from_secs(1));
    Ok(node_cfg)
}

/// One session from `node` to the peer of `peer`, over UDP or WebSocket.
pub(crate) async fn open_session(node: &Node, peer: &PeerArgs, cfg: &Config) -> Result<Session, Failure> {
    let (to, expected) = target(peer, cfg)?;
    if peer.ws {
        let url = if to.starts_with("ws://") || to.starts_with("wss://") { to } else { format!("ws://{to}") };
        let session = match expected {
            Some(id) => node.connect_ws_to(&url, id).await,
            None => node.connect_ws(&url).await,
        };
        session.map_err(|e| match e {
            Error::WebSocket(m) => Failure::new(4, format!("{m}: is the listener running with --ws-bind?")),
            Error::Resolve(m) => Failure::new(2, format!("--to: {m} (expected host:port or a ws:// URL)")),
            other => other.into(),
        })
    } else {
        let session = match expected {
            Some(id) => node.connect_to(to.as_str(), id).await,
            None => node.connect(to.as_str()).await,
        };
        // A name that does not resolve is the user's mistake (exit 2), said before any network work.
        session.map_err(|e| match e {
            Error::Resolve(m) => Failure::new(2, format!("--to: {m} (expected host:port or a peer's name)")),
            other => other.into(),
        })
    }
}

/// Binds a client node with `node_cfg` (from [`client_config`]) and connects to the listener
/// over UDP or WebSocket (to the node `--peer-id` if given).
async fn connect(peer: &PeerArgs, cfg: &Config, node_cfg: NodeConfig) -> Result<(Node, Session), Failure> {
    // A bad --to or --peer-id is found before a socket is bound.
    target(peer, cfg)?;
    let node = Node::bind(node_cfg).await?;
    load_tickets(&node, peer)?;
    let session = open_session(&node, peer, cfg).await?;
    Ok((node, session))
}

/// Gives `node` the tickets of `--tickets`, if given.
pub(crate) fn load_tickets(node: &Node, peer: &PeerArgs) -> Result<(), Failure> {
    if let Some(path) = &peer.tickets {
        let n = tickets::load(node, path)?;
        tracing::debug!(tickets = n, file = %path.display(), "resumption tickets loaded");
    }
    Ok(())
}

/// Writes the tickets `node` holds to `--tickets`, if given (a failure is reported, not fatal:
/// the next run takes a full handshake).
pub(crate) fn save_tickets(node: &Node, peer: &PeerArgs) {
    if let Some(path) = &peer.tickets {
        if let Err(f) = tickets::save(node, path) {
            eprintln!("stt: warning: {}", f.message);
        }
    }
}

/// Closes the session (DISCONNECT, so the listener learns at once how it ended, even after a
/// failure), keeps the tickets of `--tickets` and stops the node.
async fn finish(node: Node, peer: &PeerArgs, session: Session, outcome: &Result<(), Failure>) {
    save_tickets(&node, peer);
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
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
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
pub(crate) fn read_seed(path: &Path) -> Result<Seed, Failure> {
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
