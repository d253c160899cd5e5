//! The synchronous-handle fallback (P-2): a thread of its own doing blocking `WriteFile`, for
//! handles opened without `FILE_FLAG_OVERLAPPED` (`CreatePipe` pairs, `std::io::pipe`, files
//! opened normally, consoles).
//!
//! The thread runs the driver's completion loop (`driver::completion`), each submission one
//! blocking write of at most one staging block (64 KiB), and no larger than the pipe's buffer
//! (see the parent module), so progress is reported at that granularity.
//!
//! # Stop
//! `stop` cancels a blocked write with `CancelSynchronousIo` on the worker thread. The cancel
//! can arrive between the worker announcing a write and the write reaching the kernel, where
//! it finds nothing to cancel; so the canceller repeats it (as libuv does), and the worker
//! refuses to start a write once the cancel flag is up.
//!
//! Some writes cannot be cancelled at all: a console write held by a selection or `Ctrl+S`,
//! a driver that ignores cancellation (P-7). `stop` then gives up after [`CANCEL_PATIENCE`]
//! and *abandons* the write: it reports the write to the core as cancelled with nothing
//! written, so its bytes are in the hand-back, and takes the handle out of the writer (so
//! `into_handle` gives back none). The worker keeps the write's buffer and the handle until
//! its `WriteFile` returns, then closes the handle and exits. Closing it earlier could block
//! (a synchronous file object serialises its operations) and the buffer must stay alive
//! (W-5). What cannot be known: whether the OS writes the abandoned bytes after all, in whole
//! or in part. They are handed back because they were not *reported* written; a reader may
//! still receive them. This is logged as a warning with the byte count.
//!
//! Exactly one party reports a write to the core: the worker, when its write returns before
//! the abandonment; or `cancel`, which sets `abandoned` under the write-state lock, after
//! which the worker's late result is dropped.
//!
//! # References
//! - [`CancelSynchronousIo`](https://learn.microsoft.com/windows/win32/fileio/cancelsynchronousio-func)
//! - [`WriteFile`](https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-writefile)
//! - [Canceling pending I/O](https://learn.microsoft.com/windows/win32/fileio/canceling-pending-i-o-operations)
// Unsafe: blocking `WriteFile` and `CancelSynchronousIo`.
#![allow(unsafe_code)]

use std::fmt;
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;
use windows_sys::Win32::Foundation::{GetLastError, ERROR_OPERATION_ABORTED};
use windows_sys::Win32::Storage::FileSystem::WriteFile;
use windows_sys::Win32::System::IO::CancelSynchronousIo;

use super::{classify, not_our_cancel, stage, RawPipe, Staged};
use crate::core::Outcome;
use crate::driver::completion::{self, Completion, Submitted};
use crate::driver::{Backend, Shared};

/// How long the canceller waits between two `CancelSynchronousIo` attempts.
const CANCEL_RETRY: Duration = Duration::from_millis(1);
/// How long `stop` keeps cancelling a write before it abandons it to the worker (see the
/// module docs).
pub(super) const CANCEL_PATIENCE: Duration = Duration::from_millis(250);
/// Blocking writes in a row before the worker looks at its wake-up state again.
const MAX_INLINE: usize = 16;
/// How long to wait before retrying after a write that wrote zero bytes.
const ZERO_WRITE_DELAY: Duration = Duration::from_millis(1);

/// The worker state of one writer.
pub(super) struct Worker {
    handle: RawPipe,
    /// The largest single write: a staging block, or the pipe's buffer quota if smaller.
    max_write: usize,
    /// The thread, for its real handle (`CancelSynchronousIo` needs one).
    thread: Mutex<Option<JoinHandle<()>>>,
    write: Mutex<WriteState>,
    /// What the loop asked the thread to wait for before writing again (`wait_then_resume`):
    /// `Some(None)` a zero-byte pause, `Some(Some(delay))` a backoff.
    wait: Mutex<Option<Option<Duration>>>,
    /// The staging block, kept for reuse between writes (only the worker thread uses it).
    staging: Mutex<Vec<u8>>,
}

/// Whether a blocking write is under way, and whether `stop` wants it cancelled.
#[derive(Debug, Default)]
struct WriteState {
    writing: bool,
    cancelled: bool,
    /// `stop` gave up on the write under way and reported it itself: the worker drops its
    /// result, closes `orphan` and exits.
    abandoned: bool,
    /// The handle, taken out of the writer when the write was abandoned.
    orphan: Option<OwnedHandle>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("max_write", &self.max_write)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub(super) fn new(handle: RawPipe, max_write: usize) -> Worker {
        Worker {
            handle,
            max_write,
            thread: Mutex::new(None),
            write: Mutex::new(WriteState::default()),
            wait: Mutex::new(None),
            staging: Mutex::new(Vec::new()),
        }
    }

    fn state(&self) -> MutexGuard<'_, WriteState> {
        self.write.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn thread(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        self.thread.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The worker thread's handle, for the P-5 tests.
    #[cfg(test)]
    pub(super) fn thread_handle(&self) -> Option<windows_sys::Win32::Foundation::HANDLE> {
        self.thread().as_ref().map(|join| join.as_raw_handle())
    }

    /// Starts the worker thread, when the writer is built.
    ///
    /// # Errors
    /// The OS error when the thread cannot be started (W-15).
    pub(super) fn start(&self, shared: &Arc<Shared>) -> std::io::Result<()> {
        let owner = shared.clone();
        let join = crate::thread::spawn("pipewriter-worker", move || run(owner))?;
        *self.thread() = Some(join);
        Ok(())
    }

    pub(super) fn kick(&self, shared: &Arc<Shared>) {
        shared.wake_worker();
    }

    /// `stop`: cancels a blocked write and waits until the worker has left it (W-10), for at
    /// most [`CANCEL_PATIENCE`]; then abandons it (see the module docs).
    pub(super) fn cancel(&self, shared: &Arc<Shared>) {
        let started = Instant::now();
        let mut state = self.state();
        state.cancelled = true;
        while state.writing {
            if started.elapsed() >= CANCEL_PATIENCE {
                state.abandoned = true;
                // Under the write-state lock: the worker, back from its write, sees
                // `abandoned` and reports nothing.
                state.orphan = shared.io.take_handle();
                drop(state);
                log::warn!(
                    "pipewriter: a blocking write could not be cancelled within \
                     {CANCEL_PATIENCE:?}; its bytes are handed back but may still be written"
                );
                let _ = shared.complete(Outcome::Cancelled(0));
                return;
            }
            if let Some(join) = self.thread().as_ref() {
                // SAFETY: the handle is the worker's real thread handle (with
                // THREAD_TERMINATE access), open while its JoinHandle is kept. The worker
                // cannot leave the write and start other I/O while we hold `state`.
                let ok = unsafe { CancelSynchronousIo(join.as_raw_handle()) };
                if ok == 0 {
                    // ERROR_NOT_FOUND: the worker announced the write but has not reached the
                    // kernel yet, or has just left it, or the write cannot be cancelled.
                    // Either way, look again shortly.
                    log::trace!("pipewriter: CancelSynchronousIo found nothing; retrying");
                }
            }
            drop(state);
            thread::sleep(CANCEL_RETRY);
            state = self.state();
        }
        drop(state);
        shared.wake_worker();
    }

    /// One blocking write of at most a staging block from `bufs`, classified (E-1); `None`
    /// when `stop` abandoned it meanwhile (and reported it itself).
    fn write(&self, bufs: &[Bytes], staging: &mut Vec<u8>) -> Option<Outcome> {
        if bufs.is_empty() {
            return Some(Outcome::Wrote(0));
        }
        let staged = stage(bufs, staging, self.max_write);
        let data = staged.as_slice();
        {
            let mut state = self.state();
            if state.cancelled {
                give_back(staging, staged);
                return Some(Outcome::Cancelled(0));
            }
            state.writing = true;
        }
        #[cfg(feature = "fault-injection")]
        if let Some(stall) = crate::fault::blocking_write_stall() {
            // A write that cancellation cannot reach: not an I/O, so CancelSynchronousIo
            // finds nothing, as with a console write it cannot interrupt.
            thread::sleep(stall);
        }
        let mut written = 0u32;
        // SAFETY: the handle is open (it is closed only while nothing is in flight);
        // `data` is valid for the whole call; `written` is a valid out pointer; no OVERLAPPED
        // on a synchronous handle.
        let ok = unsafe {
            WriteFile(
                self.handle.0,
                data.as_ptr(),
                data.len() as u32, // `stage` clamps to `max_write` (at most 64 KiB)
                &mut written,
                ptr::null_mut(),
            )
        };
        let error = if ok == 0 {
            // SAFETY: reads this thread's last-error value (before any other call changes it).
            unsafe { GetLastError() }
        } else {
            0
        };
        let (cancelled, orphan) = {
            let mut state = self.state();
            state.writing = false;
            let orphan = state.abandoned.then(|| state.orphan.take());
            (state.cancelled, orphan)
        };
        give_back(staging, staged);
        if let Some(orphan) = orphan {
            // Abandoned by `stop`, which reported it: the handle is ours to close.
            log::debug!(
                "pipewriter: an abandoned blocking write returned ({} bytes written)",
                if ok != 0 { written } else { 0 }
            );
            drop(orphan);
            return None;
        }
        let written = written as usize;
        if ok != 0 {
            return Some(Outcome::Wrote(written));
        }
        if error == ERROR_OPERATION_ABORTED && cancelled {
            return Some(Outcome::Cancelled(written));
        }
        if written > 0 {
            // Report what went out; the next write meets the error again (W-6).
            return Some(Outcome::Wrote(written));
        }
        Some(not_our_cancel(classify(std::io::Error::from_raw_os_error(
            error as i32,
        ))))
    }

    fn staging(&self) -> MutexGuard<'_, Vec<u8>> {
        self.staging.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Completion for Worker {
    const MAX_INLINE: usize = MAX_INLINE;

    /// One blocking write; `Pending` only when `stop` abandoned it (and reported it).
    fn submit(&self, _shared: &Arc<Shared>, bufs: Vec<Bytes>) -> Submitted {
        let mut staging = std::mem::take(&mut *self.staging());
        let result = self.write(&bufs, &mut staging);
        *self.staging() = staging;
        match result {
            Some(outcome) => Submitted::Done(outcome),
            None => Submitted::Pending,
        }
    }

    fn wait_then_resume(&self, _shared: &Arc<Shared>, delay: Option<Duration>) {
        *self.wait.lock().unwrap_or_else(|e| e.into_inner()) = Some(delay);
    }

    fn yield_turn(&self, _shared: &Arc<Shared>) {}

    fn injected(&self, outcome: Outcome) -> Outcome {
        not_our_cancel(outcome)
    }
}

fn give_back(staging: &mut Vec<u8>, staged: Staged) {
    if let Staged::Copied(vec) = staged {
        *staging = vec;
    }
}

/// The worker thread: the completion loop whenever there is work, and the waits it asks for.
fn run(shared: Arc<Shared>) {
    let Some(worker) = shared.io.worker() else {
        return;
    };
    while shared.wait_for_work() {
        let wait = worker.wait.lock().unwrap_or_else(|e| e.into_inner()).take();
        match wait {
            Some(Some(delay)) => shared.pause(delay),
            Some(None) => thread::sleep(ZERO_WRITE_DELAY),
            None => {}
        }
        shared.resume();
        completion::run(worker, &shared, None);
        if worker.state().abandoned {
            break;
        }
    }
}
