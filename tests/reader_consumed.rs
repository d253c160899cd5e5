//! What the reader consumed (W-19): `bytes_unread`, `bytes_consumed` and
//! `wait_until_consumed`, on every platform. Linux and Android can look into a pipe from its
//! write end (`FIONREAD`); elsewhere (Windows, under Wine too, and the other Unixes) the API
//! answers `Unsupported`, and these tests check that it does, loudly, instead of skipping.

mod util;

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use pipewriter::PipeWriter;
use util::{pattern, PATIENCE};

/// True where the OS can tell what the reader left in a pipe.
const CAN_TELL: bool = cfg!(any(target_os = "linux", target_os = "android"));

fn assert_unsupported<T: std::fmt::Debug>(result: std::io::Result<T>, what: &str) {
    match result {
        Err(e) => assert_eq!(
            e.kind(),
            ErrorKind::Unsupported,
            "W-19: {what} must say Unsupported here, not {e}"
        ),
        Ok(v) => panic!("W-19: {what} answered {v:?} where the OS cannot tell"),
    }
}

#[test]
fn w19_unread_counts_what_the_reader_left() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    writer.write(pattern(19, 1000)).unwrap();
    writer.flush(PATIENCE).unwrap();
    if !CAN_TELL {
        eprintln!("W-19: this OS cannot look into a pipe: checking that the API says so");
        assert_unsupported(writer.bytes_unread(), "bytes_unread");
        assert_unsupported(writer.bytes_consumed(), "bytes_consumed");
        assert_unsupported(writer.wait_until_consumed(PATIENCE), "wait_until_consumed");
        return;
    }
    assert_eq!(
        writer.bytes_unread().unwrap(),
        1000,
        "W-19: nothing read yet"
    );
    assert_eq!(writer.bytes_consumed().unwrap(), 0);
    let mut first = [0u8; 300];
    reader.read_exact(&mut first).unwrap();
    assert_eq!(
        writer.bytes_unread().unwrap(),
        700,
        "W-19: 300 of 1000 read"
    );
    assert_eq!(writer.bytes_consumed().unwrap(), 300);
    assert!(
        !writer
            .wait_until_consumed(Duration::from_millis(50))
            .unwrap(),
        "W-19: 700 bytes are still unread"
    );
    let mut rest = [0u8; 700];
    reader.read_exact(&mut rest).unwrap();
    assert!(writer.wait_until_consumed(PATIENCE).unwrap());
    assert_eq!(writer.bytes_consumed().unwrap(), 1000);
}

#[test]
fn w19_wait_returns_once_a_slow_reader_read_everything() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    let data = pattern(20, 512 * 1024);
    writer.write(&data[..]).unwrap();
    let reading = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            std::thread::sleep(Duration::from_millis(3));
            match reader.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("read: {e}"),
            }
        }
    });
    if !CAN_TELL {
        assert_unsupported(writer.wait_until_consumed(PATIENCE), "wait_until_consumed");
        writer.close(PATIENCE).unwrap();
        assert_eq!(reading.join().unwrap(), data);
        return;
    }
    // While the reader works, what is unread goes down (the queue keeps the pipe topped up
    // first, then drains).
    let mut samples = Vec::new();
    writer.flush(PATIENCE).unwrap();
    for _ in 0..20 {
        samples.push(writer.bytes_unread().unwrap());
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(
        samples.windows(2).any(|w| w[1] < w[0]),
        "W-19: the unread count must fall while the reader reads: {samples:?}"
    );
    let start = Instant::now();
    assert!(writer.wait_until_consumed(PATIENCE).unwrap());
    assert_eq!(writer.bytes_unread().unwrap(), 0);
    assert_eq!(writer.bytes_consumed().unwrap(), data.len() as u64);
    assert!(start.elapsed() < PATIENCE);
    writer.close(PATIENCE).unwrap();
    assert_eq!(
        reading.join().unwrap(),
        data,
        "W-19: the reader got every byte"
    );
}

#[test]
fn w19_wait_times_out_with_a_stalled_reader() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    let data = pattern(21, 1000);
    writer.write(&data[..]).unwrap();
    if !CAN_TELL {
        assert_unsupported(
            writer.wait_until_consumed(Duration::from_millis(200)),
            "wait_until_consumed",
        );
        return;
    }
    let start = Instant::now();
    let consumed = writer
        .wait_until_consumed(Duration::from_millis(200))
        .unwrap();
    let took = start.elapsed();
    assert!(!consumed, "W-19: false on timeout with a stalled reader");
    assert!(
        took >= Duration::from_millis(200),
        "returned after {took:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "W-19: the timeout holds: {took:?}"
    );
    assert_eq!(
        writer.bytes_unread().unwrap(),
        1000,
        "nothing lost, nothing read"
    );
    let mut got = vec![0u8; 1000];
    reader.read_exact(&mut got).unwrap();
    assert_eq!(got, data);
    assert!(writer.wait_until_consumed(PATIENCE).unwrap());
}

#[test]
fn w19_reader_gone_with_bytes_unread_is_broken_pipe() {
    let (reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    writer.write(pattern(22, 1000)).unwrap();
    writer.flush(PATIENCE).unwrap();
    drop(reader);
    if !CAN_TELL {
        assert_unsupported(writer.wait_until_consumed(PATIENCE), "wait_until_consumed");
        return;
    }
    let start = Instant::now();
    let error = writer.wait_until_consumed(PATIENCE).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BrokenPipe, "W-19: {error}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "at once, not at the timeout"
    );
}

#[test]
fn w19_after_close_the_pipe_can_no_longer_be_seen() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    writer.write(pattern(23, 100)).unwrap();
    writer.close(PATIENCE).unwrap();
    let error = writer.bytes_unread().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotConnected, "{error}");
    let error = writer.wait_until_consumed(PATIENCE).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotConnected, "{error}");
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), 100);
}

#[test]
fn w19_a_file_answers_unsupported() {
    let path = util::scratch_file("reader-consumed");
    let file = std::fs::File::create(&path).unwrap();
    let writer = PipeWriter::new(file).unwrap();
    writer.write(pattern(24, 100)).unwrap();
    writer.flush(PATIENCE).unwrap();
    assert_unsupported(writer.bytes_unread(), "bytes_unread on a file");
    let start = Instant::now();
    assert_unsupported(
        writer.wait_until_consumed(PATIENCE),
        "wait_until_consumed on a file",
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "Unsupported at once, no waiting"
    );
    drop(writer);
    let _ = std::fs::remove_file(&path);
}

#[cfg(unix)]
#[test]
fn w19_a_fifo_answers_and_a_device_does_not() {
    use pipewriter::Fifo;

    let fifo = Fifo::create_private().unwrap();
    let mut reader = Fifo::open_reader(fifo.path()).unwrap();
    // A `File` of unknown origin: on Linux the writer drives a twin reopened through
    // /proc/self/fd, the same pipe.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(fifo.path())
        .unwrap();
    let writer = PipeWriter::new(file).unwrap();
    writer.write(pattern(25, 500)).unwrap();
    writer.flush(PATIENCE).unwrap();
    if CAN_TELL {
        assert_eq!(writer.bytes_unread().unwrap(), 500, "W-19: a FIFO tells");
        let mut got = [0u8; 500];
        reader.read_exact(&mut got).unwrap();
        assert!(writer.wait_until_consumed(PATIENCE).unwrap());
    } else {
        assert_unsupported(writer.bytes_unread(), "bytes_unread on a FIFO");
    }
    // /dev/null is a character device, not a terminal or a pipe: FIONREAD would mean
    // something else there.
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let writer = PipeWriter::new(null).unwrap();
    assert_unsupported(writer.bytes_unread(), "bytes_unread on /dev/null");
}

#[test]
fn w19_waiting_in_a_handler_is_refused() {
    use std::sync::{Arc, Mutex};

    let (reader, writer) = std::io::pipe().unwrap();
    let slot: Arc<Mutex<Option<Arc<PipeWriter>>>> = Arc::new(Mutex::new(None));
    let seen = Arc::new(Mutex::new(None));
    let (slot2, seen2) = (slot.clone(), seen.clone());
    let writer = Arc::new(
        PipeWriter::builder()
            .on_event(move |event| {
                if let pipewriter::Event::Written(_) = event {
                    if let Some(w) = slot2.lock().unwrap().as_ref() {
                        let r = w.wait_until_consumed(Duration::from_secs(1));
                        seen2.lock().unwrap().get_or_insert(r.map_err(|e| e.kind()));
                    }
                }
            })
            .build(writer)
            .unwrap(),
    );
    *slot.lock().unwrap() = Some(writer.clone());
    writer.write(pattern(26, 100)).unwrap();
    writer.flush(PATIENCE).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while seen.lock().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        *seen.lock().unwrap(),
        Some(Err(ErrorKind::Deadlock)),
        "W-19: a wait inside a handler returns Deadlock"
    );
    slot.lock().unwrap().take();
    drop(reader);
}
