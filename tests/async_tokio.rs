//! The tokio adapter with real backpressure (W-12): digest of a large copy into a child,
//! a stalled reader that parks the task, no busy loop, cancellation safety, shutdown as EOF,
//! errors at the poll that can report them (E-2).
//!
//! Needs the `tokio` feature (`cargo test --features tokio,futures-io`); without it this file
//! compiles to nothing, like the adapter itself.
#![cfg(feature = "tokio")]

mod util;

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use pipewriter::{AsyncPipeWriter, Builder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use util::async_io::{self, async_writer, on_both_pipes, CountPolls, Pipe};
use util::{collect, pattern, sha256_hex, slow_reader, PATIENCE};

/// A waker that counts its wake-ups and unparks the thread that made it.
struct CountingWaker {
    wakes: AtomicUsize,
    thread: Thread,
}

impl CountingWaker {
    fn new() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker {
            wakes: AtomicUsize::new(0),
            thread: thread::current(),
        });
        let waker = Waker::from(counter.clone());
        (counter, waker)
    }

    fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }

    /// Parks until the count exceeds `seen`; panics after [`PATIENCE`].
    fn wait_beyond(&self, seen: usize, what: &str) {
        let start = Instant::now();
        while self.wakes() <= seen {
            assert!(start.elapsed() < PATIENCE, "never woken: {what}");
            thread::park_timeout(Duration::from_millis(50));
        }
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// Drives `fut` to completion on this thread with `waker`, parking between polls.
fn block_on_with<F: Future>(fut: F, waker: &Waker, counter: &CountingWaker) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(waker);
    loop {
        let seen = counter.wakes();
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        counter.wait_beyond(seen, "block_on_with");
    }
}

#[test]
fn a1_tokio_copy_256_mib_into_child_digest_matches() {
    async_io::copy_into_child_digest_matches(7, 256 << 20, |data, writer| {
        runtime().block_on(async move {
            let copied = tokio::io::copy(&mut &data[..], &mut *writer).await?;
            writer.shutdown().await?;
            Ok(copied)
        })
    });
}

fn a1_w12_stalled_reader_parks_task_memory_bounded_wakes_on_resume(pipe: Pipe) {
    const HIGH: usize = 256 << 10;
    const LOW: usize = 64 << 10;
    let (reader, mut writer) = async_writer(pipe, Builder::new().high_water(HIGH).low_water(LOW));
    let (counter, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let chunk = pattern(3, 48 << 10);
    let mut sent = Vec::new();

    // Nobody reads: the pipe fills, then the queue, then the task must park.
    let mut writes = 0;
    loop {
        match Pin::new(&mut writer).poll_write(&mut cx, &chunk) {
            Poll::Ready(Ok(n)) => {
                assert!(n > 0);
                sent.extend_from_slice(&chunk[..n]);
                let queued = writer.get_ref().bytes_to_write();
                assert!(queued <= HIGH, "W-12: {queued} queued over the mark {HIGH}");
            }
            Poll::Ready(Err(e)) => panic!("write failed: {e}"),
            Poll::Pending => break,
        }
        writes += 1;
        assert!(
            writes < 10_000,
            "W-12: never pushed back on a stalled reader"
        );
    }
    assert!(writer.get_ref().bytes_to_write() <= HIGH);
    // Parked: polling again stays pending and queues nothing; nobody wakes the task while the
    // reader stalls (a spurious wake-up loop would show here).
    let accepted = writer.get_ref().bytes_accepted();
    assert!(Pin::new(&mut writer)
        .poll_write(&mut cx, &chunk)
        .is_pending());
    assert_eq!(writer.get_ref().bytes_accepted(), accepted);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(counter.wakes(), 0, "W-12: woken while the reader stalls");

    // The reader resumes: one wake-up, once the queue is down to the low-water mark.
    let out = collect(reader);
    counter.wait_beyond(0, "reader resumed");
    assert!(
        writer.get_ref().bytes_to_write() <= LOW,
        "A-1: woken at low water"
    );
    assert_eq!(counter.wakes(), 1, "A-1: one wake-up per stall");
    match Pin::new(&mut writer).poll_write(&mut cx, &chunk) {
        Poll::Ready(Ok(n)) => sent.extend_from_slice(&chunk[..n]),
        other => panic!("A-1: no room after the wake-up: {other:?}"),
    }
    block_on_with(writer.shutdown(), &waker, &counter).unwrap();
    let got = out.join().unwrap();
    assert_eq!(got.len(), sent.len());
    assert_eq!(sha256_hex(&got), sha256_hex(&sent));
}

fn a1_w12_backpressure_without_busy_loop_few_polls(pipe: Pipe) {
    async_io::backpressure_without_busy_loop(pipe, 11, |data, writer, polls, max_queued| {
        runtime().block_on(async move {
            let copy = Box::pin(async move {
                let mut rest = data;
                while !rest.is_empty() {
                    let n = writer.write(rest).await?;
                    rest = &rest[n..];
                    let queued = writer.get_ref().bytes_to_write();
                    max_queued.fetch_max(queued, Ordering::SeqCst);
                }
                writer.shutdown().await
            });
            CountPolls { inner: copy, polls }.await
        })
    });
}

/// Runs the cancellation scenario: each write future is dropped after a random number of
/// polls (zero to three), racing a reader that reads in random bursts. Returns what the writes
/// reported accepted, what the reader received, and how many writes were dropped while pending.
fn cancel_scenario(pipe: Pipe, seed: u64) -> (Vec<u8>, Vec<u8>, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (reader, mut writer) = async_writer(
        pipe,
        Builder::new().high_water(128 << 10).low_water(32 << 10),
    );
    let reader_seed = rng.gen();
    let out = thread::spawn(move || {
        let mut rng = StdRng::seed_from_u64(reader_seed);
        let mut reader = reader;
        let mut buf = vec![0u8; 96 << 10];
        let mut got = Vec::new();
        loop {
            let want = rng.gen_range(1..=buf.len());
            let n = io::Read::read(&mut reader, &mut buf[..want]).unwrap();
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&buf[..n]);
            if rng.gen_ratio(1, 4) {
                thread::sleep(Duration::from_micros(rng.gen_range(0..2_000)));
            }
        }
    });
    let (counter, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let source = pattern(seed, 1 << 20);
    let mut accepted = Vec::new();
    let mut cancelled = 0;
    for _ in 0..1_500 {
        let chunk = async_io::random_chunk(&mut rng, &source, 200 << 10);
        let len = chunk.len();
        let polls = rng.gen_range(0..=3);
        let vectored = rng.gen_bool(0.3);
        let split = rng.gen_range(0..=len);
        let slices = [IoSlice::new(&chunk[..split]), IoSlice::new(&chunk[split..])];
        let mut write: Pin<Box<dyn Future<Output = io::Result<usize>>>> = if vectored {
            Box::pin(writer.write_vectored(&slices))
        } else {
            Box::pin(writer.write(chunk))
        };
        for poll in 1..=polls {
            match write.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(n)) => {
                    accepted.extend_from_slice(&chunk[..n]);
                    break;
                }
                Poll::Ready(Err(e)) => panic!("write failed: {e}"),
                Poll::Pending if poll == polls => cancelled += 1,
                Poll::Pending => thread::yield_now(),
            }
        }
        drop(write); // cancelled here if it was still pending
        if rng.gen_ratio(1, 10) {
            // A flush future dropped after one poll changes nothing either.
            let mut flush = Box::pin(writer.flush());
            let _ = flush.as_mut().poll(&mut cx);
        }
    }
    block_on_with(writer.shutdown(), &waker, &counter).unwrap();
    (accepted, out.join().unwrap(), cancelled)
}

fn a1_cancelled_write_futures_lose_and_duplicate_nothing(pipe: Pipe) {
    for seed in [1, 2, 3] {
        let (accepted, got, cancelled) = cancel_scenario(pipe, seed);
        assert!(!accepted.is_empty());
        async_io::assert_cancelled_writes_lost_nothing(
            &got,
            &accepted,
            cancelled,
            &format!("seed {seed}, dropped after up to three polls"),
        );
    }
}

fn a1_write_futures_cancelled_by_select_on_tokio_lose_nothing(pipe: Pipe) {
    let mut rng = StdRng::seed_from_u64(99);
    let marks = Builder::new().high_water(128 << 10).low_water(32 << 10);
    let (reader, mut writer) = async_writer(pipe, marks);
    // Slow enough that a parked write usually outlives its timeout (about 6 ms from the high
    // to the low-water mark), so many write futures are dropped while pending.
    let out = slow_reader(reader, 16 << 10, Duration::from_millis(1));
    let source = pattern(5, 1 << 20);
    let mut accepted = Vec::new();
    let mut cancelled = 0;
    runtime().block_on(async {
        for _ in 0..400 {
            let chunk = async_io::random_chunk(&mut rng, &source, 64 << 10);
            // The write races either a short timer or a few yields to the scheduler, and is
            // dropped by `select!` when that finishes first.
            let timer = rng
                .gen_bool(0.5)
                .then(|| Duration::from_micros(rng.gen_range(0..500)));
            let yields = rng.gen_range(0..3);
            let cancel = async move {
                match timer {
                    Some(limit) => tokio::time::sleep(limit).await,
                    None => {
                        for _ in 0..yields {
                            tokio::task::yield_now().await;
                        }
                    }
                }
            };
            tokio::select! {
                biased;
                written = writer.write(chunk) => match written {
                    Ok(n) => accepted.extend_from_slice(&chunk[..n]),
                    Err(e) => panic!("write failed: {e}"),
                },
                () = cancel => cancelled += 1,
            }
        }
        writer.shutdown().await.unwrap();
    });
    let got = out.join().unwrap();
    async_io::assert_cancelled_writes_lost_nothing(&got, &accepted, cancelled, "select!");
}

fn a1_shutdown_gives_reader_eof_while_writer_alive(pipe: Pipe) {
    async_io::close_gives_reader_eof_while_writer_alive(
        pipe,
        8,
        |writer, data| {
            runtime().block_on(async {
                writer.write_all(data).await.unwrap();
                writer.shutdown().await.unwrap();
            })
        },
        |writer| {
            assert_eq!(writer.get_ref().bytes_to_write(), 0);
            runtime().block_on(async {
                writer.shutdown().await.unwrap(); // idempotent
                writer.write(b"late").await.unwrap_err()
            })
        },
    );
}

fn a1_flush_completes_only_when_every_byte_is_written(pipe: Pipe) {
    let (reader, mut writer) = async_writer(pipe, Builder::new().high_water(4 << 20));
    let (counter, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let data = pattern(9, 2 << 20);
    match Pin::new(&mut writer).poll_write(&mut cx, &data) {
        Poll::Ready(Ok(n)) => assert_eq!(n, data.len(), "under the mark: all accepted"),
        other => panic!("{other:?}"),
    }
    // Nobody reads yet: the flush cannot complete.
    assert!(Pin::new(&mut writer).poll_flush(&mut cx).is_pending());
    let out = collect(reader);
    block_on_with(
        std::future::poll_fn(|cx| Pin::new(&mut writer).poll_flush(cx)),
        &waker,
        &counter,
    )
    .unwrap();
    let w = writer.get_ref();
    assert_eq!(
        w.bytes_written(),
        w.bytes_accepted(),
        "A-1: flush means written"
    );
    assert_eq!(w.bytes_to_write(), 0);
    drop(writer);
    assert_eq!(out.join().unwrap().len(), data.len());
}

fn a1_e2_reader_gone_fails_pending_flush_and_next_polls(pipe: Pipe) {
    let (reader, mut writer) = async_writer(
        pipe,
        Builder::new().high_water(128 << 10).low_water(32 << 10),
    );
    let (counter, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let chunk = pattern(4, 64 << 10);
    // Fill the pipe and the queue.
    while let Poll::Ready(r) = Pin::new(&mut writer).poll_write(&mut cx, &chunk) {
        r.unwrap();
    }
    assert!(Pin::new(&mut writer).poll_flush(&mut cx).is_pending());
    let seen = counter.wakes();
    drop(reader);
    counter.wait_beyond(seen, "E-2: the reader went away");
    let flush = Pin::new(&mut writer).poll_flush(&mut cx);
    match flush {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
        other => panic!("E-2: a pending flush must fail, got {other:?}"),
    }
    match Pin::new(&mut writer).poll_write(&mut cx, &chunk) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
        other => panic!("E-2: the next write must fail, got {other:?}"),
    }
    match Pin::new(&mut writer).poll_shutdown(&mut cx) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
        other => panic!("E-2: shutdown must fail, got {other:?}"),
    }
    // The unwritten bytes are not lost: stop hands them back.
    let w = writer.get_ref();
    let unwritten = w.stop();
    assert_eq!(
        unwritten.len() as u64,
        w.bytes_accepted() - w.bytes_written(),
        "W-10: unwritten = accepted - written"
    );
}

fn a1_poll_after_stop_reports_not_connected_and_flush_does_not_lie(pipe: Pipe) {
    let (reader, mut writer) = async_writer(pipe, Builder::new().high_water(1 << 20));
    let (_counter, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    let data = pattern(12, 512 << 10);
    assert!(Pin::new(&mut writer).poll_write(&mut cx, &data).is_ready());
    let unwritten = writer.get_ref().stop();
    assert!(
        !unwritten.is_empty(),
        "the stalled reader left bytes queued"
    );
    match Pin::new(&mut writer).poll_flush(&mut cx) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::NotConnected),
        other => panic!("A-1: flush after stop took bytes back must fail, got {other:?}"),
    }
    match Pin::new(&mut writer).poll_write(&mut cx, &data) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::NotConnected),
        other => panic!("{other:?}"),
    }
    drop(reader);
}

#[test]
fn a1_write_vectored_takes_several_buffers_at_once() {
    let (reader, mut writer) = async_writer(Pipe::Ours, Builder::new());
    assert!(writer.is_write_vectored());
    let out = collect(reader);
    let parts: Vec<Vec<u8>> = (0..5).map(|i| pattern(20 + i, 10_000)).collect();
    let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    runtime().block_on(async {
        let n = writer.write_vectored(&slices).await.unwrap();
        assert_eq!(n, 50_000, "A-1: all buffers in one call");
        writer.shutdown().await.unwrap();
    });
    assert_eq!(out.join().unwrap(), parts.concat());
}

#[test]
fn a1_w12_hard_limit_below_high_water_bounds_memory_and_progresses() {
    const HARD: usize = 100 << 10;
    let (reader, mut writer) = async_writer(
        Pipe::Ours,
        Builder::new().high_water(1 << 20).hard_limit(HARD),
    );
    let out = collect(reader);
    let data = pattern(13, 4 << 20);
    runtime().block_on(async {
        let mut rest = &data[..];
        while !rest.is_empty() {
            let n = writer.write(rest).await.unwrap();
            assert!(n > 0);
            rest = &rest[n..];
            assert!(
                writer.get_ref().bytes_to_write() <= HARD,
                "W-12: over the hard limit"
            );
        }
        writer.shutdown().await.unwrap();
    });
    assert_eq!(sha256_hex(&out.join().unwrap()), sha256_hex(&data));
}

#[test]
fn a1_w12_high_water_zero_still_makes_progress() {
    let (reader, mut writer) = async_writer(Pipe::Ours, Builder::new().high_water(0));
    let out = collect(reader);
    let data = pattern(14, 1 << 20);
    runtime().block_on(async {
        tokio::io::copy(&mut &data[..], &mut writer).await.unwrap();
        writer.shutdown().await.unwrap();
    });
    assert_eq!(sha256_hex(&out.join().unwrap()), sha256_hex(&data));
}

#[test]
fn a1_w12_hard_limit_zero_is_refused_by_the_builder_not_a_hang() {
    // A hard limit of 0 would refuse every write, so an async writer over it could never make
    // progress: the builder refuses it.
    let (_reader, end) = pipewriter::pipe().expect("pipe");
    let err = Builder::new().hard_limit(0).build(end).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn a1_into_inner_keeps_queued_bytes() {
    let (reader, mut writer) = async_writer(Pipe::Ours, Builder::new());
    let out = collect(reader);
    runtime().block_on(writer.write_all(b"hello ")).unwrap();
    let writer = writer.into_inner();
    writer.write(&b"world"[..]).unwrap();
    writer.close(PATIENCE).unwrap();
    assert_eq!(out.join().unwrap(), b"hello world");
}

on_both_pipes!(
    a1_w12_stalled_reader_parks_task_memory_bounded_wakes_on_resume,
    a1_w12_backpressure_without_busy_loop_few_polls,
    a1_cancelled_write_futures_lose_and_duplicate_nothing,
    a1_write_futures_cancelled_by_select_on_tokio_lose_nothing,
    a1_shutdown_gives_reader_eof_while_writer_alive,
    a1_flush_completes_only_when_every_byte_is_written,
    a1_e2_reader_gone_fails_pending_flush_and_next_polls,
    a1_poll_after_stop_reports_not_connected_and_flush_does_not_lie,
);

/// A waker like a simple executor's whose task is gone: waking it drops the task's future, and
/// with it the writer.
struct DropOnWake {
    writer: std::sync::Mutex<Option<AsyncPipeWriter>>,
    woken: std::sync::mpsc::Sender<()>,
}

impl Wake for DropOnWake {
    fn wake(self: Arc<Self>) {
        drop(self.writer.lock().unwrap().take());
        let _ = self.woken.send(());
    }
}

#[test]
fn a1_w13_waker_runs_without_the_writer_lock() {
    // Regression: tasks were woken with the writer's lock held, so a wake-up that dropped the
    // writer (or called any of its methods) deadlocked the I/O context.
    let (reader, writer) = async_writer(
        Pipe::Ours,
        Builder::new().high_water(128 << 10).low_water(32 << 10),
    );
    let (woken, on_wake) = std::sync::mpsc::channel();
    let task = Arc::new(DropOnWake {
        writer: std::sync::Mutex::new(Some(writer)),
        woken,
    });
    let waker = Waker::from(task.clone());
    let mut cx = Context::from_waker(&waker);
    let chunk = pattern(40, 64 << 10);
    let mut sent = Vec::new();
    loop {
        let mut slot = task.writer.lock().unwrap();
        let writer = slot.as_mut().unwrap();
        match Pin::new(writer).poll_write(&mut cx, &chunk) {
            Poll::Ready(Ok(n)) => sent.extend_from_slice(&chunk[..n]),
            Poll::Ready(Err(e)) => panic!("write failed: {e}"),
            Poll::Pending => break,
        }
    }
    drop(waker);
    let out = collect(reader);
    on_wake
        .recv_timeout(PATIENCE)
        .expect("W-13: the wake-up deadlocked the I/O context");
    // The writer was dropped by the wake-up and lingers (W-11): the reader gets everything.
    let got = out.join().unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&sent));
}
