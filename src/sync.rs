//! Synchronisation primitives, swapped for loom's under `--cfg loom` so that the model
//! checker can explore the interleavings of the core and the driver.

#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
