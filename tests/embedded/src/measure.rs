//! Memory figures of the run: a counting wrapper around the heap allocator (bytes in use and the
//! high-water mark), and the stack's high-water mark, found by painting the free RAM below the
//! stack with a pattern at start and looking for the deepest word that changed.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{AtomicUsize, Ordering};

use embedded_alloc::LlffHeap;

/// Heap for the two endpoints and everything they hold.
const HEAP_SIZE: usize = 512 * 1024;
/// Written over the free RAM between the end of the static data and the stack.
const PAINT: u32 = 0x5354_5354;

/// The heap allocator, counting what it hands out.
struct Counting {
    heap: LlffHeap,
    used: AtomicUsize,
    peak: AtomicUsize,
    /// The allocator's own high-water mark: requested bytes plus its rounding and alignment.
    heap_peak: AtomicUsize,
    allocations: AtomicUsize,
}

#[global_allocator]
static ALLOCATOR: Counting = Counting {
    heap: LlffHeap::empty(),
    used: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
    heap_peak: AtomicUsize::new(0),
    allocations: AtomicUsize::new(0),
};

static mut HEAP_MEMORY: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { self.heap.alloc(layout) };
        if !p.is_null() {
            self.allocations.fetch_add(1, Ordering::Relaxed);
            let used = self.used.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(used, Ordering::Relaxed);
            self.heap_peak.fetch_max(self.heap.used(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { self.heap.dealloc(ptr, layout) };
        self.used.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

extern "C" {
    /// The end of the static data (`cortex-m-rt`); the stack grows down towards it.
    static _stack_end: u32;
}

/// Gives the allocator its memory and paints the free RAM below the stack. Call first.
pub fn init() {
    // SAFETY: called once, before any allocation; the heap memory is used by nothing else.
    unsafe { ALLOCATOR.heap.init(addr_of_mut!(HEAP_MEMORY) as usize, HEAP_SIZE) }
    let bottom = addr_of!(_stack_end) as usize;
    // Leave the frames of this call and its caller alone.
    let here = cortex_m::register::msp::read() as usize - 256;
    let mut p = bottom;
    while p < here {
        // SAFETY: the words between the end of the static data and the live stack belong to no
        // one yet.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
}

/// Heap bytes requested and in use now, at most so far, the most the allocator had in use
/// (with its rounding and alignment: what a device must reserve, short of fragmentation), and
/// allocations made so far.
pub struct Heap {
    pub used: usize,
    pub peak: usize,
    pub allocator_peak: usize,
    pub allocations: usize,
}

pub fn heap() -> Heap {
    Heap {
        used: ALLOCATOR.used.load(Ordering::Relaxed),
        peak: ALLOCATOR.peak.load(Ordering::Relaxed),
        allocator_peak: ALLOCATOR.heap_peak.load(Ordering::Relaxed),
        allocations: ALLOCATOR.allocations.load(Ordering::Relaxed),
    }
}

/// The deepest the stack has been, in bytes below its start.
pub fn stack_peak() -> usize {
    extern "C" {
        static _stack_start: u32;
    }
    let top = addr_of!(_stack_start) as usize;
    let mut p = addr_of!(_stack_end) as usize;
    // SAFETY: reads of the painted region, which only the stack may have changed.
    while p < top && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    top - p
}
