//! Scaffolding of the async adapter tests (`tests/async_tokio.rs`, `tests/async_futures.rs`):
//! the two kinds of write end an adapter is tested on, a poll counter, and the scenarios both
//! adapters are tested with, each given the adapter's own calls on its executor as closures.
//! Built with either adapter's feature, as the adapter itself; none of it depends on a runtime.

use std::future::Future;
use std::io;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pipewriter::{AsyncPipeWriter, Builder, PipeWriter};
use rand::Rng;

use super::{collect, pattern, pipe_child, sha256_hex, slow_reader};

/// The two kinds of write end a writer drives differently: this crate's pipe (non-blocking
/// through the reactor on Unix, overlapped on Windows) and std's pipe (on Windows a synchronous
/// handle, served by a worker thread).
#[derive(Debug, Clone, Copy)]
pub enum Pipe {
    Ours,
    Std,
}

/// A pipe of the kind `pipe` with an adapter over a writer built by `builder` on its write
/// end: (read end, adapter).
pub fn async_writer(pipe: Pipe, builder: Builder) -> (std::io::PipeReader, AsyncPipeWriter) {
    let (reader, writer) = match pipe {
        Pipe::Ours => {
            // The system's pipe size, as the std pipe has: the tests that stall the reader
            // fill the pipe before they look at wake-ups.
            let (reader, end) = pipewriter::PipeBuilder::new()
                .system_buffer_size()
                .build()
                .expect("pipe");
            (reader, builder.build(end))
        }
        Pipe::Std => {
            let (reader, end) = std::io::pipe().expect("pipe");
            (reader, builder.build(end))
        }
    };
    (reader, AsyncPipeWriter::new(writer.expect("build writer")))
}

/// Runs each named test body, a function of the test file taking a [`Pipe`], once per kind of
/// pipe, as `NAME::ours` and `NAME::std_pipe`.
#[allow(unused_macros)] // Only the async test files run tests on both pipes.
macro_rules! on_both_pipes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn ours() {
                super::$name($crate::util::async_io::Pipe::Ours)
            }

            #[test]
            fn std_pipe() {
                super::$name($crate::util::async_io::Pipe::Std)
            }
        }
    )*};
}
#[allow(unused_imports)] // As the macro: unused by the other test files.
pub(crate) use on_both_pipes;

/// Counts how often the executor polls the wrapped future.
pub struct CountPolls<F> {
    pub inner: F,
    pub polls: Arc<AtomicUsize>,
}

impl<F: Future + Unpin> Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// `total` bytes copied into a `pipe_child sha256` through an adapter by `copy` (the
/// trait's own copy, then its close, on its executor; it returns the count copied): all of it
/// is written, the child succeeds, and its digest and count match.
pub fn copy_into_child_digest_matches(
    seed: u64,
    total: usize,
    copy: impl FnOnce(&[u8], &mut AsyncPipeWriter) -> io::Result<u64>,
) {
    let data = pattern(seed, total);
    let expected = sha256_hex(&data);
    let mut child = pipe_child(&["sha256"]);
    let stdin = child.stdin.take().unwrap();
    let out = collect(child.stdout.take().unwrap());
    let mut writer = AsyncPipeWriter::new(PipeWriter::new(stdin).unwrap());
    let copied = copy(&data, &mut writer);
    assert_eq!(copied.unwrap(), total as u64);
    assert_eq!(
        writer.get_ref().bytes_written(),
        total as u64,
        "A-1: all written"
    );
    assert!(child.wait().unwrap().success());
    let line = String::from_utf8(out.join().unwrap()).unwrap();
    assert_eq!(
        line.trim(),
        format!("{expected} {total}"),
        "A-1: digest, length"
    );
}

/// W-12: 16 MiB through an adapter with a high-water mark of 1 MiB and a low one of 256 KiB,
/// ahead of a slow reader. `produce(data, writer, polls, max_queued)` writes `data` and closes
/// the adapter on its executor, as a `CountPolls` over `polls`, and keeps the most bytes queued
/// after a write in `max_queued`. The reader gets all of it, the task was parked (it was polled
/// more than once) but never busy-looped, and the queue stayed under the mark.
pub fn backpressure_without_busy_loop(
    pipe: Pipe,
    seed: u64,
    produce: impl FnOnce(&[u8], &mut AsyncPipeWriter, Arc<AtomicUsize>, &AtomicUsize) -> io::Result<()>,
) {
    const TOTAL: usize = 16 << 20;
    const HIGH: usize = 1 << 20;
    const LOW: usize = 256 << 10;
    let (reader, mut writer) = async_writer(pipe, Builder::new().high_water(HIGH).low_water(LOW));
    // A slow reader: the writer is always ahead of it.
    let out = slow_reader(reader, 64 << 10, Duration::from_millis(1));
    let data = pattern(seed, TOTAL);
    let polls = Arc::new(AtomicUsize::new(0));
    let max_queued = AtomicUsize::new(0);
    produce(&data, &mut writer, polls.clone(), &max_queued).unwrap();
    let got = out.join().unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&data));
    // Each parking needs the queue to fall from the high- to the low-water mark, and the
    // next poll fills it again: at most TOTAL / (HIGH - LOW) parkings, plus the first poll and
    // two for the close (drained, then closed). A busy loop would take thousands.
    let polls = polls.load(Ordering::SeqCst);
    let bound = TOTAL / (HIGH - LOW) + 5;
    assert!(
        polls >= 2,
        "the slow reader never pushed back ({polls} polls)"
    );
    assert!(
        polls <= bound,
        "W-12: {polls} polls for {TOTAL} bytes: busy loop"
    );
    assert!(
        max_queued.load(Ordering::SeqCst) <= HIGH,
        "W-12: memory over the mark"
    );
}

/// 3 MiB written through an adapter and the adapter closed by `close` (the trait's
/// `write_all`, then its close, on its executor): the reader gets every byte, then end-of-file,
/// although the adapter is still alive. Then `late_write` (closing again, which must succeed,
/// then writing `b"late"`) must fail with `BrokenPipe`; it returns the write's error.
pub fn close_gives_reader_eof_while_writer_alive(
    pipe: Pipe,
    seed: u64,
    close: impl FnOnce(&mut AsyncPipeWriter, &[u8]),
    late_write: impl FnOnce(&mut AsyncPipeWriter) -> io::Error,
) {
    let (reader, mut writer) = async_writer(pipe, Builder::new());
    let out = collect(reader);
    let data = pattern(seed, 3 << 20);
    close(&mut writer, &data);
    // `writer` is still alive here: the reader's end-of-file comes from the close.
    let got = out.join().unwrap();
    assert_eq!(
        sha256_hex(&got),
        sha256_hex(&data),
        "A-1: flushed before EOF"
    );
    let err = late_write(&mut writer);
    assert_eq!(
        err.kind(),
        io::ErrorKind::BrokenPipe,
        "A-1: write after close (tokio: shutdown)"
    );
    drop(writer);
}

/// A random slice of `source`, of up to `max_len` bytes, for a write that may be cancelled.
pub fn random_chunk<'a>(rng: &mut impl Rng, source: &'a [u8], max_len: usize) -> &'a [u8] {
    let start = rng.gen_range(0..source.len());
    let len: RangeInclusive<usize> = 1..=(source.len() - start).min(max_len);
    &source[start..start + rng.gen_range(len)]
}

/// after writes of which `cancelled` were dropped while pending, the reader got exactly
/// the bytes the writes reported `accepted`: nothing lost, nothing twice.
pub fn assert_cancelled_writes_lost_nothing(
    got: &[u8],
    accepted: &[u8],
    cancelled: usize,
    what: &str,
) {
    assert!(
        cancelled > 0,
        "{what}: no write was cancelled: the test proves nothing"
    );
    assert_eq!(got.len(), accepted.len(), "A-1 ({what}): length");
    assert_eq!(
        sha256_hex(got),
        sha256_hex(accepted),
        "A-1 ({what}): the reader got exactly what the writes accepted"
    );
}
