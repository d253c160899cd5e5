//! Micro-benchmarks of the core (issue 7): the cost of one `write` call for 64-byte
//! messages, against std's `BufWriter`, and coalescing of small writes into large OS writes.
//!
//! `cargo bench --bench write`. The reader of each pipe drains it concurrently through a
//! page-aligned 128 KiB buffer (a misaligned reader buffer slows pipe reads 2.5x on the
//! reference machine). When a writer's queue passes its high-water mark, the benchmark waits
//! for it to drain *outside* the timed section, so the figures are the caller's cost per call.
// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufWriter, Read, Write};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pipewriter::{Builder, PipeWriter};

const MSG: &[u8; 64] = b"pipewriter benchmark message, sixty-four bytes long ...........\n";

/// A thread that reads `reader` to EOF into a page-aligned buffer.
fn drain(reader: io::PipeReader) -> JoinHandle<u64> {
    thread::spawn(move || {
        let mut storage = vec![0u8; (128 << 10) + 4096];
        let offset = storage.as_ptr().align_offset(4096);
        let buf = &mut storage[offset..offset + (128 << 10)];
        let mut total = 0;
        while let Ok(n) = (&reader).read(buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    })
}

/// Waits until the writer's queue is at most `low` bytes.
fn wait_below(writer: &PipeWriter, low: usize) {
    while writer.bytes_to_write() > low {
        if !writer
            .wait_for_bytes_written(Duration::from_secs(10))
            .expect("the writer failed")
        {
            break;
        }
    }
}

/// `iters` calls of `write(&[u8; 64])`, timing only the calls.
fn timed_writes(writer: &PipeWriter, iters: u64) -> Duration {
    let mut paused = Duration::ZERO;
    let start = Instant::now();
    for _ in 0..iters {
        let accepted = writer.write(black_box(MSG)).expect("write refused");
        if accepted.is_above_high_water() {
            let t = Instant::now();
            wait_below(writer, 256 << 10);
            paused += t.elapsed();
        }
    }
    start.elapsed().saturating_sub(paused)
}

fn write_64b(c: &mut Criterion) {
    let mut group = c.benchmark_group("write 64 B");
    group.throughput(Throughput::Elements(1));

    {
        let (r, w) = io::pipe().expect("pipe");
        let reader = drain(r);
        let writer = PipeWriter::new(w).expect("writer");
        group.bench_function("pipewriter, pipe drained by a thread", |b| {
            b.iter_custom(|iters| timed_writes(&writer, iters))
        });
        writer.close(Duration::from_secs(60)).expect("close");
        drop(writer);
        reader.join().expect("reader");
    }

    {
        // /dev/null never fills: what a call costs when the I/O side keeps up at once.
        let null = File::options()
            .write(true)
            .open("/dev/null")
            .expect("/dev/null");
        let writer = Builder::new().exclusive(true).build(null).expect("writer");
        group.bench_function("pipewriter, /dev/null", |b| {
            b.iter_custom(|iters| timed_writes(&writer, iters))
        });
    }

    {
        let (r, w) = io::pipe().expect("pipe");
        let reader = drain(r);
        let mut out = BufWriter::new(w);
        group.bench_function("std BufWriter 8 KiB, pipe drained by a thread", |b| {
            b.iter(|| out.write_all(black_box(MSG)).expect("write"))
        });
        drop(out);
        reader.join().expect("reader");
    }
    group.finish();
}

/// Coalescing (W-4): 1 MiB written as messages of one size, then flushed; the throughput
/// shows how well small writes are merged into large OS writes.
fn coalescing(c: &mut Criterion) {
    const TOTAL: usize = 1 << 20;
    let mut group = c.benchmark_group("coalesce 1 MiB then flush");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    for size in [16usize, 64, 512, 4096] {
        let message = vec![b'x'; size];
        let (r, w) = io::pipe().expect("pipe");
        let reader = drain(r);
        let writer = Builder::new().high_water(4 << 20).build(w).expect("writer");
        group.bench_with_input(BenchmarkId::new("pipewriter", size), &size, |b, _| {
            b.iter(|| {
                for _ in 0..TOTAL / size {
                    writer.write(message.as_slice()).expect("write refused");
                }
                writer.flush(Duration::from_secs(30)).expect("flush");
            })
        });
        writer.close(Duration::from_secs(60)).expect("close");
        drop(writer);
        reader.join().expect("reader");

        let (r, w) = io::pipe().expect("pipe");
        let reader = drain(r);
        let mut out = BufWriter::new(w);
        group.bench_with_input(
            BenchmarkId::new("std BufWriter 8 KiB", size),
            &size,
            |b, _| {
                b.iter(|| {
                    for _ in 0..TOTAL / size {
                        out.write_all(&message).expect("write");
                    }
                    out.flush().expect("flush");
                })
            },
        );
        drop(out);
        reader.join().expect("reader");
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = write_64b, coalescing
}
criterion_main!(benches);
