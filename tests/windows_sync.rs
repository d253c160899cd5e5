//! Synchronous handles on Windows (P-2): `CreatePipe` pairs, `std::io::pipe`, files opened
//! without `FILE_FLAG_OVERLAPPED`, all served by a worker thread doing blocking `WriteFile`,
//! with the same semantics as the overlapped path; `stop` uses `CancelSynchronousIo`.
//!
//! These run under Wine in CI. Where Wine may behave differently from Windows, the test says
//! so next to the assertion.
#![cfg(windows)]

#[path = "util/windows.rs"]
mod win;

use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pipewriter::{Builder, Event, PipeWriter};
use sha2::{Digest, Sha256};
use win::{available, pattern, sync_pipe};

const PATIENCE: Duration = Duration::from_secs(120);

fn read_exactly(reader: &mut File, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    reader.read_exact(&mut out).expect("read");
    out
}

/// P-2, W-2: 32 MiB in writes of every size through a `CreatePipe` pipe (a 4 KiB buffer): the
/// reader's digest matches.
#[test]
fn p2_createpipe_integrity_32mib() {
    const TOTAL: usize = 32 << 20;
    let (write, read) = sync_pipe(4096);
    let writer = Builder::new().high_water(8 << 20).build(write).unwrap();
    let reader = thread::spawn(move || {
        let mut read = read;
        let mut digest = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        loop {
            match read.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    digest.update(&buf[..n]);
                    total += n;
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        (digest.finalize().to_vec(), total)
    });
    let data = pattern(1, TOTAL);
    let mut offset = 0;
    let mut size = 1;
    while offset < TOTAL {
        let end = (offset + size).min(TOTAL);
        match size % 3 {
            0 => drop(writer.write(&data[offset..end]).unwrap()),
            1 => drop(writer.write(data[offset..end].to_vec()).unwrap()),
            _ => drop(
                writer
                    .write(Bytes::copy_from_slice(&data[offset..end]))
                    .unwrap(),
            ),
        }
        offset = end;
        size = size * 7 % 300_001 + 1;
        while writer.bytes_to_write() > 8 << 20 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    writer.close(PATIENCE).unwrap();
    let (digest, total) = reader.join().unwrap();
    assert_eq!(total, TOTAL);
    assert_eq!(digest, Sha256::digest(&data).to_vec(), "W-2: digest");
}

/// P-2, W-10: `stop` while the worker is blocked in `WriteFile` against a reader that never
/// reads: `CancelSynchronousIo` ends the write, `stop` returns exactly the unwritten bytes,
/// and the reader can read exactly the written ones. Repeated, including stops that race
/// with the worker entering `WriteFile` (the cancel is repeated until the worker leaves it).
#[test]
fn p2_stop_blocked_write_returns_unwritten() {
    const BUDGET: Duration = Duration::from_secs(15);
    const ROUNDS: usize = 300;
    let started = Instant::now();
    let mut rounds = 0;
    let mut blocked = 0;
    while rounds < ROUNDS && started.elapsed() < BUDGET {
        let (write, mut read) = sync_pipe(4096);
        let writer = PipeWriter::new(write).unwrap();
        let data = pattern(rounds as u64, 512 * 1024 + rounds);
        writer.write(&data[..]).unwrap();
        let wait_for_block = rounds % 3 != 0;
        if wait_for_block {
            // The pipe fills, then the worker blocks in a write.
            let deadline = Instant::now() + PATIENCE;
            while available(&read) == 0 {
                assert!(Instant::now() < deadline, "nothing reached the pipe");
                thread::yield_now();
            }
            thread::sleep(Duration::from_millis(1));
        }
        let unwritten = writer.stop();
        let written = writer.bytes_written() as usize;
        assert_eq!(
            written + unwritten.len(),
            data.len(),
            "W-10: round {rounds}"
        );
        assert!(
            unwritten.to_vec() == data[written..],
            "W-10: the exact suffix"
        );
        if wait_for_block {
            assert!(!unwritten.is_empty(), "the pipe cannot hold 512 KiB");
            blocked += 1;
        }
        let avail = available(&read) as usize;
        assert_eq!(
            avail, written,
            "W-10: what the OS took is what the reader gets"
        );
        assert!(read_exactly(&mut read, avail) == data[..written]);
        drop(writer);
        rounds += 1;
    }
    eprintln!(
        "p2 stop-blocked-write: {rounds} rounds ({blocked} with the worker blocked) in {:?}",
        started.elapsed()
    );
    assert!(rounds >= 30, "too few rounds ({rounds})");
}

/// P-2, W-10: stops racing with the worker's blocking writes, from four threads at once, with
/// readers of different paces and the stop at a random moment (sometimes before the worker
/// reaches `WriteFile`, where `CancelSynchronousIo` finds nothing and must be repeated). As
/// many rounds as fit in 5 seconds; the count is printed.
#[test]
fn p2_stop_races_blocking_writes_from_four_threads() {
    const BUDGET: Duration = Duration::from_secs(5);
    let started = Instant::now();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            thread::spawn(move || {
                let mut rounds = 0u64;
                let mut rng = t * 104_729 + 3;
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                while started.elapsed() < BUDGET {
                    let (write, read) = sync_pipe(4096);
                    let written_events = Arc::new(AtomicU64::new(0));
                    let events_h = written_events.clone();
                    let writer = Builder::new()
                        .on_event(move |event| {
                            if let Event::Written(n) = event {
                                events_h.fetch_add(n, Ordering::Relaxed);
                            }
                        })
                        .build(write)
                        .unwrap();
                    let pace = next() % 3;
                    let reader = thread::spawn(move || {
                        let mut read = read;
                        let mut out = Vec::new();
                        let mut buf = vec![0u8; 700 + (pace as usize) * 3000];
                        loop {
                            match read.read(&mut buf) {
                                Ok(0) | Err(_) => return out,
                                Ok(n) => out.extend_from_slice(&buf[..n]),
                            }
                            if pace == 0 {
                                thread::sleep(Duration::from_micros(300));
                            }
                        }
                    });
                    let data = pattern(t << 32 | rounds, 1 + (next() % 200_000) as usize);
                    for chunk in data.chunks(1 + (next() % 50_000) as usize) {
                        writer.write(chunk).unwrap();
                    }
                    match next() % 3 {
                        0 => {}
                        1 => thread::yield_now(),
                        _ => thread::sleep(Duration::from_micros(next() % 2000)),
                    }
                    let back = writer.stop();
                    let written = writer.bytes_written() as usize;
                    assert_eq!(
                        written + back.len(),
                        data.len(),
                        "W-10: thread {t} round {rounds}"
                    );
                    assert!(back.to_vec() == data[written..], "W-10: the exact suffix");
                    drop(writer);
                    let got = reader.join().unwrap();
                    assert_eq!(got.len(), written, "thread {t} round {rounds}");
                    assert!(got == data[..written]);
                    assert!(written_events.load(Ordering::Relaxed) <= written as u64);
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    let rounds: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    eprintln!("p2 stop races: {rounds} rounds in {:?}", started.elapsed());
    assert!(rounds >= 40, "too few rounds ({rounds})");
}

/// P-2, E-2: the reader closes while the worker writes: `PeerClosed` with the exact unwritten
/// count; accepted = written + unwritten.
#[test]
fn p2_reader_closes_peer_closed_with_exact_unwritten() {
    const TOTAL: usize = 4 << 20;
    let (write, mut read) = sync_pipe(4096);
    let writer = PipeWriter::new(write).unwrap();
    let events = writer.events();
    let data = pattern(7, TOTAL);
    writer.write(&data[..]).unwrap();
    let got = read_exactly(&mut read, 100_000);
    assert!(got == data[..100_000]);
    drop(read);
    let unwritten = loop {
        match events
            .recv_timeout(PATIENCE)
            .expect("PeerClosed never came")
        {
            Event::PeerClosed { unwritten } => break unwritten,
            Event::Failed { error, .. } => panic!("E-2: not a failure: {error}"),
            _ => {}
        }
    };
    let written = writer.bytes_written() as usize;
    assert_eq!(written + unwritten, TOTAL, "W-6");
    assert!(written >= 100_000);
    assert!(writer.stop().to_vec() == data[written..]);
}

/// P-2: a file opened the usual way (synchronous) is written by the worker, in order.
#[test]
fn p2_synchronous_file_written_in_order() {
    let path = std::env::temp_dir().join(format!(
        "pipewriter-sync-{}-{:x}.bin",
        std::process::id(),
        rand::random::<u64>()
    ));
    let file = File::create(&path).unwrap();
    let writer = PipeWriter::new(file).unwrap();
    let data = pattern(8, 3 << 20);
    for chunk in data.chunks(5000) {
        writer.write(chunk).unwrap();
    }
    writer.close(PATIENCE).unwrap();
    let got = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(got == data);
}

/// P-2, W-14: `std::io::pipe` (whatever mode the standard library opens it in) works.
#[test]
fn p2_std_pipe_integrity() {
    let (mut read, write) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(write).unwrap();
    let data = pattern(9, 4 << 20);
    let reader = thread::spawn(move || {
        let mut out = Vec::new();
        read.read_to_end(&mut out).unwrap();
        out
    });
    for chunk in data.chunks(10_000) {
        writer.write(chunk).unwrap();
    }
    writer.close(PATIENCE).unwrap();
    assert!(reader.join().unwrap() == data);
}

/// W-8, P-2: a handler (running on the worker thread) stops its own writer: no deadlock, and
/// the accounting is exact.
#[test]
fn p2_handler_stops_its_writer_on_the_worker_thread() {
    let (write, read) = sync_pipe(4096);
    let slot: Arc<Mutex<Option<Arc<PipeWriter>>>> = Arc::new(Mutex::new(None));
    let (tx, rx) = mpsc::channel();
    let slot_h = slot.clone();
    let writer = Arc::new(
        Builder::new()
            .on_event(move |event| {
                if let Event::Written(_) = event {
                    let writer = slot_h.lock().unwrap().clone();
                    if let Some(writer) = writer {
                        let unwritten = writer.stop();
                        let _ = tx.send((writer.bytes_written(), unwritten.len()));
                    }
                }
            })
            .build(write)
            .unwrap(),
    );
    *slot.lock().unwrap() = Some(writer.clone());
    let reader = thread::spawn(move || {
        let mut read = read;
        let mut buf = vec![0u8; 4096];
        let mut total = 0;
        loop {
            match read.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
            thread::sleep(Duration::from_millis(1));
        }
    });
    writer.write(pattern(3, 2 << 20)).unwrap();
    let (written, unwritten) = rx.recv_timeout(PATIENCE).expect("the handler stopped it");
    assert_eq!(written as usize + unwritten, 2 << 20);
    slot.lock().unwrap().take();
    drop(writer);
    assert_eq!(reader.join().unwrap() as u64, written);
}
