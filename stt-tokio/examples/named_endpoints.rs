//! Named endpoints, fan-out: one hub serves three names ("video_sink", "telemetry_sink",
//! "log_sink"), each drained by its own task. Two producers connect and route their messages by
//! name; every message lands in the queue of its name. A full queue slows the producers down
//! (they retry after a pause) instead of growing, and a misspelt name is an error at the
//! producer.
//!
//! ```sh
//! cargo run -p stt-tokio --example named_endpoints
//! ```

use std::error::Error;
use std::time::Duration;

use stt_tokio::{NameQueueLimits, Node, NodeConfig, Seed, Session};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const NAMES: [&str; 3] = ["video_sink", "telemetry_sink", "log_sink"];

/// Routes one message, waiting and retrying while the name's queue is full.
async fn route_with_backpressure(session: &Session, name: &str, data: Vec<u8>) -> Result<u32> {
    let mut retries = 0;
    loop {
        match session.route(name, data.clone()).await {
            Ok(()) => return Ok(retries),
            Err(stt_tokio::Error::NameQueueFull(_)) => {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Each producer sends `per_name` messages to each name. Returns the messages each name's
/// consumer received and the retries the producers made because a queue was full.
pub async fn demo_with(per_name: u32) -> Result<(Vec<u32>, u32)> {
    let seed = Seed::new(&[0x4E; 32])?;
    let local = "127.0.0.1:0".parse()?;
    let hub = Node::bind(NodeConfig::new(seed.clone()).bind(local)).await?;

    // Small queues (16 messages) and one slow consumer show the backpressure.
    let limits = NameQueueLimits { max_messages: 16, max_bytes: 1 << 20 };
    let mut consumers = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let endpoint = hub.serve_name(name, limits)?;
        let expected = 2 * per_name;
        consumers.push(tokio::spawn(async move {
            let mut got = 0u32;
            while got < expected {
                let m = endpoint.recv().await?;
                assert!(m.data.starts_with(endpoint.name().as_bytes()), "a message in the wrong queue");
                got += 1;
                if i == 0 {
                    tokio::time::sleep(Duration::from_micros(300)).await; // the slow one
                }
            }
            Ok::<_, stt_tokio::Error>(got)
        }));
    }

    let mut producers = Vec::new();
    for p in 0..2u32 {
        let node = Node::bind(NodeConfig::new(seed.clone()).bind(local).server_mode(false)).await?;
        let session = node.connect(hub.local_addr()).await?;
        producers.push(tokio::spawn(async move {
            let _node = node;
            match session.route("vidoe_sink", &b"typo"[..]).await {
                Err(stt_tokio::Error::UnknownName(name)) => println!("producer {p}: no endpoint named {name:?}"),
                other => return Err(format!("a misspelt name was accepted: {other:?}").into()),
            }
            let mut retries = 0;
            for n in 0..per_name {
                for name in NAMES {
                    let message = format!("{name} message {n} from producer {p}").into_bytes();
                    retries += route_with_backpressure(&session, name, message).await?;
                }
            }
            Ok::<_, Box<dyn Error + Send + Sync>>(retries)
        }));
    }
    let mut retries = 0;
    for p in producers {
        retries += p.await??;
    }
    let mut counts = Vec::new();
    for (name, c) in NAMES.iter().zip(consumers) {
        let n = c.await??;
        println!("{name}: {n} messages");
        counts.push(n);
    }
    println!("producers retried {retries} times because a queue was full");
    Ok((counts, retries))
}

/// 200 messages per name from each of two producers.
pub async fn demo() -> Result<(Vec<u32>, u32)> {
    let (counts, retries) = demo_with(200).await?;
    assert_eq!(counts, vec![400, 400, 400]);
    Ok((counts, retries))
}

#[tokio::main]
async fn main() -> Result<()> {
    demo().await.map(|_| ())
}
