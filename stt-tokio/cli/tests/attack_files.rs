//! Attacks on what `stt listen` writes and how much work a peer can make it do, each through the
//! public interface (the `stt` binary as a process; the peer's side through the library where
//! it sends what the tool never would), each beside an honest transfer that still works.
//!
//! - a local user who plants links where the listener writes (the partial file of a cut
//!   transfer, the private directory, the final name) gets nothing written through them and
//!   learns nothing of the files they point to;
//! - a peer with the seed cannot make the listener create more directories than its limits
//!   allow, nor hash a stored file again for every manifest that lists it.

mod tool;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use stt_cli::transfer::{self, ManifestEntry, PRIVATE_DIR};
use stt_tokio::{Node, NodeConfig, Session};
use tool::*;

/// The kept partial files of resumable transfers in the listener's private directory.
fn kept_partials(out: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(out.join(PRIVATE_DIR))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap().to_string_lossy();
                    name.starts_with("resume-") && name.ends_with(".partial")
                })
                .collect()
        })
        .unwrap_or_default()
}

fn send(addr: &str, seed: &Path, path: &Path) -> std::process::Child {
    stt()
        .args(["send", "--json", "--to", addr, "--seed-file", seed.to_str().unwrap()])
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Starts sending `src` and kills the sender once the listener's partial file holds `bytes`.
fn send_and_kill_at(listener: &Listener, seed: &Path, src: &Path, out: &Path, bytes: u64) {
    let mut first = send(&listener.addr, seed, src);
    let deadline = Instant::now() + Duration::from_secs(120);
    while kept_partials(out).iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum::<u64>() < bytes {
        assert!(Instant::now() < deadline, "the transfer did not reach {bytes} bytes");
        assert!(first.try_wait().unwrap().is_none(), "the first attempt ended too soon to interrupt");
        std::thread::sleep(Duration::from_millis(2));
    }
    first.kill().unwrap();
    first.wait().unwrap();
}

fn resumed_from(report: &std::process::Output) -> u64 {
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    json["resumed_from"].as_u64().unwrap()
}

/// The reproduction of the review: a transfer is cut, a local user replaces its partial file
/// with a link (a symbolic link, then a hard link) to a file of theirs, the sender runs again.
/// Before the fix the second run wrote the sent file through the link and the resume offer
/// gave the sender the length and SHA3-256 of the victim's contents.
#[cfg(unix)]
#[test]
fn a_link_planted_in_place_of_a_partial_file_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let src = dir.path().join("report.bin");
    let size = 96u64 << 20;
    make_file(&src, size as usize);
    let out = dir.path().join("out");
    let victim = dir.path().join("victim.conf");
    let victim_bytes = b"the operator's configuration, which no transfer may touch\n".repeat(1000);
    std::fs::write(&victim, &victim_bytes).unwrap();
    let listener =
        Listener::start(&["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap()], Stdio::null());

    for hard in [false, true] {
        send_and_kill_at(&listener, &seed, &src, &out, 8 << 20);
        let partials = kept_partials(&out);
        assert_eq!(partials.len(), 1, "one kept partial file: {partials:?}");
        std::fs::remove_file(&partials[0]).unwrap();
        if hard {
            std::fs::hard_link(&victim, &partials[0]).unwrap();
        } else {
            std::os::unix::fs::symlink(&victim, &partials[0]).unwrap();
        }
        // Where versions before the private directory kept it, too.
        let legacy = out.join(format!(".stt-resume-{}", partials[0].file_name().unwrap().to_string_lossy()));
        let _ = std::os::unix::fs::symlink(&victim, &legacy);

        let second = send(&listener.addr, &seed, &src).wait_with_output().unwrap();
        assert_eq!(resumed_from(&second), 0, "nothing is resumed from a file the listener did not write");
        assert_eq!(std::fs::read(&victim).unwrap(), victim_bytes, "the victim file is untouched");
        // The second round sends the same bytes as the first: they are the file stored then.
        assert!(!out.join("report (1).bin").exists(), "the same file sent again adds no copy");
        let placed = std::fs::symlink_metadata(out.join("report.bin")).unwrap();
        assert!(placed.file_type().is_file(), "the stored file is a regular file, not a link");
        assert_eq!(sha3_file(&out.join("report.bin")), sha3_file(&src), "the honest transfer arrives intact");
        assert!(kept_partials(&out).is_empty(), "the partial file became the stored file");
        let _ = std::fs::remove_file(&legacy);
    }
}

/// A link in place of the private directory, and a link at the name the file is stored under:
/// neither is followed; the transfer that would go through the first is refused with a reason,
/// the second stores the file beside the link.
#[cfg(unix)]
#[test]
fn a_link_at_the_private_directory_or_the_final_name_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let out = dir.path().join("out");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let victim = dir.path().join("victim.conf");
    std::fs::write(&victim, b"keep me").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("notes.txt")).unwrap();
    let src = dir.path().join("notes.txt");
    std::fs::write(&src, b"the sender's notes").unwrap();
    let listener =
        Listener::start(&["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap()], Stdio::null());
    // While it runs, its private directory is replaced by a link. (A listener that finds one
    // at start refuses to start, naming it.)
    // The listener's sweep of leftovers (at start, then now and then) creates the directory if it
    // is missing: it may do so between the removal and the link, so try again until the link is
    // in place.
    let mut placed = false;
    for _ in 0..100 {
        let _ = std::fs::remove_dir_all(out.join(PRIVATE_DIR));
        if std::os::unix::fs::symlink(&elsewhere, out.join(PRIVATE_DIR)).is_ok() {
            placed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(placed, "the private directory was replaced by a link");

    let refused = send(&listener.addr, &seed, &src).wait_with_output().unwrap();
    assert!(!refused.status.success(), "a private directory that is a link is refused");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("not a directory"), "the sender is told why: {said}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing was written through the link");

    std::fs::remove_file(out.join(PRIVATE_DIR)).unwrap();
    let sent = send(&listener.addr, &seed, &src).wait_with_output().unwrap();
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me", "the link's target is untouched");
    assert_eq!(std::fs::read(out.join("notes (1).txt")).unwrap(), b"the sender's notes");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join(PRIVATE_DIR)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the private directory is the listener's alone");
}

/// A node holding the listener's seed, connected to it.
async fn peer_of(listener_addr: &str, seed_file: &Path) -> (Node, Session) {
    let config = NodeConfig::new(seed_of(seed_file)).bind("127.0.0.1:0".parse().unwrap());
    let node = Node::bind(config).await.unwrap();
    let session = node.connect(listener_addr.parse::<std::net::SocketAddr>().unwrap()).await.unwrap();
    (node, session)
}

/// The review's manifest: 200,001 empty directories, 1.9 MB, against `--max-size 1`. Before
/// the fix the listener created every one of them and answered "verified".
#[test]
fn a_manifest_past_the_limits_is_refused_before_any_directory_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let out = dir.path().join("out");
    let listener = Listener::start(
        &["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap(), "--max-size", "1"],
        Stdio::null(),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_node, session) = peer_of(&listener.addr, &seed).await;
        let entries: Vec<ManifestEntry> =
            (0..200_001).map(|i| ManifestEntry::Directory { path: format!("top/d{i}") }).collect();
        let refused = transfer::send_manifest(&session, "top", &entries).await;
        match refused {
            Err(transfer::TransferError::Rejected { status: transfer::Status::TooLarge, message }) => {
                println!("refused: {message}")
            }
            other => panic!("the manifest is refused as too large: {other:?}"),
        }
        // Within the entry limit, but each directory counts against --max-size 1.
        let few: Vec<ManifestEntry> = (0..10).map(|i| ManifestEntry::Directory { path: format!("top/d{i}") }).collect();
        let refused = transfer::send_manifest(&session, "top", &few).await;
        assert!(
            matches!(refused, Err(transfer::TransferError::Rejected { status: transfer::Status::TooLarge, .. })),
            "{refused:?}"
        );
    });
    assert!(!out.join("top").exists(), "no directory was made");
    // An honest one-byte file still arrives.
    let src = dir.path().join("one.txt");
    std::fs::write(&src, b"1").unwrap();
    let sent = send(&listener.addr, &seed, &src).wait_with_output().unwrap();
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    assert_eq!(std::fs::read(out.join("one.txt")).unwrap(), b"1");
}

/// CPU seconds (user + system) the process `pid` has used (Linux: /proc/PID/stat, in ticks of
/// 1/100 s).
#[cfg(target_os = "linux")]
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()) as f64 / 100.0
}

/// The review's five 60-byte manifests each made the listener hash a 512 MiB file again. A
/// manifest is now checked against what the listener recorded when it stored the file: twenty
/// manifests listing a 64 MiB file (1.3 GB of hashing before the fix, several CPU seconds) cost
/// the listener less CPU than hashing the file once more would.
#[cfg(target_os = "linux")]
#[test]
fn manifests_listing_a_stored_file_do_not_make_the_listener_read_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let seed = write_seed(dir.path(), "seed");
    let out = dir.path().join("out");
    let src = dir.path().join("big.bin");
    let size = 64u64 << 20;
    make_file(&src, size as usize);
    let digest = sha3_file(&src);
    let listener =
        Listener::start(&["--seed-file", seed.to_str().unwrap(), "--out", out.to_str().unwrap()], Stdio::null());
    let pid = listener.child.id();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spent = rt.block_on(async {
        let (_node, session) = peer_of(&listener.addr, &seed).await;
        transfer::send_file(&session, "top/big.bin", &src, |_| {}).await.unwrap();
        let entries = [ManifestEntry::File { path: "top/big.bin".into(), len: size, digest }];
        let before = cpu_seconds(pid);
        for _ in 0..20 {
            transfer::send_manifest(&session, "top", &entries).await.unwrap();
        }
        cpu_seconds(pid) - before
    });
    // Hashing 64 MiB with SHA3-256 takes ~0.15 s of CPU here; twenty times, ~3 s.
    println!("twenty manifests cost the listener {spent:.2} CPU seconds");
    assert!(spent < 0.15, "the listener read the file again for the manifests: {spent:.2} CPU seconds");
}
