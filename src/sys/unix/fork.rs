//! `fork()` without `exec` (W-15).
//!
//! A forked child is a copy of one thread of its parent: it inherits every writer's memory
//! and descriptors, but none of the crate's threads, and the reactor's poller in it is the
//! *same* kernel object as the parent's (an epoll instance is shared across `fork`, so a
//! registration removed in the child is removed for the parent too). Locks that another
//! thread held at the fork stay held for ever in the child.
//!
//! So the crate counts forks: a handler registered with `pthread_atfork` adds one to a
//! generation number in the child (an atomic add is async-signal-safe). Every writer and the
//! reactor remember the generation they were made in. In a child:
//! - a writer inherited from the parent is inert: it refuses every write and wait with a
//!   clear error, `stop` hands back nothing (the queue is the parent's to write), it never
//!   takes a lock the parent's threads may have held, and it never touches the poller.
//!   Dropping it closes the child's copy of the descriptor (so the reader can see end-of-file
//!   once the parent closes its own); its memory is left alone until the child exits or
//!   `exec`s.
//! - a new writer works: it gets a reactor (poller and thread) of the child's own.
//!
//! # References
//! - [`pthread_atfork(3)`](https://man7.org/linux/man-pages/man3/pthread_atfork.3.html)
//! - [`fork(2)`](https://man7.org/linux/man-pages/man2/fork.2.html)
//! - [`epoll(7)`](https://man7.org/linux/man-pages/man7/epoll.7.html) (Q6: what a child shares)
// Unsafe: `pthread_atfork` through libc.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// Forks survived by this process's line since the first writer was built.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

extern "C" fn in_child_after_fork() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The current generation, with the fork handler registered (called when a writer is built).
pub(crate) fn register() -> u64 {
    REGISTER.call_once(|| {
        // SAFETY: the handler is an `extern "C"` function with the signature
        // `pthread_atfork` expects, valid for the life of the process; it only does an atomic
        // add, which is async-signal-safe as a child handler must be.
        let rc = unsafe {
            libc::pthread_atfork(
                None,
                None,
                Some(in_child_after_fork as unsafe extern "C" fn()),
            )
        };
        if rc != 0 {
            log::warn!("pipewriter: cannot register its fork handler (error {rc})");
        }
    });
    generation()
}

/// The current generation: one more in a forked child than in its parent.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}
