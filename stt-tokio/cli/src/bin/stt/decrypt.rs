//! `stt decrypt`: decrypts the STT packets of a capture with a key log, for Wireshark.
//!
//! It owns the capture side of the key log: reading the log (`STT_SESSION_SECRETS` lines,
//! `docs/PROTOCOL.md` section 14), walking a pcap or pcapng capture down to its UDP datagrams
//! (Ethernet, Linux cooked v1 and v2, raw IP, BSD loopback; IPv4 and IPv6), opening each STT
//! datagram with the core's own frame parser and AEAD (`stt_proto::wire::open_frame`), and
//! writing a pcap in which every datagram it opened is replaced by its marked plaintext with IP
//! and UDP lengths fixed up. It also applies `STT_KEYLOGFILE` to the tool's node configuration.
//!
//! A decrypted datagram is `"STTD" || version (1) = 1 || direction (1: 0 initiator to responder,
//! 1 responder to initiator) || key generation (4) || session id (8) || packet number of its first
//! encrypted frame (8)` followed by the original datagram with each encrypted frame's payload
//! replaced by its plaintext (same length; header, packet number and tag kept). `"ST"` followed by
//! `0x54` is never an STT frame (0x54 is an undefined frame type), so the two cannot be confused.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, TsResolution};
use stt_proto::crypto::{CryptoBackend, PacketKey, SessionSecrets, TrafficSecret, KEY_LOG_LABEL};
use stt_proto::wire::{self, Flags};
use stt_tokio::NodeConfig;

use crate::Failure;

/// The environment variable that makes the tool's nodes write a key log.
pub(crate) const KEY_LOG_ENV: &str = "STT_KEYLOGFILE";

/// The marker that starts a decrypted datagram.
pub(crate) const DECRYPTED_MAGIC: [u8; 4] = *b"STTD";
const DECRYPTED_VERSION: u8 = 1;
const DECRYPTED_PREFIX_LEN: usize = 26;

/// Largest packet the output capture declares it may hold.
const OUT_SNAPLEN: u32 = 262_144;

/// How far past the last generation that opened a frame a direction is searched.
const GENERATION_LOOKAHEAD: u32 = 2;

/// `stt decrypt` arguments.
#[derive(clap::Args)]
pub(crate) struct DecryptArgs {
    /// The key log: the lines nodes wrote with STT_KEYLOGFILE set (or NodeConfig::key_log).
    #[arg(long, value_name = "FILE")]
    keylog: PathBuf,
    /// The capture to read (pcap or pcapng).
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// The capture to write (pcap; replaced if it exists).
    #[arg(value_name = "OUT")]
    output: PathBuf,
}

/// What can go wrong, each with the file it concerns. All are exit code 2.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecryptError {
    #[error("cannot read the key log {}: {source}", path.display())]
    KeyLogRead { path: PathBuf, source: std::io::Error },
    #[error("key log {} line {line}: malformed {KEY_LOG_LABEL} line", path.display())]
    KeyLogLine { path: PathBuf, line: usize },
    #[error("key log {} has no {KEY_LOG_LABEL} line", path.display())]
    KeyLogEmpty { path: PathBuf },
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{} is not a pcap or pcapng capture", path.display())]
    NotACapture { path: PathBuf },
    #[error("{} is not a readable capture: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{}: link type {link:?} is not supported (Ethernet, Linux cooked, raw IP and loopback are)", path.display())]
    LinkType { path: PathBuf, link: DataLink },
    #[error("{}: its interfaces have different link types; a pcap output holds one", path.display())]
    MixedLinkTypes { path: PathBuf },
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}

impl From<DecryptError> for Failure {
    fn from(e: DecryptError) -> Self {
        Failure::new(2, e.to_string())
    }
}

/// Sets the key log of `cfg` from `STT_KEYLOGFILE`, if that is set and not empty.
pub(crate) fn key_log_from_env(cfg: NodeConfig) -> NodeConfig {
    match std::env::var_os(KEY_LOG_ENV) {
        Some(path) if !path.is_empty() => cfg.key_log(PathBuf::from(path)),
        _ => cfg,
    }
}

/// Runs `stt decrypt`.
pub(crate) fn run(args: &DecryptArgs) -> Result<(), Failure> {
    let mut keys = read_key_log(&args.keylog)?;
    let capture = read_capture(&args.input)?;
    let mut counts = Counts::default();
    let mut out = Vec::with_capacity(capture.packets.len());
    for p in capture.packets {
        let data = rewrite(capture.link, &p.data, p.orig_len, &mut keys, &mut counts).unwrap_or(p.data);
        let orig_len = p.orig_len.max(data.len() as u32);
        out.push(Packet { timestamp: p.timestamp, orig_len, data });
    }
    write_capture(&args.output, capture.link, capture.ts_resolution, &out)?;
    let mut line = format!(
        "stt decrypt: decrypted {} of {} STT packets ({} handshake, kept in the clear; {} without a key in the log or not opening)",
        counts.decrypted, counts.stt, counts.handshake, counts.unopened
    );
    if counts.tcp > 0 {
        line.push_str(&format!(
            "; {} TCP packets copied unchanged (STT over WebSocket is not decrypted: capture UDP)",
            counts.tcp
        ));
    }
    line.push_str(&format!("; wrote {}", args.output.display()));
    eprintln!("{line}");
    Ok(())
}

#[derive(Default)]
struct Counts {
    stt: u64,
    decrypted: u64,
    handshake: u64,
    unopened: u64,
    tcp: u64,
}

// ---- the key log ------------------------------------------------------------------------------

/// One direction's chain of traffic secrets, derived as far as frames need.
struct Chain {
    secrets: Vec<TrafficSecret>,
    keys: Vec<PacketKey>,
    /// Highest generation that opened a frame.
    current: u32,
}

impl Chain {
    fn new(secret0: TrafficSecret) -> Chain {
        Chain { secrets: vec![secret0], keys: Vec::new(), current: 0 }
    }

    fn key(&mut self, secrets: &SessionSecrets, generation: u32) -> &PacketKey {
        let g = generation as usize;
        while self.secrets.len() <= g {
            let next = self.secrets.last().expect("generation 0 is always there").next();
            self.secrets.push(next);
        }
        while self.keys.len() <= g {
            let k = self.secrets[self.keys.len()].packet_key(secrets.suite, CryptoBackend::Fastest);
            self.keys.push(k);
        }
        &self.keys[g]
    }

    /// Generations to try for a frame with key phase `phase`, most likely first.
    fn candidates(&self, phase: bool) -> Vec<u32> {
        let c = self.current;
        let mut out = Vec::with_capacity(4);
        if (c % 2 == 1) == phase {
            out.push(c);
            out.push(c + GENERATION_LOOKAHEAD);
            if c >= 2 {
                out.push(c - 2);
            }
        } else {
            out.push(c + 1);
            if c >= 1 {
                out.push(c - 1);
            }
        }
        out
    }
}

struct SessionKeys {
    secrets: SessionSecrets,
    /// Initiator to responder, responder to initiator.
    chains: [Chain; 2],
}

fn read_key_log(path: &Path) -> Result<HashMap<u64, SessionKeys>, DecryptError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| DecryptError::KeyLogRead { path: path.into(), source })?;
    let mut keys = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.split_ascii_whitespace().next() != Some(KEY_LOG_LABEL) {
            // Blank lines, comments and other programs' labels (a shared SSLKEYLOGFILE).
            continue;
        }
        let s = SessionSecrets::from_key_log_line(trimmed)
            .ok_or_else(|| DecryptError::KeyLogLine { path: path.into(), line: n + 1 })?;
        let chains = [Chain::new(s.initiator_to_responder().clone()), Chain::new(s.responder_to_initiator().clone())];
        // Both ends of a session may log it: the lines are the same.
        keys.entry(s.session_id).or_insert(SessionKeys { secrets: s, chains });
    }
    if keys.is_empty() {
        return Err(DecryptError::KeyLogEmpty { path: path.into() });
    }
    Ok(keys)
}

// ---- captures ---------------------------------------------------------------------------------

struct Packet {
    timestamp: Duration,
    orig_len: u32,
    data: Vec<u8>,
}

struct Capture {
    link: DataLink,
    ts_resolution: TsResolution,
    packets: Vec<Packet>,
}

fn read_capture(path: &Path) -> Result<Capture, DecryptError> {
    let open =
        |path: &Path| std::fs::File::open(path).map_err(|source| DecryptError::Open { path: path.into(), source });
    let mut magic = [0u8; 4];
    open(path)?.read_exact(&mut magic).map_err(|_| DecryptError::NotACapture { path: path.into() })?;
    let corrupt = |e: pcap_file::PcapError| DecryptError::Corrupt { path: path.into(), reason: e.to_string() };
    let reader = BufReader::new(open(path)?);
    let capture = match magic {
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] | [0x4d, 0x3c, 0xb2, 0xa1] => {
            let mut r = PcapReader::new(reader).map_err(corrupt)?;
            let header = r.header();
            let mut packets = Vec::new();
            while let Some(p) = r.next_packet() {
                let p = p.map_err(corrupt)?;
                packets.push(Packet { timestamp: p.timestamp, orig_len: p.orig_len, data: p.data.into_owned() });
            }
            Capture { link: header.datalink, ts_resolution: header.ts_resolution, packets }
        }
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            let mut r = PcapNgReader::new(reader).map_err(corrupt)?;
            let mut link = None;
            let mut packets = Vec::new();
            while let Some(block) = r.next_block() {
                let (timestamp, orig_len, data) = match block.map_err(corrupt)? {
                    Block::InterfaceDescription(i) => {
                        if link.is_some_and(|l| l != i.linktype) {
                            return Err(DecryptError::MixedLinkTypes { path: path.into() });
                        }
                        link = Some(i.linktype);
                        continue;
                    }
                    Block::EnhancedPacket(p) => (p.timestamp, p.original_len, p.data.into_owned()),
                    Block::SimplePacket(p) => (Duration::ZERO, p.original_len, p.data.into_owned()),
                    _ => continue,
                };
                packets.push(Packet { timestamp, orig_len, data });
            }
            let link = link.unwrap_or(DataLink::ETHERNET);
            Capture { link, ts_resolution: TsResolution::NanoSecond, packets }
        }
        _ => return Err(DecryptError::NotACapture { path: path.into() }),
    };
    if !matches!(
        capture.link,
        DataLink::ETHERNET
            | DataLink::LINUX_SLL
            | DataLink::LINUX_SLL2
            | DataLink::RAW
            | DataLink::IPV4
            | DataLink::IPV6
            | DataLink::NULL
            | DataLink::LOOP
    ) {
        return Err(DecryptError::LinkType { path: path.into(), link: capture.link });
    }
    Ok(capture)
}

fn write_capture(path: &Path, link: DataLink, ts: TsResolution, packets: &[Packet]) -> Result<(), DecryptError> {
    let fail = |reason: String| DecryptError::Write { path: path.into(), reason };
    let file = std::fs::File::create(path).map_err(|e| fail(e.to_string()))?;
    let header = PcapHeader { datalink: link, ts_resolution: ts, snaplen: OUT_SNAPLEN, ..PcapHeader::default() };
    let mut w = PcapWriter::with_header(BufWriter::new(file), header).map_err(|e| fail(e.to_string()))?;
    for p in packets {
        let data = &p.data[..p.data.len().min(OUT_SNAPLEN as usize)];
        w.write_packet(&PcapPacket::new(p.timestamp, p.orig_len, data)).map_err(|e| fail(e.to_string()))?;
    }
    let mut inner = w.into_writer();
    std::io::Write::flush(&mut inner).map_err(|e| fail(e.to_string()))
}

// ---- link, IP and UDP -------------------------------------------------------------------------

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Where the IP packet starts and which version it is.
fn ip_start(link: DataLink, d: &[u8]) -> Option<(usize, u8)> {
    let by_ethertype = |ethertype: u16, at: usize| match ethertype {
        0x0800 => Some((at, 4)),
        0x86dd => Some((at, 6)),
        _ => None,
    };
    match link {
        DataLink::ETHERNET => {
            let (mut at, mut ethertype) = (14, be16(d, 12)?);
            while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
                ethertype = be16(d, at + 2)?;
                at += 4;
            }
            by_ethertype(ethertype, at)
        }
        DataLink::LINUX_SLL => by_ethertype(be16(d, 14)?, 16),
        DataLink::LINUX_SLL2 => by_ethertype(be16(d, 0)?, 20),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Some((0, d.first()? >> 4)),
        DataLink::NULL | DataLink::LOOP => {
            let family: [u8; 4] = d.get(0..4)?.try_into().ok()?;
            // NULL is in the capturing host's byte order, LOOP in network order.
            let family = if link == DataLink::LOOP || family[0] == 0 {
                u32::from_be_bytes(family)
            } else {
                u32::from_le_bytes(family)
            };
            match family {
                2 => Some((4, 4)),
                24 | 28 | 30 => Some((4, 6)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A UDP datagram inside a captured packet.
struct Udp {
    ip: usize,
    v6: bool,
    /// Where the UDP header starts.
    udp: usize,
    /// Its payload's end (the UDP length, checked against the IP length and the captured bytes).
    end: usize,
}

enum Transport {
    Udp(Udp),
    Tcp,
    Other,
}

fn locate(link: DataLink, d: &[u8]) -> Transport {
    let Some((ip, version)) = ip_start(link, d) else { return Transport::Other };
    let found = match version {
        4 => (|| {
            let ihl = usize::from(d.get(ip)? & 0x0f) * 4;
            let total = usize::from(be16(d, ip + 2)?);
            if ihl < 20 || total < ihl || d.len() < ip + total {
                return None;
            }
            let fragmented = be16(d, ip + 6)? & 0x3fff != 0;
            match d[ip + 9] {
                6 => Some(Transport::Tcp),
                17 if !fragmented => Some(udp_at(d, ip, false, ip + ihl, ip + total)?),
                _ => None,
            }
        })(),
        6 => (|| {
            let total = 40 + usize::from(be16(d, ip + 4)?);
            if d.len() < ip + total {
                return None;
            }
            match d[ip + 6] {
                6 => Some(Transport::Tcp),
                17 => Some(udp_at(d, ip, true, ip + 40, ip + total)?),
                _ => None,
            }
        })(),
        _ => None,
    };
    found.unwrap_or(Transport::Other)
}

fn udp_at(d: &[u8], ip: usize, v6: bool, udp: usize, ip_end: usize) -> Option<Transport> {
    let len = usize::from(be16(d, udp + 4)?);
    if len < 8 || udp + len > ip_end {
        return None;
    }
    Some(Transport::Udp(Udp { ip, v6, udp, end: udp + len }))
}

/// The packet with its UDP payload replaced by `payload`, lengths and checksums fixed up: UDP
/// checksum 0 over IPv4 (none), recomputed over IPv6 (where it is mandatory).
fn replace_payload(d: &[u8], u: &Udp, payload: &[u8]) -> Option<Vec<u8>> {
    let udp_len = u16::try_from(8 + payload.len()).ok()?;
    let mut out = Vec::with_capacity(u.udp + 8 + payload.len());
    out.extend_from_slice(&d[..u.udp + 8]);
    out.extend_from_slice(payload);
    out[u.udp + 4..u.udp + 6].copy_from_slice(&udp_len.to_be_bytes());
    out[u.udp + 6..u.udp + 8].copy_from_slice(&[0, 0]);
    if u.v6 {
        out[u.ip + 4..u.ip + 6].copy_from_slice(&udp_len.to_be_bytes());
        let mut sum = ones_sum(0, &out[u.ip + 8..u.ip + 40]);
        sum = ones_sum(sum, &u32::from(udp_len).to_be_bytes());
        sum = ones_sum(sum, &[0, 0, 0, 17]);
        sum = ones_sum(sum, &out[u.udp..]);
        let check = match !fold(sum) {
            0 => 0xffff,
            c => c,
        };
        out[u.udp + 6..u.udp + 8].copy_from_slice(&check.to_be_bytes());
    } else {
        let ihl = u.udp - u.ip;
        let total = u16::try_from(ihl + usize::from(udp_len)).ok()?;
        out[u.ip + 2..u.ip + 4].copy_from_slice(&total.to_be_bytes());
        out[u.ip + 10..u.ip + 12].copy_from_slice(&[0, 0]);
        let check = !fold(ones_sum(0, &out[u.ip..u.udp]));
        out[u.ip + 10..u.ip + 12].copy_from_slice(&check.to_be_bytes());
    }
    Some(out)
}

/// The Internet checksum's running sum (RFC 1071) over `bytes`, added to `sum`.
fn ones_sum(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

// ---- STT datagrams ----------------------------------------------------------------------------

enum Outcome {
    NotStt,
    Handshake,
    Unopened,
    Opened(Vec<u8>),
}

/// The packet with its STT datagram decrypted, or `None` to copy it unchanged.
fn rewrite(
    link: DataLink,
    d: &[u8],
    orig_len: u32,
    keys: &mut HashMap<u64, SessionKeys>,
    counts: &mut Counts,
) -> Option<Vec<u8>> {
    let u = match locate(link, d) {
        Transport::Udp(u) => u,
        Transport::Tcp => {
            counts.tcp += 1;
            return None;
        }
        Transport::Other => return None,
    };
    if (d.len() as u64) < u64::from(orig_len) {
        // Cut short by the capture's snap length: count it if it looks like STT, never open it.
        if d.get(u.udp + 8..u.udp + 10) == Some(&wire::MAGIC[..]) {
            counts.stt += 1;
            counts.unopened += 1;
        }
        return None;
    }
    match open_datagram(&d[u.udp + 8..u.end], keys) {
        Outcome::NotStt => None,
        Outcome::Handshake => {
            counts.stt += 1;
            counts.handshake += 1;
            None
        }
        Outcome::Unopened => {
            counts.stt += 1;
            counts.unopened += 1;
            None
        }
        Outcome::Opened(plain) => {
            counts.stt += 1;
            let out = replace_payload(d, &u, &plain);
            if out.is_some() {
                counts.decrypted += 1;
            } else {
                counts.unopened += 1;
            }
            out
        }
    }
}

/// Opens every encrypted frame of `datagram`; all or nothing.
fn open_datagram(datagram: &[u8], keys: &mut HashMap<u64, SessionKeys>) -> Outcome {
    let mut layouts = Vec::new();
    let mut at = 0;
    while at < datagram.len() {
        match wire::parse_frame(&datagram[at..]) {
            Ok(l) => {
                let len = l.len;
                layouts.push((at, l));
                at += len;
            }
            Err(_) => return Outcome::NotStt,
        }
    }
    if layouts.is_empty() {
        return Outcome::NotStt;
    }
    let mut plain = vec![0u8; DECRYPTED_PREFIX_LEN];
    plain.extend_from_slice(datagram);
    let mut first: Option<(u8, u32, u64, u64)> = None;
    for (at, layout) in &layouts {
        if layout.header.frame_type.is_handshake() {
            continue;
        }
        let Some(session) = keys.get_mut(&layout.header.session_id) else { return Outcome::Unopened };
        let frame = &mut plain[DECRYPTED_PREFIX_LEN + at..DECRYPTED_PREFIX_LEN + at + layout.len];
        let phase = layout.header.flags.has(Flags::KEY_PHASE);
        let mut opened = None;
        'search: for dir in 0..2 {
            for generation in session.chains[dir].candidates(phase) {
                let key = session.chains[dir].key(&session.secrets, generation);
                let mut scratch = frame.to_vec();
                if wire::open_frame(key, &mut scratch, layout).is_ok() {
                    frame.copy_from_slice(&scratch);
                    let chain = &mut session.chains[dir];
                    chain.current = chain.current.max(generation);
                    opened = Some((dir as u8, generation));
                    break 'search;
                }
            }
        }
        let Some((dir, generation)) = opened else { return Outcome::Unopened };
        first.get_or_insert((dir, generation, layout.header.session_id, layout.packet_number));
    }
    let Some((dir, generation, session_id, pn)) = first else { return Outcome::Handshake };
    plain[0..4].copy_from_slice(&DECRYPTED_MAGIC);
    plain[4] = DECRYPTED_VERSION;
    plain[5] = dir;
    plain[6..10].copy_from_slice(&generation.to_be_bytes());
    plain[10..18].copy_from_slice(&session_id.to_be_bytes());
    plain[18..26].copy_from_slice(&pn.to_be_bytes());
    Outcome::Opened(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv6_udp(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[17, 64]);
        p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&[0x1c, 0xe8, 0x1c, 0xe9]);
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn ipv6_payload_replacement_keeps_a_valid_checksum() {
        let mut linux = vec![0u8; 16];
        linux[14..16].copy_from_slice(&0x86ddu16.to_be_bytes());
        linux.extend_from_slice(&ipv6_udp(b"abc"));
        let Transport::Udp(u) = locate(DataLink::LINUX_SLL, &linux) else { panic!("UDP not found") };
        assert_eq!(&linux[u.udp + 8..u.end], b"abc");
        let out = replace_payload(&linux, &u, b"hello, world").unwrap();
        let Transport::Udp(v) = locate(DataLink::LINUX_SLL, &out) else { panic!("UDP not found after rewrite") };
        assert_eq!(&out[v.udp + 8..v.end], b"hello, world");
        // A valid UDP checksum sums, with the pseudo-header, to 0xffff.
        let ip = &out[16..];
        let mut sum = ones_sum(0, &ip[8..40]);
        sum = ones_sum(sum, &(20u32).to_be_bytes());
        sum = ones_sum(sum, &[0, 0, 0, 17]);
        sum = ones_sum(sum, &ip[40..]);
        assert_eq!(fold(sum), 0xffff);
    }

    #[test]
    fn ipv4_header_checksum_is_recomputed_and_loopback_is_read_both_ways() {
        let mut p = vec![2, 0, 0, 0]; // NULL link type, little-endian AF_INET
        p.extend_from_slice(&[0x45, 0, 0, 31, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        p.extend_from_slice(&[0x1c, 0xe8, 0x1c, 0xe9, 0, 11, 0x12, 0x34, b'x', b'y', b'z']);
        let Transport::Udp(u) = locate(DataLink::NULL, &p) else { panic!("UDP not found") };
        let out = replace_payload(&p, &u, &[7u8; 100]).unwrap();
        assert_eq!(be16(&out, 4 + 2), Some(128));
        assert_eq!(fold(ones_sum(0, &out[4..24])), 0xffff);
        assert_eq!(&out[u.udp + 4..u.udp + 8], &[0, 108, 0, 0]);
        let mut looped = p.clone();
        looped[..4].copy_from_slice(&2u32.to_be_bytes());
        assert!(matches!(locate(DataLink::LOOP, &looped), Transport::Udp(_)));
        // A fragment is not opened.
        let mut frag = p.clone();
        frag[4 + 6] = 0x20;
        assert!(matches!(locate(DataLink::NULL, &frag), Transport::Other));
    }
}
