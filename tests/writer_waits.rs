//! Synchronous waits with a stalled reader (W-9), backpressure and bounded memory (W-12), on
//! every platform.

mod util;

use std::io::{ErrorKind, Read};
use std::time::Duration;

use pipewriter::{Builder, Event, PipeWriter};
use util::{collect, pattern, wait_until_pipe_full, Recorder, PATIENCE};

const SHORT: Duration = Duration::from_millis(100);

#[test]
fn w9_waits_time_out_with_a_stalled_reader_then_close_gives_eof() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    let data = pattern(9, 4 << 20);
    writer.write(&data[..]).unwrap();
    wait_until_pipe_full(&writer);

    // Bytes were written since creation: reported once, then nothing more happens.
    assert!(
        writer.wait_for_bytes_written(SHORT).unwrap(),
        "W-9: bytes were written"
    );
    assert!(
        !writer.wait_for_bytes_written(SHORT).unwrap(),
        "W-9: false on timeout"
    );
    assert_eq!(
        writer.flush(SHORT).unwrap_err().kind(),
        ErrorKind::TimedOut,
        "W-9"
    );
    assert_eq!(
        writer.close(SHORT).unwrap_err().kind(),
        ErrorKind::TimedOut,
        "W-9"
    );
    // After the timed-out close the writer is closing: no new writes.
    assert_eq!(
        writer.write(&b"late"[..]).unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );

    // The reader resumes: everything arrives, then end-of-file.
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    assert!(got == data, "W-9: close delivers everything, then EOF");
    writer.close(PATIENCE).unwrap();
}

#[test]
fn w9_wait_for_bytes_written_is_false_at_once_when_idle() {
    let (reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    let start = std::time::Instant::now();
    assert!(!writer.wait_for_bytes_written(PATIENCE).unwrap());
    assert!(
        start.elapsed() < PATIENCE,
        "returned at once, not after the timeout"
    );
    writer.write(&b"abc"[..]).unwrap();
    assert!(writer.wait_for_bytes_written(PATIENCE).unwrap());
    writer.close(PATIENCE).unwrap();
    assert_eq!(collect(reader).join().unwrap(), b"abc");
}

#[test]
fn w12_high_water_reports_backpressure_and_writable_follows() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let recorder = Recorder::default();
    let writer = Builder::new()
        .high_water(256 * 1024)
        .low_water(64 * 1024)
        .on_event(recorder.handler())
        .build(writer)
        .unwrap();
    let mut above = false;
    let mut sent = 0usize;
    while !above {
        let accepted = writer.write(vec![1u8; 32 * 1024]).unwrap();
        sent += 32 * 1024;
        above = accepted.is_above_high_water();
    }
    assert!(writer.bytes_to_write() > 256 * 1024, "W-12");
    let mut got = vec![0u8; sent];
    reader.read_exact(&mut got).unwrap();
    recorder.wait_for("Writable", |e| e.contains(&Event::Writable));
    drop(writer);
}

#[test]
fn w12_hard_limit_refuses_and_hands_the_data_back_intact() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let limit = 512 * 1024;
    let writer = Builder::new()
        .high_water(limit / 2)
        .hard_limit(limit)
        .build(writer)
        .unwrap();
    let mut accepted = Vec::new();
    let refused = loop {
        let piece = pattern(accepted.len() as u64, 100_000);
        match writer.write(piece.clone()) {
            Ok(_) => accepted.extend_from_slice(&piece),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::WouldBlock, "W-12");
                assert!(e.data() == &piece, "W-12: refused data handed back intact");
                break e.into_data();
            }
        }
        assert!(
            writer.bytes_to_write() <= limit,
            "W-12: never above the limit"
        );
    };
    assert!(writer.bytes_to_write() <= limit);
    assert!(!refused.is_empty());
    // Drain: everything accepted arrives; the refused piece can be written later.
    let mut got = vec![0u8; accepted.len()];
    reader.read_exact(&mut got).unwrap();
    assert!(got == accepted);
    writer.flush(PATIENCE).unwrap();
    writer.write(refused.clone()).unwrap();
    let rest = collect(reader);
    writer.close(PATIENCE).unwrap();
    assert!(rest.join().unwrap() == refused);
}

/// W-12: a refused write can always succeed later. With a hard limit below the high-water
/// mark the queue is never "above high water", yet the refusal must be followed by `Writable`
/// once the refused write fits.
#[test]
fn w12_refusal_under_a_hard_limit_below_high_water_is_followed_by_writable() {
    let (mut reader, end) = pipewriter::pipe().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = Builder::new()
        .high_water(64 << 20)
        .hard_limit(1 << 20)
        .on_event(move |event| {
            if event == Event::Writable {
                let _ = tx.send(());
            }
        })
        .build(end)
        .unwrap();
    let chunk = pattern(12, 256 << 10);
    let mut sent = Vec::new();
    // Fill until refused: the pipe fills first, then the queue up to the hard limit.
    let refused = loop {
        match writer.write(chunk.clone()) {
            Ok(_) => sent.extend_from_slice(&chunk),
            Err(e) => break e,
        }
    };
    assert_eq!(refused.kind(), ErrorKind::WouldBlock);
    assert_eq!(
        refused.into_data(),
        chunk,
        "W-12: the refused data comes back intact"
    );
    assert!(rx.try_recv().is_err(), "nothing was read yet");
    // The reader takes everything that was sent; the queue drains and `Writable` must come.
    let mut got = vec![0u8; sent.len()];
    let reading = std::thread::spawn(move || {
        reader.read_exact(&mut got).unwrap();
        (reader, got)
    });
    rx.recv_timeout(PATIENCE)
        .expect("W-12: no Writable after a refusal, though the write fits now");
    writer
        .write(chunk.clone())
        .expect("W-12: the write refused before fits after Writable");
    let (_reader, got) = reading.join().unwrap();
    assert!(
        got == sent,
        "W-2: the reader got exactly what was accepted first"
    );
}

/// W-12: a write larger than the hard limit can never fit: `InvalidInput`, with its data back,
/// even on an empty queue; a hard limit of 0 is refused by the builder.
#[test]
fn w12_a_write_that_can_never_fit_is_invalid_input() {
    let (_reader, end) = pipewriter::pipe().unwrap();
    let writer = Builder::new().hard_limit(1000).build(end).unwrap();
    let data = pattern(13, 1001);
    let err = writer.write(data.clone()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.into_data(), data);
    assert_eq!(writer.bytes_accepted(), 0);
    writer.write(&data[..1000]).expect("exactly the limit fits");

    let (_reader, end) = pipewriter::pipe().unwrap();
    let err = Builder::new().hard_limit(0).build(end).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidInput,
        "W-12: a limit that refuses every write"
    );
}

/// W-16: `wait_for_room` returns once the queue is at or below the low-water mark, times out
/// while the reader stalls, and refuses inside a handler.
#[test]
fn w16_wait_for_room_returns_at_the_low_water_mark() {
    let (reader, end) = pipewriter::pipe().unwrap();
    let writer = Builder::new()
        .high_water(256 << 10)
        .low_water(64 << 10)
        .build(end)
        .unwrap();
    writer
        .wait_for_room(SHORT)
        .expect("room at once when nothing is queued");
    let data = pattern(16, 4 << 20);
    writer.write(&data[..]).unwrap();
    wait_until_pipe_full(&writer);
    assert_eq!(
        writer.wait_for_room(SHORT).unwrap_err().kind(),
        ErrorKind::TimedOut,
        "W-16: no room while the reader stalls"
    );
    let received = collect(reader);
    writer
        .wait_for_room(PATIENCE)
        .expect("W-16: room once the reader reads");
    // Nothing is written any more, so the queue only shrinks from the low-water mark.
    assert!(
        writer.bytes_to_write() <= 64 << 10,
        "W-16: room means at or below the low-water mark"
    );
    writer.close(PATIENCE).unwrap();
    assert!(received.join().unwrap() == data);
    assert_eq!(
        writer.wait_for_room(SHORT).unwrap_err().kind(),
        ErrorKind::BrokenPipe,
        "a closed writer has no room"
    );
}

/// W-16: the blocking adapter is a `std::io::Write`: `write!`, `io::copy` and a `BufWriter`
/// on top deliver every byte in order, with backpressure at the writer's marks and a hard
/// limit smaller than the writes (which are then queued in pieces).
#[test]
fn w16_blocking_writer_is_an_io_write_for_write_macro_copy_and_bufwriter() {
    use std::io::Write;

    let (reader, end) = pipewriter::pipe().unwrap();
    let writer = Builder::new()
        .high_water(128 << 10)
        .hard_limit(192 << 10)
        .build(end)
        .unwrap();
    let received = collect(reader);
    let mut expected = Vec::new();
    let mut blocking = writer.blocking().timeout(PATIENCE);
    write!(blocking, "hello {}", 42).unwrap();
    expected.extend_from_slice(b"hello 42");
    let data = pattern(17, 3 << 20);
    std::io::copy(&mut &data[..], &mut blocking).unwrap();
    expected.extend_from_slice(&data);
    let big = pattern(18, 1 << 20); // larger than the hard limit: queued in pieces
    blocking.write_all(&big).unwrap();
    expected.extend_from_slice(&big);
    let mut buffered = std::io::BufWriter::new(blocking);
    for i in 0..10_000u32 {
        buffered.write_all(&i.to_le_bytes()).unwrap();
        expected.extend_from_slice(&i.to_le_bytes());
    }
    buffered.flush().unwrap();
    drop(buffered);
    assert!(
        writer.bytes_to_write() <= 192 << 10,
        "W-12: the hard limit held"
    );
    writer.close(PATIENCE).unwrap();
    assert!(
        received.join().unwrap() == expected,
        "W-2: every byte, in order"
    );
}

/// W-16 / W-9: waiting for room inside a handler would deadlock the I/O context: refused.
#[test]
fn w16_wait_for_room_refuses_inside_a_handler() {
    let (reader, end) = pipewriter::pipe().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = std::sync::Arc::new(std::sync::OnceLock::<PipeWriter>::new());
    let in_handler = writer.clone();
    let built = Builder::new()
        .on_event(move |event| {
            if let (Event::Written(_), Some(w)) = (event, in_handler.get()) {
                let _ = tx.send(w.wait_for_room(SHORT).map_err(|e| e.kind()));
            }
        })
        .build(end)
        .unwrap();
    assert!(writer.set(built).is_ok());
    let received = collect(reader);
    writer.get().unwrap().write(&b"x"[..]).unwrap();
    assert_eq!(
        rx.recv_timeout(PATIENCE).unwrap(),
        Err(ErrorKind::Deadlock),
        "W-9: a wait inside a handler is an error, not a hang"
    );
    writer.get().unwrap().close(PATIENCE).unwrap();
    assert_eq!(received.join().unwrap(), b"x");
}

/// W-16: a hard limit far below the low-water mark: the blocking adapter waits until each
/// piece fits (no busy loop on "room" that is there but too small) and delivers everything.
#[test]
fn w16_blocking_writer_with_a_tiny_hard_limit_delivers_everything() {
    use std::io::Write;

    let (reader, end) = pipewriter::pipe().unwrap();
    let writer = Builder::new().hard_limit(1000).build(end).unwrap();
    let received = collect(reader);
    let data = pattern(19, 1 << 20);
    let mut blocking = writer.blocking().timeout(PATIENCE);
    for chunk in data.chunks(700) {
        blocking.write_all(chunk).unwrap();
    }
    blocking.flush().unwrap();
    writer.close(PATIENCE).unwrap();
    assert!(received.join().unwrap() == data);
}

/// W-16 with a stalled reader: the blocking adapter's wait ends with `TimedOut` after its
/// timeout, and nothing is lost or duplicated: the reader later gets exactly what was accepted,
/// a prefix of what was offered.
#[test]
fn w16_blocking_writer_times_out_on_a_stalled_reader_and_loses_nothing() {
    use std::io::Write;

    let (reader, end) = pipewriter::pipe().unwrap();
    let writer = Builder::new().high_water(64 << 10).build(end).unwrap();
    let data = pattern(20, 8 << 20);
    let mut blocking = writer.blocking().timeout(SHORT);
    let err = data
        .chunks(16 << 10)
        .try_for_each(|chunk| blocking.write_all(chunk))
        .expect_err("W-16: a stalled reader must end the wait with a timeout");
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    let accepted = writer.bytes_accepted() as usize;
    assert!(
        accepted > 0 && accepted < data.len(),
        "{accepted} of {}",
        data.len()
    );
    let received = collect(reader);
    writer.close(PATIENCE).unwrap();
    let got = received.join().unwrap();
    assert_eq!(
        got.len(),
        accepted,
        "W-6: what was accepted is what arrives"
    );
    assert!(got[..] == data[..accepted], "W-2: a prefix, in order");
}

/// W-16 on Unix: a thread that waits (`flush`, `wait_for_room`, `close`, the blocking
/// adapter) drives its own writer's I/O; the I/O thread takes over when it stops waiting.
#[cfg(unix)]
mod caller_drives {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::{self, ThreadId};
    use std::time::{Duration, Instant};

    use pipewriter::fault::Fault;
    use pipewriter::Builder;

    use super::util::{collect, pattern, slow_reader, wait_until_pipe_full, PATIENCE};
    use super::SHORT;

    /// Who made each OS write once `started` is set: (this thread's writes, other threads').
    #[derive(Clone, Default)]
    struct Writers {
        started: Arc<AtomicBool>,
        caller: Arc<Mutex<Option<ThreadId>>>,
        mine: Arc<AtomicUsize>,
        others: Arc<AtomicUsize>,
    }

    impl Writers {
        fn injector(&self) -> impl FnMut(usize) -> Fault + Send + 'static {
            let this = self.clone();
            move |_| {
                if this.started.load(Ordering::SeqCst) {
                    let me = thread::current().id();
                    if *this.caller.lock().unwrap() == Some(me) {
                        this.mine.fetch_add(1, Ordering::SeqCst);
                    } else {
                        this.others.fetch_add(1, Ordering::SeqCst);
                    }
                }
                Fault::Pass
            }
        }

        fn start(&self) {
            *self.caller.lock().unwrap() = Some(thread::current().id());
            self.started.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn w16_a_flushing_thread_makes_the_os_writes_itself() {
        let (reader, end) = pipewriter::pipe().unwrap();
        let writers = Writers::default();
        let writer = Builder::new()
            .fault_injector(writers.injector())
            .build(end)
            .unwrap();
        let data = pattern(161, 16 << 20);
        // A reader slower than the writer: the pipe is full most of the time.
        let received = slow_reader(reader, 64 << 10, Duration::from_micros(200));
        writer.write(&data[..]).unwrap();
        writers.start();
        writer.flush(PATIENCE).unwrap();
        writer.close(PATIENCE).unwrap();
        assert!(received.join().unwrap() == data);
        let (mine, others) = (
            writers.mine.load(Ordering::SeqCst),
            writers.others.load(Ordering::SeqCst),
        );
        if cfg!(pipewriter_force_fallback) {
            eprintln!(
                "SKIPPED the W-16 check: the blocking fallback is forced in this run, and its \
                 worker thread makes every write (made {others})"
            );
            return;
        }
        // The I/O thread may finish the turn it was in when the flush began (16 writes).
        assert!(
            mine >= 50 && others <= 32,
            "W-16: while the caller waited it made {mine} writes, the I/O thread {others}"
        );
    }

    #[test]
    fn w16_the_blocking_writer_writes_in_place_when_nothing_is_queued() {
        use std::io::Write;
        let (reader, end) = pipewriter::pipe().unwrap();
        let writer = Builder::new().build(end).unwrap();
        let data = pattern(164, 8 << 20);
        let received = slow_reader(reader, 64 << 10, Duration::from_micros(50));
        let mut out = writer.blocking().timeout(PATIENCE);
        let mut rest = &data[..];
        let mut most_queued = 0;
        while !rest.is_empty() {
            let n = out.write(&rest[..rest.len().min(64 << 10)]).unwrap();
            rest = &rest[n..];
            most_queued = most_queued.max(writer.bytes_to_write());
        }
        let queued_anyway = most_queued;
        writer.close(PATIENCE).unwrap();
        assert!(received.join().unwrap() == data);
        if cfg!(pipewriter_force_fallback) {
            eprintln!("SKIPPED the in-place check: the blocking fallback is forced in this run");
            return;
        }
        assert_eq!(
            queued_anyway, 0,
            "W-16: the blocking adapter copied bytes into the queue instead of writing in place"
        );
        assert_eq!(writer.bytes_accepted(), data.len() as u64);
    }

    #[test]
    fn w16_an_in_place_write_waiting_on_a_full_pipe_ends_cleanly_on_stop_and_peer_close() {
        if cfg!(pipewriter_force_fallback) {
            eprintln!(
                "SKIPPED w16_an_in_place_write_waiting_on_a_full_pipe_ends_cleanly_on_stop_and_peer_close: \
                 the blocking fallback is forced in this run (its worker writes; the adapter queues \
                 the whole buffer and never waits in place)"
            );
            return;
        }
        use std::io::Write;
        for stopped in [true, false] {
            let (reader, end) = pipewriter::pipe().unwrap();
            let writer = Arc::new(Builder::new().build(end).unwrap());
            let data = pattern(165, 4 << 20);
            let blocked = {
                let writer = writer.clone();
                let data = data.clone();
                thread::spawn(move || writer.blocking().timeout(PATIENCE).write_all(&data))
            };
            wait_until_pipe_full(&writer);
            thread::sleep(Duration::from_millis(20));
            let mut handed_back = 0;
            let (error, expected) = if stopped {
                let unwritten = writer.stop();
                assert!(unwritten.is_empty(), "in-place bytes are never queued");
                handed_back = unwritten.len() as u64;
                drop(reader);
                (
                    blocked.join().unwrap().unwrap_err(),
                    std::io::ErrorKind::NotConnected,
                )
            } else {
                drop(reader);
                (
                    blocked.join().unwrap().unwrap_err(),
                    std::io::ErrorKind::BrokenPipe,
                )
            };
            assert_eq!(error.kind(), expected, "stopped: {stopped}");
            assert_eq!(
                writer.bytes_accepted(),
                writer.bytes_written() + handed_back
            );
            assert!(writer.bytes_written() < data.len() as u64);
        }
    }

    #[test]
    fn w16_data_left_when_a_waiting_caller_gives_up_is_written_by_the_io_thread() {
        let (reader, end) = pipewriter::pipe().unwrap();
        let writer = Builder::new().build(end).unwrap();
        let data = pattern(162, 8 << 20);
        writer.write(&data[..]).unwrap();
        wait_until_pipe_full(&writer);
        assert_eq!(
            writer.flush(SHORT).unwrap_err().kind(),
            std::io::ErrorKind::TimedOut
        );
        // Nobody waits from now on: the I/O thread must write the rest on its own.
        let received = collect(reader);
        let deadline = Instant::now() + PATIENCE;
        while writer.bytes_written() < data.len() as u64 {
            assert!(
                Instant::now() < deadline,
                "W-16: stuck at {} of {} bytes once the caller stopped waiting",
                writer.bytes_written(),
                data.len()
            );
            thread::sleep(Duration::from_millis(5));
        }
        drop(writer);
        assert!(received.join().unwrap() == data);
    }

    #[test]
    fn w16_stop_while_another_thread_drives_returns_promptly_and_exactly() {
        let (reader, end) = pipewriter::pipe().unwrap();
        let writer = Arc::new(Builder::new().build(end).unwrap());
        let data = pattern(163, 8 << 20);
        writer.write(&data[..]).unwrap();
        wait_until_pipe_full(&writer);
        let flusher = {
            let writer = writer.clone();
            thread::spawn(move || {
                let result = writer.flush(PATIENCE);
                (result, Instant::now())
            })
        };
        thread::sleep(Duration::from_millis(50));
        let asked = Instant::now();
        let unwritten = writer.stop();
        let stopped = asked.elapsed();
        let (result, returned) = flusher.join().unwrap();
        assert_eq!(
            result.unwrap_err().kind(),
            std::io::ErrorKind::NotConnected,
            "the waiting flush learns of the stop"
        );
        assert!(
            stopped < Duration::from_secs(1),
            "W-10: stop took {stopped:?} while another thread drove the writer"
        );
        assert!(
            returned.saturating_duration_since(asked) < Duration::from_secs(2),
            "the driving thread noticed the stop late"
        );
        let written = writer.bytes_written() as usize;
        assert_eq!(
            written + unwritten.len(),
            data.len(),
            "W-10: exact hand-back"
        );
        let (handle, _) = Arc::into_inner(writer).unwrap().into_handle();
        drop(handle);
        let got = collect(reader).join().unwrap();
        assert_eq!(got.len(), written);
        assert!(got == data[..written]);
        assert!(unwritten.to_vec() == data[written..]);
    }
}

#[cfg(windows)]
mod caller_drives {
    super::util::not_on_this_platform!(
        "Windows: overlapped writes complete on the I/O thread; a waiting caller sleeps":
        w16_a_flushing_thread_makes_the_os_writes_itself,
        w16_data_left_when_a_waiting_caller_gives_up_is_written_by_the_io_thread,
        w16_stop_while_another_thread_drives_returns_promptly_and_exactly,
        w16_the_blocking_writer_writes_in_place_when_nothing_is_queued,
        w16_an_in_place_write_waiting_on_a_full_pipe_ends_cleanly_on_stop_and_peer_close,
    );
}
