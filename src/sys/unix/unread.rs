//! What the reader has not read yet (W-19): `ioctl(FIONREAD)` on the *write* end of a pipe.
//!
//! - **Linux and Android**: a pipe's `ioctl` counts the bytes in the pipe's buffer whichever
//!   end asks (`fs/pipe.c`, `pipe_ioctl`), so the write end tells what the reader has not
//!   consumed. The same holds for a FIFO, and for the twin reopened through `/proc/self/fd`
//!   (the same pipe). For a terminal, `FIONREAD` counts *input* waiting to be read, not our
//!   output, and for sockets and files it means something else again: only pipes and FIFOs
//!   answer; everything else is `Unsupported`.
//! - **FreeBSD** (and the BSDs and macOS, whose pipes come from the same code): a pipe is a
//!   pair of one-way buffers, and `FIONREAD` on a descriptor not open for reading answers `0`
//!   (FreeBSD's `sys/kern/sys_pipe.c`, `pipe_ioctl`) — a wrong answer here, which would
//!   say the reader consumed everything. So every other Unix is `Unsupported`: a guess is
//!   never returned.
//!
//! The reader going away is seen by `poll`: the write end of a pipe without a reader polls
//! `POLLERR`.
//!
//! # References
//! - [`ioctl_fionread`](https://docs.rs/rustix/latest/rustix/io/fn.ioctl_fionread.html) and
//!   [`pipe(7)`](https://man7.org/linux/man-pages/man7/pipe.7.html) ("I/O on pipes and FIFOs")
//! - Linux's [`fs/pipe.c`](https://github.com/torvalds/linux/blob/master/fs/pipe.c)
//!   (`pipe_ioctl`), FreeBSD's
//!   [`sys/kern/sys_pipe.c`](https://github.com/freebsd/freebsd-src/blob/main/sys/kern/sys_pipe.c)
//!   (`pipe_ioctl`)
//! - [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html) (`POLLERR` on the write
//!   end of a pipe whose read end is closed)
// Unsafe: `poll` through libc.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use super::Io;

impl Io {
    /// The bytes in the pipe that its reader has not read yet; `NotConnected` once the handle
    /// was closed, `Unsupported` where the OS cannot tell.
    pub(crate) fn bytes_unread(&self) -> io::Result<usize> {
        let slot = self.fd_slot();
        let Some(handle) = slot.as_ref() else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the pipe handle was closed: what is left in the pipe can no longer be seen",
            ));
        };
        unread_in_pipe(handle.io().as_fd())
    }

    /// True when the pipe's reader is known to have gone (the handle polls `POLLERR` or
    /// `POLLHUP`); false when it is there, or the handle was closed.
    pub(crate) fn reader_gone(&self) -> bool {
        let slot = self.fd_slot();
        slot.as_ref()
            .is_some_and(|handle| polls_error(handle.io().as_fd()))
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn unread_in_pipe(fd: BorrowedFd<'_>) -> io::Result<usize> {
    use rustix::fs::FileType;

    let stat = rustix::fs::fstat(fd)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Fifo {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "only a pipe or a FIFO can tell how much its reader has not read yet",
        ));
    }
    let bytes = rustix::io::ioctl_fionread(fd)?;
    Ok(usize::try_from(bytes).unwrap_or(usize::MAX))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn unread_in_pipe(_fd: BorrowedFd<'_>) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this OS cannot tell how much of a pipe its reader has not read yet (FIONREAD on the \
         write end answers 0 on the BSDs and macOS); only Linux and Android can",
    ))
}

/// True when the descriptor polls `POLLERR` (a pipe without a reader) or `POLLHUP`.
fn polls_error(fd: BorrowedFd<'_>) -> bool {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid `pollfd` for an open descriptor (borrowed for the call); a timeout of
    // 0 returns at once.
    let rc = unsafe { libc::poll(&mut pollfd, 1, 0) };
    rc > 0 && pollfd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}
