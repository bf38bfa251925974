//! UDP I/O: batched through `quinn-udp` (GSO on send, GRO and `recvmmsg` on receive, where the
//! OS has them) or plain one-datagram-per-call, both non-blocking on a tokio socket.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Bytes of one receive slot: room for a GRO batch of full datagrams.
const SLOT: usize = 64 * 1024;
/// Most receive slots per call.
const MAX_BATCH: usize = 32;

/// A UDP socket with its batching state.
pub(crate) struct UdpIo {
    socket: UdpSocket,
    state: Option<quinn_udp::UdpSocketState>,
    local: SocketAddr,
}

/// Receive buffers, reused across calls.
pub(crate) struct RecvBufs {
    slots: Vec<Vec<u8>>,
    meta: Vec<quinn_udp::RecvMeta>,
}

impl RecvBufs {
    pub(crate) fn new() -> Self {
        let n = quinn_udp::BATCH_SIZE.clamp(1, MAX_BATCH);
        RecvBufs { slots: vec![vec![0u8; SLOT]; n], meta: vec![quinn_udp::RecvMeta::default(); n] }
    }
}

impl UdpIo {
    /// Binds `addr`; `batching` turns on GSO/GRO and multi-datagram calls.
    pub(crate) fn bind(addr: SocketAddr, batching: bool) -> io::Result<UdpIo> {
        UdpIo::from_std(std::net::UdpSocket::bind(addr)?, batching)
    }

    /// Binds `count` sockets to `addr` as one `SO_REUSEPORT` group (all on the port the first
    /// gets), in shard order, and asks the kernel to steer each datagram to the socket of the
    /// shard its session id names. Returns the sockets and whether the steering took (Linux);
    /// without it the kernel spreads datagrams by address and port, and the shards hand on what
    /// is not theirs.
    pub(crate) fn bind_group(addr: SocketAddr, count: u16, batching: bool) -> io::Result<(Vec<UdpIo>, bool)> {
        let mut sockets = Vec::with_capacity(usize::from(count));
        let mut at = addr;
        for _ in 0..count {
            let socket = socket2::Socket::new(
                socket2::Domain::for_address(at),
                socket2::Type::DGRAM,
                Some(socket2::Protocol::UDP),
            )?;
            socket.set_reuse_port(true)?;
            socket.bind(&at.into())?;
            let std_socket: std::net::UdpSocket = socket.into();
            let udp = UdpIo::from_std(std_socket, batching)?;
            at = udp.local;
            sockets.push(udp);
        }
        let steered = steer_by_session_id(&sockets[0].socket, count).is_ok();
        Ok((sockets, steered))
    }

    fn from_std(std_socket: std::net::UdpSocket, batching: bool) -> io::Result<UdpIo> {
        std_socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(std_socket)?;
        let state = if batching { Some(stt_common::batched_udp(&socket)?) } else { None };
        let local = socket.local_addr()?;
        Ok(UdpIo { socket, state, local })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub(crate) fn batching(&self) -> bool {
        self.state.is_some()
    }

    /// Most datagrams one GSO send may carry.
    pub(crate) fn max_segments(&self) -> usize {
        self.state.as_ref().map_or(1, |s| s.max_gso_segments()).clamp(1, 64)
    }

    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Receives what is waiting without blocking and hands each datagram to `on`. Returns the
    /// number of datagrams, or `WouldBlock` when there were none.
    pub(crate) fn try_recv(&self, bufs: &mut RecvBufs, mut on: impl FnMut(SocketAddr, &[u8])) -> io::Result<usize> {
        match &self.state {
            Some(state) => {
                let RecvBufs { slots, meta } = bufs;
                let count = slots.len();
                let mut free = slots.iter_mut();
                let mut iov: [IoSliceMut<'_>; MAX_BATCH] =
                    std::array::from_fn(|_| IoSliceMut::new(free.next().map_or(&mut [][..], |s| &mut s[..])));
                let n = self
                    .socket
                    .try_io(Interest::READABLE, || state.recv((&self.socket).into(), &mut iov[..count], meta))?;
                let mut count = 0;
                for (m, slot) in meta.iter().zip(slots.iter()).take(n) {
                    let stride = m.stride.max(1);
                    for d in slot[..m.len].chunks(stride) {
                        on(m.addr, d);
                        count += 1;
                    }
                }
                Ok(count)
            }
            None => {
                let (len, from) = self.socket.try_recv_from(&mut bufs.slots[0])?;
                on(from, &bufs.slots[0][..len]);
                Ok(1)
            }
        }
    }

    /// Sends `contents` to `to`: one datagram, or with `segment_size` several of that size back
    /// to back (the last may be shorter). Errors other than `WouldBlock` are the network's
    /// business (the protocol recovers from loss) and are returned for counting only.
    pub(crate) async fn send(&self, to: SocketAddr, contents: &[u8], segment_size: Option<usize>) -> io::Result<()> {
        loop {
            self.socket.writable().await?;
            let r = match &self.state {
                Some(state) => {
                    let t = quinn_udp::Transmit { destination: to, ecn: None, contents, segment_size, src_ip: None };
                    self.socket.try_io(Interest::WRITABLE, || state.try_send((&self.socket).into(), &t))
                }
                None => self.socket.try_send_to(contents, to).map(|_| ()),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) if segment_size.is_some() => {
                    // The batch was refused as a whole (GSO unsupported on this path): one by one.
                    let seg = segment_size.unwrap_or(contents.len()).max(1);
                    for d in contents.chunks(seg) {
                        Box::pin(self.send(to, d, None)).await?;
                    }
                    return Ok(());
                }
                other => return other,
            }
        }
    }
}

/// Attaches to a `SO_REUSEPORT` group of `count` sockets a classic BPF program that hands each
/// datagram to socket `session_id mod count`, the session id being bytes 3 to 10 of the UDP
/// payload (the first frame's header; a handshake tag in INIT, CHALLENGE and REJECT). A datagram
/// too short to have one goes to socket 0, which drops it.
#[cfg(target_os = "linux")]
fn steer_by_session_id(socket: &UdpSocket, count: u16) -> io::Result<()> {
    use nix::libc::{sock_filter, sock_fprog};
    use nix::sys::socket::{setsockopt, sockopt::AttachReusePortCbpf};

    const LD_W_ABS: u16 = 0x20; // A = payload[k..k + 4], big-endian
    const MOD_K: u16 = 0x94; // A %= k
    const MUL_K: u16 = 0x24; // A *= k
    const ADD_X: u16 = 0x0c; // A += X
    const ST: u16 = 0x02; // M[k] = A
    const LDX_MEM: u16 = 0x61; // X = M[k]
    const RET_A: u16 = 0x16; // return A
    let op = |code, k| sock_filter { code, jt: 0, jf: 0, k };
    let n = u32::from(count);
    // (high * 2^32 + low) mod n, in 32-bit steps: ((high mod n) * (2^32 mod n) + low mod n) mod n.
    let two_32_mod_n = ((1u64 << 32) % u64::from(n)) as u32;
    let mut program = [
        op(LD_W_ABS, 3),
        op(MOD_K, n),
        op(MUL_K, two_32_mod_n),
        op(ST, 0),
        op(LDX_MEM, 0),
        op(LD_W_ABS, 7),
        op(MOD_K, n),
        op(ADD_X, 0),
        op(MOD_K, n),
        op(RET_A, 0),
    ];
    let fprog = sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
    setsockopt(socket, AttachReusePortCbpf, &fprog).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn steer_by_session_id(_socket: &UdpSocket, _count: u16) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "steering by session id needs Linux"))
}
