//! Events and their delivery (W-7, W-8), on every platform.

mod util;

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pipewriter::{Builder, Event, PipeWriter};
use util::{collect, pattern, Recorder, PATIENCE};

#[test]
fn w7_written_sums_to_bytes_written_and_drained_comes_last() {
    let (reader, writer) = std::io::pipe().unwrap();
    let recorder = Recorder::default();
    let writer = Builder::new()
        .on_event(recorder.handler())
        .build(writer)
        .unwrap();
    let received = collect(reader);
    let data = pattern(1, 3 << 20);
    for piece in data.chunks(7919) {
        writer.write(piece).unwrap();
    }
    writer.flush(PATIENCE).unwrap();
    recorder.wait_for("Drained", |e| e.last() == Some(&Event::Drained));
    assert_eq!(
        recorder.written_sum(),
        data.len() as u64,
        "W-7: sum of Written"
    );
    assert_eq!(writer.bytes_written(), data.len() as u64, "W-6");
    assert_eq!(writer.bytes_to_write(), 0, "W-6");
    writer.close(PATIENCE).unwrap();
    assert!(received.join().unwrap() == data);
}

#[test]
fn w7_completions_before_delivery_are_coalesced() {
    // The reader is stalled while many small writes queue, then drains everything at once:
    // far fewer Written events than writes.
    let (mut reader, writer) = std::io::pipe().unwrap();
    let recorder = Recorder::default();
    let writer = Builder::new()
        .on_event(recorder.handler())
        .build(writer)
        .unwrap();
    for i in 0..20_000u32 {
        writer.write(&i.to_le_bytes()).unwrap();
    }
    let mut sink = vec![0u8; 80_000];
    reader.read_exact(&mut sink).unwrap();
    recorder.wait_for("all written", |_| recorder.written_sum() == 80_000);
    let written_events = recorder
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Written(_)))
        .count();
    assert!(
        written_events < 2_000,
        "W-7: {written_events} Written events for 20000 writes"
    );
    drop(writer);
}

#[test]
fn w8_pull_side_receives_events_in_order() {
    let (reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    let events = writer.events();
    let received = collect(reader);
    writer.write(vec![5u8; 100_000]).unwrap();
    let mut written = 0;
    loop {
        match events.recv_timeout(PATIENCE).expect("an event") {
            Event::Written(n) => written += n,
            Event::Drained => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(written, 100_000, "W-7/W-8: Written before Drained, summed");
    assert!(events.try_recv().is_none());
    writer.close(PATIENCE).unwrap();
    assert_eq!(received.join().unwrap().len(), 100_000);
}

/// A handler that writes, flushes, stops and drops its own writer: no deadlock, no nested
/// call (W-8, W-9, W-10).
#[test]
fn w8_handler_may_write_flush_stop_and_drop_the_writer() {
    let (reader, writer) = std::io::pipe().unwrap();
    let slot: Arc<Mutex<Option<PipeWriter>>> = Arc::new(Mutex::new(None));
    let depth = Arc::new(AtomicUsize::new(0));
    let max_depth = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let flush_error = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicBool::new(false));
    let handler = {
        let (slot, depth, max_depth, calls, flush_error, done) = (
            slot.clone(),
            depth.clone(),
            max_depth.clone(),
            calls.clone(),
            flush_error.clone(),
            done.clone(),
        );
        move |event: Event| {
            let d = depth.fetch_add(1, Ordering::SeqCst) + 1;
            max_depth.fetch_max(d, Ordering::SeqCst);
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let guard = slot.lock().unwrap();
            if let (Some(writer), Event::Written(_)) = (guard.as_ref(), &event) {
                match n {
                    0 => {
                        // Write from the handler: the nested call must not call us back.
                        writer.write(&b"from-handler"[..]).unwrap();
                        *flush_error.lock().unwrap() =
                            Some(writer.flush(Duration::from_secs(5)).unwrap_err().kind());
                    }
                    _ => {
                        let _ = writer.stop();
                        drop(guard);
                        let taken = slot.lock().unwrap().take();
                        drop(taken); // Dropping the writer from its own handler.
                        done.store(true, Ordering::SeqCst);
                    }
                }
            }
            depth.fetch_sub(1, Ordering::SeqCst);
        }
    };
    let writer = Builder::new().on_event(handler).build(writer).unwrap();
    *slot.lock().unwrap() = Some(writer);
    let received = collect(reader);
    slot.lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .write(&b"first"[..])
        .unwrap();
    util::wait_until("the handler to stop and drop the writer", || {
        done.load(Ordering::SeqCst)
    });
    assert_eq!(max_depth.load(Ordering::SeqCst), 1, "W-8: never nested");
    assert_eq!(
        *flush_error.lock().unwrap(),
        Some(std::io::ErrorKind::Deadlock),
        "W-9: a wait inside a handler fails instead of deadlocking"
    );
    let data = received.join().unwrap();
    assert!(data.starts_with(b"first"), "W-2");
    assert!(data.len() <= b"firstfrom-handler".len());
}

#[test]
fn w8_panicking_handler_does_not_poison_the_writer() {
    let (reader, writer) = std::io::pipe().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let writer = Builder::new()
        .on_event(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            panic!("handler panic (expected by the test)");
        })
        .build(writer)
        .unwrap();
    let received = collect(reader);
    writer.write(&b"one"[..]).unwrap();
    util::wait_until("the first event", || calls.load(Ordering::SeqCst) > 0);
    writer.write(&b"two"[..]).unwrap();
    writer.flush(PATIENCE).unwrap();
    assert_eq!(writer.bytes_written(), 6);
    writer.close(PATIENCE).unwrap();
    assert_eq!(received.join().unwrap(), b"onetwo");
    assert!(
        calls.load(Ordering::SeqCst) >= 2,
        "events keep coming after a panic"
    );
}

#[test]
fn w8_handlers_never_run_concurrently_for_one_writer() {
    let (reader, writer) = std::io::pipe().unwrap();
    let inside = Arc::new(AtomicBool::new(false));
    let overlap = Arc::new(AtomicBool::new(false));
    let handler = {
        let (inside, overlap) = (inside.clone(), overlap.clone());
        move |_event: Event| {
            if inside.swap(true, Ordering::SeqCst) {
                overlap.store(true, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_micros(200));
            inside.store(false, Ordering::SeqCst);
        }
    };
    let writer = Arc::new(Builder::new().on_event(handler).build(writer).unwrap());
    let received = collect(reader);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let writer = writer.clone();
            std::thread::spawn(move || {
                for i in 0..500u32 {
                    writer
                        .write(&[t as u8; 100][..(i % 100 + 1) as usize])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    writer.flush(PATIENCE).unwrap();
    assert!(
        !overlap.load(Ordering::SeqCst),
        "W-8: one handler call at a time"
    );
    drop(writer);
    let _ = received.join().unwrap();
}

/// W-8: the receiver's memory is bounded. However many events the writer produces while the
/// receiver is not read, what waits for it is coalesced: the sum of `Written` is exact and
/// each other kind waits at most once.
#[test]
fn w8_a_receiver_that_is_never_read_holds_a_few_coalesced_events() {
    let (reader, end) = pipewriter::pipe().unwrap();
    let received = collect(reader);
    let writer = PipeWriter::new(end).unwrap();
    let events = writer.events();
    let rounds = if cfg!(windows) { 20_000 } else { 200_000 };
    for i in 0..rounds {
        writer.write(&[i as u8; 8][..]).unwrap();
        writer.flush(PATIENCE).unwrap();
    }
    // The last events may still be on their way to the receiver: drain until they are there.
    let total = 8 * rounds as u64;
    let mut written = 0;
    let mut drains = 0;
    while written < total {
        let waiting = events.drain();
        assert!(
            waiting.len() <= 4,
            "W-8: {} events waited for the receiver: {:?}",
            waiting.len(),
            &waiting[..waiting.len().min(8)]
        );
        for event in &waiting {
            match event {
                Event::Written(n) => written += n,
                Event::Drained => {}
                other => panic!("unexpected event {other:?}"),
            }
        }
        drains += 1;
        assert!(
            drains < 100_000,
            "W-7: only {written} of {total} bytes reported"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(written, total, "W-7: the sum is exact");
    writer.close(PATIENCE).unwrap();
    assert_eq!(received.join().unwrap().len(), 8 * rounds);
}

/// W-8: once the last receiver is dropped, nothing is kept for receivers: a receiver taken
/// later starts afresh.
#[test]
fn w8_dropping_the_last_receiver_detaches_it() {
    let (reader, end) = pipewriter::pipe().unwrap();
    let received = collect(reader);
    let writer = PipeWriter::new(end).unwrap();
    let first = writer.events();
    let second = writer.events();
    writer.write(&b"abc"[..]).unwrap();
    writer.flush(PATIENCE).unwrap();
    drop(first);
    util::wait_until("the event reached the live receiver", || {
        !second.drain().is_empty()
    });
    drop(second);
    writer.write(&b"defg"[..]).unwrap();
    writer.flush(PATIENCE).unwrap();
    let later = writer.events();
    assert_eq!(
        later.try_recv(),
        None,
        "W-8: events of a time without receivers are not kept for a later one"
    );
    writer.write(&b"h"[..]).unwrap();
    writer.flush(PATIENCE).unwrap();
    util::wait_until("the new receiver gets new events", || {
        later.drain().contains(&Event::Written(1))
    });
    writer.close(PATIENCE).unwrap();
    assert_eq!(received.join().unwrap(), b"abcdefgh");
}

/// W-13: two writers whose handlers each stop the other's writer, running at the same time on
/// two threads (writers of files have a worker thread each, on every platform), must not
/// deadlock: a `stop` called from a handler does not wait for the other writer's handler.
#[test]
fn w13_handlers_that_stop_each_others_writers_do_not_deadlock() {
    use std::sync::{OnceLock, Weak};

    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let arrived = Arc::new(AtomicUsize::new(0));
    let overlapped = Arc::new(AtomicUsize::new(0));
    let others: [Arc<OnceLock<Weak<PipeWriter>>>; 2] = Default::default();
    let paths: Vec<_> = (0..2)
        .map(|i| dir.join(format!("pipewriter-w13-{pid}-{i}")))
        .collect();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let mut writers = Vec::new();
    for i in 0..2 {
        let other = others[1 - i].clone();
        let (arrived, overlapped) = (arrived.clone(), overlapped.clone());
        let done = done_tx.clone();
        let file = std::fs::File::create(&paths[i]).unwrap();
        let writer = Builder::new()
            .on_event(move |event| {
                if !matches!(event, Event::Written(_)) {
                    return;
                }
                // Both handlers are inside a delivery at once before either stops the other.
                arrived.fetch_add(1, Ordering::SeqCst);
                let start = std::time::Instant::now();
                while arrived.load(Ordering::SeqCst) < 2 && start.elapsed() < PATIENCE {
                    std::thread::yield_now();
                }
                if arrived.load(Ordering::SeqCst) >= 2 {
                    overlapped.fetch_add(1, Ordering::SeqCst);
                }
                if let Some(other) = other.get().and_then(Weak::upgrade) {
                    let _ = other.stop();
                }
                let _ = done.send(i);
            })
            .build(file)
            .unwrap();
        writers.push(Arc::new(writer));
    }
    for (i, writer) in writers.iter().enumerate() {
        assert!(others[i].set(Arc::downgrade(writer)).is_ok());
    }
    for writer in &writers {
        writer.write(&b"kick"[..]).unwrap();
    }
    for _ in 0..2 {
        done_rx
            .recv_timeout(PATIENCE)
            .expect("W-13: the handlers deadlocked stopping each other's writers");
    }
    assert_eq!(
        overlapped.load(Ordering::SeqCst),
        2,
        "both handlers must have run at the same time, or the test proves nothing"
    );
    drop(writers);
    for path in &paths {
        let _ = std::fs::remove_file(path);
    }
}

/// W-13: a handler whose drop panics, dropped on the I/O context when the writer's last
/// reference goes there (a lingering drop finishing in the background), breaks no other
/// writer.
#[test]
fn w13_a_handler_whose_drop_panics_breaks_no_other_writer() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("this handler's state panics when dropped");
        }
    }
    let (reader, end) = pipewriter::pipe().unwrap();
    let guard = PanicsOnDrop;
    let writer = Builder::new()
        .on_event(move |_| {
            let _ = &guard;
        })
        .build(end)
        .unwrap();
    // Queued data the I/O context finishes after the drop: it holds the last reference.
    let data = pattern(8, 4 << 20);
    writer.write(&data[..]).unwrap();
    drop(writer);
    let received = collect(reader);
    assert!(
        received.join().unwrap() == data,
        "W-11: the lingering drop finished"
    );

    util::assert_a_new_writer_delivers(
        &data,
        PATIENCE,
        "W-13: another writer stalls after a handler's drop panicked",
    );
}
