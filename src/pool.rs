//! A process-wide pool of staging blocks, and the block a writer's small writes are copied into.
//!
//! Small and copied writes are gathered into blocks of [`BLOCK`] bytes. A block is filled by
//! the producer's thread and released by the I/O context once written, usually on another
//! thread: with plain allocations that pattern makes the allocator trim and re-fault memory at
//! the pipe's pace (measured: hundreds of thousands of page faults per GiB, and half the
//! throughput of the zero-copy path). Released blocks go back to this pool instead, up to
//! [`MAX_POOLED`] of them (2 MiB for the whole process), and new blocks are taken from it.
//!
//! A block is filled front to back by one [`Tail`] and handed out in pieces: each OS write
//! takes the bytes filled so far as an immutable `Bytes` segment, and later writes go on
//! filling the same block after it. So an OS write never costs a block of its own, however few
//! bytes it carries: memory stays proportional to the bytes queued (W-12), also when a slow
//! reader makes every OS write small. The block returns to the pool when the tail has moved on
//! and the last segment pointing into it is dropped; it never moves while the OS may read it
//! (W-5).
//!
//! The pool's lock is only ever tried, never waited for: a block is allocated or freed
//! directly when another thread holds it, so a `fork()` taken while some thread held the lock
//! cannot leave the child waiting for it (W-15).
// Unsafe: a staging block is shared between the tail that fills it and the `Bytes` segments
// read out of it, through one raw pointer (see `Block`).
#![allow(unsafe_code)]

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// The size of a staging block.
pub(crate) const BLOCK: usize = 64 * 1024;
/// Blocks kept for reuse, process-wide.
const MAX_POOLED: usize = 32;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty block with [`BLOCK`] bytes of capacity.
fn take() -> Vec<u8> {
    let pooled = POOL.try_lock().ok().and_then(|mut pool| pool.pop());
    pooled.unwrap_or_else(|| Vec::with_capacity(BLOCK))
}

/// Returns a block to the pool (or frees it when the pool is full or busy).
fn give(mut block: Vec<u8>) {
    if block.capacity() != BLOCK {
        return;
    }
    block.clear();
    if let Ok(mut pool) = POOL.try_lock() {
        if pool.len() < MAX_POOLED {
            pool.push(block);
        }
    }
}

/// One pooled block, shared by the tail filling it and the segments handed out of it.
///
/// The memory is written only through `ptr`, and only past `Tail::filled`; segments read
/// `[start, end)` with `end <= filled`, so no byte is ever written after a segment covering it
/// exists.
struct Block {
    /// The block's memory, for returning it to the pool. Never used while the block is shared
    /// (its length stays 0; the bytes live in its spare capacity).
    vec: Vec<u8>,
    /// Start of the block's memory, taken once from `vec`.
    ptr: *mut u8,
}

// SAFETY: the block is plain memory. The one tail writes bytes no segment covers yet, and
// segments only read bytes the tail has finished writing (see the type's docs); the `Arc`
// publishes the writes to other threads before a segment made after them is used there.
unsafe impl Send for Block {}
// SAFETY: as above: shared access only ever reads bytes that are no longer written.
unsafe impl Sync for Block {}

impl Drop for Block {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.vec));
    }
}

/// An immutable piece of a block, the owner behind a `Bytes` chunk of the queue.
struct Segment {
    block: Arc<Block>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for Segment {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `[start, start + len)` lies within the block's capacity and was completely
        // written by the tail before this segment was made; the tail never writes it again,
        // and the memory lives as long as `block`.
        unsafe { std::slice::from_raw_parts(self.block.ptr.add(self.start), self.len) }
    }
}

/// The staging block a writer's copied writes are appended to (the open end of its queue).
#[derive(Default)]
pub(crate) struct Tail {
    block: Option<Arc<Block>>,
    /// Bytes of the block already handed out as segments.
    sealed: usize,
    /// Bytes of the block written so far.
    filled: usize,
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tail")
            .field("sealed", &self.sealed)
            .field("filled", &self.filled)
            .finish()
    }
}

impl Tail {
    /// Bytes written and not yet handed out.
    pub(crate) fn pending(&self) -> usize {
        self.filled - self.sealed
    }

    /// Room left in the current block (0 when there is none).
    pub(crate) fn room(&self) -> usize {
        if self.block.is_some() {
            BLOCK - self.filled
        } else {
            0
        }
    }

    /// Copies as much of `data` as fits into the current block (taking a block first when
    /// there is none or it is full, after `seal` emptied it); returns the bytes copied.
    pub(crate) fn fill(&mut self, data: &[u8]) -> usize {
        if self.room() == 0 {
            debug_assert_eq!(
                self.pending(),
                0,
                "seal a full block before filling another"
            );
            let mut vec = take();
            let ptr = vec.as_mut_ptr();
            self.block = Some(Arc::new(Block { vec, ptr }));
            self.sealed = 0;
            self.filled = 0;
        }
        let Some(block) = &self.block else {
            unreachable!("a block was just taken");
        };
        let n = data.len().min(BLOCK - self.filled);
        // SAFETY: `[filled, filled + n)` lies within the block's capacity (BLOCK bytes) and is
        // covered by no segment (segments end at `sealed <= filled`); `data` is another
        // allocation, so the ranges do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), block.ptr.add(self.filled), n);
        }
        self.filled += n;
        n
    }

    /// Copies all of `data` into the current block if it fits there (true); otherwise does
    /// nothing (false). The fast path of small writes.
    #[inline]
    pub(crate) fn fill_whole(&mut self, data: &[u8]) -> bool {
        let Some(block) = &self.block else {
            return false;
        };
        if data.len() > BLOCK - self.filled {
            return false;
        }
        // SAFETY: as in `fill`: `[filled, filled + len)` lies within the block's capacity
        // (checked just above) and is covered by no segment; `data` is another allocation.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), block.ptr.add(self.filled), data.len());
        }
        self.filled += data.len();
        true
    }

    /// Hands the bytes written since the last seal out as one immutable chunk. The block stays
    /// open for more writes unless it is full.
    pub(crate) fn seal(&mut self) -> Option<Bytes> {
        let len = self.pending();
        if len == 0 {
            return None;
        }
        let block = self.block.as_ref()?;
        let segment = Segment {
            block: block.clone(),
            start: self.sealed,
            len,
        };
        self.sealed = self.filled;
        if self.filled == BLOCK {
            // Full: the segments keep it alive; the next write takes a fresh block.
            self.block = None;
        }
        Some(Bytes::from_owner(segment))
    }
}

/// An empty block of [`BLOCK`] bytes' capacity, from the pool: for a buffered front (W-17),
/// which fills it without any lock and hands it over whole with [`whole`].
pub(crate) fn take_block() -> Vec<u8> {
    take()
}

/// A block handed over whole, the owner behind its `Bytes`: back to the pool when the last
/// reference to it is dropped.
struct Whole(Vec<u8>);

impl AsRef<[u8]> for Whole {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Whole {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

/// A filled block as one immutable chunk, without a copy; its memory returns to the pool once
/// written.
pub(crate) fn whole(block: Vec<u8>) -> Bytes {
    Bytes::from_owner(Whole(block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w5_segments_keep_their_bytes_while_the_block_fills_on() {
        let mut tail = Tail::default();
        assert_eq!(tail.fill(b"hello"), 5);
        let first = tail.seal().unwrap();
        assert_eq!(tail.fill(b" world"), 6);
        let second = tail.seal().unwrap();
        assert_eq!(&first[..], b"hello");
        assert_eq!(&second[..], b" world");
        assert_eq!(
            second.as_ptr(),
            first.as_ptr().wrapping_add(5),
            "W-12: the second write shares the first one's block"
        );
        assert!(tail.seal().is_none(), "nothing new to hand out");
    }

    #[test]
    fn w12_a_full_block_is_let_go_and_a_new_one_taken() {
        let mut tail = Tail::default();
        let data = vec![7u8; BLOCK + 10];
        assert_eq!(tail.fill(&data), BLOCK);
        assert_eq!(tail.room(), 0);
        let full = tail.seal().unwrap();
        assert_eq!(full.len(), BLOCK);
        assert_eq!(tail.fill(&data[BLOCK..]), 10);
        let rest = tail.seal().unwrap();
        assert_eq!(rest.len(), 10);
        drop(tail);
        assert!(full.iter().chain(rest.iter()).all(|&b| b == 7));
    }
}
