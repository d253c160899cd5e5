//! The public writer: [`PipeWriter`], its [`Builder`] and [`DropPolicy`] — the user's side of
//! a writer, over the shared state and I/O driving in `driver` and the platform backend in
//! `sys`.

use std::fmt;
use std::io;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::core::{Accepted, Kick, Phase, Unwritten};
use crate::driver::{ended_error, in_handler, timed_out, Backend, Lone, Shared, State};
use crate::error::WriteError;
use crate::event::{EventReceiver, Mailbox};
pub use crate::payload::{IntoPipeHandle, Payload};
use crate::sync::{Arc, MutexGuard};
use crate::sys;

pub use crate::sys::OwnedPipe;

mod blocking;
mod buffered;
mod builder;
mod consumed;
mod file;
mod handle;

pub use blocking::BlockingWriter;
pub use buffered::BufferedWriter;
pub use builder::{Builder, DropPolicy};
pub use file::WriteFileError;

/// The error a wait reports when called from an event handler (W-9).
fn in_handler_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::Deadlock,
        "a synchronous wait was called from an event handler, where it could never finish",
    )
}

/// The error of a writer used in a forked child (W-15).
fn inherited_error() -> io::Error {
    io::Error::other(
        "this pipe writer belongs to the process that built it; a forked child cannot use it \
         (build a new writer in the child)",
    )
}

/// Writes to a pipe without ever blocking the caller.
///
/// Bytes are queued by [`write`](Self::write) and written in the background, in order, one OS
/// write at a time (W-2, W-3); progress is reported by [`Event`](crate::Event)s and can be awaited with
/// [`flush`](Self::flush), [`close`](Self::close) and
/// [`wait_for_bytes_written`](Self::wait_for_bytes_written). `PipeWriter` is `Send + Sync`:
/// share it between threads with an `Arc`.
pub struct PipeWriter {
    shared: Arc<Shared>,
    drop_policy: DropPolicy,
}

impl fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(state) = self.state() else {
            return f
                .debug_struct("PipeWriter")
                .field("inherited_through_fork", &true)
                .finish_non_exhaustive();
        };
        f.debug_struct("PipeWriter")
            .field("phase", &state.core.phase())
            .field("accepted", &state.core.accepted())
            .field("written", &state.core.written())
            .field("queued", &state.core.queued())
            .finish()
    }
}

impl PipeWriter {
    /// A writer with default settings over `handle`; see [`Builder`] for the settings.
    ///
    /// # Errors
    /// As [`Builder::build`].
    pub fn new(handle: impl IntoPipeHandle) -> io::Result<PipeWriter> {
        Builder::new().build(handle)
    }

    /// A [`Builder`] with default settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// True in a forked child for a writer that its parent built (W-15): such a writer is
    /// inert there.
    fn inherited(&self) -> bool {
        self.shared.generation() != sys::process::generation()
    }

    /// The writer's state, or in a forked child what can be read of it without waiting for a
    /// lock a vanished thread may hold (`None` then).
    fn state(&self) -> Option<MutexGuard<'_, State>> {
        if self.inherited() {
            return self.shared.try_lock();
        }
        Some(self.shared.lock())
    }

    /// Whether a synchronous wait may run here (W-9, W-15).
    fn may_wait(&self) -> io::Result<()> {
        if self.inherited() {
            return Err(inherited_error());
        }
        if in_handler() {
            return Err(in_handler_error());
        }
        Ok(())
    }

    /// The state shared with the I/O context, for the Windows backend's unit tests.
    #[cfg(all(test, windows))]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Queues `data` and returns at once, never waiting for the reader (W-1).
    ///
    /// A zero-length write is a no-op. The returned [`Accepted`] tells whether the queue is
    /// above the high-water mark (W-12).
    ///
    /// # Errors
    /// A refused write hands its data back in the [`WriteError`]:
    /// [`io::ErrorKind::WouldBlock`] when the hard limit would be exceeded (retry after
    /// [`Event::Writable`](crate::Event::Writable), which is sure to follow once this write fits);
    /// [`io::ErrorKind::InvalidInput`] when `data` alone is larger than the hard limit (it can
    /// never fit); [`io::ErrorKind::BrokenPipe`] after the reader went away or
    /// after `close`; the original OS error after a fatal failure;
    /// [`io::ErrorKind::NotConnected`] after `stop`.
    pub fn write<P: Payload>(&self, mut data: P) -> Result<Accepted, WriteError<P>> {
        if self.inherited() {
            return Err(WriteError::new(inherited_error(), data));
        }
        let len = data.payload_len();
        if len > 0 {
            data.compact();
        }
        let mut state = self.shared.lock();
        if len == 0 {
            return match state.core.admit(0) {
                Ok(()) => Ok(state.core.status()),
                Err(refusal) => Err(WriteError::new(refusal.to_error(), data)),
            };
        }
        if let Err(refusal) = state.core.admit(len) {
            drop(state);
            return Err(WriteError::new(refusal.to_error(), data));
        }
        // A lone message goes out from here, straight from its buffer.
        let (mut state, written, wakeups, kick_anyway) =
            match Shared::write_lone(&self.shared, state, data.as_bytes()) {
                Lone::Done(accepted) => return Ok(accepted),
                Lone::Queue(state, written, wakeups, kick) => (state, written, wakeups, kick),
            };
        let (accepted, kick) = if written > 0 {
            // Part of it went out: the rest, admitted with it, goes first (a copy), before
            // whatever other threads queued meanwhile (W-2).
            state.core.accept_rest_in_place(&data.as_bytes()[written..])
        } else {
            // The writer may have ended meanwhile (the write found the reader gone).
            if let Err(refusal) = state.core.admit(len) {
                drop(state);
                wakeups.wake();
                return Err(WriteError::new(refusal.to_error(), data));
            }
            state.core.accept(len, |queue| data.enqueue(queue))
        };
        if kick == Kick::Yes {
            Shared::start(&self.shared, state);
        } else {
            drop(state);
            if kick_anyway {
                sys::Io::kick(&self.shared);
            }
        }
        wakeups.wake();
        Ok(accepted)
    }

    /// Writes every byte of `data` from the slices in order, as one queued write.
    ///
    /// # Errors
    /// As [`write`](Self::write); on refusal nothing was queued.
    pub fn write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<Accepted> {
        if self.inherited() {
            return Err(inherited_error());
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut state = self.shared.lock();
        if let Err(refusal) = state.core.admit(total) {
            return Err(refusal.to_error());
        }
        if total == 0 {
            return Ok(state.core.status());
        }
        let (accepted, kick) = state.core.accept(total, |queue| {
            for buf in bufs {
                queue.push_slice(buf);
            }
        });
        drop(state);
        if kick == Kick::Yes {
            sys::Io::kick(&self.shared);
        }
        Ok(accepted)
    }

    /// Bytes accepted but not yet confirmed written (W-6).
    pub fn bytes_to_write(&self) -> usize {
        self.state().map_or(0, |s| s.core.queued())
    }

    /// Bytes accepted so far (W-6).
    pub fn bytes_accepted(&self) -> u64 {
        self.state().map_or(0, |s| s.core.accepted())
    }

    /// Bytes confirmed written so far (W-6). `bytes_accepted() - bytes_written()` is what is
    /// queued.
    pub fn bytes_written(&self) -> u64 {
        self.state().map_or(0, |s| s.core.written())
    }

    /// True while bytes are queued or an OS write is outstanding, and the writer has not ended
    /// (W-6).
    pub fn is_write_active(&self) -> bool {
        !self.inherited() && self.shared.lock().core.is_active()
    }

    /// True after the reader went away (E-2).
    pub fn is_peer_closed(&self) -> bool {
        self.state()
            .is_some_and(|s| s.core.phase() == Phase::PeerClosed)
    }

    /// The error that ended the writer, if a fatal one did (E-4).
    pub fn error(&self) -> Option<io::Error> {
        if self.inherited() {
            return Some(inherited_error());
        }
        let state = self.shared.lock();
        match state.core.phase() {
            Phase::Failed => ended_error(&state),
            _ => None,
        }
    }

    /// The pull side of this writer's events (W-8). Events produced from now on are queued for
    /// it (in addition to the handler, if one is set), coalesced so that the queue stays a few
    /// words long however slowly it is read (see [`EventReceiver`]). Calling this again while
    /// a receiver is alive returns another receiver over the same queue; once the last one is
    /// dropped, events are no longer queued, and a later call starts afresh.
    pub fn events(&self) -> EventReceiver {
        if self.inherited() {
            let mailbox = std::sync::Arc::new(Mailbox::new());
            mailbox.close();
            return EventReceiver::new(mailbox);
        }
        self.shared.events()
    }

    /// Waits until some bytes were written since the last time this returned true (W-9,
    /// `waitForBytesWritten`).
    ///
    /// Returns `Ok(true)` as soon as that happens; `Ok(false)` at once when nothing is
    /// queued or in flight, and `Ok(false)` when `timeout` passes.
    ///
    /// # Errors
    /// [`io::ErrorKind::BrokenPipe`] when the reader went away, the OS error when the writer
    /// failed, [`io::ErrorKind::Deadlock`] when called from an event handler.
    pub fn wait_for_bytes_written(&self, timeout: Duration) -> io::Result<bool> {
        self.may_wait()?;
        let result = Shared::wait_driving(&self.shared, Some(timeout), |state| {
            if state.core.take_written_since_mark() {
                return Some(Ok(true));
            }
            if let Some(error) = ended_error(state) {
                return Some(Err(error));
            }
            if !state.core.is_active() {
                return Some(Ok(false));
            }
            None
        });
        result.unwrap_or(Ok(false))
    }

    /// Waits until the queue is at or below the low-water mark — room to write again, the
    /// moment [`Event::Writable`](crate::Event::Writable) fires after backpressure (W-16;
    /// Python's `drain`). Returns at once when there is room already.
    ///
    /// On Unix the waiting thread writes the queue itself meanwhile (W-16).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (mut reader, end) = pipewriter::pipe()?;
    /// let writer = pipewriter::PipeWriter::builder().high_water(64 << 10).build(end)?;
    /// let reading = std::thread::spawn(move || {
    ///     let mut all = Vec::new();
    ///     std::io::Read::read_to_end(&mut reader, &mut all)
    /// });
    /// for _ in 0..64 {
    ///     if writer.write(vec![7u8; 16 << 10])?.is_above_high_water() {
    ///         writer.wait_for_room(Duration::from_secs(10))?; // the producer's pause
    ///     }
    /// }
    /// writer.close(Duration::from_secs(10))?;
    /// assert_eq!(reading.join().unwrap()?, 64 << 14);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`io::ErrorKind::TimedOut`] when `timeout` passes first; the error a write would get
    /// when the writer can take no more writes (closed, the reader gone, failed, stopped);
    /// [`io::ErrorKind::Deadlock`] when called from an event handler.
    pub fn wait_for_room(&self, timeout: Duration) -> io::Result<()> {
        self.may_wait()?;
        Shared::wait_driving(&self.shared, Some(timeout), |state| {
            if let Err(refusal) = state.core.admit(0) {
                return Some(Err(refusal.to_error()));
            }
            (state.core.queued() <= state.core.low_water()).then_some(Ok(()))
        })
        .unwrap_or_else(|| Err(timed_out()))
    }

    /// Waits until a write of `len` bytes would pass the hard limit (for [`BlockingWriter`]).
    pub(crate) fn wait_until_fits(&self, len: usize, timeout: Duration) -> io::Result<()> {
        self.may_wait()?;
        Shared::wait_driving(&self.shared, Some(timeout), |state| {
            match state.core.admit(len) {
                Ok(()) => Some(Ok(())),
                Err(crate::core::Refusal::HardLimit) => None,
                Err(refusal) => Some(Err(refusal.to_error())),
            }
        })
        .unwrap_or_else(|| Err(timed_out()))
    }

    /// This writer as a blocking [`io::Write`] (W-16): see [`BlockingWriter`].
    pub fn blocking(&self) -> BlockingWriter<'_> {
        BlockingWriter::new(self)
    }

    /// A front that gathers small writes into 64 KiB blocks on this thread and hands them over
    /// whole, never waiting (W-17): see [`BufferedWriter`]. For one that waits for room, use
    /// [`blocking`](Self::blocking)`().buffered()`.
    pub fn buffered(&self) -> BufferedWriter<'_> {
        BufferedWriter::new(self, None)
    }

    /// True when the queue is above the high-water mark (one look under the lock).
    pub(crate) fn is_above_high_water(&self) -> bool {
        self.state()
            .is_some_and(|s| s.core.status().is_above_high_water())
    }

    /// Waits until everything accepted before this call is written (W-9).
    ///
    /// # Errors
    /// [`io::ErrorKind::TimedOut`] when `timeout` passes first (the data stays queued and
    /// keeps being written); [`io::ErrorKind::BrokenPipe`] when the reader went away; the OS
    /// error when the writer failed; [`io::ErrorKind::Deadlock`] when called from an event
    /// handler.
    pub fn flush(&self, timeout: Duration) -> io::Result<()> {
        self.may_wait()?;
        let target = self.shared.lock().core.accepted();
        Shared::wait_driving(&self.shared, Some(timeout), |state| {
            if state.core.written() >= target {
                return Some(Ok(()));
            }
            ended_error(state).map(Err)
        })
        .unwrap_or_else(|| Err(timed_out()))
    }

    /// Refuses further writes, waits until everything queued is written, then closes the
    /// handle so the reader sees end-of-file (W-9).
    ///
    /// # Errors
    /// As [`flush`](Self::flush). After a timeout the writer stays closing: the queue keeps
    /// draining in the background and the handle is closed once it is empty; call
    /// [`stop`](Self::stop) to take the rest back instead.
    pub fn close(&self, timeout: Duration) -> io::Result<()> {
        self.may_wait()?;
        let close_now = self.shared.lock().core.request_close();
        if close_now {
            self.shared.close_handle();
        }
        Shared::wait_driving(&self.shared, Some(timeout), |state| {
            if state.core.phase() == Phase::Closed {
                return Some(Ok(()));
            }
            ended_error(state).map(Err)
        })
        .unwrap_or_else(|| Err(timed_out()))
    }

    /// Stops the writer and hands back exactly the bytes that were not written (W-10).
    ///
    /// Cancels the in-flight OS write and waits until the OS is done with it, so the bytes it
    /// took are never handed back and its memory is never released early (W-5). When this
    /// returns, no event handler of this writer will run again, and none is running — with
    /// one exception that keeps handlers from deadlocking each other (W-13): called from
    /// inside an event handler (of this writer or of any other), `stop` waits only for the
    /// OS write in flight, not for a handler of this writer that is running on another thread;
    /// that handler finishes the event it has and gets no more.
    /// Later writes fail with [`io::ErrorKind::NotConnected`]. Idempotent: a second call
    /// returns nothing. The handle stays open until the writer is dropped or
    /// [`into_handle`](Self::into_handle) takes it.
    ///
    /// On Windows, a blocking write on a synchronous handle that cannot be cancelled (a
    /// console write held by a selection, a driver that ignores `CancelSynchronousIo`) makes
    /// `stop` wait about 250 ms at most (P-7): the write is then abandoned to the writer's
    /// thread, which keeps its buffer and the handle until the OS returns, then closes the
    /// handle (so `into_handle` gives none back). Its bytes are handed back, since they were
    /// not reported written, but the OS may still write them, in whole or in part.
    pub fn stop(&self) -> Unwritten {
        if self.inherited() {
            // The queue is the parent's to write; nothing here may touch it (W-15).
            return Unwritten::default();
        }
        Shared::stop(&self.shared)
    }

    /// Stops the writer (as [`stop`](Self::stop)) and gives the handle back with the unwritten
    /// bytes (W-14). The handle is `None` when it was already closed. On Unix the handle's
    /// original blocking mode is restored — except in a forked child for a writer its parent
    /// built: the child gets its copy of the descriptor as it is, since the parent still
    /// writes through the same open file description (W-15).
    pub fn into_handle(self) -> (Option<OwnedPipe>, Unwritten) {
        if self.inherited() {
            return (self.shared.io.release_inherited(), Unwritten::default());
        }
        let unwritten = self.stop();
        let handle = self.shared.io.take_handle();
        (handle, unwritten)
    }

    /// For the async adapters (A-1): see [`Shared::poll_write_bufs`].
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_write_bufs(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.inherited() {
            return Poll::Ready(Err(inherited_error()));
        }
        Shared::poll_write_bufs(&self.shared, cx, bufs)
    }

    /// For the async adapters (A-1): see [`Shared::poll_flush_all`].
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_flush_all(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.inherited() {
            return Poll::Ready(Err(inherited_error()));
        }
        self.shared.poll_flush_all(cx)
    }

    /// For the async adapters (A-1): see [`Shared::poll_close_all`].
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_close_all(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.inherited() {
            return Poll::Ready(Err(inherited_error()));
        }
        self.shared.poll_close_all(cx)
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        if self.inherited() {
            // A forked child's copy (W-15): close the child's copy of the descriptor, and
            // never drop the shared state here, whose locks the parent's threads may have held
            // at the fork and whose registrations are the parent's.
            drop(self.shared.io.release_inherited());
            std::mem::forget(Arc::clone(&self.shared));
            return;
        }
        match self.drop_policy {
            DropPolicy::Linger => {
                let close_now = self.shared.lock().core.request_close();
                if close_now {
                    self.shared.close_handle();
                } else {
                    // Whatever the I/O side is doing, it finishes the queue and closes.
                    sys::Io::linger(&self.shared);
                }
            }
            DropPolicy::Discard => {
                let _ = Shared::stop(&self.shared);
                self.shared.io.close_handle();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn w13_writer_is_send_and_sync() {
        assert_send_sync::<PipeWriter>();
        assert_send_sync::<EventReceiver>();
        assert_send_sync::<Event>();
        assert_send_sync::<WriteError<Vec<u8>>>();
    }
}
