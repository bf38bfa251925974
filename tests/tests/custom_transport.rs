//! A transport a driver brings (`Transport::Custom`, `CustomAddress`): the example driver over
//! an in-memory pipe (`stt-proto/examples/pipe_driver.rs`) moves a mebibyte through 10% loss, a
//! custom address goes in and out of a `Remote` unchanged and never equals an IP one, and the
//! datagram size of custom paths is its own setting.

#[path = "../../stt-proto/examples/pipe_driver.rs"]
#[allow(dead_code)]
mod pipe_driver;

use stt_proto::{ConfigError, CustomAddress, Endpoint, EndpointConfig, Identity, Instant, Remote, Seed, Transport};

#[test]
fn the_pipe_driver_moves_a_mebibyte_through_ten_percent_loss() {
    let (sent, received) = pipe_driver::demonstrate(1 << 20, 0.1);
    assert_eq!(received.len(), sent.len());
    assert!(received == sent, "the bytes that arrived are the bytes sent");
}

#[test]
fn a_custom_address_round_trips_and_is_its_own_kind_of_remote() {
    let mut bytes = [0u8; 18];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = 0xA0 + i as u8;
    }
    let address = CustomAddress(bytes);
    let remote = Remote::custom(3, address);
    assert_eq!(remote.transport, Transport::Custom(3));
    assert_eq!(remote.custom_address(), Some(address));
    assert_eq!(Remote::udp(remote.addr).custom_address(), None);
    assert_ne!(Remote::udp(remote.addr), remote, "the same bytes on UDP are another remote");
    assert_ne!(Remote::custom(4, address), remote, "and on another custom transport too");
    assert_eq!(CustomAddress::from_u64(0x0102).0[14..], [1, 2, 0, 0]);
}

#[test]
fn custom_paths_have_their_own_datagram_size() {
    let mut cfg = EndpointConfig::with_shared_seed(Seed::new(&[0x5E; 32]).unwrap());
    cfg.max_custom_datagram = 100;
    let identity = || Identity::from_seed_bytes(&[1; 32]).unwrap();
    assert!(matches!(Endpoint::new(cfg.clone(), identity(), [1; 32]), Err(ConfigError::DatagramTooSmall { .. })));
    cfg.max_custom_datagram = 600;
    let mut ep = Endpoint::new(cfg, identity(), [1; 32]).unwrap();
    let on_pipe = ep.connect(Instant::ZERO, Remote::custom(0, CustomAddress::from_u64(9))).unwrap();
    let on_udp = ep.connect(Instant::ZERO, Remote::udp("192.0.2.9:9".parse().unwrap())).unwrap();
    assert_eq!(ep.session(on_pipe).unwrap().max_frame_payload(), 600 - 52);
    assert_eq!(ep.session(on_udp).unwrap().max_frame_payload(), 1472 - 52);
    let mut buf = [0u8; 2048];
    while let Some(t) = ep.poll_transmit(Instant::ZERO, 1, &mut buf) {
        assert!(t.len <= if t.remote.transport == Transport::Udp { 1472 } else { 600 });
    }
}
