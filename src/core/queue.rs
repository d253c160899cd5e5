//! The queue of accepted, not yet written bytes, and what `stop` hands back of it.

use std::collections::VecDeque;
use std::fmt;

use bytes::{Buf, Bytes};

use super::COPY_THRESHOLD;
use crate::pool;

/// Bytes that were accepted but never written, handed back by `stop` (W-10).
///
/// The chunks are in write order; their concatenation is exactly the unwritten suffix of
/// everything the writer accepted.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Unwritten {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Unwritten {
    /// Total number of unwritten bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was left unwritten.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The unwritten chunks, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.chunks.iter()
    }

    /// The unwritten bytes as one vector (copies them).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        out
    }

    /// The unwritten bytes as one `Bytes` (copies only when there is more than one chunk).
    pub fn into_bytes(mut self) -> Bytes {
        if self.chunks.len() == 1 {
            return self.chunks.pop_front().unwrap_or_default();
        }
        Bytes::from(self.to_vec())
    }
}

impl fmt::Debug for Unwritten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unwritten")
            .field("len", &self.len)
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl From<Unwritten> for Vec<u8> {
    fn from(u: Unwritten) -> Vec<u8> {
        u.to_vec()
    }
}

/// The queue of accepted, not yet written bytes: sealed chunks in order, then the open
/// staging block that copied writes are appended to.
///
/// What it holds in memory stays close to the bytes it counts (W-12): small and copied
/// writes share pooled blocks, which an OS write never seals early (see `pool`), and owned
/// buffers are queued without their spare capacity ([`Queue::push_vec`], [`Queue::push_bytes`]).
#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Sealed chunks, oldest first. The head may be partly written (its prefix was consumed).
    pub(super) chunks: VecDeque<Bytes>,
    /// The staging block copied writes go into; logically after every sealed chunk.
    tail: pool::Tail,
    /// Total unwritten bytes (sealed chunks plus tail).
    len: usize,
}

/// Owned buffers up to this size are copied into the staging blocks rather than queued as they
/// are when they carry spare memory (see [`Queue::push_vec`] and [`Queue::push_bytes`]).
const COPY_WHEN_WASTEFUL: usize = pool::BLOCK;

/// True when a buffer of `len` bytes in `capacity` would keep more than an eighth of its
/// length in spare memory while it waits in the queue (W-12).
pub(crate) fn is_wasteful(len: usize, capacity: usize) -> bool {
    capacity - len > len / 8
}

/// Gives a large buffer's spare capacity back to the allocator (usually in place), before the
/// writer's lock is taken; smaller wasteful ones are copied into the queue's blocks instead.
pub(crate) fn release_spare_capacity(data: &mut Vec<u8>) {
    if data.len() > COPY_WHEN_WASTEFUL && is_wasteful(data.len(), data.capacity()) {
        data.shrink_to_fit();
    }
}

impl Queue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends a copy of `data`, into pooled staging blocks.
    pub(crate) fn push_slice(&mut self, data: &[u8]) {
        self.len += data.len();
        if self.tail.fill_whole(data) {
            // The common case: a small write that fits the open block.
            return;
        }
        let mut rest = data;
        while !rest.is_empty() {
            if self.tail.room() == 0 {
                self.seal();
            }
            let n = self.tail.fill(rest);
            rest = &rest[n..];
        }
    }

    /// Puts a copy of `data` before everything queued (the rest of a write made in place,
    /// W-16): into the staging block when nothing else is queued, else as a small chunk of its
    /// own (it is rare).
    pub(crate) fn push_front_slice(&mut self, data: &[u8]) {
        if self.len == 0 {
            self.push_slice(data);
            return;
        }
        self.len += data.len();
        self.chunks.push_front(Bytes::copy_from_slice(data));
    }

    /// Appends an owned buffer. Small ones are copied (W-4); a larger one is queued without
    /// copying once its spare capacity, if it is more than an eighth of its length, was given
    /// back (W-12): a buffer truncated to what one read returned must not keep its whole
    /// allocation alive while it waits. Up to a block's size such a buffer is copied instead
    /// (cheaper than a reallocation, and it shares a block with its neighbours).
    pub(crate) fn push_vec(&mut self, mut data: Vec<u8>) {
        if data.len() <= COPY_THRESHOLD {
            self.push_slice(&data);
            return;
        }
        if is_wasteful(data.len(), data.capacity()) {
            if data.len() <= COPY_WHEN_WASTEFUL {
                self.push_slice(&data);
                return;
            }
            // `Payload::compact` normally did this before the lock was taken.
            data.shrink_to_fit();
        }
        self.push_chunk(Bytes::from(data));
    }

    /// Appends a `Bytes` without copying, unless it is smaller than a block: a `Bytes` cannot
    /// tell how large an allocation it keeps alive, and small slices of large parents are the
    /// common case (W-12). Large ones are queued as they are.
    pub(crate) fn push_bytes(&mut self, data: Bytes) {
        if data.len() < COPY_WHEN_WASTEFUL {
            self.push_slice(&data);
            return;
        }
        self.push_chunk(data);
    }

    fn push_chunk(&mut self, data: Bytes) {
        self.seal();
        self.len += data.len();
        self.chunks.push_back(data);
    }

    /// Moves what was copied into the staging block so far to the sealed chunks. Later writes
    /// go after it, into the same block while it has room.
    fn seal(&mut self) {
        if let Some(chunk) = self.tail.seal() {
            self.chunks.push_back(chunk);
        }
    }

    /// Clones (cheaply: reference counts) the head chunks into `out`, at most `max_bytes` in
    /// at most `max_slices` chunks. Returns the number of bytes placed in `out`.
    pub(crate) fn peek(
        &mut self,
        max_bytes: usize,
        max_slices: usize,
        out: &mut Vec<Bytes>,
    ) -> usize {
        out.clear();
        let mut total = 0;
        for chunk in &self.chunks {
            if out.len() == max_slices || total == max_bytes {
                return total;
            }
            let take = chunk.len().min(max_bytes - total);
            out.push(chunk.slice(..take));
            total += take;
        }
        // The write reaches the staging block: only now is its content sealed, so that a long
        // queue whose OS writes are small does not turn into many small segments (W-12).
        if out.len() < max_slices && total < max_bytes {
            if let Some(chunk) = self.tail.seal() {
                let take = chunk.len().min(max_bytes - total);
                out.push(chunk.slice(..take));
                total += take;
                self.chunks.push_back(chunk);
            }
        }
        total
    }

    /// Drops the first `n` bytes (they were written).
    pub(crate) fn consume(&mut self, mut n: usize) {
        debug_assert!(n <= self.len);
        self.len -= n;
        if self.len == 0 {
            // Idle: let the staging block go (back to the pool once its last segment is
            // written), so an idle writer holds no block (W-12).
            self.tail = pool::Tail::default();
        }
        while n > 0 {
            let Some(head) = self.chunks.front_mut() else {
                unreachable!("consumed more than was submitted");
            };
            if head.len() > n {
                head.advance(n);
                return;
            }
            n -= head.len();
            self.chunks.pop_front();
        }
    }

    /// Takes everything out of the queue.
    pub(crate) fn take_all(&mut self) -> Unwritten {
        self.seal();
        self.tail = pool::Tail::default();
        let chunks = std::mem::take(&mut self.chunks);
        let len = std::mem::replace(&mut self.len, 0);
        Unwritten { chunks, len }
    }
}
