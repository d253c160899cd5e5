//! The readiness loop (`drive`: synchronous non-blocking writes until the pipe is full) and the
//! write a caller's thread makes on an idle writer, for backends that write synchronously.

use std::time::Duration;

use bytes::Bytes;

use super::{Backend, Shared, State, Step};
use crate::core::{Begin, Next, Outcome};
use crate::sync::{Arc, Instant, MutexGuard};
use crate::sys;

/// Writes go out from the caller's thread at most once per this interval (see
/// `Shared::write_now`); closer writes are gathered by the I/O context.
const DIRECT_WRITE_GAP: Duration = Duration::from_micros(4);

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
}
