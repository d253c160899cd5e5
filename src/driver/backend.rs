//! The contract every platform backend meets (`sys::Io`, one per writer, kept in
//! [`Shared::io`](super::Shared)). It is statically dispatched: `sys` picks one backend per
//! target, and the driver and the facade call it through this trait only.
//!
//! The methods that take `&Arc<Shared>` are called without any lock held, from a user's
//! thread or from the I/O context (also from inside an event handler of this writer); none of
//! them may block for long or call event handlers itself: events are delivered by the I/O
//! context only — `Shared::drive` does it between writes, or the backend calls
//! `Shared::dispatch` — never from a user's call.
//!
//! A new backend also provides, in its module: `OwnedPipe` (the owned handle type), `classify`
//! (the one table that maps OS errors to the core's outcomes, E-1 … E-4) and `pipe` (creating a
//! pipe pair, S-1).

use std::io;

use bytes::Bytes;

use super::{PipeHandle, Shared};
use crate::core::Outcome;
use crate::sync::Arc;
use crate::sys::OwnedPipe;

/// A platform backend: the per-writer OS state and how the I/O context is reached.
pub(crate) trait Backend: Sized + Send + Sync + std::fmt::Debug {
    /// Validates the handle and chooses how to drive it (non-blocking / overlapped, or a
    /// blocking worker thread). Must not start I/O; may get process-wide resources the writer
    /// will need (the Unix reactor), failing with the OS error when they cannot be had (W-15).
    /// `pipe.known_quota` is what the pipe's creator knows of its buffer quota (P-7); a
    /// backend that does not size its writes by the quota ignores it.
    fn new(pipe: PipeHandle) -> io::Result<Self>;

    /// The largest OS write this backend makes on its handle, when it has such a limit
    /// (Windows: a pipe's buffer quota, W-10). The writer's core then submits no more at
    /// once, so a submission is what one OS write gets (and what the fault seam sees).
    fn max_write(&self) -> Option<usize> {
        None
    }

    /// Gets the writer's own I/O context (a worker thread), once its `Shared` exists; fails
    /// with the OS error when it cannot be had (W-15). After it, `kick` never fails for lack
    /// of a context.
    fn start(shared: &Arc<Shared>) -> io::Result<()> {
        let _ = shared;
        Ok(())
    }

    /// The writer went from idle to having queued data (once per burst, W-3): arranges for the
    /// I/O context to call `Shared::drive` (or `begin`/`complete`) soon.
    fn kick(shared: &Arc<Shared>);

    /// `stop` was requested (the core already refuses new work): makes any in-flight OS write
    /// finish promptly and reports it through `Shared::complete`/`drive`; forgets any pending
    /// writability wait or timer (W-10).
    fn cancel(shared: &Arc<Shared>);

    /// The user's handle was dropped with queued data: the I/O context finishes the queue and
    /// closes the handle (`Begin::Close`, W-11).
    fn linger(shared: &Arc<Shared>);

    /// Closes the handle now (nothing is in flight). Idempotent.
    fn close_handle(&self);

    /// Gives the handle back (after a stop), in the mode it came in (W-14).
    fn take_handle(&self) -> Option<OwnedPipe>;

    /// In a forked child, for a writer its parent built: hands over the child's copy of the
    /// handle without touching what the parent still uses (W-15). Only Unix forks.
    fn release_inherited(&self) -> Option<OwnedPipe> {
        None
    }

    /// True when a write may be made from a caller's thread (a non-blocking descriptor): a
    /// lone message then skips the hop to the I/O context.
    fn can_write_now(&self) -> bool {
        false
    }

    /// True when a thread that waits for this writer may drive its I/O itself (W-16):
    /// `write_now` writes without blocking and [`wait_writable`](Self::wait_writable) can
    /// wait for room on the caller's thread.
    fn can_drive_from_caller(&self) -> bool {
        false
    }

    /// Waits on the caller's thread, at most `timeout`, until the handle is writable (or
    /// broken, or closed meanwhile); only called when `can_drive_from_caller`. It may return
    /// early for no reason: the caller looks again.
    fn wait_writable(&self, timeout: std::time::Duration) {
        std::thread::sleep(timeout);
    }

    /// One non-blocking write of `buf` from a caller's thread, straight from the caller's
    /// buffer; only called when `can_drive_from_caller`.
    fn write_slice_now(&self, buf: &[u8]) -> Outcome {
        let _ = buf;
        Outcome::Fatal(io::ErrorKind::Unsupported.into())
    }

    /// Moves up to `len` bytes of `file` from `offset` into the pipe without copying them
    /// through user memory (W-18), from a caller's thread; only called when
    /// `can_drive_from_caller`. `None` when the OS cannot do it for this file and pipe: the
    /// caller then copies.
    fn splice_now(&self, file: &std::fs::File, offset: u64, len: usize) -> Option<Outcome> {
        let _ = (file, offset, len);
        None
    }

    /// One non-blocking write from a caller's thread; only called when `can_write_now`.
    fn write_now(&self, bufs: &[Bytes]) -> Outcome {
        let _ = bufs;
        Outcome::Fatal(io::ErrorKind::Unsupported.into())
    }
}
