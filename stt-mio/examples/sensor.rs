//! A sensor sending readings on a live stream with the blocking [`Node`] API: fresh data matters
//! more than complete data, so a reading lost on the way is skipped after the stream's deadline
//! instead of holding back the ones behind it.
//!
//! Each reading is a 16-byte record (sequence number, milliseconds since start, value). The
//! collector counts the bytes of every skipped gap, so it knows the absolute stream offset and
//! re-aligns to the next whole record after a gap.
//!
//! `cargo run -p stt-mio --example sensor` runs sensor and collector on loopback.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stt_mio::stt_proto::{CloseReason, Seed, StreamMode, StreamRead};
use stt_mio::{Error, Node};

/// The seed both demonstration nodes share. Real deployments generate their own.
const DEMO_SEED: [u8; 32] = *b"stt demo seed, not for real use!";
const RECORD: usize = 16;

/// What the collector saw.
#[derive(Debug, Default)]
pub struct Collected {
    /// Whole readings received, in order: (sequence, value).
    pub readings: Vec<(u32, f32)>,
    /// Bytes the live stream skipped.
    pub skipped_bytes: u64,
}

fn record(seq: u32, millis: u32, value: f32) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[..4].copy_from_slice(&seq.to_be_bytes());
    r[4..8].copy_from_slice(&millis.to_be_bytes());
    r[8..12].copy_from_slice(&value.to_be_bytes());
    r
}

/// The value the sensor reports for reading `seq` (a slow wave around 20 degrees).
pub fn value_of(seq: u32) -> f32 {
    20.0 + (seq as f32 / 10.0).sin()
}

/// Receives one live stream on the first session and returns what arrived.
fn collect(mut node: Node) -> Result<Collected, Error> {
    let session = node.accept()?;
    let stream = node.accept_stream(session)?;
    let mut out = Collected::default();
    // Absolute stream offset of `pending[0]`, and bytes of a torn record still to drop.
    let mut offset = 0u64;
    let mut discard = 0usize;
    let mut pending = Vec::new();
    while let Some(piece) = node.read_chunk(session, stream, usize::MAX)? {
        match piece {
            StreamRead::Data(chunk) => {
                let torn = discard.min(chunk.len());
                discard -= torn;
                offset += torn as u64;
                pending.extend_from_slice(&chunk[torn..]);
            }
            StreamRead::Skipped { bytes, .. } => {
                // The partial record before the gap is useless, and so is the rest of the record
                // the gap cut: resume at the next record boundary.
                out.skipped_bytes += bytes;
                offset += pending.len() as u64 + bytes;
                pending.clear();
                discard = ((RECORD as u64 - offset % RECORD as u64) % RECORD as u64) as usize;
            }
            StreamRead::Finished => break,
        }
        let whole = pending.len() / RECORD * RECORD;
        for r in pending[..whole].chunks(RECORD) {
            let seq = u32::from_be_bytes(r[..4].try_into().expect("4 bytes"));
            let value = f32::from_be_bytes(r[8..12].try_into().expect("4 bytes"));
            out.readings.push((seq, value));
        }
        pending.drain(..whole);
        offset += whole as u64;
    }
    node.close(session, 0, "collected");
    Ok(out)
}

/// Sends `count` readings, one every `interval`, on a live stream with a 50 ms deadline, and
/// returns what the collector received. `path` maps the collector's address to the one the
/// sensor dials (the identity, or a relay in front of the collector).
pub fn run(count: u32, interval: Duration, path: impl FnOnce(SocketAddr) -> SocketAddr) -> Result<Collected, Error> {
    let seed = Seed::new(&DEMO_SEED)?;
    let collector = Node::bind("127.0.0.1:0".parse().unwrap(), seed.clone())?;
    let addr = collector.local_addr();
    let collector = std::thread::spawn(move || collect(collector));

    let mut sensor = Node::bind("127.0.0.1:0".parse().unwrap(), seed)?;
    sensor.set_timeout(Some(Duration::from_secs(20)));
    let session = sensor.connect(path(addr))?;
    let stream = sensor.open_stream(session, StreamMode::Live { deadline: Duration::from_millis(50) })?;
    let start = Instant::now();
    for seq in 0..count {
        let value = value_of(seq);
        sensor.write_all(session, stream, &record(seq, start.elapsed().as_millis() as u32, value))?;
        // Between readings the node keeps answering its peer (ACKs, retransmissions of control).
        sensor.run_for(interval)?;
    }
    sensor.finish(session, stream)?;
    // Wait until the end of the stream is acknowledged. The collector closes the session once it
    // has read the end, and that close may arrive before the acknowledgement: also the end.
    match sensor.flush(session) {
        Ok(()) | Err(Error::SessionClosed(CloseReason::ClosedByPeer { .. })) => {}
        Err(e) => return Err(e),
    }
    let collected = collector.join().expect("collector thread")?;
    sensor.close(session, 0, "done");
    Ok(collected)
}

/// The demonstration: 100 readings, 2 ms apart.
pub fn demo() -> Result<(), Error> {
    let collected = run(100, Duration::from_millis(2), |collector| collector)?;
    println!(
        "collector received {} readings (last {:?}), {} bytes skipped",
        collected.readings.len(),
        collected.readings.last(),
        collected.skipped_bytes
    );
    Ok(())
}

#[allow(dead_code)]
fn main() -> Result<(), Error> {
    demo()
}
