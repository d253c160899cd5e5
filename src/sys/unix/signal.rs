//! SIGPIPE without touching the process-wide disposition (P-4).
//!
//! Every write of this crate happens on a thread of its own (the reactor or a worker), and
//! those threads block `SIGPIPE` for themselves when they start; the rare write made on a
//! caller's thread blocks it around the write ([`SigpipeBlocked`]). A write to a closed pipe
//! then leaves the signal pending instead of delivering it, and after `EPIPE` the pending
//! signal is consumed with `sigtimedwait` ([`consume_pending_sigpipe`]) so it can never be
//! delivered later. The process's disposition of `SIGPIPE` is never read or changed, so C
//! hosts and `SIG_DFL` processes are safe, and nothing that other code set up is disturbed.
//!
//! # Only the write's own signal is consumed
//!
//! The process may have a `SIGPIPE` of its own pending: an application that blocks `SIGPIPE`
//! in every thread and takes it with `sigwait` or a `signalfd` can be sent one with `kill`
//! at any time. Consuming that one would lose it. The clean-up therefore takes exactly one
//! signal, and relies on where the kernel puts each of them.
//!
//! On Linux (and Android, the same kernel):
//!
//! - A write that fails with `EPIPE` raises `SIGPIPE` at the writing thread only: `pipe_write`
//!   (and the stream socket send paths) call `send_sig(SIGPIPE, current, 0)`, which queues the
//!   signal on that thread's own pending set (`PIDTYPE_PID`). signal(7) describes
//!   kernel-generated signals in general as process-directed; this one is not.
//! - A `kill` is process-directed: its signal is pending in the set shared by all threads.
//! - Standard signals do not queue: each set holds at most one pending `SIGPIPE`; a second one
//!   raised while one is pending in the same set merges with it (signal(7)).
//! - `sigtimedwait` takes a signal from the calling thread's own set before the shared one
//!   (`dequeue_signal` in kernel/signal.c).
//!
//! So one `sigtimedwait` on the writing thread, right after the `EPIPE`, takes that write's
//! signal and leaves a process-directed one where it was. Repeating it until nothing is pending
//! would also take the process's. Before taking, the thread's own pending set is read from
//! `/proc/thread-self/status` (`SigPnd`, proc(5)): when it holds no `SIGPIPE` the write raised
//! none (a driver may fail with `EPIPE` without raising the signal) and nothing is consumed,
//! since the only `SIGPIPE` left could be the process's. Where that file cannot be read, the
//! single `sigtimedwait` is done anyway: pipes and stream sockets do raise the signal with the
//! error.
//!
//! What remains: if the writing thread already had a `SIGPIPE` of its own pending (a caller's
//! thread that blocks `SIGPIPE` itself, sent one with `pthread_kill` or left one from a write
//! of its own), the write's signal merges with it and the one consumed stood for both. The two
//! cannot be told apart. The crate's own threads have none: nothing else directs signals at
//! them.
//!
//! # Other Unixes
//!
//! On FreeBSD and NetBSD the code is the same (one `sigtimedwait`, without the `/proc` check);
//! Apple systems and OpenBSD take a different path (below). Whether the clean-up is exact
//! depends on where the kernel puts the write's signal:
//!
//! - FreeBSD: `dofilewrite` raises it at the writing thread (`tdsignal`), `kill` queues on the
//!   process, and `sigtimedwait` looks at the thread's queue before the process's: exact, as on
//!   Linux. (DragonFly BSD was not checked.)
//! - NetBSD: `dofilewrite` raises it at the process (`psignal`), in the same set as a `kill`.
//!   If the process's `SIGPIPE` is pending already, the write's merges with it and the single
//!   `sigtimedwait` takes the merged one: the process's is lost in that case. Skipping the
//!   clean-up when `sigpending` showed a `SIGPIPE` before the write would not make it exact (a
//!   `kill` can come between that check and the write, and an unconsumed signal of ours would
//!   stay pending instead); this module does not do it. Not raising the signal at all, with
//!   `F_SETNOSIGPIPE` on the descriptor, would.
//! - macOS: XNU also raises it at the process (`psignal` in `dofilewrite`), on a thread that
//!   does not block it or else one of its choosing, not necessarily the writing thread.
//!   Blocking it in the writing thread therefore does not keep it from a thread of the
//!   application that leaves it unblocked (harmless when the process ignores `SIGPIPE`, as
//!   Rust programs do; fatal under `SIG_DFL`). The real protection there is `F_SETNOSIGPIPE`,
//!   which makes a write on the descriptor fail with `EPIPE` without raising anything. It is
//!   a flag of the open file description, shared with every process that holds a duplicate,
//!   so it is only set on descriptions that are ours alone: the pipes this crate creates
//!   (`PipeBuilder`, `pipe()`, and so the stdin of `spawn_with_writer`) and the FIFOs
//!   [`Fifo`](crate::Fifo) opens for writing. The same is done on NetBSD, which has the flag
//!   too. For any other descriptor (a `ChildStdin` from `std`, an `OwnedFd`) the mask and the
//!   clean-up below are all there is; use this crate's pipes where it matters.
//! - Apple's libc has no `sigtimedwait`, nor has OpenBSD's (which raises the write's signal
//!   at the writing thread, `ptsignal(.., STHREAD)` in `dofilewritev`, like FreeBSD). There
//!   the clean-up is POSIX's `sigpending` then `sigwait` ([`take_one_if_pending`]):
//!   `sigwait` takes a signal that is pending and waits for one that is not, so it is only
//!   called once `sigpending` showed a `SIGPIPE` pending for this thread or the process
//!   (with `SIG_IGN`, both systems discard the signal when it is raised, and nothing is
//!   pending to wait for). The write's own signal, pending at the writing thread (OpenBSD),
//!   can be taken by no other thread, so the `sigwait` returns at once. What remains is a
//!   window between the two calls in which a *process-directed* `SIGPIPE` that `sigpending`
//!   saw could vanish: another thread takes it with `sigwait`, a thread unblocks it, or the
//!   disposition is set to `SIG_IGN`. The `sigwait` would then wait for the next `SIGPIPE`.
//!   That needs a process-directed `SIGPIPE` (a `kill`, or a macOS write without
//!   `F_SETNOSIGPIPE`) and another thread handling it within microseconds of our `EPIPE`;
//!   no call of these systems closes it (OpenBSD's `__thrsigdivert` takes a timeout but is
//!   not a public interface). The same function runs on Linux in the unit tests.
//!
//! # References
//!
//! - signal(7), standard signals, process- and thread-directed signals, `/proc` fields:
//!   <https://man7.org/linux/man-pages/man7/signal.7.html>
//! - sigtimedwait(2): <https://man7.org/linux/man-pages/man2/sigtimedwait.2.html>
//! - sigpending(2): <https://man7.org/linux/man-pages/man2/sigpending.2.html>
//! - pthread_sigmask(3): <https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html>
//! - kill(2): <https://man7.org/linux/man-pages/man2/kill.2.html>
//! - proc(5), `/proc/thread-self` and the `SigPnd`/`ShdPnd` fields:
//!   <https://man7.org/linux/man-pages/man5/proc.5.html>
//! - FreeBSD sigtimedwait(2): <https://man.freebsd.org/cgi/man.cgi?query=sigtimedwait&sektion=2>
//! - NetBSD fcntl(2), `F_SETNOSIGPIPE`: <https://man.netbsd.org/fcntl.2>
//! - macOS fcntl(2), `F_SETNOSIGPIPE`:
//!   <https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/fcntl.2.html>
//! - POSIX sigwait(3p): <https://pubs.opengroup.org/onlinepubs/9799919799/functions/sigwait.html>
//! - POSIX sigpending(3p): <https://pubs.opengroup.org/onlinepubs/9799919799/functions/sigpending.html>
//! - OpenBSD sigwait(3): <https://man.openbsd.org/sigwait.3>
// Unsafe: signal masks and `sigtimedwait` through libc.
#![allow(unsafe_code)]

/// Blocks `SIGPIPE` in the calling thread (only ever called on the crate's own threads).
///
/// # References
/// - [`pthread_sigmask(3)`](https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html)
pub(super) fn block_sigpipe_in_this_thread() {
    let set = sigpipe_set();
    // SAFETY: `set` is a valid, initialised signal set; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        log::error!("pipewriter: cannot block SIGPIPE in its I/O thread (error {rc})");
    }
}

/// Blocks `SIGPIPE` in the calling thread until dropped, then restores the thread's mask.
/// For the rare write made on a caller's thread.
///
/// # References
/// - [`pthread_sigmask(3)`](https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html)
pub(super) struct SigpipeBlocked {
    /// The thread's mask before, to restore; `None` when `SIGPIPE` was blocked already.
    previous: Option<libc::sigset_t>,
}

impl SigpipeBlocked {
    pub(super) fn new() -> Self {
        let set = sigpipe_set();
        // SAFETY: `sigset_t` is plain data, filled in by `pthread_sigmask` before use.
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both sets are valid for the call.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous) };
        // SAFETY: `previous` was initialised by the successful call above.
        let was_blocked = rc == 0 && unsafe { libc::sigismember(&previous, libc::SIGPIPE) } == 1;
        SigpipeBlocked {
            previous: (rc == 0 && !was_blocked).then_some(previous),
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        if let Some(previous) = &self.previous {
            // SAFETY: `previous` is the valid mask returned by `pthread_sigmask`.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, previous, std::ptr::null_mut()) };
        }
    }
}

/// Consumes the `SIGPIPE` that a write on this thread just raised, if it raised one, and no
/// other (see the module docs). Never waits. Called on the writing thread, right after the
/// write failed with `EPIPE`, with `SIGPIPE` blocked.
pub(super) fn consume_pending_sigpipe() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if thread_has_own_sigpipe() == Some(false) {
        // The write raised none: a pending `SIGPIPE`, if any, is the process's.
        return;
    }
    take_one_sigpipe();
}

/// Takes one pending `SIGPIPE` without waiting: `sigtimedwait` with a zero timeout.
///
/// # References
/// - [`sigtimedwait(2)`](https://man7.org/linux/man-pages/man2/sigtimedwait.2.html)
#[cfg(not(any(target_vendor = "apple", target_os = "openbsd")))]
fn take_one_sigpipe() {
    let set = sigpipe_set();
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // Once, never in a loop: a second call would take a process-directed `SIGPIPE` that is not
    // ours. -1 with EAGAIN means nothing was pending.
    // SAFETY: `set` and `zero` are valid for the call; a null info pointer is allowed.
    unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) };
}

/// Apple and OpenBSD have no `sigtimedwait`: see [`take_one_if_pending`].
#[cfg(any(target_vendor = "apple", target_os = "openbsd"))]
fn take_one_sigpipe() {
    take_one_if_pending();
}

/// Takes one `SIGPIPE` if `sigpending` shows one pending for this thread or the process, with
/// `sigwait`; true when one was taken. Only POSIX calls: the clean-up of the systems without
/// `sigtimedwait`, and unit-tested on Linux (see the module docs for the window between the
/// two calls). `SIGPIPE` must be blocked in the calling thread.
///
/// # References
/// - [`sigpending(3p)`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/sigpending.html)
/// - [`sigwait(3p)`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/sigwait.html)
#[cfg_attr(
    not(any(
        target_vendor = "apple",
        target_os = "openbsd",
        all(test, any(target_os = "linux", target_os = "android"))
    )),
    allow(dead_code)
)]
fn take_one_if_pending() -> bool {
    // SAFETY: `sigset_t` is plain data, filled in by `sigpending` before it is read.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `pending` is a valid, writable signal set.
    if unsafe { libc::sigpending(&mut pending) } != 0 {
        return false;
    }
    // SAFETY: `pending` was initialised by the successful call above.
    if unsafe { libc::sigismember(&pending, libc::SIGPIPE) } != 1 {
        // Nothing pending: `sigwait` would wait for the next one.
        return false;
    }
    let set = sigpipe_set();
    let mut taken: libc::c_int = 0;
    // SAFETY: `set` and `taken` are valid for the call. It returns at once: a `SIGPIPE` is
    // pending and blocked here (see the module docs for the one way it can vanish first).
    let rc = unsafe { libc::sigwait(&set, &mut taken) };
    rc == 0 && taken == libc::SIGPIPE
}

/// Whether a `SIGPIPE` is pending for the calling thread itself (not for the process as a
/// whole), from `/proc/thread-self/status`; `None` when that cannot be read.
///
/// # References
/// - [`proc_pid_status(5)`](https://man7.org/linux/man-pages/man5/proc_pid_status.5.html)
#[cfg(any(target_os = "linux", target_os = "android"))]
fn thread_has_own_sigpipe() -> Option<bool> {
    let status = std::fs::read("/proc/thread-self/status").ok()?;
    status_has_signal(&status, b"SigPnd:", libc::SIGPIPE)
}

/// Whether signal `signal` is in the set shown on the `field` line of a `/proc/.../status`
/// file (proc(5)): hexadecimal, most significant digit first, signal N in bit N - 1.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn status_has_signal(status: &[u8], field: &[u8], signal: libc::c_int) -> Option<bool> {
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(field))?;
    let digits = line.trim_ascii();
    let bit = usize::try_from(signal).ok()?.checked_sub(1)?;
    let digit = *digits.get(digits.len().checked_sub(1 + bit / 4)?)?;
    let value = char::from(digit).to_digit(16)?;
    Some(value & (1 << (bit % 4)) != 0)
}

/// The signal set holding `SIGPIPE` alone.
///
/// # References
/// - [`sigsetops(3)`](https://man7.org/linux/man-pages/man3/sigsetops.3.html)
fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: `sigset_t` is plain data; it is initialised by `sigemptyset` before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid pointer to a signal set.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
    }
    set
}

/// Only thread-directed signals here: the test threads share the process, so a signal sent
/// to the process would reach whichever thread does not block it. Linux only: the tests need
/// a blocked `SIGPIPE` to stay pending although the Rust runtime ignores it, which Linux does
/// and POSIX leaves unspecified.
#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    /// Blocks `SIGPIPE` in this thread for the test, and checks on the way out that the test
    /// left none pending here.
    struct Blocked {
        _mask: SigpipeBlocked,
    }

    impl Blocked {
        fn new() -> Self {
            let blocked = Blocked {
                _mask: SigpipeBlocked::new(),
            };
            assert_eq!(
                thread_has_own_sigpipe(),
                Some(false),
                "pending before the test"
            );
            blocked
        }
    }

    impl Drop for Blocked {
        fn drop(&mut self) {
            let left = thread_has_own_sigpipe();
            consume_pending_sigpipe();
            if !std::thread::panicking() {
                assert_eq!(left, Some(false), "the test left a SIGPIPE pending");
            }
        }
    }

    fn raise_at_this_thread() {
        // SAFETY: sends SIGPIPE to the calling thread, where it is blocked: no action runs.
        let rc = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGPIPE) };
        assert_eq!(rc, 0);
    }

    #[test]
    fn status_lines_are_read_bit_by_bit() {
        let status =
            b"Name:\tx\nSigQ:\t0/63\nSigPnd:\t0000000000001000\nShdPnd:\t0000000000000000\n";
        assert_eq!(status_has_signal(status, b"SigPnd:", 13), Some(true));
        assert_eq!(status_has_signal(status, b"SigPnd:", 12), Some(false));
        assert_eq!(status_has_signal(status, b"SigPnd:", 14), Some(false));
        assert_eq!(status_has_signal(status, b"ShdPnd:", 13), Some(false));
        assert_eq!(status_has_signal(status, b"SigBlk:", 13), None);
        // 128 signals (MIPS) print 32 digits; the count is from the right.
        let wide = b"SigPnd:\t00000000000000000000000000000001\n";
        assert_eq!(status_has_signal(wide, b"SigPnd:", 1), Some(true));
        assert_eq!(status_has_signal(wide, b"SigPnd:", 2), Some(false));
        assert_eq!(status_has_signal(wide, b"SigPnd:", 128), Some(false));
        assert_eq!(status_has_signal(wide, b"SigPnd:", 129), None);
        assert_eq!(status_has_signal(b"SigPnd:\tzz\n", b"SigPnd:", 1), None);
    }

    #[test]
    fn a_signal_raised_at_this_thread_is_seen_and_consumed_once() {
        let _blocked = Blocked::new();
        raise_at_this_thread();
        assert_eq!(thread_has_own_sigpipe(), Some(true));
        consume_pending_sigpipe();
        assert_eq!(thread_has_own_sigpipe(), Some(false));
    }

    #[test]
    fn nothing_pending_nothing_consumed_and_no_wait() {
        let _blocked = Blocked::new();
        let started = std::time::Instant::now();
        consume_pending_sigpipe();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    /// The path of Apple systems and OpenBSD (`sigpending` + `sigwait`), run here on Linux: a
    /// pending `SIGPIPE` is taken, exactly one.
    #[test]
    fn p6_sigpending_then_sigwait_takes_the_pending_signal() {
        let _blocked = Blocked::new();
        raise_at_this_thread();
        assert_eq!(thread_has_own_sigpipe(), Some(true));
        assert!(take_one_if_pending());
        assert_eq!(thread_has_own_sigpipe(), Some(false));
    }

    /// Nothing pending: `sigwait` is not called (it would wait for the next `SIGPIPE`).
    #[test]
    fn p6_sigpending_then_sigwait_never_waits_when_nothing_is_pending() {
        let _blocked = Blocked::new();
        let started = std::time::Instant::now();
        assert!(!take_one_if_pending());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    /// The whole clean-up of those systems after a real `EPIPE`.
    #[test]
    fn p6_sigpending_then_sigwait_cleans_up_after_a_pipe_write() {
        let _blocked = Blocked::new();
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let error = rustix::io::write(&writer, b"x").unwrap_err();
        assert_eq!(error, rustix::io::Errno::PIPE);
        assert!(take_one_if_pending());
        assert_eq!(thread_has_own_sigpipe(), Some(false));
        assert!(!take_one_if_pending(), "a second one was taken");
    }

    /// The kernel rule the clean-up relies on: the `EPIPE` of a pipe write comes with a
    /// `SIGPIPE` pending on the writing thread itself.
    #[test]
    fn a_pipe_write_to_a_closed_reader_raises_sigpipe_at_the_writing_thread() {
        let _blocked = Blocked::new();
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let error = rustix::io::write(&writer, b"x").unwrap_err();
        assert_eq!(error, rustix::io::Errno::PIPE);
        assert_eq!(thread_has_own_sigpipe(), Some(true));
        consume_pending_sigpipe();
        assert_eq!(thread_has_own_sigpipe(), Some(false));
    }
}
