//! P-7: a blocking write that `CancelSynchronousIo` cannot cancel (a console write held by a
//! selection, a driver that ignores cancellation) never makes `stop` wait for long. The
//! worker's write is made uncancellable with the fault seam `fault::stall_blocking_writes`,
//! which is process-wide: this file holds one test, in a binary of its own.
//!
//! Runs under Wine in CI; the seam does not depend on how Wine cancels I/O.
#![cfg(windows)]

mod util;

use std::io::Read;
use std::thread;
use std::time::{Duration, Instant};

use pipewriter::{fault, PipeWriter};
use util::windows::sync_pipe;
use util::{pattern, WINE_PATIENCE};

/// How long each blocking write ignores cancellation: far longer than `stop` may take.
const STALL: Duration = Duration::from_secs(3);

/// `stop` abandons the stalled write after its bounded cancel attempts and returns well
/// within the stall; the hand-back is exact by the writer's count (accepted = written +
/// handed back, and the suffix after what was written); the handle went with the abandoned
/// write, so none comes back; the worker makes the write once the stall ends and closes the
/// handle, so the reader sees end-of-file, having received at most the abandoned bytes on top
/// of what was reported written (the uncertainty the docs describe).
#[test]
fn p7_stop_returns_promptly_when_the_write_cannot_be_cancelled() {
    let (write, mut read) = sync_pipe(4096);
    let writer = PipeWriter::new(write).unwrap();
    let data = pattern(11, 40_000);
    fault::stall_blocking_writes(STALL);
    writer.write(&data[..]).unwrap();
    // Let the worker enter its (stalled) first write.
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let (handle, back) = writer_into_handle(writer, &data);
    let took = started.elapsed();
    fault::stall_blocking_writes(Duration::ZERO);
    assert!(
        took < Duration::from_millis(1500),
        "P-7: stop took {took:?} with an uncancellable write (stall {STALL:?})"
    );
    assert!(
        handle.is_none(),
        "the handle must stay with the abandoned write"
    );
    assert_eq!(back.len(), data.len(), "nothing was reported written");

    // The abandoned write goes out after the stall, then the worker closes the handle.
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        read.read_to_end(&mut got).unwrap();
        got
    });
    let deadline = Instant::now() + WINE_PATIENCE;
    while !reader.is_finished() {
        assert!(Instant::now() < deadline, "the abandoned write never ended");
        thread::sleep(Duration::from_millis(20));
    }
    let got = reader.join().unwrap();
    assert!(
        got.len() <= 4096,
        "more than one (quota-sized) write went out: {}",
        got.len()
    );
    assert!(
        got == data[..got.len()],
        "W-2: the reader got a prefix of the data"
    );
    eprintln!(
        "p7 uncancellable: stop took {took:?}; the abandoned write delivered {} bytes later",
        got.len()
    );
}

/// Stops `writer` through `into_handle` and checks the accounting against `data`.
fn writer_into_handle(
    writer: PipeWriter,
    data: &[u8],
) -> (
    Option<std::os::windows::io::OwnedHandle>,
    pipewriter::Unwritten,
) {
    let written = writer.bytes_written() as usize;
    let (handle, back) = writer.into_handle();
    assert_eq!(
        written + back.len(),
        data.len(),
        "W-10: accepted = written + handed back"
    );
    assert!(back.to_vec() == data[written..], "W-10: the exact suffix");
    (handle, back)
}
