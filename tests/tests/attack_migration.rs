//! Off-path migration: a copy of one authentic datagram, delivered first from another address,
//! must not move the session there (which would point the node's flow at a third party).
//! `docs/SECURITY.md` lists what these tests defend.

mod common;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use stt_proto::{Event, Remote};
use stt_tests::sim::Verdict;

#[test]
fn a_replayed_datagram_from_another_address_does_not_redirect_the_flow() {
    let (mut sim, c, s) = pair(95);
    let (hc, hs) = establish(&mut sim, c, s);
    let (client, server) = (sim.nodes[c].addr, sim.nodes[s].addr);
    let victim: SocketAddr = "10.66.66.66:666".parse().unwrap();
    // The next datagram from the client is stolen on the way and sent on from the victim's
    // address instead (it arrives first: the original is dropped).
    let stolen = Rc::new(RefCell::new(None::<Vec<u8>>));
    let thief = stolen.clone();
    sim.intercept(move |d| {
        if d.from == client && d.to == server && thief.borrow().is_none() {
            *thief.borrow_mut() = Some(d.bytes.clone());
            return Verdict::Drop;
        }
        Verdict::Deliver
    });
    send(&mut sim, c, hc, 0x80, b"an authentic frame");
    sim.run_for(Duration::from_millis(20));
    sim.clear_interceptor();
    let copy = stolen.borrow_mut().take().expect("a datagram was stolen");
    sim.record();
    sim.inject(s, victim, &copy);
    // The server now sends a bulk flow to its peer.
    let data: Vec<u8> = (0..2u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let t = transfer(&mut sim, (s, hs), (c, hc), data.clone(), 64 << 10, Duration::from_secs(60));
    assert!(t.received == data, "the transfer to the real peer completes");
    let to_victim: usize = sim.tap.as_ref().unwrap().iter().filter(|d| d.to == victim).map(|d| d.bytes.len()).sum();
    assert!(
        to_victim <= 3 * copy.len(),
        "the victim got {to_victim} bytes for the {} it 'sent' (at most 3x: path challenges only)",
        copy.len()
    );
    assert!(to_victim > 0, "the new address was challenged");
    assert_eq!(sim.nodes[s].endpoint.session(hs).unwrap().remote(), Remote::udp(client), "the session stayed");
    assert!(!sim.nodes[s].events.iter().any(|e| matches!(e, Event::SessionMigrated { .. })));
}
