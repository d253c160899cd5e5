//! Data still queued when the process exits (W-20): [`flush_all`] and [`ExitGuard`].
//!
//! Returning from `main` ends the process without waiting for background threads, so what a
//! writer still had queued is lost (a lingering drop included: its I/O thread dies with the
//! process). [`flush_all`] waits, within one deadline, until every live writer of the process
//! has written what it accepted, and reports what could not be written; an [`ExitGuard`] does
//! it when dropped, at the end of `main`.
//!
//! # The registry
//! Every writer is registered when it is built, as a weak reference to its shared state: a
//! writer is *live* while that state exists — while the `PipeWriter` does, and after a
//! lingering drop until its queue is written. Dead entries are pruned as writers are built, so
//! the registry stays a few words per live writer, and never keeps a writer alive.
//!
//! Locking: the registry's lock is held only to push an entry or to copy out the live ones,
//! never while waiting for a writer, and never with a writer's lock held (so it cannot take
//! part in a cycle with the writer → backend order of `driver`). Called from an event
//! handler, [`flush_all`] does not wait at all (the handler's I/O context is what would have
//! to do the writing): each writer with queued data is reported with
//! [`io::ErrorKind::Deadlock`].
//!
//! Fork (W-15): the lock word carries the fork generation. A forked child that finds the
//! registry stamped with its parent's generation takes it over, even if a thread of the
//! parent held it at the fork, and starts with an empty list: the child never waits for its
//! parent's writers (they are inert there), and never frees their memory (the parent's
//! entries are forgotten, not dropped, since freeing could need an allocator lock a vanished
//! thread held).
//!
//! Model-checking builds (`--cfg loom`) have no weak references: there the registry is empty.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use crate::driver::{ended_error, in_handler, timed_out, Shared};
use crate::sync::Arc;

/// Waits until every live writer of this process has written everything it accepted before
/// the call, or until `timeout` passes, and reports the writers that still had data queued
/// (W-20).
///
/// The writers are waited for one after the other, all within the one deadline; they write
/// in the background meanwhile, so the wait is as long as the slowest, not the sum. A writer
/// whose reader went away, that failed, or that was stopped with data handed back is not
/// waited for; if data is still queued there, it is reported with its error. Writers built
/// while this runs are not waited for. Nothing is closed: the writers stay usable.
///
/// Call it before returning from `main` (or use an [`ExitGuard`]); `std::process::exit`
/// skips destructors, so call it before that too. Not for signal handlers (it locks and
/// waits).
pub fn flush_all(timeout: Duration) -> ExitReport {
    let deadline = Instant::now().checked_add(timeout);
    let writers = registry::live_writers();
    let refuse_to_wait = in_handler();
    let mut report = ExitReport {
        writers: writers.len(),
        unfinished: Vec::new(),
    };
    for shared in writers {
        let outcome = if refuse_to_wait {
            Err(io::Error::new(
                io::ErrorKind::Deadlock,
                "flush_all was called from an event handler, where it cannot wait",
            ))
        } else {
            flush_one(&shared, deadline)
        };
        if let Err(error) = outcome {
            let queued = shared.lock().core.queued();
            if queued > 0 {
                report.unfinished.push(UnfinishedWriter {
                    bytes_unwritten: queued,
                    error,
                });
            }
        }
    }
    report
}

/// Waits until `shared` has written what it accepted so far, or `deadline`, driving it from
/// this thread where it can (W-16).
fn flush_one(shared: &Arc<Shared>, deadline: Option<Instant>) -> io::Result<()> {
    let target = shared.lock().core.accepted();
    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    Shared::wait_driving(shared, left, |state| {
        if state.core.written() >= target {
            return Some(Ok(()));
        }
        ended_error(state).map(Err)
    })
    .unwrap_or_else(|| Err(timed_out()))
}

/// Registers a writer that was just built (the hook in `Builder::build`).
pub(crate) fn register(shared: &Arc<Shared>) {
    registry::register(shared);
}

/// What [`flush_all`] found: how many writers were live, and which of them could not write
/// everything.
#[derive(Debug, Default)]
#[must_use = "the report says what was lost"]
pub struct ExitReport {
    writers: usize,
    unfinished: Vec<UnfinishedWriter>,
}

impl ExitReport {
    /// True when every live writer wrote everything it had accepted.
    pub fn is_complete(&self) -> bool {
        self.unfinished.is_empty()
    }

    /// The live writers that were flushed (or tried).
    pub fn writers(&self) -> usize {
        self.writers
    }

    /// The writers that still had data queued, one entry each.
    pub fn unfinished(&self) -> &[UnfinishedWriter] {
        &self.unfinished
    }

    /// The bytes still queued, summed over every unfinished writer.
    pub fn bytes_unwritten(&self) -> u64 {
        self.unfinished
            .iter()
            .map(|w| w.bytes_unwritten as u64)
            .sum()
    }
}

impl fmt::Display for ExitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_complete() {
            return write!(f, "{} pipe writers flushed, nothing lost", self.writers);
        }
        write!(
            f,
            "{} of {} pipe writers could not write {} bytes:",
            self.unfinished.len(),
            self.writers,
            self.bytes_unwritten()
        )?;
        for writer in &self.unfinished {
            write!(f, " {} ({});", writer.bytes_unwritten, writer.error)?;
        }
        Ok(())
    }
}

/// A writer that still had data queued when [`flush_all`] returned.
#[derive(Debug)]
pub struct UnfinishedWriter {
    bytes_unwritten: usize,
    error: io::Error,
}

impl UnfinishedWriter {
    /// The bytes still queued.
    pub fn bytes_unwritten(&self) -> usize {
        self.bytes_unwritten
    }

    /// Why: [`io::ErrorKind::TimedOut`] at the deadline, [`io::ErrorKind::BrokenPipe`] when
    /// the reader went away, the OS error of a failed writer, [`io::ErrorKind::Deadlock`]
    /// when called from an event handler.
    pub fn error(&self) -> &io::Error {
        &self.error
    }
}

/// Calls [`flush_all`] when dropped: create one at the top of `main`, and every writer's
/// queue is written (within the timeout) when `main` returns — or unwinds.
///
/// ```
/// use std::time::Duration;
///
/// fn main() -> std::io::Result<()> {
///     let _flush_at_exit = pipewriter::ExitGuard::new(Duration::from_secs(5));
///     let (_reader, write_end) = pipewriter::pipe()?;
///     let writer = pipewriter::PipeWriter::new(write_end)?;
///     writer.write(&b"not lost at exit"[..]).map_err(|e| e.into_error())?;
///     Ok(())
/// } // the writer lingers, then the guard waits until its queue is written
/// ```
///
/// What could not be written is logged as a warning (through the `log` facade); use
/// [`finish`](Self::finish) to get the [`ExitReport`] instead. `std::process::exit` skips
/// destructors: the guard does nothing then.
#[derive(Debug)]
#[must_use = "the guard flushes when dropped: bind it (`let _guard = ...`), not `let _ = ...`"]
pub struct ExitGuard {
    timeout: Duration,
    armed: bool,
}

impl ExitGuard {
    /// A guard that gives every writer up to `timeout` when dropped.
    pub fn new(timeout: Duration) -> ExitGuard {
        ExitGuard {
            timeout,
            armed: true,
        }
    }

    /// Flushes now, as the drop would, and returns the report.
    pub fn finish(mut self) -> ExitReport {
        self.armed = false;
        flush_all(self.timeout)
    }
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let report = flush_all(self.timeout);
        if !report.is_complete() {
            log::warn!("pipewriter: at exit, {report}");
        }
    }
}

/// The process-wide list of live writers.
#[cfg(not(loom))]
mod registry {
    // Unsafe: the registry's lock is a fork-aware spin lock over an `UnsafeCell`.
    #![allow(unsafe_code)]

    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Weak;

    use crate::driver::Shared;
    use crate::sync::Arc;
    use crate::sys;

    /// The entries, and when to prune them next.
    struct Entries {
        writers: Vec<Weak<Shared>>,
        prune_at: usize,
    }

    /// A spin lock whose word is `generation << 1 | locked`: a forked child finds its
    /// parent's generation there and takes the lock over (see the module docs). It is only
    /// ever held for a push or a copy, never across a wait.
    struct Registry {
        word: AtomicU64,
        entries: UnsafeCell<Entries>,
    }

    // SAFETY: `entries` is only reached through `Guard`, which exists for one thread at a
    // time (the lock word's bit, taken by compare-and-swap); `Weak<Shared>` is `Send + Sync`.
    unsafe impl Sync for Registry {}

    static REGISTRY: Registry = Registry {
        word: AtomicU64::new(0),
        entries: UnsafeCell::new(Entries {
            writers: Vec::new(),
            prune_at: 64,
        }),
    };

    /// The registry, locked.
    struct Guard {
        generation: u64,
    }

    impl Guard {
        fn lock() -> Guard {
            let generation = sys::process::generation();
            let mine = generation << 1;
            loop {
                let word = REGISTRY.word.load(Ordering::Acquire);
                if word >> 1 != generation {
                    // The parent's, copied at a fork (W-15): take it over, and forget its
                    // entries without freeing them.
                    if REGISTRY
                        .word
                        .compare_exchange(word, mine | 1, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        let guard = Guard { generation };
                        // SAFETY: we hold the lock (just taken).
                        let entries = unsafe { &mut *REGISTRY.entries.get() };
                        std::mem::forget(std::mem::take(&mut entries.writers));
                        return guard;
                    }
                } else if word & 1 == 0
                    && REGISTRY
                        .word
                        .compare_exchange(word, mine | 1, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                {
                    return Guard { generation };
                }
                std::thread::yield_now();
            }
        }

        fn entries(&mut self) -> &mut Entries {
            // SAFETY: the guard holds the lock, and `&mut self` makes this the only reference
            // to the entries while it lives.
            unsafe { &mut *REGISTRY.entries.get() }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            REGISTRY.word.store(self.generation << 1, Ordering::Release);
        }
    }

    pub(super) fn register(shared: &Arc<Shared>) {
        let weak = Arc::downgrade(shared);
        let mut guard = Guard::lock();
        let entries = guard.entries();
        if entries.writers.len() >= entries.prune_at {
            // Dropping a dead entry frees only its weak count's memory: no user code runs.
            entries.writers.retain(|w| w.strong_count() > 0);
            entries.prune_at = (entries.writers.len() * 2).max(64);
        }
        if entries.writers.try_reserve(1).is_err() {
            // W-15: a shortage costs the writer its place in the registry, nothing more.
            log::warn!("pipewriter: no memory to register a writer for flush_all");
            return;
        }
        entries.writers.push(weak);
    }

    /// The writers alive now, taken out of the lock before anyone waits for them.
    pub(super) fn live_writers() -> Vec<Arc<Shared>> {
        let mut guard = Guard::lock();
        let entries = guard.entries();
        entries.writers.retain(|w| w.strong_count() > 0);
        entries.writers.iter().filter_map(Weak::upgrade).collect()
    }
}

/// Model-checking builds: loom's `Arc` has no weak references, so nothing is registered.
#[cfg(loom)]
mod registry {
    use crate::driver::Shared;
    use crate::sync::Arc;

    pub(super) fn register(_shared: &Arc<Shared>) {}

    pub(super) fn live_writers() -> Vec<Arc<Shared>> {
        Vec::new()
    }
}
