//! The one background thread that drives every non-blocking writer of the process (P-3).
//!
//! Writers reach it three ways: a kick (`schedule`: data was queued on an idle writer), a
//! writability event of the poller (the pipe had been full), or a timer (a transient error's
//! backoff). The thread is started at the first kick and lives as long as the process. It
//! blocks `SIGPIPE` for itself, so a write to a closed pipe cannot kill the process (P-4).
//!
//! A writer is in at most one of `ready`, `waiting` or `timers` at a time, or being driven
//! by the thread: that is what makes "one operation in flight" (W-3) hold without further
//! locking.
//!
//! Lock order: a writer's state lock may be held when `schedule` takes the reactor lock; the
//! reactor thread never takes a writer's lock while holding the reactor lock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

use crate::writer::{Shared, Step};

/// Writes one writer may make in a row before the others get their turn.
const ROUNDS_PER_TURN: usize = 16;

struct Reactor {
    poller: Poller,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Writers to drive at the next turn.
    ready: Vec<Arc<Shared>>,
    /// Writers waiting for their descriptor to become writable, by key.
    waiting: HashMap<usize, Arc<Shared>>,
    /// Writers waiting out a backoff delay.
    timers: BinaryHeap<Reverse<Timer>>,
    /// The thread has been started.
    started: bool,
}

struct Timer {
    at: Instant,
    seq: u64,
    shared: Arc<Shared>,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

static REACTOR: OnceLock<Reactor> = OnceLock::new();
static NEXT_KEY: AtomicUsize = AtomicUsize::new(0);

fn reactor() -> &'static Reactor {
    REACTOR.get_or_init(|| Reactor {
        poller: Poller::new().expect("pipewriter: cannot create the reactor's poller"),
        inner: Mutex::new(Inner::default()),
    })
}

fn lock_inner(reactor: &Reactor) -> std::sync::MutexGuard<'_, Inner> {
    reactor.inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh key for a writer.
pub(super) fn next_key() -> usize {
    NEXT_KEY.fetch_add(1, Ordering::Relaxed)
}

/// Asks the reactor thread to drive `shared` soon (a kick).
pub(super) fn schedule(shared: Arc<Shared>) {
    let reactor = reactor();
    let mut inner = lock_inner(reactor);
    if !inner.started {
        inner.started = true;
        std::thread::Builder::new()
            .name("pipewriter-reactor".into())
            .spawn(run)
            .expect("pipewriter: cannot start the reactor thread");
    }
    let wake = inner.ready.is_empty();
    inner.ready.push(shared);
    drop(inner);
    if wake {
        if let Err(e) = reactor.poller.notify() {
            log::error!("pipewriter: cannot wake the reactor: {e}");
        }
    }
}

/// Forgets a writer that was stopped while it waited for writability.
pub(super) fn forget(key: usize) {
    if let Some(reactor) = REACTOR.get() {
        let removed = lock_inner(reactor).waiting.remove(&key);
        drop(removed);
    }
}

/// Arms a one-shot writability wait; `first` adds the descriptor to the poller.
pub(super) fn arm(fd: BorrowedFd<'_>, key: usize, first: bool) -> io::Result<()> {
    let poller = &reactor().poller;
    if first {
        // SAFETY: the descriptor is deleted from the poller before it is closed or given
        // back: every path that drops or takes the handle goes through
        // `Io::deregister_locked`, under the same handle lock as this call.
        unsafe { poller.add_with_mode(fd.as_raw_fd(), Event::writable(key), PollMode::Oneshot) }
    } else {
        poller.modify_with_mode(fd, Event::writable(key), PollMode::Oneshot)
    }
}

/// Removes a descriptor from the poller (before it is closed or given back).
pub(super) fn deregister(fd: BorrowedFd<'_>) {
    if let Err(e) = reactor().poller.delete(fd) {
        log::debug!("pipewriter: poller delete failed: {e}");
    }
}

/// The reactor thread.
fn run() {
    super::signal::block_sigpipe_in_this_thread();
    let reactor = reactor();
    let mut events = Events::new();
    let mut bufs = Vec::new();
    let mut work: Vec<Arc<Shared>> = Vec::new();
    let mut seq = 0u64;
    loop {
        let timeout = {
            let inner = lock_inner(reactor);
            if !inner.ready.is_empty() {
                Some(Duration::ZERO)
            } else {
                inner
                    .timers
                    .peek()
                    .map(|t| t.0.at.saturating_duration_since(Instant::now()))
            }
        };
        events.clear();
        if let Err(e) = reactor.poller.wait(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                log::error!("pipewriter: reactor wait failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        }
        {
            let mut inner = lock_inner(reactor);
            for event in events.iter() {
                if let Some(shared) = inner.waiting.remove(&event.key) {
                    work.push(shared);
                }
            }
            let now = Instant::now();
            while inner.timers.peek().is_some_and(|t| t.0.at <= now) {
                if let Some(Reverse(timer)) = inner.timers.pop() {
                    work.push(timer.shared);
                }
            }
            work.append(&mut inner.ready);
        }
        for shared in work.drain(..) {
            shared.resume();
            let step = shared.drive(&mut bufs, ROUNDS_PER_TURN, |bufs| {
                shared.io.write(bufs, usize::MAX)
            });
            match step {
                Step::Idle | Step::Done => {}
                Step::Yield => lock_inner(reactor).ready.push(shared),
                Step::RetryAfter(delay) => {
                    seq += 1;
                    let timer = Timer {
                        at: Instant::now() + delay,
                        seq,
                        shared,
                    };
                    lock_inner(reactor).timers.push(Reverse(timer));
                }
                Step::AwaitWritable => {
                    let key = shared.io.key();
                    lock_inner(reactor).waiting.insert(key, shared.clone());
                    match shared.io.arm(key) {
                        Ok(()) if shared.has_ended() => {
                            // Stopped between the write and the arm: `cancel` may have run
                            // before the writer was in `waiting`.
                            let removed = lock_inner(reactor).waiting.remove(&key);
                            shared.io.deregister();
                            drop(removed);
                        }
                        Ok(()) => {}
                        Err(e) => {
                            // The handle is gone (stopped or closed meanwhile) or the poller
                            // refused it: drive again, which ends or reports the error.
                            log::debug!("pipewriter: cannot wait for writability: {e}");
                            let shared = lock_inner(reactor).waiting.remove(&key);
                            if let Some(shared) = shared {
                                shared.fail_io(e);
                            }
                        }
                    }
                }
            }
        }
    }
}
