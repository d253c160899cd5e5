//! What a writer reports (W-7), and the pull side for code that wants events on its own
//! thread (W-8).

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex, MutexGuard};

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

/// The events waiting for the receivers of one writer, coalesced like the writer's own
/// pending events (W-8): whatever the consumer does, it holds at most one of each kind —
/// `Written` counts summed, `Writable` and `Drained` once, and the final event — so its memory
/// is bounded.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    queue: Mutex<MailboxState>,
    ready: Condvar,
    /// Live receivers; the writer detaches the mailbox when it falls to 0.
    receivers: AtomicUsize,
    /// The fork generation of the process that made it (W-15): in a forked child the
    /// receivers never wait for its lock, which a vanished thread may hold.
    generation: u64,
}

#[derive(Debug, Default)]
struct MailboxState {
    /// Bytes written since the consumer last took a `Written`.
    written: u64,
    writable: bool,
    drained: bool,
    terminal: Option<Event>,
    waiters: usize,
    /// The writer is gone and will send nothing more.
    closed: bool,
}

impl MailboxState {
    /// The next event in delivery order (W-7: `Written` before the rest, the end last).
    fn pop(&mut self) -> Option<Event> {
        if self.written > 0 {
            return Some(Event::Written(std::mem::take(&mut self.written)));
        }
        if std::mem::take(&mut self.writable) {
            return Some(Event::Writable);
        }
        if std::mem::take(&mut self.drained) {
            return Some(Event::Drained);
        }
        self.terminal.take()
    }
}

impl Mailbox {
    /// A mailbox of this process.
    pub(crate) fn new() -> Mailbox {
        Mailbox {
            generation: crate::sys::process::generation(),
            ..Mailbox::default()
        }
    }

    /// The state, or `None` in a forked child when the lock is taken (W-15).
    fn state(&self) -> Option<MutexGuard<'_, MailboxState>> {
        if self.generation == crate::sys::process::generation() {
            return Some(self.queue.lock().unwrap_or_else(|e| e.into_inner()));
        }
        self.queue.try_lock().ok()
    }

    pub(crate) fn post(&self, event: Event) {
        let mut state = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Written(n) => {
                state.written += n;
                // A `Drained` followed by more writing is out of date: the next one says when
                // the new bytes are all written.
                state.drained = false;
            }
            Event::Writable => state.writable = true,
            Event::Drained => state.drained = true,
            terminal @ (Event::PeerClosed { .. } | Event::Failed { .. }) => {
                state.terminal.get_or_insert(terminal);
            }
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

    /// True while some receiver is alive.
    pub(crate) fn has_receivers(&self) -> bool {
        self.receivers.load(Ordering::Acquire) > 0
    }
}

/// The pull side of a writer's events (W-8), from [`PipeWriter::events`](crate::PipeWriter::events).
///
/// For code that wants events on its own thread, e.g. a GUI loop that polls once per frame.
/// Events wait here coalesced, as the writer coalesces them before delivery: `Written`
/// counts are summed, `Writable` and `Drained` wait once each (a `Drained` that more writing
/// made out of date is dropped), and they come out in the order `Written`, `Writable`,
/// `Drained`, then `PeerClosed` or `Failed`. So a receiver that polls rarely, or never, holds
/// a few words of memory, not a backlog. When the last receiver of a writer is dropped, the
/// writer stops posting events for receivers.
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
        mailbox.receivers.fetch_add(1, Ordering::AcqRel);
        EventReceiver { mailbox }
    }

    /// The next event, if one is waiting. Never blocks.
    pub fn try_recv(&self) -> Option<Event> {
        self.mailbox.state()?.pop()
    }

    /// Waits up to `timeout` for the next event. Returns `None` on timeout, or at once when
    /// the writer is gone and nothing is left.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.mailbox.state()?;
        loop {
            if let Some(event) = state.pop() {
                return Some(event);
            }
            if state.closed || self.mailbox.generation != crate::sys::process::generation() {
                // Nothing will come any more (in a forked child: nothing ever posts here).
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
        let Some(mut state) = self.mailbox.state() else {
            return Vec::new();
        };
        std::iter::from_fn(|| state.pop()).collect()
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        self.mailbox.receivers.fetch_sub(1, Ordering::AcqRel);
    }
}
