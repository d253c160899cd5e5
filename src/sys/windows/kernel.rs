//! Thin, owned wrappers over the kernel and thread-pool objects a writer creates: an event
//! and a thread-pool wait. Each one is RAII from the first instruction (an early `?` cannot
//! leak it) and states the OS contract its unsafe parts rely on.
//!
//! # Kernel-object hygiene (P-5)
//! Every object here is unnamed and created with NULL `SECURITY_ATTRIBUTES`, which means: not
//! inheritable (`bInheritHandle` is FALSE when the attributes are NULL), and the default DACL
//! of the caller's token. A review of Qt's writer asked whether that default DACL is a
//! weakness. It is not, for an unnamed object: nobody can open it by name (it has none), and
//! no child process inherits the handle, so the only way another process can reach it is
//! `DuplicateHandle` out of this process — which requires `PROCESS_DUP_HANDLE` access to this
//! process, and whoever holds that can already duplicate any handle we own, or read and write
//! our memory. A stricter DACL would protect nothing. Thread-pool waits are not kernel
//! handles at all: they are user-mode objects of this process.
//!
//! # References
//! - [`CreateEventW`](https://learn.microsoft.com/windows/win32/api/synchapi/nf-synchapi-createeventw)
//! - [`CreateThreadpoolWait`](https://learn.microsoft.com/windows/win32/api/threadpoolapiset/nf-threadpoolapiset-createthreadpoolwait)
//! - [`SetThreadpoolWait`](https://learn.microsoft.com/windows/win32/api/threadpoolapiset/nf-threadpoolapiset-setthreadpoolwait)
//! - [`WaitForThreadpoolWaitCallbacks`](https://learn.microsoft.com/windows/win32/api/threadpoolapiset/nf-threadpoolapiset-waitforthreadpoolwaitcallbacks)
//! - [`DisassociateCurrentThreadFromCallback`](https://learn.microsoft.com/windows/win32/api/threadpoolapiset/nf-threadpoolapiset-disassociatecurrentthreadfromcallback)
// Unsafe: the owned kernel objects (events, thread-pool waits) and their Win32 calls.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::c_void;
use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::time::Duration;

use windows_sys::Win32::Foundation::{FILETIME, HANDLE};
use windows_sys::Win32::System::Threading::{
    CloseThreadpoolWait, CreateEventW, CreateThreadpoolWait, DisassociateCurrentThreadFromCallback,
    ResetEvent, SetEvent, SetThreadpoolWait, WaitForThreadpoolWaitCallbacks, PTP_CALLBACK_INSTANCE,
    PTP_WAIT,
};

/// An unnamed, non-inheritable, auto-reset event (P-5).
#[derive(Debug)]
pub(super) struct Event(OwnedHandle);

impl Event {
    /// A new auto-reset event, not signalled.
    pub(super) fn new_auto_reset() -> io::Result<Event> {
        // SAFETY: NULL security attributes (not inheritable, default DACL: see the module
        // docs) and a NULL name; the other arguments are plain values.
        let raw = unsafe { CreateEventW(ptr::null(), 0, 0, ptr::null()) };
        if raw.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new, valid handle that nothing else owns.
        Ok(Event(unsafe { OwnedHandle::from_raw_handle(raw) }))
    }

    pub(super) fn raw(&self) -> HANDLE {
        self.0.as_raw_handle()
    }

    /// Signals the event.
    pub(super) fn set(&self) {
        // SAFETY: the handle is a valid event handle owned by `self`.
        if unsafe { SetEvent(self.raw()) } == 0 {
            log::error!(
                "pipewriter: SetEvent failed: {}",
                io::Error::last_os_error()
            );
        }
    }

    /// Clears the event.
    pub(super) fn reset(&self) {
        // SAFETY: the handle is a valid event handle owned by `self`.
        if unsafe { ResetEvent(self.raw()) } == 0 {
            log::error!(
                "pipewriter: ResetEvent failed: {}",
                io::Error::last_os_error()
            );
        }
    }
}

/// The signature of a thread-pool wait callback.
pub(super) type WaitCallback =
    unsafe extern "system" fn(PTP_CALLBACK_INSTANCE, *mut c_void, PTP_WAIT, u32);

/// A thread-pool wait object (not a kernel handle). Dropping it disarms it, waits until no
/// callback of it runs or is queued (except the calling thread's own, see
/// [`ThreadpoolWait::wait_for_callbacks`]) and closes it (P-1).
#[derive(Debug)]
pub(super) struct ThreadpoolWait(PTP_WAIT);

// SAFETY: a PTP_WAIT is a process-wide object the thread-pool API lets any thread use
// concurrently (arming, disarming, waiting, closing).
unsafe impl Send for ThreadpoolWait {}
// SAFETY: as above; `&ThreadpoolWait` only calls those thread-safe functions.
unsafe impl Sync for ThreadpoolWait {}

impl ThreadpoolWait {
    /// Creates a wait whose callbacks receive `context`.
    ///
    /// # Safety
    /// `context` must stay valid for `callback` until this object is dropped (drop waits for
    /// the callbacks of every other thread), and `callback` must not unwind.
    pub(super) unsafe fn new(callback: WaitCallback, context: *const c_void) -> io::Result<Self> {
        // SAFETY: the caller guarantees the context's lifetime; the default callback
        // environment (NULL) is the process's default pool.
        let wait = unsafe { CreateThreadpoolWait(Some(callback), context.cast_mut(), ptr::null()) };
        if wait == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ThreadpoolWait(wait))
    }

    /// Arms the wait: one callback when `event` is signalled, or after `timeout`.
    pub(super) fn arm(&self, event: &Event, timeout: Option<Duration>) {
        let filetime = timeout.map(relative_filetime);
        let timeout_ptr = filetime
            .as_ref()
            .map_or(ptr::null(), |t| t as *const FILETIME);
        // SAFETY: the wait is valid until drop; `event` is a valid handle that outlives the
        // arming (the event and the wait live in the same writer and the wait is disarmed
        // first on drop); the FILETIME is read during the call only.
        unsafe { SetThreadpoolWait(self.0, event.raw(), timeout_ptr) };
    }

    /// Disarms the wait: it queues no new callback. Callbacks already queued may still run.
    pub(super) fn disarm(&self) {
        // SAFETY: the wait is valid until drop; NULL means "stop waiting".
        unsafe { SetThreadpoolWait(self.0, ptr::null_mut(), ptr::null()) };
    }

    /// Cancels queued callbacks and waits for running ones to return.
    ///
    /// When called from inside one of this wait's own callbacks (an event handler stopping or
    /// dropping its writer), that callback is first disassociated from the wait, so the wait
    /// does not wait for itself (which would deadlock); the caller guarantees the callback
    /// keeps what it uses alive until it returns.
    pub(super) fn wait_for_callbacks(&self) {
        CURRENT_CALLBACK.with(|current| {
            if let Some(mut scope) = current.get() {
                if scope.wait == self.0 && !scope.disassociated {
                    // SAFETY: `scope.instance` is the instance of the callback this thread
                    // is running right now (set on entry, cleared on exit).
                    unsafe { DisassociateCurrentThreadFromCallback(scope.instance) };
                    scope.disassociated = true;
                    current.set(Some(scope));
                }
            }
        });
        // SAFETY: the wait is valid until drop; TRUE cancels callbacks not yet started.
        unsafe { WaitForThreadpoolWaitCallbacks(self.0, 1) };
    }
}

impl Drop for ThreadpoolWait {
    fn drop(&mut self) {
        self.disarm();
        self.wait_for_callbacks();
        // SAFETY: the wait is valid and closed exactly once. A callback of it that is still
        // running (only a disassociated one: this thread's own) keeps the pool's internal
        // object alive until it returns.
        unsafe { CloseThreadpoolWait(self.0) };
    }
}

/// A relative thread-pool timeout: negative, in 100 ns units.
fn relative_filetime(timeout: Duration) -> FILETIME {
    let ticks = i64::try_from(timeout.as_nanos() / 100)
        .unwrap_or(i64::MAX)
        .max(1);
    let value = (-ticks) as u64;
    FILETIME {
        dwLowDateTime: value as u32,
        dwHighDateTime: (value >> 32) as u32,
    }
}

/// The thread-pool callback this thread is running, if any.
#[derive(Debug, Clone, Copy)]
struct CallbackScopeState {
    wait: PTP_WAIT,
    instance: PTP_CALLBACK_INSTANCE,
    disassociated: bool,
}

thread_local! {
    static CURRENT_CALLBACK: Cell<Option<CallbackScopeState>> = const { Cell::new(None) };
}

/// Marks the current thread as running a callback of `wait` until dropped, so that a stop or
/// drop from inside that callback can tell (P-1, W-8).
#[derive(Debug)]
pub(super) struct CallbackScope {
    previous: Option<CallbackScopeState>,
}

impl CallbackScope {
    pub(super) fn enter(wait: PTP_WAIT, instance: PTP_CALLBACK_INSTANCE) -> CallbackScope {
        let previous = CURRENT_CALLBACK.with(|current| {
            current.replace(Some(CallbackScopeState {
                wait,
                instance,
                disassociated: false,
            }))
        });
        CallbackScope { previous }
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        CURRENT_CALLBACK.with(|current| current.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_filetime_is_negative_hundreds_of_nanoseconds() {
        let t = relative_filetime(Duration::from_millis(5));
        let value = ((t.dwHighDateTime as u64) << 32 | t.dwLowDateTime as u64) as i64;
        assert_eq!(value, -50_000);
        let t = relative_filetime(Duration::ZERO);
        let value = ((t.dwHighDateTime as u64) << 32 | t.dwLowDateTime as u64) as i64;
        assert_eq!(
            value, -1,
            "a zero delay stays relative (zero would be an absolute time)"
        );
    }
}
