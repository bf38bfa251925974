//! Live sensor telemetry: a sensor sends 16-byte readings on a live stream (fresh data over
//! complete data: a reading that misses its deadline is skipped, never waited for), and the
//! collector turns each reading into user-named events ("reading", and "alarm" above a
//! threshold) handled by async handlers. One handler is faulty on purpose: its failure shows up
//! in the report and the other handlers still run.
//!
//! ```sh
//! cargo run -p stt-tokio --example telemetry
//! ```

use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stt_tokio::events::EventBus;
use stt_tokio::{Node, NodeConfig, Seed, StreamMode};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// A reading on the wire: sequence (8) || temperature in millidegrees (4) || checksum (4).
const READING: usize = 16;
/// Readings above this raise an alarm (millidegrees).
const ALARM_ABOVE: i32 = 30_000;

fn encode(seq: u64, milli: i32) -> [u8; READING] {
    let mut r = [0u8; READING];
    r[..8].copy_from_slice(&seq.to_be_bytes());
    r[8..12].copy_from_slice(&milli.to_be_bytes());
    let sum = (seq as u32).wrapping_mul(31) ^ milli as u32;
    r[12..].copy_from_slice(&sum.to_be_bytes());
    r
}

fn decode(r: &[u8]) -> Option<(u64, i32)> {
    let seq = u64::from_be_bytes(r[..8].try_into().ok()?);
    let milli = i32::from_be_bytes(r[8..12].try_into().ok()?);
    let sum = u32::from_be_bytes(r[12..16].try_into().ok()?);
    (sum == (seq as u32).wrapping_mul(31) ^ milli as u32).then_some((seq, milli))
}

/// The sensor's temperature curve: 20 °C plus a slow ramp, crossing the threshold near the end.
fn temperature(seq: u64) -> i32 {
    20_000 + (seq as i32) * 40
}

/// What the collector saw.
#[derive(Debug, Default)]
pub struct Summary {
    /// Readings delivered whole and verified.
    pub readings: u64,
    /// Alarms handled.
    pub alarms: u64,
    /// Handler failures reported (the faulty handler fails once per alarm).
    pub handler_failures: u64,
    /// Bytes skipped on the live stream.
    pub skipped_bytes: u64,
}

/// Sends `count` readings, one every `interval`, and collects them.
pub async fn demo_with(count: u64, interval: Duration) -> Result<Summary> {
    let seed = Seed::new(&[0x7E; 32])?;
    let local = "127.0.0.1:0".parse()?;
    let collector = Node::bind(NodeConfig::new(seed.clone()).bind(local)).await?;
    let sensor = Node::bind(NodeConfig::new(seed).bind(local).server_mode(false)).await?;

    // The collector's handlers.
    let bus = EventBus::new();
    let readings = Arc::new(AtomicU64::new(0));
    let alarms = Arc::new(AtomicU64::new(0));
    let r = readings.clone();
    bus.on("reading", move |_payload: Bytes| {
        let r = r.clone();
        async move {
            r.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    });
    let a = alarms.clone();
    bus.on("alarm", move |payload: Bytes| {
        let a = a.clone();
        async move {
            let (seq, milli) = decode(&payload).ok_or("bad alarm payload")?;
            a.fetch_add(1, Ordering::Relaxed);
            println!("alarm: reading {seq} at {:.2} °C", milli as f64 / 1000.0);
            Ok(())
        }
    });
    // A faulty handler: always fails. Its failures are reported, not propagated.
    bus.on("alarm", |_payload: Bytes| async { Err("pager service unreachable".into()) });

    let session = sensor.connect(collector.local_addr()).await?;
    let incoming = collector.accept().await.ok_or("collector stopped")?;

    let send = tokio::spawn(async move {
        let mode = StreamMode::Live { deadline: Duration::from_millis(100) };
        let mut stream = session.open_stream(mode)?;
        let tx = stream.send_half();
        for seq in 0..count {
            tx.write_all_bytes(Bytes::copy_from_slice(&encode(seq, temperature(seq)))).await?;
            tokio::time::sleep(interval).await;
        }
        tx.finish()?;
        tx.flushed().await?;
        Ok::<_, stt_tokio::Error>(())
    });

    let mut summary = Summary::default();
    let mut stream = incoming.accept_stream().await?;
    let rx = stream.recv_half();
    let mut record = [0u8; READING];
    let mut last = None;
    while let Some(index) = rx.read_record(&mut record).await? {
        let (seq, milli) = decode(&record).ok_or("a delivered reading is damaged")?;
        assert_eq!(seq, index, "a reading sits at its own position in the stream");
        assert!(last.is_none_or(|l| seq > l), "readings arrive in order");
        last = Some(seq);
        bus.emit("reading", Bytes::copy_from_slice(&record)).await;
        if milli > ALARM_ABOVE {
            let report = bus.emit("alarm", Bytes::copy_from_slice(&record)).await;
            for f in &report.failed {
                println!("alarm handler {:?} failed: {}", f.handler, f.error);
            }
            summary.handler_failures += report.failed.len() as u64;
        }
    }
    send.await??;
    summary.readings = readings.load(Ordering::Relaxed);
    summary.alarms = alarms.load(Ordering::Relaxed);
    summary.skipped_bytes = rx.skipped_bytes();
    println!("{summary:?}");
    Ok(summary)
}

/// 400 readings at 2 ms intervals on loopback.
pub async fn demo() -> Result<Summary> {
    let s = demo_with(400, Duration::from_millis(2)).await?;
    // Delivered readings and skipped bytes never add up to more than was sent; with nothing
    // skipped, everything arrived.
    assert!(s.readings * READING as u64 + s.skipped_bytes <= 400 * READING as u64);
    let above = (0..400).filter(|&q| temperature(q) > ALARM_ABOVE).count() as u64;
    if s.skipped_bytes == 0 {
        assert_eq!((s.readings, s.alarms), (400, above));
    }
    assert!(s.alarms <= above && s.handler_failures == s.alarms, "each alarm's faulty handler was reported");
    Ok(s)
}

#[tokio::main]
async fn main() -> Result<()> {
    demo().await.map(|_| ())
}
