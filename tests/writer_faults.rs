//! Fault injection through the backend seam (E-2, E-3, E-4, W-6): whatever the OS answers,
//! the accounting stays exact. Runs on every platform; the codes come from the platform's
//! own error table.

mod util;

use std::io::ErrorKind;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pipewriter::fault::Fault;
use pipewriter::{Builder, Event, PipeWriter, RetryPolicy};
use util::{codes, collect, pattern, Recorder, PATIENCE};

fn fast_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        initial_delay: Duration::from_micros(100),
        max_delay: Duration::from_millis(2),
        max_retries,
    }
}

/// A scripted sequence of faults, then `Pass`.
fn script(faults: Vec<Fault>) -> impl FnMut(usize) -> Fault + Send + 'static {
    let mut faults = faults.into_iter();
    move |_| faults.next().unwrap_or(Fault::Pass)
}

#[test]
fn e3_interrupted_would_block_short_and_transient_writes_lose_nothing() {
    let mut faults = vec![
        Fault::Short(1),
        Fault::Error(codes::OUT_OF_MEMORY),
        Fault::Short(3),
        Fault::Error(codes::NO_BUFFERS),
        Fault::Short(0),
    ];
    if let Some(eintr) = codes::INTERRUPTED {
        faults.push(Fault::Error(eintr));
    } else {
        eprintln!("NOTE: no EINTR on this platform; that part of E-3 is Unix-only");
    }
    if let Some(eagain) = codes::WOULD_BLOCK {
        faults.push(Fault::Error(eagain));
    } else {
        eprintln!("NOTE: no EAGAIN on this platform; that part of E-3 is Unix-only");
    }
    // Repeat the whole pattern, interleaved with passes.
    let mut all = Vec::new();
    for _ in 0..20 {
        for f in &faults {
            all.push(*f);
            all.push(Fault::Pass);
        }
    }
    let (reader, writer) = std::io::pipe().unwrap();
    let recorder = Recorder::default();
    let writer = Builder::new()
        .retry_policy(fast_retries(3))
        .on_event(recorder.handler())
        .fault_injector(script(all))
        .build(writer)
        .unwrap();
    let received = collect(reader);
    let data = pattern(21, 2 << 20);
    for piece in data.chunks(10_007) {
        writer.write(piece).unwrap();
    }
    writer.flush(PATIENCE).unwrap();
    assert_eq!(writer.bytes_written(), data.len() as u64, "W-6");
    writer.close(PATIENCE).unwrap();
    assert!(
        received.join().unwrap() == data,
        "E-3: retried, nothing lost or duplicated"
    );
    assert_eq!(recorder.written_sum(), data.len() as u64, "W-7");
    assert!(!recorder
        .events()
        .iter()
        .any(|e| matches!(e, Event::Failed { .. })));
}

#[test]
fn e3_transient_errors_become_fatal_after_the_retry_budget() {
    let (reader, writer) = std::io::pipe().unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let recorder = Recorder::default();
    let writer = Builder::new()
        .retry_policy(fast_retries(4))
        .on_event(recorder.handler())
        .fault_injector(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Fault::Error(codes::OUT_OF_MEMORY)
        })
        .build(writer)
        .unwrap();
    writer.write(&b"doomed"[..]).unwrap();
    recorder.wait_for("Failed", |e| {
        e.iter().any(|e| matches!(e, Event::Failed { .. }))
    });
    assert_eq!(attempts.load(Ordering::SeqCst), 5, "E-3: 1 try + 4 retries");
    let events = recorder.events();
    let failures: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Failed { error, unwritten } => Some((error.raw_os_error(), *unwritten)),
            _ => None,
        })
        .collect();
    assert_eq!(
        failures,
        vec![(Some(codes::OUT_OF_MEMORY), 6)],
        "E-4: one Failed, raw code"
    );
    let refused = writer.write(&b"more"[..]).unwrap_err();
    assert_eq!(
        refused.error().raw_os_error(),
        Some(codes::OUT_OF_MEMORY),
        "E-4"
    );
    assert_eq!(
        writer.error().and_then(|e| e.raw_os_error()),
        Some(codes::OUT_OF_MEMORY)
    );
    assert_eq!(
        writer.stop().to_vec(),
        b"doomed",
        "E-4: unwritten data retrievable"
    );
    drop(reader);
}

#[test]
fn e4_fatal_error_ends_the_writer_with_exact_accounting() {
    let (reader, writer) = std::io::pipe().unwrap();
    let recorder = Recorder::default();
    let writer = Builder::new()
        .on_event(recorder.handler())
        .fault_injector(script(vec![
            Fault::Short(1000),
            Fault::Pass,
            Fault::Error(codes::FATAL),
        ]))
        .build(writer)
        .unwrap();
    let data = pattern(5, 300_000);
    let received = collect(reader);
    // One write so the OS writes are predictable: 1000 bytes, then the rest up to the
    // maximum write size, then the fatal error.
    writer.write(&data[..]).unwrap();
    recorder.wait_for("Failed", |e| {
        e.iter().any(|e| matches!(e, Event::Failed { .. }))
    });
    let written = writer.bytes_written() as usize;
    let back = writer.stop();
    assert_eq!(
        written + back.len(),
        data.len(),
        "E-4: accepted = written + unwritten"
    );
    assert!(back.to_vec() == data[written..]);
    assert_eq!(
        recorder.written_sum() as usize,
        written,
        "W-7: Written before Failed"
    );
    drop(writer);
    assert!(received.join().unwrap() == data[..written]);
}

#[test]
fn e2_peer_closed_at_random_offsets_keeps_accounting_exact() {
    let mut seed = 0x5eed_u64;
    for round in 0..40 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let fail_at = (seed % 12) as usize; // which OS write fails
        let (reader, writer) = std::io::pipe().unwrap();
        let calls = Arc::new(Mutex::new(0usize));
        let calls2 = calls.clone();
        let writer: PipeWriter = Builder::new()
            .fault_injector(move |_| {
                let mut n = calls2.lock().unwrap();
                *n += 1;
                match *n - 1 {
                    k if k == fail_at => Fault::Error(codes::PEER_CLOSED),
                    k if k % 3 == 1 => Fault::Short(777),
                    _ => Fault::Pass,
                }
            })
            .max_write_size(64 * 1024)
            .build(writer)
            .unwrap();
        let events = writer.events();
        let received = collect(reader);
        let data = pattern(round, 1 << 20);
        for piece in data.chunks(50_000) {
            if let Err(e) = writer.write(piece) {
                assert_eq!(e.kind(), ErrorKind::BrokenPipe, "E-2");
                break;
            }
        }
        let unwritten = loop {
            match events.recv_timeout(PATIENCE).expect("an event") {
                Event::PeerClosed { unwritten } => break unwritten,
                Event::Drained => {
                    // The failing write index was never reached.
                    break usize::MAX;
                }
                _ => {}
            }
        };
        let back = writer.stop();
        let written = writer.bytes_written() as usize;
        let accepted = writer.bytes_accepted() as usize;
        if unwritten != usize::MAX {
            assert_eq!(written + unwritten, accepted, "E-2 round {round}");
        }
        assert_eq!(written + back.len(), accepted, "round {round}");
        assert!(back.to_vec() == data[written..accepted]);
        drop(writer);
        assert!(received.join().unwrap() == data[..written], "round {round}");
        assert!(*calls.lock().unwrap() > 0);
    }
}

/// W-15: a writer that cannot get its I/O context (here: the OS refuses its worker thread, as
/// under a thread or address-space limit) fails to build with the OS error — no panic, no
/// writer that stays silent for ever — and the next writer works once threads can be had.
/// Files get a worker thread of their own on every platform.
#[test]
fn w15_a_refused_worker_thread_fails_the_build_and_the_next_writer_works() {
    let path = std::env::temp_dir().join(format!("pipewriter-w15-{}", std::process::id()));
    pipewriter::fault::fail_thread_spawns(1);
    let err = PipeWriter::new(std::fs::File::create(&path).unwrap())
        .expect_err("W-15: the build must fail when no thread can be had");
    assert_eq!(
        err.kind(),
        ErrorKind::OutOfMemory,
        "the OS error is returned: {err}"
    );

    let writer = PipeWriter::new(std::fs::File::create(&path).unwrap())
        .expect("W-15: a later writer works once threads can be had");
    let data = pattern(15, 1 << 20);
    writer.write(&data[..]).unwrap();
    writer.close(PATIENCE).unwrap();
    assert!(std::fs::read(&path).unwrap() == data);
    let _ = std::fs::remove_file(&path);
}
