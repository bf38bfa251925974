//! Two endpoints wired back to back in memory, one reliable stream from `a` to `b`, driven in
//! rounds of 50 µs virtual time. Used by the throughput benchmark and the allocation test.
//! Receive buffers are carved from one recycled pool, as a socket driver does.

use std::time::Duration;

use bytes::BytesMut;
use stt_proto::{
    Endpoint, EndpointConfig, Event, Identity, Instant, Remote, SessionHandle, StreamId, StreamMode, StreamRead,
};

/// The pair and its transfer state.
pub struct InMemoryPair {
    /// Sender.
    pub a: Endpoint,
    /// Receiver.
    pub b: Endpoint,
    a_addr: Remote,
    b_addr: Remote,
    pool: BytesMut,
    pool_chunk: usize,
    out: Vec<u8>,
    chunk: bytes::Bytes,
    zero_copy: bool,
    /// Virtual time.
    pub now: Instant,
    ha: SessionHandle,
    hb: Option<SessionHandle>,
    stream: StreamId,
    /// Stream bytes the receiving application has read.
    pub received: u64,
    /// Datagrams moved in either direction.
    pub datagrams: u64,
}

impl InMemoryPair {
    /// Both endpoints with `cfg`; the sender writes `write_chunk`-byte chunks (handed over as
    /// `Bytes` if `zero_copy`, else copied from a slice); receive buffers are carved from a pool
    /// refilled `pool_chunk` bytes at a time.
    pub fn new(cfg: EndpointConfig, write_chunk: usize, pool_chunk: usize, zero_copy: bool) -> Self {
        let mut a = Endpoint::new(cfg.clone(), Identity::from_seed_bytes(&[1; 32]).unwrap(), [1; 32]).unwrap();
        let b = Endpoint::new(cfg, Identity::from_seed_bytes(&[2; 32]).unwrap(), [2; 32]).unwrap();
        let now = Instant::from_nanos(1);
        let b_addr = Remote::udp("192.0.2.2:2".parse().unwrap());
        let ha = a.connect(now, b_addr).unwrap();
        let stream = a.session_mut(ha).unwrap().open_stream(StreamMode::Reliable).unwrap();
        InMemoryPair {
            a,
            b,
            a_addr: Remote::udp("192.0.2.1:1".parse().unwrap()),
            b_addr,
            pool: BytesMut::with_capacity(pool_chunk),
            pool_chunk,
            out: vec![0u8; 1500],
            chunk: bytes::Bytes::from(vec![0x42u8; write_chunk]),
            zero_copy,
            now,
            ha,
            hb: None,
            stream,
            received: 0,
            datagrams: 0,
        }
    }

    fn shuttle(
        from: &mut Endpoint,
        to: &mut Endpoint,
        addr: Remote,
        now: Instant,
        out: &mut [u8],
        pool: &mut BytesMut,
        pool_chunk: usize,
    ) -> u64 {
        let mut n = 0;
        while let Some(t) = from.poll_transmit(now, 1, out) {
            n += 1;
            if pool.capacity() < t.len {
                pool.reserve(pool_chunk);
            }
            pool.extend_from_slice(&out[..t.len]);
            to.handle_datagram(now, addr, pool.split());
        }
        n
    }

    /// One round: the sender fills its stream, 50 µs pass, both sides run timers and exchange
    /// everything they have, the receiver reads what arrived.
    pub fn round(&mut self) {
        if let Some(mut s) = self.a.session_mut(self.ha) {
            if self.zero_copy {
                while s.write_bytes(self.stream, &self.chunk).is_ok() {}
            } else {
                while s.write(self.stream, &self.chunk).is_ok() {}
            }
        }
        self.now += Duration::from_micros(50);
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.datagrams += Self::shuttle(
            &mut self.a,
            &mut self.b,
            self.a_addr,
            self.now,
            &mut self.out,
            &mut self.pool,
            self.pool_chunk,
        );
        self.datagrams += Self::shuttle(
            &mut self.b,
            &mut self.a,
            self.b_addr,
            self.now,
            &mut self.out,
            &mut self.pool,
            self.pool_chunk,
        );
        while let Some(ev) = self.b.poll_event() {
            if let Event::SessionEstablished { session, .. } = ev {
                self.hb = Some(session);
            }
        }
        while self.a.poll_event().is_some() {}
        if let Some(h) = self.hb {
            let mut s = self.b.session_mut(h).unwrap();
            while let Ok(Some(StreamRead::Data(d))) = s.read(self.stream) {
                self.received += d.len() as u64;
            }
        }
    }
}
