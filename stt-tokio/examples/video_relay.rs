//! A video-style relay: one camera sends frames on a live stream to a relay, and the relay
//! forwards each frame to many viewers, each on its own live stream. Live mode prefers fresh
//! data over complete data: a frame that misses its deadline is skipped, and a viewer that
//! falls behind has frames dropped at the relay instead of delaying the camera or the other
//! viewers.
//!
//! ```sh
//! cargo run -p stt-tokio --example video_relay
//! ```

use std::error::Error;
use std::time::Duration;

use bytes::Bytes;
use stt_tokio::{Node, NodeConfig, Seed, StreamMode};
use tokio::sync::mpsc;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Bytes per frame: frame number (8) || picture bytes derived from the number.
const FRAME: usize = 1200;
/// Frames the relay holds per viewer before it drops new ones for that viewer.
const VIEWER_BACKLOG: usize = 32;

fn frame(n: u64) -> Bytes {
    let mut f = vec![0u8; FRAME];
    f[..8].copy_from_slice(&n.to_be_bytes());
    for (i, b) in f[8..].iter_mut().enumerate() {
        *b = (n as usize * 7 + i) as u8;
    }
    Bytes::from(f)
}

fn live() -> StreamMode {
    StreamMode::Live { deadline: Duration::from_millis(150) }
}

/// What one viewer saw.
#[derive(Debug)]
pub struct ViewerReport {
    /// Frames shown (whole, verified, in order).
    pub shown: u64,
    /// Frames the relay dropped for this viewer because it was behind.
    pub dropped_at_relay: u64,
    /// Bytes skipped on the viewer's live stream.
    pub skipped_bytes: u64,
}

/// A camera sends `frames` frames, one every `interval`, through the relay to `viewers` viewers.
/// Returns the frames the relay received and what each viewer saw.
pub async fn demo_with(viewers: usize, frames: u64, interval: Duration) -> Result<(u64, Vec<ViewerReport>)> {
    let seed = Seed::new(&[0x71; 32])?;
    let local = "127.0.0.1:0".parse()?;
    let relay = Node::bind(NodeConfig::new(seed.clone()).bind(local)).await?;

    // Viewers connect first; each waits for the relay to open its stream.
    let mut viewer_tasks = Vec::new();
    let mut at_relay = Vec::new();
    for v in 0..viewers {
        let node = Node::bind(NodeConfig::new(seed.clone()).bind(local).server_mode(false)).await?;
        let session = node.connect(relay.local_addr()).await?;
        at_relay.push(relay.accept().await.ok_or("relay stopped")?);
        viewer_tasks.push(tokio::spawn(async move {
            let _node = node;
            let mut stream = session.accept_stream().await?;
            let rx = stream.recv_half();
            let mut buf = vec![0u8; FRAME];
            let (mut shown, mut last) = (0u64, None);
            while rx.read_record(&mut buf).await?.is_some() {
                let n = u64::from_be_bytes(buf[..8].try_into()?);
                if buf[..] != frame(n)[..] || last.is_some_and(|l| n <= l) {
                    return Err(format!("viewer {v}: frame {n} damaged or out of order").into());
                }
                last = Some(n);
                shown += 1;
            }
            // Stay until the relay closes: it waits for the acknowledgement of the stream's end.
            session.closed().await;
            Ok::<_, Box<dyn Error + Send + Sync>>((shown, rx.skipped_bytes()))
        }));
    }

    // The relay: one forwarding task and one bounded backlog per viewer.
    let mut backlogs = Vec::new();
    let mut forwarders = Vec::new();
    for session in at_relay {
        let (tx, mut rx) = mpsc::channel::<Bytes>(VIEWER_BACKLOG);
        backlogs.push((tx, 0u64));
        forwarders.push(tokio::spawn(async move {
            let mut stream = session.open_stream(live())?;
            let out = stream.send_half();
            while let Some(f) = rx.recv().await {
                out.write_all_bytes(f).await?;
            }
            out.finish()?;
            out.flushed().await?;
            session.close(0, "stream over").await;
            Ok::<_, stt_tokio::Error>(())
        }));
    }

    // The camera.
    let camera = Node::bind(NodeConfig::new(seed).bind(local).server_mode(false)).await?;
    let uplink = camera.connect(relay.local_addr()).await?;
    let from_camera = relay.accept().await.ok_or("relay stopped")?;
    let shoot = tokio::spawn(async move {
        let mut stream = uplink.open_stream(live())?;
        let out = stream.send_half();
        for n in 0..frames {
            out.write_all_bytes(frame(n)).await?;
            tokio::time::sleep(interval).await;
        }
        out.finish()?;
        out.flushed().await
    });

    let mut incoming = from_camera.accept_stream().await?;
    let rx = incoming.recv_half();
    let mut buf = vec![0u8; FRAME];
    let mut relayed = 0u64;
    while rx.read_record(&mut buf).await?.is_some() {
        relayed += 1;
        let f = Bytes::copy_from_slice(&buf);
        for (tx, dropped) in backlogs.iter_mut() {
            if tx.try_send(f.clone()).is_err() {
                *dropped += 1; // This viewer is behind: fresh frames matter more than old ones.
            }
        }
    }
    shoot.await??;
    let dropped: Vec<u64> = backlogs.into_iter().map(|(_, d)| d).collect(); // closes the backlogs
    for f in forwarders {
        f.await??;
    }
    let mut reports = Vec::new();
    for (v, (task, dropped_at_relay)) in viewer_tasks.into_iter().zip(dropped).enumerate() {
        let (shown, skipped_bytes) = task.await??;
        println!(
            "viewer {v}: {shown} frames shown, {dropped_at_relay} dropped at the relay, {skipped_bytes} bytes skipped"
        );
        reports.push(ViewerReport { shown, dropped_at_relay, skipped_bytes });
    }
    println!("relay received {relayed} of {frames} frames from the camera ({} bytes skipped)", rx.skipped_bytes());
    Ok((relayed, reports))
}

/// Four viewers, 300 frames at 2 ms intervals (about 600 kB/s per viewer).
pub async fn demo() -> Result<Vec<ViewerReport>> {
    let (relayed, reports) = demo_with(4, 300, Duration::from_millis(2)).await?;
    assert!(relayed > 0 && relayed <= 300);
    for r in &reports {
        assert!(r.shown > 0, "every viewer sees frames");
        // Each relayed frame was shown, dropped at the relay, or lost in a skipped gap.
        assert!(r.shown + r.dropped_at_relay <= relayed);
        if r.skipped_bytes == 0 {
            assert_eq!(r.shown + r.dropped_at_relay, relayed);
        }
    }
    Ok(reports)
}

#[tokio::main]
async fn main() -> Result<()> {
    demo().await.map(|_| ())
}
