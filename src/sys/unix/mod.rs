//! The Unix backend (P-3, P-4): non-blocking gather writes driven by one shared reactor
//! thread, or a blocking worker thread for descriptors whose mode must not change.

mod errors;
pub(crate) mod pipe;
mod reactor;
mod signal;
mod worker;

use std::fmt;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rustix::fs::{FileType, OFlags};

pub(crate) use errors::classify;

use crate::core::Outcome;
use crate::writer::{Provenance, Shared};

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
    },
    /// Blocking, through a worker thread of its own (P-3 fallback).
    Worker {
        /// The worker was started (lazily, at the first write).
        started: AtomicBool,
        /// Largest write that cannot block once the descriptor polls writable: `PIPE_BUF` for
        /// pipes and FIFOs, unlimited for other files.
        atomic_limit: usize,
    },
}

/// The Unix per-writer state.
pub(crate) struct Io {
    /// The handle; `None` once closed or taken. Held during each (non-blocking or bounded)
    /// write so it cannot be closed underneath one.
    fd: Mutex<Option<OwnedFd>>,
    mode: Mode,
    /// The status flags to restore when the handle is given back (we set `O_NONBLOCK`).
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
    pub(crate) fn new(fd: OwnedFd, provenance: Provenance) -> io::Result<Io> {
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
            let mut restore_flags = None;
            if !already_nonblocking {
                let flags = access & !(OFlags::ACCMODE);
                rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)?;
                restore_flags = Some(flags);
            }
            return Ok(Io {
                fd: Mutex::new(Some(fd)),
                mode: Mode::Reactor {
                    key: reactor::next_key(),
                    registered: AtomicBool::new(false),
                },
                restore_flags,
            });
        }
        let atomic_limit = if file_type == FileType::Fifo || file_type == FileType::Socket {
            libc::PIPE_BUF
        } else {
            usize::MAX
        };
        Ok(Io {
            fd: Mutex::new(Some(fd)),
            mode: Mode::Worker {
                started: AtomicBool::new(false),
                atomic_limit,
            },
            restore_flags: None,
        })
    }

    /// This writer's key in the reactor.
    fn key(&self) -> usize {
        match self.mode {
            Mode::Reactor { key, .. } => key,
            Mode::Worker { .. } => usize::MAX,
        }
    }

    fn fd_slot(&self) -> std::sync::MutexGuard<'_, Option<OwnedFd>> {
        self.fd.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn kick(shared: &Arc<Shared>) {
        match &shared.io.mode {
            Mode::Reactor { .. } => reactor::schedule(shared.clone()),
            Mode::Worker { started, .. } => {
                if !started.swap(true, Ordering::AcqRel) {
                    worker::spawn(shared.clone());
                } else {
                    shared.wake_worker();
                }
            }
        }
    }

    pub(crate) fn cancel(shared: &Arc<Shared>) {
        match &shared.io.mode {
            Mode::Reactor { key, .. } => {
                reactor::forget(*key);
                shared.io.deregister();
            }
            Mode::Worker { .. } => shared.wake_worker(),
        }
    }

    pub(crate) fn linger(shared: &Arc<Shared>) {
        // The reactor or the worker holds the writer while it has work and closes the handle
        // when the queue is empty; a worker waiting for work must notice the phase change.
        if let Mode::Worker { .. } = shared.io.mode {
            shared.wake_worker();
        }
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
        self.deregister_locked(slot.as_ref());
    }

    pub(crate) fn close_handle(&self) {
        let mut slot = self.fd_slot();
        self.deregister_locked(slot.as_ref());
        drop(slot.take());
    }

    pub(crate) fn take_handle(&self) -> Option<OwnedFd> {
        let mut slot = self.fd_slot();
        self.deregister_locked(slot.as_ref());
        let fd = slot.take()?;
        if let Some(flags) = self.restore_flags {
            if let Err(e) = rustix::fs::fcntl_setfl(&fd, flags) {
                log::warn!("could not restore the descriptor's blocking mode: {e}");
            }
        }
        Some(fd)
    }

    /// Arms a one-shot writability wait in the reactor's poller.
    fn arm(&self, key: usize) -> io::Result<()> {
        let Mode::Reactor { registered, .. } = &self.mode else {
            return Ok(());
        };
        let slot = self.fd_slot();
        let Some(fd) = slot.as_ref() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let first = !registered.swap(true, Ordering::AcqRel);
        reactor::arm(fd.as_fd(), key, first)
    }

    /// True when a write may be made from a caller's thread: the descriptor is non-blocking.
    pub(crate) fn can_write_now(&self) -> bool {
        matches!(self.mode, Mode::Reactor { .. })
    }

    /// One non-blocking gather write from a caller's thread, with `SIGPIPE` blocked in that
    /// thread for its duration (P-4): a closed pipe leaves the signal pending, it is consumed,
    /// and the thread's mask is restored. The process-wide disposition is never touched.
    pub(crate) fn write_now(&self, bufs: &[Bytes]) -> Outcome {
        let _blocked = signal::SigpipeBlocked::new();
        self.write(bufs, usize::MAX)
    }

    /// One non-blocking (reactor) or bounded (worker) gather write of `bufs`.
    fn write(&self, bufs: &[Bytes], limit: usize) -> Outcome {
        let slot = self.fd_slot();
        let Some(fd) = slot.as_ref() else {
            return Outcome::Fatal(io::Error::new(
                io::ErrorKind::NotConnected,
                "the pipe handle was closed",
            ));
        };
        write_gather(fd.as_fd(), bufs, limit)
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        // Deregisters from the reactor's poller before the descriptor closes.
        self.close_handle();
    }
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
    match rustix::io::writev(fd, &slices[..count]) {
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
