//! The Unix backend (P-3, P-4): non-blocking gather writes driven by one shared reactor
//! thread, or a blocking worker thread for descriptors whose mode must not change.
//!
//! # Which descriptor is driven how (P-3)
//!
//! `O_NONBLOCK` is a flag of the open file description, which `dup`, `fork` and descriptor
//! passing share: switched on a descriptor someone else also holds, it makes *their* writes
//! fail with `EAGAIN` (a child's `head` writing into the same pipe). So a descriptor is
//!
//! - **already non-blocking**: driven as it is, by the reactor;
//! - **exclusive** (a `ChildStdin`, this crate's pipes, or `Builder::exclusive(true)`, the
//!   user's word): switched to non-blocking and driven by the reactor. The original flags are
//!   restored whenever the handle leaves the writer — given back by `into_handle`, or closed
//!   (`close`, a drop, the end of a lingering drop) — so a duplicate kept elsewhere sees the
//!   original mode again;
//! - **of unknown origin** (a `File`, an `OwnedFd`, a `std::io::PipeWriter`), on Linux and
//!   Android, when it is a pipe, a FIFO or a terminal: *reopened* through `/proc/self/fd/N`.
//!   Unlike `dup`, that open makes a new open file description of the same pipe or device,
//!   whose `O_NONBLOCK` is ours alone. The twin must be the same object (`fstat`: device,
//!   inode and type; for a terminal also the device number and `TIOCGDEV`, the number of the
//!   terminal the descriptor really reaches), and is driven by the reactor; the user's
//!   descriptor is never written to or switched, is what `into_handle` gives back, and is
//!   closed with the twin. It costs one more descriptor per writer. Not reopened, so served
//!   by the worker: sockets (the open fails with `ENXIO`), regular files, character devices
//!   that are not terminals (opening one may create a new instance), `/dev/ptmx` (opening it
//!   creates a new pseudo-terminal, so a pseudo-terminal *master* goes to the worker), a FIFO
//!   whose reader has gone (`ENXIO`: the worker reports the closed peer), and whatever the
//!   open or the checks refuse (no `/proc`, permissions, another object);
//! - **anything else**: the blocking worker ([`worker`]), which leaves the mode alone. On
//!   macOS and the BSDs, `/dev/fd/N` duplicates the descriptor instead of reopening the file,
//!   so there every descriptor of unknown origin that is not already non-blocking, terminals
//!   included, is served by the worker.
//!
//! `--cfg pipewriter_force_fallback` sends every descriptor to the worker (to test it).
//!
//! # References
//! - [`open(2)`](https://man7.org/linux/man-pages/man2/open.2.html) and
//!   [`proc_pid_fd(5)`](https://man7.org/linux/man-pages/man5/proc_pid_fd.5.html): opening
//!   `/proc/self/fd/N` opens the file itself, a new open file description
//! - [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html) (`F_GETFL`, `F_SETFL`;
//!   `O_DIRECT` is a pipe's packet mode, see [`pipe(2)`](https://man7.org/linux/man-pages/man2/pipe.2.html))
//! - [`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html),
//!   [`inode(7)`](https://man7.org/linux/man-pages/man7/inode.7.html)
//! - [`fifo(7)`](https://man7.org/linux/man-pages/man7/fifo.7.html) (`ENXIO` without a reader),
//!   [`pty(7)`](https://man7.org/linux/man-pages/man7/pty.7.html)
//! - [`ioctl_tty(2)`](https://man7.org/linux/man-pages/man2/ioctl_tty.2.html); `TIOCGDEV` is
//!   implemented in Linux's [`drivers/tty/tty_io.c`](https://github.com/torvalds/linux/blob/master/drivers/tty/tty_io.c)
// Unsafe: `ioctl(TIOCGDEV)` through libc.
#![allow(unsafe_code)]

pub(crate) mod fork;
mod handle;
mod reactor;
mod signal;
mod unread;
mod worker;

use std::fmt;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rustix::fs::{FileType, OFlags};

pub(crate) use super::posix::errors::classify;
pub(crate) use super::posix::pipe;

use crate::core::Outcome;
use crate::driver::{Backend, PipeHandle, Provenance, Shared};

/// The owned handle type a writer takes over and gives back: an `OwnedFd` on Unix.
pub type OwnedPipe = OwnedFd;

/// Gather writes use at most this many slices (well under every `IOV_MAX`).
const MAX_IOV: usize = 64;

/// How a descriptor is driven.
#[derive(Debug)]
enum Mode {
    /// Non-blocking, through the shared reactor.
    Reactor {
        /// This writer's key in the reactor.
        key: usize,
        /// Registered with the poller (lazily, at the first full pipe).
        registered: AtomicBool,
        /// The most one write takes (see [`pipelined_step`]).
        step: usize,
    },
    /// Blocking, through a worker thread of its own (P-3 fallback).
    Worker {
        /// Largest write that cannot block once the descriptor polls writable: `PIPE_BUF` for
        /// pipes, FIFOs and sockets, a few hundred bytes for character devices (see
        /// [`worker::write_limit`]), unlimited for other files.
        atomic_limit: usize,
        /// A character device (a terminal): each write is also cut where the terminal's
        /// output processing would check for room again.
        char_device: bool,
    },
}

/// A writer's descriptors.
#[derive(Debug)]
struct Handle {
    /// The descriptor written to: the user's own, or a twin of it reopened for us.
    io: OwnedFd,
    /// The user's descriptor when `io` is a reopened twin of it (Linux): never written to or
    /// switched, given back by `take_handle`, closed with the twin.
    original: Option<OwnedFd>,
}

impl Handle {
    /// The descriptor to write to and poll.
    fn io(&self) -> &OwnedFd {
        &self.io
    }
}

/// The Unix per-writer state.
pub(crate) struct Io {
    /// The handle; `None` once closed or taken. Held during each (non-blocking or bounded)
    /// write so it cannot be closed underneath one.
    fd: Mutex<Option<Handle>>,
    mode: Mode,
    /// The status flags to restore when the handle is given back or closed (we set
    /// `O_NONBLOCK` on the user's own descriptor: only ever for an exclusive one).
    restore_flags: Option<OFlags>,
}

impl fmt::Debug for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Forces the blocking worker for every descriptor, so the test suite can run through it
/// (`RUSTFLAGS=--cfg pipewriter_force_fallback`).
const FORCE_WORKER: bool = cfg!(pipewriter_force_fallback);

impl Io {
    /// This writer's key in the reactor.
    fn key(&self) -> usize {
        match self.mode {
            Mode::Reactor { key, .. } => key,
            Mode::Worker { .. } => usize::MAX,
        }
    }

    fn fd_slot(&self) -> std::sync::MutexGuard<'_, Option<Handle>> {
        self.fd.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes the descriptor from the reactor's poller, if it is registered.
    fn deregister_locked(&self, fd: Option<&OwnedFd>) {
        if let Mode::Reactor { registered, .. } = &self.mode {
            if registered.swap(false, Ordering::AcqRel) {
                if let Some(fd) = fd {
                    reactor::deregister(fd.as_fd());
                }
            }
        }
    }

    pub(crate) fn deregister(&self) {
        let slot = self.fd_slot();
        self.deregister_locked(slot.as_ref().map(Handle::io));
    }

    /// Restores the status flags of the user's descriptor if we changed them.
    fn restore(&self, fd: &OwnedFd) {
        if let Some(flags) = self.restore_flags {
            if let Err(e) = rustix::fs::fcntl_setfl(fd, flags) {
                log::warn!("pipewriter: could not restore the descriptor's blocking mode: {e}");
            }
        }
    }

    /// Arms a one-shot writability wait in the reactor's poller.
    fn arm(&self, key: usize) -> io::Result<()> {
        let Mode::Reactor { registered, .. } = &self.mode else {
            return Ok(());
        };
        let slot = self.fd_slot();
        let Some(handle) = slot.as_ref() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let first = !registered.swap(true, Ordering::AcqRel);
        reactor::arm(handle.io.as_fd(), key, first)
    }

    /// One non-blocking (reactor) or bounded (worker) gather write of `bufs`. `limit` is the
    /// most one write may take; a worker's writes to a character device are cut further
    /// (see [`worker::write_limit`]).
    fn write(&self, bufs: &[Bytes], limit: usize) -> Outcome {
        let slot = self.fd_slot();
        let Some(handle) = slot.as_ref() else {
            return Outcome::Fatal(io::Error::new(
                io::ErrorKind::NotConnected,
                "the pipe handle was closed",
            ));
        };
        let fd = handle.io.as_fd();
        let limit = match self.mode {
            Mode::Worker {
                char_device: true, ..
            } => worker::write_limit(fd, bufs, limit),
            Mode::Reactor { step, .. } => limit.min(step),
            Mode::Worker { .. } => limit,
        };
        write_gather(fd, bufs, limit)
    }
}

impl Backend for Io {
    /// The known quota is not used: `write(2)` returns the count it wrote, so the pipe's
    /// buffer size does not bear on what `stop` hands back (Windows sizes writes by it).
    fn new(pipe: PipeHandle) -> io::Result<Io> {
        let PipeHandle {
            handle: fd,
            provenance,
            known_quota: _,
        } = pipe;
        let stat = rustix::fs::fstat(&fd)?;
        let file_type = FileType::from_raw_mode(stat.st_mode);
        let access = rustix::fs::fcntl_getfl(&fd)?;
        if !(access.contains(OFlags::WRONLY) || access.contains(OFlags::RDWR)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the descriptor is not open for writing",
            ));
        }
        let pollable = matches!(
            file_type,
            FileType::Fifo | FileType::Socket | FileType::CharacterDevice
        );
        let already_nonblocking = access.contains(OFlags::NONBLOCK);
        let use_reactor = pollable
            && !FORCE_WORKER
            && (already_nonblocking || provenance == Provenance::Exclusive);
        if use_reactor {
            reactor::start()?;
            let mut restore_flags = None;
            if !already_nonblocking {
                let flags = access & !(OFlags::ACCMODE);
                rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)?;
                restore_flags = Some(flags);
            }
            let step = pipelined_step(fd.as_fd(), file_type);
            return Ok(Io {
                fd: Mutex::new(Some(Handle {
                    io: fd,
                    original: None,
                })),
                mode: Mode::Reactor {
                    key: reactor::next_key(),
                    registered: AtomicBool::new(false),
                    step,
                },
                restore_flags,
            });
        }
        // May be shared: its mode stays as it is. A twin of our own, where the OS can make
        // one, is driven by the reactor instead (P-3).
        if pollable && !FORCE_WORKER {
            if let Some(twin) = twin::reopen(fd.as_fd(), &stat, file_type, access) {
                reactor::start()?;
                let step = pipelined_step(twin.as_fd(), file_type);
                return Ok(Io {
                    fd: Mutex::new(Some(Handle {
                        io: twin,
                        original: Some(fd),
                    })),
                    mode: Mode::Reactor {
                        key: reactor::next_key(),
                        registered: AtomicBool::new(false),
                        step,
                    },
                    restore_flags: None,
                });
            }
        }
        let atomic_limit = match file_type {
            FileType::Fifo | FileType::Socket => libc::PIPE_BUF,
            FileType::CharacterDevice => worker::CHAR_DEVICE_WRITE,
            _ => usize::MAX,
        };
        Ok(Io {
            fd: Mutex::new(Some(Handle {
                io: fd,
                original: None,
            })),
            mode: Mode::Worker {
                atomic_limit,
                char_device: file_type == FileType::CharacterDevice,
            },
            restore_flags: None,
        })
    }

    /// Gets the writer's I/O context once it is built (W-15): the reactor was started by
    /// `new`; a worker thread is started here.
    fn start(shared: &Arc<Shared>) -> io::Result<()> {
        match &shared.io.mode {
            Mode::Reactor { .. } => Ok(()),
            Mode::Worker { .. } => worker::spawn(shared.clone()),
        }
    }

    fn kick(shared: &Arc<Shared>) {
        match &shared.io.mode {
            Mode::Reactor { .. } => reactor::schedule(shared.clone()),
            Mode::Worker { .. } => shared.wake_worker(),
        }
    }

    fn cancel(shared: &Arc<Shared>) {
        match &shared.io.mode {
            Mode::Reactor { key, .. } => {
                reactor::forget(*key);
                shared.io.deregister();
            }
            Mode::Worker { .. } => shared.wake_worker(),
        }
    }

    fn linger(shared: &Arc<Shared>) {
        // The reactor or the worker holds the writer while it has work and closes the handle
        // when the queue is empty; a worker waiting for work must notice the phase change.
        if let Mode::Worker { .. } = shared.io.mode {
            shared.wake_worker();
        }
    }

    /// Closes the handle (and the twin), first restoring the flags we changed, so that a
    /// duplicate of the descriptor kept elsewhere sees its original mode again (P-3).
    fn close_handle(&self) {
        // A waiting caller may close a writer the reactor waits for: let go of it (and of
        // the handler it holds) now, before the descriptor goes.
        if let Mode::Reactor { key, .. } = self.mode {
            reactor::forget(key);
        }
        let mut slot = self.fd_slot();
        self.deregister_locked(slot.as_ref().map(Handle::io));
        if let Some(handle) = slot.take() {
            self.restore(&handle.io);
            drop(handle);
        }
    }

    /// In a forked child, for a writer its parent built (W-15): hands over the child's copy
    /// of the descriptor without touching the poller or the flags (both the parent's), and
    /// without waiting for the handle lock, which a thread of the parent may have held at the
    /// fork (the copy stays open then, and a warning says so).
    fn release_inherited(&self) -> Option<OwnedFd> {
        // With a reopened twin, the twin is closed here and the original handed over.
        let original = |handle: Handle| handle.original.unwrap_or(handle.io);
        match self.fd.try_lock() {
            Ok(mut slot) => slot.take().map(original),
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner().take().map(original),
            Err(std::sync::TryLockError::WouldBlock) => {
                log::warn!(
                    "pipewriter: a writer inherited through fork was busy at the fork; the \
                     child's copy of its descriptor stays open"
                );
                None
            }
        }
    }

    /// Gives the user's descriptor back, in the mode it came in (a reopened twin is closed).
    fn take_handle(&self) -> Option<OwnedFd> {
        let mut slot = self.fd_slot();
        self.deregister_locked(slot.as_ref().map(Handle::io));
        let handle = slot.take()?;
        match handle.original {
            Some(original) => {
                drop(handle.io);
                Some(original)
            }
            None => {
                self.restore(&handle.io);
                Some(handle.io)
            }
        }
    }

    /// True when a write may be made from a caller's thread: the descriptor is non-blocking.
    fn can_write_now(&self) -> bool {
        matches!(self.mode, Mode::Reactor { .. })
    }

    /// A waiting caller drives a reactor writer itself (W-16): its writes do not block.
    fn can_drive_from_caller(&self) -> bool {
        matches!(self.mode, Mode::Reactor { .. })
    }

    /// `poll(2)` for writability on the caller's thread, without the handle lock, so that
    /// closing or giving back the handle never waits for it. A descriptor closed meanwhile
    /// answers `POLLNVAL` at once; a number reused by another file at worst wakes the caller
    /// late or early, within `timeout`, and the caller then sees that the writer ended (every
    /// close of the handle by another thread follows a change of phase).
    fn wait_writable(&self, timeout: std::time::Duration) {
        let Some(fd) = self.fd_slot().as_ref().map(|h| h.io.as_raw_fd()) else {
            return;
        };
        let mut pollfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pollfd` is one live, writable `struct pollfd` for the duration of the call;
        // poll(2) only reads the descriptor number, so a descriptor closed meanwhile cannot
        // be harmed (it answers POLLNVAL).
        let rc = unsafe { libc::poll(&mut pollfd, 1, ms) };
        if rc < 0 {
            log::debug!("pipewriter: poll failed: {}", io::Error::last_os_error());
        }
    }

    /// One non-blocking write of the caller's own buffer, with `SIGPIPE` blocked as in
    /// [`write_now`](Self::write_now).
    fn write_slice_now(&self, buf: &[u8]) -> Outcome {
        let _blocked = signal::SigpipeBlocked::new();
        let slot = self.fd_slot();
        let Some(handle) = slot.as_ref() else {
            return Outcome::Fatal(io::Error::new(
                io::ErrorKind::NotConnected,
                "the pipe handle was closed",
            ));
        };
        let step = match self.mode {
            Mode::Reactor { step, .. } => step,
            Mode::Worker { .. } => usize::MAX,
        };
        write_slices(
            handle.io.as_fd(),
            &[IoSlice::new(&buf[..buf.len().min(step)])],
        )
    }

    /// `splice(2)` from the file's page cache into the pipe (Linux; W-18), with `SIGPIPE`
    /// blocked as in [`write_now`](Self::write_now). `None` when the kernel cannot splice
    /// this file or descriptor (`EINVAL`, `ENOSYS`), or elsewhere.
    fn splice_now(&self, file: &std::fs::File, offset: u64, len: usize) -> Option<Outcome> {
        splice::from_file(self, file, offset, len)
    }

    /// One non-blocking gather write from a caller's thread, with `SIGPIPE` blocked in that
    /// thread for its duration (P-4): a closed pipe leaves the signal pending, it is consumed,
    /// and the thread's mask is restored. The process-wide disposition is never touched.
    fn write_now(&self, bufs: &[Bytes]) -> Outcome {
        let _blocked = signal::SigpipeBlocked::new();
        self.write(bufs, usize::MAX)
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        // Deregisters from the reactor's poller before the descriptor closes, and restores
        // the flags we changed.
        self.close_handle();
    }
}

/// The most one non-blocking write takes on `fd`: for a Linux pipe or FIFO an eighth of its
/// buffer (8 KiB for a default 64 KiB pipe, 128 KiB for an enlarged 1 MiB one), so that the
/// reader drains the pipe while the writer fills it instead of the two taking turns with a
/// full pipe; unlimited otherwise. Measured on a 2-vCPU machine, 64 KiB writes into a default
/// pipe: 1.1 GiB/s with whole-pipe writes, 1.5–1.8 with 8–16 KiB steps (docs/bench.md).
fn pipelined_step(fd: BorrowedFd<'_>, file_type: FileType) -> usize {
    if file_type != FileType::Fifo {
        return usize::MAX;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Ok(size) = rustix::pipe::fcntl_getpipe_size(fd) {
        return (size / 8).max(libc::PIPE_BUF);
    }
    let _ = fd;
    usize::MAX
}

/// `writev` of at most `limit` bytes from `bufs`, classified (E-1).
fn write_gather(fd: BorrowedFd<'_>, bufs: &[Bytes], limit: usize) -> Outcome {
    let mut slices = [IoSlice::new(&[]); MAX_IOV];
    let mut count = 0;
    let mut total = 0;
    for buf in bufs.iter().take(MAX_IOV) {
        if total == limit {
            break;
        }
        let take = buf.len().min(limit - total);
        slices[count] = IoSlice::new(&buf[..take]);
        count += 1;
        total += take;
    }
    write_slices(fd, &slices[..count])
}

/// `writev` of `slices`, classified (E-1); a `SIGPIPE` the write raised is consumed (P-4).
fn write_slices(fd: BorrowedFd<'_>, slices: &[IoSlice<'_>]) -> Outcome {
    match rustix::io::writev(fd, slices) {
        Ok(n) => Outcome::Wrote(n),
        Err(errno) => {
            let error = io::Error::from(errno);
            if errno == rustix::io::Errno::PIPE {
                signal::consume_pending_sigpipe();
            }
            classify(error)
        }
    }
}

/// Splicing a file into the pipe (W-18).
#[cfg(any(target_os = "linux", target_os = "android"))]
mod splice {
    use std::os::fd::AsFd;

    use rustix::io::Errno;
    use rustix::pipe::SpliceFlags;

    use super::{classify, signal, Io, Outcome};

    /// # References
    /// - [`splice(2)`](https://man7.org/linux/man-pages/man2/splice.2.html)
    pub(super) fn from_file(
        io: &Io,
        file: &std::fs::File,
        offset: u64,
        len: usize,
    ) -> Option<Outcome> {
        let _blocked = signal::SigpipeBlocked::new();
        let slot = io.fd_slot();
        let Some(handle) = slot.as_ref() else {
            return Some(Outcome::Fatal(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "the pipe handle was closed",
            )));
        };
        let mut off = offset;
        // The pipe side never blocks (the descriptor is non-blocking, and the flag says so
        // again); the file side may wait for the disk, on the caller's thread.
        let flags = SpliceFlags::NONBLOCK | SpliceFlags::MOVE;
        match rustix::pipe::splice(
            file.as_fd(),
            Some(&mut off),
            handle.io.as_fd(),
            None,
            len,
            flags,
        ) {
            Ok(n) => Some(Outcome::Wrote(n)),
            // The pipe's own answers.
            Err(errno @ (Errno::AGAIN | Errno::INTR | Errno::NOMEM | Errno::NOBUFS)) => {
                Some(classify(errno.into()))
            }
            Err(Errno::PIPE) => {
                signal::consume_pending_sigpipe();
                Some(classify(Errno::PIPE.into()))
            }
            // Anything else may be the file's (EINVAL, ESPIPE, EIO, ...): the caller copies
            // this step instead, which tells the file's errors from the pipe's.
            Err(errno) => {
                log::debug!("pipewriter: splice failed ({errno}); copying instead");
                None
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod splice {
    use super::{Io, Outcome};

    /// No `splice(2)` here: the caller copies.
    pub(super) fn from_file(
        _io: &Io,
        _file: &std::fs::File,
        _offset: u64,
        _len: usize,
    ) -> Option<Outcome> {
        None
    }
}

/// A twin of a descriptor: a new open file description of the same pipe, FIFO or terminal,
/// whose `O_NONBLOCK` is ours alone (P-3; see the module docs).
#[cfg(any(target_os = "linux", target_os = "android"))]
mod twin {
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

    use rustix::fs::{Dev, FileType, Mode, OFlags, Stat};

    /// `TIOCGDEV`: the device number of the terminal a descriptor really reaches (for
    /// `/dev/tty` or `/dev/console`, the terminal behind it; for a pseudo-terminal master, its
    /// slave). Linux 2.6.39 and later; spelt out because not every libc target names it.
    const TIOCGDEV: libc::Ioctl = libc::_IOR::<libc::c_uint>(b'T' as u32, 0x32);

    /// Linux's `/dev/ptmx` (also `/dev/pts/ptmx`): opening it creates a new pseudo-terminal.
    fn is_ptmx(rdev: Dev) -> bool {
        rustix::fs::major(rdev) == 5 && rustix::fs::minor(rdev) == 2
    }

    /// The device number of the terminal behind `fd`; `None` when it is not a terminal.
    fn terminal_device(fd: BorrowedFd<'_>) -> Option<libc::c_uint> {
        let mut dev: libc::c_uint = 0;
        // SAFETY: `fd` is an open descriptor for the duration of the call; `TIOCGDEV` writes
        // one `unsigned int` through the pointer, which points to `dev`, live and writable.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), TIOCGDEV, &mut dev as *mut libc::c_uint) };
        (rc == 0).then_some(dev)
    }

    /// Reopens `fd` (a pipe, FIFO or terminal of unknown origin, described by `stat` and its
    /// status `flags`) through `/proc/self/fd`, non-blocking and close-on-exec, and checks
    /// that the twin is the same object. `None` when it cannot be done, or not safely: the
    /// caller then serves the descriptor by the worker.
    pub(super) fn reopen(
        fd: BorrowedFd<'_>,
        stat: &Stat,
        file_type: FileType,
        flags: OFlags,
    ) -> Option<OwnedFd> {
        let terminal = match file_type {
            FileType::Fifo => None,
            // Only terminals: another device's open may make a new instance of it.
            FileType::CharacterDevice if !is_ptmx(stat.st_rdev) => Some(terminal_device(fd)?),
            _ => return None,
        };
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let open_flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let twin = match rustix::fs::open(&path, open_flags, Mode::empty()) {
            Ok(twin) => twin,
            Err(e) => {
                // ENXIO: a FIFO without a reader; ENOENT: no /proc; EACCES: permissions.
                log::debug!("pipewriter: cannot reopen {path} ({e}); using a worker thread");
                return None;
            }
        };
        match check(&twin, stat, terminal) {
            Ok(()) => {}
            Err(why) => {
                log::debug!("pipewriter: {path} reopened {why}; using a worker thread");
                return None;
            }
        }
        // A pipe's packet mode (`O_DIRECT`) is a flag of the description: the twin keeps it.
        if file_type == FileType::Fifo && flags.contains(OFlags::DIRECT) {
            if let Err(e) = rustix::fs::fcntl_setfl(&twin, OFlags::NONBLOCK | OFlags::DIRECT) {
                log::debug!("pipewriter: cannot set packet mode on the reopened pipe ({e})");
                return None;
            }
        }
        Some(twin)
    }

    /// The twin must be the same pipe or the same terminal as the original.
    fn check(
        twin: &OwnedFd,
        stat: &Stat,
        terminal: Option<libc::c_uint>,
    ) -> Result<(), &'static str> {
        let twin_stat = rustix::fs::fstat(twin).map_err(|_| "but cannot be inspected")?;
        let same_file = twin_stat.st_dev == stat.st_dev
            && twin_stat.st_ino == stat.st_ino
            && FileType::from_raw_mode(twin_stat.st_mode) == FileType::from_raw_mode(stat.st_mode);
        if !same_file {
            return Err("as another file");
        }
        if let Some(device) = terminal {
            if twin_stat.st_rdev != stat.st_rdev || terminal_device(twin.as_fd()) != Some(device) {
                return Err("as another terminal");
            }
        }
        Ok(())
    }
}

/// Elsewhere `/dev/fd/N` duplicates the descriptor (the same open file description), which
/// would share its mode: no twin, the worker serves it.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod twin {
    use std::os::fd::{BorrowedFd, OwnedFd};

    use rustix::fs::{FileType, OFlags, Stat};

    pub(super) fn reopen(
        _fd: BorrowedFd<'_>,
        _stat: &Stat,
        _file_type: FileType,
        _flags: OFlags,
    ) -> Option<OwnedFd> {
        None
    }
}
