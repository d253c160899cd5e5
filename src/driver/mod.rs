//! What a backend drives: a writer's shared state ([`Shared`]: the sans-IO [`Core`] under one
//! lock, plus delivery state), the readiness loop ([`Shared::drive`], and the write made from
//! a caller's thread), the steps of asynchronous completion ([`Shared::begin`],
//! [`Shared::complete`]), event delivery ([`Shared::dispatch`]) and the waits. The public
//! facade (`writer.rs`) and the backends (`sys/`) both build on this module; it knows nothing
//! of either: dependencies run one way, `core` → `driver` → `sys` → `writer`.
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

use std::cell::Cell;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;

use crate::core::{Begin, Core, IoState, Kick, Next, Outcome, Phase, Unwritten};
use crate::event::{Event, EventReceiver, Mailbox};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::thread::{self, ThreadId};
use crate::sync::{Arc, Condvar, Instant, Mutex, MutexGuard};
use crate::sys;

mod backend;
// Only backends whose writes complete asynchronously use it: Windows, and the simulated
// kernel of model-checking and Miri builds.
#[cfg(any(windows, loom, pipewriter_fake_backend))]
pub(crate) mod completion;

pub(crate) use backend::Backend;

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
pub(crate) fn in_handler() -> bool {
    HANDLER_DEPTH.with(|d| d.get() > 0)
}

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

    /// A receiver over this writer's mailbox (W-8), made (or made afresh, when every receiver
    /// was dropped) on demand.
    pub(crate) fn events(&self) -> EventReceiver {
        let mut state = self.lock();
        if state.mailbox.as_ref().is_some_and(|m| !m.has_receivers()) {
            state.mailbox = None;
        }
        if state.mailbox.is_none() && self.handler.is_none() {
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

    /// For the async adapters: queues as much of `buf` as fits under the high-water
    /// mark, or registers the task to be woken when the queue falls to the low-water mark.
    /// Cancel-safe: `Pending` queued nothing, `Ready(Ok(n))` queued exactly `n` bytes.
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_write_bufs(
        this: &Arc<Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut state = this.lock();
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
            sys::Io::kick(this);
        }
        Poll::Ready(Ok(n))
    }

    /// For the async adapters: ready when everything accepted so far is written.
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_flush_all(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
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

    /// For the async adapters: flushes, then closes the handle (the reader sees
    /// end-of-file).
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_close_all(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        match state.core.phase() {
            Phase::Closed => return Poll::Ready(Ok(())),
            Phase::Open | Phase::Closing => {}
            _ => return Poll::Ready(Err(ended_error(&state).unwrap_or_else(timed_out))),
        }
        let close_now = state.core.request_close();
        if close_now {
            drop(state);
            self.close_handle();
            return Poll::Ready(Ok(()));
        }
        add_waker(&mut state.flush_wakers, cx.waker());
        Poll::Pending
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
    pub(crate) fn start(this: &Arc<Self>, state: MutexGuard<'_, State>) {
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
