//! The blocking fallback (P-3): a thread of its own for a descriptor whose `O_NONBLOCK` must
//! not be switched (it may be shared with other processes) and that cannot be reopened as a
//! twin of our own (see the module docs of the backend: sockets, pseudo-terminal masters,
//! other Unixes than Linux and Android, failed reopens), or that the poller cannot watch (a
//! regular file).
//!
//! The worker polls for writability with a short timeout before **every** write, then makes
//! one blocking write no larger than what the descriptor takes without waiting once it polls
//! writable, so that a `stop` does not wait behind a write the reader may never make room
//! for:
//!
//! - pipes, FIFOs and sockets: at most `PIPE_BUF` bytes. A pipe polls writable when a whole
//!   buffer slot is free; a stream socket when a good share of its send buffer is.
//! - character devices (terminals): at most [`CHAR_DEVICE_WRITE`] (256) bytes. Linux's tty
//!   layer (`n_tty_poll`) reports writable only when the driver holds fewer than 256 bytes
//!   (`WAKEUP_CHARS`) and has room; a pseudo-terminal counts its room in 256-byte units of
//!   buffer memory and grants one more buffer whenever it reports room, so a 256-byte write
//!   fits in raw mode. (Measured on Linux 6.18: after each poll, raw writes of 256 bytes — and
//!   up to 1792 — never waited on a pseudo-terminal nobody reads; 4096-byte writes did.) With
//!   output processing on (`OPOST`, the default of a terminal), the tty layer checks for room
//!   again before each newline, carriage return and tab of one write, and may wait there: the
//!   worker reads the terminal's output flags before each write, cuts it before the first
//!   such byte and writes that byte alone (every byte alone under `OLCUC`). (Measured: text
//!   with newlines written in 64- to 256-byte pieces waited after a few KiB; cut as described,
//!   it never did in 20 runs of 64 KiB.)
//! - regular files: up to the writer's `max_write_size`; the disk decides how long it takes.
//!
//! # What can still block, and for how long
//!
//! - A poll holds the handle's lock for up to 20 ms: `into_handle` and a discarding drop may
//!   wait that long for it (`stop` does not).
//! - A write that does not fit after all blocks until the reader makes room, the device hangs
//!   up or the reader goes away — without bound if nobody ever reads — and `stop`, a
//!   discarding drop and `into_handle` wait for it, because only the write's result says how
//!   many bytes the OS took (W-10). That happens when another process fills the same pipe or
//!   terminal between the poll and the write, when a terminal is stopped (Ctrl-S) in that
//!   instant, for character devices other than terminals and terminal drivers that count
//!   their room otherwise, and for the tty layers of macOS and the BSDs, whose behaviour was
//!   not measured (there, terminals of unknown origin are always served by this worker).
//! - A regular file on a hung network file system blocks as long as the file system does.
//!
//! The thread ends when the writer does.
//!
//! # References
//! - [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html),
//!   [`write(2)`](https://man7.org/linux/man-pages/man2/write.2.html),
//!   [`pipe(7)`](https://man7.org/linux/man-pages/man7/pipe.7.html) (`PIPE_BUF`)
//! - [`termios(3)`](https://man7.org/linux/man-pages/man3/termios.3.html) (`tcgetattr`,
//!   `OPOST`, `OLCUC`)
//! - Linux's tty layer: [`drivers/tty/n_tty.c`](https://github.com/torvalds/linux/blob/master/drivers/tty/n_tty.c)
//!   (`n_tty_poll`, `n_tty_write`, `process_output_block`),
//!   [`drivers/tty/tty_buffer.c`](https://github.com/torvalds/linux/blob/master/drivers/tty/tty_buffer.c)
//!   (`tty_buffer_space_avail`), [`drivers/tty/pty.c`](https://github.com/torvalds/linux/blob/master/drivers/tty/pty.c)

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustix::event::{PollFd, PollFlags, Timespec};

use super::Mode;
use crate::driver::{Shared, Step};

/// How long one writability poll may wait before the worker looks at the writer again.
const POLL_SLICE: Duration = Duration::from_millis(20);

/// The most written to a character device in one blocking call: Linux's `WAKEUP_CHARS`.
pub(super) const CHAR_DEVICE_WRITE: usize = 256;

/// One write per writability poll: a second write could find the room the poll promised
/// already used by the first.
const WRITES_PER_POLL: usize = 1;

/// Starts the writer's worker thread (when the writer is built).
///
/// # Errors
/// The OS error when the thread cannot be started (W-15).
pub(super) fn spawn(shared: Arc<Shared>) -> std::io::Result<()> {
    crate::thread::spawn("pipewriter-worker", move || run(shared)).map(drop)
}

fn run(shared: Arc<Shared>) {
    super::signal::block_sigpipe_in_this_thread();
    let limit = match shared.io.mode {
        Mode::Worker { atomic_limit, .. } => atomic_limit,
        Mode::Reactor { .. } => usize::MAX,
    };
    let mut bufs = Vec::new();
    while shared.wait_for_work() {
        if !wait_writable(&shared) {
            continue;
        }
        shared.resume();
        match shared.drive(&mut bufs, WRITES_PER_POLL, |bufs| {
            shared.io.write(bufs, limit)
        }) {
            Step::Idle | Step::Yield | Step::AwaitWritable => {}
            Step::RetryAfter(delay) => shared.pause(delay),
            Step::Done => break,
        }
    }
}

/// Polls the descriptor for writability for up to one slice. False on timeout.
///
/// # References
/// - [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html),
///   [POSIX `poll`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/poll.html)
fn wait_writable(shared: &Shared) -> bool {
    let slot = shared.io.fd_slot();
    let Some(handle) = slot.as_ref() else {
        // Closed or taken: driving reports it.
        return true;
    };
    // The handle lock is held for at most one slice, so taking or closing the handle waits
    // at most that long.
    let mut fds = [PollFd::new(handle.io(), PollFlags::OUT)];
    let timeout = Timespec::try_from(POLL_SLICE).ok();
    match rustix::event::poll(&mut fds, timeout.as_ref()) {
        Ok(n) => n > 0,
        Err(_) => true,
    }
}

/// The most one blocking write of `bufs` to the character device `fd` may take, given the
/// worker's `limit` for it: what its output processing handles in one check for room (see
/// the module docs).
pub(super) fn write_limit(fd: BorrowedFd<'_>, bufs: &[Bytes], limit: usize) -> usize {
    let Some(output_flags) = output_flags(fd) else {
        // Not a terminal (or its settings cannot be read): the size alone.
        return limit;
    };
    if output_flags & libc::OPOST == 0 {
        return limit;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if output_flags & libc::OLCUC != 0 {
        // Every lower-case letter is converted, and checked for room, on its own.
        return 1;
    }
    let mut run = 0;
    for &byte in bufs.iter().flat_map(|b| b.iter()) {
        if matches!(byte, b'\n' | b'\r' | b'\t') {
            // Up to this byte; the byte itself alone.
            return run.max(1);
        }
        run += 1;
        if run == limit {
            break;
        }
    }
    run.clamp(1, limit.max(1))
}

/// The terminal's output flags (`c_oflag`), or `None` when `fd` is not a terminal.
///
/// # References
/// - [`tcgetattr(3)`](https://man7.org/linux/man-pages/man3/tcgetattr.3.html),
///   [POSIX `tcgetattr`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/tcgetattr.html)
fn output_flags(fd: BorrowedFd<'_>) -> Option<libc::tcflag_t> {
    // SAFETY: `termios` is plain data; `tcgetattr` fills it in and it is read only then.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the duration of the call (the caller holds the handle lock);
    // `termios` is live and writable.
    let rc = unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut termios) };
    (rc == 0).then_some(termios.c_oflag)
}
