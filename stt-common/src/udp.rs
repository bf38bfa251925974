//! How both drivers set up a UDP socket for batched I/O (`quinn-udp`: GSO on send, GRO and
//! `recvmmsg` on receive, where the OS has them).

use std::io;

use quinn_udp::{UdpSockRef, UdpSocketState};

/// Kernel buffer size asked for in each direction: large buffers absorb bursts on fast paths.
pub const UDP_BUFFER_BYTES: usize = 4 << 20;

/// The batching state of `socket` (any socket type `quinn-udp` can use: std, tokio, mio), with
/// its kernel buffers raised to [`UDP_BUFFER_BYTES`]; a buffer the OS refuses to raise stays at
/// its default.
pub fn batched_udp<S>(socket: &S) -> io::Result<UdpSocketState>
where
    for<'a> &'a S: Into<UdpSockRef<'a>>,
{
    let state = UdpSocketState::new(socket.into())?;
    let _ = state.set_send_buffer_size(socket.into(), UDP_BUFFER_BYTES);
    let _ = state.set_recv_buffer_size(socket.into(), UDP_BUFFER_BYTES);
    Ok(state)
}
