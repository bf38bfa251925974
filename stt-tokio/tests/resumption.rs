//! Resumption through the tokio driver on loopback: a second session to the same peer resumes
//! (one round trip, a ticket used), and a ticket saved from one node opens a session from a new
//! node of the same identity (what the `stt` tool's tickets file does across runs), and
//! `connect_early` sends its data with a resumed INIT (0-RTT) or, without a ticket, after the
//! handshake.

mod common;

use common::*;
use stt_tokio::stt_proto::bytes::Bytes;
use stt_tokio::stt_proto::Channel;
use stt_tokio::{EarlyData, Node, SavedTicket, Seed};

fn resuming(node_seed: u8) -> stt_tokio::NodeConfig {
    config(1).node_seed(Seed::new(&[node_seed; 32]).unwrap()).resumption(true)
}

/// Runs until `node` holds a ticket (NEW_TICKET follows the session's confirmation).
async fn ticket_of(node: &Node) -> SavedTicket {
    within(10, "ticket", async {
        loop {
            if let Some(t) = node.saved_tickets().pop() {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_second_session_resumes_and_a_saved_ticket_serves_a_new_node() {
    let server = Node::bind(resuming(50)).await.unwrap();
    let client = Node::bind(resuming(51)).await.unwrap();
    let s = within(10, "connect", client.connect(server.local_addr())).await.unwrap();
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    s.send_frame(0x80, &b"first"[..]).unwrap();
    let ticket = ticket_of(&client).await;
    assert_eq!(ticket.peer, server.node_id());
    s.close(0, "done").await;
    within(10, "closed", accepted.closed()).await;

    let s = within(10, "resume", client.connect_to(server.local_addr(), server.node_id())).await.unwrap();
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    assert_eq!(accepted.peer(), client.node_id());
    assert_eq!(server.stats().endpoint.sessions_resumed, 1);
    s.close(0, "done").await;
    within(10, "closed", accepted.closed()).await;

    // The client goes; a new node of the same identity restores the ticket the resumed session
    // gave, from its bytes, and resumes too.
    let bytes = ticket_of(&client).await.to_bytes();
    drop(client);
    let again = Node::bind(resuming(51)).await.unwrap();
    again.restore_ticket(SavedTicket::from_bytes(&bytes).unwrap());
    let s = within(10, "resume from a file", again.connect_to(server.local_addr(), server.node_id())).await.unwrap();
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    assert_eq!(accepted.peer(), again.node_id());
    assert_eq!(server.stats().endpoint.sessions_resumed, 2);
    assert_eq!(server.stats().endpoint.tickets_refused, 0);
    drop(s);
}

#[tokio::test]
async fn connect_early_sends_its_data_with_a_resumed_init_and_after_the_handshake_without_a_ticket() {
    let server = Node::bind(resuming(52)).await.unwrap();
    let client = Node::bind(resuming(53)).await.unwrap();
    let (addr, peer) = (server.local_addr(), server.node_id());
    let early = |tag: &'static [u8]| {
        EarlyData::default().frame(0x80, tag).message(Channel::Frame(0x81), Bytes::from_static(b"a message"))
    };
    // No ticket yet: the data goes once the session is open.
    let (s, zero_rtt) = within(10, "connect", client.connect_early(addr, peer, early(b"first"))).await.unwrap();
    assert!(!zero_rtt, "no ticket to resume with");
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    assert_eq!(within(10, "frame", accepted.recv_frame()).await.unwrap(), (0x80, Bytes::from_static(b"first")));
    let m = within(10, "message", accepted.recv_message()).await.unwrap();
    assert_eq!((m.channel, &m.payload[..]), (Channel::Frame(0x81), &b"a message"[..]));
    ticket_of(&client).await;
    s.close(0, "done").await;
    within(10, "closed", accepted.closed()).await;

    // With the ticket: 0-RTT, the same data, delivered once.
    let (s, zero_rtt) = within(10, "resume", client.connect_early(addr, peer, early(b"early"))).await.unwrap();
    assert!(zero_rtt, "resumed with 0-RTT data");
    let accepted = within(10, "accept", server.accept()).await.unwrap();
    assert_eq!(within(10, "frame", accepted.recv_frame()).await.unwrap(), (0x80, Bytes::from_static(b"early")));
    let m = within(10, "message", accepted.recv_message()).await.unwrap();
    assert_eq!(&m.payload[..], b"a message");
    assert_eq!(server.stats().endpoint.sessions_resumed, 1);
    // A frame type STT reserves is refused before anything is sent.
    let bad = EarlyData::default().frame(0x10, &b"x"[..]);
    assert!(matches!(client.connect_early(addr, peer, bad).await, Err(stt_tokio::Error::Frame(_))));
    drop(s);
}
