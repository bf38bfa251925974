//! The `stt` binary, run as a user would: real processes, real sockets on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha3::{Digest, Sha3_256};

fn stt() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stt"))
}

fn write_seed(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let out = stt().arg("keygen").arg("--out").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    path
}

/// A running `stt listen`, with the address it printed and its stderr lines.
struct Listener {
    child: Child,
    addr: String,
    ws: Option<String>,
    lines: mpsc::Receiver<String>,
}

impl Listener {
    fn start(args: &[&str], stdout: Stdio) -> Listener {
        let mut child = stt()
            .arg("listen")
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = lines.recv_timeout(Duration::from_secs(20)).expect("listener prints its address");
        let mut words = first.split_whitespace();
        assert_eq!(words.next(), Some("listening"), "{first}");
        let addr = first.split_whitespace().nth(3).unwrap().to_string();
        let ws = first.split(" and ").nth(1).map(|w| w.trim().to_string());
        Listener { child, addr, ws, lines }
    }

    fn wait(mut self, secs: u64) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.lines.try_iter().collect());
            }
            if Instant::now() >= deadline {
                let said: Vec<String> = self.lines.try_iter().collect();
                panic!("listener did not exit within {secs} s; its stderr: {said:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha3_file(path: &Path) -> [u8; 32] {
    let mut h = Sha3_256::new();
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().into()
}

fn make_file(path: &Path, len: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
}

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
    let names: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("big.bin")]);
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
    send_ok(&listener.addr, &seed, &[&src]);
    assert_eq!(std::fs::read(out.join("report.txt")).unwrap(), b"the receiver's own report");
    assert_eq!(std::fs::read(out.join("report (1).txt")).unwrap(), b"the sender's report");
    assert_eq!(std::fs::read(out.join("report (2).txt")).unwrap(), b"the sender's report");
    assert!(!out.join(".stt-0011223344556677.partial").exists(), "leftovers are removed at start");
    let lines: Vec<String> = listener.lines.try_iter().collect();
    assert!(lines.iter().any(|l| l.contains("exists and was kept")), "{lines:?}");
    drop(listener);

    let listener = Listener::start(
        &["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap(), "--overwrite"],
        Stdio::null(),
    );
    send_ok(&listener.addr, &seed, &[&src]);
    assert_eq!(std::fs::read(out.join("report.txt")).unwrap(), b"the sender's report", "--overwrite replaces");
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
    let sent = stt()
        .args(["send", "--to", &listener.addr, "--seed-file", seed.to_str().unwrap(), src.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!sent.status.success(), "a name with an escape sequence is refused");
    let (_, lines) = listener.wait(30);
    let all = format!("{}{}", String::from_utf8_lossy(&sent.stderr), lines.join("\n"));
    assert!(!all.contains('\x1b'), "no raw escape reaches the terminal: {all:?}");
    assert!(all.contains("\\u{1b}"), "the escape is shown escaped: {all}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "nothing was stored");
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
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "no file and no partial file is left");
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
        .filter(|t| !matches!(t.as_str(), "--help" | "--verbose" | "--quiet" | "--version"))
        .collect()
}

#[test]
fn the_cli_page_documents_every_command_and_option_the_help_shows() {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/CLI.md")).unwrap();
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
    for code in ["| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |"] {
        assert!(page.contains(code), "exit code {code} documented");
    }
}
