//! Synchronisation primitives, swapped for loom's under `--cfg loom` so that the model
//! checker can explore the interleavings of the core and the driver.
//!
//! Everything the writer shares between threads goes through here: locks, the atomics and
//! thread identities (loom runs its threads as coroutines on one OS thread, so std's thread
//! ids would mix them up; for the same reason `writer.rs` declares its thread-local with
//! loom's macro under loom). Time is not modelled: under loom a timed wait is an untimed one.

#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Atomics.
pub(crate) mod atomic {
    #[cfg(not(loom))]
    pub(crate) use std::sync::atomic::{AtomicBool, Ordering};

    #[cfg(loom)]
    pub(crate) use loom::sync::atomic::{AtomicBool, Ordering};
}

/// Thread identities.
pub(crate) mod thread {
    #[cfg(not(loom))]
    pub(crate) use std::thread::{current, ThreadId};

    #[cfg(loom)]
    pub(crate) use loom::thread::{current, ThreadId};
}
