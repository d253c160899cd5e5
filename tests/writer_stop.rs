//! Stop and drop (W-5, W-10, W-11), on every platform.

mod util;

use std::io::ErrorKind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pipewriter::{Builder, DropPolicy, Event, PipeWriter};
use util::{collect, pattern, slow_reader, stop_and_check_suffix, PATIENCE};

#[test]
fn w10_stop_during_large_write_returns_exactly_the_unwritten_suffix() {
    for round in 0..5u64 {
        let (reader, writer) = std::io::pipe().unwrap();
        let writer = PipeWriter::new(writer).unwrap();
        let received = slow_reader(reader, 16 * 1024, Duration::from_millis(1));
        let data = pattern(round, 32 << 20);
        writer.write(data.clone()).unwrap();
        util::wait_until("some progress", || writer.bytes_written() > 100_000);
        let (written, _) = stop_and_check_suffix(&writer, &data, &format!("round {round}"));
        assert_eq!(
            writer.write(&b"late"[..]).unwrap_err().kind(),
            ErrorKind::NotConnected,
            "writes after stop are refused"
        );
        assert!(writer.stop().is_empty(), "W-10: idempotent");
        drop(writer); // closes the handle: the reader sees end-of-file
        let got = received.join().unwrap();
        util::assert_reader_got_written(&got, &data, written, &format!("round {round}"));
    }
}

#[test]
fn w10_stop_with_a_reader_that_never_reads_returns_promptly() {
    for _ in 0..50 {
        let (reader, writer) = std::io::pipe().unwrap();
        let writer = PipeWriter::new(writer).unwrap();
        let data = pattern(3, 1 << 20);
        writer.write(&data[..]).unwrap();
        util::wait_until("the pipe to fill", || writer.bytes_written() > 0);
        stop_and_check_suffix(&writer, &data, "a reader that never reads");
        drop(writer);
        drop(reader);
    }
}

#[test]
fn w10_no_event_after_stop_returns() {
    let (reader, writer) = std::io::pipe().unwrap();
    let after_stop = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handler = {
        let (after_stop, stopped) = (after_stop.clone(), stopped.clone());
        move |_e: Event| {
            if stopped.load(Ordering::SeqCst) {
                after_stop.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    let writer = Builder::new().on_event(handler).build(writer).unwrap();
    let received = slow_reader(reader, 4096, Duration::from_micros(100));
    for i in 0..200u32 {
        writer.write(pattern(i as u64, 10_000)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(5));
    let _ = writer.stop();
    stopped.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        after_stop.load(Ordering::SeqCst),
        0,
        "W-10: no handler after stop"
    );
    drop(writer);
    let _ = received.join().unwrap();
}

#[test]
fn w11_drop_lingers_by_default_until_everything_is_written() {
    let (reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    let received = slow_reader(reader, 64 * 1024, Duration::from_micros(200));
    let data = pattern(11, 8 << 20);
    writer.write(&data[..]).unwrap();
    drop(writer); // returns at once; the data keeps flowing, then end-of-file
    let got = received.join().unwrap();
    assert!(got == data, "W-11: linger writes everything, then closes");
}

#[test]
fn w11_drop_with_discard_policy_stops_and_closes() {
    let (reader, writer) = std::io::pipe().unwrap();
    let writer = Builder::new()
        .drop_policy(DropPolicy::Discard)
        .build(writer)
        .unwrap();
    let data = pattern(12, 8 << 20);
    writer.write(&data[..]).unwrap();
    drop(writer);
    let got = collect(reader).join().unwrap();
    assert!(got.len() < data.len(), "W-11: discard drops the queue");
    assert!(got == data[..got.len()], "what arrived is a prefix");
}

#[test]
fn w14_into_handle_gives_the_handle_back_usable() {
    let (reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    writer.write(&b"abc"[..]).unwrap();
    writer.flush(PATIENCE).unwrap();
    let (handle, unwritten) = writer.into_handle();
    assert!(unwritten.is_empty());
    let handle = handle.expect("W-14: the handle comes back");
    let mut file = std::fs::File::from(handle);
    std::io::Write::write_all(&mut file, b"def").unwrap();
    drop(file);
    assert_eq!(collect(reader).join().unwrap(), b"abcdef");
}
