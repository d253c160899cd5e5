//! [`BufferedWriter`]: a per-thread front that writes small messages in place (W-17).

use std::fmt;
use std::io;

use super::{BlockingWriter, PipeWriter};
use crate::pool::{self, BLOCK};

/// A front for small writes: fills a pooled 64 KiB block on your thread without taking the
/// writer's lock, and hands it to the writer whole — one lock per block instead of one per
/// message (W-17; .NET's `PipeWriter.GetMemory`/`Advance` does the same). It implements
/// [`io::Write`], so `write!` and `io::copy` work on it; it is `Send` but not shared: make one
/// per thread (they may feed the same writer; each block stays in order, blocks of different
/// fronts interleave as whole blocks).
///
/// Two kinds, from two places:
///
/// - [`PipeWriter::buffered`]: never waits. A full block is queued without a copy. When the
///   writer's hard limit refuses it, `write` fails with [`io::ErrorKind::WouldBlock`] and
///   keeps the block (retry after [`Event::Writable`](crate::Event::Writable) or
///   [`PipeWriter::wait_for_room`]); `flush` hands the bytes gathered so far to the writer
///   and returns without waiting for the OS.
/// - [`BlockingWriter::buffered`]: hands each block over as [`BlockingWriter`] writes — in
///   place, straight from the block, when nothing is queued, waiting while the pipe is full —
///   and `flush` also waits until the writer has written everything, within the adapter's
///   timeout.
///
/// # What is where
/// Every byte a `write` call accepted is in exactly one place: still in the front
/// ([`buffer`](Self::buffer)), or accepted by the writer (counted in
/// [`PipeWriter::bytes_accepted`], then written or handed back by
/// [`stop`](PipeWriter::stop) like any other write). When the writer ended (stopped, the
/// reader gone, failed, closed), handing a block over fails with the writer's error and the
/// block stays in the front: take it with [`into_unflushed`](Self::into_unflushed).
///
/// Dropping the front hands what it holds to the writer, as [`std::io::BufWriter`] does;
/// errors there cannot be reported, and the bytes are then dropped (logged at warn level).
/// Call `flush` first to see them.
///
/// ```
/// use std::io::Write;
///
/// let (mut reader, end) = pipewriter::pipe()?;
/// let writer = pipewriter::PipeWriter::new(end)?;
/// let reading = std::thread::spawn(move || std::io::read_to_string(&mut reader));
/// let mut front = writer.blocking().buffered();
/// for i in 0..1000 {
///     write!(front, "message {i}\n")?;
/// }
/// front.flush()?;
/// drop(front);
/// writer.close(std::time::Duration::from_secs(5))?;
/// assert_eq!(reading.join().unwrap()?.lines().count(), 1000);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct BufferedWriter<'a> {
    writer: &'a PipeWriter,
    /// `Some` for the blocking kind: how blocks are handed over.
    blocking: Option<BlockingWriter<'a>>,
    /// The block being filled (capacity [`BLOCK`]).
    block: Vec<u8>,
}

impl fmt::Debug for BufferedWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferedWriter")
            .field("writer", self.writer)
            .field("blocking", &self.blocking.is_some())
            .field("buffered", &self.block.len())
            .finish()
    }
}

impl<'a> BufferedWriter<'a> {
    pub(super) fn new(writer: &'a PipeWriter, blocking: Option<BlockingWriter<'a>>) -> Self {
        BufferedWriter {
            writer,
            blocking,
            block: Vec::new(),
        }
    }

    /// The bytes gathered and not yet handed to the writer.
    pub fn buffer(&self) -> &[u8] {
        &self.block
    }

    /// The writer underneath.
    pub fn get_ref(&self) -> &'a PipeWriter {
        self.writer
    }

    /// Takes the bytes not handed to the writer, without writing them, and ends the front.
    pub fn into_unflushed(mut self) -> Vec<u8> {
        std::mem::take(&mut self.block)
    }

    /// Hands the gathered bytes to the writer. On error the bytes not accepted stay in the
    /// block.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        match &mut self.blocking {
            Some(blocking) => {
                let mut done = 0;
                let result = loop {
                    if done == self.block.len() {
                        break Ok(());
                    }
                    match io::Write::write(blocking, &self.block[done..]) {
                        Ok(n) => done += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                self.block.drain(..done);
                result
            }
            None if self.block.len() == BLOCK => {
                // Whole, without a copy; the front takes a fresh block.
                let block = std::mem::take(&mut self.block);
                match self.writer.write(pool::whole(block)) {
                    Ok(_) => Ok(()),
                    Err(refused) => {
                        let (error, bytes) = refused.into_parts();
                        self.block = pool::take_block();
                        self.block.extend_from_slice(&bytes);
                        Err(error)
                    }
                }
            }
            None => match self.writer.write(&self.block[..]) {
                Ok(_) => {
                    self.block.clear();
                    Ok(())
                }
                Err(refused) => Err(refused.into_error()),
            },
        }
    }
}

impl io::Write for BufferedWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.block.len() == BLOCK {
            // Full from an earlier refusal: nothing of `buf` is taken until it goes.
            self.hand_over()?;
        }
        if self.block.capacity() == 0 {
            self.block = pool::take_block();
        }
        let n = buf.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == BLOCK {
            // Taken already: an error handing the block over shows at the next call.
            if let Err(e) = self.hand_over() {
                log::debug!("pipewriter: a full block stays in the front for now: {e}");
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()?;
        match &mut self.blocking {
            Some(blocking) => io::Write::flush(blocking),
            None => Ok(()),
        }
    }
}

impl Drop for BufferedWriter<'_> {
    fn drop(&mut self) {
        if self.block.is_empty() {
            return;
        }
        let len = self.block.len();
        if let Err(e) = self.hand_over() {
            log::warn!(
                "pipewriter: a buffered front was dropped with {} of {len} bytes it could not \
                 hand to the writer: {e}",
                self.block.len()
            );
        }
    }
}
