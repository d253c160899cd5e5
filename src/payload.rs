//! What a writer takes: handles (W-14) and payloads (W-1). Both traits are sealed; their
//! methods name crate-private types on purpose, so no one outside can implement or call them.
#![allow(private_interfaces)]

use bytes::Bytes;

use crate::core::Queue;
use crate::driver::{PipeHandle, Provenance};
use crate::sys::OwnedPipe;

/// A handle a [`PipeWriter`](crate::PipeWriter) can take over (W-14). Implemented for the standard types users
/// have; sealed.
pub trait IntoPipeHandle: sealed::Sealed {
    #[doc(hidden)]
    fn into_pipe_handle(self) -> PipeHandle;
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

impl sealed::Sealed for std::process::ChildStdin {}
impl IntoPipeHandle for std::process::ChildStdin {
    fn into_pipe_handle(self) -> PipeHandle {
        // Ours alone: std creates the pipe for the child's stdin (close-on-exec, so no other
        // child inherits it), gives the child only the read end, and hands no clone of the
        // write end to anyone (the type has no `try_clone`). Whoever duplicates it later
        // through `AsFd` does so knowingly.
        PipeHandle::new(self.into(), Provenance::Exclusive)
    }
}

impl sealed::Sealed for std::io::PipeWriter {}
impl IntoPipeHandle for std::io::PipeWriter {
    fn into_pipe_handle(self) -> PipeHandle {
        // May be shared: std's own documentation hands `try_clone`d ends to child processes
        // (`Stdio::from`), and a clone shares the open file description, `O_NONBLOCK`
        // included (P-3). `Builder::exclusive(true)` says otherwise.
        PipeHandle::new(self.into(), Provenance::Unknown)
    }
}

impl sealed::Sealed for std::fs::File {}
impl IntoPipeHandle for std::fs::File {
    fn into_pipe_handle(self) -> PipeHandle {
        PipeHandle::new(self.into(), Provenance::Unknown)
    }
}

impl sealed::Sealed for crate::pipe::WriteEnd {}
impl IntoPipeHandle for crate::pipe::WriteEnd {
    fn into_pipe_handle(self) -> PipeHandle {
        // The crate created the pipe and knows its quota (P-7).
        let known_quota = self.known_quota();
        PipeHandle {
            handle: self.into_owned(),
            provenance: Provenance::Exclusive,
            known_quota,
        }
    }
}

#[cfg(windows)]
impl sealed::Sealed for crate::named_pipe::NamedPipeServer {}
#[cfg(windows)]
impl IntoPipeHandle for crate::named_pipe::NamedPipeServer {
    fn into_pipe_handle(self) -> PipeHandle {
        // The builder knows the out buffer size it asked for (P-7).
        let known_quota = self.known_quota();
        PipeHandle {
            handle: self.into_owned(),
            provenance: Provenance::Exclusive,
            known_quota,
        }
    }
}

impl sealed::Sealed for OwnedPipe {}
impl IntoPipeHandle for OwnedPipe {
    fn into_pipe_handle(self) -> PipeHandle {
        PipeHandle::new(self, Provenance::Unknown)
    }
}

/// Bytes a writer accepts (W-1): `&[u8]`, `&str`, `Vec<u8>`, `String` and [`Bytes`]. Sealed.
///
/// Owned buffers are queued without copying when that keeps memory honest (W-12): the
/// writer's limits count memory, not bytes, so
/// - slices, and owned buffers of up to 64 KiB, are copied into the writer's pooled 64 KiB
///   blocks (many small writes share a block; the OS write gathers them);
/// - a larger `Vec<u8>` or `String` is queued as it is, after its spare capacity is released
///   (`shrink_to_fit`, which the allocator usually does in place) when that capacity is more
///   than an eighth of its length: a buffer truncated to what one read returned no longer
///   keeps its whole allocation alive;
/// - a larger [`Bytes`] is queued as it is. A `Bytes` cannot tell how large an allocation it
///   keeps alive: a slice of a much larger parent keeps the whole parent in memory while it
///   waits. Slices under 64 KiB are copied for that reason; for larger ones, pass a copy
///   (`Bytes::copy_from_slice`) if the parent is much larger than the slice.
pub trait Payload: sealed::Sealed {
    #[doc(hidden)]
    fn payload_len(&self) -> usize;
    #[doc(hidden)]
    fn enqueue(self, queue: &mut Queue);
    /// The bytes, for a write made straight from them (a lone message, W-16).
    #[doc(hidden)]
    fn as_bytes(&self) -> &[u8];
    /// Work that needs no lock, done before the writer's lock is taken (releasing spare
    /// capacity, W-12).
    #[doc(hidden)]
    fn compact(&mut self) {}
}

impl sealed::Sealed for &[u8] {}
impl Payload for &[u8] {
    fn as_bytes(&self) -> &[u8] {
        self
    }

    fn payload_len(&self) -> usize {
        self.len()
    }
    fn enqueue(self, queue: &mut Queue) {
        queue.push_slice(self);
    }
}

impl<const N: usize> sealed::Sealed for &[u8; N] {}
impl<const N: usize> Payload for &[u8; N] {
    fn as_bytes(&self) -> &[u8] {
        &self[..]
    }

    fn payload_len(&self) -> usize {
        N
    }
    fn enqueue(self, queue: &mut Queue) {
        queue.push_slice(self);
    }
}

impl sealed::Sealed for &str {}
impl Payload for &str {
    fn as_bytes(&self) -> &[u8] {
        str::as_bytes(self)
    }

    fn payload_len(&self) -> usize {
        self.len()
    }
    fn enqueue(self, queue: &mut Queue) {
        queue.push_slice(self.as_bytes());
    }
}

impl sealed::Sealed for Vec<u8> {}
impl Payload for Vec<u8> {
    fn as_bytes(&self) -> &[u8] {
        self
    }

    fn payload_len(&self) -> usize {
        self.len()
    }
    fn compact(&mut self) {
        crate::core::release_spare_capacity(self);
    }
    fn enqueue(self, queue: &mut Queue) {
        queue.push_vec(self);
    }
}

impl sealed::Sealed for String {}
impl Payload for String {
    fn as_bytes(&self) -> &[u8] {
        str::as_bytes(self)
    }

    fn payload_len(&self) -> usize {
        self.len()
    }
    fn compact(&mut self) {
        if crate::core::is_wasteful(self.len(), self.capacity()) {
            self.shrink_to_fit();
        }
    }
    fn enqueue(self, queue: &mut Queue) {
        self.into_bytes().enqueue(queue);
    }
}

impl sealed::Sealed for Bytes {}
impl Payload for Bytes {
    fn as_bytes(&self) -> &[u8] {
        self
    }

    fn payload_len(&self) -> usize {
        self.len()
    }
    fn enqueue(self, queue: &mut Queue) {
        queue.push_bytes(self);
    }
}
