//! What a backend drives: a writer's shared state ([`Shared`]: the sans-IO [`Core`] under one
//! lock, plus delivery state), the readiness loop ([`Shared::drive`], and the write made from
//! a caller's thread), the steps of asynchronous completion ([`Shared::begin`],
//! [`Shared::complete`]), event delivery ([`Shared::dispatch`]) and the waits. The public
//! facade (`writer.rs`) and the backends (`sys/`) both build on this module; it knows nothing
//! of either: dependencies run one way, `core` → `driver` → `sys` → `writer`, with one
//! exception by design: the driver names the backend `sys` selected for the target
//! (`sys::Io`, and its handle type) to store and call it through the [`Backend`] trait with
//! static dispatch, as parking_lot_core does with its `ThreadParker`. Nothing else of `sys` is
//! used here.
//!
//! # Locking
//! One mutex per writer, `Shared::state`, guards the core and the delivery state. It is
//! never held across an OS call that can block, nor while user code (a handler) runs. The
//! backends take their own locks (the Unix reactor's registry, the handle slot) either
//! without holding the state lock, or strictly after it: the lock order is
//! *writer state → backend*, never the reverse, so no cycle is possible between user threads,
//! the I/O context and handlers (W-13). The one wait that could close a cycle through user
//! code — `stop` waiting for a handler of its writer running on another thread, while that
//! handler stops a writer whose handler runs here — is not made from inside a handler.
//!
//! User code run on the I/O context (handlers, wakers, and their drops) runs under a panic
//! guard (`contain`): it can break its own writer at most, never the I/O context.
//!
//! # Fork
//! Every writer remembers the fork generation of the process that built it
//! (`sys::process`); in a forked child the facade sees the difference first and treats the
//! writer as inert, before taking any lock (see `sys/unix/fork.rs`).

use std::fmt;
use std::io;
use std::task::Waker;
use std::time::Duration;

use bytes::Bytes;

use crate::core::{Begin, Core, IoState, Next, Outcome, Phase, Unwritten};
use crate::event::{Event, Mailbox};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::thread::{self, ThreadId};
use crate::sync::{Arc, Condvar, Instant, Mutex, MutexGuard};
use crate::sys;

mod backend;
mod delivery;
mod file;
mod poll;
mod readiness;
// Only backends whose writes complete asynchronously use it: Windows, and the simulated
// kernel of model-checking and Miri builds.
#[cfg(any(windows, loom, pipewriter_fake_backend))]
pub(crate) mod completion;

pub(crate) use backend::Backend;
use delivery::contain;
pub(crate) use delivery::in_handler;
pub(crate) use readiness::{InPlace, Lone};

pub(crate) type Handler = Box<dyn Fn(Event) + Send + Sync + 'static>;

/// Where a handle came from, which decides whether its mode may be changed (P-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provenance {
    /// Created for this process alone (a `ChildStdin`, a pipe of this crate): its open file
    /// description is ours, so the writer may switch it to non-blocking mode.
    Exclusive,
    /// Of unknown origin (an `OwnedFd`, a `File`): it may be shared with other processes, so
    /// its mode is left alone unless the builder says otherwise.
    Unknown,
}

/// A handle as a writer receives it: the handle, where it came from, and what the code that
/// created its pipe knows about it.
#[derive(Debug)]
pub(crate) struct PipeHandle {
    pub(crate) handle: sys::OwnedPipe,
    pub(crate) provenance: Provenance,
    /// The pipe's buffer quota in the direction the writer writes, in bytes, when this crate
    /// created the pipe and knows it (P-7): our end may not be allowed to read it back (an
    /// outbound-only Windows pipe end lacks `FILE_READ_ATTRIBUTES`). `None` otherwise.
    #[cfg_attr(not(windows), allow(dead_code))] // Only the Windows backend sizes writes by it.
    pub(crate) known_quota: Option<usize>,
}

impl PipeHandle {
    /// A handle whose creator told us nothing about its pipe.
    pub(crate) fn new(handle: sys::OwnedPipe, provenance: Provenance) -> PipeHandle {
        PipeHandle {
            handle,
            provenance,
            known_quota: None,
        }
    }
}

/// State under the writer's one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) core: Core,
    /// The thread delivering events for this writer right now, if any (W-8).
    delivering: Option<ThreadId>,
    /// Threads waiting on `progress`; nobody is woken when this is zero.
    waiters: usize,
    /// The pull side, once `events()` was called.
    mailbox: Option<std::sync::Arc<Mailbox>>,
    /// When a write last went out from a caller's thread (see [`Shared::write_now`]).
    last_direct: Option<Instant>,
    /// Someone is writing this writer's queue right now: the I/O context inside
    /// [`Shared::drive`], a caller's direct write ([`Shared::write_now`]), or a waiting caller
    /// driving its own writer ([`Shared::wait_driving`]). Whoever finds it set leaves the
    /// writer to its holder (W-3), and the holder, when it stops with data left, makes sure the
    /// I/O context carries on.
    driving: bool,
    /// Tasks of the async adapters waiting for room (A-1, W-12).
    write_wakers: Vec<Waker>,
    /// Tasks of the async adapters waiting for a flush or close.
    flush_wakers: Vec<Waker>,
}

impl State {
    /// After progress: takes the wakers whose condition now holds, to be woken without the
    /// lock.
    fn ready_wakers(&mut self) -> Vec<Waker> {
        let mut ready = Vec::new();
        if self.write_wakers.is_empty() && self.flush_wakers.is_empty() {
            return ready;
        }
        let open = self.core.phase() == Phase::Open;
        let queued = self.core.queued();
        if !open || queued <= self.core.low_water() {
            ready.append(&mut self.write_wakers);
        }
        if !matches!(self.core.phase(), Phase::Open | Phase::Closing) || queued == 0 {
            ready.append(&mut self.flush_wakers);
        }
        ready
    }
}

/// Tasks to wake once the writer's lock is released. Waking (or dropping) a waker runs the
/// executor's code, which may drop the task's future and the writer with it, or call the
/// writer: never under the lock (W-13).
#[must_use = "wake them after releasing the lock"]
pub(crate) struct Wakeups(Vec<Waker>);

impl Wakeups {
    // Only the readiness loop needs it, which Windows does not run.
    #[cfg_attr(windows, allow(dead_code))]
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Wakes every task. A waker that panics (an executor that shut down) breaks nothing
    /// but its own wake-up (W-13).
    pub(crate) fn wake(self) {
        for waker in self.0 {
            contain("an async task's waker", || waker.wake());
        }
    }
}

/// Everything a writer shares with its I/O context.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Signalled on progress: bytes written, a phase change, the end of a delivery.
    progress: Condvar,
    /// Set by `stop`: no event is delivered after it, even one already taken.
    silenced: AtomicBool,
    handler: Option<Handler>,
    #[cfg(feature = "fault-injection")]
    injector: Option<crate::fault::Injector>,
    /// The backend's per-writer state, including the handle.
    pub(crate) io: sys::Io,
    /// The fork generation of the process that built the writer (W-15).
    generation: u64,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("io", &self.io)
            .finish_non_exhaustive()
    }
}

/// One step of [`Shared::drive`]: what the backend must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(windows, allow(dead_code))] // Windows runs the completion loop only.
pub(crate) enum Step {
    /// Nothing left to write; wait for the next kick.
    Idle,
    /// The pipe is full: wait for writability, then call `resume` and drive again.
    AwaitWritable,
    /// A transient error: wait this long, then call `resume` and drive again.
    RetryAfter(Duration),
    /// The round budget is spent and work remains: drive again later (fairness).
    Yield,
    /// The writer ended or its handle was closed: forget it.
    Done,
}

impl Shared {
    /// The shared state of a writer being built over `io`.
    pub(crate) fn new(
        core: Core,
        handler: Option<Handler>,
        #[cfg(feature = "fault-injection")] injector: Option<crate::fault::Injector>,
        io: sys::Io,
        generation: u64,
    ) -> Shared {
        Shared {
            state: Mutex::new(State {
                core,
                delivering: None,
                waiters: 0,
                mailbox: None,
                last_direct: None,
                driving: false,
                write_wakers: Vec::new(),
                flush_wakers: Vec::new(),
            }),
            progress: Condvar::new(),
            silenced: AtomicBool::new(false),
            handler,
            #[cfg(feature = "fault-injection")]
            injector,
            io,
            generation,
        }
    }

    /// The fork generation of the process that built the writer (W-15).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The state if its lock is free: for a forked child, where a vanished thread may hold it.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, State>> {
        self.state.try_lock().ok()
    }

    /// `stop` (W-10): no more I/O or events; cancels the OS write in flight, waits until the OS
    /// is done with it and (unless called from a handler, W-13) until no handler of this
    /// writer runs on another thread, then takes what was not written.
    pub(crate) fn stop(shared: &Arc<Shared>) -> Unwritten {
        {
            let mut state = shared.lock();
            if !state.core.request_stop() {
                return Unwritten::default();
            }
            shared.silenced.store(true, Ordering::Release);
            let wakeups = shared.notify(&mut state);
            drop(state);
            wakeups.wake();
        }
        sys::Io::cancel(shared);
        let me = thread::current().id();
        // From inside a handler, waiting for this writer's delivery on another thread could wait
        // for a handler that waits for us (two handlers stopping each other's writers): W-13.
        let wait_for_delivery = !in_handler();
        let unwritten = shared
            .wait_until(None, |state| {
                let in_flight = state.core.io_state() == IoState::InFlight;
                let delivering = wait_for_delivery && state.delivering.is_some_and(|t| t != me);
                if in_flight || delivering {
                    None
                } else {
                    Some(state.core.take_unwritten())
                }
            })
            .unwrap_or_default();
        if let Some(mailbox) = shared.lock().mailbox.clone() {
            mailbox.close();
        }
        unwritten
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic never happens while this lock is held (handlers run without it), so a
        // poisoned lock still guards consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the threads waiting for progress and returns the tasks to wake once the lock is
    /// released. Called with the lock held, after every change a wait may be waiting for.
    fn notify(&self, state: &mut State) -> Wakeups {
        if state.waiters > 0 {
            self.progress.notify_all();
        }
        Wakeups(state.ready_wakers())
    }

    /// True once the writer can do no more I/O (stopped, closed, peer closed, failed).
    // Only the Unix reactor needs it (not Windows, not the simulated kernel).
    #[cfg_attr(any(windows, loom, pipewriter_fake_backend), allow(dead_code))]
    pub(crate) fn has_ended(&self) -> bool {
        !matches!(self.lock().core.phase(), Phase::Open | Phase::Closing)
    }

    /// The I/O context could not wait for the handle: the writer fails with `error` (E-4).
    // Only the Unix reactor waits for readiness.
    #[cfg_attr(any(windows, loom, pipewriter_fake_backend), allow(dead_code))]
    pub(crate) fn fail_io(&self, error: io::Error) {
        self.end_with(|core| core.fail(error));
    }

    /// The I/O context lost track of this writer (a panic while driving it): it fails, and
    /// whoever waits for it is released (see `Core::abandon`).
    #[cfg_attr(any(windows, loom, pipewriter_fake_backend), allow(dead_code))]
    pub(crate) fn abandon(&self, error: io::Error) {
        self.end_with(|core| core.abandon(error));
    }

    /// Ends the writer from the I/O context with `end`, then wakes and delivers.
    #[cfg_attr(any(windows, loom, pipewriter_fake_backend), allow(dead_code))]
    fn end_with(&self, end: impl FnOnce(&mut Core)) {
        let mut state = self.lock();
        end(&mut state.core);
        let wakeups = self.notify(&mut state);
        drop(state);
        wakeups.wake();
        self.dispatch();
    }

    /// Wakes a worker thread waiting in [`Shared::wait_for_work`].
    #[cfg_attr(any(windows, loom, pipewriter_fake_backend), allow(dead_code))]
    pub(crate) fn wake_worker(&self) {
        let wakeups = self.notify(&mut self.lock());
        wakeups.wake();
    }

    /// For worker-thread backends: waits until there is I/O to do. False when the writer
    /// ended and the worker should exit.
    #[cfg_attr(any(windows, loom, pipewriter_fake_backend), allow(dead_code))]
    pub(crate) fn wait_for_work(&self) -> bool {
        self.wait_until(None, |state| match state.core.phase() {
            Phase::Open if state.core.io_state() == IoState::Idle => None,
            Phase::Open | Phase::Closing => Some(true),
            Phase::Closed | Phase::PeerClosed | Phase::Failed | Phase::Stopped => Some(false),
        })
        .unwrap_or(false)
    }

    /// For worker-thread backends: waits out a transient error's backoff `delay`, returning
    /// early when the writer ends (a stop must not leave the thread asleep for the rest of a
    /// long delay).
    #[cfg_attr(any(loom, pipewriter_fake_backend), allow(dead_code))]
    pub(crate) fn pause(&self, delay: Duration) {
        let _ = self.wait_until(Some(delay), |state| {
            (!matches!(state.core.phase(), Phase::Open | Phase::Closing)).then_some(())
        });
    }

    /// Marks the I/O context's wait (writability, backoff) as over.
    pub(crate) fn resume(&self) {
        self.lock().core.resume();
    }

    /// True when a test's fault injector sees every OS write (the `fault-injection` feature):
    /// writes then take the paths it can see.
    pub(crate) fn has_injector(&self) -> bool {
        #[cfg(feature = "fault-injection")]
        if self.injector.is_some() {
            return true;
        }
        false
    }

    /// Test support (the `fault-injection` feature): asks the injector about the OS write of
    /// `bufs`. `Some(outcome)` replaces the write; a short write trims `bufs`. Backends whose
    /// writes complete asynchronously call this before starting one; `drive` does it itself.
    #[inline]
    pub(crate) fn injected_fault(&self, bufs: &mut Vec<Bytes>) -> Option<Outcome> {
        #[cfg(feature = "fault-injection")]
        if let Some(injector) = &self.injector {
            // The injector is the test's code: a panic in it is that writer's fatal error.
            return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| injector.apply(bufs)))
                .unwrap_or_else(|payload| {
                    std::mem::forget(payload);
                    Some(Outcome::Fatal(io::Error::other(
                        "the fault injector panicked",
                    )))
                });
        }
        let _ = bufs;
        None
    }

    /// Starts one OS write for backends whose writes complete asynchronously: fills `bufs`.
    #[cfg_attr(unix, allow(dead_code))] // Used by the Windows overlapped backend.
    pub(crate) fn begin(&self, bufs: &mut Vec<Bytes>) -> Begin {
        let mut state = self.lock();
        let begin = state.core.begin(bufs);
        if begin == Begin::Halt {
            let wakeups = self.notify(&mut state);
            drop(state);
            wakeups.wake();
        }
        begin
    }

    /// Records the outcome of an asynchronous OS write started by [`Shared::begin`].
    /// The caller delivers events with [`Shared::dispatch`] when it is safe to.
    #[cfg_attr(unix, allow(dead_code))] // Used by the Windows overlapped backend.
    pub(crate) fn complete(&self, outcome: Outcome) -> Next {
        let mut state = self.lock();
        let next = state.core.complete(outcome);
        let wakeups = self.notify(&mut state);
        drop(state);
        wakeups.wake();
        next
    }

    /// Closes the handle after the queue drained (close, or a lingering drop).
    pub(crate) fn close_handle(&self) {
        self.io.close_handle();
        let mut state = self.lock();
        state.core.closed();
        let wakeups = self.notify(&mut state);
        drop(state);
        wakeups.wake();
        if let Some(mailbox) = self.lock().mailbox.clone() {
            mailbox.close();
        }
    }

    /// Blocks until `check` yields a value or the deadline passes; the lock is released while
    /// waiting. `check` runs under the lock.
    pub(crate) fn wait_until<R>(
        &self,
        timeout: Option<Duration>,
        mut check: impl FnMut(&mut State) -> Option<R>,
    ) -> Option<R> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut state = self.lock();
        loop {
            if let Some(r) = check(&mut state) {
                return Some(r);
            }
            let left = match (timeout, deadline) {
                (Some(_), Some(d)) => d.checked_duration_since(Instant::now())?,
                (Some(t), None) if t.is_zero() => return None,
                _ => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return None;
            }
            state.waiters += 1;
            let (next, _) = self
                .progress
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.waiters -= 1;
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last reference may go on the I/O context: the user's handler and wakers are
        // dropped under the panic guard there (W-13).
        let (mailbox, wakers) = {
            let mut state = self.lock();
            let mut wakers = std::mem::take(&mut state.write_wakers);
            wakers.append(&mut state.flush_wakers);
            (state.mailbox.take(), wakers)
        };
        if let Some(mailbox) = mailbox {
            mailbox.close();
        }
        for waker in wakers {
            contain("dropping an async task's waker", || drop(waker));
        }
        if let Some(handler) = self.handler.take() {
            contain("dropping an event handler", || drop(handler));
        }
    }
}

pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the pipe writer's wait timed out")
}

/// The error of a writer that ended, for waits (E-2, E-4).
pub(crate) fn ended_error(state: &State) -> Option<io::Error> {
    match state.core.phase() {
        Phase::PeerClosed => Some(io::ErrorKind::BrokenPipe.into()),
        Phase::Failed => Some(match state.core.failure() {
            Some((Some(code), _)) => io::Error::from_raw_os_error(code),
            Some((None, kind)) => kind.into(),
            None => io::ErrorKind::Other.into(),
        }),
        Phase::Stopped => Some(io::Error::new(
            io::ErrorKind::NotConnected,
            "the pipe writer was stopped",
        )),
        Phase::Open | Phase::Closing | Phase::Closed => None,
    }
}
