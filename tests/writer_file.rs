//! A file range as a payload (W-18): exact bytes, order, and exact accounting through a stop,
//! a closed peer and a timeout, on every platform (splice on Linux, a copy elsewhere).

mod util;

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use pipewriter::{Builder, PipeWriter};
use util::{collect, pattern, scratch_file, wait_until_pipe_full, PATIENCE};

/// A scratch file holding `data`, open for reading, deleted on drop.
struct Scratch {
    file: File,
    path: std::path::PathBuf,
}

impl Scratch {
    fn new(tag: &str, data: &[u8]) -> Scratch {
        let path = scratch_file(tag);
        File::create(&path).unwrap().write_all(data).unwrap();
        Scratch {
            file: File::open(&path).unwrap(),
            path,
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Smaller under Wine, where every pipe operation is slow.
const FILE_LEN: usize = if cfg!(windows) { 4 << 20 } else { 32 << 20 };

#[test]
fn w18_a_file_range_arrives_exactly_between_the_writes_around_it() {
    let data = pattern(181, FILE_LEN);
    let scratch = Scratch::new("w18-exact", &data);
    let (reader, end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(end).unwrap();
    let received = collect(reader);
    writer.write(&b"before "[..]).unwrap();
    let range = 1000..(FILE_LEN as u64 - 1000);
    let n = writer
        .write_file(&scratch.file, range.clone(), PATIENCE)
        .unwrap();
    assert_eq!(n, range.end - range.start);
    writer.write(&b" after"[..]).unwrap();
    writer.close(PATIENCE).unwrap();
    let got = received.join().unwrap();
    let mut expected = b"before ".to_vec();
    expected.extend_from_slice(&data[range.start as usize..range.end as usize]);
    expected.extend_from_slice(b" after");
    assert!(got == expected, "W-18: the bytes differ");
    assert_eq!(writer.bytes_accepted(), expected.len() as u64);
    assert_eq!(writer.bytes_written(), expected.len() as u64);
}

#[test]
fn w18_stop_from_another_thread_hands_back_the_unwritten_range() {
    let data = pattern(182, FILE_LEN);
    let scratch = Arc::new(Scratch::new("w18-stop", &data));
    let (reader, end) = pipewriter::pipe().unwrap();
    let writer = Arc::new(Builder::new().build(end).unwrap());
    let feeding = {
        let (writer, scratch) = (writer.clone(), scratch.clone());
        thread::spawn(move || writer.write_file(&scratch.file, 0..FILE_LEN as u64, PATIENCE))
    };
    // Nobody reads: the pipe fills and the feeding thread waits.
    wait_until_pipe_full(&writer);
    let queued_back = writer.stop();
    let error = feeding.join().unwrap().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotConnected);
    let written = error.written();
    assert_eq!(
        error.unwritten(),
        written..FILE_LEN as u64,
        "W-18: the rest of the range"
    );
    // The writer took `written` bytes; those it did not write (a copy path may have queued
    // some) came back from the stop.
    assert_eq!(writer.bytes_accepted(), written);
    let in_pipe = writer.bytes_written() as usize;
    assert_eq!(in_pipe + queued_back.len(), written as usize);
    let (handle, _) = Arc::into_inner(writer).unwrap().into_handle();
    drop(handle);
    let mut got = Vec::new();
    let mut reader = reader;
    reader.read_to_end(&mut got).unwrap();
    assert!(got == data[..in_pipe]);
    assert!(queued_back.to_vec() == data[in_pipe..written as usize]);
}

#[test]
fn w18_a_reader_that_leaves_mid_file_ends_it_with_broken_pipe() {
    let data = pattern(183, FILE_LEN);
    let scratch = Scratch::new("w18-peer", &data);
    let (mut reader, end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(end).unwrap();
    let reading = thread::spawn(move || {
        let mut got = vec![0u8; 100_000];
        reader.read_exact(&mut got).unwrap();
        got
    });
    let error = writer
        .write_file(&scratch.file, 0..FILE_LEN as u64, PATIENCE)
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BrokenPipe, "{error}");
    let got = reading.join().unwrap();
    assert!(got == data[..100_000]);
    assert!(error.written() >= 100_000);
    assert_eq!(error.unwritten(), error.written()..FILE_LEN as u64);
    assert!(writer.is_peer_closed());
}

#[test]
fn w18_bad_ranges_and_short_files_are_refused_clearly() {
    let data = pattern(184, 10_000);
    let scratch = Scratch::new("w18-short", &data);
    let (reader, end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(end).unwrap();
    let received = collect(reader);
    #[allow(clippy::reversed_empty_ranges)] // The point of the test.
    let backwards = writer
        .write_file(&scratch.file, 10..5, PATIENCE)
        .unwrap_err();
    assert_eq!(backwards.kind(), ErrorKind::InvalidInput);
    assert_eq!(writer.write_file(&scratch.file, 7..7, PATIENCE).unwrap(), 0);
    let past = writer
        .write_file(&scratch.file, 9_000..20_000, PATIENCE)
        .unwrap_err();
    assert_eq!(past.kind(), ErrorKind::UnexpectedEof, "{past}");
    assert_eq!(past.written(), 1_000, "the bytes the file had");
    assert_eq!(past.unwritten(), 10_000..20_000);
    // The writer goes on: the file's end is not the pipe's.
    writer.write(&b"!"[..]).unwrap();
    writer.close(PATIENCE).unwrap();
    let got = received.join().unwrap();
    assert!(got[..1_000] == data[9_000..]);
    assert_eq!(&got[1_000..], b"!");
}

#[test]
fn w18_a_stalled_reader_times_the_file_out_without_spinning() {
    let data = pattern(185, FILE_LEN);
    let scratch = Scratch::new("w18-stall", &data);
    let (_reader, end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(end).unwrap();
    let cpu_before = thread_cpu_time();
    let error = writer
        .write_file(
            &scratch.file,
            0..FILE_LEN as u64,
            Duration::from_millis(500),
        )
        .unwrap_err();
    let cpu = thread_cpu_time().map(|after| after.saturating_sub(cpu_before.unwrap()));
    assert_eq!(error.kind(), ErrorKind::TimedOut);
    assert_eq!(error.unwritten(), error.written()..FILE_LEN as u64);
    match cpu {
        Some(cpu) => assert!(
            cpu < Duration::from_millis(150),
            "W-18: {cpu:?} of CPU in 500 ms of waiting for a stalled reader (a busy loop)"
        ),
        None => eprintln!("NOT CHECKED on this platform: the thread's CPU time"),
    }
}

/// The calling thread's CPU time, where the platform tells it (Linux here; elsewhere the
/// test says it did not check).
fn thread_cpu_time() -> Option<Duration> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Some(Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}
