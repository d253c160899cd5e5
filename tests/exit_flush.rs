//! Data still queued when the process exits (W-20): `flush_all` and `ExitGuard`, on every
//! platform.
//!
//! `flush_all` sees every live writer of the process, so the tests of this file run one at a
//! time (`SERIAL`): a stalled writer of one test must not show up in another's report.

mod util;

use std::io::{ErrorKind, Read};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pipewriter::{flush_all, ExitGuard, PipeWriter};
use util::{collect, pattern, pipe_child_command, wait_until_pipe_full, PATIENCE};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn w20_flush_all_writes_every_live_writer_dropped_ones_too() {
    let _serial = serial();
    let (reader_a, writer_a) = std::io::pipe().unwrap();
    let (reader_b, writer_b) = std::io::pipe().unwrap();
    let a = PipeWriter::new(writer_a).unwrap();
    let b = PipeWriter::new(writer_b).unwrap();
    let data_a = pattern(200, 2 << 20);
    let data_b = pattern(201, 3 << 20);
    a.write(&data_a[..]).unwrap();
    b.write(&data_b[..]).unwrap();
    // A lingering drop: the writer is gone, its queue is still live.
    drop(b);
    let got_a = collect(reader_a);
    let got_b = collect(reader_b);
    let report = flush_all(PATIENCE);
    assert!(report.is_complete(), "W-20: {report}");
    assert!(
        report.writers() >= 2,
        "W-20: both writers were live: {report}"
    );
    assert_eq!(report.bytes_unwritten(), 0);
    assert_eq!(
        a.bytes_to_write(),
        0,
        "W-20: everything written when it returns"
    );
    drop(a);
    assert_eq!(got_a.join().unwrap(), data_a);
    assert_eq!(got_b.join().unwrap(), data_b);
}

#[test]
fn w20_a_stalled_reader_is_reported_at_the_deadline() {
    let _serial = serial();
    let (mut reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    let data = pattern(202, 1 << 20);
    writer.write(&data[..]).unwrap();
    wait_until_pipe_full(&writer);
    let queued = writer.bytes_to_write();
    assert!(queued > 0);

    let start = Instant::now();
    let report = flush_all(Duration::from_millis(300));
    let took = start.elapsed();
    assert!(
        !report.is_complete(),
        "W-20: the stalled writer is reported"
    );
    assert!(took >= Duration::from_millis(300), "waited {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "W-20: within the deadline: {took:?}"
    );
    assert_eq!(report.unfinished().len(), 1, "{report}");
    let unfinished = &report.unfinished()[0];
    assert_eq!(unfinished.error().kind(), ErrorKind::TimedOut);
    assert_eq!(
        unfinished.bytes_unwritten(),
        queued,
        "W-20: the report says how many bytes were not written"
    );
    assert_eq!(report.bytes_unwritten(), queued as u64);
    assert!(report.to_string().contains(&queued.to_string()), "{report}");

    // Nothing was lost or closed: once the reader reads, everything arrives.
    let reading = std::thread::spawn(move || {
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        got
    });
    writer.close(PATIENCE).unwrap();
    assert_eq!(reading.join().unwrap(), data);
}

#[test]
fn w20_a_reader_gone_is_reported_with_its_error() {
    let _serial = serial();
    let (reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    drop(reader);
    writer.write(pattern(203, 256 * 1024)).unwrap();
    let report = flush_all(PATIENCE);
    assert_eq!(report.unfinished().len(), 1, "{report}");
    assert_eq!(
        report.unfinished()[0].error().kind(),
        ErrorKind::BrokenPipe,
        "{report}"
    );
    assert!(report.bytes_unwritten() > 0);
    assert!(writer.is_peer_closed());
}

#[test]
fn w20_flush_all_in_a_handler_does_not_wait() {
    let _serial = serial();
    let (reader, writer) = std::io::pipe().unwrap();
    let seen = Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    let writer = PipeWriter::builder()
        .on_event(move |event| {
            if let pipewriter::Event::Written(_) = event {
                let start = Instant::now();
                let report = flush_all(PATIENCE);
                seen2
                    .lock()
                    .unwrap()
                    .get_or_insert((start.elapsed(), report.to_string()));
            }
        })
        .build(writer)
        .unwrap();
    writer.write(pattern(204, 1 << 20)).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while seen.lock().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (took, report) = seen.lock().unwrap().take().expect("a Written event");
    assert!(
        took < Duration::from_secs(5),
        "W-20: no wait in a handler ({took:?})"
    );
    // The reader never reads, so the 1 MiB is still queued at the first `Written`.
    assert!(
        report.contains("event handler"),
        "W-20: queued data is reported as not waited for (Deadlock): {report}"
    );
    let _ = writer.stop();
    drop(reader);
}

#[test]
fn w20_an_exit_guard_flushes_when_dropped() {
    let _serial = serial();
    let (reader, writer) = std::io::pipe().unwrap();
    let data = pattern(205, 2 << 20);
    let got = collect(reader);
    {
        let _guard = ExitGuard::new(PATIENCE);
        let writer = PipeWriter::new(writer).unwrap();
        writer.write(&data[..]).unwrap();
        // Dropped first (it lingers), then the guard waits for its queue.
    }
    assert_eq!(got.join().unwrap(), data, "W-20: the guard lost nothing");
    let report = ExitGuard::new(Duration::ZERO).finish();
    assert!(report.is_complete(), "{report}");
}

/// The child's stdout, read only after a pause: by then a child without the guard has exited
/// with its queue unwritten.
fn child_output(mode: &str, bytes: usize) -> Vec<u8> {
    let mut child = pipe_child_command(&[mode, &bytes.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn pipe_child");
    let mut stdout = child.stdout.take().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut got = Vec::new();
    stdout.read_to_end(&mut got).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "pipe_child {mode}: {status}");
    got
}

#[test]
fn w20_a_child_that_exits_right_after_writing_loses_nothing_with_the_guard() {
    let _serial = serial();
    const BYTES: usize = 4 << 20;
    let got = child_output("exit-flush", BYTES);
    assert_eq!(got.len(), BYTES, "W-20: every byte reached the reader");
    assert!(got.iter().all(|&b| b == b'x'));
    // Without the guard the same child loses what was still queued: the test above could
    // fail.
    let lost = child_output("exit-lost", BYTES);
    assert!(
        lost.len() < BYTES,
        "without the guard, data queued at exit is lost (got {} of {BYTES})",
        lost.len()
    );
}
