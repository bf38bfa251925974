//! The key log, `stt decrypt` and the Wireshark dissector (`docs/wireshark/stt.lua`) on a real
//! capture: two nodes with the key log on talk through a UDP forwarder in this test that records
//! every datagram into a pcap (synthetic Ethernet, IPv4 and UDP headers); a third node with
//! another seed gets a REJECT through a second forwarder. The traffic has a handshake, stream
//! data (the second stream labeled), a custom frame, a name resolved, a key update and a
//! DISCONNECT. `stt decrypt` opens the
//! capture with the key log, and tshark with the dissector must show every handshake message
//! with its fields on the raw capture, and every frame type and every DATA frame's stream,
//! offset and length on the decrypted one. The one-round-trip handshake's messages are checked
//! on PROTOCOL.md's transcript vectors.
//!
//! Without tshark the tshark part is skipped (printed), unless `STT_REQUIRE_TSHARK=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::DataLink;
use stt_proto::crypto::SessionSecrets;
use stt_proto::wire::{self, Flags};
use stt_tokio::{Error, HandshakeError, NameQueueLimits, Node, NodeConfig, Seed, StreamMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

/// One recorded datagram: when, from, to, bytes.
type Record = (Duration, SocketAddr, SocketAddr, Vec<u8>);

/// Relays datagrams between the first client that writes to it and `server`, recording each.
async fn forwarder(server: SocketAddr, log: Arc<Mutex<Vec<Record>>>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut client: Option<SocketAddr> = None;
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else { return };
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
            let (src, dst, to) = if from == server {
                let Some(c) = client else { continue };
                (server, c, c)
            } else {
                client.get_or_insert(from);
                (from, server, server)
            };
            log.lock().unwrap().push((now, src, dst, buf[..n].to_vec()));
            let _ = sock.send_to(&buf[..n], to).await;
        }
    });
    (addr, task)
}

/// Ethernet + IPv4 + UDP around `payload`, UDP checksum 0.
fn synthetic_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else { panic!("loopback is IPv4 here") };
    let mut p = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src.ip().octets());
    ip.extend_from_slice(&dst.ip().octets());
    let mut sum: u32 = ip.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p.extend_from_slice(&ip);
    p.extend_from_slice(&src.port().to_be_bytes());
    p.extend_from_slice(&dst.port().to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

fn write_pcap(path: &Path, records: &[Record]) {
    let file = std::fs::File::create(path).unwrap();
    let header = PcapHeader { datalink: DataLink::ETHERNET, ..PcapHeader::default() };
    let mut w = PcapWriter::with_header(file, header).unwrap();
    for (t, src, dst, payload) in records {
        let p = synthetic_packet(*src, *dst, payload);
        w.write_packet(&PcapPacket::new(*t, p.len() as u32, &p)).unwrap();
    }
}

/// The UDP payloads of a pcap written by `write_pcap` or by `stt decrypt` from one.
fn udp_payloads(path: &Path) -> Vec<Vec<u8>> {
    let mut r = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let udp_len = u16::from_be_bytes([p.data[14 + 20 + 4], p.data[14 + 20 + 5]]) as usize;
        out.push(p.data[14 + 20 + 8..14 + 20 + udp_len].to_vec());
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn type_name(t: u8) -> String {
    match t {
        0x01 => "INIT".into(),
        0x02 => "CHALLENGE".into(),
        0x03 => "RESPONSE".into(),
        0x04 => "CONFIRM".into(),
        0x10 => "DATA".into(),
        0x11 => "STREAM_OPEN".into(),
        0x12 => "STREAM_CLOSE".into(),
        0x13 => "ACK".into(),
        0x14 => "KEEPALIVE".into(),
        0x15 => "DISCONNECT".into(),
        0x16 => "REJECT".into(),
        0x17 => "MAX_DATA".into(),
        0x18 => "PATH_CHALLENGE".into(),
        0x19 => "PATH_RESPONSE".into(),
        0x20 => "ENDPOINT_REGISTER".into(),
        0x21 => "ENDPOINT_RESOLVE".into(),
        0x22 => "ENDPOINT_ROUTE".into(),
        t => format!("CUSTOM 0x{t:02x}"),
    }
}

fn lua_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/wireshark/stt.lua")
}

/// tshark with the dissector on `capture`, the heuristic tried before port-based dissectors.
fn tshark(capture: &Path, args: &[&str]) -> String {
    let script = format!("lua_script:{}", lua_script().display());
    let out = Command::new("tshark")
        .args(["-X", &script, "-o", "udp.try_heuristic_first:TRUE", "-r"])
        .arg(capture)
        .args(args)
        .output()
        .expect("run tshark");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "tshark failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn tshark_available() -> bool {
    let found = Command::new("tshark").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found && std::env::var("STT_REQUIRE_TSHARK").as_deref() == Ok("1") {
        panic!("STT_REQUIRE_TSHARK=1 but tshark is not installed");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_capture_decrypts_with_the_key_log_and_the_dissector_shows_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let key_log = dir.path().join("keys.log");
    let seed = Seed::new(&[0x42; 32]).unwrap();
    let config = |seed: Seed| {
        let mut c = NodeConfig::new(seed).bind("127.0.0.1:0".parse().unwrap()).key_log(&key_log);
        // Rotations may follow each other quickly, so that the test sees one.
        c.endpoint.key_retention = Duration::from_millis(20);
        c
    };
    let server = Node::bind(config(seed.clone())).await.unwrap();
    let _name = server.serve_name("capture_sink", NameQueueLimits::default()).unwrap();
    let client = Node::bind(config(seed)).await.unwrap();
    let stranger = Node::bind(NodeConfig::new(Seed::new(&[0x17; 32]).unwrap()).bind("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();

    let records = Arc::new(Mutex::new(Vec::new()));
    let (via, relay) = forwarder(server.local_addr(), records.clone()).await;
    let (via_stranger, relay_stranger) = forwarder(server.local_addr(), records.clone()).await;

    // A REJECT: the stranger holds another seed.
    match stranger.connect(via_stranger).await {
        Err(Error::Handshake(HandshakeError::AuthenticationFailed)) => {}
        other => panic!("a node with another seed: {other:?}"),
    }

    let session = client.connect(via).await.unwrap();
    let accepted = server.accept().await.unwrap();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..2 {
            let mut s = accepted.accept_stream().await.unwrap();
            let mut v = Vec::new();
            s.read_to_end(&mut v).await.unwrap();
            got.push(v);
        }
        (accepted, got)
    });
    let first: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let mut s = session.open_stream(StreamMode::Reliable).unwrap();
    s.write_all(&first).await.unwrap();
    s.shutdown().await.unwrap();
    session.send_frame(0x81, &b"custom hello"[..]).unwrap();
    assert!(session.resolve("capture_sink").await.unwrap());
    tokio::time::sleep(Duration::from_millis(100)).await;
    session.rotate_keys().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = vec![7u8; 3000];
    let mut s2 = session.open_labeled_stream(StreamMode::Reliable, b"capture/second").unwrap();
    s2.write_all(&second).await.unwrap();
    s2.shutdown().await.unwrap();
    let (accepted, got) = tokio::time::timeout(Duration::from_secs(10), reader).await.unwrap().unwrap();
    assert_eq!(got, vec![first.clone(), second.clone()]);
    session.close(7, "capture done").await;
    let _ = tokio::time::timeout(Duration::from_secs(5), accepted.closed()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    relay.abort();
    relay_stranger.abort();

    // The key log: one line per session and node, both the same.
    let log = std::fs::read_to_string(&key_log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "client and server each logged the session once:\n{log}");
    assert_eq!(lines[0], lines[1]);
    let secrets = SessionSecrets::from_key_log_line(lines[0]).expect("a key-log line");
    assert_eq!(secrets.session_id, session.session_id());

    let raw = dir.path().join("raw.pcap");
    let decrypted = dir.path().join("decrypted.pcap");
    let records = records.lock().unwrap().clone();
    write_pcap(&raw, &records);

    let out = Command::new(env!("CARGO_BIN_EXE_stt"))
        .args(["decrypt", "--keylog"])
        .arg(&key_log)
        .arg(&raw)
        .arg(&decrypted)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("{stderr}");
    assert!(out.status.success(), "stt decrypt: {stderr}");

    // What the decrypted capture holds, read with the core's codec.
    let raw_payloads = udp_payloads(&raw);
    let plain = udp_payloads(&decrypted);
    assert_eq!(plain.len(), raw_payloads.len());
    let mut types = BTreeSet::new();
    let mut data_frames = BTreeSet::new();
    let mut generations = BTreeSet::new();
    let mut handshake = 0;
    let (mut opened, mut stream_bytes) = (0, BTreeMap::<u32, Vec<u8>>::new());
    for (before, after) in raw_payloads.iter().zip(&plain) {
        let datagram = if after.starts_with(b"STTD") {
            opened += 1;
            assert_eq!(after.len(), before.len() + 26);
            assert_eq!(after[10..18], secrets.session_id.to_be_bytes());
            generations.insert((after[5], u32::from_be_bytes(after[6..10].try_into().unwrap())));
            &after[26..]
        } else {
            assert_eq!(before, after, "a datagram not opened is copied unchanged");
            handshake += 1;
            &after[..]
        };
        for f in wire::frames(datagram) {
            let f = f.expect("frames parse");
            let t = f.header.frame_type.0;
            types.insert(t);
            if t == 0x10 {
                let offset = u64::from_be_bytes(f.payload[..8].try_into().unwrap());
                let len = f.payload.len() - 8;
                data_frames.insert((f.header.stream_id, offset, len));
                if f.header.flags.0 & Flags::MESSAGE == 0 {
                    let buf = stream_bytes.entry(f.header.stream_id).or_default();
                    let end = offset as usize + len;
                    if buf.len() < end {
                        buf.resize(end, 0);
                    }
                    buf[offset as usize..end].copy_from_slice(&f.payload[8..]);
                }
            }
        }
    }
    assert!(stderr.contains(&format!("decrypted {opened} of {} STT packets", plain.len())), "summary: {stderr}");
    assert_eq!(stream_bytes.get(&1), Some(&first), "stream 1 decrypted to what was written");
    assert_eq!(stream_bytes.get(&3), Some(&second), "stream 3 (after the key update) decrypted");
    for t in [0x01, 0x02, 0x03, 0x04, 0x16, 0x10, 0x11, 0x13, 0x14, 0x15, 0x20, 0x21, 0x81] {
        assert!(types.contains(&t), "frame type {t:#04x} in the capture: {types:x?}");
    }
    assert!(generations.contains(&(0, 1)), "a frame under the initiator's generation 1: {generations:?}");
    assert!(
        stderr.contains(&format!("({handshake} handshake, kept in the clear; 0 without a key")),
        "datagrams of handshake frames only are kept as they are, and every other one opened: {stderr}"
    );

    // STT_KEEP_CAPTURES=DIR keeps both captures and the key log, to open them in Wireshark.
    if let Some(keep) = std::env::var_os("STT_KEEP_CAPTURES") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        for (from, name) in [(&raw, "raw.pcap"), (&decrypted, "decrypted.pcap"), (&key_log, "keys.log")] {
            std::fs::copy(from, keep.join(name)).unwrap();
        }
    }

    if !tshark_available() {
        println!("tshark is not installed: the dissector part of this test is skipped");
        return;
    }

    // The raw capture: every handshake message with its cleartext fields, nothing decrypted.
    let v = tshark(&raw, &["-V"]);
    for name in ["INIT frame", "CHALLENGE frame", "RESPONSE frame", "CONFIRM frame", "REJECT frame"] {
        assert!(v.contains(name), "{name} in tshark -V of the raw capture");
    }
    for field in [
        "Handshake tag (session id field): 0x",
        "Version: 2",
        &format!("Node id (initiator): {}", hex(&client.node_id().0)),
        &format!("Node id (initiator): {}", hex(&stranger.node_id().0)),
        "Nonce (initiator): ",
        "Nonce (responder): ",
        "Suite count: ",
        "Suite: AES-256-GCM (0x01)",
        "Suite: ChaCha20-Poly1305 (0x02)",
        "Static key (responder): ",
        "Cookie time (ns): ",
        "Cookie MAC: ",
        "Ephemeral key (initiator): ",
        "Encrypted static key (initiator): ",
        "Seed MAC: ",
        "Ephemeral key (responder): ",
        "Extensions length: 0",
        "Extensions length: 4",
        "Extension: stream labels (0x0001)",
        "Reject reason: authentication failed (different shared seed) (1)",
        &format!("Session id: 0x{:016x}", secrets.session_id),
        "Encrypted payload: ",
        "Packet number: ",
    ] {
        assert!(v.contains(field), "{field:?} in tshark -V of the raw capture");
    }
    assert!(!v.contains("decrypted"), "the raw capture shows nothing decrypted");
    let head: String =
        v.lines().filter(|l| l.contains("frame, ") || l.contains("Node id")).take(12).collect::<Vec<_>>().join("\n");
    println!("tshark -V on the raw capture (excerpt):\n{head}");

    // The decrypted capture: every DATA frame's stream, offset and length; every frame type.
    let fields = tshark(
        &decrypted,
        &["-T", "fields", "-e", "sttp.data.stream", "-e", "sttp.data.offset", "-e", "sttp.data.length"],
    );
    let mut shown = BTreeSet::new();
    for line in fields.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<Vec<&str>> = line.split('\t').map(|c| c.split(',').collect()).collect();
        assert_eq!(cols.len(), 3, "{line}");
        assert!(cols[0].len() == cols[1].len() && cols[1].len() == cols[2].len(), "{line}");
        for ((stream, offset), len) in cols[0].iter().zip(&cols[1]).zip(&cols[2]) {
            shown.insert((stream.parse().unwrap(), offset.parse().unwrap(), len.parse().unwrap()));
        }
    }
    assert_eq!(shown, data_frames, "tshark shows every DATA frame's stream, offset and length");
    let names = tshark(&decrypted, &["-T", "fields", "-e", "sttp.type_name"]);
    let names: BTreeSet<&str> = names.lines().flat_map(|l| l.split(',')).map(str::trim).collect();
    for t in &types {
        assert!(names.contains(type_name(*t).as_str()), "frame type {} shown after decrypt: {names:?}", type_name(*t));
    }
    let v = tshark(&decrypted, &["-V"]);
    for field in [
        "STT Protocol (decrypted)",
        "Direction: initiator to responder (0)",
        "Key generation: 1",
        "Mode: reliable (0)",
        "ACK delay (us): ",
        "Range count: ",
        "Reason: capture done",
        "Custom payload: 637573746f6d2068656c6c6f",
        &format!("Name address: {}", hex(&stt_tokio::NameAddress::of("capture_sink").0)),
        "Status: OK (0)",
    ] {
        assert!(v.contains(field), "{field:?} in tshark -V of the decrypted capture");
    }
    let info = tshark(&decrypted, &[]);
    let excerpt: Vec<&str> = info.lines().filter(|l| l.contains("[decrypted]")).take(8).collect();
    println!("tshark on the decrypted capture (excerpt):\n{}", excerpt.join("\n"));
    assert!(info.contains("DATA stream=1 offset=0 len="), "summary line of DATA");
    assert!(info.contains("STREAM_OPEN stream=3 label=capture/second"), "summary line of a labeled STREAM_OPEN");
}

/// The one-round-trip handshake's INIT and CONFIRM of version 3 (`docs/PROTOCOL.md` §4.9), taken
/// from the document's transcript vectors: tshark with the dissector shows their fields.
#[test]
fn the_dissector_shows_the_one_round_trip_handshake() {
    if !tshark_available() {
        println!("tshark is not installed: this test is skipped");
        return;
    }
    let doc = include_str!("../../../docs/PROTOCOL.md");
    let vector = |name: &str| -> Vec<u8> {
        let line = doc.lines().find(|l| l.starts_with(&format!("{name}: "))).expect("the vector is in PROTOCOL.md");
        let h = &line[name.len() + 2..];
        (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect()
    };
    let (a, b): (SocketAddr, SocketAddr) = ("192.0.2.1:1000".parse().unwrap(), "192.0.2.2:2000".parse().unwrap());
    let records = vec![
        (Duration::from_secs(1), a, b, vector("fast_transcript_init")),
        (Duration::from_secs(1), b, a, vector("fast_transcript_confirm")),
    ];
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("fast.pcap");
    write_pcap(&capture, &records);
    let v = tshark(&capture, &["-V"]);
    for field in [
        "INIT frame",
        "CONFIRM frame",
        "Version: 3",
        "Suite count: 2",
        "Static key (responder): ",
        "Ephemeral key (initiator): ",
        "Encrypted static key (initiator): ",
        "Seed MAC: ",
        "Nonce (responder): ",
        "Ephemeral key (responder): ",
        "Extensions length: 4",
        "Extension: stream labels (0x0001)",
    ] {
        assert!(v.contains(field), "{field:?} in tshark -V:\n{v}");
    }
    assert_eq!(v.matches("Handshake tag (session id field): 0x").count(), 2, "both carry the tag:\n{v}");
    assert!(!v.contains("Session id: 0x"), "neither carries a session id:\n{v}");
}
