//! The futures-io adapter under an executor that is not tokio (`futures::executor`):
//! digest of a large copy into a child, backpressure without a busy loop (W-12), close as EOF,
//! cancellation safety.
//!
//! Needs the `futures-io` feature (`cargo test --features tokio,futures-io`); without it this
//! file compiles to nothing, like the adapter itself.
#![cfg(feature = "futures-io")]

mod util;

use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use futures::executor::block_on;
use futures::io::{AsyncWrite, AsyncWriteExt};
use futures::task::noop_waker;
use pipewriter::{AsyncPipeWriter, Builder, PipeWriter};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use util::{collect, pattern, sha256_hex};

/// The two kinds of write end a writer drives differently: this crate's pipe (non-blocking
/// through the reactor on Unix, overlapped on Windows) and std's pipe (on Windows a synchronous
/// handle, served by a worker thread).
#[derive(Debug, Clone, Copy)]
enum Pipe {
    Ours,
    Std,
}

fn async_writer(pipe: Pipe, builder: Builder) -> (std::io::PipeReader, AsyncPipeWriter) {
    let (reader, writer) = match pipe {
        Pipe::Ours => {
            let (reader, end) = pipewriter::pipe().expect("pipe");
            (reader, builder.build(end))
        }
        Pipe::Std => {
            let (reader, end) = std::io::pipe().expect("pipe");
            (reader, builder.build(end))
        }
    };
    (reader, AsyncPipeWriter::new(writer.expect("build writer")))
}

/// Runs each named test body once per kind of [`Pipe`], as `NAME::ours` and `NAME::std_pipe`.
macro_rules! on_both_pipes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn ours() {
                super::$name(super::Pipe::Ours)
            }

            #[test]
            fn std_pipe() {
                super::$name(super::Pipe::Std)
            }
        }
    )*};
}

/// Counts how often the executor polls the wrapped future.
struct CountPolls<F> {
    inner: F,
    polls: Arc<AtomicUsize>,
}

impl<F: Future + Unpin> Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll(cx)
    }
}

#[test]
fn a1_futures_io_copy_256_mib_into_child_digest_matches() {
    const TOTAL: usize = 256 << 20;
    let data = pattern(17, TOTAL);
    let expected = sha256_hex(&data);
    let mut child = util::pipe_child(&["sha256"]);
    let stdin = child.stdin.take().unwrap();
    let out = collect(child.stdout.take().unwrap());
    let mut writer = AsyncPipeWriter::new(PipeWriter::new(stdin).unwrap());
    let copied = block_on(async {
        let copied = futures::io::copy(&data[..], &mut writer).await?;
        writer.close().await?;
        io::Result::Ok(copied)
    });
    assert_eq!(copied.unwrap(), TOTAL as u64);
    assert_eq!(
        writer.get_ref().bytes_written(),
        TOTAL as u64,
        "A-1: all written"
    );
    assert!(child.wait().unwrap().success());
    let line = String::from_utf8(out.join().unwrap()).unwrap();
    assert_eq!(
        line.trim(),
        format!("{expected} {TOTAL}"),
        "A-1: digest, length"
    );
}

fn a1_w12_futures_io_backpressure_without_busy_loop_few_polls(pipe: Pipe) {
    const TOTAL: usize = 16 << 20;
    const HIGH: usize = 1 << 20;
    const LOW: usize = 256 << 10;
    let (reader, mut writer) = async_writer(pipe, Builder::new().high_water(HIGH).low_water(LOW));
    let out = thread::spawn(move || {
        let mut reader = reader;
        let mut buf = vec![0u8; 64 << 10];
        let mut got = Vec::new();
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&buf[..n]);
            thread::sleep(Duration::from_millis(1));
        }
    });
    let data = pattern(18, TOTAL);
    let polls = Arc::new(AtomicUsize::new(0));
    let mut max_queued = 0;
    block_on(CountPolls {
        inner: Box::pin(async {
            // write_all in chunks as a producer would; each call may park the task.
            for chunk in data.chunks(200 << 10) {
                writer.write_all(chunk).await?;
                max_queued = max_queued.max(writer.get_ref().bytes_to_write());
            }
            writer.close().await
        }),
        polls: polls.clone(),
    })
    .unwrap();
    let got = out.join().unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&data));
    // As in the tokio test: at most TOTAL / (HIGH - LOW) parkings, the first poll and two
    // for the close. A busy loop would take thousands.
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
    assert!(max_queued <= HIGH, "W-12: memory over the mark");
}

fn a1_futures_io_close_gives_reader_eof_while_writer_alive(pipe: Pipe) {
    let (reader, mut writer) = async_writer(pipe, Builder::new());
    let out = collect(reader);
    let data = pattern(19, 3 << 20);
    block_on(async {
        writer.write_all(&data).await.unwrap();
        writer.close().await.unwrap();
    });
    // `writer` is still alive: the end-of-file comes from the close.
    let got = out.join().unwrap();
    assert_eq!(
        sha256_hex(&got),
        sha256_hex(&data),
        "A-1: flushed before EOF"
    );
    block_on(async {
        writer.close().await.unwrap(); // idempotent
        let err = writer.write(b"late").await.unwrap_err();
        assert_eq!(
            err.kind(),
            io::ErrorKind::BrokenPipe,
            "A-1: write after close"
        );
    });
    drop(writer);
}

fn a1_futures_io_cancelled_writes_lose_and_duplicate_nothing(pipe: Pipe) {
    let mut rng = StdRng::seed_from_u64(23);
    let (reader, mut writer) = async_writer(
        pipe,
        Builder::new().high_water(64 << 10).low_water(16 << 10),
    );
    let out = thread::spawn(move || {
        let mut reader = reader;
        let mut buf = vec![0u8; 24 << 10];
        let mut got = Vec::new();
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&buf[..n]);
            thread::sleep(Duration::from_micros(100));
        }
    });
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let source = pattern(24, 1 << 20);
    let mut accepted = Vec::new();
    let mut cancelled = 0;
    for _ in 0..2_000 {
        let start = rng.gen_range(0..source.len());
        let len = rng.gen_range(1..=(source.len() - start).min(50 << 10));
        let chunk = &source[start..start + len];
        let mut write = writer.write(chunk);
        // One poll, then the future is dropped whatever it returned.
        match Pin::new(&mut write).poll(&mut cx) {
            Poll::Ready(Ok(n)) => accepted.extend_from_slice(&chunk[..n]),
            Poll::Ready(Err(e)) => panic!("write failed: {e}"),
            Poll::Pending => cancelled += 1,
        }
        if rng.gen_ratio(1, 8) {
            thread::sleep(Duration::from_micros(rng.gen_range(0..1_000)));
        }
    }
    block_on(writer.close()).unwrap();
    let got = out.join().unwrap();
    assert!(
        cancelled > 0,
        "no write was cancelled: the test proves nothing"
    );
    assert_eq!(got.len(), accepted.len(), "A-1: length");
    assert_eq!(sha256_hex(&got), sha256_hex(&accepted), "A-1: content");
}

#[test]
fn a1_futures_io_vectored_and_flush() {
    let (reader, mut writer) = async_writer(Pipe::Ours, Builder::new());
    let out = collect(reader);
    let parts: Vec<Vec<u8>> = (0..4).map(|i| pattern(30 + i, 7_000)).collect();
    let slices: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
    block_on(async {
        let n = writer.write_vectored(&slices).await.unwrap();
        assert_eq!(n, 28_000, "A-1: all buffers in one call");
        writer.flush().await.unwrap();
        let w = writer.get_ref();
        assert_eq!(
            w.bytes_written(),
            w.bytes_accepted(),
            "A-1: flush means written"
        );
    });
    drop(writer); // lingers, then closes (W-11)
    assert_eq!(out.join().unwrap(), parts.concat());
}

#[test]
fn a1_w13_adapter_is_send_sync_unpin() {
    fn check<T: AsyncWrite + Send + Sync + Unpin>() {}
    check::<AsyncPipeWriter>();
}

on_both_pipes!(
    a1_w12_futures_io_backpressure_without_busy_loop_few_polls,
    a1_futures_io_close_gives_reader_eof_while_writer_alive,
    a1_futures_io_cancelled_writes_lose_and_duplicate_nothing,
);

/// A waker whose `wake` or drop panics, as one of an executor that has shut down may.
fn panicking_waker(on_wake: bool) -> std::task::Waker {
    use std::task::{RawWaker, RawWakerVTable, Waker};
    unsafe fn clone(data: *const ()) -> RawWaker {
        RawWaker::new(data, vtable_for(data))
    }
    unsafe fn wake(data: *const ()) {
        let on_wake = !data.is_null();
        if on_wake {
            panic!("this executor has shut down (wake)");
        }
        // SAFETY: same contract as `drop_waker`.
        unsafe { drop_waker(data) }
    }
    unsafe fn wake_by_ref(data: *const ()) {
        if !data.is_null() {
            panic!("this executor has shut down (wake_by_ref)");
        }
    }
    unsafe fn drop_waker(data: *const ()) {
        if data.is_null() {
            panic!("this executor has shut down (drop)");
        }
    }
    static ON_WAKE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);
    fn vtable_for(_data: *const ()) -> &'static RawWakerVTable {
        &ON_WAKE
    }
    // The data pointer says which way it panics: non-null on wake, null on drop.
    let data: *const () = if on_wake {
        std::ptr::NonNull::<u8>::dangling().as_ptr() as *const ()
    } else {
        std::ptr::null()
    };
    // SAFETY: the vtable's functions never dereference `data`; they only look at whether it is
    // null, which is all this waker carries.
    unsafe { Waker::from_raw(RawWaker::new(data, &ON_WAKE)) }
}

/// Parks a write on a stalled reader with `waker`, then lets the reader go so the I/O context
/// wakes (and drops) that waker. Returns the reader's thread.
fn park_with(waker: &std::task::Waker) -> (AsyncPipeWriter, thread::JoinHandle<Vec<u8>>) {
    let (reader, mut writer) = async_writer(Pipe::Ours, Builder::new().high_water(64 << 10));
    let mut cx = Context::from_waker(waker);
    let chunk = vec![7u8; 64 << 10];
    // Fill until the adapter parks the task.
    let mut parked = false;
    for _ in 0..10_000 {
        match Pin::new(&mut writer).poll_write(&mut cx, &chunk) {
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => panic!("write failed: {e}"),
            Poll::Pending => {
                parked = true;
                break;
            }
        }
    }
    assert!(parked, "the adapter never parked the task");
    (writer, collect(reader))
}

/// W-13: user code run on the I/O context — a waker that panics when woken or dropped —
/// breaks at most its own writer: every other writer of the process keeps working (before, the
/// panic killed the shared I/O thread on Unix and aborted the process on Windows).
#[test]
fn w13_a_waker_that_panics_breaks_no_other_writer() {
    for on_wake in [true, false] {
        let waker = panicking_waker(on_wake);
        let (writer, reader) = park_with(&waker);
        // The test's own copy would panic when dropped here; the writer's clone is the one
        // that must be contained.
        std::mem::forget(waker);
        // The reader drains; the I/O context wakes the parked task's waker, which panics.
        let mut writer = writer;
        let _ = block_on(writer.close());
        drop(writer);
        let _ = reader.join();

        // Another writer, on the same I/O context, still works.
        let (reader, end) = pipewriter::pipe().unwrap();
        let received = collect(reader);
        let other = PipeWriter::new(end).unwrap();
        let data = pattern(13, 1 << 20);
        other.write(&data[..]).unwrap();
        other
            .close(Duration::from_secs(60))
            .expect("W-13: another writer stalls after a waker panicked on the I/O context");
        assert!(received.join().unwrap() == data);
    }
}
