//! User-named events: several handlers per name, failures captured and reported.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use stt_tokio::events::EventBus;

#[tokio::test]
async fn every_handler_runs_and_a_failing_one_is_reported_not_propagated() {
    let bus = EventBus::new();
    let total = Arc::new(AtomicU64::new(0));
    let t = total.clone();
    let adder = bus.on("reading", move |p: Bytes| {
        let t = t.clone();
        async move {
            t.fetch_add(p.len() as u64, Ordering::SeqCst);
            Ok(())
        }
    });
    let failing = bus.on("reading", |_| async { Err("sensor offline".into()) });
    let panicking = bus.on("reading", |_| async { panic!("bad handler") });
    let t = total.clone();
    let other = bus.on("other", move |_| {
        let t = t.clone();
        async move {
            t.fetch_add(1000, Ordering::SeqCst);
            Ok(())
        }
    });

    let report = bus.emit("reading", Bytes::from_static(b"21.5C")).await;
    assert_eq!(report.succeeded, vec![adder]);
    assert_eq!(report.failed.len(), 2);
    assert_eq!(report.failed[0].handler, failing);
    assert_eq!(report.failed[0].error, "sensor offline");
    assert_eq!(report.failed[1].handler, panicking);
    assert!(report.failed[1].error.contains("bad handler"), "{}", report.failed[1].error);
    assert_eq!(total.load(Ordering::SeqCst), 5, "only the handlers of that name ran");

    assert!(bus.emit("nobody", Bytes::new()).await.succeeded.is_empty());
    assert!(bus.off(failing));
    assert!(!bus.off(failing));
    let report = bus.emit("reading", Bytes::from_static(b"x")).await;
    assert_eq!((report.succeeded.len(), report.failed.len()), (1, 1));
    bus.emit("other", Bytes::new()).await;
    assert_eq!(total.load(Ordering::SeqCst), 1006);
    let _ = other;
}
