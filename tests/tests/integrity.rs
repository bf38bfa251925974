//! Tampering and replay: every flipped bit is dropped and counted; replays create nothing.

mod common;

use std::time::Duration;

use common::*;
use stt_proto::{Event, Remote};
use stt_tests::sim::Verdict;

/// Captures the next datagram `c` sends to `s` without delivering it.
fn capture_next(sim: &mut stt_tests::Sim, send_it: impl FnOnce(&mut stt_tests::Sim)) -> Vec<u8> {
    let grabbed = std::rc::Rc::new(std::cell::RefCell::new(None));
    let g = grabbed.clone();
    sim.intercept(move |d| {
        if g.borrow().is_none() {
            *g.borrow_mut() = Some(d.bytes.clone());
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    send_it(sim);
    sim.clear_interceptor();
    let out = grabbed.borrow_mut().take().expect("a datagram was sent");
    out
}

#[test]
fn every_single_bit_flip_is_dropped_counted_and_harmless() {
    let (mut sim, c, s) = pair(20);
    let (hc, hs) = establish(&mut sim, c, s);
    sim.run_for(Duration::from_millis(100));
    let original = capture_next(&mut sim, |sim| send(sim, c, hc, 0xA0, b"integrity matters"));
    let from = sim.nodes[c].addr;
    let total_bits = original.len() * 8;
    assert!(total_bits > 500);
    println!("flipping each of {total_bits} bits of a {}-byte datagram", original.len());
    for bit in 0..total_bits {
        let before = sim.nodes[s].endpoint.stats().dropped.total();
        let mut bad = original.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        sim.inject(s, from, &bad);
        let after = sim.nodes[s].endpoint.stats().dropped.total();
        assert_eq!(after, before + 1, "bit {bit}: the frame must be dropped and counted exactly once");
    }
    assert!(custom_payloads(&sim, s, hs).is_empty(), "no tampered frame was delivered");
    // The untouched frame is still fresh (nothing forged moved the replay window) and delivers.
    sim.inject(s, from, &original);
    assert_eq!(custom_payloads(&sim, s, hs), vec![b"integrity matters".to_vec()]);
    // And the session goes on in both directions.
    send(&mut sim, c, hc, 0xA0, b"still here");
    send(&mut sim, s, hs, 0xA1, b"me too");
    sim.run_for(Duration::from_millis(100));
    assert_eq!(custom_payloads(&sim, s, hs).len(), 2);
    assert_eq!(custom_payloads(&sim, c, hc), vec![b"me too".to_vec()]);
    let st = sim.nodes[s].endpoint.session(hs).unwrap().stats();
    assert!(st.dropped.authentication > 0);
}

#[test]
fn a_replayed_data_frame_is_dropped_and_counted() {
    let (mut sim, c, s) = pair(21);
    let (hc, hs) = establish(&mut sim, c, s);
    sim.record();
    send(&mut sim, c, hc, 0x80, b"once");
    sim.run_for(Duration::from_millis(50));
    let recorded = sim.tap.as_ref().unwrap().iter().find(|d| d.bytes[2] == 0x80).unwrap().clone();
    assert_eq!(custom_payloads(&sim, s, hs).len(), 1);
    for _ in 0..3 {
        sim.inject(s, recorded.from, &recorded.bytes);
    }
    assert_eq!(custom_payloads(&sim, s, hs).len(), 1, "delivered exactly once");
    assert_eq!(sim.nodes[s].endpoint.session(hs).unwrap().stats().dropped.replayed, 3);
    assert_eq!(sim.nodes[s].endpoint.stats().dropped.session.replayed, 3);
}

#[test]
fn replayed_handshake_messages_create_no_session() {
    let (mut sim, c, s) = pair(22);
    sim.record();
    let (hc, _) = establish(&mut sim, c, s);
    let tap = sim.tap.take().unwrap();
    let init = tap.iter().find(|d| d.bytes[2] == 0x01).unwrap().clone();
    let response = tap.iter().find(|d| d.bytes[2] == 0x03).unwrap().clone();

    // While the session lives: a replayed RESPONSE only re-sends CONFIRM.
    sim.inject(s, response.from, &response.bytes);
    assert_eq!(sim.nodes[s].endpoint.session_count(), 1);

    // Close the session, then replay at once (within the cookie lifetime) and much later.
    sim.nodes[c].endpoint.session_mut(hc).unwrap().close(sim.now, 0, "done");
    sim.flush(c);
    sim.run_for(Duration::from_millis(100));
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);
    sim.inject(s, response.from, &response.bytes);
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0, "recently closed session id is not revived");
    assert_eq!(sim.nodes[s].endpoint.stats().dropped.replayed_handshake, 1);

    sim.run_for(Duration::from_secs(60));
    let before = sim.nodes[s].endpoint.stats();
    sim.inject(s, init.from, &init.bytes);
    sim.inject(s, response.from, &response.bytes);
    sim.run_for(Duration::from_secs(1));
    let after = sim.nodes[s].endpoint.stats();
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);
    assert_eq!(after.sessions_established, before.sessions_established);
    assert_eq!(after.dropped.invalid_cookie, before.dropped.invalid_cookie + 1, "the old cookie expired");
    assert_eq!(sim.nodes[c].endpoint.session_count(), 0, "the stale CHALLENGE finds no handshake");
    assert_eq!(sim.established(s), 1);
}

#[test]
fn a_response_from_another_address_is_refused() {
    let (mut sim, c, s) = pair(23);
    sim.record();
    // Hold back the real RESPONSE, replay it from elsewhere: the cookie is bound to the address.
    sim.intercept(|d| if d.bytes[2] == 0x03 { Verdict::Drop } else { Verdict::Deliver });
    sim.connect(c, s);
    sim.run_for(Duration::from_millis(100));
    let response = sim.tap.as_ref().unwrap().iter().find(|d| d.bytes[2] == 0x03).unwrap().clone();
    sim.inject(s, "192.0.2.1:9999".parse().unwrap(), &response.bytes);
    assert_eq!(sim.nodes[s].endpoint.session_count(), 0);
    assert_eq!(sim.nodes[s].endpoint.stats().dropped.invalid_cookie, 1);
}

#[test]
fn an_authenticated_frame_from_a_new_address_moves_the_session() {
    let (mut sim, c, s) = pair(24);
    let (hc, hs) = establish(&mut sim, c, s);
    let new_addr = "10.9.9.9:5555".parse().unwrap();
    sim.rebind(c, new_addr);
    send(&mut sim, c, hc, 0x80, b"from my new port");
    sim.run_for(Duration::from_millis(50));
    assert!(sim.nodes[s]
        .events
        .iter()
        .any(|e| matches!(e, Event::SessionMigrated { remote, .. } if *remote == Remote::udp(new_addr))));
    assert_eq!(sim.nodes[s].endpoint.session(hs).unwrap().remote(), Remote::udp(new_addr));
    send(&mut sim, s, hs, 0x81, b"found you");
    sim.run_for(Duration::from_millis(50));
    assert_eq!(custom_payloads(&sim, c, hc), vec![b"found you".to_vec()]);
}

#[test]
fn garbage_never_disturbs_a_live_session() {
    let (mut sim, c, s) = pair(25);
    let (hc, hs) = establish(&mut sim, c, s);
    let mut rng = stt_tests::sim::TestRng::new(99);
    let from = sim.nodes[c].addr;
    for i in 0..5_000 {
        let len = (rng.next_u64() % 300) as usize;
        let mut junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if i % 2 == 0 && junk.len() > 24 {
            // Make half of them look like STT frames for the live session.
            junk[..2].copy_from_slice(b"ST");
            junk[2] = 0x80 | (i as u8);
            let sid = sim.nodes[s].endpoint.session(hs).unwrap().session_id();
            junk[3..11].copy_from_slice(&sid.to_be_bytes());
        }
        sim.inject(s, from, &junk);
    }
    assert!(custom_payloads(&sim, s, hs).is_empty());
    send(&mut sim, c, hc, 0x80, b"after the storm");
    sim.run_for(Duration::from_millis(50));
    assert_eq!(custom_payloads(&sim, s, hs), vec![b"after the storm".to_vec()]);
}
