//! Stream labels over the simulator: the opener says what a stream carries, and the acceptor
//! reads the label before the data, on the harshest path (a stream's DATA often arrives before
//! its STREAM_OPEN there); an acceptor can wait for a given label; bad labels are refused.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use stt_proto::{StreamError, StreamId, StreamMode, StreamRead, MAX_STREAM_LABEL};

fn content(label: &[u8], len: usize) -> Vec<u8> {
    (0..len).map(|i| label[i % label.len()] ^ (i / label.len()) as u8).collect()
}

#[test]
fn every_labeled_stream_is_accepted_with_its_label_before_its_data_on_the_harshest_path() {
    for seed in 0..6u64 {
        let (mut sim, c, s) = pair(4200 + seed);
        let (hc, hs) = establish(&mut sim, c, s);
        sim.default_link = harsh();
        let labels: Vec<Vec<u8>> = (0..16)
            .map(|i| if i % 4 == 3 { Vec::new() } else { format!("{}-{i}", ["video", "audio"][i % 2]).into_bytes() })
            .collect();
        let mut transfers = Vec::new();
        {
            let mut m = sim.nodes[c].endpoint.session_mut(hc).unwrap();
            for (i, label) in labels.iter().enumerate() {
                let mode = if i % 5 == 4 {
                    StreamMode::Live { deadline: Duration::from_secs(2) }
                } else {
                    StreamMode::Reliable
                };
                let id =
                    if label.is_empty() { m.open_stream(mode) } else { m.open_labeled_stream(mode, label) }.unwrap();
                assert_eq!(
                    m.as_ref().stream_label(id),
                    (!label.is_empty()).then_some(&label[..]),
                    "the opener's own view"
                );
                let key = if label.is_empty() { format!("none-{i}").into_bytes() } else { label.clone() };
                transfers.push((id, label.clone(), Transfer::new(id, content(&key, 20_000), 4096)));
            }
        }
        // The acceptor asks for one label first, whatever else arrived before it.
        let (mut wanted, mut accepted) = (None, BTreeMap::<StreamId, Option<Vec<u8>>>::new());
        let mut received = BTreeMap::<StreamId, Vec<u8>>::new();
        let mut finished = std::collections::BTreeSet::new();
        let done = drive(&mut sim, Duration::from_secs(120), |sim| {
            for (_, _, t) in transfers.iter_mut() {
                t.pump_write(sim, c, hc);
            }
            if let Some(mut m) = sim.nodes[s].endpoint.session_mut(hs) {
                if wanted.is_none() {
                    wanted = m.accept_labeled_stream(b"audio-5");
                    if let Some(id) = wanted {
                        accepted.insert(id, m.as_ref().stream_label(id).map(<[u8]>::to_vec));
                    }
                } else {
                    while let Some(id) = m.accept_stream() {
                        // The label is there when the stream is offered, before any read.
                        accepted.insert(id, m.as_ref().stream_label(id).map(<[u8]>::to_vec));
                    }
                }
                for &id in accepted.keys() {
                    while let Ok(Some(r)) = m.read(id) {
                        match r {
                            StreamRead::Data(b) => received.entry(id).or_default().extend_from_slice(&b),
                            StreamRead::Finished => {
                                finished.insert(id);
                                break;
                            }
                            // A live stream's lost segments are not resent; its label is.
                            StreamRead::Skipped { .. } => {}
                        }
                    }
                }
            }
            sim.flush(s);
            finished.len() == labels.len()
        });
        let open: Vec<_> = transfers
            .iter()
            .enumerate()
            .filter(|(_, (id, _, _))| !finished.contains(id))
            .map(|(i, (id, _, t))| (i, *id, t.written, t.finished_writing, received.get(id).map(Vec::len)))
            .collect();
        assert!(done, "seed {seed}: {} of {} streams accepted, unfinished {open:?}", accepted.len(), labels.len());
        assert_eq!(accepted.get(&wanted.unwrap()).cloned().flatten().as_deref(), Some(&b"audio-5"[..]));
        for (i, (id, label, t)) in transfers.iter().enumerate() {
            assert_eq!(accepted[id].clone().unwrap_or_default(), *label, "seed {seed}: stream {id:?}");
            if i % 5 != 4 {
                assert!(received[id] == t.data, "seed {seed}: reliable stream {id:?}'s data");
            }
        }
    }
}

#[test]
fn bad_labels_are_refused_and_labels_wait_for_the_handshake() {
    let (mut sim, c, s) = pair(4210);
    let early = sim.connect(c, s);
    let mut m = sim.nodes[c].endpoint.session_mut(early).unwrap();
    assert_eq!(
        m.open_labeled_stream(StreamMode::Reliable, b"video"),
        Err(StreamError::LabelsUnsupported),
        "before the handshake the peer's version is not known"
    );
    assert!(m.open_stream(StreamMode::Reliable).is_ok(), "an unlabeled stream may be opened early");
    let (hc, _) = establish(&mut sim, c, s);
    let mut m = sim.nodes[c].endpoint.session_mut(hc).unwrap();
    assert_eq!(m.open_labeled_stream(StreamMode::Reliable, b""), Err(StreamError::BadLabel(0)));
    let long = [b'x'; MAX_STREAM_LABEL + 1];
    assert_eq!(m.open_labeled_stream(StreamMode::Reliable, &long), Err(StreamError::BadLabel(MAX_STREAM_LABEL + 1)));
    let id = m.open_labeled_stream(StreamMode::Reliable, &long[..MAX_STREAM_LABEL]).unwrap();
    assert_eq!(m.as_ref().stream_label(id), Some(&long[..MAX_STREAM_LABEL]));
}

#[test]
fn the_responder_labels_its_streams_after_either_handshake() {
    let (mut sim, c, s) = pair(4211);
    for round in 0..2 {
        // The first handshake takes two round trips; the second, to a peer now known, one.
        let (hc, hs) = establish(&mut sim, c, s);
        let label = format!("from the responder, round {round}").into_bytes();
        let id =
            sim.nodes[s].endpoint.session_mut(hs).unwrap().open_labeled_stream(StreamMode::Reliable, &label).unwrap();
        let mut t = Transfer::new(id, b"labeled".to_vec(), 64);
        assert!(drive(&mut sim, Duration::from_secs(10), |sim| {
            t.pump_write(sim, s, hs);
            let m = sim.nodes[c].endpoint.session_mut(hc);
            m.is_some_and(|mut m| m.accept_labeled_stream(&label) == Some(id))
        }));
        assert_eq!(sim.nodes[c].endpoint.session(hc).unwrap().stream_label(id), Some(&label[..]));
    }
    assert_eq!(sim.nodes[s].endpoint.stats().one_round_trip_accepted, 1, "the second handshake took one round trip");
}
