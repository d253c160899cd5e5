//! `fork()` without `exec` (W-15): a child never touches its parent's writers, an inherited
//! writer refuses clearly in the child, and a new writer in the child works. Unix only: there
//! is no `fork` on Windows.
#![cfg(unix)]

mod util;

use std::io::ErrorKind;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use pipewriter::PipeWriter;
use util::{collect, pattern, wait_until_pipe_full, PATIENCE};

/// What the child checks; any panic is reported and turned into a non-zero exit.
fn in_child(inherited: &PipeWriter, receiver: &pipewriter::EventReceiver) {
    // A receiver the parent made never waits in the child (its lock may be held for ever).
    let start = Instant::now();
    let _ = receiver.try_recv();
    let _ = receiver.drain();
    assert_eq!(receiver.recv_timeout(Duration::from_secs(10)), None);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "W-15: the receiver waited"
    );

    // The inherited writer refuses at once, with a clear error.
    let err = inherited
        .write(&b"from the child"[..])
        .expect_err("W-15: an inherited writer must refuse in the child");
    assert!(
        err.error().to_string().contains("fork"),
        "the error says why: {}",
        err.error()
    );
    let start = Instant::now();
    let err = inherited.flush(Duration::from_secs(10)).unwrap_err();
    assert_ne!(
        err.kind(),
        ErrorKind::TimedOut,
        "W-15: waits refuse at once"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(inherited.stop().is_empty(), "the queue is the parent's");

    // Nor do the writes made from the caller's thread (W-16 … W-18) or the exit flush (W-20):
    // the parent's writer, whose pipe is full, is neither written nor waited for.
    use std::io::Write;
    let start = Instant::now();
    assert!(inherited.blocking().write(b"in place?").is_err());
    let mut front = inherited.blocking().buffered();
    assert!(front.write(b"gathered").is_ok(), "the front only gathers");
    assert!(
        front.flush().is_err(),
        "W-15: handing the block over refuses"
    );
    drop(front.into_unflushed());
    let file = std::fs::File::open("/proc/self/exe").unwrap();
    assert!(inherited
        .write_file(&file, 0..1024, Duration::from_secs(10))
        .is_err());
    let report = pipewriter::flush_all(Duration::from_secs(10));
    assert_eq!(
        report.bytes_unwritten(),
        0,
        "W-20: the parent's queue is not the child's"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "W-15: a write from the caller's thread or the exit flush waited in the child"
    );

    // A new writer in the child works.
    util::assert_a_new_writer_delivers(
        &pattern(44, 1 << 20),
        Duration::from_secs(10),
        "W-15: a new writer in the child writes",
    );
}

#[test]
fn w15_a_forked_child_leaves_the_parents_writer_alone_and_new_writers_work() {
    let (reader, end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(end).unwrap();
    let receiver = writer.events();
    let data = pattern(4, 4 << 20);
    writer.write(&data[..]).unwrap();
    wait_until_pipe_full(&writer);

    // SAFETY: the child only runs this crate's code and the checks above, then leaves with
    // `_exit` (no atexit handlers, no unwinding into the test harness, whose other threads do
    // not exist in the child); `alarm` ends it should anything hang.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: plain system calls in the child.
        unsafe { libc::alarm(20) };
        let ok = panic::catch_unwind(AssertUnwindSafe(|| {
            in_child(&writer, &receiver);
            // Stop and drop in the child must not deregister the parent's writer.
            drop(writer);
        }))
        .is_ok();
        // SAFETY: leaves the child at once, as a forked child of a threaded process should.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child's checks failed (status {status:#x}; a signal 14 means it hung)"
    );

    // The parent's writer still works: its registration with the poller was left alone.
    let reading = collect(reader);
    writer
        .close(PATIENCE)
        .expect("W-15: the parent's writer hangs after the child stopped its copy");
    assert!(reading.join().unwrap() == data, "W-2: every byte, in order");
}
