//! `PipeWriter::write_file` (W-18) against events, a `close` from another thread and the
//! file's own errors (Unix: splice and pread).
#![cfg(unix)]

mod util;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipewriter::{Event, PipeWriter};
use util::{collect, Recorder};

fn scratch(tag: &str, len: usize) -> (std::path::PathBuf, std::fs::File) {
    let path =
        std::env::temp_dir().join(format!("pipewriter-file-race-{tag}-{}", std::process::id()));
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&vec![b'x'; len]).unwrap();
    f.sync_all().unwrap();
    (path.clone(), std::fs::File::open(&path).unwrap())
}

/// W-7/W-8: the bytes a file range moved are reported to a handler as `Written`, then
/// `Drained`, without a later write being needed to deliver them.
#[test]
fn w8_write_file_events_reach_a_handler() {
    const LEN: usize = 300_000;
    let (path, file) = scratch("events", LEN);
    let (reader, end) = std::io::pipe().unwrap();
    let received = collect(reader);
    let recorder = Recorder::default();
    let writer = PipeWriter::builder()
        .on_event(recorder.handler())
        .build(end)
        .unwrap();
    assert_eq!(
        writer
            .write_file(&file, 0..LEN as u64, Duration::from_secs(30))
            .unwrap(),
        LEN as u64
    );
    let start = Instant::now();
    while recorder.written_sum() < LEN as u64 && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let events = recorder.events();
    let _ = writer.close(Duration::from_secs(10));
    drop(writer);
    let _ = received.join();
    let _ = std::fs::remove_file(path);
    assert_eq!(
        events
            .iter()
            .map(|e| match e {
                Event::Written(n) => *n,
                _ => 0,
            })
            .sum::<u64>(),
        LEN as u64,
        "Written events for the file's bytes, 3 s after write_file returned: {events:?}"
    );
    assert!(events.contains(&Event::Drained), "Drained: {events:?}");
}

/// W-9: `close` from another thread while `write_file` holds the writer: once nothing is
/// queued and nothing is in flight, the handle is closed and `close` returns — it must not
/// wait out its timeout with the handle still open.
#[test]
fn w9_close_racing_write_file_does_not_time_out() {
    const LEN: usize = 64 << 20;
    let (path, file) = scratch("close", LEN);
    let file = Arc::new(file);
    let mut timed_out = 0;
    let mut outcomes = Vec::new();
    for round in 0..60u64 {
        let (reader, end) = std::io::pipe().unwrap();
        let received = collect(reader);
        let writer = Arc::new(PipeWriter::new(end).unwrap());
        let t1 = {
            let writer = writer.clone();
            let file = file.clone();
            std::thread::spawn(move || {
                writer.write_file(&file, 0..LEN as u64, Duration::from_secs(30))
            })
        };
        std::thread::sleep(Duration::from_micros(200 + 300 * (round % 20)));
        let closed = writer.close(Duration::from_millis(500));
        let file_result = t1.join().unwrap();
        if let Err(e) = &closed {
            if e.kind() == std::io::ErrorKind::TimedOut {
                eprintln!(
                    "close timed out: queued {}, active {}, write_file {:?}",
                    writer.bytes_to_write(),
                    writer.is_write_active(),
                    file_result.as_ref().map_err(|e| e.kind())
                );
                timed_out += 1;
            }
        }
        outcomes.push((
            closed.map_err(|e| e.kind()),
            file_result.map_err(|e| (e.kind(), e.written())),
        ));
        drop(writer);
        let _ = received.join();
    }
    eprintln!("{outcomes:?}");
    let _ = std::fs::remove_file(path);
    assert_eq!(timed_out, 0, "close timed out with nothing left to write");
}

/// W-18: an error of the file's own — here `ESPIPE`, a "file" that cannot be read at an
/// offset — fails the `write_file` call, never the writer (`splice(2)` reports the file's
/// errors and the pipe's alike).
#[test]
fn w18_an_error_of_the_file_does_not_end_the_writer() {
    use std::os::fd::OwnedFd;
    let (source_reader, mut source_writer) = std::io::pipe().unwrap();
    source_writer.write_all(b"0123456789").unwrap();
    let not_a_file = std::fs::File::from(OwnedFd::from(source_reader));
    let (reader, end) = std::io::pipe().unwrap();
    let received = collect(reader);
    let writer = PipeWriter::new(end).unwrap();
    let err = writer
        .write_file(&not_a_file, 0..10, Duration::from_secs(5))
        .unwrap_err();
    eprintln!("write_file: {err} (written {})", err.written());
    let ended = writer.error();
    let later = writer
        .write(&b"after"[..])
        .map(|_| ())
        .map_err(|e| e.into_error());
    let _ = writer.close(Duration::from_secs(5));
    drop(writer);
    let _ = received.join();
    assert!(
        ended.is_none(),
        "the file's error ended the writer: {ended:?}"
    );
    assert!(later.is_ok(), "a later write was refused: {later:?}");
}
