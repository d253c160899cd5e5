//! The overlapped path (P-1): one `OVERLAPPED` with an auto-reset event per writer, completed
//! by a thread-pool wait.
//!
//! # How a write travels
//! 1. `kick` (a write on an idle writer) parks a strong reference to the writer in the block
//!    (`Pending::Kick`), signals the event and arms the wait. It does not call `WriteFile`
//!    itself, for two reasons: Windows cancels the pending I/O of a thread when that thread
//!    exits (I/O not bound to a completion port is owned by the thread that issued it), so a
//!    short-lived thread that writes would see its data cancelled; and a `WriteFile` on an
//!    overlapped *file* handle may still run synchronously (extending a file, for one), which
//!    would block `write` (W-1). The price is one thread-pool hop per burst, the same hop the
//!    Unix backend pays to reach its reactor. No event is ever delivered from `kick` (W-8).
//! 2. The callback runs on a pool thread: it asks the core for the next chunks
//!    (`Shared::begin`), stages them (small chunks copied into one block of up to 64 KiB,
//!    a large head chunk written in place from the `Bytes` the core handed out), resets the
//!    event, issues `WriteFile` and arms the wait. The buffer and a strong reference to the
//!    writer are parked in `Pending::Write` until the OS reports completion (W-5).
//! 3. On completion the callback collects the result (`GetOverlappedResult` without waiting),
//!    reports it (`Shared::complete`), delivers events (`Shared::dispatch`) and chains the next
//!    write (W-3) — without the owner doing anything. When `WriteFile` completes synchronously
//!    the callback collects it at once and loops (as Qt does), up to `MAX_INLINE` times before
//!    it hands over to the pool again (as a kick does) to stay fair to other pool work.
//!
//! # Who collects a completion
//! Exactly one party reports an operation to the core: whoever takes `Pending::Write` out of
//! the block under the `op` lock — the callback, or `cancel`. `cancel` also sets `cancelled`
//! under that lock, after which nothing arms the wait or starts a write any more; the callback
//! that finds the slot empty returns without touching the writer.
//!
//! # Lifetimes
//! The block is the callback's context. It lives as long as the wait: dropping the
//! `Overlapped` drops the wait first, which disarms it and waits for every callback (see
//! `ThreadpoolWait`). A parked `Pending` holds an `Arc<Shared>`, so the writer (and this
//! block, which it owns) stays alive while an operation is in flight — even after the user
//! dropped the writer with the linger policy. A callback that holds the last reference and
//! drops it (a handler dropped the writer) frees the block from inside its own callback: the
//! wait's drop then disassociates the callback before waiting, and the callback touches
//! nothing after that drop.
//!
//! # Handles bound to a completion port (P-7)
//! The handle may have been associated with an I/O completion port by its previous owner
//! (mio, tokio, libuv and .NET all do it), and the association belongs to the file object:
//! it survives `DuplicateHandle` and cannot be undone. Every overlapped operation on such a
//! handle would also queue a packet to that port carrying the address of our `OVERLAPPED`,
//! which the port's owner would then take for one of its own: memory unsafety reachable from
//! safe code. The `OVERLAPPED`'s `hEvent` therefore carries the event with its low-order bit
//! set, which the documented rule says keeps the completion from being queued to the port;
//! the event is still signalled, and every wait uses the unmasked handle.
//!
//! # References
//! - [`GetQueuedCompletionStatus`](https://learn.microsoft.com/windows/win32/api/ioapiset/nf-ioapiset-getqueuedcompletionstatus)
//!   (the low-order bit of `hEvent`)
//! - [`WriteFile`](https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-writefile)
//! - [`GetOverlappedResult`](https://learn.microsoft.com/windows/win32/api/ioapiset/nf-ioapiset-getoverlappedresult)
//! - [`CancelIoEx`](https://learn.microsoft.com/windows/win32/fileio/cancelioex-func)
// Unsafe: overlapped `WriteFile`, the pinned `OVERLAPPED` and thread-pool callbacks.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::fmt;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_IO_INCOMPLETE, ERROR_IO_PENDING, ERROR_NOT_FOUND, WAIT_TIMEOUT,
};
use windows_sys::Win32::Storage::FileSystem::WriteFile;
use windows_sys::Win32::System::Threading::{WaitForSingleObject, PTP_CALLBACK_INSTANCE, PTP_WAIT};
use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};

use super::kernel::{CallbackScope, Event, ThreadpoolWait};
use bytes::Bytes;

use super::{not_our_cancel, stage, RawPipe, Staged};
use crate::core::Outcome;
use crate::driver::completion::{self, Completion, Submitted};
use crate::driver::Shared;

/// Synchronous completions a callback handles in a row before it gives the pool thread back.
const MAX_INLINE: usize = 16;
/// How long to wait before retrying after a write that completed with zero bytes.
const ZERO_WRITE_DELAY: Duration = Duration::from_millis(1);
/// How long `cancel` waits on the event between two looks at the operation's status.
const CANCEL_POLL_MS: u32 = 10;

/// The overlapped state of one writer.
pub(super) struct Overlapped {
    /// Declared first so it is dropped first: its drop waits for the callbacks that use
    /// `block`.
    wait: ThreadpoolWait,
    /// The callback's context; shared with no one else (an `Arc` only so that its address is
    /// stable and never asserted unique while the pool and the OS use it).
    block: Arc<Block>,
}

impl fmt::Debug for Overlapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overlapped")
            .field("event", &self.block.event)
            .field("append", &self.block.append)
            .field("max_write", &self.block.max_write)
            .finish_non_exhaustive()
    }
}

/// What the callback, the kick and the cancel share: heap-pinned, never moved.
struct Block {
    /// The writer's handle (owned by `Io`, open while anything is pending).
    handle: RawPipe,
    /// Disk files: every write goes to the end of the file (offset `0xFFFF_FFFF_FFFF_FFFF`),
    /// since an overlapped handle has no file pointer.
    append: bool,
    /// The largest single write (the pipe's buffer quota; see the parent module).
    max_write: usize,
    /// The auto-reset event of the `OVERLAPPED` (P-5: unnamed, not inheritable).
    event: Event,
    /// Written by the OS while an operation is in flight; by us only in `prepare`.
    overlapped: UnsafeCell<OVERLAPPED>,
    op: Mutex<Op>,
}

// SAFETY: `overlapped` is only written by this code in `Block::prepare`, under the `op` lock,
// when no operation is in flight; otherwise only the OS writes it and we only pass its address
// to the OS. Everything else is immutable or behind the `op` mutex; the handles are usable
// from any thread.
unsafe impl Sync for Block {}
// SAFETY: as above; nothing in the block is tied to the thread that created it.
unsafe impl Send for Block {}

/// The operation state, under the block's lock.
#[derive(Default)]
struct Op {
    pending: Pending,
    /// `stop` was requested: never start a write or arm the wait again.
    cancelled: bool,
    /// The staging block, kept for reuse between writes.
    staging: Vec<u8>,
}

/// What the armed wait is for. Every variant but `None` holds the writer alive.
#[derive(Default)]
enum Pending {
    /// Nothing armed.
    #[default]
    None,
    /// The writer was kicked; the callback starts writing.
    Kick(Arc<Shared>),
    /// A transient-error backoff (or a zero-byte write) is timing out; the callback resumes.
    Retry(Arc<Shared>),
    /// A `WriteFile` is in flight with this buffer.
    Write(InFlight),
}

/// One operation the OS may still be using.
struct InFlight {
    owner: Arc<Shared>,
    /// The memory the OS reads from; released only after the OS reported completion (W-5).
    buffer: Staged,
}

/// How the callback's loop starts.
enum First {
    Start,
    Resume,
    Collected(Outcome),
}

/// The raw result of a finished operation: bytes transferred, or an error code with the
/// bytes transferred before it.
type RawResult = Result<usize, (u32, usize)>;

impl Overlapped {
    /// Creates the event and the thread-pool wait for `handle`. Starts no I/O.
    ///
    /// # Errors
    /// When the event or the wait cannot be created (P-1: a constructor error, not a later
    /// surprise).
    pub(super) fn new(
        handle: RawPipe,
        append: bool,
        max_write: usize,
    ) -> std::io::Result<Overlapped> {
        let event = Event::new_auto_reset()?;
        // SAFETY: OVERLAPPED is plain data; all zeroes is its documented initial state.
        let mut overlapped: OVERLAPPED = unsafe { mem::zeroed() };
        // The low-order bit keeps the completion off any I/O completion port the handle is
        // bound to (P-7); the waits use the event itself.
        overlapped.hEvent = super::no_port_packet(event.raw());
        let block = Arc::new(Block {
            handle,
            append,
            max_write,
            event,
            overlapped: UnsafeCell::new(overlapped),
            op: Mutex::new(Op::default()),
        });
        // SAFETY: the context is the block, which outlives the wait (field order of
        // `Overlapped`; the wait's drop waits for every callback that has not disassociated
        // itself, and a disassociated one only touches the block through the `Arc<Shared>`
        // it holds). `on_signal` never unwinds.
        let wait = unsafe { ThreadpoolWait::new(on_signal, Arc::as_ptr(&block).cast::<c_void>())? };
        Ok(Overlapped { wait, block })
    }

    /// The event handle, for the P-5 tests.
    #[cfg(test)]
    pub(super) fn event_handle(&self) -> windows_sys::Win32::Foundation::HANDLE {
        self.block.event.raw()
    }

    /// The writer went from idle to having queued data: hand it to the pool.
    pub(super) fn kick(&self, shared: &Arc<Shared>) {
        self.schedule(shared);
    }

    /// Has a pool thread call `run` soon (a kick, or a callback yielding its thread).
    fn schedule(&self, shared: &Arc<Shared>) {
        let mut op = self.block.lock();
        if op.cancelled {
            return;
        }
        debug_assert!(
            matches!(op.pending, Pending::None),
            "scheduled while pending"
        );
        op.pending = Pending::Kick(shared.clone());
        self.block.event.set();
        self.wait.arm(&self.block.event, None);
    }

    /// `stop`: cancels what is pending, waits until the OS is done with an in-flight write and
    /// reports it, then waits until no callback runs (W-10, W-5).
    pub(super) fn cancel(&self, shared: &Arc<Shared>) {
        let taken = {
            let mut op = self.block.lock();
            op.cancelled = true;
            // Under the lock, so no one can re-arm after this.
            self.wait.disarm();
            mem::take(&mut op.pending)
        };
        match taken {
            Pending::Write(in_flight) => {
                // SAFETY: the operation is in flight on this handle with this OVERLAPPED; the
                // handle is open (it is closed only when nothing is pending).
                let ok = unsafe { CancelIoEx(self.block.handle.0, self.block.overlapped.get()) };
                if ok == 0 {
                    // SAFETY: reads this thread's last-error value.
                    let error = unsafe { GetLastError() };
                    if error != ERROR_NOT_FOUND {
                        // ERROR_NOT_FOUND: it completed before the cancel; anything else is
                        // unexpected, but the wait below still ends when the I/O does.
                        log::debug!("pipewriter: CancelIoEx failed with error {error}");
                    }
                }
                let result = self.block.wait_until_finished();
                let outcome = match result {
                    Ok(n) => Outcome::Wrote(n),
                    Err((_, n)) => Outcome::Cancelled(n),
                };
                self.block.recycle(in_flight.buffer);
                let _ = shared.complete(outcome);
                drop(in_flight.owner);
            }
            Pending::Kick(owner) | Pending::Retry(owner) => drop(owner),
            Pending::None => {}
        }
        self.wait.wait_for_callbacks();
    }

    /// Arms the backoff timer (E-3) or the zero-byte retry.
    fn arm_retry(&self, shared: &Arc<Shared>, delay: Duration) {
        let mut op = self.block.lock();
        if op.cancelled {
            return;
        }
        op.pending = Pending::Retry(shared.clone());
        // Nothing is in flight: a stale signal would only end the delay early.
        self.block.event.reset();
        self.wait.arm(&self.block.event, Some(delay));
    }

    /// The callback's work once it holds the writer: the driver's one completion loop
    /// (collect, report, dispatch, chain), which the simulated kernel of loom and Miri runs too.
    fn run(&self, shared: &Arc<Shared>, first: First) {
        let collected = match first {
            First::Start => None,
            First::Resume => {
                shared.resume();
                None
            }
            First::Collected(outcome) => Some(outcome),
        };
        completion::run(self, shared, collected);
    }
}

impl Completion for Overlapped {
    const MAX_INLINE: usize = MAX_INLINE;

    /// Starts an overlapped `WriteFile` of `bufs` (staged into one block when small).
    fn submit(&self, shared: &Arc<Shared>, bufs: Vec<Bytes>) -> Submitted {
        let block = &*self.block;
        let mut op = block.lock();
        if op.cancelled {
            // Stopped between `begin` and here: report the submission as cancelled unwritten.
            return Submitted::Done(Outcome::Cancelled(0));
        }
        let buffer = stage(&bufs, &mut op.staging, block.max_write);
        drop(bufs);
        let data = buffer.as_slice();
        // `stage` clamps the length to `u32::MAX`.
        let (ptr, len) = (data.as_ptr(), data.len() as u32);
        // SAFETY: no operation is in flight (the slot is empty and we hold the lock).
        unsafe { block.prepare() };
        op.pending = Pending::Write(InFlight {
            owner: shared.clone(),
            buffer,
        });
        // SAFETY: the handle is open; `ptr..ptr+len` is the parked buffer, which is neither
        // moved nor freed until the completion is collected (W-5); the OVERLAPPED is pinned
        // in the block and reset above; its event is ours.
        let ok = unsafe {
            WriteFile(
                block.handle.0,
                ptr,
                len,
                ptr::null_mut(),
                block.overlapped.get(),
            )
        };
        if ok != 0 {
            // Completed synchronously: collect it now (as Qt does). The OS has signalled the
            // event too (it does for overlapped handles unless FILE_SKIP_SET_EVENT_ON_HANDLE
            // is set, which we never set); nobody waits on it, and `prepare` clears it before
            // the next operation.
            let result = block.result_now();
            let in_flight = op.take_write();
            op.staging_back(in_flight.buffer);
            return Submitted::Done(outcome_of(result));
        }
        // SAFETY: reads this thread's last-error value.
        let error = unsafe { GetLastError() };
        if error == ERROR_IO_PENDING {
            self.wait.arm(&block.event, None);
            return Submitted::Pending;
        }
        let in_flight = op.take_write();
        op.staging_back(in_flight.buffer);
        Submitted::Done(outcome_of(Err((error, 0))))
    }

    fn wait_then_resume(&self, shared: &Arc<Shared>, delay: Option<Duration>) {
        // `None`: a zero-byte completion of a non-empty write; pipes do not do that, but if
        // one does, retry shortly rather than spin.
        self.arm_retry(shared, delay.unwrap_or(ZERO_WRITE_DELAY));
    }

    fn yield_turn(&self, shared: &Arc<Shared>) {
        self.schedule(shared);
    }

    fn injected(&self, outcome: Outcome) -> Outcome {
        not_our_cancel(outcome)
    }
}

impl Block {
    fn lock(&self) -> MutexGuard<'_, Op> {
        // No panic happens under this lock, so a poisoned lock still guards consistent state.
        self.op.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resets the OVERLAPPED and the event for a new operation.
    ///
    /// # Safety
    /// No operation may be in flight on the OVERLAPPED, and the caller holds the `op` lock.
    unsafe fn prepare(&self) {
        let overlapped = self.overlapped.get();
        let offset = if self.append { u32::MAX } else { 0 };
        // SAFETY: the caller guarantees nobody else (the OS included) uses it now.
        unsafe {
            (*overlapped).Internal = 0;
            (*overlapped).InternalHigh = 0;
            (*overlapped).Anonymous.Anonymous.Offset = offset;
            (*overlapped).Anonymous.Anonymous.OffsetHigh = offset;
        }
        // A signal left over from an earlier operation (a synchronous completion that nobody
        // waited for, a kick that was cancelled) must not be taken for this operation's
        // completion. After this, a signal means this operation finished.
        self.event.reset();
    }

    /// The result of the current operation without waiting; `Err((ERROR_IO_INCOMPLETE, _))`
    /// while it is still pending.
    fn result_now(&self) -> RawResult {
        let mut transferred = 0u32;
        // SAFETY: the OVERLAPPED belongs to an operation issued on this handle (or to none
        // yet, which reports the zeroed status); `transferred` is a valid out pointer.
        let ok = unsafe {
            GetOverlappedResult(self.handle.0, self.overlapped.get(), &mut transferred, 0)
        };
        if ok != 0 {
            Ok(transferred as usize)
        } else {
            // SAFETY: reads this thread's last-error value.
            Err((unsafe { GetLastError() }, transferred as usize))
        }
    }

    /// Waits until the OS has finished with the current operation and returns its result.
    ///
    /// This is `GetOverlappedResult(.., bWait = TRUE)` done by hand: the status is polled
    /// without waiting, and between polls the event is waited for with a short timeout. The
    /// plain waiting call is not safe here: it waits on the event, whose signal the
    /// thread-pool wait may have consumed an instant before `disarm` took effect (Wine disarms
    /// asynchronously), which would block `stop` forever; and Wine reports success when the
    /// status is still pending after the event fired. Polling the status ends exactly when
    /// the OS wrote the final status, whoever consumed the signal.
    fn wait_until_finished(&self) -> RawResult {
        loop {
            match self.result_now() {
                Err((ERROR_IO_INCOMPLETE, _)) => {
                    // SAFETY: the event handle is valid for the block's lifetime.
                    let _ = unsafe { WaitForSingleObject(self.event.raw(), CANCEL_POLL_MS) };
                }
                result => return result,
            }
        }
    }

    /// Keeps a finished operation's staging block for the next write.
    fn recycle(&self, buffer: Staged) {
        self.lock().staging_back(buffer);
    }

    /// The callback's first step: takes what the wait was armed for. `None` when `cancel`
    /// took it first (or the signal was stale).
    fn take_for_callback(&self) -> Option<(Arc<Shared>, First)> {
        let mut op = self.lock();
        match mem::take(&mut op.pending) {
            Pending::None => None,
            Pending::Kick(owner) => Some((owner, First::Start)),
            Pending::Retry(owner) => Some((owner, First::Resume)),
            Pending::Write(in_flight) => match self.result_now() {
                Err((ERROR_IO_INCOMPLETE, _)) => {
                    // A signal without a completion (cannot happen once `prepare` resets the
                    // event, but cheap to survive): keep waiting. Re-armed under the lock,
                    // so a concurrent `cancel` disarms after this.
                    if let Some(overlapped) = in_flight.owner.io.overlapped() {
                        overlapped.wait.arm(&self.event, None);
                    }
                    op.pending = Pending::Write(in_flight);
                    None
                }
                result => {
                    op.staging_back(in_flight.buffer);
                    Some((in_flight.owner, First::Collected(outcome_of(result))))
                }
            },
        }
    }
}

impl Op {
    fn take_write(&mut self) -> InFlight {
        match mem::take(&mut self.pending) {
            Pending::Write(in_flight) => in_flight,
            _ => unreachable!("the operation just started is parked"),
        }
    }

    fn staging_back(&mut self, buffer: Staged) {
        if let Staged::Copied(vec) = buffer {
            if vec.capacity() >= self.staging.capacity() {
                self.staging = vec;
            }
        }
    }
}

/// Maps a finished operation that our `cancel` did not collect (E-1 … E-4).
fn outcome_of(result: RawResult) -> Outcome {
    match result {
        Ok(n) => Outcome::Wrote(n),
        // Bytes went out before the error: report them; the next write meets the error
        // again and reports it then (exact accounting, W-6).
        Err((_, n)) if n > 0 => Outcome::Wrote(n),
        Err((code, _)) => not_our_cancel(super::classify(std::io::Error::from_raw_os_error(
            code as i32,
        ))),
    }
}

/// The thread-pool callback. Never unwinds into the OS (P-1, W-8): a panic here is a bug in
/// this crate (handlers' panics are caught where they are called) and aborts.
unsafe extern "system" fn on_signal(
    instance: PTP_CALLBACK_INSTANCE,
    context: *mut c_void,
    wait: PTP_WAIT,
    result: u32,
) {
    let _scope = CallbackScope::enter(wait, instance);
    let block = context.cast_const().cast::<Block>();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the context is the block, alive while this callback is associated with
        // its wait (see `Overlapped::new`).
        unsafe { signalled(block, result) }
    }));
    if outcome.is_err() {
        log::error!("pipewriter: internal panic in the completion callback; aborting");
        std::process::abort();
    }
}

/// # Safety
/// `block` is the context of the running callback, valid on entry.
unsafe fn signalled(block: *const Block, result: u32) {
    let taken = {
        // SAFETY: valid on entry (the caller's contract); the reference ends with this block,
        // before the writer (which owns the block) can be released below.
        let block = unsafe { &*block };
        block.take_for_callback()
    };
    let Some((shared, first)) = taken else {
        return;
    };
    if result == WAIT_TIMEOUT {
        debug_assert!(matches!(first, First::Resume), "only retries time out");
    }
    if let Some(overlapped) = shared.io.overlapped() {
        overlapped.run(&shared, first);
    }
    // May be the last reference: it frees the writer, its `Io` and this callback's block and
    // wait (the wait's drop disassociates this callback first). Nothing is touched after.
    drop(shared);
}
