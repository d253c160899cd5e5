//! What a writer reports (W-7), and the pull side for code that wants events on its own
//! thread (W-8).

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

/// Something that happened to a writer (W-7). Events of one writer are delivered in order,
/// one at a time.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// This many more bytes were confirmed written since the previous `Written`. Several OS
    /// completions before delivery are summed into one event; the sum of all `Written` events
    /// is exactly the number of bytes written.
    Written(u64),
    /// Everything accepted so far has been written.
    Drained,
    /// The queue fell to the low-water mark after having been above the high-water mark:
    /// a good time to write again (W-12).
    Writable,
    /// The reader went away (E-2). `unwritten` bytes were not written; `stop` hands them back.
    /// Later writes fail with [`io::ErrorKind::BrokenPipe`].
    PeerClosed {
        /// Bytes accepted but not written.
        unwritten: usize,
    },
    /// A fatal error ended the writer (E-4). The raw OS code is kept in `error`.
    Failed {
        /// The error, shared because an event may go to a handler and a receiver.
        error: Arc<io::Error>,
        /// Bytes accepted but not written; `stop` hands them back.
        unwritten: usize,
    },
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Event::Written(a), Event::Written(b)) => a == b,
            (Event::Drained, Event::Drained) | (Event::Writable, Event::Writable) => true,
            (Event::PeerClosed { unwritten: a }, Event::PeerClosed { unwritten: b }) => a == b,
            (
                Event::Failed {
                    error: e1,
                    unwritten: a,
                },
                Event::Failed {
                    error: e2,
                    unwritten: b,
                },
            ) => a == b && e1.kind() == e2.kind() && e1.raw_os_error() == e2.raw_os_error(),
            _ => false,
        }
    }
}

impl Eq for Event {}

/// The events queued for a receiver. `Written` events that meet in the queue are summed,
/// so the queue stays short however slowly the receiver reads.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    queue: Mutex<MailboxState>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct MailboxState {
    events: VecDeque<Event>,
    waiters: usize,
    /// The writer is gone and will send nothing more.
    closed: bool,
}

impl Mailbox {
    pub(crate) fn post(&self, event: Event) {
        let mut state = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match (state.events.back_mut(), &event) {
            (Some(Event::Written(sum)), Event::Written(n)) => *sum += n,
            (Some(Event::Drained), Event::Drained) | (Some(Event::Writable), Event::Writable) => {}
            _ => state.events.push_back(event),
        }
        if state.waiters > 0 {
            self.ready.notify_all();
        }
    }

    pub(crate) fn close(&self) {
        let mut state = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        state.closed = true;
        if state.waiters > 0 {
            self.ready.notify_all();
        }
    }
}

/// The pull side of a writer's events (W-8), from [`PipeWriter::events`](crate::PipeWriter::events).
///
/// For code that wants events on its own thread, e.g. a GUI loop that polls once per frame.
/// Consecutive `Written` events are summed while they wait here, so a receiver that polls
/// rarely never falls behind by more than a few events.
pub struct EventReceiver {
    mailbox: Arc<Mailbox>,
}

impl fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventReceiver").finish_non_exhaustive()
    }
}

impl EventReceiver {
    pub(crate) fn new(mailbox: Arc<Mailbox>) -> Self {
        EventReceiver { mailbox }
    }

    /// The next event, if one is waiting. Never blocks.
    pub fn try_recv(&self) -> Option<Event> {
        let mut state = self.mailbox.queue.lock().unwrap_or_else(|e| e.into_inner());
        state.events.pop_front()
    }

    /// Waits up to `timeout` for the next event. Returns `None` on timeout, or at once when
    /// the writer is gone and nothing is left.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.mailbox.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(event) = state.events.pop_front() {
                return Some(event);
            }
            if state.closed {
                return None;
            }
            let left = match deadline {
                Some(d) => d.checked_duration_since(Instant::now())?,
                None => Duration::from_secs(3600),
            };
            state.waiters += 1;
            let (next, _) = self
                .mailbox
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.waiters -= 1;
        }
    }

    /// Everything waiting right now, in order. Never blocks.
    pub fn drain(&self) -> Vec<Event> {
        let mut state = self.mailbox.queue.lock().unwrap_or_else(|e| e.into_inner());
        state.events.drain(..).collect()
    }
}
