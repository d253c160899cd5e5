//! [`PipeWriter::write_file`]: a file range as a payload (W-18).

use std::error::Error;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::ops::Range;
use std::time::Duration;

use super::PipeWriter;
use crate::driver::Shared;
use crate::sync::Instant;
use crate::sys;

/// A [`PipeWriter::write_file`] that did not write its whole range: why, and exactly how far
/// it got.
#[derive(Debug)]
pub struct WriteFileError {
    error: io::Error,
    written: u64,
    unwritten: Range<u64>,
}

impl WriteFileError {
    /// The error.
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The error's kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.error.kind()
    }

    /// Bytes of the range the writer took, from its start (see [`PipeWriter::write_file`]).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The part of the range the writer did not take: `start + written() .. end`.
    pub fn unwritten(&self) -> Range<u64> {
        self.unwritten.clone()
    }

    /// The error alone.
    pub fn into_error(self) -> io::Error {
        self.error
    }
}

impl fmt::Display for WriteFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (bytes {}..{} of the file were not written)",
            self.error, self.unwritten.start, self.unwritten.end
        )
    }
}

impl Error for WriteFileError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

impl From<WriteFileError> for io::Error {
    fn from(e: WriteFileError) -> io::Error {
        e.error
    }
}

impl PipeWriter {
    /// Writes the bytes `range` of `file` after everything written before, on this thread,
    /// and returns the count once the writer took them all (W-18), within `timeout`.
    ///
    /// - **Linux** (a descriptor driven without a worker thread): the bytes go from the page
    ///   cache into the pipe with `splice(2)`, never through user memory — one copy in all
    ///   (the reader's) instead of three — and are in the pipe when this returns. The writer
    ///   is held for the whole range: writes from other threads meanwhile are queued behind
    ///   it. A file `splice` cannot read (some file systems) is copied through a buffer, the
    ///   same way.
    /// - **Elsewhere**: the bytes are read into a buffer and written as the
    ///   [`blocking`](Self::blocking) adapter writes (in place on Unix, queued on Windows,
    ///   waiting at the high-water mark); writes from other threads may go between its
    ///   pieces. Call [`flush`](Self::flush) to wait until the queued ones are written.
    ///
    /// File reads happen on this thread — they may wait for the disk — never on the I/O
    /// thread the writers share. While the pipe is full this thread sleeps in `poll` (no
    /// busy loop, however long the reader stalls). The file's position is not used on Unix
    /// (`pread`); on Windows it moves.
    ///
    /// ```
    /// use std::io::Write;
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("pipewriter-doc-{}", std::process::id()));
    /// std::fs::File::create(&path)?.write_all(b"header|the file's bytes|trailer")?;
    /// let file = std::fs::File::open(&path)?;
    ///
    /// let (mut reader, end) = pipewriter::pipe()?;
    /// let writer = pipewriter::PipeWriter::new(end)?;
    /// let reading = std::thread::spawn(move || std::io::read_to_string(&mut reader));
    /// writer.write(&b"<"[..])?;
    /// let n = writer.write_file(&file, 7..23, Duration::from_secs(10))?; // "the file's bytes"
    /// writer.write(&b">"[..])?;
    /// writer.close(Duration::from_secs(10))?;
    /// assert_eq!(n, 16);
    /// assert_eq!(reading.join().unwrap()?, "<the file's bytes>");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// A [`WriteFileError`] with exactly how much of the range the writer took
    /// ([`written`](WriteFileError::written); those bytes are in the pipe, or queued and then
    /// written or handed back by [`stop`](Self::stop) like any write) and the rest
    /// ([`unwritten`](WriteFileError::unwritten)): [`io::ErrorKind::TimedOut`] when `timeout`
    /// passed; [`io::ErrorKind::UnexpectedEof`] when the file ended before the range did; the
    /// read's error; and the errors of [`write`](Self::write) when the writer ended
    /// ([`io::ErrorKind::NotConnected`] after a `stop` from another thread,
    /// [`io::ErrorKind::BrokenPipe`] when the reader left); [`io::ErrorKind::InvalidInput`]
    /// for a range whose start is past its end; [`io::ErrorKind::Deadlock`] from an event
    /// handler.
    pub fn write_file(
        &self,
        file: &File,
        range: Range<u64>,
        timeout: Duration,
    ) -> Result<u64, WriteFileError> {
        let fail = |error, written: u64| WriteFileError {
            error,
            written,
            unwritten: range.start.saturating_add(written)..range.end,
        };
        if range.start > range.end {
            return Err(fail(
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the range's start is past its end",
                ),
                0,
            ));
        }
        if range.is_empty() {
            return Ok(0);
        }
        self.may_wait().map_err(|e| fail(e, 0))?;
        let deadline = Instant::now().checked_add(timeout);
        let (moved, error) = Shared::write_file(&self.shared, file, range.clone(), deadline);
        if let Some(error) = error {
            return Err(fail(error, moved));
        }
        if moved == range.end - range.start {
            return Ok(moved);
        }
        // Not driven from this thread: copy through a buffer.
        let mut buf = vec![0u8; 64 << 10];
        let mut written = moved;
        while range.start + written < range.end {
            let left = deadline.map_or(Duration::MAX, |d| {
                d.checked_duration_since(Instant::now())
                    .unwrap_or(Duration::ZERO)
            });
            if left.is_zero() {
                return Err(fail(crate::driver::timed_out(), written));
            }
            let offset = range.start + written;
            let want = usize::try_from(range.end - offset)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let n = match sys::read_file_at(file, &mut buf[..want], offset) {
                Ok(0) => {
                    return Err(fail(
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("the file ended at byte {offset}, before the end of the range"),
                        ),
                        written,
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail(e, written)),
            };
            let mut out = self.blocking().timeout(left);
            let mut done = 0;
            while done < n {
                match out.write(&buf[done..n]) {
                    Ok(k) => done += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(fail(e, written + done as u64)),
                }
            }
            written += n as u64;
        }
        Ok(written)
    }
}
