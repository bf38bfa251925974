//! Drop reports (`EndpointConfig::report_drops`): each dropped datagram is reported with the
//! checks it failed and the session id its header named, for someone debugging a new peer; off
//! by default, and bounded like every diagnostic event.

use bytes::BytesMut;
use stt_proto::{Endpoint, EndpointConfig, Event, Identity, Instant, Remote, Seed};

fn endpoint(report: bool) -> Endpoint {
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(&[7; 32]).unwrap());
    cfg.report_drops = report;
    Endpoint::new(cfg, Identity::from_seed_bytes(&[1; 32]).unwrap(), [3; 32]).unwrap()
}

fn dropped(ep: &mut Endpoint) -> Vec<(Option<u64>, Vec<&'static str>)> {
    std::iter::from_fn(|| ep.poll_event())
        .filter_map(|e| match e {
            Event::Dropped { session_id, reasons, .. } => Some((session_id, reasons)),
            _ => None,
        })
        .collect()
}

/// A well-formed DATA frame header for session `id` with a tag that cannot verify.
fn frame_for_unknown_session(id: u64) -> Vec<u8> {
    let mut f = vec![0x53, 0x54, 0x10];
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&1u32.to_be_bytes()); // stream
    f.extend_from_slice(&0u32.to_be_bytes()); // sequence
    f.push(0); // flags
    f.extend_from_slice(&4u32.to_be_bytes()); // payload length
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(&24u32.to_be_bytes()); // metadata length
    f.extend_from_slice(&[0; 24]);
    f
}

#[test]
fn each_dropped_datagram_is_reported_with_its_reasons_and_session_id() {
    let from = Remote::udp("192.0.2.9:9".parse().unwrap());
    let now = Instant::from_nanos(1);
    let mut ep = endpoint(true);
    ep.handle_datagram(now, from, BytesMut::from(&b"not an STT datagram"[..]));
    ep.handle_datagram(now, from, BytesMut::from(&frame_for_unknown_session(0x0102_0304_0506_0708)[..]));
    let reports = dropped(&mut ep);
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(reports[0].1, ["malformed"]);
    assert_eq!(reports[1], (Some(0x0102_0304_0506_0708), vec!["unknown_session"]));

    // Off (the default): counted, not reported.
    let mut quiet = endpoint(false);
    quiet.handle_datagram(now, from, BytesMut::from(&b"not an STT datagram"[..]));
    assert!(dropped(&mut quiet).is_empty());
    assert_eq!(quiet.stats().dropped.malformed, 1);
    // And it can be turned on while running.
    quiet.set_report_drops(true);
    quiet.handle_datagram(now, from, BytesMut::from(&b"still not one"[..]));
    assert_eq!(dropped(&mut quiet).len(), 1);
}

#[test]
fn reports_wait_within_the_bound_of_diagnostic_events() {
    let from = Remote::udp("192.0.2.9:9".parse().unwrap());
    let mut ep = endpoint(true);
    let bound = ep.config().max_diagnostic_events;
    for _ in 0..bound + 100 {
        ep.handle_datagram(Instant::from_nanos(1), from, BytesMut::from(&b"junk"[..]));
    }
    assert_eq!(dropped(&mut ep).len(), bound);
    assert_eq!(ep.stats().dropped.malformed, bound as u64 + 100, "every drop is still counted");
}
