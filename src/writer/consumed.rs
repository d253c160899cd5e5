//! What the reader consumed (W-19): [`PipeWriter::bytes_unread`],
//! [`PipeWriter::bytes_consumed`] and [`PipeWriter::wait_until_consumed`].
//!
//! [`Event::Written`](crate::Event::Written) means the OS took the bytes; a pipe holds up to
//! its buffer (64 KiB by default on Linux) that the reader may never read. Where the OS can
//! look into the pipe from its write end, these calls tell what is still there. The OS sends
//! no notification when a reader reads, so the wait polls, with a backoff.

use std::io;
use std::time::{Duration, Instant};

use super::{inherited_error, PipeWriter};

/// The first pause of [`PipeWriter::wait_until_consumed`]'s polling.
const FIRST_PAUSE: Duration = Duration::from_micros(200);
/// The longest pause of [`PipeWriter::wait_until_consumed`]'s polling.
const LONGEST_PAUSE: Duration = Duration::from_millis(20);

impl PipeWriter {
    /// The bytes in the pipe that its reader has not read yet (W-19): written by the OS, not
    /// consumed.
    ///
    /// Only Linux and Android can tell, and only for a pipe or a FIFO (`ioctl(FIONREAD)` on
    /// the write end). The count is of the pipe, so it includes bytes that others wrote into
    /// the same pipe.
    ///
    /// # Errors
    /// [`io::ErrorKind::Unsupported`] where the OS cannot tell: other Unixes (on FreeBSD and
    /// macOS `FIONREAD` on a write end answers 0, which would be a wrong answer), Windows (see
    /// its backend's notes), and on Linux a terminal, socket or file;
    /// [`io::ErrorKind::NotConnected`] once the handle was closed ([`close`](Self::close), a
    /// writer that ended and let it go) or given back; an error in a forked child for a
    /// writer its parent built (W-15).
    pub fn bytes_unread(&self) -> io::Result<usize> {
        if self.inherited() {
            return Err(inherited_error());
        }
        self.shared.io.bytes_unread()
    }

    /// The bytes the reader has consumed (W-19): [`bytes_written`](Self::bytes_written) minus
    /// [`bytes_unread`](Self::bytes_unread).
    ///
    /// Never more than the truth: the written count is read first, so a write finishing
    /// meanwhile can only make the result smaller, and bytes that others put into the same
    /// pipe (or that were there before the writer was built) count as unread. The result
    /// stops at 0.
    ///
    /// # Errors
    /// As [`bytes_unread`](Self::bytes_unread).
    pub fn bytes_consumed(&self) -> io::Result<u64> {
        let written = self.bytes_written();
        let unread = self.bytes_unread()?;
        Ok(written.saturating_sub(unread as u64))
    }

    /// Waits until everything accepted before this call is written *and* read by the reader
    /// (W-19): the queue is empty and the pipe holds nothing unread. `Ok(true)` then,
    /// `Ok(false)` when `timeout` passed first (nothing is lost: the writer goes on).
    ///
    /// The queue is awaited like [`flush`](Self::flush); then, since the OS sends no
    /// notification when a reader reads, the pipe is polled with a backoff from 0.2 ms to
    /// 20 ms between looks. Call it before [`close`](Self::close), which lets the handle go:
    /// after it, the pipe can no longer be looked into.
    ///
    /// # Errors
    /// As [`bytes_unread`](Self::bytes_unread) (so [`io::ErrorKind::Unsupported`] where
    /// the OS cannot tell, checked before any waiting); as [`flush`](Self::flush) when the
    /// writer ends first; [`io::ErrorKind::BrokenPipe`] when the reader went away leaving
    /// bytes unread; [`io::ErrorKind::Deadlock`] when called from an event handler.
    pub fn wait_until_consumed(&self, timeout: Duration) -> io::Result<bool> {
        self.may_wait()?;
        let deadline = Instant::now().checked_add(timeout);
        // Unsupported or closed: say so before waiting for anything.
        self.bytes_unread()?;
        match self.flush(timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(false),
            Err(e) => return Err(e),
        }
        let mut pause = FIRST_PAUSE;
        loop {
            let unread = self.bytes_unread()?;
            if unread == 0 && self.bytes_to_write() == 0 {
                return Ok(true);
            }
            if unread > 0 && self.shared.io.reader_gone() {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    format!("the reader went away leaving {unread} bytes unread"),
                ));
            }
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => LONGEST_PAUSE,
            };
            if left.is_zero() {
                return Ok(false);
            }
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }
}
