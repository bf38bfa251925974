//! Reliable messages over the simulator: whole messages of any size under loss, order per
//! channel beside a bulk stream, refusals the sender learns of, backpressure, and a broken lane.

mod common;

use std::time::Duration;

use common::*;
use stt_proto::{
    Channel, CloseReason, Event, Message, MessageError, MessageId, MessageRefusal, NameAddress, NameQueueLimits,
    SessionHandle, StreamError, StreamId,
};
use stt_tests::sim::{NodeIdx, Sim};
use stt_tests::Impairment;

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = stt_tests::sim::TestRng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// Takes every whole message waiting on `node`'s session.
fn take_all(sim: &mut Sim, node: NodeIdx, session: SessionHandle, into: &mut Vec<Message>) {
    if let Some(mut m) = sim.nodes[node].endpoint.session_mut(session) {
        while let Some(msg) = m.recv_message() {
            into.push(msg);
        }
    }
    sim.flush(node);
}

/// Sends each message, waiting (in simulated time) while the lane is blocked.
struct Sender {
    queue: std::collections::VecDeque<(Channel, Vec<u8>)>,
    ids: Vec<MessageId>,
}

impl Sender {
    fn new(items: impl IntoIterator<Item = (Channel, Vec<u8>)>) -> Sender {
        Sender { queue: items.into_iter().collect(), ids: Vec::new() }
    }

    fn pump(&mut self, sim: &mut Sim, node: NodeIdx, session: SessionHandle) {
        if let Some(mut m) = sim.nodes[node].endpoint.session_mut(session) {
            while let Some((channel, payload)) = self.queue.front().cloned() {
                match m.send_message(channel, payload) {
                    Ok(id) => {
                        self.ids.push(id);
                        self.queue.pop_front();
                    }
                    Err(MessageError::Blocked) => break,
                    Err(e) => panic!("send_message failed: {e}"),
                }
            }
        }
        sim.flush(node);
    }
}

#[test]
fn a_five_mebibyte_message_and_a_routed_mebibyte_arrive_whole_at_five_percent_loss() {
    for seed in 0..2u64 {
        let (mut sim, c, s) = pair(900 + seed);
        sim.nodes[s].endpoint.register_name(NameAddress::of("video_sink"), NameQueueLimits::default()).unwrap();
        let (hc, hs) = establish(&mut sim, c, s);
        sim.default_link = Impairment { loss: 0.05, delay: Duration::from_millis(10), ..Default::default() };
        let big = pattern(5 << 20, seed);
        let routed = pattern(1 << 20, seed + 100);
        let mut sender =
            Sender::new([(Channel::Frame(0x81), big.clone()), (Channel::name("video_sink"), routed.clone())]);
        let mut got = Vec::new();
        let ok = drive(&mut sim, Duration::from_secs(600), |sim| {
            sender.pump(sim, c, hc);
            take_all(sim, s, hs, &mut got);
            got.len() == 2
        });
        assert!(ok, "seed {seed}: {} of 2 messages arrived", got.len());
        assert_eq!(got[0].channel, Channel::Frame(0x81));
        assert!(got[0].payload == big, "seed {seed}: the 5 MiB message differs");
        assert_eq!(got[1].channel, Channel::name("video_sink"));
        assert!(got[1].payload == routed, "seed {seed}: the routed message differs");
        assert_eq!(sender.ids, vec![MessageId(0), MessageId(1)]);
        let refused = sim.events_of(c, |e| matches!(e, Event::MessagesRefused { .. }).then_some(())).count();
        assert_eq!(refused, 0);
        let stream_events = sim
            .events_of(s, |e| matches!(e, Event::StreamOpened { .. } | Event::StreamReadable { .. }).then_some(()))
            .count();
        assert_eq!(stream_events, 0, "the message lane is not an application stream");
    }
}

#[test]
fn ten_thousand_small_messages_keep_their_order_beside_a_bulk_stream() {
    let (mut sim, c, s) = pair(77);
    let (hc, hs) = establish(&mut sim, c, s);
    sim.default_link = Impairment { loss: 0.05, delay: Duration::from_millis(5), ..Default::default() };
    let items = (0..10_000u32).map(|i| {
        let channel = Channel::Frame(if i.is_multiple_of(3) { 0x90 } else { 0x91 });
        (channel, format!("message {i} of its type").into_bytes())
    });
    let mut sender = Sender::new(items.clone());
    let bulk_data = pattern(2 << 20, 5);
    let stream = sim.nodes[c].endpoint.session_mut(hc).unwrap().open_stream(stt_proto::StreamMode::Reliable).unwrap();
    let mut bulk = Transfer::new(stream, bulk_data.clone(), 16_384);
    let mut got = Vec::new();
    let ok = drive(&mut sim, Duration::from_secs(600), |sim| {
        bulk.pump_write(sim, c, hc);
        sender.pump(sim, c, hc);
        take_all(sim, s, hs, &mut got);
        bulk.pump_read(sim, s, hs);
        got.len() == 10_000 && bulk.got_fin
    });
    assert!(ok, "{} of 10,000 messages, bulk finished: {}", got.len(), bulk.got_fin);
    assert!(bulk.received == bulk_data, "the bulk stream differs");
    let want: Vec<Message> = items.map(|(channel, payload)| Message { channel, payload: payload.into() }).collect();
    assert_eq!(got, want, "messages arrive whole and in the order they were sent");
}

#[test]
fn refused_messages_are_reported_by_id_and_the_lane_goes_on() {
    let mut small = config();
    small.max_message_size = 1000;
    let mut sim = Sim::new(31);
    let c = sim.add_node(config(), seed(1));
    let s = sim.add_node(small, seed(2));
    sim.nodes[s].endpoint.register_name(NameAddress::of("known"), NameQueueLimits::default()).unwrap();
    let (hc, hs) = establish(&mut sim, c, s);
    let mut sender = Sender::new([
        (Channel::Frame(0x80), b"first".to_vec()),
        (Channel::Frame(0x80), vec![7; 5000]),
        (Channel::name("unknown"), b"nobody".to_vec()),
        (Channel::name("known"), b"somebody".to_vec()),
        (Channel::Frame(0x80), Vec::new()),
    ]);
    let mut got = Vec::new();
    let ok = drive(&mut sim, Duration::from_secs(30), |sim| {
        sender.pump(sim, c, hc);
        take_all(sim, s, hs, &mut got);
        got.len() == 3 && sim.events_of(c, |e| matches!(e, Event::MessagesRefused { .. }).then_some(())).count() == 2
    });
    assert!(ok, "got {} messages", got.len());
    let payloads: Vec<&[u8]> = got.iter().map(|m| &m.payload[..]).collect();
    assert_eq!(payloads, vec![&b"first"[..], b"somebody", b""]);
    let refusals: Vec<(MessageId, u64, MessageRefusal)> = sim
        .events_of(c, |e| match e {
            Event::MessagesRefused { first, count, reason, .. } => Some((*first, *count, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        refusals,
        vec![(MessageId(1), 1, MessageRefusal::TooLarge), (MessageId(2), 1, MessageRefusal::UnknownName)]
    );
}

#[test]
fn local_mistakes_are_typed_errors_and_the_lane_is_not_a_stream() {
    let (mut sim, c, s) = pair(5);
    let (hc, _hs) = establish(&mut sim, c, s);
    let mut m = sim.nodes[c].endpoint.session_mut(hc).unwrap();
    assert_eq!(m.send_message(Channel::Frame(0x10), b"x".to_vec()), Err(MessageError::ReservedFrameType(0x10)));
    let max = 16 << 20;
    assert_eq!(
        m.send_message(Channel::Frame(0x80), vec![0; max + 1]),
        Err(MessageError::TooLarge { len: max + 1, max })
    );
    assert_eq!(m.send_message(Channel::Frame(0x80), b"x".to_vec()), Ok(MessageId(0)));
    // The lane took the first stream id of this side; the application cannot touch it.
    assert_eq!(m.read(StreamId(1)), Err(StreamError::UnknownStream(1)));
    assert_eq!(m.write(StreamId(1), b"x"), Err(StreamError::UnknownStream(1)));
    assert_eq!(m.stream_mode(StreamId(1)), None);
    assert_eq!(m.open_stream(stt_proto::StreamMode::Reliable), Ok(StreamId(3)));
}

#[test]
fn an_unread_lane_stops_the_sender_and_memory_stays_bounded() {
    let (mut sim, c, s) = pair(12);
    let (hc, hs) = establish(&mut sim, c, s);
    let mut sender = Sender::new((0..64).map(|i| (Channel::Frame(0x85), pattern(1 << 20, i))));
    // Nobody reads on the receiver: the sender blocks.
    let blocked = drive(&mut sim, Duration::from_secs(60), |sim| {
        sender.pump(sim, c, hc);
        !sender.queue.is_empty() && sim.next_event_time().is_none_or(|t| t > sim.now + Duration::from_secs(1))
    });
    sim.run_for(Duration::from_secs(5));
    sender.pump(&mut sim, c, hc);
    assert!(!sender.queue.is_empty(), "64 MiB went out with nobody reading (blocked: {blocked})");
    let ready = sim.nodes[s].endpoint.session(hs).unwrap().messages_ready();
    assert!(ready <= 17, "{ready} MiB-messages wait on the receiver: more than max_message_size and one message");
    let buffered = sim.nodes[s].endpoint.session(hs).unwrap().receive_buffered();
    assert!(buffered <= 16 << 20, "{buffered} bytes held in the lane beyond the session window");
    // Reading lets everything through, in order.
    let mut got = Vec::new();
    let ok = drive(&mut sim, Duration::from_secs(300), |sim| {
        sender.pump(sim, c, hc);
        take_all(sim, s, hs, &mut got);
        got.len() == 64
    });
    assert!(ok, "{} of 64 messages", got.len());
    assert!(got.iter().enumerate().all(|(i, m)| m.payload == pattern(1 << 20, i as u64)));
    assert!(sim.events_of(c, |e| matches!(e, Event::MessageWritable { .. }).then_some(())).count() > 0);
}

#[test]
fn a_lane_that_is_not_one_closes_the_session() {
    let (mut sim, c, s) = pair(8);
    let (hc, hs) = establish(&mut sim, c, s);
    // A message header of an unknown kind (0x07), sealed as the lane's first DATA.
    let mut payload = 0u64.to_be_bytes().to_vec();
    payload.extend_from_slice(&[0x07, 0, 0, 0, 0, 0]);
    let mut out = vec![0u8; 2048];
    let flags = stt_proto::wire::Flags::MESSAGE;
    let n = sim.nodes[c].endpoint.session_mut(hc).unwrap().seal_arbitrary_frame(0x10, 1, 0, flags, &payload, &mut out);
    let n = n.expect("sealed");
    let from = sim.nodes[c].addr;
    sim.inject(s, from, &out[..n]);
    sim.run_for(Duration::from_secs(2));
    let closed: Vec<CloseReason> = sim
        .events_of(c, |e| match e {
            Event::SessionClosed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert!(
        matches!(closed.as_slice(), [CloseReason::ClosedByPeer { code, .. }] if *code == stt_proto::close::MESSAGE_LANE_MALFORMED),
        "{closed:?}"
    );
    assert!(sim.nodes[s].endpoint.session(hs).is_none());
}
