//! The `stt` binary, run as a user would: real processes, real sockets on loopback.

mod tool;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha3::{Digest, Sha3_256};
use tool::*;

#[test]
fn keygen_prints_sixty_four_hex_characters_and_never_the_same_twice() {
    let a = stt().arg("keygen").output().unwrap();
    let b = stt().arg("keygen").output().unwrap();
    let a = String::from_utf8(a.stdout).unwrap();
    assert_eq!(a.trim().len(), 64);
    assert!(a.trim().chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, String::from_utf8(b.stdout).unwrap());
}

#[test]
fn keygen_out_creates_an_owner_only_file_and_never_replaces_one() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write_seed(dir.path(), "seed");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only the owner may read a new seed file");
    let first = std::fs::read(&path).unwrap();
    assert_eq!(String::from_utf8(first.clone()).unwrap().trim().len(), 64);
    let again = stt().arg("keygen").arg("--out").arg(&path).output().unwrap();
    assert_eq!(again.status.code(), Some(2), "an existing seed file is not replaced");
    assert!(String::from_utf8_lossy(&again.stderr).contains("never replaced"));
    assert_eq!(std::fs::read(&path).unwrap(), first, "the existing seed is intact");
}

#[test]
fn a_seed_file_others_can_read_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write_seed(dir.path(), "seed");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut child = stt()
        .args(["listen", "--bind", "127.0.0.1:0", "--stdout", "--seed-file"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut first).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("can be read by other users (mode 0644)"), "{first}");
    assert!(first.contains("chmod 600"), "{first}");
}

#[test]
fn send_and_listen_once_move_a_hundred_mebibyte_file_verified() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let out = dir.path().join("out");
    let src = dir.path().join("big.bin");
    make_file(&src, 100 << 20);
    let listener = Listener::start(
        &["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap(), "--once"],
        Stdio::null(),
    );
    let started = Instant::now();
    let send = stt()
        .args(["send", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap(), src.to_str().unwrap()])
        .output()
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(send.status.success(), "send failed: {}", String::from_utf8_lossy(&send.stderr));
    let (status, lines) = listener.wait(30);
    assert!(status.success(), "listener: {lines:?}");
    let received = out.join("big.bin");
    assert_eq!(sha3_file(&received), sha3_file(&src), "hashes match");
    println!("stt send/listen: 100 MiB in {secs:.2} s ({:.0} MB/s)", 100.0 * 1.048576 / secs);
    // Nothing but the verified file is left in the directory.
    assert_eq!(left_in(&out), (vec!["big.bin".to_owned()], vec![]));
}

#[test]
fn a_listener_on_two_threads_receives_from_eight_senders_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let out = dir.path().join("out");
    let listener = Listener::start(
        &["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap(), "--threads", "2"],
        Stdio::null(),
    );
    let sources: Vec<_> = (0..8)
        .map(|i| {
            let src = dir.path().join(format!("part{i}.bin"));
            make_file(&src, (2 << 20) + i * 4099);
            src
        })
        .collect();
    let sends: Vec<_> = sources
        .iter()
        .map(|src| {
            stt()
                .args(["send", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap(), src.to_str().unwrap()])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for send in sends {
        let result = send.wait_with_output().unwrap();
        assert!(result.status.success(), "send failed: {}", String::from_utf8_lossy(&result.stderr));
    }
    for src in &sources {
        assert_eq!(sha3_file(&out.join(src.file_name().unwrap())), sha3_file(src), "{} arrived whole", src.display());
    }
    let lines: Vec<String> = listener.lines.try_iter().collect();
    assert!(lines.iter().any(|l| l.contains("2 shards on 2 threads")), "{lines:?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("received part")).count(), 8, "{lines:?}");
}

#[test]
fn a_sender_with_the_wrong_seed_exits_three_and_the_listener_serves_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let wrong = write_seed(dir.path(), "wrong");
    let out = dir.path().join("out");
    let src = dir.path().join("small.txt");
    std::fs::write(&src, b"the right sender's bytes").unwrap();
    let listener =
        Listener::start(&["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap()], Stdio::null());

    let started = Instant::now();
    let bad = stt()
        .args(["send", "--to", &listener.addr, "--seed-file", wrong.to_str().unwrap(), src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(3), "stderr: {}", String::from_utf8_lossy(&bad.stderr));
    assert!(started.elapsed() < Duration::from_secs(10));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(msg.contains("does not hold the same shared seed"), "{msg}");
    assert_eq!(msg.lines().count(), 1, "one clear line: {msg}");

    let good = stt()
        .args(["send", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap(), src.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert_eq!(std::fs::read(out.join("small.txt")).unwrap(), b"the right sender's bytes");
}

#[test]
fn cat_over_websocket_reaches_listen_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let listener = Listener::start(
        &["--ws-bind", "127.0.0.1:0", "--seed-file", seed.to_str().unwrap(), "--stdout", "--once"],
        Stdio::piped(),
    );
    let ws = listener.ws.clone().expect("listener prints its WebSocket address");
    let mut cat = stt()
        .args(["cat", "--ws", "--to", &ws, "--seed-file", seed.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let input = data.clone();
    let mut stdin = cat.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let mut listener = listener;
    let mut stdout = listener.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        stdout.read_to_end(&mut got).unwrap();
        got
    });
    feeder.join().unwrap();
    let status = cat.wait().unwrap();
    assert!(status.success());
    let (lstatus, _) = listener.wait(30);
    assert!(lstatus.success());
    assert!(reader.join().unwrap() == data, "stdout carries exactly the bytes of stdin");
}

#[test]
fn usage_errors_exit_two_and_an_unreachable_peer_exits_four() {
    let dir = tempfile::tempdir().unwrap();
    let out = stt().args(["send", "--to", "127.0.0.1:1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let short = dir.path().join("short");
    std::fs::write(&short, "abcd").unwrap();
    let out =
        stt().args(["send", "--to", "127.0.0.1:9", "--seed-file", short.to_str().unwrap(), "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("64 hex characters"));

    let seed = write_seed(dir.path(), "seed");
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let started = Instant::now();
    let out = stt()
        .args(["send", "--timeout", "1", "--to", &silent.local_addr().unwrap().to_string(), "--seed-file"])
        .args([seed.to_str().unwrap(), file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(10));

    // A --to that is no address at all is a usage error, said before any network work.
    let out = stt()
        .args(["send", "--to", "no port here", "--seed-file", seed.to_str().unwrap(), file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected host:port"));
}

#[test]
fn help_describes_every_command() {
    let out = stt().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["keygen", "listen", "send", "cat", "bench"] {
        assert!(text.contains(cmd), "--help mentions {cmd}");
        let sub = stt().args([cmd, "--help"]).output().unwrap();
        assert!(sub.status.success());
    }
}

#[test]
fn bench_prints_handshake_and_throughput_figures() {
    for transport in ["udp", "ws"] {
        let out = stt()
            .args(["bench", "--size", "8388608", "--handshakes", "20", "--transport", transport])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("handshakes: 20 sequential"), "{text}");
        assert!(text.contains("throughput: 8 MiB"), "{text}");
    }
}

/// Sends `paths` to `addr` and returns the sender's stderr (the send must succeed).
fn send_ok(addr: &str, seed: &Path, paths: &[&Path]) -> String {
    let out = stt().args(["send", "--to", addr, "--seed-file", seed.to_str().unwrap()]).args(paths).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "send failed: {stderr}");
    stderr
}

#[test]
fn an_existing_file_is_kept_and_the_new_one_stored_beside_it_unless_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("report.txt"), b"the receiver's own report").unwrap();
    // A temporary file of a listener killed earlier: removed at start.
    std::fs::write(out.join(".stt-0011223344556677.partial"), b"half").unwrap();
    let src = dir.path().join("report.txt");
    std::fs::write(&src, b"the sender's report").unwrap();
    let listener =
        Listener::start(&["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap()], Stdio::null());
    let said = send_ok(&listener.addr, &seed, &[&src]);
    assert!(said.contains("stored as report (1).txt"), "the sender learns the stored name: {said}");
    // The same file again: the identical copy already there is the stored one.
    let said = send_ok(&listener.addr, &seed, &[&src]);
    assert!(said.contains("stored as report (1).txt"), "{said}");
    assert!(!out.join("report (2).txt").exists(), "no second copy of the same bytes");
    // Other bytes under the same name: a new copy.
    std::fs::write(&src, b"the sender's second report").unwrap();
    send_ok(&listener.addr, &seed, &[&src]);
    assert_eq!(std::fs::read(out.join("report.txt")).unwrap(), b"the receiver's own report");
    assert_eq!(std::fs::read(out.join("report (1).txt")).unwrap(), b"the sender's report");
    assert_eq!(std::fs::read(out.join("report (2).txt")).unwrap(), b"the sender's second report");
    assert!(!out.join(".stt-0011223344556677.partial").exists(), "leftovers are removed at start");
    let lines: Vec<String> = listener.lines.try_iter().collect();
    assert!(lines.iter().any(|l| l.contains("exists and was kept")), "{lines:?}");
    drop(listener);

    let listener = Listener::start(
        &["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap(), "--overwrite"],
        Stdio::null(),
    );
    send_ok(&listener.addr, &seed, &[&src]);
    assert_eq!(std::fs::read(out.join("report.txt")).unwrap(), b"the sender's second report", "--overwrite replaces");
}

#[test]
fn names_with_control_characters_are_refused_and_never_printed_raw() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let out = dir.path().join("out");
    let src = dir.path().join("red\x1b[31m.txt");
    std::fs::write(&src, b"colourful").unwrap();
    let listener = Listener::start(
        &["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap(), "--once"],
        Stdio::null(),
    );
    // The sender knows the receiver's rule: the name is refused before any network work.
    let sent = stt()
        .args(["send", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap(), src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(sent.status.code(), Some(2), "a name with an escape sequence is a usage error");
    let said = String::from_utf8_lossy(&sent.stderr);
    assert!(!said.contains('\x1b'), "no raw escape reaches the terminal: {said:?}");
    assert!(said.contains("\\u{1b}"), "the escape is shown escaped: {said}");
    drop(listener);
    assert_eq!(left_in(&out), (vec![], vec![]), "nothing was stored");
}

#[test]
fn a_file_over_max_size_is_refused_and_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let out = dir.path().join("out");
    let src = dir.path().join("big.bin");
    make_file(&src, 4 << 20);
    let listener = Listener::start(
        &["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap(), "--once", "--max-size", "1000000"],
        Stdio::null(),
    );
    let sent = stt()
        .args(["send", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap(), src.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&sent.stderr);
    assert!(!sent.status.success(), "the sender learns of the refusal");
    assert!(said.contains("TooLarge") && said.contains("1000000"), "{said}");
    let (status, lines) = listener.wait(30);
    assert!(!status.success(), "listener --once reports the failed transfer: {lines:?}");
    assert_eq!(left_in(&out), (vec![], vec![]), "no file and no partial file is left");
}

/// `keygen --identity`, `id`, `--identity`, `--peers` and `--peer-id`: a listener that knows one
/// sender by node id and pairwise seed takes its file; another sender with the same seed but its
/// own identity is refused; a sender expecting another node id than the listener's gives up.
#[test]
fn identities_and_a_peers_file_decide_who_may_send() {
    let dir = tempfile::tempdir().unwrap();
    let keygen_identity = |name: &str| {
        let path = dir.path().join(name);
        let out = stt().args(["keygen", "--identity", "--out"]).arg(&path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let said = String::from_utf8(out.stderr).unwrap();
        let id = said.trim().strip_prefix("node id ").expect("keygen --identity prints the node id").to_string();
        let shown = stt().args(["id", "--identity"]).arg(&path).output().unwrap();
        assert_eq!(String::from_utf8(shown.stdout).unwrap().trim(), id, "`stt id` agrees with keygen");
        let key = stt().args(["id", "--public-key", "--identity"]).arg(&path).output().unwrap();
        let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
        let bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).unwrap()).collect();
        let of_key = stt_proto::NodeId::of_public_key(&bytes.try_into().unwrap());
        assert_eq!(of_key.to_string(), id, "`stt id --public-key` prints the key of that node id");
        (path, id)
    };
    let (listener_key, listener_id) = keygen_identity("listener.key");
    let (sender_key, sender_id) = keygen_identity("sender.key");
    assert_ne!(sender_id, listener_id);
    let (stranger_key, stranger_id) = keygen_identity("stranger.key");
    write_seed(dir.path(), "pairwise.seed");
    std::fs::write(dir.path().join("listener.peers"), format!("# who may send\n{sender_id} pairwise.seed\n")).unwrap();
    std::fs::write(
        dir.path().join("sender.peers"),
        format!("{listener_id} pairwise.seed # the listener\n{stranger_id} pairwise.seed\n"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let src = dir.path().join("note.txt");
    std::fs::write(&src, b"from a known sender").unwrap();
    let listener = Listener::start(
        &[
            "--identity",
            listener_key.to_str().unwrap(),
            "--peers",
            dir.path().join("listener.peers").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    let send = |key: &Path, peer_id: &str| {
        stt()
            .args(["send", "--to", &listener.addr, "--timeout", "3", "--identity"])
            .arg(key)
            .arg("--peers")
            .arg(dir.path().join("sender.peers"))
            .args(["--peer-id", peer_id])
            .arg(&src)
            .output()
            .unwrap()
    };
    let ok = send(&sender_key, &listener_id);
    assert!(ok.status.success(), "known sender: {}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(std::fs::read(out.join("note.txt")).unwrap(), b"from a known sender");

    let refused = send(&stranger_key, &listener_id);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("peer not allowed"), "stranger: {said}");

    let wrong_expectation = send(&sender_key, &stranger_id);
    assert!(!wrong_expectation.status.success());
    let said = String::from_utf8_lossy(&wrong_expectation.stderr);
    assert!(said.contains("not the one expected"), "wrong --peer-id: {said}");
    let mut listener = listener;
    let _ = listener.child.kill();
    let _ = listener.child.wait();
}

/// The long options (`--name`) a text mentions, without the ones every command has.
fn long_options(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|t| t.starts_with("--") && t[2..].starts_with(|c: char| c.is_ascii_lowercase()))
        .map(str::to_string)
        // Options of every command, documented once.
        .filter(|t| !matches!(t.as_str(), "--help" | "--verbose" | "--quiet" | "--version" | "--config"))
        .collect()
}

#[test]
fn the_cli_page_documents_every_command_and_option_the_help_shows() {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/CLI.md")).unwrap();
    let top = String::from_utf8(stt().arg("--help").output().unwrap().stdout).unwrap();
    let commands: Vec<&str> = top
        .split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 6, "{commands:?}");
    let sections: Vec<&str> = page.split("\n## ").filter(|s| s.starts_with("`stt ")).collect();
    let documented: Vec<&str> =
        sections.iter().map(|s| s.trim_start_matches("`stt ").split('`').next().unwrap()).collect();
    assert_eq!(documented, commands, "docs/CLI.md has one section per command, in the help's order");
    for (command, section) in commands.iter().zip(&sections) {
        let help = String::from_utf8(stt().args([command, "--help"]).output().unwrap().stdout).unwrap();
        assert_eq!(
            long_options(section),
            long_options(&help),
            "docs/CLI.md section `stt {command}` against its --help"
        );
    }
    assert!(page.contains("| `--config FILE` |"), "the option of every command is documented");
    for code in ["| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |"] {
        assert!(page.contains(code), "exit code {code} documented");
    }
}

/// Names, kinds, sizes and SHA3-256 of everything under `root`, by relative path.
fn tree_of(root: &Path) -> std::collections::BTreeMap<String, Option<(u64, [u8; 32])>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                out.insert(rel, None);
                todo.push(path);
            } else {
                out.insert(rel, Some((std::fs::metadata(&path).unwrap().len(), sha3_file(&path))));
            }
        }
    }
    out
}

fn keygen_identity(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let path = dir.join(name);
    let out = stt().args(["keygen", "--identity", "--out"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8(out.stderr).unwrap();
    (path, said.trim().strip_prefix("node id ").unwrap().to_string())
}

#[test]
fn a_directory_arrives_identical_with_empty_directories_and_a_refused_name_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let src = dir.path().join("project");
    std::fs::create_dir_all(src.join("docs/drafts")).unwrap();
    std::fs::create_dir_all(src.join("empty/deeper")).unwrap();
    std::fs::create_dir_all(src.join("data")).unwrap();
    std::fs::write(src.join("README"), b"top level").unwrap();
    std::fs::write(src.join("docs/guide.md"), b"# guide").unwrap();
    std::fs::write(src.join("docs/drafts/zero"), b"").unwrap();
    make_file(&src.join("data/big.bin"), 3 << 20);
    std::fs::write(src.join("data/.secret"), b"hidden names are refused").unwrap();
    let out = dir.path().join("out");
    let listener =
        Listener::start(&["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap()], Stdio::null());
    let sent = stt()
        .args(["send", "--json", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap()])
        .arg(&src)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&sent.stderr);
    assert_eq!(sent.status.code(), Some(1), "one entry was not sent: {said}");
    assert!(said.contains("project/data/.secret"), "the refused name is reported: {said}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&sent.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let dir_line = lines.iter().find(|l| l["type"] == "directory").expect("a line for the directory");
    assert_eq!(dir_line["status"], "verified", "{lines:?}");
    assert_eq!(dir_line["files"], 4);
    assert_eq!(dir_line["directories"], 5);
    assert!(lines.iter().any(|l| l["name"] == "project/data/.secret" && l["status"] == "not sent"));

    let mut want = tree_of(&src);
    want.remove("data/.secret");
    assert_eq!(tree_of(&out.join("project")), want, "names, sizes and SHA3-256 identical");
    assert!(out.join("project/empty/deeper").is_dir());

    // Sent again (an interrupted directory is sent again whole): the identical files are kept,
    // no numbered copies appear, and the manifest is verified again.
    std::fs::remove_file(src.join("data/.secret")).unwrap();
    let again =
        stt().args(["send", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap()]).arg(&src).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(tree_of(&out.join("project")), want, "no copies");
    drop(listener);

    // A listener that exits after one sender: the whole directory, then exit 0.
    let once_out = dir.path().join("once");
    let listener = Listener::start(
        &["--seed-file", seed.to_str().unwrap(), "--out", once_out.to_str().unwrap(), "--once"],
        Stdio::null(),
    );
    let sent =
        stt().args(["send", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap()]).arg(&src).output().unwrap();
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let (status, lines) = listener.wait(30);
    assert!(status.success(), "{lines:?}");
    assert_eq!(tree_of(&once_out.join("project")), want);

    // A listener that writes to stdout takes no directory.
    let listener = Listener::start(&["--seed-file", seed.to_str().unwrap(), "--stdout"], Stdio::null());
    let refused =
        stt().args(["send", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap()]).arg(&src).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("single files only"));
}

#[test]
fn a_large_file_killed_at_sixty_percent_resumes_and_sends_only_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let src = dir.path().join("large.bin");
    let size = 256u64 << 20;
    make_file(&src, size as usize);
    let out = dir.path().join("out");
    let listener =
        Listener::start(&["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap()], Stdio::null());
    let send = || {
        stt()
            .args(["send", "--json", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap()])
            .arg(&src)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The receiver's partial file grows; the sender is killed (no goodbye) once it holds 60%.
    let mut first = send();
    let partial_len = || -> u64 {
        std::fs::read_dir(out.join(".stt-receiving"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.starts_with("resume-") && name.ends_with(".partial")
                    })
                    .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while partial_len() < size * 6 / 10 {
        assert!(Instant::now() < deadline, "the transfer did not reach 60%");
        assert!(first.try_wait().unwrap().is_none(), "the first attempt ended before 60%: too fast to interrupt");
        std::thread::sleep(Duration::from_millis(2));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let held = partial_len();
    assert!(held < size, "killed before the end");
    assert!(!out.join("large.bin").exists(), "nothing is visible under the name before it is verified");

    let second = send().wait_with_output().unwrap();
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let report: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    let resumed = report["resumed_from"].as_u64().unwrap();
    let sent_again = size - resumed;
    println!("killed with {held} bytes at the receiver; resumed from {resumed}; sent again {sent_again} of {size}");
    assert!(sent_again * 100 <= size * 45, "at most 45% sent again: {sent_again} of {size}");
    assert_eq!(sha3_file(&out.join("large.bin")), sha3_file(&src), "the resumed file is the sender's file");
    // The resumed attempt took the partial file over from the dead sender's session at once,
    // without waiting for that session to time out.
    let lines: Vec<String> = listener.lines.try_iter().collect();
    assert!(lines.iter().any(|l| l.contains("taken over by the sender's resumed attempt")), "{lines:?}");
    drop(listener);
}

#[test]
fn the_documented_config_file_starts_a_listener_that_a_peers_file_sender_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/stt.example.toml")).unwrap();
    // The example's files, made here: its identity, its seeds, and a sender whose id replaces
    // the one the example gives its "laptop" peer.
    let (_, listener_id) = keygen_identity(dir.path(), "listener.key");
    let (sender_key, sender_id) = keygen_identity(dir.path(), "sender.key");
    let seed = write_seed(dir.path(), "seed.hex");
    write_seed(dir.path(), "backup-server.seed");
    let laptop_id = example.split("id = \"").nth(1).unwrap().split('"').next().unwrap();
    let config = dir.path().join("stt.toml");
    std::fs::write(&config, example.replace(laptop_id, &sender_id)).unwrap();
    std::fs::write(dir.path().join("sender.peers"), format!("{listener_id} seed.hex\n")).unwrap();
    let src = dir.path().join("note.txt");
    std::fs::write(&src, b"configured").unwrap();

    // Every setting from the file except the ports (free ones instead of 7400 and 7401).
    let listener = Listener::start(&["--config", config.to_str().unwrap(), "--ws-bind", "127.0.0.1:0"], Stdio::null());
    let sent = stt()
        .args(["send", "--to", &listener.addr, "--identity"])
        .arg(&sender_key)
        .arg("--peers")
        .arg(dir.path().join("sender.peers"))
        .args(["--peer-id", &listener_id])
        .arg(&src)
        .output()
        .unwrap();
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    assert_eq!(std::fs::read(dir.path().join("received/note.txt")).unwrap(), b"configured", "`out` of the file");

    // A node the file does not list is refused (the peers of the file are the allow-list).
    let (stranger_key, _) = keygen_identity(dir.path(), "stranger.key");
    let refused = stt()
        .args(["send", "--timeout", "3", "--to", &listener.addr, "--seed-file"])
        .arg(&seed)
        .arg("--identity")
        .arg(&stranger_key)
        .arg(&src)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("not allowed"), "a node the file does not list: {said}");
    drop(listener);

    // A malformed file: one line naming the key and the problem, exit 2.
    std::fs::write(&config, "bind = \"0.0.0.0:7400\"\nmax_size = \"ten gigabytes\"\n").unwrap();
    let out = stt().args(["--config"]).arg(&config).args(["listen"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(said.trim_end().lines().count(), 1, "{said}");
    assert!(said.contains("line 2") && said.contains("max_size"), "{said}");
}

#[test]
fn ping_reports_handshake_and_round_trip_times() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let listener = Listener::start(
        &["--seed-file", seed.to_str().unwrap(), "--out", dir.path().join("o").to_str().unwrap()],
        Stdio::null(),
    );
    let out = stt()
        .args(["ping", "--json", "--count", "2", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["handshakes"].as_array().unwrap().len(), 2);
    for round in report["handshakes"].as_array().unwrap() {
        let samples = round["rtt_samples_ms"].as_array().unwrap();
        assert_eq!(samples.len(), 3, "{report}");
        assert!(samples.iter().all(|s| s.as_f64().unwrap() > 0.0), "{report}");
        assert!(round["rtt_ms"].as_f64().unwrap() > 0.0 && round["handshake_ms"].as_f64().unwrap() > 0.0, "{report}");
    }
    for key in ["handshake_ms", "rtt_ms"] {
        let s = &report[key];
        assert!(s["min"].as_f64().unwrap() > 0.0 && s["min"].as_f64() <= s["max"].as_f64(), "{report}");
    }
    let text = stt()
        .args(["ping", "--count", "1", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("rtt (3 round trips) min/avg/max"), "{text:?}");
    // A wrong seed: exit 3.
    let other = write_seed(dir.path(), "other");
    let wrong = stt().args(["ping", "--to", &listener.addr, "--seed-file", other.to_str().unwrap()]).output().unwrap();
    assert_eq!(wrong.status.code(), Some(3));
}

#[test]
fn ping_resumes_with_tickets_kept_in_a_private_file_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let tickets = dir.path().join("tickets");
    let identity = dir.path().join("identity");
    let made = stt().args(["keygen", "--identity", "--out"]).arg(&identity).output().unwrap();
    assert!(made.status.success());
    let listener = Listener::start(
        &["--seed-file", seed.to_str().unwrap(), "--out", dir.path().join("o").to_str().unwrap()],
        Stdio::null(),
    );
    let ping = |count: &str| {
        let out = stt()
            .args(["ping", "--json", "--count", count, "--to", &listener.addr, "--seed-file", seed.to_str().unwrap()])
            .arg("--tickets")
            .arg(&tickets)
            .arg("--identity")
            .arg(&identity)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rounds = report["handshakes"].as_array().unwrap().clone();
        rounds.iter().map(|r| r["resumed"].as_bool().unwrap()).collect::<Vec<bool>>()
    };
    // The first run meets the listener, then resumes with the ticket each session gives.
    assert_eq!(ping("3"), [false, true, true]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tickets).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the tickets file is the owner's only");
    }
    // The next run (a new node, the same file) resumes from its first session.
    assert_eq!(ping("1"), [true]);
    // Without a lasting identity the file could serve nothing: said before any network work.
    let out = stt()
        .args(["ping", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap()])
        .arg("--tickets")
        .arg(&tickets)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a lasting identity"), "{out:?}");
    // A file that is not a tickets file: a clear error, exit 2, and the file is left alone.
    std::fs::write(&tickets, b"not tickets").unwrap();
    let out = stt()
        .args(["ping", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap()])
        .arg("--tickets")
        .arg(&tickets)
        .arg("--identity")
        .arg(&identity)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a tickets file"), "{out:?}");
    assert_eq!(std::fs::read(&tickets).unwrap(), b"not tickets");
}

#[test]
fn bench_sessions_holds_many_idle_sessions_and_reports_what_they_cost() {
    // Keepalives every second, so that the idle time holds some: each session's idle timeout is
    // then 4 s, shorter than the run, and a session that missed its keepalives would be gone.
    let args = ["bench", "--sessions", "1200", "--idle", "3", "--keepalive", "1", "--size", "4194304", "--json"];
    let out = stt().args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["sessions"], 1200, "{r}");
    assert_eq!(r["keepalive_seconds"], 1, "{r}");
    // Two client nodes (1,000 sessions each) in the clients' process, every session still alive
    // after the idle time at both ends, and each answers a PING.
    assert_eq!(r["alive_after_idle"]["clients"], 1200, "{r}");
    assert_eq!(r["alive_after_idle"]["listener"], 1200, "{r}");
    assert_eq!(r["alive_after_idle"]["answered_ping"], 1200, "{r}");
    assert!(r["established_per_second"].as_f64().unwrap() > 0.0, "{r}");
    // Each process measured its own memory.
    assert!(r["resident_bytes_per_session"]["listener"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["resident_bytes_per_session"]["clients"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["idle_cpu_percent_of_one_core"]["listener"].as_f64().is_some(), "{r}");
    assert_eq!(r["ping_ms"]["samples"], 200, "{r}");
    assert!(r["ping_ms"]["p99"].as_f64().unwrap() >= r["ping_ms"]["median"].as_f64().unwrap(), "{r}");
    assert!(r["bulk_mb_per_s"]["beside"].as_f64().unwrap() > 0.0, "{r}");
    // Five transfers each way; the figures are their medians.
    for (runs, median) in [("alone_runs", "alone"), ("beside_runs", "beside")] {
        let mut rates: Vec<f64> =
            r["bulk_mb_per_s"][runs].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(rates.len(), 5, "{r}");
        rates.sort_by(f64::total_cmp);
        assert_eq!(rates[2], r["bulk_mb_per_s"][median].as_f64().unwrap(), "{r}");
    }
    // The kernel's drops at the listener's socket, per phase (a count on Linux; null where the
    // kernel does not say).
    for phase in ["opening", "idle", "bulk_beside"] {
        let drops = &r["listener_socket_drops"][phase];
        assert!(drops.is_u64() || (!cfg!(target_os = "linux") && drops.is_null()), "{phase}: {r}");
    }
    // A mistake is found before any network work.
    let bad = stt().args(["bench", "--sessions", "10", "--streams", "2"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let no_keepalive = stt().args(["bench", "--sessions", "10", "--keepalive", "0"]).output().unwrap();
    assert_eq!(no_keepalive.status.code(), Some(2), "{}", String::from_utf8_lossy(&no_keepalive.stderr));
}

#[test]
fn bench_clients_only_runs_the_clients_half_against_a_listener_started_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let listener = Listener::start(&["--seed-file", seed.to_str().unwrap(), "--stdout"], Stdio::null());
    let out = stt()
        .args([
            "bench",
            "--sessions",
            "40",
            "--idle",
            "1",
            "--clients-only",
            "--to",
            &listener.addr,
            "--json",
            "--seed-file",
        ])
        .arg(&seed)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reports: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!((&reports[0]["report"], &reports[0]["sessions"]), (&"established".into(), &40.into()));
    assert_eq!((&reports[1]["report"], &reports[1]["alive"]), (&"measured".into(), &40.into()));
    assert_eq!(reports[1]["answered_ping"], 40, "{reports:?}");
    // Usage mistakes: no seed, nothing to run the clients of.
    let to = ["--to", listener.addr.as_str()];
    let no_seed = stt().args(["bench", "--sessions", "4", "--clients-only"]).args(to).output().unwrap();
    assert_eq!(no_seed.status.code(), Some(2), "{}", String::from_utf8_lossy(&no_seed.stderr));
    let nothing = stt().args(["bench", "--clients-only", "--seed-file"]).arg(&seed).args(to).output().unwrap();
    assert_eq!(nothing.status.code(), Some(2), "{}", String::from_utf8_lossy(&nothing.stderr));
}

#[test]
fn bench_churn_opens_uses_and_closes_sessions_and_the_listener_counters_add_up() {
    // The short version of the churn run (docs/BENCHMARKS.md has the ten-minute one): 10,000
    // sessions, each with a message and its answer; one in a hundred abandoned.
    let out = stt().args(["bench", "--churn", "10", "--rate", "1000", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["balanced"], true, "{r}");
    let (c, l) = (&r["clients"], &r["listener"]);
    assert_eq!((c["opened"].as_u64(), c["failed"].as_u64()), (Some(10_000), Some(0)), "{r}");
    assert_eq!((c["closed"].as_u64(), c["abandoned"].as_u64()), (Some(9_900), Some(100)), "{r}");
    assert_eq!(
        (l["established"].as_u64(), l["messages"].as_u64(), l["open_at_end"].as_u64()),
        (Some(10_000), Some(10_000), Some(0)),
        "{r}"
    );
    assert_eq!(l["ended"]["closed_by_peer"].as_u64(), Some(9_900), "{r}");
    let silent = l["ended"]["idle_timeout"].as_u64().unwrap() + l["ended"]["unreachable"].as_u64().unwrap();
    assert_eq!(silent, 100, "{r}");
    assert!(!r["resident_bytes"]["samples"].as_array().unwrap().is_empty(), "{r}");
}

#[test]
fn serve_store_and_fetch_move_content_by_address() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let file = dir.path().join("blob.bin");
    make_file(&file, 200_000);
    let store = dir.path().join("store");
    let mut child = stt()
        .args(["serve-store", "--bind", "127.0.0.1:0", "--seed-file", seed.to_str().unwrap(), "--add"])
        .arg(&file)
        .arg(&store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let address = line.split_whitespace().next().unwrap().to_string();
    let digest: String = Sha3_256::digest(std::fs::read(&file).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(address, digest, "the address is the SHA3-256");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut serving = String::new();
    stderr.read_line(&mut serving).unwrap();
    let addr = serving.split_whitespace().last().unwrap().to_string();

    let fetched = dir.path().join("fetched.bin");
    let out = stt()
        .args(["fetch", "--to", &addr, "--seed-file", seed.to_str().unwrap(), "--out"])
        .arg(&fetched)
        .arg(&address)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&fetched).unwrap(), std::fs::read(&file).unwrap());
    let missing = stt()
        .args(["fetch", "--to", &addr, "--seed-file", seed.to_str().unwrap()])
        .arg("ab".repeat(32))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not hold"));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn local_mistakes_are_reported_before_any_network_work() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    // Nothing listens there: reaching the network would end in a timeout (exit 4), not 2.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = silent.local_addr().unwrap().to_string();
    let out = stt()
        .args(["send", "--timeout", "30", "--to", &to, "--seed-file", seed.to_str().unwrap(), "missing.bin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read missing.bin"));
    let out = stt()
        .args(["send", "--to", "no-such-host.invalid:7400", "--seed-file", seed.to_str().unwrap()])
        .arg(&seed)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("no-such-host.invalid") && !said.contains("not a host:port"), "{said}");
    let out =
        stt().args(["fetch", "--to", &to, "--seed-file", seed.to_str().unwrap(), "not-an-address"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bench_json_is_one_object_with_the_figures() {
    let out = stt().args(["bench", "--json", "--size", "4194304", "--handshakes", "5"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["throughput"]["bytes"], 4194304);
    assert!(report["throughput"]["mb_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(report["handshakes"]["count"], 5);
}

#[test]
fn bench_measures_the_transfer_again_while_other_sessions_open() {
    let out = stt()
        .args(["bench", "--json", "--size", "67108864", "--handshakes", "0", "--connects-during", "64"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let during = &report["during_connects"];
    assert_eq!(during["sessions"], 64, "{report}");
    assert!(during["window_seconds"].as_f64().unwrap() > 0.0, "{report}");
    assert!(during["ratio_to_alone"].as_f64().unwrap() > 0.0, "{report}");
}

/// `-vvv` says why each datagram was dropped (which check failed, the session id its header
/// named), so that someone writing a new client sees what the listener thinks of its bytes.
#[test]
fn vvv_logs_why_a_datagram_was_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let out = dir.path().join("out");
    let listener = Listener::start(
        &["-vvv", "--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap()],
        Stdio::null(),
    );
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // A DATA frame header for session 0x0102030405060708, which the listener does not hold.
    let mut frame = vec![0x53, 0x54, 0x10];
    frame.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 24]);
    frame.extend_from_slice(&[0; 24]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let (mut malformed, mut unknown) = (false, false);
    while !(malformed && unknown) {
        assert!(Instant::now() < deadline, "no drop report in the listener's log: {seen:?}");
        socket.send_to(b"not an STT datagram", &listener.addr).unwrap();
        socket.send_to(&frame, &listener.addr).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        for line in listener.lines.try_iter() {
            malformed |= line.contains("dropped a datagram: malformed");
            unknown |= line.contains("dropped a datagram: unknown_session") && line.contains("0102030405060708");
            seen.push(line);
        }
    }
}

/// The review's scenario: senders of 20 MiB each to one listener, the listener killed with
/// SIGKILL 0.25 s in. Before, every sender waited for the 60 s idle timeout and exited 1; now each
/// notices the peer stopped answering and exits 4 ("timeout or unreachable"), within a few seconds
/// of the kill on a quiet machine. Probe timeouts scale with the round trips measured before the
/// kill, which twenty 20 MiB transfers into one listener on a loaded two-core machine stretched to
/// seconds (a run took 21 s, one in CI more than 55 s), so the test runs eight, and the bound
/// asserted is that every sender ends sooner than its idle timeout (60 s) could have ended it.
#[test]
fn senders_exit_four_within_seconds_when_the_listener_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let src = dir.path().join("data.bin");
    make_file(&src, 20 << 20);
    let out = dir.path().join("out");
    let mut listener =
        Listener::start(&["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap()], Stdio::null());
    // Eight senders: enough to have some mid-transfer and some waiting for an answer at the kill,
    // few enough that their own load does not inflate the round-trip times they measure (with
    // twenty on two cores, probe timeouts of several seconds each were seen).
    let senders: Vec<_> = (0..8)
        .map(|_| {
            stt()
                .args(["send", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap()])
                .arg(&src)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(250));
    listener.child.kill().unwrap();
    let killed = Instant::now();
    for mut sender in senders {
        let status = loop {
            if let Some(status) = sender.try_wait().unwrap() {
                break status;
            }
            assert!(killed.elapsed() < Duration::from_secs(90), "a sender still runs 90 s after the kill");
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = killed.elapsed();
        let mut said = String::new();
        sender.stderr.take().unwrap().read_to_string(&mut said).unwrap();
        // A sender that finished before the kill succeeded; any other exits 4 in time.
        if !status.success() {
            assert_eq!(status.code(), Some(4), "{said}");
            assert!(said.contains("stopped answering") || said.contains("idle timeout"), "{said}");
        }
        assert!(took < Duration::from_secs(55), "a sender ended {took:?} after the kill: {said}");
    }
}

/// Seed rotation by configuration reload: the listener reads its seed file again on SIGHUP and
/// takes the new seed at once; the old one is refused once `--seed-grace` has passed.
#[cfg(unix)]
#[test]
fn sighup_reloads_the_seed_and_the_old_one_is_refused_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let old = dir.path().join("old");
    std::fs::copy(&seed, &old).unwrap();
    let out = dir.path().join("out");
    let src = dir.path().join("small.txt");
    std::fs::write(&src, b"rotated").unwrap();
    let listener = Listener::start(
        &["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap(), "--seed-grace", "1"],
        Stdio::null(),
    );
    send_ok(&listener.addr, &old, &[&src]);

    // The operator writes a new seed into the same file and signals the listener.
    let new = write_seed(dir.path(), "new");
    std::fs::copy(&new, &seed).unwrap();
    let hup = std::process::Command::new("kill").args(["-HUP", &listener.child.id().to_string()]).status().unwrap();
    assert!(hup.success());
    let reload_line = |listener: &Listener| loop {
        let line = listener.lines.recv_timeout(Duration::from_secs(10)).expect("the listener reports the reload");
        if line.starts_with("reload:") {
            return line;
        }
    };
    let said = reload_line(&listener);
    assert!(said.contains("new shared seed in use"), "{said}");
    send_ok(&listener.addr, &new, &[&src]);

    std::thread::sleep(Duration::from_millis(1500));
    let refused = stt()
        .args(["send", "--to", &listener.addr, "--seed-file", old.to_str().unwrap(), src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(3), "{}", String::from_utf8_lossy(&refused.stderr));
    // A second signal with the file unchanged changes nothing.
    std::process::Command::new("kill").args(["-HUP", &listener.child.id().to_string()]).status().unwrap();
    let said = reload_line(&listener);
    assert!(said.contains("unchanged"), "{said}");
}

/// One HTTP/1.1 request to `addr`; the status line and the body.
fn http(addr: &str, request: &str) -> (String, Vec<u8>) {
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a whole answer") + 4;
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    (head.lines().next().unwrap_or("").to_string(), answer[split..].to_vec())
}

/// A stand-in for the built page in `dir/page` (the files `stt listen --web` checks for; the index
/// says `<p>page</p>`); returns the folder.
fn fake_page(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("page");
    std::fs::create_dir(&root).unwrap();
    for (name, body) in [("index.html", "<p>page</p>"), ("stt_web.js", "// module"), ("stt_web_bg.wasm", "\0asm")] {
        std::fs::write(root.join(name), body).unwrap();
    }
    root
}

/// The address of the page the listener prints (`scheme`: `http` or `https`).
fn page_address(listener: &Listener, scheme: &str) -> String {
    let prefix = format!("page for browsers at {scheme}://");
    loop {
        let line = listener.lines.recv_timeout(Duration::from_secs(20)).expect("the page's address is printed");
        if let Some(rest) = line.strip_prefix(&prefix) {
            return rest.split('/').next().unwrap().to_string();
        }
    }
}

#[test]
fn listen_web_serves_the_page_and_where_its_websocket_is_never_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let seed_hex = std::fs::read_to_string(&seed).unwrap();
    let root = fake_page(dir.path());
    std::fs::write(dir.path().join("secret"), "not served").unwrap();
    let seed_arg = seed.to_str().unwrap();
    let out = dir.path().join("out");
    let listener = Listener::start(
        &[
            "--ws-bind",
            "127.0.0.1:0",
            "--web",
            "127.0.0.1:0",
            "--web-root",
            root.to_str().unwrap(),
            "--seed-file",
            seed_arg,
            "--out",
            out.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    let ws = listener.ws.clone().expect("a WebSocket address");
    let page = page_address(&listener, "http");
    let (status, body) = http(&page, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((status.as_str(), &body[..]), ("HTTP/1.1 200 OK", &b"<p>page</p>"[..]));
    let (status, body) = http(&page, "GET /config.json HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let config: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(config["ws_port"].as_u64().unwrap().to_string(), ws.rsplit(':').next().unwrap());
    assert_eq!(config["node_id"].as_str().unwrap().len(), 64);
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains(seed_hex.trim()), "the seed is never served");
    for path in ["/../secret", "/..%2fsecret", "/.hidden", "/missing.js"] {
        let (status, _) = http(&page, &format!("GET {path} HTTP/1.1\r\n\r\n"));
        assert_eq!(status, "HTTP/1.1 404 Not Found", "{path}");
    }
    let (status, _) = http(&page, "POST / HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let (status, _) = http(&page, "GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(status, "HTTP/1.1 400 Bad Request", "no request carries a body");
    drop(listener);

    // Without a WebSocket to point at, or without a built page, the listener does not start.
    let no_ws = stt()
        .args(["listen", "--bind", "127.0.0.1:0", "--web", "127.0.0.1:0", "--seed-file", seed_arg])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(no_ws.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_ws.stderr).contains("--web needs --ws-bind"));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let unbuilt = stt()
        .args(["listen", "--bind", "127.0.0.1:0", "--ws-bind", "127.0.0.1:0", "--web", "127.0.0.1:0"])
        .args(["--web-root", empty.to_str().unwrap(), "--seed-file", seed_arg, "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(unbuilt.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unbuilt.stderr).contains("run stt-web/build-page"));
}

#[test]
fn listen_with_a_certificate_speaks_wss_and_serves_the_page_over_https() {
    use tokio_rustls::rustls;
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let root = fake_page(dir.path());
    let out = dir.path().join("out");
    let listener = Listener::start(
        &[
            "--ws-bind",
            "127.0.0.1:0",
            "--ws-cert",
            cert_file.to_str().unwrap(),
            "--ws-key",
            key_file.to_str().unwrap(),
            "--web",
            "127.0.0.1:0",
            "--web-root",
            root.to_str().unwrap(),
            "--seed-file",
            seed.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    assert!(listener.ws.as_deref().unwrap().starts_with("wss://"), "{:?}", listener.ws);
    let page = page_address(&listener, "https");
    // A client that trusts the certificate reads the page's configuration over TLS.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut tcp = std::net::TcpStream::connect(&page).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut stream = rustls::Stream::new(&mut tls, &mut tcp);
    stream.write_all(b"GET /config.json HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let config: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(config["tls"], true, "the page connects with wss://");
    // Plain HTTP gets no page.
    let mut plain = std::net::TcpStream::connect(&page).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    plain.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(!got.starts_with(b"HTTP/1.1 200"), "no page over plain HTTP");
    drop(listener);

    // A key that is not PEM is refused before the listener starts.
    let bad = stt()
        .args(["listen", "--bind", "127.0.0.1:0", "--ws-bind", "127.0.0.1:0", "--ws-cert", cert_file.to_str().unwrap()])
        .args([
            "--ws-key",
            seed.to_str().unwrap(),
            "--seed-file",
            seed.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--ws-cert / --ws-key"), "{bad:?}");
}
