//! The overlapped path on Windows (P-1): named pipes opened with `FILE_FLAG_OVERLAPPED`,
//! writes completed by a thread-pool wait and chained from its callback.
//!
//! These run under Wine in CI. Where Wine may behave differently from Windows, the test says
//! so next to the assertion.
#![cfg(windows)]

mod util;

use std::io::{BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pipewriter::fault::Fault;
use pipewriter::{Builder, DropPolicy, Event, PipeWriter};
use sha2::{Digest, Sha256};
use util::windows::{available, overlapped_pipe, read_exactly, StopRace, OVERLAPPED_HANDLES};
use util::{paced_reader, pattern, stop_and_check_suffix, ReadError, Xorshift, WINE_PATIENCE};

/// One record of the multi-threaded test: `[thread u8][seq u32][len u32][payload]`.
fn record(thread: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + len);
    out.push(thread);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&pattern((u64::from(thread) << 32) | u64::from(seq), len));
    out
}

/// P-1, W-2, W-3, W-12: 256 MiB from 8 writer threads through one overlapped named pipe to
/// a reader thread. Each thread's records arrive whole, in order, with a matching checksum,
/// and the tail drains with no call on the writer at all (chaining in the callback).
#[test]
fn p1_named_pipe_256mib_eight_writer_threads_checksums_match() {
    const TOTAL: usize = 256 << 20;
    const THREADS: u8 = 8;
    const HIGH_WATER: usize = 4 << 20;
    let (server, client) = overlapped_pipe(64 * 1024);

    let room = Arc::new((Mutex::new(()), Condvar::new()));
    let room_in_handler = room.clone();
    let writer = Arc::new(
        Builder::new()
            .high_water(HIGH_WATER)
            .on_event(move |event| {
                if matches!(event, Event::Writable | Event::Drained) {
                    room_in_handler.1.notify_all();
                }
            })
            .build(server)
            .unwrap(),
    );

    let received = Arc::new(AtomicU64::new(0));
    let received_by_reader = received.clone();
    let reader = thread::spawn(move || {
        let mut reader = BufReader::with_capacity(256 * 1024, client);
        let mut digests: Vec<Sha256> = (0..THREADS).map(|_| Sha256::new()).collect();
        let mut next_seq = vec![0u32; THREADS as usize];
        let mut header = [0u8; 9];
        let mut payload = Vec::new();
        loop {
            match reader.read_exact(&mut header) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("read: {e}"),
            }
            let thread = header[0];
            let seq = u32::from_le_bytes(header[1..5].try_into().unwrap());
            let len = u32::from_le_bytes(header[5..9].try_into().unwrap()) as usize;
            assert!(thread < THREADS, "corrupt record header {header:?}");
            assert_eq!(
                seq, next_seq[thread as usize],
                "W-2: order of thread {thread}"
            );
            next_seq[thread as usize] += 1;
            payload.resize(len, 0);
            reader.read_exact(&mut payload).expect("record payload");
            digests[thread as usize].update(header);
            digests[thread as usize].update(&payload);
            received_by_reader.fetch_add((9 + len) as u64, Ordering::Release);
        }
        digests
            .into_iter()
            .map(|d| d.finalize().to_vec())
            .collect::<Vec<_>>()
    });

    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let writer = writer.clone();
            let room = room.clone();
            thread::spawn(move || {
                let mut digest = Sha256::new();
                let mut sent = 0usize;
                let mut seq = 0u32;
                let mut rng = Xorshift::new(u64::from(t));
                while sent < TOTAL / THREADS as usize {
                    let len = 1 + (rng.next_u64() % (64 * 1024)) as usize;
                    let rec = record(t, seq, len);
                    digest.update(&rec);
                    sent += rec.len();
                    let accepted = match seq % 3 {
                        0 => writer.write(&rec[..]).unwrap(),
                        1 => writer.write(Bytes::from(rec)).unwrap(),
                        _ => writer.write(rec).unwrap(),
                    };
                    seq += 1;
                    if accepted.is_above_high_water() {
                        let mut guard = room.0.lock().unwrap();
                        while writer.bytes_to_write() > HIGH_WATER / 4 {
                            guard = room
                                .1
                                .wait_timeout(guard, Duration::from_millis(50))
                                .unwrap()
                                .0;
                        }
                    }
                }
                (digest.finalize().to_vec(), sent)
            })
        })
        .collect();
    let mut expected = Vec::new();
    let mut total = 0u64;
    for w in writers {
        let (digest, sent) = w.join().unwrap();
        expected.push(digest);
        total += sent as u64;
    }
    // From here on nobody calls the writer until the reader has everything: the queued tail
    // (up to the high-water mark) is written by the completion callback chaining writes.
    let deadline = Instant::now() + WINE_PATIENCE;
    while received.load(Ordering::Acquire) < total {
        assert!(Instant::now() < deadline, "W-3: the queue stopped draining");
        thread::sleep(Duration::from_millis(5));
    }
    writer.close(WINE_PATIENCE).unwrap();
    let digests = reader.join().unwrap();
    assert_eq!(digests, expected, "W-2: per-thread checksums");
    assert_eq!(writer.bytes_written(), total);
    assert_eq!(writer.bytes_accepted(), total);
}

/// W-3, W-4: a 16 MiB burst of 4 KiB writes, then no call on the writer: the reader gets all
/// of it in order.
#[test]
fn w3_burst_drains_with_no_owner_activity() {
    const TOTAL: usize = 16 << 20;
    let (server, mut client) = overlapped_pipe(64 * 1024);
    let writer = PipeWriter::new(server).unwrap();
    let data = pattern(3, TOTAL);
    for chunk in data.chunks(4096) {
        writer.write(chunk).unwrap();
    }
    let got = read_exactly(&mut client, TOTAL);
    assert!(got == data, "W-2: the bytes arrive in order");
    writer.flush(WINE_PATIENCE).unwrap();
    assert_eq!(writer.bytes_written(), TOTAL as u64);
    assert_eq!(available(&client), 0);
}

/// E-2, W-6, W-7: the reader closes mid-write: `PeerClosed` with the exact unwritten count,
/// `Written` events before it, accepted = written + unwritten, and `stop` hands back exactly
/// the unwritten suffix.
#[test]
fn e2_reader_closes_mid_write_reports_exact_unwritten() {
    const TOTAL: usize = 8 << 20;
    // Not a multiple of any write size: the reader leaves in the middle of a write. A pending
    // pipe write that the reader had partly read and that then fails reports nothing written
    // (observed under Wine), which is why the backend never writes more than the pipe's
    // buffer at once; this test fails if it does.
    const READ: usize = (1 << 20) + 5000;
    let (server, mut client) = overlapped_pipe(64 * 1024);
    let writer = PipeWriter::new(server).unwrap();
    let events = writer.events();
    let data = pattern(11, TOTAL);
    for chunk in data.chunks(256 * 1024) {
        writer.write(Bytes::copy_from_slice(chunk)).unwrap();
    }
    let got = read_exactly(&mut client, READ);
    assert!(got == data[..READ], "the prefix arrives intact");
    drop(client);

    let (unwritten, written_events) = util::wait_for_peer_closed(&events, WINE_PATIENCE);
    let written = writer.bytes_written();
    assert_eq!(
        written_events, written,
        "W-7: Written events sum to bytes written"
    );
    assert!(
        written >= READ as u64,
        "at least what the reader read was written"
    );
    assert_eq!(
        written as usize + unwritten,
        TOTAL,
        "W-6: accepted = written + unwritten"
    );
    assert_eq!(writer.bytes_to_write(), unwritten);
    assert!(writer.is_peer_closed());
    assert_eq!(
        writer.write(&b"more"[..]).unwrap_err().kind(),
        std::io::ErrorKind::BrokenPipe,
        "E-2: later writes fail with BrokenPipe"
    );
    let back = writer.stop();
    assert_eq!(back.len(), unwritten);
    assert!(
        back.to_vec() == data[written as usize..],
        "W-10: the exact suffix"
    );
}

/// W-10, W-5, P-1: `stop` with a write pending against a reader that never reads: it returns
/// exactly the bytes the OS did not take, the writer is dropped at once, and no callback or
/// handler runs afterwards (the writer's state is freed: the handler's captures are dropped).
/// Repeated 1,000 times, or as many as fit in 20 seconds (Wine is slower); the count is
/// printed.
#[test]
fn w10_stop_with_pending_write_returns_unwritten_and_nothing_runs_after() {
    const ROUNDS: usize = 1000;
    const BUDGET: Duration = Duration::from_secs(20);
    const PIPE: u32 = 16 * 1024;
    let started = Instant::now();
    let mut rounds = 0;
    let mut cancelled_while_pending = 0;
    while rounds < ROUNDS && started.elapsed() < BUDGET {
        let (server, mut client) = overlapped_pipe(PIPE);
        let stopped = Arc::new(AtomicBool::new(false));
        let late = Arc::new(AtomicUsize::new(0));
        let sentinel = Arc::new(());
        let (stopped_h, late_h, sentinel_h) = (stopped.clone(), late.clone(), sentinel.clone());
        let writer = Builder::new()
            .on_event(move |_| {
                let _keep = &sentinel_h;
                if stopped_h.load(Ordering::SeqCst) {
                    late_h.fetch_add(1, Ordering::SeqCst);
                }
            })
            .build(server)
            .unwrap();
        let data = pattern(rounds as u64, 256 * 1024 + rounds % 5000);
        writer.write(&data[..]).unwrap();
        // Vary the moment of the stop: at once (the kick may not even have reached the pool),
        // or once the OS holds the data and the write pends (the pipe holds less than it).
        let pending = rounds % 2 == 1;
        if pending {
            let deadline = Instant::now() + WINE_PATIENCE;
            while available(&client) < PIPE / 2 {
                assert!(
                    Instant::now() < deadline,
                    "the write never reached the pipe"
                );
                thread::yield_now();
            }
        }
        let unwritten = writer.stop();
        stopped.store(true, Ordering::SeqCst);
        if pending {
            // Under Wine a cancelled pending pipe write is withdrawn whole (nothing written);
            // on Windows the part the pipe buffered may count as written. Either way some of
            // it was not written, and the accounting below is exact.
            assert!(!unwritten.is_empty(), "the stop found the write in flight");
            cancelled_while_pending += 1;
        }
        let written =
            util::check_handed_back(&writer, &unwritten, &data, &format!("round {rounds}"));
        // What the OS took is exactly what the reader can still read: never a byte more.
        let avail = available(&client) as usize;
        assert_eq!(
            avail, written,
            "W-10: bytes the OS took are not handed back"
        );
        let got = read_exactly(&mut client, avail);
        assert!(got == data[..written]);
        drop(writer);
        assert_eq!(
            Arc::strong_count(&sentinel),
            1,
            "W-11: the writer's state (and its handler) is freed at once"
        );
        assert_eq!(late.load(Ordering::SeqCst), 0, "no handler after stop");
        rounds += 1;
    }
    eprintln!(
        "w10 stop-with-pending-write: {rounds} rounds in {:?}, {cancelled_while_pending} of \
         them cancelled a write in flight",
        started.elapsed()
    );
    assert!(rounds >= 100, "too few rounds ran ({rounds})");
    assert!(cancelled_while_pending >= rounds / 2);
}

/// W-10, P-1: `stop` while the reader is reading: the reader gets exactly the bytes counted as
/// written, and `stop` hands back exactly the rest, although the reader may have been reading
/// from the very write that was cancelled (writes never exceed the pipe's buffer, see
/// `sys/windows/mod.rs`).
#[test]
fn w10_stop_while_the_reader_reads_is_exact() {
    for round in 0..6u64 {
        let (server, client) = overlapped_pipe(64 * 1024);
        let writer = PipeWriter::new(server).unwrap();
        let reader = paced_reader(client, 3000 + round as usize * 1000, ReadError::Ends, |n| {
            (n % 7 == 0).then_some(Duration::from_millis(1))
        });
        let data = pattern(round, 8 << 20);
        writer.write(data.clone()).unwrap();
        let deadline = Instant::now() + WINE_PATIENCE;
        while writer.bytes_written() < 200_000 + round * 100_000 {
            assert!(Instant::now() < deadline, "no progress");
            thread::sleep(Duration::from_millis(1));
        }
        let (written, _) = stop_and_check_suffix(&writer, &data, &format!("round {round}"));
        drop(writer); // closes the handle: the reader sees end-of-file
        let got = reader.join().unwrap();
        util::assert_reader_got_written(&got, &data, written, &format!("round {round}"));
    }
}

/// W-10, W-5, P-1: stops racing with completions, from four threads at once, each round with
/// a reader reading at its own pace, a handler running, and the stop landing at a random
/// moment: exactly one of the callback and the stop collects each operation, so the
/// accounting is exact every time and the reader gets exactly the written bytes. As many
/// rounds as fit in 6 seconds; the count is printed.
#[test]
fn w10_stop_races_completions_from_four_threads() {
    StopRace::OVERLAPPED.run("w10 stop races", Duration::from_secs(6));
}

/// W-8, W-10, P-1: a handler that stops its own writer, and one that drops it (discard
/// policy), from inside the completion callback: no deadlock (the callback does not wait for
/// itself), the unwritten data is accounted for, and the writer is freed.
#[test]
fn w8_handler_stops_or_drops_its_own_writer() {
    // Stop from the handler, on every kind of handle the overlapped path serves.
    for kind in OVERLAPPED_HANDLES {
        util::windows::handler_stops_its_own_writer(kind, 16 * 1024, 4 << 20, 1);
    }

    // Drop from the handler: the handler owns the only handle to the writer.
    let (server, client) = overlapped_pipe(16 * 1024);
    let sentinel = Arc::new(());
    let slot: Arc<Mutex<Option<PipeWriter>>> = Arc::new(Mutex::new(None));
    let (tx, rx) = mpsc::channel();
    let (slot_h, sentinel_h) = (slot.clone(), sentinel.clone());
    let writer = Builder::new()
        .drop_policy(DropPolicy::Discard)
        .on_event(move |event| {
            let _keep = &sentinel_h;
            if let Event::Written(_) = event {
                if let Some(writer) = slot_h.lock().unwrap().take() {
                    drop(writer);
                    let _ = tx.send(());
                }
            }
        })
        .build(server)
        .unwrap();
    writer.write(pattern(2, 4 << 20)).unwrap();
    *slot.lock().unwrap() = Some(writer);
    let reader = paced_reader(client, 4096, ReadError::Ends, |_| {
        Some(Duration::from_millis(1))
    });
    rx.recv_timeout(WINE_PATIENCE)
        .expect("the handler dropped it");
    // The handler's closure is dropped with the writer's state, once its last callback ended.
    let deadline = Instant::now() + WINE_PATIENCE;
    while Arc::strong_count(&sentinel) > 1 {
        assert!(
            Instant::now() < deadline,
            "W-11: the writer was never freed"
        );
        thread::sleep(Duration::from_millis(1));
    }
    reader.join().unwrap();
}

/// W-11: dropping the writer with queued data (default linger policy) finishes writing it in
/// the background, then closes the handle: the reader sees all of it, then end-of-file.
#[test]
fn w11_linger_drop_finishes_in_the_background() {
    let (server, client) = overlapped_pipe(64 * 1024);
    let writer = PipeWriter::new(server).unwrap();
    let data = pattern(5, 8 << 20);
    writer.write(&data[..]).unwrap();
    drop(writer);
    let mut got = Vec::new();
    let mut client = client;
    client.read_to_end(&mut got).unwrap();
    assert!(got == data, "W-11: everything arrives, then EOF");
}

/// P-1 at scale: 1,000 writers alive at once, each on its own pipe with a write pending (more
/// than the pipe holds), 1,000 thread-pool waits armed; all data arrives.
#[test]
fn p1_thousand_writers_each_on_its_own_pipe() {
    const WRITERS: usize = 1000;
    const EACH: usize = 40 * 1024;
    const PIPE: u32 = 16 * 1024;
    let mut writers = Vec::with_capacity(WRITERS);
    let mut readers = Vec::with_capacity(WRITERS);
    for i in 0..WRITERS {
        let (server, client) = overlapped_pipe(PIPE);
        let writer = PipeWriter::new(server).unwrap();
        writer.write(pattern(i as u64, EACH)).unwrap();
        writers.push(writer);
        readers.push(client);
    }
    // Every writer is stuck with a pending write until its reader reads (on Windows and under
    // Wine alike, a pipe write completes only once it fits in the buffer).
    let stuck = writers
        .iter()
        .filter(|w| w.bytes_written() < EACH as u64)
        .count();
    assert!(
        stuck > WRITERS / 2,
        "most writes pend ({stuck} of {WRITERS})"
    );
    // Eight reader threads share the pipes.
    let readers = Arc::new(Mutex::new(
        readers.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let readers = readers.clone();
            thread::spawn(move || loop {
                let Some((i, mut client)) = readers.lock().unwrap().pop() else {
                    return;
                };
                let got = read_exactly(&mut client, EACH);
                assert!(got == pattern(i as u64, EACH), "pipe {i}");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for (i, writer) in writers.iter().enumerate() {
        writer
            .flush(WINE_PATIENCE)
            .unwrap_or_else(|e| panic!("writer {i}: {e}"));
        assert_eq!(writer.bytes_written(), EACH as u64);
    }
}

/// E-3: transient errors (here `ERROR_NO_SYSTEM_RESOURCES`, which Wine never returns for a
/// pipe) are retried after a backoff on the thread-pool timer; the data arrives intact.
#[test]
fn e3_transient_errors_retried_after_backoff() {
    let (server, mut client) = overlapped_pipe(64 * 1024);
    let faults = Arc::new(AtomicUsize::new(0));
    let faults_in_injector = faults.clone();
    let writer = Builder::new()
        .fault_injector(move |_| {
            // Fail every third write twice in a row.
            let n = faults_in_injector.fetch_add(1, Ordering::SeqCst);
            if n % 3 != 2 {
                Fault::Error(1450)
            } else {
                Fault::Pass
            }
        })
        .build(server)
        .unwrap();
    let data = pattern(9, 1 << 20);
    for chunk in data.chunks(100_000) {
        writer.write(chunk).unwrap();
    }
    let got = read_exactly(&mut client, data.len());
    assert!(got == data);
    writer.flush(WINE_PATIENCE).unwrap();
    assert!(
        faults.load(Ordering::SeqCst) >= 6,
        "the injector was consulted"
    );
}

/// W-6, P-1: short completions leave the rest at the head of the queue, and a zero-byte
/// completion of a non-empty write (which pipes do not produce, but the backend must not spin
/// on) is retried after a short delay on the thread-pool timer.
#[test]
fn w6_short_and_zero_byte_completions_are_continued() {
    let (server, mut client) = overlapped_pipe(64 * 1024);
    let calls = Arc::new(AtomicUsize::new(0));
    let calls_in_injector = calls.clone();
    let writer = Builder::new()
        .fault_injector(
            move |_| match calls_in_injector.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Fault::Short(0),
                2..=5 => Fault::Short(7),
                _ => Fault::Pass,
            },
        )
        .build(server)
        .unwrap();
    let data = pattern(31, 100_000);
    writer.write(&data[..]).unwrap();
    let got = read_exactly(&mut client, data.len());
    assert!(
        got == data,
        "W-6: the remainder stays at the head, in order"
    );
    writer.flush(WINE_PATIENCE).unwrap();
    assert!(calls.load(Ordering::SeqCst) >= 7);
}

/// E-3, E-1: `ERROR_OPERATION_ABORTED` (995) that our stop did not cause (Windows cancels a
/// thread's pending I/O when the thread exits) is retried, not taken as the end.
#[test]
fn e3_cancellation_we_did_not_request_is_retried() {
    let (server, mut client) = overlapped_pipe(64 * 1024);
    let calls = Arc::new(AtomicUsize::new(0));
    let calls_in_injector = calls.clone();
    let writer = Builder::new()
        .fault_injector(move |_| {
            if calls_in_injector.fetch_add(1, Ordering::SeqCst) < 3 {
                Fault::Error(995)
            } else {
                Fault::Pass
            }
        })
        .build(server)
        .unwrap();
    writer.write(&b"still delivered"[..]).unwrap();
    let got = read_exactly(&mut client, 15);
    assert_eq!(&got, b"still delivered");
    writer.flush(WINE_PATIENCE).unwrap();
    assert!(writer.error().is_none());
}

/// E-4: a fatal error ends the writer with one `Failed` event keeping the raw OS code; later
/// writes are refused with it; the unwritten data is retrievable.
#[test]
fn e4_fatal_error_keeps_the_os_code() {
    let (server, _client) = overlapped_pipe(64 * 1024);
    let writer = Builder::new()
        .fault_injector(|_| Fault::Error(5)) // ERROR_ACCESS_DENIED
        .build(server)
        .unwrap();
    let events = writer.events();
    writer.write(&b"0123456789"[..]).unwrap();
    let event = events.recv_timeout(WINE_PATIENCE).expect("an event");
    match event {
        Event::Failed { error, unwritten } => {
            assert_eq!(error.raw_os_error(), Some(5));
            assert_eq!(unwritten, 10);
        }
        other => panic!("E-4: expected Failed, got {other:?}"),
    }
    assert_eq!(
        writer.write(&b"x"[..]).unwrap_err().error().raw_os_error(),
        Some(5)
    );
    assert_eq!(writer.stop().to_vec(), b"0123456789");
}

/// P-1 on a disk file opened with `FILE_FLAG_OVERLAPPED`: writes go to the end of the file in
/// order (an overlapped handle has no file pointer).
#[test]
fn p1_overlapped_disk_file_appends_in_order() {
    use std::os::windows::ffi::OsStrExt;
    use std::os::windows::io::FromRawHandle;
    use windows_sys::Win32::Foundation::{GENERIC_WRITE, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, FILE_FLAG_OVERLAPPED, FILE_SHARE_READ,
    };

    let path = util::scratch_file("overlapped");
    let wide: Vec<u16> = path.as_os_str().encode_wide().chain(Some(0)).collect();
    // SAFETY: a NUL-terminated path; NULL security attributes.
    let raw = unsafe {
        CreateFileW(
            wide.as_ptr(),
            GENERIC_WRITE,
            FILE_SHARE_READ,
            std::ptr::null(),
            CREATE_ALWAYS,
            FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED,
            std::ptr::null_mut(),
        )
    };
    assert_ne!(
        raw,
        INVALID_HANDLE_VALUE,
        "{}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a new handle we own.
    let handle = unsafe { std::os::windows::io::OwnedHandle::from_raw_handle(raw) };
    let data = pattern(21, 3 << 20);
    let got = util::write_file_through_writer(handle, &path, &data, 7000, WINE_PATIENCE);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "W-2: in order, appended");
}

/// P-1: a write that stays pending longer than an idle thread-pool thread lives (Wine retires
/// idle pool threads after 5 s; Windows keeps a thread that has I/O pending) is neither lost
/// nor failed: it completes when the reader reads. If the OS cancels it with the thread, the
/// backend retries it (a cancellation it did not request is not an error).
#[test]
fn p1_write_pending_longer_than_an_idle_pool_thread_lives() {
    let (server, mut client) = overlapped_pipe(16 * 1024);
    let writer = PipeWriter::new(server).unwrap();
    let data = pattern(77, 256 * 1024);
    writer.write(&data[..]).unwrap();
    thread::sleep(Duration::from_secs(7));
    assert!(writer.error().is_none(), "{:?}", writer.error());
    let got = read_exactly(&mut client, data.len());
    assert!(got == data, "W-2: nothing lost or repeated");
    writer.flush(WINE_PATIENCE).unwrap();
    assert_eq!(writer.bytes_written(), data.len() as u64);
}
