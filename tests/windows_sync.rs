//! Synchronous handles on Windows (P-2): `CreatePipe` pairs, `std::io::pipe`, files opened
//! without `FILE_FLAG_OVERLAPPED`, all served by a worker thread doing blocking `WriteFile`,
//! with the same semantics as the overlapped path; `stop` uses `CancelSynchronousIo`.
//!
//! These run under Wine in CI. Where Wine may behave differently from Windows, the test says
//! so next to the assertion.
#![cfg(windows)]

mod util;

use std::io::Read;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pipewriter::{Builder, PipeWriter};
use sha2::{Digest, Sha256};
use util::windows::{available, read_exactly, sync_pipe, StopRace, SYNCHRONOUS_HANDLES};
use util::{pattern, stop_and_check_suffix, WINE_PATIENCE};

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
    writer.close(WINE_PATIENCE).unwrap();
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
            let deadline = Instant::now() + WINE_PATIENCE;
            while available(&read) == 0 {
                assert!(Instant::now() < deadline, "nothing reached the pipe");
                thread::yield_now();
            }
            thread::sleep(Duration::from_millis(1));
        }
        let (written, unwritten) =
            stop_and_check_suffix(&writer, &data, &format!("round {rounds}"));
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
    StopRace::SYNCHRONOUS.run("p2 stop races", Duration::from_secs(5));
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
    let (unwritten, _) = util::wait_for_peer_closed(&events, WINE_PATIENCE);
    let written = writer.bytes_written() as usize;
    assert_eq!(written + unwritten, TOTAL, "W-6");
    assert!(written >= 100_000);
    assert!(writer.stop().to_vec() == data[written..]);
}

/// P-2: a file opened the usual way (synchronous) is written by the worker, in order.
#[test]
fn p2_synchronous_file_written_in_order() {
    util::assert_new_file_written_in_order(8, 5000, WINE_PATIENCE);
}

/// P-2, W-14: `std::io::pipe` (whatever mode the standard library opens it in) works.
#[test]
fn p2_std_pipe_integrity() {
    let (read, write) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(write).unwrap();
    let data = pattern(9, 4 << 20);
    let reader = util::collect(read);
    for chunk in data.chunks(10_000) {
        writer.write(chunk).unwrap();
    }
    writer.close(WINE_PATIENCE).unwrap();
    assert!(reader.join().unwrap() == data);
}

/// W-8, P-2: a handler (running on the worker thread) stops its own writer, on every kind of
/// handle the worker serves: no deadlock, and the accounting is exact.
#[test]
fn p2_handler_stops_its_writer_on_the_worker_thread() {
    for kind in SYNCHRONOUS_HANDLES {
        util::windows::handler_stops_its_own_writer(kind, 4096, 2 << 20, 3);
    }
}
