//! [`BlockingWriter`]: a writer as a `std::io::Write`, for code written against the blocking
//! model (`write!`, `io::copy`, a `BufWriter` on top) (W-16).

use std::fmt;
use std::io;
use std::time::Duration;

use super::{BufferedWriter, PipeWriter};
use crate::driver::{InPlace, Shared};
use crate::sync::Instant;

/// A [`PipeWriter`] seen as a blocking [`io::Write`], from [`PipeWriter::blocking`] (W-16).
///
/// When nothing is queued, `write` writes **in place**, as a blocking `write` does: straight
/// from your buffer to the pipe on your thread, no copy, returning as soon as the pipe took
/// some of it and waiting (on your thread, driving the writer) while the pipe is full. On
/// Unix; on Windows, and where a writer cannot be driven from the caller's thread (a blocking
/// worker serves the descriptor, someone listens to the writer's events, a fault injector is
/// set), it always takes the queue's path.
///
/// When bytes are queued (by [`PipeWriter::write`] from elsewhere, or because the pipe was
/// full), `write` queues the whole buffer behind them (a copy) and returns at once while the
/// queue is at or below the high-water mark; above it, it first waits for room
/// ([`PipeWriter::wait_for_room`], which also drives the writer) — the backpressure a blocking
/// `write_all` loop gets from a full pipe, at the writer's own marks. A write the hard limit
/// refuses waits until it fits and is tried again; one larger than the hard limit is queued in
/// pieces that fit. `flush` waits until everything is written ([`PipeWriter::flush`]). Every wait is bounded by
/// [`timeout`](Self::timeout) (none by default: blocking code waits as long as the reader
/// takes) and fails with [`io::ErrorKind::TimedOut`] after it, nothing lost: what was not
/// queued is simply not counted as written.
///
/// Like the other waits, it refuses to wait inside an event handler
/// ([`io::ErrorKind::Deadlock`]).
///
/// ```
/// use std::io::Write;
///
/// let (mut reader, end) = pipewriter::pipe()?;
/// let writer = pipewriter::PipeWriter::new(end)?;
/// let reading = std::thread::spawn(move || std::io::read_to_string(&mut reader));
/// let mut out = std::io::BufWriter::new(writer.blocking());
/// for i in 0..3 {
///     writeln!(out, "line {i}")?;
/// }
/// out.flush()?;
/// drop(out);
/// writer.close(std::time::Duration::from_secs(5))?;
/// assert_eq!(reading.join().unwrap()?, "line 0\nline 1\nline 2\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct BlockingWriter<'a> {
    writer: &'a PipeWriter,
    timeout: Duration,
}

impl fmt::Debug for BlockingWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingWriter")
            .field("writer", self.writer)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<'a> BlockingWriter<'a> {
    pub(super) fn new(writer: &'a PipeWriter) -> Self {
        BlockingWriter {
            writer,
            timeout: Duration::MAX,
        }
    }

    /// Bounds every wait (for room, for a flush) by `timeout`. Default: no bound.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The writer underneath.
    pub fn get_ref(&self) -> &'a PipeWriter {
        self.writer
    }

    /// A front that gathers small writes into 64 KiB blocks on this thread and hands each
    /// block over as this adapter writes, waiting as it does (W-17): see [`BufferedWriter`].
    pub fn buffered(self) -> BufferedWriter<'a> {
        BufferedWriter::new(self.writer, Some(self))
    }
}

impl io::Write for BlockingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.writer.inherited() {
            let deadline = Instant::now().checked_add(self.timeout);
            loop {
                match Shared::write_in_place(&self.writer.shared, buf) {
                    InPlace::Wrote(n) => return Ok(n),
                    InPlace::Full => self.writer.shared.wait_in_place(deadline)?,
                    InPlace::Queue => break,
                }
            }
        }
        if self.writer.is_above_high_water() {
            self.writer.wait_for_room(self.timeout)?;
        }
        let mut piece = buf;
        loop {
            match self.writer.write(piece) {
                Ok(_) => return Ok(piece.len()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The hard limit: wait until this piece fits (W-12), however the limit
                    // compares with the low-water mark.
                    self.writer.wait_until_fits(piece.len(), self.timeout)?;
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidInput && piece.len() > 1 => {
                    // Larger than the hard limit: a shorter write, as `io::Write` allows.
                    piece = &piece[..piece.len() / 2];
                }
                Err(e) => return Err(e.into_error()),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush(self.timeout)
    }
}
