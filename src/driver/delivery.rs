//! Event delivery (W-8): one thread at a time per writer, without the writer's lock, never
//! re-entrantly; user code (handlers, wakers, their drops) runs under a panic guard (W-13).

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

use super::{Handler, Shared, State};
use crate::event::{Event, EventReceiver, Mailbox};
use crate::sync::atomic::Ordering;
use crate::sync::thread;

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

impl Shared {
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

    /// True when someone listens to events. Without a listener, events stay coalesced in the
    /// core (a few counters) and delivery is skipped on the write path.
    pub(super) fn has_consumers(&self, state: &State) -> bool {
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
pub(super) fn contain(what: &str, user_code: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(user_code)) {
        log::error!("pipewriter: {what} panicked; the writer carries on");
        if let Err(again) = panic::catch_unwind(AssertUnwindSafe(|| drop(payload))) {
            std::mem::forget(again);
        }
    }
}
