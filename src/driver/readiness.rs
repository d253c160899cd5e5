//! The readiness loop (`drive`: synchronous non-blocking writes until the pipe is full) and the
//! write a caller's thread makes on an idle writer, for backends that write synchronously.

use std::io;
use std::time::Duration;

use bytes::Bytes;

use super::{Backend, Shared, State, Step, Wakeups};
use crate::core::{Accepted, Begin, IoState, Next, Outcome, Phase};
use crate::sync::{Arc, Instant, MutexGuard};
use crate::sys;

/// A write goes out from the caller's thread only when the last one made there ended at least
/// this long ago (see `Shared::write_now`): closer writes, a burst, are gathered by the I/O
/// context. A request that waits for its reply (a ping-pong) is further apart than this.
const DIRECT_WRITE_GAP: Duration = Duration::from_micros(1);

/// Releases a writer held by [`Shared::drive`] if it unwinds (once the state's guard is
/// gone: it is declared first).
struct UnwindRelease<'a> {
    shared: &'a Shared,
    armed: std::cell::Cell<bool>,
}

impl Drop for UnwindRelease<'_> {
    fn drop(&mut self) {
        if self.armed.get() && std::thread::panicking() {
            self.shared.lock().driving = false;
        }
    }
}

/// The answer to [`Shared::write_lone`].
#[must_use]
pub(crate) enum Lone<'a> {
    /// Every byte went out.
    Done(Accepted),
    /// Not all: this many bytes went out (maybe none); queue the rest under the guard (at the
    /// head of the queue when some went out), then wake the tasks, and kick the backend when
    /// the last field says so (writes were queued by others meanwhile) or the queueing does.
    Queue(MutexGuard<'a, State>, usize, Wakeups, bool),
}

/// The answer to [`Shared::write_in_place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InPlace {
    /// This many bytes (more than zero) went straight to the OS.
    Wrote(usize),
    /// The pipe is full: wait with [`Shared::wait_in_place`] and try again.
    Full,
    /// Not possible now: queue the bytes instead.
    Queue,
}

/// How long a caller driving its writer (W-16) polls for writability at a time: bounds how
/// late it notices that another thread stopped or closed the writer while it polled.
pub(super) const CALLER_POLL_SLICE: Duration = Duration::from_millis(10);

impl Shared {
    /// Writes queued data with `write` (one synchronous OS write per call) until the queue is
    /// empty, the pipe is full, an error ends the writer, or `max_rounds` writes were made.
    /// Events are delivered between writes. Called only from the I/O context, never with a
    /// lock held. Not used on Windows, whose backends both run the completion loop.
    #[cfg_attr(windows, allow(dead_code))]
    pub(crate) fn drive(
        &self,
        bufs: &mut Vec<Bytes>,
        max_rounds: usize,
        mut write: impl FnMut(&[Bytes]) -> Outcome,
    ) -> Step {
        // The lock is held from one completion to the next begin when nothing has to be
        // woken or delivered in between: one lock round trip per OS write.
        // A panic in here (a last line of defence: user code is contained where it runs)
        // must not leave the writer held for ever. Made before the guard, dropped after it.
        let hold = UnwindRelease {
            shared: self,
            armed: std::cell::Cell::new(false),
        };
        let mut state = self.lock();
        if state.driving {
            // A caller drives this writer (W-16) and hands it back when it stops; only its
            // events are ours to deliver.
            let pending = state.core.has_events() && self.has_consumers(&state);
            drop(state);
            if pending {
                self.dispatch();
            }
            return Step::Idle;
        }
        state.core.resume();
        state.driving = true;
        hold.armed.set(true);
        for _ in 0..max_rounds {
            match state.core.begin(bufs) {
                Begin::Submit(_) => {}
                Begin::Idle => {
                    let pending = state.core.has_events() && self.has_consumers(&state);
                    self.release(&mut state);
                    drop(state);
                    if pending {
                        self.dispatch();
                    }
                    return Step::Idle;
                }
                Begin::Close => {
                    self.release(&mut state);
                    drop(state);
                    self.close_handle();
                    self.dispatch();
                    return Step::Done;
                }
                Begin::Halt => {
                    self.release(&mut state);
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
            if next != Next::Continue {
                self.release(&mut state);
            }
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
        self.release(&mut state);
        drop(state);
        Step::Yield
    }

    /// Ends a hold on the writer taken by setting `driving`; a caller waiting to drive it
    /// (W-16) may take over.
    fn release(&self, state: &mut State) {
        state.driving = false;
        if state.waiters > 0 {
            self.progress.notify_all();
        }
    }

    /// Like [`Shared::wait_until`], but a caller that waits drives its own writer's I/O on
    /// its own thread (W-16) — non-blocking writes, and `poll` for writability when the pipe
    /// is full — instead of sleeping while the I/O context does it: on a machine with few
    /// CPUs the data then goes from the writing thread to the reader, as with a blocking
    /// `write`, without a hop through a third thread. The I/O context takes over again when
    /// the caller stops waiting with data left, and whenever someone listens to events (they
    /// are delivered by the I/O context only, W-8); a writer the I/O context is driving at the
    /// moment is waited for as usual until it stops (the pipe full).
    pub(crate) fn wait_driving<R>(
        this: &Arc<Self>,
        timeout: Option<Duration>,
        mut check: impl FnMut(&mut State) -> Option<R>,
    ) -> Option<R> {
        if !this.io.can_drive_from_caller() {
            return this.wait_until(timeout, check);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let left = |now: Instant| match (timeout, deadline) {
            (Some(_), Some(d)) => d.checked_duration_since(now).filter(|l| !l.is_zero()),
            (Some(t), None) if t.is_zero() => None,
            _ => Some(Duration::from_secs(3600)),
        };
        let mut bufs = Vec::new();
        let mut state = this.lock();
        loop {
            if let Some(r) = check(&mut state) {
                return Some(r);
            }
            let wait = left(Instant::now())?;
            if this.may_drive(&state) {
                state.driving = true;
                let (next, done) = Self::drive_while(this, state, &mut bufs, &left, &mut check);
                if done.is_some() {
                    return done;
                }
                state = next;
                continue;
            }
            state.waiters += 1;
            let (next, _) = this
                .progress
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.waiters -= 1;
        }
    }

    /// A waiting caller may drive the writer: nobody else is, nobody listens to events, and
    /// there is data the I/O context would otherwise write.
    fn may_drive(&self, state: &State) -> bool {
        !state.driving
            && !self.has_consumers(state)
            && matches!(state.core.phase(), Phase::Open | Phase::Closing)
            && matches!(
                state.core.io_state(),
                IoState::Scheduled | IoState::AwaitingWritable
            )
    }

    /// The caller's side of [`Shared::wait_driving`]: writes while it holds the writer
    /// (`driving` set by the caller), until the caller's condition holds, its time is up,
    /// someone starts listening to events, or nothing is left to write. Gives the writer back
    /// (to the I/O context when data is left) and returns the lock, with the answer of
    /// `check` if it gave one.
    fn drive_while<'a, R>(
        this: &'a Arc<Self>,
        mut state: MutexGuard<'a, State>,
        bufs: &mut Vec<Bytes>,
        left: &impl Fn(Instant) -> Option<Duration>,
        check: &mut impl FnMut(&mut State) -> Option<R>,
    ) -> (MutexGuard<'a, State>, Option<R>) {
        loop {
            state.core.resume();
            match state.core.begin(bufs) {
                Begin::Submit(_) => {}
                Begin::Idle | Begin::Halt => {
                    this.release(&mut state);
                    return (state, None);
                }
                Begin::Close => {
                    this.release(&mut state);
                    drop(state);
                    this.close_handle();
                    return (this.lock(), None);
                }
            }
            drop(state);
            let outcome = match this.injected_fault(bufs) {
                Some(outcome) => outcome,
                None => this.io.write_now(bufs),
            };
            state = this.lock();
            let next = state.core.complete(outcome);
            let wakeups = this.notify(&mut state);
            if !wakeups.is_empty() {
                drop(state);
                wakeups.wake();
                state = this.lock();
            }
            bufs.clear();
            if next == Next::Halt {
                this.release(&mut state);
                return (state, None);
            }
            let done = check(&mut state);
            let stop = done.is_some() || this.has_consumers(&state);
            let wait = left(Instant::now());
            match (next, wait) {
                (Next::Continue, Some(_)) if !stop => {}
                (Next::AwaitWritable, Some(wait)) if !stop => {
                    drop(state);
                    this.io.wait_writable(wait.min(CALLER_POLL_SLICE));
                    state = this.lock();
                }
                (Next::RetryAfter(delay), Some(wait)) if !stop => {
                    // A transient error's backoff, waited out here (a stop ends it early).
                    state.waiters += 1;
                    let (next, _) = this
                        .progress
                        .wait_timeout(state, delay.min(wait))
                        .unwrap_or_else(|e| e.into_inner());
                    state = next;
                    state.waiters -= 1;
                }
                _ => {
                    // The caller is done: the I/O context writes the rest.
                    this.release(&mut state);
                    state.core.resume();
                    let handing_over = matches!(state.core.phase(), Phase::Open | Phase::Closing)
                        && state.core.io_state() == IoState::Scheduled;
                    if handing_over {
                        drop(state);
                        sys::Io::kick(this);
                        state = this.lock();
                    }
                    return (state, done);
                }
            }
        }
    }

    /// A write straight from the caller's buffer (W-16, the blocking adapter), no copy: made
    /// on the caller's thread when nothing is queued, nothing is in flight, nobody else
    /// drives the writer and nobody listens to events.
    pub(crate) fn write_in_place(this: &Arc<Self>, buf: &[u8]) -> InPlace {
        if !this.io.can_drive_from_caller() || this.has_injector() {
            return InPlace::Queue;
        }
        let mut state = this.lock();
        if state.driving || this.has_consumers(&state) || !state.core.begin_in_place(buf.len()) {
            return InPlace::Queue;
        }
        state.driving = true;
        drop(state);
        let outcome = this.io.write_slice_now(buf);
        let answer = match outcome {
            Outcome::Wrote(n) if n > 0 => InPlace::Wrote(n),
            Outcome::Wrote(_) | Outcome::WouldBlock | Outcome::Interrupted => InPlace::Full,
            // The queue's path reports an ended writer, and retries a transient error with
            // its backoff (E-2 … E-4).
            _ => InPlace::Queue,
        };
        let mut state = this.lock();
        let kick = state.core.complete_in_place(outcome);
        this.release(&mut state);
        let wakeups = this.notify(&mut state);
        // Someone may have started listening meanwhile: the I/O context delivers (W-8).
        let deliver = state.core.has_events() && this.has_consumers(&state);
        drop(state);
        wakeups.wake();
        if kick || deliver {
            sys::Io::kick(this);
        }
        answer
    }

    /// For [`Shared::write_in_place`] after [`InPlace::Full`]: waits on the caller's thread
    /// until the pipe may take bytes again, at most until `deadline` (`None`: a slice of
    /// [`CALLER_POLL_SLICE`] at a time). Fails with the writer's error when it ended, or with
    /// a timeout.
    pub(crate) fn wait_in_place(&self, deadline: Option<Instant>) -> io::Result<()> {
        {
            let mut state = self.lock();
            if let Err(refusal) = state.core.admit(0) {
                return Err(refusal.to_error());
            }
        }
        let slice = match deadline {
            Some(d) => d
                .checked_duration_since(Instant::now())
                .filter(|l| !l.is_zero())
                .ok_or_else(super::timed_out)?
                .min(CALLER_POLL_SLICE),
            None => CALLER_POLL_SLICE,
        };
        self.io.wait_writable(slice);
        Ok(())
    }

    /// A lone message written straight from the caller's buffer, no copy (`write` on an idle
    /// writer): the same conditions as [`Shared::write_now`] — a non-blocking descriptor,
    /// nothing queued or in flight, not within [`DIRECT_WRITE_GAP`] of the last such write —
    /// and no fault injector. `state` is the caller's guard, with the write admitted.
    ///
    /// Returns [`Lone::Done`] when every byte went out; otherwise the guard back with the count
    /// written (the caller queues the rest, under the same guard, so that a `stop` waiting
    /// for this write hands the rest back) and the tasks to wake once it lets the guard go.
    pub(crate) fn write_lone<'a>(
        this: &'a Arc<Self>,
        mut state: MutexGuard<'a, State>,
        buf: &[u8],
    ) -> Lone<'a> {
        // The cheap tests first: in a burst the queue is rarely empty.
        let may = state.core.queued() == 0
            && state.core.io_state() == IoState::Idle
            && !state.driving
            && this.io.can_write_now()
            && !this.has_injector()
            && state.last_direct.is_none_or(|last| {
                Instant::now().saturating_duration_since(last) >= DIRECT_WRITE_GAP
            })
            && state.core.begin_in_place(buf.len());
        if !may {
            return Lone::Queue(state, 0, Wakeups(Vec::new()), false);
        }
        state.driving = true;
        drop(state);
        let outcome = this.io.write_slice_now(buf);
        let ended = Instant::now();
        // An error is left for the queue's path to meet again and report as every write's
        // error is (the message is queued whole, E-2 … E-4).
        let (written, recorded) = match outcome {
            Outcome::Wrote(n) => (n, Outcome::Wrote(n)),
            _ => (0, Outcome::WouldBlock),
        };
        let mut state = this.lock();
        state.last_direct = Some(ended);
        let kick = state.core.complete_in_place(recorded);
        this.release(&mut state);
        let wakeups = this.notify(&mut state);
        if written < buf.len() {
            return Lone::Queue(state, written, wakeups, kick);
        }
        let deliver = state.core.has_events() && this.has_consumers(&state);
        let status = state.core.status();
        drop(state);
        wakeups.wake();
        if kick || deliver {
            sys::Io::kick(this);
        }
        Lone::Done(status)
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
    /// microseconds on a quiet machine; the write itself about one). Not taken within
    /// [`DIRECT_WRITE_GAP`] of the end of the last one: a burst of writes is left to the I/O
    /// context, which gathers it into few OS writes (W-4). Never delivers events (W-8): if there are some for a
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
        if state.driving {
            return None;
        }
        let mut bufs = Vec::new();
        if !matches!(state.core.begin(&mut bufs), Begin::Submit(_)) {
            return Some(false);
        }
        state.driving = true;
        drop(state);
        let outcome = match self.injected_fault(&mut bufs) {
            Some(outcome) => outcome,
            None => self.io.write_now(&bufs),
        };
        let ended = Instant::now();
        let mut state = self.lock();
        state.last_direct = Some(ended);
        let next = state.core.complete(outcome);
        self.release(&mut state);
        let wakeups = self.notify(&mut state);
        let deliver = state.core.has_events() && self.has_consumers(&state);
        let idle = next == Next::Continue && !deliver && state.core.settle_if_empty();
        drop(state);
        wakeups.wake();
        drop(bufs);
        Some(idle)
    }
}
