//! The Windows backend (P-1, P-2, P-5): overlapped writes completed by a thread-pool wait, or
//! a blocking worker thread for handles opened without `FILE_FLAG_OVERLAPPED`.
//!
//! The mode is read from the handle itself (`NtQueryInformationFile(FileModeInformation)`,
//! as libuv does): a handle opened for synchronous I/O has `FILE_SYNCHRONOUS_IO_ALERT` or
//! `FILE_SYNCHRONOUS_IO_NONALERT` set, and an overlapped `WriteFile` on it would silently
//! run synchronously, so it goes to the worker (`worker.rs`); every other handle takes the
//! overlapped path (`overlapped.rs`). Unlike Unix, nothing about the handle is changed, so
//! the handle's provenance does not matter, and `--cfg pipewriter_force_fallback` cannot apply
//! to an overlapped handle (a blocking `WriteFile` without an `OVERLAPPED` is not valid on
//! it): the synchronous-handle tests exercise the worker instead.
//!
//! # Write size
//! On a pipe, one `WriteFile` is never larger than the pipe's buffer quota in the direction we
//! write (`GetNamedPipeInfo`). A pipe write completes only once all of it fits in the buffer,
//! and the reader may meanwhile read part of it straight from the pending write; if a stop
//! cancels such a write, the OS reports it as cancelled with nothing transferred (Wine does,
//! observably), although the reader got those bytes — and `stop` would hand them back
//! (W-10). A write no larger than the quota cannot be in that state: once the reader has
//! taken any of it, everything before it is gone and the rest fits, so it completes. Smaller
//! writes also report progress (`Written`) while the reader is slow. The cost is more calls
//! on pipes with small buffers. A write-only pipe handle may not be allowed to read its quota
//! (the server end of an outbound named pipe, e.g. a `ChildStdin`, lacks
//! `FILE_READ_ATTRIBUTES`). When this crate created the pipe, its creator passes the quota
//! along instead (P-7, `PipeHandle::known_quota`): the write end of `pipe()` carries the
//! quota its read end read back at creation (the pipe has the same quota both ways), and an
//! outbound-only `NamedPipeServer` the out buffer size its builder gave `CreateNamedPipeW`
//! (only for the pipe's first instance: an added instance may have the first one's quotas).
//! The system may round a requested quota up to an allocation boundary, which only adds room,
//! so a write no larger than what was asked for still fits. What the handle can read always
//! wins over what its creator knows. Other write-only pipes get 4 KiB writes, the smallest
//! buffer in common use. `Builder::max_write_size` lowers the limit further, never raises it;
//! the core submits no more than the limit at once (`Backend::max_write`). Files and other
//! handles have no such limit.
//!
//! # Wine
//! The Windows test suite runs under Wine in CI. Where Wine behaves differently from Windows,
//! or where the difference is unknown, the backend takes the path that is right for both:
//! - A pending pipe write that the reader had partly read, then cancelled (synchronous path)
//!   or broken (reader gone), reports zero bytes transferred under Wine. Handled by the write
//!   size rule above; the tests `e2_*` stop inside a write and fail without it.
//! - Wine's `GetOverlappedResult(.., TRUE)` reports success if the status is still pending
//!   after the event fired, and Wine disarms a thread-pool wait asynchronously, so a disarmed
//!   wait may still consume one signal. `stop` therefore polls the operation's status and
//!   waits on the event with a timeout (`overlapped.rs`), never on the event alone.
//! - Whether `WriteFile` clears the `OVERLAPPED`'s event when it starts does not matter: the
//!   backend clears it itself before every operation.
//! - Wine retires thread-pool threads after 5 s idle; Windows keeps a thread with I/O
//!   pending. A write that stays pending longer is tested to complete either way, and a
//!   cancellation the backend did not request (the OS cancels a thread's I/O when the thread
//!   exits) is retried rather than taken for a stop.
//! - Wine withdraws a cancelled pending write whole; Windows may count the part the pipe
//!   buffered as written. The stop tests accept both and check the accounting exactly.
//! - Wine cannot produce the resource-shortage errors of E-3 for a pipe: the error table is
//!   unit-tested code by code, and the retry path runs through fault injection.
//! - Under Wine a pipe whose reader never reads may still complete a pending write a little
//!   after the writer looked stalled (observed: 4 KiB, once the queue had been full for a
//!   while). The memory test therefore checks the hand-back against what is unwritten after
//!   the stop, which is the promise (W-10), not against a count read before it.
//! - Panicking wakers and handler drops on a thread-pool callback are contained as on Unix
//!   (W-13); tested under Wine, where the pool's threads are Wine's own.
//! - Wine honours the low-order bit of `OVERLAPPED.hEvent` as Windows documents it (P-7): the
//!   test `p7_completion_port_gets_no_packet_for_our_writes` binds a pipe to a port, sees no
//!   packet for the writer's writes, and one for its own write without the bit. Wine also
//!   ignores the low bits of a handle value when it looks the handle up, as Windows does.
//! - `CreateNamedPipeW`'s buffer sizes are advisory on Windows (possibly rounded up to an
//!   allocation boundary); Wine keeps them exactly, and its server end in an outbound-only
//!   pipe may not read them, like Windows'. A known quota is the size asked for, which is
//!   right for both; `tests/windows_quota.rs` reads the sizes back from a handle that may
//!   (exact under Wine) and checks that outbound-only ends write pieces as large as their
//!   quota, never larger.
//! - An uncancellable synchronous write (P-7) is simulated with a fault seam, not with a
//!   console: Wine's consoles do not block writes the way a Windows console with a selection
//!   does. The abandonment path is the same either way.
//!
//! # Message-mode pipes (P-7)
//! A message-mode pipe (`PIPE_TYPE_MESSAGE`, read with `GetNamedPipeInfo`) is refused by
//! `Io::new` with `InvalidInput`: staging merges writes and the quota splits them, so one
//! `write` would not stay one message. A handle that may not read its pipe's information
//! cannot be checked and is served as byte mode: the server end of an outbound-only
//! message-mode pipe is one (the crate's own `NamedPipeServerBuilder` can make it, and says
//! in its docs not to hand it to a writer).
//!
//! # References
//! - [`NtQueryInformationFile`](https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntqueryinformationfile)
//! - [`FILE_MODE_INFORMATION`](https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/ns-ntifs-_file_mode_information)
// Unsafe: Win32 and NT calls (handle mode and access, pipe quotas).
#![allow(unsafe_code)]

mod errors;
mod handle;
mod kernel;
pub(crate) mod named_pipe;
mod overlapped;
pub(crate) mod pipe;
mod unread;
mod worker;

#[cfg(test)]
mod tests;

use std::ffi::c_void;
use std::fmt;
use std::io;
use std::mem;
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use windows_sys::Wdk::Storage::FileSystem::{
    FileAccessInformation, FileModeInformation, NtQueryInformationFile, FILE_ACCESS_INFORMATION,
    FILE_MODE_INFORMATION, FILE_SYNCHRONOUS_IO_ALERT, FILE_SYNCHRONOUS_IO_NONALERT,
};
use windows_sys::Win32::Foundation::{GENERIC_ALL, GENERIC_WRITE, HANDLE};
use windows_sys::Win32::Storage::FileSystem::{
    GetFileType, FILE_APPEND_DATA, FILE_TYPE_DISK, FILE_TYPE_PIPE, FILE_WRITE_DATA,
};
use windows_sys::Win32::System::Pipes::{GetNamedPipeInfo, PIPE_SERVER_END, PIPE_TYPE_MESSAGE};
use windows_sys::Win32::System::IO::IO_STATUS_BLOCK;

pub(crate) use errors::classify;

use self::overlapped::Overlapped;
use self::worker::Worker;
use crate::core::Outcome;
use crate::driver::{Backend, PipeHandle, Shared};

/// The owned handle type a writer takes over and gives back: an `OwnedHandle` on Windows.
pub type OwnedPipe = OwnedHandle;

/// Small queued chunks are copied into one block of this size per `WriteFile` (W-4: Windows
/// pipes have no gather write); a head chunk at least this large is written in place.
const STAGING_BLOCK: usize = 64 * 1024;

/// A raw handle value that the backend passes to the OS from several threads. The handle is
/// owned by `Io` and stays open while any operation on it is pending.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawPipe(HANDLE);

// SAFETY: a HANDLE is a process-wide index into the kernel's handle table; any thread may use
// it. Its lifetime is managed by `Io` (see above).
unsafe impl Send for RawPipe {}
// SAFETY: as above; sharing the value gives nothing beyond copying it.
unsafe impl Sync for RawPipe {}

/// How a handle is driven.
enum Mode {
    /// Overlapped writes completed by a thread-pool wait (P-1).
    Overlapped(Overlapped),
    /// Blocking writes on a worker thread of its own (P-2).
    Worker(Worker),
}

/// The Windows per-writer state.
pub(crate) struct Io {
    /// The handle; `None` once closed or taken. It is only closed or taken while no
    /// operation is pending (the core guarantees it), so the I/O paths use a raw copy.
    handle: Mutex<Option<OwnedHandle>>,
    mode: Mode,
    /// The largest `WriteFile` the mode makes (see "Write size"), if limited.
    max_write: Option<usize>,
}

impl fmt::Debug for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &self.mode {
            Mode::Overlapped(_) => "overlapped",
            Mode::Worker(_) => "worker",
        };
        f.debug_struct("Io")
            .field("mode", &mode)
            .finish_non_exhaustive()
    }
}

impl Io {
    fn slot(&self) -> MutexGuard<'_, Option<OwnedHandle>> {
        self.handle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The overlapped state, when the handle is driven that way.
    fn overlapped(&self) -> Option<&Overlapped> {
        match &self.mode {
            Mode::Overlapped(overlapped) => Some(overlapped),
            Mode::Worker(_) => None,
        }
    }

    /// The worker state, when the handle is driven that way.
    fn worker(&self) -> Option<&Worker> {
        match &self.mode {
            Mode::Worker(worker) => Some(worker),
            Mode::Overlapped(_) => None,
        }
    }
}

impl Backend for Io {
    /// The provenance does not matter here (nothing about the handle is changed); the known
    /// quota sizes the writes of a pipe end that cannot read its own (see "Write size").
    fn new(pipe: PipeHandle) -> io::Result<Io> {
        let PipeHandle {
            handle,
            provenance: _,
            known_quota,
        } = pipe;
        let raw = RawPipe(handle.as_raw_handle());
        check_writable(raw)?;
        let quota = pipe_quota(raw, known_quota)?;
        let worker_limit = quota.map_or(STAGING_BLOCK, |q| q.min(STAGING_BLOCK));
        let (mode, max_write) = match query_mode(raw) {
            Ok(flags)
                if flags & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT) == 0 =>
            {
                // SAFETY: `raw` is the valid handle owned by `handle`.
                let append = unsafe { GetFileType(raw.0) } == FILE_TYPE_DISK;
                let limit = quota.unwrap_or(usize::MAX);
                (
                    Mode::Overlapped(Overlapped::new(raw, append, limit)?),
                    quota,
                )
            }
            Ok(_) => (
                Mode::Worker(Worker::new(raw, worker_limit)),
                Some(worker_limit),
            ),
            Err(e) => {
                // Console handles on old Windows versions are not file objects; whatever the
                // handle is, a blocking write is the only safe assumption.
                log::debug!("pipewriter: cannot read the handle's mode ({e}); using a worker");
                (
                    Mode::Worker(Worker::new(raw, worker_limit)),
                    Some(worker_limit),
                )
            }
        };
        Ok(Io {
            handle: Mutex::new(Some(handle)),
            mode,
            max_write,
        })
    }

    fn max_write(&self) -> Option<usize> {
        self.max_write
    }

    /// Gets the writer's I/O context once it is built (W-15): the thread-pool wait was made
    /// by `new`; a worker thread is started here.
    fn start(shared: &Arc<Shared>) -> io::Result<()> {
        match &shared.io.mode {
            Mode::Overlapped(_) => Ok(()),
            Mode::Worker(worker) => worker.start(shared),
        }
    }

    fn kick(shared: &Arc<Shared>) {
        match &shared.io.mode {
            Mode::Overlapped(overlapped) => overlapped.kick(shared),
            Mode::Worker(worker) => worker.kick(shared),
        }
    }

    fn cancel(shared: &Arc<Shared>) {
        match &shared.io.mode {
            Mode::Overlapped(overlapped) => overlapped.cancel(shared),
            Mode::Worker(worker) => worker.cancel(shared),
        }
    }

    fn linger(shared: &Arc<Shared>) {
        // The pending operation (overlapped) or the worker holds the writer while it has work
        // and closes the handle when the queue is empty; a worker waiting for work must notice
        // the phase change.
        if let Mode::Worker(_) = shared.io.mode {
            shared.wake_worker();
        }
    }

    fn close_handle(&self) {
        drop(self.slot().take());
    }

    fn take_handle(&self) -> Option<OwnedHandle> {
        self.slot().take()
    }
}

/// The `hEvent` of an `OVERLAPPED` for `event`: the same handle with its low-order bit set,
/// so that an operation on a handle bound to an I/O completion port queues no packet to that
/// port (P-7; see `overlapped.rs`). The OS still signals the event; wait on `event` itself.
/// The kernel ignores the two low bits of a handle value when it looks the handle up.
///
/// # References
/// - [`GetQueuedCompletionStatus`](https://learn.microsoft.com/windows/win32/api/ioapiset/nf-ioapiset-getqueuedcompletionstatus),
///   remarks on `lpOverlapped`
pub(crate) fn no_port_packet(event: HANDLE) -> HANDLE {
    event.map_addr(|address| address | 1)
}

/// What one `WriteFile` submits: memory that stays alive and unmoved until the OS is done.
#[derive(Debug)]
pub(super) enum Staged {
    /// A prefix of the head chunk, written in place (a reference-counted slice of the queue's
    /// own buffer).
    InPlace(Bytes),
    /// Head chunks copied into a staging block.
    Copied(Vec<u8>),
}

impl Staged {
    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            Staged::InPlace(bytes) => bytes,
            Staged::Copied(vec) => vec,
        }
    }
}

/// Chooses the buffer of one `WriteFile` from the chunks the core submitted (W-4): the head
/// chunk in place when it is alone or at least a (limited) staging block large, otherwise as many head
/// chunks as fit copied into `staging` (taken; give it back after the write). At most `limit`
/// bytes, and never more than `u32::MAX` (the length `WriteFile` takes).
pub(super) fn stage(bufs: &[Bytes], staging: &mut Vec<u8>, limit: usize) -> Staged {
    let limit = limit.clamp(1, u32::MAX as usize);
    let capacity = STAGING_BLOCK.min(limit);
    let head = &bufs[0];
    if bufs.len() == 1 || head.len() >= capacity {
        return Staged::InPlace(head.slice(..head.len().min(limit)));
    }
    let mut block = mem::take(staging);
    block.clear();
    block.reserve(capacity);
    for buf in bufs {
        let room = capacity - block.len();
        if room == 0 {
            break;
        }
        block.extend_from_slice(&buf[..buf.len().min(room)]);
    }
    Staged::Copied(block)
}

/// A cancellation this backend did not ask for (Windows cancels a thread's pending I/O when
/// the thread exits; another component may call `CancelIoEx` on the handle): not the end of
/// the writer. What was written is reported; otherwise the write is retried.
pub(super) fn not_our_cancel(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Cancelled(n) if n > 0 => Outcome::Wrote(n),
        Outcome::Cancelled(_) => {
            log::debug!("pipewriter: a write was cancelled by someone else; retrying");
            Outcome::Interrupted
        }
        other => other,
    }
}

/// The write size used on a pipe whose quota cannot be read and is not known from its
/// creator: a write-only handle without `FILE_READ_ATTRIBUTES` access, such as the server end
/// of an outbound named pipe that another component created (the standard library's
/// `ChildStdin`). 4 KiB is the smallest buffer the common creators use (`CreatePipe`'s
/// default), so it keeps `stop` exact for them all.
const UNKNOWN_QUOTA: usize = 4096;

/// The buffer quota of a pipe in the direction this end writes: the outbound buffer of a
/// server end, the inbound buffer (the server's) of a client end. When the handle is a pipe
/// but may not read it: `known`, what the pipe's creator knows of that quota (P-7; this
/// crate's pipes and outbound-only servers), else [`UNKNOWN_QUOTA`]. What the handle reads
/// wins over `known`. `None` for a handle that is not a pipe, or a pipe without a buffer
/// (quota 0: every write waits for the reader anyway).
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] for a message-mode pipe (`PIPE_TYPE_MESSAGE`, P-7): the
/// writer merges small writes into one `WriteFile` and splits large ones at the quota, so
/// one `write` would not be one message; it is refused rather than changing the messages a
/// reader sees. A handle that may not read its pipe's information (a write-only end without
/// `FILE_READ_ATTRIBUTES`, such as an outbound-only server end) cannot be checked and is taken
/// as byte mode.
///
/// # References
/// - [`GetNamedPipeInfo`](https://learn.microsoft.com/windows/win32/api/namedpipeapi/nf-namedpipeapi-getnamedpipeinfo)
///   (the access it needs, `PIPE_TYPE_MESSAGE`, `PIPE_SERVER_END`)
/// - [`GetFileType`](https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-getfiletype)
fn pipe_quota(handle: RawPipe, known: Option<usize>) -> io::Result<Option<usize>> {
    // SAFETY: a valid handle.
    if unsafe { GetFileType(handle.0) } != FILE_TYPE_PIPE {
        return Ok(None);
    }
    let (mut flags, mut out_size, mut in_size) = (0u32, 0u32, 0u32);
    // SAFETY: a valid handle; valid out pointers; the instance count is not asked for.
    let ok = unsafe {
        GetNamedPipeInfo(
            handle.0,
            &mut flags,
            &mut out_size,
            &mut in_size,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Ok(Some(known.unwrap_or(UNKNOWN_QUOTA)));
    }
    if flags & PIPE_TYPE_MESSAGE != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the handle is a message-mode pipe (PIPE_TYPE_MESSAGE): a PipeWriter merges and \
             splits writes, so one write would not stay one message; use a byte-mode pipe",
        ));
    }
    let quota = if flags & PIPE_SERVER_END != 0 {
        out_size
    } else {
        in_size
    };
    Ok((quota > 0).then_some(quota as usize))
}

/// Queries one fixed-size `FILE_*_INFORMATION` class of a handle.
fn query_information<T: Default>(handle: RawPipe, class: i32) -> io::Result<T> {
    let mut info = T::default();
    let mut status_block = IO_STATUS_BLOCK::default();
    // SAFETY: `info` is a writable buffer of exactly the size passed, of the type that
    // `class` fills; `status_block` is a valid out pointer; the handle is valid.
    let status = unsafe {
        NtQueryInformationFile(
            handle.0,
            &mut status_block,
            (&mut info as *mut T).cast::<c_void>(),
            mem::size_of::<T>() as u32,
            class,
        )
    };
    if status < 0 {
        return Err(io::Error::other(format!(
            "NtQueryInformationFile failed with NTSTATUS {status:#010x}"
        )));
    }
    Ok(info)
}

/// The handle's mode flags (`FILE_SYNCHRONOUS_IO_*` among them).
fn query_mode(handle: RawPipe) -> io::Result<u32> {
    query_information::<FILE_MODE_INFORMATION>(handle, FileModeInformation).map(|info| info.Mode)
}

/// Refuses handles that were not opened for writing. When the access mask cannot be read,
/// the first write reports the problem instead.
fn check_writable(handle: RawPipe) -> io::Result<()> {
    let Ok(info) = query_information::<FILE_ACCESS_INFORMATION>(handle, FileAccessInformation)
    else {
        return Ok(());
    };
    let write_rights = FILE_WRITE_DATA | FILE_APPEND_DATA | GENERIC_WRITE | GENERIC_ALL;
    if info.AccessFlags & write_rights == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the handle is not open for writing",
        ));
    }
    Ok(())
}
