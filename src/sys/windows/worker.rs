//! The synchronous-handle fallback (P-2): a thread of its own doing blocking `WriteFile`, for
//! handles opened without `FILE_FLAG_OVERLAPPED` (`CreatePipe` pairs, `std::io::pipe`, files
//! opened normally, consoles).
//!
//! Writes are at most one staging block (64 KiB) each, and no larger than the pipe's buffer
//! (see the parent module), so progress is reported at that granularity. `stop` cancels a blocked write with `CancelSynchronousIo` on the worker
//! thread. The cancel can arrive between the worker announcing a write and the write reaching
//! the kernel, where it finds nothing to cancel; so the canceller repeats it until the worker
//! reports the write finished (as libuv does), and the worker refuses to start a write once
//! the cancel flag is up. The thread ends when the writer does.
//!
//! # References
//! - [`CancelSynchronousIo`](https://learn.microsoft.com/windows/win32/fileio/cancelsynchronousio-func)
// Unsafe: blocking `WriteFile` and `CancelSynchronousIo`.
#![allow(unsafe_code)]

use std::fmt;
use std::os::windows::io::AsRawHandle;
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::Bytes;
use windows_sys::Win32::Foundation::{GetLastError, ERROR_OPERATION_ABORTED};
use windows_sys::Win32::Storage::FileSystem::WriteFile;
use windows_sys::Win32::System::IO::CancelSynchronousIo;

use super::{classify, not_our_cancel, stage, RawPipe, Staged};
use crate::core::Outcome;
use crate::driver::{Shared, Step};

/// How long the canceller waits between two `CancelSynchronousIo` attempts.
const CANCEL_RETRY: Duration = Duration::from_millis(1);
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
}

/// Whether a blocking write is under way, and whether `stop` wants it cancelled.
#[derive(Debug, Default)]
struct WriteState {
    writing: bool,
    cancelled: bool,
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

    /// `stop`: cancels a blocked write and waits until the worker has left it (W-10).
    pub(super) fn cancel(&self, shared: &Arc<Shared>) {
        let mut state = self.state();
        state.cancelled = true;
        while state.writing {
            if let Some(join) = self.thread().as_ref() {
                // SAFETY: the handle is the worker's real thread handle (with
                // THREAD_TERMINATE access), open while its JoinHandle is kept. The worker
                // cannot leave the write and start other I/O while we hold `state`.
                let ok = unsafe { CancelSynchronousIo(join.as_raw_handle()) };
                if ok == 0 {
                    // ERROR_NOT_FOUND: the worker announced the write but has not reached the
                    // kernel yet, or has just left it. Either way, look again shortly.
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

    /// One blocking write of at most a staging block from `bufs`, classified (E-1).
    fn write(&self, bufs: &[Bytes], staging: &mut Vec<u8>) -> Outcome {
        if bufs.is_empty() {
            return Outcome::Wrote(0);
        }
        let staged = stage(bufs, staging, self.max_write);
        let data = staged.as_slice();
        {
            let mut state = self.state();
            if state.cancelled {
                give_back(staging, staged);
                return Outcome::Cancelled(0);
            }
            state.writing = true;
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
        let cancelled = {
            let mut state = self.state();
            state.writing = false;
            state.cancelled
        };
        give_back(staging, staged);
        let written = written as usize;
        if ok != 0 {
            return Outcome::Wrote(written);
        }
        if error == ERROR_OPERATION_ABORTED && cancelled {
            return Outcome::Cancelled(written);
        }
        if written > 0 {
            // Report what went out; the next write meets the error again (W-6).
            return Outcome::Wrote(written);
        }
        not_our_cancel(classify(std::io::Error::from_raw_os_error(error as i32)))
    }
}

fn give_back(staging: &mut Vec<u8>, staged: Staged) {
    if let Staged::Copied(vec) = staged {
        *staging = vec;
    }
}

/// The worker thread.
fn run(shared: Arc<Shared>) {
    let Some(worker) = shared.io.worker() else {
        return;
    };
    let mut bufs = Vec::new();
    let mut staging = Vec::new();
    while shared.wait_for_work() {
        shared.resume();
        match shared.drive(&mut bufs, 16, |bufs| worker.write(bufs, &mut staging)) {
            Step::Idle | Step::Yield => {}
            Step::AwaitWritable => thread::sleep(ZERO_WRITE_DELAY),
            Step::RetryAfter(delay) => shared.pause(delay),
            Step::Done => break,
        }
    }
}
