//! Async adapters (A-1): [`AsyncPipeWriter`] implements `futures_io::AsyncWrite` (feature
//! `futures-io`) and `tokio::io::AsyncWrite` (feature `tokio`).
//!
//! The adapters hold no state of their own. The writer's queue is the only buffer, and every
//! poll looks at the writer's shared state under its lock: it either changes it (queues bytes,
//! starts a close) and reports exactly that change, or registers the task's waker in the writer
//! and returns `Pending` without changing anything. The I/O context (the Unix reactor, the
//! Windows thread pool or a worker thread) wakes the registered tasks when their condition
//! holds, so no runtime is needed and any executor works.

use std::io;

use crate::writer::PipeWriter;

#[cfg(feature = "futures-io")]
mod futures_io;
#[cfg(feature = "tokio")]
mod tokio;

/// A [`PipeWriter`] for async code: implements `futures_io::AsyncWrite` (feature `futures-io`)
/// and `tokio::io::AsyncWrite` (feature `tokio`) with real backpressure, flush and close (A-1).
///
/// ```no_run
/// # #[cfg(feature = "tokio")]
/// # #[allow(dead_code)]
/// # async fn demo() -> std::io::Result<()> {
/// use std::process::{Command, Stdio};
/// use pipewriter::{AsyncPipeWriter, PipeWriter};
/// use tokio::io::AsyncWriteExt;
///
/// let mut child = Command::new("sort").stdin(Stdio::piped()).spawn()?;
/// let mut stdin = AsyncPipeWriter::new(PipeWriter::new(child.stdin.take().unwrap())?);
/// let mut input = tokio::fs::File::open("words.txt").await?;
/// tokio::io::copy(&mut input, &mut stdin).await?; // waits while the child is slow (W-12)
/// stdin.shutdown().await?; // everything written, then end-of-file for the child
/// # Ok(())
/// # }
/// ```
///
/// # Semantics
/// - `poll_write` queues as much of the buffer as fits under the high-water mark
///   ([`Builder::high_water`](crate::Builder::high_water)) and returns how much that was — a
///   short write when the buffer is larger than the room left. With the queue at the mark it
///   returns `Pending` and the task is woken once the queue has fallen to the low-water mark
///   (the moment [`Event::Writable`](crate::Event::Writable) fires), so a fast producer and a
///   slow reader settle into few, large writes instead of a busy loop (W-12). Memory stays
///   under the high-water mark (and under the hard limit, when one is set). With an empty queue
///   at least one OS write's worth is accepted, so even a high-water mark of 0 makes progress.
/// - `poll_write_vectored` queues several buffers in one call (one lock, one copy each).
/// - `poll_flush` completes when every byte accepted so far has been written to the pipe, not
///   merely handed to a buffer.
/// - `poll_close` (futures-io) and `poll_shutdown` (tokio) refuse further writes, wait until the
///   queue is written, then close the handle, so the reader sees end-of-file while this value is
///   still alive. If the future is dropped before it completes, the writer stays closing: the
///   queue keeps draining in the background and the handle is closed when it is empty.
///
/// # Errors
/// Errors surface at the first poll that can report them. Once the reader has gone away
/// (E-2) every poll of `poll_write`, `poll_flush` and `poll_close` returns
/// [`io::ErrorKind::BrokenPipe`] — a flush or close waiting at that moment is woken and fails
/// too, because the bytes it waited for will never be written. Bytes accepted *before* a pipe
/// write discovered the closed reader are reported as accepted (a pipe cannot tell sooner);
/// [`get_ref`](Self::get_ref)`().`[`stop`](PipeWriter::stop) hands them back. After a fatal
/// error the polls return that error with its OS code (E-4); after
/// [`stop`](PipeWriter::stop), [`io::ErrorKind::NotConnected`]; a write after a close,
/// [`io::ErrorKind::BrokenPipe`].
///
/// # Cancellation
/// Every poll is cancel-safe: `Ready(Ok(n))` from `poll_write` means exactly `n` bytes were
/// queued and will be written in order; `Pending` means nothing was queued. Dropping a
/// `write` future (`AsyncWriteExt::write`) at any point therefore loses and duplicates
/// nothing. (`write_all` is not cancel-safe in any library: dropped midway, it does not tell how
/// much it wrote — the bytes it did write stay queued.) Dropping a `flush` future changes
/// nothing.
///
/// # Why a wrapper
/// [`PipeWriter`] itself has `write` and `flush` methods (synchronous, non-blocking and with a
/// timeout); implementing the async traits on it directly would make `writer.write(buf).await`
/// resolve to the inherent method and fail to compile. The wrapper owns the writer;
/// [`get_ref`](Self::get_ref) reaches its accounting, events and `stop`, and
/// [`into_inner`](Self::into_inner) gives it back. Dropping the wrapper drops the writer, with
/// its [`DropPolicy`](crate::DropPolicy) (by default the queue is still written, in the
/// background).
#[derive(Debug)]
pub struct AsyncPipeWriter {
    writer: PipeWriter,
}

impl AsyncPipeWriter {
    /// Wraps `writer` for use from async code.
    pub fn new(writer: PipeWriter) -> Self {
        AsyncPipeWriter { writer }
    }

    /// The wrapped writer: accounting ([`bytes_to_write`](PipeWriter::bytes_to_write) …),
    /// [`events`](PipeWriter::events), [`stop`](PipeWriter::stop). Its synchronous waits
    /// (`flush`, `close`) block the calling thread: do not call them from an async task.
    pub fn get_ref(&self) -> &PipeWriter {
        &self.writer
    }

    /// Unwraps the writer. Nothing is lost: the adapter keeps no buffer of its own.
    pub fn into_inner(self) -> PipeWriter {
        self.writer
    }
}

impl From<PipeWriter> for AsyncPipeWriter {
    fn from(writer: PipeWriter) -> Self {
        AsyncPipeWriter::new(writer)
    }
}

/// One slice as the slice list the writer's poll primitive takes.
fn single(buf: &[u8]) -> [io::IoSlice<'_>; 1] {
    [io::IoSlice::new(buf)]
}
