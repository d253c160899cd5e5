//! Page-aligned byte buffers.
//!
//! On this project's reference machine (Zen 3, glibc 2.36) a kernel or `memcpy` copy of
//! 4 KiB..256 KiB runs 20x slower when `(dst - src) mod 4096` is 1..=31, and a plain
//! `vec![0u8; 128 << 10]` lands at page offset 16: exactly the slow case for a pipe reader.
//! Benchmarks therefore read into and write from buffers that start on a page boundary.

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The alignment used: one page on every platform we run on.
pub(crate) const PAGE: usize = 4096;

/// A zero-initialised, page-aligned heap buffer of fixed length.
pub(crate) struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes (at least one) starting on a page boundary.
    pub(crate) fn new(len: usize) -> AlignedBuf {
        let layout = Layout::from_size_align(len.max(1), PAGE).expect("buffer size overflows");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout);
        };
        AlignedBuf { ptr, layout }
    }

    /// A buffer filled with a repeating printable pattern (lines of 64 bytes).
    pub(crate) fn with_pattern(len: usize) -> AlignedBuf {
        let mut buf = AlignedBuf::new(len);
        fill_pattern(&mut buf);
        buf
    }

    /// Leaks the buffer, for `Bytes::from_static` (benchmarks keep one per run).
    #[cfg_attr(windows, allow(dead_code))] // Only the Unix workloads pass `Bytes`.
    pub(crate) fn leak(self) -> &'static [u8] {
        let len = self.layout.size();
        let ptr = self.ptr.as_ptr();
        std::mem::forget(self);
        // SAFETY: the allocation is never freed after `forget`, so it lives for 'static;
        // it is `len` initialised bytes and no other reference to it exists.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Fills `buf` with 64-byte lines `pipewriter 0123456789abcdef…\n`.
pub(crate) fn fill_pattern(buf: &mut [u8]) {
    const LINE: &[u8; 64] = b"pipewriter test data 0123456789 abcdefghijklmnopqrstuvwxyz ABCD\n";
    for (i, b) in buf.iter_mut().enumerate() {
        *b = LINE[i % LINE.len()];
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `layout.size()` initialised (zeroed at allocation) bytes
        // owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout, freed once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

// SAFETY: `AlignedBuf` owns its allocation exclusively (like a `Box<[u8]>`); moving it to
// another thread moves that ownership.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only hands out `&[u8]`, which is `Sync`.
unsafe impl Sync for AlignedBuf {}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.layout.size())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_page_and_keeps_its_length() {
        let buf = AlignedBuf::with_pattern(128 << 10);
        assert_eq!(buf.as_ptr() as usize % PAGE, 0);
        assert_eq!(buf.len(), 128 << 10);
        assert_eq!(&buf[..10], b"pipewriter");
        assert_eq!(buf[63], b'\n');
    }
}
