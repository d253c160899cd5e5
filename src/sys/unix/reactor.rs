//! The one background thread that drives every non-blocking writer of the process (P-3).
//!
//! Writers reach it three ways: a kick (`schedule`: data was queued on an idle writer), a
//! writability event of the poller (the pipe had been full), or a timer (a transient error's
//! backoff). The poller and the thread are made when the first writer that needs them is
//! built (`start`); if the OS refuses either, that writer fails to build with the OS error and
//! nothing is remembered, so a later writer tries again (W-15). The thread lives as long as
//! the process. It blocks `SIGPIPE` for itself, so a write to a closed pipe cannot kill the
//! process (P-4).
//!
//! The reactor belongs to one process: a forked child that builds a writer gets a reactor of
//! its own, and never uses (or deregisters anything from) its parent's poller (see `fork.rs`).
//!
//! User code runs on this thread — handlers, wakers and their drops — always under a panic
//! guard (`writer.rs`); each writer's turn is guarded once more, so whatever goes wrong with
//! one writer ends that writer, never the thread (W-13).
//!
//! A writer is in at most one of `ready`, `waiting` or `timers` at a time, or being driven
//! by the thread: that is what makes "one operation in flight" (W-3) hold without further
//! locking.
//!
//! Lock order: a writer's state lock may be held when `schedule` takes the reactor lock; the
//! reactor thread never takes a writer's lock while holding the reactor lock.
// Unsafe: the leaked reactor behind an `AtomicPtr`, and `polling`'s registration contract.
#![allow(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use polling::{Event as Readiness, Events, PollMode, Poller};

use super::fork;
use crate::driver::{Shared, Step};

/// Writes one writer may make in a row before the others get their turn.
const ROUNDS_PER_TURN: usize = 16;

struct Reactor {
    /// The fork generation of the process that made it (see `fork.rs`).
    generation: u64,
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

/// This process's reactor, once it runs (leaked: it lives as long as the process). In a
/// forked child it is the parent's until the child starts its own: [`current`] checks.
static REACTOR: AtomicPtr<Reactor> = AtomicPtr::new(ptr::null_mut());
/// Who is making a reactor: 0 nobody, else the fork generation of that thread's process
/// plus one. A value from an older generation was left by a thread that does not exist in
/// this process (it was making the parent's reactor at the fork): it is taken over.
static STARTING: AtomicU64 = AtomicU64::new(0);
static NEXT_KEY: AtomicUsize = AtomicUsize::new(0);

/// This process's reactor, if it runs.
fn current() -> Option<&'static Reactor> {
    let reactor = REACTOR.load(Ordering::Acquire);
    // SAFETY: a non-null pointer comes from `Box::leak` in `start` and is never freed.
    let reactor = unsafe { reactor.as_ref() }?;
    (reactor.generation == fork::generation()).then_some(reactor)
}

/// Makes sure this process's reactor runs: creates the poller and starts the thread the
/// first time. Called when a writer that needs the reactor is built.
///
/// # Errors
/// The OS error when the poller or the thread cannot be had (descriptor, thread or memory
/// limits); nothing is kept, so the next call tries again.
pub(super) fn start() -> io::Result<()> {
    if current().is_some() {
        return Ok(());
    }
    let generation = fork::generation();
    let me = generation + 1;
    loop {
        match STARTING.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => break,
            Err(holder) if holder != me => {
                // Left over from before a fork: nobody will ever release it.
                if STARTING
                    .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    break;
                }
            }
            Err(_) => std::thread::yield_now(),
        }
    }
    let started = match current() {
        Some(_) => Ok(()),
        None => make(generation),
    };
    STARTING.store(0, Ordering::Release);
    started
}

/// Creates the poller and the thread of a new reactor (the caller holds `STARTING`).
fn make(generation: u64) -> io::Result<()> {
    let reactor: &'static Reactor = Box::leak(Box::new(Reactor {
        generation,
        poller: Poller::new()?,
        inner: Mutex::new(Inner::default()),
    }));
    match crate::thread::spawn("pipewriter-reactor", move || run(reactor)) {
        Ok(_) => {
            REACTOR.store(ptr::from_ref(reactor).cast_mut(), Ordering::Release);
            Ok(())
        }
        Err(e) => {
            // SAFETY: `reactor` came from `Box::leak` above and was given to nobody: the
            // thread that would have used it did not start.
            drop(unsafe { Box::from_raw(ptr::from_ref(reactor).cast_mut()) });
            Err(e)
        }
    }
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
    let Some(reactor) = current() else {
        // Only a writer whose build did not start the reactor could get here.
        shared.fail_io(io::Error::other("pipewriter: the reactor is not running"));
        return;
    };
    let mut inner = lock_inner(reactor);
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
/// Forgets a writer that was stopped while it waited for writability or a backoff delay, so
/// the reactor lets go of it (and of the user's handler it holds) at once.
pub(super) fn forget(key: usize) {
    if let Some(reactor) = current() {
        let mut inner = lock_inner(reactor);
        let removed = inner.waiting.remove(&key);
        let mut timers = std::mem::take(&mut inner.timers).into_vec();
        let (gone, kept): (Vec<_>, Vec<_>) =
            timers.drain(..).partition(|t| t.0.shared.io.key() == key);
        inner.timers = BinaryHeap::from(kept);
        drop(inner);
        // Dropped without the reactor lock: a last reference runs the user's drops.
        drop(removed);
        drop(gone);
    }
}

/// Arms a one-shot writability wait; `first` adds the descriptor to the poller.
///
/// # References
/// - [`epoll_ctl(2)`](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html) (Linux),
///   [`kqueue(2)`](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2) (macOS, BSDs),
///   through the `polling` crate
pub(super) fn arm(fd: BorrowedFd<'_>, key: usize, first: bool) -> io::Result<()> {
    let Some(reactor) = current() else {
        return Err(io::Error::other("pipewriter: the reactor is not running"));
    };
    let poller = &reactor.poller;
    if first {
        // SAFETY: the descriptor is deleted from the poller before it is closed or given
        // back: every path that drops or takes the handle goes through
        // `Io::deregister_locked`, under the same handle lock as this call.
        unsafe { poller.add_with_mode(fd.as_raw_fd(), Readiness::writable(key), PollMode::Oneshot) }
    } else {
        poller.modify_with_mode(fd, Readiness::writable(key), PollMode::Oneshot)
    }
}

/// Removes a descriptor from the poller (before it is closed or given back).
///
/// Only ever this process's poller: in a forked child that has no reactor of its own this does
/// nothing, so the parent's registrations stay as they are.
pub(super) fn deregister(fd: BorrowedFd<'_>) {
    let Some(reactor) = current() else {
        return;
    };
    if let Err(e) = reactor.poller.delete(fd) {
        log::debug!("pipewriter: poller delete failed: {e}");
    }
}

/// The reactor thread.
fn run(reactor: &'static Reactor) {
    super::signal::block_sigpipe_in_this_thread();
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
            let writer = shared.clone();
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                turn(reactor, shared, &mut bufs, &mut seq);
            }));
            if let Err(payload) = outcome {
                writer.abandon(io::Error::other(
                    "pipewriter: the writer's I/O turn panicked",
                ));
                // User code is contained where it runs; this is the last line of defence: the
                // writer ends (so its stop and waits return), the others carry on.
                log::error!("pipewriter: a writer's turn on the reactor panicked; it is ended");
                std::mem::forget(payload);
                bufs.clear();
            }
        }
    }
}

/// Drives one writer for one turn and files it where its next step says.
fn turn(reactor: &Reactor, shared: Arc<Shared>, bufs: &mut Vec<bytes::Bytes>, seq: &mut u64) {
    let step = shared.drive(bufs, ROUNDS_PER_TURN, |bufs| {
        shared.io.write(bufs, usize::MAX)
    });
    match step {
        Step::Idle | Step::Done => {}
        Step::Yield => lock_inner(reactor).ready.push(shared),
        Step::RetryAfter(delay) => {
            *seq += 1;
            let now = Instant::now();
            // Delays are capped at a day in the core; saturate all the same.
            let at = now
                .checked_add(delay)
                .unwrap_or_else(|| now + Duration::from_secs(24 * 60 * 60));
            let timer = Timer {
                at,
                seq: *seq,
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
