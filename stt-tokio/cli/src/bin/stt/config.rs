//! `stt --config FILE`: the operator's configuration file (TOML). It holds what the flags hold
//! (identity, seeds, known peers, bind addresses, output directory, limits); a flag given on the
//! command line wins over the file. Relative paths in the file are relative to the file's
//! directory. A malformed file is reported in one line naming the key and the problem (exit 2).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use stt_tokio::NodeId;

use crate::{parse_node_id, Failure};

/// The file as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    identity: Option<PathBuf>,
    seed_file: Option<PathBuf>,
    bind: Option<String>,
    ws_bind: Option<String>,
    ws_max_per_address: Option<usize>,
    out: Option<PathBuf>,
    overwrite: Option<bool>,
    max_size: Option<u64>,
    max_entries: Option<u32>,
    max_directories: Option<u64>,
    seed_grace: Option<u64>,
    handshake_timeout: Option<u64>,
    idle_timeout: Option<u64>,
    max_sessions: Option<usize>,
    #[serde(default)]
    peers: Vec<RawPeer>,
}

/// One `[[peers]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    id: String,
    key: Option<String>,
    seed_file: Option<PathBuf>,
    name: Option<String>,
    address: Option<String>,
}

/// A configuration file, checked: addresses parsed, node ids decoded, paths made absolute (or
/// relative to the working directory as the file's directory is).
#[derive(Default)]
pub(crate) struct Config {
    /// `identity`: this node's identity key file.
    pub identity: Option<PathBuf>,
    /// `seed_file`: the seed shared with every peer not given its own.
    pub seed_file: Option<PathBuf>,
    /// `bind`: the UDP address `listen` binds.
    pub bind: Option<SocketAddr>,
    /// `ws_bind`: the TCP address `listen` accepts WebSocket connections on.
    pub ws_bind: Option<SocketAddr>,
    /// `ws_max_per_address`: `listen --ws-max-per-address`.
    pub ws_max_per_address: Option<usize>,
    /// `out`: the directory `listen` saves into.
    pub out: Option<PathBuf>,
    /// `overwrite`: `listen --overwrite`.
    pub overwrite: Option<bool>,
    /// `max_size`: `listen --max-size`.
    pub max_size: Option<u64>,
    /// `max_entries`: `listen --max-entries`.
    pub max_entries: Option<u32>,
    /// `max_directories`: `listen --max-directories`.
    pub max_directories: Option<u64>,
    /// `seed_grace`: `listen --seed-grace`.
    pub seed_grace: Option<u64>,
    /// `handshake_timeout`: seconds to wait for a handshake.
    pub handshake_timeout: Option<u64>,
    /// `idle_timeout`: seconds of silence after which a session ends.
    pub idle_timeout: Option<u64>,
    /// `max_sessions`: sessions a listener holds at once.
    pub max_sessions: Option<usize>,
    /// `[[peers]]`: the only nodes allowed a session, when any is listed.
    pub peers: Vec<Peer>,
}

/// One known peer.
pub(crate) struct Peer {
    /// Its node id.
    pub id: NodeId,
    /// Its static public key (`stt id --public-key`), if given: sessions to it open in one
    /// round trip from the first.
    pub key: Option<[u8; 32]>,
    /// The seed shared with it, if not the default one.
    pub seed_file: Option<PathBuf>,
    /// A name `send --to` and `ping --to` accept instead of an address.
    pub name: Option<String>,
    /// Where it listens (host:port).
    pub address: Option<String>,
}

impl Config {
    /// Reads and checks `path`.
    pub(crate) fn load(path: &Path) -> Result<Config, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(2, format!("cannot read config file {}: {e}", path.display())))?;
        Config::parse(&text, path)
    }

    /// Checks `text`, the contents of the file at `path`.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Config, Failure> {
        let raw: Raw = toml::from_str(text).map_err(|e| syntax_error(&e, text, path))?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let bad =
            |key: &str, problem: String| Failure::new(2, format!("config file {}: {key}: {problem}", path.display()));
        let address = |key: &str, text: Option<String>| -> Result<Option<SocketAddr>, Failure> {
            text.map(|t| t.parse().map_err(|_| bad(key, format!("{t:?} is not an ip:port address")))).transpose()
        };
        let mut peers = Vec::with_capacity(raw.peers.len());
        for (n, p) in raw.peers.into_iter().enumerate() {
            let key = format!("peers[{n}].id");
            let id = parse_node_id(&p.id)
                .ok_or_else(|| bad(&key, format!("{:?} is not a node id of 64 hex characters", p.id)))?;
            let key = match &p.key {
                None => None,
                Some(text) => {
                    let key = parse_node_id(text).map(|k| k.0).ok_or_else(|| {
                        bad(&format!("peers[{n}].key"), format!("{text:?} is not a public key of 64 hex characters"))
                    })?;
                    if NodeId::of_public_key(&key) != id {
                        return Err(bad(&format!("peers[{n}].key"), "is not the key of the node id `id` gives".into()));
                    }
                    Some(key)
                }
            };
            if let Some(name) = &p.name {
                if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
                    return Err(bad(&format!("peers[{n}].name"), format!("{name:?}: a name has no ':' and no spaces")));
                }
            }
            let seed_file = p.seed_file.map(|f| base.join(f));
            peers.push(Peer { id, key, seed_file, name: p.name, address: p.address });
        }
        for (key, value) in [("handshake_timeout", raw.handshake_timeout), ("idle_timeout", raw.idle_timeout)] {
            if value == Some(0) {
                return Err(bad(key, "must be at least 1 second".into()));
            }
        }
        if raw.max_sessions == Some(0) {
            return Err(bad("max_sessions", "must be at least 1".into()));
        }
        Ok(Config {
            identity: raw.identity.map(|f| base.join(f)),
            seed_file: raw.seed_file.map(|f| base.join(f)),
            bind: address("bind", raw.bind)?,
            ws_bind: address("ws_bind", raw.ws_bind)?,
            ws_max_per_address: raw.ws_max_per_address,
            out: raw.out.map(|d| base.join(d)),
            overwrite: raw.overwrite,
            max_size: raw.max_size,
            max_entries: raw.max_entries,
            max_directories: raw.max_directories,
            seed_grace: raw.seed_grace,
            handshake_timeout: raw.handshake_timeout,
            idle_timeout: raw.idle_timeout,
            max_sessions: raw.max_sessions,
            peers,
        })
    }

    /// The peer called `name` in the file.
    pub(crate) fn peer_named(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name.as_deref() == Some(name))
    }
}

/// One line for a TOML or type error: the file, the line, the key on it and the problem.
fn syntax_error(e: &toml::de::Error, text: &str, path: &Path) -> Failure {
    let problem = e.message().trim().replace('\n', "; ");
    let Some(span) = e.span() else {
        return Failure::new(2, format!("config file {}: {problem}", path.display()));
    };
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let key = line.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !k.starts_with('['));
    match key {
        Some(key) if !problem.contains(key) => {
            Failure::new(2, format!("config file {} line {line_no}: {key}: {problem}", path.display()))
        }
        _ => Failure::new(2, format!("config file {} line {line_no}: {problem}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/stt/stt.toml")).map_err(|f| f.message)
    }

    #[test]
    fn the_documented_example_parses_with_paths_beside_the_file() {
        let text = include_str!("../../../../../docs/stt.example.toml");
        let cfg = parse(text).expect("the example parses");
        assert_eq!(cfg.bind, Some("0.0.0.0:7400".parse().unwrap()));
        assert_eq!(cfg.seed_file.as_deref(), Some(Path::new("/etc/stt/seed.hex")));
        assert_eq!(cfg.peers.len(), 2);
        assert_eq!(cfg.peer_named("laptop").map(|p| p.id.0[0]), Some(0x3b));
    }

    /// The keys serde knows, from its own "expected one of" list for an unknown key.
    fn known_keys(text: &str) -> Vec<String> {
        let e = parse(text).err().expect("an unknown key is refused");
        e.split("expected one of")
            .nth(1)
            .expect("the known keys are listed")
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_key_is_documented_in_the_cli_page() {
        let page = include_str!("../../../../../docs/CLI.md");
        let top = known_keys("no_such_key = 1\n");
        let peer = known_keys("[[peers]]\nid = \"00\"\nno_such_key = 1\n");
        assert!(top.len() >= 11 && peer.len() >= 4, "{top:?} {peer:?}");
        let documented = top.iter().cloned().map(|k| if k == "peers" { "[[peers]]".to_owned() } else { k });
        for key in documented.chain(peer.iter().map(|k| format!("peers.{k}"))) {
            assert!(page.contains(&format!("| `{key}` |")), "docs/CLI.md documents the key {key}");
        }
    }

    #[test]
    fn a_peer_key_is_checked_against_its_node_id() {
        // Node A of docs/PROTOCOL.md section 9: its public key and node id.
        let key = "1e35b6eb370549f7ae82c5dfe6e5ad5903f1181e11cc8361dc54027fb1c4857e";
        let id = "5836f64dff0eb587fad40fb364aa43f45be91d5a2ac6ee9f0be0d0f5b62a9f66";
        let cfg = parse(&format!("[[peers]]\nid = \"{id}\"\nkey = \"{key}\"\n")).expect("a matching key");
        assert_eq!(cfg.peers[0].key.map(|k| k[0]), Some(0x1e));
        let other = format!("{}{}", &id[..63], if id.ends_with('6') { '7' } else { '6' });
        let e = parse(&format!("[[peers]]\nid = \"{other}\"\nkey = \"{key}\"\n")).err().expect("refused");
        assert!(e.contains("peers[0].key") && e.contains("node id"), "{e}");
        let e = parse(&format!("[[peers]]\nid = \"{id}\"\nkey = \"abc\"\n")).err().expect("refused");
        assert!(e.contains("peers[0].key") && e.contains("64 hex"), "{e}");
    }

    #[test]
    fn a_malformed_file_names_the_key_and_the_problem_in_one_line() {
        let e = parse("bind = \"0.0.0.0:7400\"\nmax_size = \"big\"\n").err().expect("refused");
        assert!(e.contains("line 2") && e.contains("max_size") && !e.contains('\n'), "{e}");
        let e = parse("bnd = \"0.0.0.0:7400\"\n").err().expect("refused");
        assert!(e.contains("line 1") && e.contains("bnd") && !e.contains('\n'), "{e}");
        let e = parse("bind = \"nowhere\"\n").err().expect("refused");
        assert!(e.contains("bind") && e.contains("nowhere"), "{e}");
        let e = parse("[[peers]]\nid = \"12\"\n").err().expect("refused");
        assert!(e.contains("peers[0].id"), "{e}");
        let e = parse("handshake_timeout = 0\n").err().expect("refused");
        assert!(e.contains("handshake_timeout"), "{e}");
        let e = parse("bind = \n").err().expect("refused");
        assert!(e.contains("line 1") && !e.contains('\n'), "{e}");
    }
}
