//! The futures-io adapter under an executor that is not tokio (`futures::executor`):
//! digest of a large copy into a child, backpressure without a busy loop (W-12), close as EOF,
//! cancellation safety.
//!
//! Needs the `futures-io` feature (`cargo test --features tokio,futures-io`); without it this
//! file compiles to nothing, like the adapter itself.
#![cfg(feature = "futures-io")]

mod util;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use futures::executor::block_on;
use futures::io::{AsyncWrite, AsyncWriteExt};
use futures::task::noop_waker;
use pipewriter::{AsyncPipeWriter, Builder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use util::async_io::{self, async_writer, on_both_pipes, CountPolls, Pipe};
use util::{collect, pattern, slow_reader};

#[test]
fn a1_futures_io_copy_256_mib_into_child_digest_matches() {
    async_io::copy_into_child_digest_matches(17, 256 << 20, |data, writer| {
        block_on(async move {
            let copied = futures::io::copy(data, &mut *writer).await?;
            writer.close().await?;
            Ok(copied)
        })
    });
}

fn a1_w12_futures_io_backpressure_without_busy_loop_few_polls(pipe: Pipe) {
    async_io::backpressure_without_busy_loop(pipe, 18, |data, writer, polls, max_queued| {
        block_on(CountPolls {
            inner: Box::pin(async move {
                // write_all in chunks as a producer would; each call may park the task.
                for chunk in data.chunks(200 << 10) {
                    writer.write_all(chunk).await?;
                    max_queued.fetch_max(writer.get_ref().bytes_to_write(), Ordering::SeqCst);
                }
                writer.close().await
            }),
            polls,
        })
    });
}

fn a1_futures_io_close_gives_reader_eof_while_writer_alive(pipe: Pipe) {
    async_io::close_gives_reader_eof_while_writer_alive(
        pipe,
        19,
        |writer, data| {
            block_on(async {
                writer.write_all(data).await.unwrap();
                writer.close().await.unwrap();
            })
        },
        |writer| {
            block_on(async {
                writer.close().await.unwrap(); // idempotent
                writer.write(b"late").await.unwrap_err()
            })
        },
    );
}

fn a1_futures_io_cancelled_writes_lose_and_duplicate_nothing(pipe: Pipe) {
    let mut rng = StdRng::seed_from_u64(23);
    let marks = Builder::new().high_water(64 << 10).low_water(16 << 10);
    let (reader, mut writer) = async_writer(pipe, marks);
    let out = slow_reader(reader, 24 << 10, Duration::from_micros(100));
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let source = pattern(24, 1 << 20);
    let mut accepted = Vec::new();
    let mut cancelled = 0;
    for _ in 0..2_000 {
        let chunk = async_io::random_chunk(&mut rng, &source, 50 << 10);
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
    async_io::assert_cancelled_writes_lost_nothing(&got, &accepted, cancelled, "one poll each");
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
        util::assert_a_new_writer_delivers(
            &pattern(13, 1 << 20),
            Duration::from_secs(60),
            "W-13: another writer stalls after a waker panicked on the I/O context",
        );
    }
}
