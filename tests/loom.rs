//! Concurrency models of the writer over the fake backend (issue 6; W-3, W-5, W-8, W-9, W-10,
//! W-11, E-2, E-3).
//!
//! Each model runs the real `PipeWriter` (core, facade, locking, delivery) over the simulated
//! kernel of `src/sys/fake.rs`, whose work is done by a thread of the model calling
//! `Device::serve`. Two ways of building the same models:
//!
//! - **loom** (`RUSTFLAGS="--cfg loom"`): every interleaving of the threads, up to
//!   `LOOM_MAX_PREEMPTIONS` preemptions (default here: 2), is explored; a lost wake-up shows as
//!   a deadlock, a leaked writer as a leak. `ci/reliability-quick.sh` runs it.
//! - **Miri** (`RUSTFLAGS="--cfg pipewriter_fake_backend" cargo +nightly miri test --test
//!   loom`): the same models on plain threads, a few schedules each, checked for undefined
//!   behaviour (the fake kernel reads the in-flight data through raw pointers, as an OS does,
//!   so a buffer released before the kernel is done is a use after free).
//!
//! Every model checks the accounting identity *accepted = written + handed back*, that the
//! reader received exactly the written prefix, in order, and what the model is about.
#![cfg(all(unix, any(loom, pipewriter_fake_backend)))]

use std::io::ErrorKind;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc as StdArc, Mutex as StdMutex, Weak};
use std::time::Duration;

use libc::{EAGAIN, ENOMEM, EPIPE};
use pipewriter::fake_backend::{Device, Mode, Reply};
use pipewriter::{Builder, DropPolicy, Event, PipeWriter, Unwritten};

#[cfg(loom)]
use loom::thread;
#[cfg(not(loom))]
use std::thread;

/// Long enough never to pass: loom does not model time, and a timed wait there is untimed.
const PATIENCE: Duration = Duration::from_secs(3600);

/// Runs `f` under loom (every interleaving within the preemption bound) or, without loom,
/// a few times on plain threads. Prints how many executions were checked.
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let counted = move || {
        RUNS.fetch_add(1, Ordering::Relaxed);
        f();
    };
    let before = RUNS.load(Ordering::Relaxed);
    #[cfg(loom)]
    {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(2);
        }
        let bound = builder.preemption_bound;
        builder.check(counted);
        eprintln!(
            "loom model {name}: {} executions explored (preemption bound {bound:?})",
            RUNS.load(Ordering::Relaxed) - before
        );
    }
    #[cfg(not(loom))]
    {
        let runs: usize = std::env::var("PIPEWRITER_MODEL_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3);
        for _ in 0..runs {
            counted();
        }
        eprintln!(
            "model {name}: {} executions on plain threads",
            RUNS.load(Ordering::Relaxed) - before
        );
    }
}

/// A writer over a fresh pipe (never written to: the fake kernel takes the data) in `mode`.
fn writer(mode: Mode, configure: impl FnOnce(Builder) -> Builder) -> (PipeWriter, Device) {
    let (reader, handle) = std::io::pipe().expect("pipe");
    drop(reader);
    let device = Device::for_next_writer(mode);
    let writer = configure(Builder::new())
        .build(OwnedFd::from(handle))
        .expect("build");
    assert_eq!(device.mode(), mode);
    (writer, device)
}

/// The kernel thread: serves writes as `device.set_reply` says (in full by default).
fn kernel(device: &Device) -> thread::JoinHandle<()> {
    let device = device.clone();
    thread::spawn(move || {
        device.serve();
    })
}

/// The answers of a scripted kernel: `script[i]` for the i-th write, then everything in full.
fn script(device: &Device, script: &'static [Reply]) {
    let mut calls = 0;
    device.set_reply(move |len| {
        let answer = script.get(calls).copied().unwrap_or(Reply::Take(len));
        calls += 1;
        match answer {
            Reply::Take(n) => Reply::Take(n.min(len)),
            other => other,
        }
    });
}

/// W-6, W-10: what the reader received is exactly the written prefix of what was accepted,
/// and the rest was handed back.
fn check_identity(accepted: &[u8], written: u64, received: &[u8], unwritten: &Unwritten) {
    assert_eq!(received.len() as u64, written, "W-6: written = received");
    let mut all = received.to_vec();
    all.extend_from_slice(&unwritten.to_vec());
    assert_eq!(all, accepted, "W-10: accepted = written + handed back");
}

fn both_modes(name: &str, f: fn(Mode)) {
    model(&format!("{name} (completion)"), move || f(Mode::Completion));
    model(&format!("{name} (readiness)"), move || f(Mode::Readiness));
}

/// write ∥ completion ∥ stop: writes racing the kernel's completions and a stop (in
/// readiness mode the first write to the idle writer goes out from the writing thread
/// itself). The stop waits for the in-flight write, hands back exactly the rest, and later
/// writes are refused (W-3, W-5, W-10).
#[test]
fn w10_write_completion_and_stop_race() {
    both_modes("write ∥ completion ∥ stop", |mode| {
        let (writer, device) = writer(mode, |b| b.max_write_size(2));
        let writer = StdArc::new(writer);
        let kernel = kernel(&device);
        let other = {
            let writer = writer.clone();
            thread::spawn(move || {
                let mut accepted = Vec::new();
                for piece in [&b"abc"[..], &b"de"[..]] {
                    match writer.write(piece) {
                        Ok(_) => accepted.extend_from_slice(piece),
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::NotConnected, "W-10: after stop");
                            break;
                        }
                    }
                }
                accepted
            })
        };
        let unwritten = writer.stop();
        let accepted = other.join().unwrap();
        assert!(
            writer.stop().is_empty(),
            "W-10: a second stop hands back nothing"
        );
        let accepted = &accepted[..];
        let written = writer.bytes_written();
        assert_eq!(writer.bytes_accepted(), accepted.len() as u64);
        drop(writer);
        kernel.join().unwrap();
        check_identity(accepted, written, &device.received(), &unwritten);
        assert!(
            !device.is_handle_open(),
            "the handle is closed with the writer"
        );
    });
}

/// drop ∥ an in-flight completion, discard policy: the drop stops the writer, which waits
/// until the kernel is done with the in-flight buffer before anything is released or the
/// handle closed (W-5, W-11). The fake panics on a close under an in-flight write; Miri sees
/// a use after free if the buffer went early.
#[test]
fn w5_discarding_drop_waits_for_the_in_flight_write() {
    both_modes("drop(discard) ∥ in-flight completion", |mode| {
        let (writer, device) = writer(mode, |b| {
            b.max_write_size(3).drop_policy(DropPolicy::Discard)
        });
        writer.write(&b"abcdef"[..]).unwrap();
        let kernel = kernel(&device);
        drop(writer);
        kernel.join().unwrap();
        let received = device.received();
        assert!(
            b"abcdef".starts_with(&received),
            "W-2: a prefix, in order: {received:?}"
        );
        assert!(!device.is_handle_open());
    });
}

/// drop ∥ an in-flight completion, linger policy: everything queued is still written after
/// the drop, then the handle is closed (W-11); the writer stays alive while the kernel holds
/// a write (loom reports a leak or a use after free otherwise).
#[test]
fn w11_lingering_drop_finishes_the_queue() {
    both_modes("drop(linger) ∥ in-flight completion", |mode| {
        let (writer, device) = writer(mode, |b| b.max_write_size(3));
        writer.write(&b"abcdef"[..]).unwrap();
        let kernel = kernel(&device);
        drop(writer);
        kernel.join().unwrap();
        assert_eq!(device.received(), b"abcdef", "W-11: nothing lost on drop");
        assert!(!device.is_handle_open(), "W-11: closed once drained");
    });
}

/// A handler that calls `write` and then `stop` from the I/O context (W-8, W-10): neither
/// deadlocks, the stop hands back exactly what was not written, and no event is delivered
/// after it.
#[test]
fn w8_handler_calls_write_and_stop() {
    both_modes("handler calls write and stop", |mode| {
        #[derive(Default)]
        struct Seen {
            writer: Option<Weak<PipeWriter>>,
            stopped: Option<(bool, Unwritten)>,
            after_stop: usize,
        }
        let seen = StdArc::new(StdMutex::new(Seen::default()));
        let handler_seen = seen.clone();
        let (writer, device) = writer(mode, move |b| {
            b.max_write_size(1).on_event(move |event| {
                let mut seen = handler_seen.lock().unwrap();
                if seen.stopped.is_some() {
                    seen.after_stop += 1;
                    return;
                }
                if let Event::Written(_) = event {
                    let writer = seen.writer.as_ref().and_then(Weak::upgrade);
                    drop(seen);
                    let Some(writer) = writer else { return };
                    let wrote = writer.write(&b"x"[..]).is_ok();
                    let unwritten = writer.stop();
                    handler_seen.lock().unwrap().stopped = Some((wrote, unwritten));
                }
            })
        });
        let writer = StdArc::new(writer);
        seen.lock().unwrap().writer = Some(StdArc::downgrade(&writer));
        writer.write(&b"abc"[..]).unwrap();
        let kernel = kernel(&device);
        // Ends when the handler's stop ends the writer (NotConnected).
        let flushed = writer.flush(PATIENCE);
        assert_eq!(
            flushed.unwrap_err().kind(),
            ErrorKind::NotConnected,
            "W-9: a flush sees the stop"
        );
        let written = writer.bytes_written();
        drop(writer);
        kernel.join().unwrap();
        let seen = seen.lock().unwrap();
        let (wrote, unwritten) = seen
            .stopped
            .as_ref()
            .expect("the handler stopped the writer");
        assert!(*wrote, "W-8: write from a handler is accepted");
        check_identity(b"abcx", written, &device.received(), unwritten);
        assert_eq!(seen.after_stop, 0, "W-10: no event after stop");
    });
}

/// wait_for_bytes_written ∥ completion: the waiter is always woken (no lost wake-up: under
/// loom a missed notification is a deadlock), and returns true (W-9).
#[test]
fn w9_wait_for_bytes_written_is_not_lost() {
    both_modes("wait_for_bytes_written ∥ completion", |mode| {
        let (writer, device) = writer(mode, |b| b.max_write_size(2));
        // The first write finds the pipe full, so the waiter really waits for the kernel.
        script(&device, &[Reply::Error(EAGAIN)]);
        writer.write(&b"abc"[..]).unwrap();
        let kernel = kernel(&device);
        assert!(
            writer.wait_for_bytes_written(PATIENCE).unwrap(),
            "W-9: bytes were written"
        );
        writer.flush(PATIENCE).unwrap();
        assert_eq!(writer.bytes_written(), 3);
        writer.close(PATIENCE).unwrap();
        drop(writer);
        kernel.join().unwrap();
        assert_eq!(device.received(), b"abc");
    });
}

/// The reader goes away mid-way ∥ stop: the terminal event and the stop agree on what was
/// not written (E-2, W-10).
#[test]
fn e2_peer_closed_and_stop_race() {
    both_modes("peer closed ∥ stop", |mode| {
        let (writer, device) = writer(mode, |b| b.max_write_size(2));
        script(
            &device,
            &[Reply::Take(2), Reply::Error(EPIPE), Reply::Error(EPIPE)],
        );
        writer.write(&b"abcd"[..]).unwrap();
        let kernel = kernel(&device);
        let unwritten = writer.stop();
        let written = writer.bytes_written();
        drop(writer);
        kernel.join().unwrap();
        check_identity(b"abcd", written, &device.received(), &unwritten);
    });
}

/// Short writes, a full pipe and a transient error, then close (W-6, W-9, E-3): close waits
/// for the whole queue and the reader gets every byte once.
#[test]
fn e3_short_full_and_transient_writes_then_close() {
    both_modes("short, full, transient ∥ close", |mode| {
        let (writer, device) = writer(mode, |b| b.max_write_size(4));
        script(
            &device,
            &[Reply::Take(1), Reply::Error(EAGAIN), Reply::Error(ENOMEM)],
        );
        writer.write(&b"abcdef"[..]).unwrap();
        let kernel = kernel(&device);
        writer.close(PATIENCE).unwrap();
        assert_eq!(writer.bytes_written(), 6);
        drop(writer);
        kernel.join().unwrap();
        assert_eq!(device.received(), b"abcdef");
        assert!(!device.is_handle_open(), "W-9: closed after draining");
    });
}
