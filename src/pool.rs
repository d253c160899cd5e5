//! A process-wide pool of staging blocks.
//!
//! Small and copied writes are gathered into blocks of [`BLOCK`] bytes. A block is filled by
//! the producer's thread and released by the I/O context once written, usually on another
//! thread: with plain allocations that pattern makes the allocator trim and re-fault memory at
//! the pipe's pace (measured: hundreds of thousands of page faults per GiB, and half the
//! throughput of the zero-copy path). Released blocks go back to this pool instead, up to
//! [`MAX_POOLED`] of them (2 MiB for the whole process), and new blocks are taken from it.
//! Blocks never move while the OS may read them: a sealed block is owned by the `Bytes` chunks
//! that point into it, and returns here only when the last of them is dropped (W-5).

use std::sync::Mutex;

use bytes::Bytes;

/// The size of a staging block.
pub(crate) const BLOCK: usize = 64 * 1024;
/// Blocks kept for reuse, process-wide.
const MAX_POOLED: usize = 32;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty block with [`BLOCK`] bytes of capacity.
pub(crate) fn take() -> Vec<u8> {
    let pooled = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
    pooled.unwrap_or_else(|| Vec::with_capacity(BLOCK))
}

/// Returns a block to the pool (or frees it when the pool is full).
pub(crate) fn give(mut block: Vec<u8>) {
    if block.capacity() != BLOCK {
        return;
    }
    block.clear();
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if pool.len() < MAX_POOLED {
        pool.push(block);
    }
}

/// Freezes a filled block into `Bytes`; the block returns to the pool when the last `Bytes`
/// pointing into it is dropped.
pub(crate) fn seal(block: Vec<u8>) -> Bytes {
    Bytes::from_owner(Sealed(block))
}

/// A block that can no longer change, owned by the `Bytes` made from it.
struct Sealed(Vec<u8>);

impl AsRef<[u8]> for Sealed {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Sealed {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w5_sealed_block_returns_only_after_the_last_reference() {
        let mut block = take();
        block.extend_from_slice(b"hello");
        let ptr = block.as_ptr();
        let bytes = seal(block);
        let head = bytes.slice(..2);
        drop(bytes);
        assert_eq!(&head[..], b"he", "a slice keeps the block alive");
        drop(head);
        // The block is back: the next take may hand out the same memory (other tests may
        // take it first, so only the capacity is certain).
        let again = take();
        assert_eq!(again.capacity(), BLOCK);
        assert!(again.is_empty());
        let _ = ptr;
    }
}
