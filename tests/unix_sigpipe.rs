//! SIGPIPE that belongs to the application (P-4): after a write fails with `EPIPE`, the writer
//! consumes the SIGPIPE that its own write raised and nothing else. An application that blocks
//! SIGPIPE in every thread and takes it with `sigwait` or `signalfd` must still find the
//! SIGPIPE it sent itself with `kill`.
//!
//! The check changes the signal mask and the SIGPIPE disposition of the whole process, so it
//! runs in a child process: each parent test below re-runs this test executable with only
//! [`sigpipe_child`] selected and [`CHILD_ENV`] naming the scenario, then asserts on the
//! child's exit status and output.
//!
//! How the child is set up, and why:
//! - A process-directed signal (one sent with `kill`) is delivered to some thread that does
//!   not block it; it stays pending only while *every* thread blocks it. The test harness runs
//!   each test on a thread of its own, so blocking SIGPIPE at the start of the test would
//!   leave the harness's main thread open: the application's SIGPIPE would be delivered there
//!   (killing the child with the default action) instead of staying pending. So the parent
//!   blocks SIGPIPE in the child between `fork` and `exec` (`pre_exec`). The signal mask
//!   survives `execve` and every new thread inherits its creator's mask, so every thread of
//!   the child, the harness's main thread, the test thread and the writer's I/O thread
//!   included, blocks SIGPIPE from its first instruction. The child checks this before it
//!   relies on it (on Linux for each of its threads, from `/proc`).
//! - The child sets SIGPIPE's disposition to the default action (death), as in the
//!   application this models: if anything unblocks SIGPIPE while one is pending, the child
//!   dies of it and the parent reports that. (The Rust runtime starts with SIGPIPE ignored,
//!   and `SIG_IGN` would not do here: POSIX leaves it unspecified whether an ignored signal
//!   stays pending while blocked, and setting `SIG_IGN` discards pending ones.)
//!
//! Two scenarios, one per path on which the crate writes: a small write on an idle writer goes
//! out from the caller's thread (`"callers-thread"`), and once the pipe is full the I/O
//! thread writes (`"io-thread"`). In both, the application's SIGPIPE is pending (`kill`)
//! before the write that fails with `EPIPE`, and after the writer reported the closed peer the
//! child checks that this SIGPIPE, and only it, is still pending, and takes it (`sigwait`) so
//! that the process ends clean.
//!
//! On Linux, FreeBSD and Android the kernel directs a write's SIGPIPE at the writing thread, so
//! the two signals are told apart. Where the kernel directs it at the process (macOS and
//! NetBSD), the write's SIGPIPE merges with one already pending, and this test states the
//! requirement such a port must meet (for instance by not raising the signal at all, with
//! `F_SETNOSIGPIPE`).
#![cfg(unix)]

mod util;

use std::io::{self, ErrorKind};
use std::os::unix::process::{CommandExt, ExitStatusExt};

use pipewriter::PipeWriter;
use util::PATIENCE;

/// Names the scenario the child runs; unset in a normal test run.
const CHILD_ENV: &str = "PIPEWRITER_SIGPIPE_CHILD";

/// The name of the child test, as the harness's `--exact` filter wants it.
const CHILD_TEST: &str = "sigpipe_child";

/// The child prints this, the scenario and `: ok` when it got to the end.
const CHILD_DONE: &str = "sigpipe child";

#[test]
fn p4_app_sigpipe_survives_epipe_of_a_write_on_the_callers_thread() {
    run_child("callers-thread");
}

#[test]
fn p4_app_sigpipe_survives_epipe_of_a_write_on_the_io_thread() {
    run_child("io-thread");
}

/// Runs [`sigpipe_child`] in a child process with SIGPIPE blocked from the start (see the
/// module docs) and asserts that it passed.
fn run_child(scenario: &str) {
    if cfg!(not(any(target_os = "linux", target_os = "android"))) {
        eprintln!(
            "NOTE: P-4 ({scenario}): no /proc/self/task here: the per-thread checks (every \
             thread blocks SIGPIPE; no thread keeps one of its own pending) are NOT CHECKED, \
             only the process-wide ones"
        );
    }
    let mut command = util::this_test_in_a_child(CHILD_TEST, CHILD_ENV, scenario);
    let set = sigpipe_set();
    // SAFETY: the closure runs in the forked child before `exec`, where only
    // async-signal-safe functions may be called: it calls `sigprocmask` (async-signal-safe,
    // signal-safety(7)) on a set prepared before the fork, and reads `errno` on failure;
    // it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = command.output().expect("spawn the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        out.status.signal(),
        None,
        "P-4 ({scenario}): the child was killed by a signal ({:?}; SIGPIPE is {}):\n{report}",
        out.status,
        libc::SIGPIPE
    );
    assert!(
        out.status.success(),
        "P-4 ({scenario}): the child test failed ({:?}):\n{report}",
        out.status
    );
    assert!(
        stdout.contains(&format!("{CHILD_DONE} {scenario}: ok")),
        "the child test did not run to its end (was it selected?):\n{report}"
    );
}

/// The body of the parent tests, run in their child processes.
#[test]
fn sigpipe_child() {
    // Does nothing unless started by `run_child`, which sets the variable: this test changes
    // the whole process's signal state and needs SIGPIPE blocked in every thread from the
    // start. The parent tests above are the real tests; they run this one as their child.
    let Ok(scenario) = std::env::var(CHILD_ENV) else {
        return;
    };
    assert!(
        this_thread_blocks_sigpipe(),
        "setup: SIGPIPE is not blocked in the test thread (the parent's pre_exec did not reach it)"
    );
    #[cfg(any(target_os = "linux", target_os = "android"))]
    for thread in proc_threads() {
        assert!(
            thread.has("SigBlk"),
            "setup: thread {} does not block SIGPIPE",
            thread.tid
        );
    }
    // SAFETY: setting a signal's disposition to the default action runs no code of ours; the
    // signal is blocked in every thread (checked above).
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR, "setup: signal(SIGPIPE, SIG_DFL)");
    assert!(!sigpipe_pending(), "setup: a SIGPIPE is pending already");

    match scenario.as_str() {
        "callers-thread" => epipe_on_the_callers_thread(),
        "io-thread" => epipe_on_the_io_thread(),
        other => panic!("unknown scenario {other:?}"),
    }

    // The application's SIGPIPE is still pending, and nothing else is: on Linux, it is in the
    // process's shared set and no thread (the writer's I/O thread included) has one of its
    // own left.
    assert!(
        sigpipe_pending(),
        "P-4: the application's SIGPIPE (sent with kill) was consumed by the writer"
    );
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        assert!(
            proc_threads().iter().all(|t| t.has("ShdPnd")),
            "P-4: the application's SIGPIPE is no longer pending for the process"
        );
        for thread in proc_threads() {
            assert!(
                !thread.has("SigPnd"),
                "P-4: thread {} still has a SIGPIPE of its own pending (the write's was not consumed)",
                thread.tid
            );
        }
    }
    let mut signal = 0;
    // SAFETY: valid set and out-pointer; SIGPIPE is pending (checked above), so this returns
    // at once.
    let rc = unsafe { libc::sigwait(&sigpipe_set(), &mut signal) };
    assert_eq!((rc, signal), (0, libc::SIGPIPE), "sigwait");
    assert!(
        !sigpipe_pending(),
        "P-4: a second SIGPIPE was pending: the write's own was not consumed"
    );
    println!("{CHILD_DONE} {scenario}: ok");
}

/// A small write on an idle writer whose reader is gone: it goes out from this thread
/// (`Shared::write_now`), with SIGPIPE already blocked here, as in the modelled application.
fn epipe_on_the_callers_thread() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let writer = PipeWriter::new(writer).unwrap();
    send_app_sigpipe();
    writer.write(&b"hello"[..]).unwrap();
    if cfg!(pipewriter_force_fallback) {
        eprintln!("note: the blocking fallback is forced: the write went out from its worker");
    } else {
        assert!(
            writer.is_peer_closed(),
            "setup: the write did not go out from the caller's thread"
        );
    }
    assert_eq!(
        writer.flush(PATIENCE).unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
}

/// A write larger than the pipe holds: what does not fit is left to the I/O thread, which
/// waits for room; then the reader goes away and the I/O thread's next write fails.
fn epipe_on_the_io_thread() {
    let (reader, writer) = std::io::pipe().unwrap();
    let writer = PipeWriter::new(writer).unwrap();
    writer.write(vec![7u8; 1 << 20]).unwrap();
    assert!(!writer.is_peer_closed());
    send_app_sigpipe();
    // From here on only the I/O thread writes: this thread makes no more writes.
    drop(reader);
    assert_eq!(
        writer.flush(PATIENCE).unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
}

/// The application sends itself a SIGPIPE, left pending since every thread blocks it.
fn send_app_sigpipe() {
    // SAFETY: sending a signal to our own process; it is blocked in every thread, so no
    // action runs.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGPIPE) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    assert!(
        sigpipe_pending(),
        "setup: the application's SIGPIPE is not pending"
    );
}

fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: `sigset_t` is plain data, initialised by `sigemptyset` before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid signal set.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
    }
    set
}

/// SIGPIPE is pending for this thread or for the process (`sigpending` reports both).
fn sigpipe_pending() -> bool {
    // SAFETY: `sigset_t` is plain data, filled in by `sigpending`.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid for writing.
    assert_eq!(unsafe { libc::sigpending(&mut set) }, 0, "sigpending");
    // SAFETY: `set` was initialised by `sigpending`.
    unsafe { libc::sigismember(&set, libc::SIGPIPE) == 1 }
}

fn this_thread_blocks_sigpipe() -> bool {
    // SAFETY: `sigset_t` is plain data, filled in by `pthread_sigmask`.
    let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a null new set only reads the mask into `mask`.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask) };
    assert_eq!(rc, 0, "pthread_sigmask");
    // SAFETY: `mask` was initialised by `pthread_sigmask`.
    unsafe { libc::sigismember(&mask, libc::SIGPIPE) == 1 }
}

/// One thread's signal sets, from `/proc/self/task/TID/status` (proc(5)).
#[cfg(any(target_os = "linux", target_os = "android"))]
struct ProcThread {
    tid: String,
    status: String,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl ProcThread {
    /// SIGPIPE is in the set on the status line `field` (`SigBlk`: blocked, `SigPnd`: pending
    /// for this thread, `ShdPnd`: pending for the process). The set is printed in hex, most
    /// significant digit first, with signal N as bit N - 1.
    fn has(&self, field: &str) -> bool {
        let prefix = format!("{field}:");
        let line = self
            .status
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {field} in the status of thread {}", self.tid));
        let bit = (libc::SIGPIPE - 1) as usize;
        let digit = line
            .trim()
            .chars()
            .rev()
            .nth(bit / 4)
            .and_then(|c| c.to_digit(16))
            .unwrap_or_else(|| panic!("bad {field} line {line:?}"));
        digit & (1 << (bit % 4)) != 0
    }
}

/// Every thread of this process.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn proc_threads() -> Vec<ProcThread> {
    let mut threads = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let entry = entry.unwrap();
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue; // the thread ended meanwhile
        };
        threads.push(ProcThread {
            tid: entry.file_name().to_string_lossy().into_owned(),
            status,
        });
    }
    assert!(!threads.is_empty());
    threads
}
