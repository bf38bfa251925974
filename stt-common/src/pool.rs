//! Receive pools: received datagrams are slices cut from the front of a large buffer and handed
//! to the core without further copies.

use bytes::BytesMut;

/// Two large buffers that received datagrams are cut from. When the one in use runs low, the
/// pool swaps to the other and reclaims it (`clear` + `reserve`), which reuses its allocation
/// once the core has let go of every slice of it (it usually has: a whole buffer of datagrams
/// has been processed by then). So steady-state receiving allocates nothing.
///
/// Either receive straight into [`RecvPool::room`] and cut what arrived with
/// [`RecvPool::take`], or copy a datagram received elsewhere with [`RecvPool::copy`].
#[derive(Debug)]
pub struct RecvPool {
    /// The writable rest of the buffer in use (zeroed once when the buffer is reclaimed).
    pool: BytesMut,
    /// The previous buffer, reclaimed at the next swap.
    spare: BytesMut,
    /// Bytes each buffer holds.
    size: usize,
}

impl RecvPool {
    /// A pool of two buffers of `size` bytes each (allocated on first use).
    pub fn new(size: usize) -> Self {
        RecvPool { pool: BytesMut::new(), spare: BytesMut::new(), size }
    }

    /// At least `min` writable bytes at the front of the pool, to receive into; then
    /// [`RecvPool::take`] cuts off what was written.
    pub fn room(&mut self, min: usize) -> &mut [u8] {
        if self.pool.len() < min {
            std::mem::swap(&mut self.pool, &mut self.spare);
            self.pool.clear();
            self.pool.reserve(self.size.max(min));
            self.pool.resize(self.pool.capacity(), 0);
        }
        &mut self.pool[..]
    }

    /// The first `len` bytes of [`RecvPool::room`], as a slice of their own.
    ///
    /// # Panics
    ///
    /// If `len` is larger than the room last asked for.
    pub fn take(&mut self, len: usize) -> BytesMut {
        self.pool.split_to(len)
    }

    /// A copy of `datagram` in a slice of the pool.
    pub fn copy(&mut self, datagram: &[u8]) -> BytesMut {
        self.room(datagram.len())[..datagram.len()].copy_from_slice(datagram);
        self.take(datagram.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_cut_in_order_and_the_buffers_reused() {
        let mut pool = RecvPool::new(1000);
        let a = pool.copy(&[1u8; 600]);
        let b = pool.copy(&[2u8; 300]);
        assert_eq!((&a[..], &b[..]), (&[1u8; 600][..], &[2u8; 300][..]));
        let first = a.as_ptr();
        drop((a, b));
        // 600 + 300 used: the next 200 bytes do not fit, so the pool swaps (to a new buffer);
        // the one after that swaps back and reuses the first allocation, now free.
        let c = pool.copy(&[3u8; 200]);
        assert_ne!(c.as_ptr(), first);
        drop(c);
        let room = pool.room(900);
        room[..5].copy_from_slice(b"hello");
        let e = pool.take(5);
        assert_eq!(&e[..], b"hello");
        assert_eq!(e.as_ptr(), first, "the first buffer's allocation is reused");
        let d = pool.copy(&[4u8; 950]);
        assert_eq!(&d[..], &[4u8; 950][..]);
    }

    #[test]
    fn a_datagram_larger_than_a_buffer_still_fits() {
        let mut pool = RecvPool::new(16);
        assert_eq!(pool.copy(&[9u8; 100]).len(), 100);
    }
}
