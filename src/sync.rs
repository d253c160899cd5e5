//! Synchronisation primitives, swapped for loom's under `--cfg loom` so that the model
//! checker can explore the interleavings of the core and the driver.
//!
//! Everything the writer shares between threads goes through here: locks, the atomics and
//! thread identities (loom runs its threads as coroutines on one OS thread, so std's thread
//! ids would mix them up; for the same reason `writer.rs` declares its thread-local with
//! loom's macro under loom). Time is not modelled: under loom a timed wait is an untimed one,
//! and [`Instant`] is a clock that moves a millisecond at every reading, so that decisions
//! taken on short intervals come out the same in every execution.

#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Atomics.
pub(crate) mod atomic {
    #[cfg(not(loom))]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[cfg(loom)]
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
}

/// Thread identities.
pub(crate) mod thread {
    #[cfg(not(loom))]
    pub(crate) use std::thread::{current, ThreadId};

    #[cfg(loom)]
    pub(crate) use loom::thread::{current, ThreadId};
}

#[cfg(not(loom))]
pub(crate) use std::time::Instant;

#[cfg(loom)]
pub(crate) use self::clock::Instant;

/// Loom's stand-in for `std::time::Instant`: every `now()` is one millisecond after the
/// previous one, process-wide. Intervals the writer compares against microseconds always look
/// long, and timeouts (which loom never lets expire) end only after millions of readings.
#[cfg(loom)]
mod clock {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    static TICKS: AtomicU64 = AtomicU64::new(0);

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub(crate) struct Instant(Duration);

    impl Instant {
        pub(crate) fn now() -> Instant {
            Instant(Duration::from_millis(
                TICKS.fetch_add(1, Ordering::Relaxed) + 1,
            ))
        }

        pub(crate) fn checked_add(self, d: Duration) -> Option<Instant> {
            self.0.checked_add(d).map(Instant)
        }

        pub(crate) fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
            self.0.checked_sub(earlier.0)
        }

        pub(crate) fn saturating_duration_since(self, earlier: Instant) -> Duration {
            self.0.saturating_sub(earlier.0)
        }
    }
}
