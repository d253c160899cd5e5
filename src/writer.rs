//! The public writer: a facade over the sans-IO [`Core`] and the platform backend in `sys`.
//!
//! # Locking
//! One mutex per writer, [`Shared::state`], guards the core and the delivery state. It is
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
//! (`sys::process`); in a forked child the public methods see the difference first and treat
//! the writer as inert, before taking any lock (see `sys/unix/fork.rs`).

use std::cell::Cell;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;

use crate::core::{Accepted, Begin, Core, IoState, Kick, Limits, Next, Outcome, Phase};
use crate::core::{RetryPolicy, Unwritten};
use crate::error::WriteError;
use crate::event::{Event, EventReceiver, Mailbox};
pub use crate::payload::{IntoPipeHandle, Payload};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::thread::{self, ThreadId};
use crate::sync::{Arc, Condvar, Instant, Mutex, MutexGuard};
use crate::sys;

pub use crate::sys::OwnedPipe;

/// Writes go out from the caller's thread at most once per this interval (see
/// `Shared::write_now`); closer writes are gathered by the I/O context.
const DIRECT_WRITE_GAP: Duration = Duration::from_micros(4);

#[cfg(not(loom))]
std::thread_local! {
    /// How many event handlers are running on this thread (they may nest across writers).
    static HANDLER_DEPTH: Cell<u32> = const { Cell::new(0) };
}

#[cfg(loom)]
loom::thread_local! {
    /// How many event handlers are running on this thread (they may nest across writers).
    static HANDLER_DEPTH: Cell<u32> = Cell::new(0);
}

/// True when the current thread is inside an event handler of any writer.
fn in_handler() -> bool {
    HANDLER_DEPTH.with(|d| d.get() > 0)
}

/// What happens to queued data when a [`PipeWriter`] is dropped (W-11).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropPolicy {
    /// Keep writing the queued data in the background until it is all written (or the reader
    /// goes away), then close the handle. Events keep reaching the handler meanwhile. The
    /// default, because losing data silently on drop is the most common complaint about pipe
    /// writers.
    #[default]
    Linger,
    /// Stop at once: cancel the in-flight write, discard the queue, close the handle.
    Discard,
}

type Handler = Box<dyn Fn(Event) + Send + Sync + 'static>;

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

/// Configures and builds a [`PipeWriter`].
///
/// ```no_run
/// use std::process::{Command, Stdio};
/// use pipewriter::{Builder, Event};
///
/// let mut child = Command::new("cat").stdin(Stdio::piped()).spawn()?;
/// let writer = Builder::new()
///     .high_water(4 << 20)
///     .on_event(|event| {
///         if let Event::Written(n) = event {
///             log::trace!("{n} more bytes written");
///         }
///     })
///     .build(child.stdin.take().unwrap())?;
/// writer.write(&b"hello\n"[..]).map_err(|e| e.into_error())?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Builder {
    limits: Limits,
    low_water_set: bool,
    handler: Option<Handler>,
    drop_policy: DropPolicy,
    exclusive: bool,
    #[cfg(feature = "fault-injection")]
    injector: Option<crate::fault::Injector>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("limits", &self.limits)
            .field("handler", &self.handler.is_some())
            .field("drop_policy", &self.drop_policy)
            .field("exclusive", &self.exclusive)
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Default settings: high-water mark 1 MiB, low-water mark a quarter of it, no hard
    /// limit, [`DropPolicy::Linger`], default [`RetryPolicy`], no handler.
    pub fn new() -> Self {
        Builder {
            limits: Limits::default(),
            low_water_set: false,
            handler: None,
            drop_policy: DropPolicy::default(),
            exclusive: false,
            #[cfg(feature = "fault-injection")]
            injector: None,
        }
    }

    /// Above this many queued bytes, [`PipeWriter::write`] reports backpressure
    /// ([`Accepted::is_above_high_water`]); [`Event::Writable`] fires when the queue has fallen
    /// to the low-water mark (W-12). Default: 1 MiB. Unless set, the low-water mark follows
    /// at a quarter of it.
    pub fn high_water(mut self, bytes: usize) -> Self {
        self.limits.high_water = bytes;
        if !self.low_water_set {
            self.limits.low_water = bytes / 4;
        }
        self
    }

    /// Where [`Event::Writable`] fires after the high-water mark was crossed. Clamped to the
    /// high-water mark.
    pub fn low_water(mut self, bytes: usize) -> Self {
        self.limits.low_water = bytes;
        self.low_water_set = true;
        self
    }

    /// Refuse writes that would take the queue above `bytes`: they fail with
    /// [`io::ErrorKind::WouldBlock`] and hand their data back (W-12). Default: no limit.
    ///
    /// A refused write can always succeed later: [`Event::Writable`] follows every refusal
    /// once the queue is short enough for that write (or at the low-water mark, if that is
    /// lower), whatever the high-water mark is. A single write larger than the limit can never
    /// fit and is refused with [`io::ErrorKind::InvalidInput`]. A limit of 0 would refuse every
    /// write: [`build`](Self::build) rejects it.
    pub fn hard_limit(mut self, bytes: usize) -> Self {
        self.limits.hard_limit = Some(bytes);
        self
    }

    /// The largest single OS write. Default: 256 KiB. Smaller writes keep the reader and the
    /// writer from running in lock-step on a small pipe; larger ones cost fewer calls.
    pub fn max_write_size(mut self, bytes: usize) -> Self {
        self.limits.max_write = bytes.max(1);
        self
    }

    /// How transient errors are retried (E-3).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.limits.retry = policy;
        self
    }

    /// Calls `handler` for every event, from the writer's I/O context (W-8).
    ///
    /// The handler is never called while an internal lock is held, never concurrently for one
    /// writer, and never from inside [`PipeWriter::write`] or another call of yours. It may
    /// call any method of the writer, including [`PipeWriter::stop`], and may drop it; the
    /// synchronous waits return an error there instead of deadlocking. A panic in the handler
    /// is caught and logged. Keep handlers short: on Unix one I/O thread serves all writers.
    pub fn on_event(mut self, handler: impl Fn(Event) + Send + Sync + 'static) -> Self {
        self.handler = Some(Box::new(handler));
        self
    }

    /// What a drop does with queued data (W-11). Default: [`DropPolicy::Linger`].
    pub fn drop_policy(mut self, policy: DropPolicy) -> Self {
        self.drop_policy = policy;
        self
    }

    /// Declares that the handle's open file description is not shared with another process,
    /// so the writer may switch it to non-blocking mode (Unix, P-3). Handles from
    /// `ChildStdin` and this crate's pipes are treated so anyway. Any other descriptor
    /// (`File`, `OwnedFd`, `std::io::PipeWriter`, whose clones std hands to children) keeps
    /// its mode, because `O_NONBLOCK` would also change it for every process sharing it: on
    /// Linux a pipe, FIFO or terminal is reopened through `/proc/self/fd` for a non-blocking
    /// description of the writer's own; otherwise it is served by a blocking thread. Flags
    /// changed here are restored when the handle is given back or closed. No effect on
    /// Windows.
    pub fn exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        self
    }

    /// Test support: `injector` is asked before every OS write and may replace it with an
    /// error or shorten it (see [`Fault`](crate::fault::Fault)). Only with the
    /// `fault-injection` feature, which is for testing and not covered by semver.
    #[cfg(feature = "fault-injection")]
    pub fn fault_injector(
        mut self,
        injector: impl FnMut(usize) -> crate::fault::Fault + Send + 'static,
    ) -> Self {
        self.injector = Some(crate::fault::Injector::new(injector));
        self
    }

    /// Builds a writer over `handle`.
    ///
    /// # Errors
    /// Fails with [`io::ErrorKind::InvalidInput`] for a hard limit of 0; when the handle
    /// cannot be used for writing (it is not open for writing, its mode cannot be read or
    /// set); and when the writer cannot get its I/O context — the OS refuses a thread, a
    /// poller or a thread-pool wait (W-15): the OS error is returned, and a later `build`
    /// tries again. The handle is closed in every case.
    pub fn build(mut self, handle: impl IntoPipeHandle) -> io::Result<PipeWriter> {
        // Before anything of the I/O context exists, so a fork from now on is counted (W-15).
        let generation = sys::process::register();
        if self.limits.hard_limit == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a hard limit of 0 bytes would refuse every write",
            ));
        }
        let (handle, mut provenance) = handle.into_pipe_handle();
        if self.exclusive {
            provenance = Provenance::Exclusive;
        }
        self.limits.low_water = self.limits.low_water.min(self.limits.high_water);
        let io = sys::Io::new(handle, provenance)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                core: Core::new(self.limits),
                delivering: None,
                waiters: 0,
                mailbox: None,
                last_direct: None,
                write_wakers: Vec::new(),
                flush_wakers: Vec::new(),
            }),
            progress: Condvar::new(),
            silenced: AtomicBool::new(false),
            handler: self.handler,
            #[cfg(feature = "fault-injection")]
            injector: self.injector,
            io,
            generation,
        });
        sys::Io::start(&shared)?;
        Ok(PipeWriter {
            shared,
            drop_policy: self.drop_policy,
        })
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
    /// Tasks of the async adapters waiting for room (A-1, W-12).
    write_wakers: Vec<Waker>,
    /// Tasks of the async adapters waiting for a flush or close (A-1).
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
struct Wakeups(Vec<Waker>);

impl Wakeups {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Wakes every task. A waker that panics (an executor that shut down) breaks nothing
    /// but its own wake-up (W-13).
    fn wake(self) {
        for waker in self.0 {
            contain("an async task's waker", || waker.wake());
        }
    }
}

fn add_waker(list: &mut Vec<Waker>, waker: &Waker) {
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
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
    #[cfg_attr(windows, allow(dead_code))] // Only the Unix reactor needs it.
    pub(crate) fn has_ended(&self) -> bool {
        !matches!(self.lock().core.phase(), Phase::Open | Phase::Closing)
    }

    /// The I/O context could not wait for the handle: the writer fails with `error` (E-4).
    #[cfg_attr(windows, allow(dead_code))] // Only the Unix reactor waits for readiness.
    pub(crate) fn fail_io(&self, error: io::Error) {
        let mut state = self.lock();
        state.core.fail(error);
        let wakeups = self.notify(&mut state);
        drop(state);
        wakeups.wake();
        self.dispatch();
    }

    /// The I/O context lost track of this writer (a panic while driving it): it fails, and
    /// whoever waits for it is released (see `Core::abandon`).
    #[cfg_attr(any(windows, loom, pipewriter_fake_backend), allow(dead_code))]
    pub(crate) fn abandon(&self, error: io::Error) {
        let mut state = self.lock();
        state.core.abandon(error);
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

    /// Writes queued data with `write` (one synchronous OS write per call) until the queue is
    /// empty, the pipe is full, an error ends the writer, or `max_rounds` writes were made.
    /// Events are delivered between writes. Called only from the I/O context, never with a
    /// lock held.
    pub(crate) fn drive(
        &self,
        bufs: &mut Vec<Bytes>,
        max_rounds: usize,
        mut write: impl FnMut(&[Bytes]) -> Outcome,
    ) -> Step {
        // The lock is held from one completion to the next begin when nothing has to be
        // woken or delivered in between: one lock round trip per OS write.
        let mut state = self.lock();
        for _ in 0..max_rounds {
            match state.core.begin(bufs) {
                Begin::Submit(_) => {}
                Begin::Idle => {
                    let pending = state.core.has_events() && self.has_consumers(&state);
                    drop(state);
                    if pending {
                        self.dispatch();
                    }
                    return Step::Idle;
                }
                Begin::Close => {
                    drop(state);
                    self.close_handle();
                    self.dispatch();
                    return Step::Done;
                }
                Begin::Halt => {
                    let wakeups = self.notify(&mut state);
                    drop(state);
                    wakeups.wake();
                    self.dispatch();
                    return Step::Done;
                }
            }
            drop(state);
            let outcome = match self.injected_fault(bufs) {
                Some(outcome) => outcome,
                None => write(bufs),
            };
            state = self.lock();
            let next = state.core.complete(outcome);
            let wakeups = self.notify(&mut state);
            let pending = state.core.has_events() && self.has_consumers(&state);
            if pending || !wakeups.is_empty() || next != Next::Continue {
                drop(state);
                wakeups.wake();
                bufs.clear();
                if pending {
                    self.dispatch();
                }
                match next {
                    Next::Continue => {}
                    Next::AwaitWritable => return Step::AwaitWritable,
                    Next::RetryAfter(delay) => return Step::RetryAfter(delay),
                    Next::Halt => return Step::Done,
                }
                state = self.lock();
            }
        }
        drop(state);
        Step::Yield
    }

    /// Test support (the `fault-injection` feature): asks the injector about the OS write of
    /// `bufs`. `Some(outcome)` replaces the write; a short write trims `bufs`. Backends whose
    /// writes complete asynchronously call this before starting one; `drive` does it itself.
    #[inline]
    pub(crate) fn injected_fault(&self, bufs: &mut Vec<Bytes>) -> Option<Outcome> {
        #[cfg(feature = "fault-injection")]
        if let Some(injector) = &self.injector {
            // The injector is the test's code: a panic in it is that writer's fatal error.
            return panic::catch_unwind(AssertUnwindSafe(|| injector.apply(bufs))).unwrap_or_else(
                |payload| {
                    std::mem::forget(payload);
                    Some(Outcome::Fatal(io::Error::other(
                        "the fault injector panicked",
                    )))
                },
            );
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

    /// The writer went from idle to having queued data (`state` is the caller's guard):
    /// either writes once right here on the caller's thread ([`Shared::write_now`]), or kicks
    /// the backend.
    fn start(this: &Arc<Self>, state: MutexGuard<'_, State>) {
        match this.write_now(state) {
            Some(true) => {}
            Some(false) | None => sys::Io::kick(this),
        }
    }

    /// One non-blocking write on the caller's thread, for a writer that was idle, so that a
    /// lone message does not pay for waking the I/O thread (a wake-up costs tens of
    /// microseconds on a quiet machine; the write itself about one). Taken at most once per
    /// [`DIRECT_WRITE_GAP`]: a burst of writes is left to the I/O context, which gathers it
    /// into few OS writes (W-4). Never delivers events (W-8): if there are some for a
    /// listener, the backend is kicked to deliver them.
    ///
    /// `None`: not attempted. `Some(true)`: done, the writer is idle again. `Some(false)`: the
    /// I/O context must take over (data left, pipe full, events to deliver, writer ended).
    fn write_now(&self, mut state: MutexGuard<'_, State>) -> Option<bool> {
        if !self.io.can_write_now() {
            return None;
        }
        let now = Instant::now();
        if state
            .last_direct
            .is_some_and(|last| now.saturating_duration_since(last) < DIRECT_WRITE_GAP)
        {
            return None;
        }
        state.last_direct = Some(now);
        let mut bufs = Vec::new();
        if !matches!(state.core.begin(&mut bufs), Begin::Submit(_)) {
            return Some(false);
        }
        drop(state);
        let outcome = match self.injected_fault(&mut bufs) {
            Some(outcome) => outcome,
            None => self.io.write_now(&bufs),
        };
        let mut state = self.lock();
        let next = state.core.complete(outcome);
        let wakeups = self.notify(&mut state);
        let deliver = state.core.has_events() && self.has_consumers(&state);
        let idle = next == Next::Continue && !deliver && state.core.settle_if_empty();
        drop(state);
        wakeups.wake();
        drop(bufs);
        Some(idle)
    }

    /// True when someone listens to events. Without a listener, events stay coalesced in the
    /// core (a few counters) and delivery is skipped on the write path.
    fn has_consumers(&self, state: &State) -> bool {
        self.handler.is_some() || state.mailbox.as_ref().is_some_and(|m| m.has_receivers())
    }

    /// Delivers pending events to the handler and the receiver (W-8): one thread at a time,
    /// without the lock, never re-entrantly. A delivery that finds another one running leaves
    /// its events to it.
    pub(crate) fn dispatch(&self) {
        let me = thread::current().id();
        let mut state = self.lock();
        if state.delivering.is_some() || !state.core.has_events() {
            return;
        }
        state.delivering = Some(me);
        let mut batch = Vec::new();
        loop {
            state.core.take_events(&mut batch);
            if batch.is_empty() || self.silenced.load(Ordering::Acquire) {
                state.delivering = None;
                let wakeups = self.notify(&mut state);
                drop(state);
                wakeups.wake();
                return;
            }
            if state.mailbox.as_ref().is_some_and(|m| !m.has_receivers()) {
                // The last receiver was dropped: detach, so nothing piles up for nobody.
                state.mailbox = None;
            }
            let mailbox = state.mailbox.clone();
            drop(state);
            for event in batch.drain(..) {
                if self.silenced.load(Ordering::Acquire) {
                    break;
                }
                if let Some(mailbox) = &mailbox {
                    mailbox.post(event.clone());
                }
                if let Some(handler) = &self.handler {
                    call_handler(handler, event);
                }
            }
            state = self.lock();
        }
    }

    /// Blocks until `check` yields a value or the deadline passes; the lock is released while
    /// waiting. `check` runs under the lock.
    fn wait_until<R>(
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

fn call_handler(handler: &Handler, event: Event) {
    HANDLER_DEPTH.with(|d| d.set(d.get() + 1));
    contain("an event handler", || handler(event));
    HANDLER_DEPTH.with(|d| d.set(d.get() - 1));
}

/// Runs user code on the I/O context — a handler, a waker, or their drops — so that a panic
/// in it stops there (W-8, W-13): the I/O context carries on for every writer. The panic's
/// payload is dropped under the same guard (a payload's own drop may panic), and leaked if
/// even that panics.
fn contain(what: &str, user_code: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(user_code)) {
        log::error!("pipewriter: {what} panicked; the writer carries on");
        if let Err(again) = panic::catch_unwind(AssertUnwindSafe(|| drop(payload))) {
            std::mem::forget(again);
        }
    }
}

/// The error a wait reports when called from an event handler (W-9).
fn in_handler_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::Deadlock,
        "a synchronous wait was called from an event handler, where it could never finish",
    )
}

/// The error of a writer used in a forked child (W-15).
fn inherited_error() -> io::Error {
    io::Error::other(
        "this pipe writer belongs to the process that built it; a forked child cannot use it \
         (build a new writer in the child)",
    )
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the pipe writer's wait timed out")
}

/// The error of a writer that ended, for waits (E-2, E-4).
fn ended_error(state: &State) -> Option<io::Error> {
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

/// Writes to a pipe without ever blocking the caller.
///
/// Bytes are queued by [`write`](Self::write) and written in the background, in order, one OS
/// write at a time (W-2, W-3); progress is reported by [`Event`]s and can be awaited with
/// [`flush`](Self::flush), [`close`](Self::close) and
/// [`wait_for_bytes_written`](Self::wait_for_bytes_written). `PipeWriter` is `Send + Sync`:
/// share it between threads with an `Arc`.
pub struct PipeWriter {
    shared: Arc<Shared>,
    drop_policy: DropPolicy,
}

impl fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(state) = self.state() else {
            return f
                .debug_struct("PipeWriter")
                .field("inherited_through_fork", &true)
                .finish_non_exhaustive();
        };
        f.debug_struct("PipeWriter")
            .field("phase", &state.core.phase())
            .field("accepted", &state.core.accepted())
            .field("written", &state.core.written())
            .field("queued", &state.core.queued())
            .finish()
    }
}

impl PipeWriter {
    /// A writer with default settings over `handle`; see [`Builder`] for the settings.
    ///
    /// # Errors
    /// As [`Builder::build`].
    pub fn new(handle: impl IntoPipeHandle) -> io::Result<PipeWriter> {
        Builder::new().build(handle)
    }

    /// A [`Builder`] with default settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// True in a forked child for a writer that its parent built (W-15): such a writer is
    /// inert there.
    fn inherited(&self) -> bool {
        self.shared.generation != sys::process::generation()
    }

    /// The writer's state, or in a forked child what can be read of it without waiting for a
    /// lock a vanished thread may hold (`None` then).
    fn state(&self) -> Option<MutexGuard<'_, State>> {
        if self.inherited() {
            return self.shared.state.try_lock().ok();
        }
        Some(self.shared.lock())
    }

    /// Whether a synchronous wait may run here (W-9, W-15).
    fn may_wait(&self) -> io::Result<()> {
        if self.inherited() {
            return Err(inherited_error());
        }
        if in_handler() {
            return Err(in_handler_error());
        }
        Ok(())
    }

    /// The state shared with the I/O context, for the Windows backend's unit tests.
    #[cfg(all(test, windows))]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Queues `data` and returns at once, never waiting for the reader (W-1).
    ///
    /// A zero-length write is a no-op. The returned [`Accepted`] tells whether the queue is
    /// above the high-water mark (W-12).
    ///
    /// # Errors
    /// A refused write hands its data back in the [`WriteError`]:
    /// [`io::ErrorKind::WouldBlock`] when the hard limit would be exceeded (retry after
    /// [`Event::Writable`], which is sure to follow once this write fits);
    /// [`io::ErrorKind::InvalidInput`] when `data` alone is larger than the hard limit (it can
    /// never fit); [`io::ErrorKind::BrokenPipe`] after the reader went away or
    /// after `close`; the original OS error after a fatal failure;
    /// [`io::ErrorKind::NotConnected`] after `stop`.
    pub fn write<P: Payload>(&self, mut data: P) -> Result<Accepted, WriteError<P>> {
        if self.inherited() {
            return Err(WriteError::new(inherited_error(), data));
        }
        let len = data.payload_len();
        if len > 0 {
            data.compact();
        }
        let mut state = self.shared.lock();
        if len == 0 {
            return match state.core.admit(0) {
                Ok(()) => Ok(state.core.status()),
                Err(refusal) => Err(WriteError::new(refusal.to_error(), data)),
            };
        }
        if let Err(refusal) = state.core.admit(len) {
            drop(state);
            return Err(WriteError::new(refusal.to_error(), data));
        }
        let (accepted, kick) = state.core.accept(len, |queue| data.enqueue(queue));
        if kick == Kick::Yes {
            Shared::start(&self.shared, state);
        }
        Ok(accepted)
    }

    /// Writes every byte of `data` from the slices in order, as one queued write.
    ///
    /// # Errors
    /// As [`write`](Self::write); on refusal nothing was queued.
    pub fn write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<Accepted> {
        if self.inherited() {
            return Err(inherited_error());
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut state = self.shared.lock();
        if let Err(refusal) = state.core.admit(total) {
            return Err(refusal.to_error());
        }
        if total == 0 {
            return Ok(state.core.status());
        }
        let (accepted, kick) = state.core.accept(total, |queue| {
            for buf in bufs {
                queue.push_slice(buf);
            }
        });
        drop(state);
        if kick == Kick::Yes {
            sys::Io::kick(&self.shared);
        }
        Ok(accepted)
    }

    /// Bytes accepted but not yet confirmed written (W-6).
    pub fn bytes_to_write(&self) -> usize {
        self.state().map_or(0, |s| s.core.queued())
    }

    /// Bytes accepted so far (W-6).
    pub fn bytes_accepted(&self) -> u64 {
        self.state().map_or(0, |s| s.core.accepted())
    }

    /// Bytes confirmed written so far (W-6). `bytes_accepted() - bytes_written()` is what is
    /// queued.
    pub fn bytes_written(&self) -> u64 {
        self.state().map_or(0, |s| s.core.written())
    }

    /// True while bytes are queued or an OS write is outstanding, and the writer has not ended
    /// (W-6).
    pub fn is_write_active(&self) -> bool {
        !self.inherited() && self.shared.lock().core.is_active()
    }

    /// True after the reader went away (E-2).
    pub fn is_peer_closed(&self) -> bool {
        self.state()
            .is_some_and(|s| s.core.phase() == Phase::PeerClosed)
    }

    /// The error that ended the writer, if a fatal one did (E-4).
    pub fn error(&self) -> Option<io::Error> {
        if self.inherited() {
            return Some(inherited_error());
        }
        let state = self.shared.lock();
        match state.core.phase() {
            Phase::Failed => ended_error(&state),
            _ => None,
        }
    }

    /// The pull side of this writer's events (W-8). Events produced from now on are queued for
    /// it (in addition to the handler, if one is set), coalesced so that the queue stays a few
    /// words long however slowly it is read (see [`EventReceiver`]). Calling this again while
    /// a receiver is alive returns another receiver over the same queue; once the last one is
    /// dropped, events are no longer queued, and a later call starts afresh.
    pub fn events(&self) -> EventReceiver {
        if self.inherited() {
            let mailbox = std::sync::Arc::new(Mailbox::new());
            mailbox.close();
            return EventReceiver::new(mailbox);
        }
        let mut state = self.shared.lock();
        if state.mailbox.as_ref().is_some_and(|m| !m.has_receivers()) {
            state.mailbox = None;
        }
        if state.mailbox.is_none() && self.shared.handler.is_none() {
            // Nobody listened so far: start the receiver with a clean slate, but keep what
            // still holds (a `Writable` a refused write waits for, the end).
            state.core.forget_progress();
        }
        let mailbox = state
            .mailbox
            .get_or_insert_with(|| std::sync::Arc::new(Mailbox::new()))
            .clone();
        EventReceiver::new(mailbox)
    }

    /// Waits until some bytes were written since the last time this returned true (W-9,
    /// `waitForBytesWritten`).
    ///
    /// Returns `Ok(true)` as soon as that happens; `Ok(false)` at once when nothing is
    /// queued or in flight, and `Ok(false)` when `timeout` passes.
    ///
    /// # Errors
    /// [`io::ErrorKind::BrokenPipe`] when the reader went away, the OS error when the writer
    /// failed, [`io::ErrorKind::Deadlock`] when called from an event handler.
    pub fn wait_for_bytes_written(&self, timeout: Duration) -> io::Result<bool> {
        self.may_wait()?;
        let result = self.shared.wait_until(Some(timeout), |state| {
            if state.core.take_written_since_mark() {
                return Some(Ok(true));
            }
            if let Some(error) = ended_error(state) {
                return Some(Err(error));
            }
            if !state.core.is_active() {
                return Some(Ok(false));
            }
            None
        });
        result.unwrap_or(Ok(false))
    }

    /// Waits until everything accepted before this call is written (W-9).
    ///
    /// # Errors
    /// [`io::ErrorKind::TimedOut`] when `timeout` passes first (the data stays queued and
    /// keeps being written); [`io::ErrorKind::BrokenPipe`] when the reader went away; the OS
    /// error when the writer failed; [`io::ErrorKind::Deadlock`] when called from an event
    /// handler.
    pub fn flush(&self, timeout: Duration) -> io::Result<()> {
        self.may_wait()?;
        let target = self.shared.lock().core.accepted();
        self.shared
            .wait_until(Some(timeout), |state| {
                if state.core.written() >= target {
                    return Some(Ok(()));
                }
                ended_error(state).map(Err)
            })
            .unwrap_or_else(|| Err(timed_out()))
    }

    /// Refuses further writes, waits until everything queued is written, then closes the
    /// handle so the reader sees end-of-file (W-9).
    ///
    /// # Errors
    /// As [`flush`](Self::flush). After a timeout the writer stays closing: the queue keeps
    /// draining in the background and the handle is closed once it is empty; call
    /// [`stop`](Self::stop) to take the rest back instead.
    pub fn close(&self, timeout: Duration) -> io::Result<()> {
        self.may_wait()?;
        let close_now = self.shared.lock().core.request_close();
        if close_now {
            self.shared.close_handle();
        }
        self.shared
            .wait_until(Some(timeout), |state| {
                if state.core.phase() == Phase::Closed {
                    return Some(Ok(()));
                }
                ended_error(state).map(Err)
            })
            .unwrap_or_else(|| Err(timed_out()))
    }

    /// Stops the writer and hands back exactly the bytes that were not written (W-10).
    ///
    /// Cancels the in-flight OS write and waits until the OS is done with it, so the bytes it
    /// took are never handed back and its memory is never released early (W-5). When this
    /// returns, no event handler of this writer will run again, and none is running — with
    /// one exception that keeps handlers from deadlocking each other (W-13): called from
    /// inside an event handler (of this writer or of any other), `stop` waits only for the
    /// OS write in flight, not for a handler of this writer that is running on another thread;
    /// that handler finishes the event it has and gets no more.
    /// Later writes fail with [`io::ErrorKind::NotConnected`]. Idempotent: a second call
    /// returns nothing. The handle stays open until the writer is dropped or
    /// [`into_handle`](Self::into_handle) takes it.
    pub fn stop(&self) -> Unwritten {
        if self.inherited() {
            // The queue is the parent's to write; nothing here may touch it (W-15).
            return Unwritten::default();
        }
        stop_shared(&self.shared)
    }

    /// Stops the writer (as [`stop`](Self::stop)) and gives the handle back with the unwritten
    /// bytes (W-14). The handle is `None` when it was already closed. On Unix the handle's
    /// original blocking mode is restored — except in a forked child for a writer its parent
    /// built: the child gets its copy of the descriptor as it is, since the parent still
    /// writes through the same open file description (W-15).
    pub fn into_handle(self) -> (Option<OwnedPipe>, Unwritten) {
        if self.inherited() {
            return (self.shared.io.release_inherited(), Unwritten::default());
        }
        let unwritten = self.stop();
        let handle = self.shared.io.take_handle();
        (handle, unwritten)
    }

    /// The simulated kernel under this writer (model checking and Miri builds only; see
    /// RELIABILITY.md).
    #[cfg(all(unix, any(loom, pipewriter_fake_backend)))]
    #[doc(hidden)]
    pub fn fake_device(&self) -> crate::sys::fake::Device {
        self.shared.io.device()
    }

    /// For the async adapters (A-1): queues as much of `buf` as fits under the high-water
    /// mark, or registers the task to be woken when the queue falls to the low-water mark.
    /// Cancel-safe: `Pending` queued nothing, `Ready(Ok(n))` queued exactly `n` bytes.
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_write_bufs(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.inherited() {
            return Poll::Ready(Err(inherited_error()));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut state = self.shared.lock();
        if let Err(refusal) = state.core.admit(0) {
            return Poll::Ready(Err(refusal.to_error()));
        }
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let room = state.core.room();
        if room == 0 {
            if state.core.queued() == 0 {
                // Only a hard limit of 0 leaves no room in an empty queue: no progress would
                // ever wake the task.
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the writer's hard limit of 0 bytes refuses every write",
                )));
            }
            add_waker(&mut state.write_wakers, cx.waker());
            return Poll::Pending;
        }
        let mut take = total.min(room);
        if let Err(refusal) = state.core.admit(take) {
            // Only the hard limit can refuse here: wait for room like above.
            if refusal == crate::core::Refusal::HardLimit {
                add_waker(&mut state.write_wakers, cx.waker());
                return Poll::Pending;
            }
            return Poll::Ready(Err(refusal.to_error()));
        }
        let n = take;
        let (_, kick) = state.core.accept(n, |queue| {
            for buf in bufs {
                if take == 0 {
                    break;
                }
                let part = buf.len().min(take);
                queue.push_slice(&buf[..part]);
                take -= part;
            }
        });
        drop(state);
        if kick == Kick::Yes {
            sys::Io::kick(&self.shared);
        }
        Poll::Ready(Ok(n))
    }

    /// For the async adapters (A-1): ready when everything accepted so far is written.
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_flush_all(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.inherited() {
            return Poll::Ready(Err(inherited_error()));
        }
        let mut state = self.shared.lock();
        // Not `queued() == 0`: `stop` empties the queue without writing it.
        if state.core.written() == state.core.accepted() {
            return Poll::Ready(Ok(()));
        }
        if let Some(error) = ended_error(&state) {
            return Poll::Ready(Err(error));
        }
        add_waker(&mut state.flush_wakers, cx.waker());
        Poll::Pending
    }

    /// For the async adapters (A-1): flushes, then closes the handle (the reader sees
    /// end-of-file).
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_close_all(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.inherited() {
            return Poll::Ready(Err(inherited_error()));
        }
        let mut state = self.shared.lock();
        match state.core.phase() {
            Phase::Closed => return Poll::Ready(Ok(())),
            Phase::Open | Phase::Closing => {}
            _ => return Poll::Ready(Err(ended_error(&state).unwrap_or_else(timed_out))),
        }
        let close_now = state.core.request_close();
        if close_now {
            drop(state);
            self.shared.close_handle();
            return Poll::Ready(Ok(()));
        }
        add_waker(&mut state.flush_wakers, cx.waker());
        Poll::Pending
    }
}

fn stop_shared(shared: &Arc<Shared>) -> Unwritten {
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

impl Drop for PipeWriter {
    fn drop(&mut self) {
        if self.inherited() {
            // A forked child's copy (W-15): close the child's copy of the descriptor, and
            // never drop the shared state here, whose locks the parent's threads may have held
            // at the fork and whose registrations are the parent's.
            drop(self.shared.io.release_inherited());
            std::mem::forget(Arc::clone(&self.shared));
            return;
        }
        match self.drop_policy {
            DropPolicy::Linger => {
                let close_now = self.shared.lock().core.request_close();
                if close_now {
                    self.shared.close_handle();
                } else {
                    // Whatever the I/O side is doing, it finishes the queue and closes.
                    sys::Io::linger(&self.shared);
                }
            }
            DropPolicy::Discard => {
                let _ = stop_shared(&self.shared);
                self.shared.io.close_handle();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn w13_writer_is_send_and_sync() {
        assert_send_sync::<PipeWriter>();
        assert_send_sync::<EventReceiver>();
        assert_send_sync::<Event>();
        assert_send_sync::<WriteError<Vec<u8>>>();
    }
}
