//! Helpers shared by the tests that run the `stt` binary: the binary, keys, a running listener,
//! files of patterned bytes and what a listener left in its directory.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha3::{Digest, Sha3_256};

pub fn stt() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stt"))
}

pub fn write_seed(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let out = stt().arg("keygen").arg("--out").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    path
}

/// A running `stt listen`, with the address it printed and its stderr lines.
pub struct Listener {
    pub child: Child,
    pub addr: String,
    pub ws: Option<String>,
    pub lines: mpsc::Receiver<String>,
}

impl Listener {
    pub fn start(args: &[&str], stdout: Stdio) -> Listener {
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

    pub fn wait(mut self, secs: u64) -> (std::process::ExitStatus, Vec<String>) {
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

/// What a listener left in `out`: the names there (its private directory left out), and the
/// names in its private directory other than its secret (files in progress, kept partial files
/// and their records).
pub fn left_in(out: &Path) -> (Vec<String>, Vec<String>) {
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    let visible = names(out).into_iter().filter(|n| n != ".stt-receiving").collect();
    let in_progress = names(&out.join(".stt-receiving")).into_iter().filter(|n| n != "secret").collect();
    (visible, in_progress)
}

/// The bytes of a hex string (two digits a byte).
pub fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

/// The seed in a file `stt keygen` wrote (64 hex digits), for a node of the library.
pub fn seed_of(file: &Path) -> stt_tokio::Seed {
    stt_tokio::Seed::new(&from_hex(std::fs::read_to_string(file).unwrap().trim())).unwrap()
}

pub fn sha3_file(path: &Path) -> [u8; 32] {
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

pub fn make_file(path: &Path, len: usize) {
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
