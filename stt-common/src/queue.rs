//! The bounded queues between the core's events and the application's calls, the same in both
//! drivers: custom frames kept for a session whose application reads them itself
//! ([`FrameQueue`]), and the notes that give a node's arrivals in order ([`ArrivalNotes`]).

use std::collections::VecDeque;

use bytes::Bytes;

/// Custom frames a [`FrameQueue`] holds; past this the oldest is dropped.
pub const MAX_QUEUED_FRAMES: usize = 1024;

/// Arrival notes an [`ArrivalNotes`] holds; past this the oldest is dropped and the next empty
/// turn sweeps.
pub const MAX_ARRIVAL_NOTES: usize = 65_536;

/// Custom frames of one session that no handler took, waiting for the application to read them.
///
/// Custom frames are best-effort and fresh data matters more than old: when
/// [`MAX_QUEUED_FRAMES`] are waiting, a new frame pushes out the oldest, which the driver counts
/// as dropped.
#[derive(Debug, Default)]
pub struct FrameQueue {
    frames: VecDeque<(u8, Bytes)>,
}

impl FrameQueue {
    /// Queues a frame of `frame_type`. Returns true if the oldest frame was dropped for it.
    pub fn push(&mut self, frame_type: u8, payload: Bytes) -> bool {
        let dropped = self.frames.len() == MAX_QUEUED_FRAMES;
        if dropped {
            self.frames.pop_front();
        }
        self.frames.push_back((frame_type, payload));
        dropped
    }

    /// The oldest frame waiting.
    pub fn pop(&mut self) -> Option<(u8, Bytes)> {
        self.frames.pop_front()
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// The order in which things arrived (sessions, streams, frames, messages: the driver's `T`),
/// kept only while someone reads arrivals in order, bounded.
///
/// A note stands for an item in the driver's own queues; the item may be taken by another call
/// first, so a reader skips notes whose item is gone. Items that have no note (they arrived before
/// anyone listened, or their note was dropped at the bound) are found by a sweep of the driver's
/// queues: [`ArrivalNotes::must_sweep`] says when one is needed.
#[derive(Debug)]
pub struct ArrivalNotes<T> {
    notes: VecDeque<T>,
    listeners: usize,
    sweep: bool,
}

impl<T> Default for ArrivalNotes<T> {
    fn default() -> Self {
        ArrivalNotes { notes: VecDeque::new(), listeners: 0, sweep: false }
    }
}

impl<T> ArrivalNotes<T> {
    /// A reader of arrivals appears: notes are kept from now on, and whatever is queued already
    /// (without a note) is swept.
    pub fn listen(&mut self) {
        self.listeners += 1;
        self.sweep = true;
    }

    /// A reader is gone; with the last one, the notes are dropped.
    pub fn unlisten(&mut self) {
        self.listeners = self.listeners.saturating_sub(1);
        if self.listeners == 0 {
            self.notes.clear();
        }
    }

    /// Whether anyone reads arrivals in order.
    pub fn listening(&self) -> bool {
        self.listeners > 0
    }

    /// Notes an arrival, if anyone listens. Returns true if a reader should be woken.
    pub fn note(&mut self, arrival: T) -> bool {
        if self.listeners == 0 {
            return false;
        }
        if self.notes.len() == MAX_ARRIVAL_NOTES {
            self.notes.pop_front();
            self.sweep = true;
        }
        self.notes.push_back(arrival);
        true
    }

    /// The oldest note.
    pub fn pop(&mut self) -> Option<T> {
        self.notes.pop_front()
    }

    /// Whether some queued item may have no note, so that a reader who ran out of notes must
    /// sweep the driver's queues before waiting.
    pub fn must_sweep(&self) -> bool {
        self.sweep
    }

    /// A sweep found `found` (an item, or nothing: then every item has a note again).
    pub fn swept<I>(&mut self, found: Option<I>) -> Option<I> {
        if found.is_none() {
            self.sweep = false;
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_frame_queue_keeps_the_newest() {
        let mut q = FrameQueue::default();
        for i in 0..MAX_QUEUED_FRAMES {
            assert!(!q.push(0x80, Bytes::from((i as u32).to_be_bytes().to_vec())));
        }
        assert!(q.push(0x81, Bytes::from_static(b"newest")));
        assert_eq!(q.len(), MAX_QUEUED_FRAMES);
        assert_eq!(q.pop().unwrap().1.as_ref(), 1u32.to_be_bytes());
        let last = std::iter::from_fn(|| q.pop()).last().unwrap();
        assert_eq!(last, (0x81, Bytes::from_static(b"newest")));
        assert!(q.is_empty());
    }

    #[test]
    fn notes_are_kept_only_while_someone_listens() {
        let mut n = ArrivalNotes::default();
        assert!(!n.note(1));
        n.listen();
        assert!(n.must_sweep(), "what came before has no note");
        assert_eq!(n.swept(None::<u8>), None);
        assert!(!n.must_sweep());
        assert!(n.note(2));
        n.listen();
        n.unlisten();
        assert_eq!(n.pop(), Some(2));
        n.note(3);
        n.unlisten();
        assert!(!n.listening());
        assert_eq!(n.pop(), None);
    }

    #[test]
    fn dropped_notes_ask_for_a_sweep() {
        let mut n = ArrivalNotes::default();
        n.listen();
        n.swept(None::<u8>);
        for i in 0..=MAX_ARRIVAL_NOTES {
            n.note(i);
        }
        assert!(n.must_sweep());
        assert_eq!(n.pop(), Some(1));
        assert_eq!(n.swept(Some(7)), Some(7));
        assert!(n.must_sweep(), "a sweep that found something may find more");
    }
}
