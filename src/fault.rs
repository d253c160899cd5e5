//! Fault injection through the backend seam, for tests (the `fault-injection` feature).
//!
//! An injector is asked before every OS write a writer makes, with the number of bytes about
//! to be submitted, and answers with a [`Fault`]. The answer is applied exactly where a real
//! OS result would enter the core, so every error path (E-2 … E-4) and short writes (W-6)
//! can be driven deterministically on every platform.

use std::fmt;
use std::io;
use std::sync::Mutex;

use bytes::Bytes;

use crate::core::Outcome;

/// What an injector does to one OS write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Let the write through unchanged.
    Pass,
    /// Fail the write with this raw OS error code, classified by the platform's error table
    /// (E-1) exactly as if the OS had returned it; nothing is written.
    Error(i32),
    /// Submit at most this many bytes (a short write when fewer than submitted).
    Short(usize),
}

type Callback = Box<dyn FnMut(usize) -> Fault + Send>;

/// A writer's injector.
pub(crate) struct Injector(Mutex<Callback>);

impl fmt::Debug for Injector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Injector")
    }
}

impl Injector {
    pub(crate) fn new(callback: impl FnMut(usize) -> Fault + Send + 'static) -> Self {
        Injector(Mutex::new(Box::new(callback)))
    }

    /// Applies the injector's answer for the write of `bufs`.
    pub(crate) fn apply(&self, bufs: &mut Vec<Bytes>) -> Option<Outcome> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let fault = (self.0.lock().unwrap_or_else(|e| e.into_inner()))(total);
        match fault {
            Fault::Pass => None,
            Fault::Error(code) => Some(crate::sys::classify(io::Error::from_raw_os_error(code))),
            Fault::Short(0) => Some(Outcome::Wrote(0)),
            Fault::Short(limit) => {
                let mut left = limit;
                bufs.retain_mut(|buf| {
                    if left == 0 {
                        return false;
                    }
                    if buf.len() > left {
                        buf.truncate(left);
                    }
                    left -= buf.len();
                    true
                });
                None
            }
        }
    }
}

std::thread_local! {
    /// Thread starts still to fail on this thread (see [`fail_thread_spawns`]).
    static SPAWN_FAILURES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Makes the next `count` threads that the crate starts *from the calling thread* fail to
/// start, as if the OS had refused them (thread or address-space limits): the writer being
/// built gets the error (W-15). The crate starts its threads while a writer is built (the
/// shared Unix reactor the first time, a worker thread for handles that need one), so this
/// makes a [`Builder::build`](crate::Builder::build) on this thread fail. Per thread, so tests
/// running in parallel do not disturb each other. `0` disarms it.
pub fn fail_thread_spawns(count: usize) {
    SPAWN_FAILURES.with(|c| c.set(count));
}

/// True (and one failure used up) when the next thread start must fail.
pub(crate) fn take_spawn_failure() -> bool {
    SPAWN_FAILURES.with(|c| {
        let left = c.get();
        c.set(left.saturating_sub(1));
        left > 0
    })
}

/// Milliseconds a blocking write stalls before it starts (see [`stall_blocking_writes`]).
#[cfg(windows)]
static BLOCKING_WRITE_STALL_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Makes every blocking write of the Windows worker thread (synchronous handles, P-2) first
/// stall for `stall`, in a way `CancelSynchronousIo` cannot interrupt, as a console write
/// held by a selection would (P-7): `stop` must then give up cancelling and abandon the
/// write. After the stall the write is made as usual. Process-wide (the writes run on the
/// writers' own threads): use it in a test binary of its own. `Duration::ZERO` disarms it.
#[cfg(windows)]
pub fn stall_blocking_writes(stall: std::time::Duration) {
    let millis = u64::try_from(stall.as_millis()).unwrap_or(u64::MAX);
    BLOCKING_WRITE_STALL_MS.store(millis, std::sync::atomic::Ordering::SeqCst);
}

/// The stall armed by [`stall_blocking_writes`], if any.
#[cfg(windows)]
pub(crate) fn blocking_write_stall() -> Option<std::time::Duration> {
    let millis = BLOCKING_WRITE_STALL_MS.load(std::sync::atomic::Ordering::SeqCst);
    (millis > 0).then(|| std::time::Duration::from_millis(millis))
}

#[cfg(unix)]
type FifoHook = Box<dyn FnOnce(&std::path::Path)>;

#[cfg(unix)]
std::thread_local! {
    /// The hook [`before_fifo_open`] armed on this thread.
    static FIFO_HOOK: std::cell::RefCell<Option<FifoHook>> = const { std::cell::RefCell::new(None) };
}

/// Runs `hook` once, with the path, inside the next [`Fifo::open_writer`](crate::Fifo::open_writer)
/// or [`Fifo::open_reader`](crate::Fifo::open_reader) on the calling thread, between the check
/// of what is at the path and the open for writing or reading: a test can swap the path for
/// another object there (S-3). Per thread, so parallel tests do not disturb each other.
#[cfg(unix)]
pub fn before_fifo_open(hook: impl FnOnce(&std::path::Path) + 'static) {
    FIFO_HOOK.with(|slot| *slot.borrow_mut() = Some(Box::new(hook)));
}

/// Runs the hook armed by [`before_fifo_open`], if any.
#[cfg(unix)]
pub(crate) fn run_fifo_hook(path: &std::path::Path) {
    if let Some(hook) = FIFO_HOOK.with(|slot| slot.borrow_mut().take()) {
        hook(path);
    }
}
