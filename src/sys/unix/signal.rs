//! SIGPIPE without touching the process-wide disposition (P-4).
//!
//! Every write of this crate happens on a thread of its own (the reactor or a worker), and
//! those threads block `SIGPIPE` for themselves when they start. A write to a closed pipe then
//! leaves the signal pending on that thread instead of delivering it; after `EPIPE` the pending
//! signal is consumed with `sigtimedwait` so it can never be delivered later. The process's
//! disposition of `SIGPIPE` is never read or changed, so C hosts and `SIG_DFL` processes are
//! safe, and nothing that other code set up is disturbed.

/// Blocks `SIGPIPE` in the calling thread (only ever called on the crate's own threads).
pub(super) fn block_sigpipe_in_this_thread() {
    let set = sigpipe_set();
    // SAFETY: `set` is a valid, initialised signal set; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        log::error!("pipewriter: cannot block SIGPIPE in its I/O thread (error {rc})");
    }
}

/// Blocks `SIGPIPE` in the calling thread until dropped, then restores the thread's mask.
/// For the rare write made on a caller's thread.
pub(super) struct SigpipeBlocked {
    /// The thread's mask before, to restore; `None` when `SIGPIPE` was blocked already.
    previous: Option<libc::sigset_t>,
}

impl SigpipeBlocked {
    pub(super) fn new() -> Self {
        let set = sigpipe_set();
        // SAFETY: `sigset_t` is plain data, filled in by `pthread_sigmask` before use.
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both sets are valid for the call.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous) };
        // SAFETY: `previous` was initialised by the successful call above.
        let was_blocked = rc == 0 && unsafe { libc::sigismember(&previous, libc::SIGPIPE) } == 1;
        SigpipeBlocked {
            previous: (rc == 0 && !was_blocked).then_some(previous),
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        if let Some(previous) = &self.previous {
            // SAFETY: `previous` is the valid mask returned by `pthread_sigmask`.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, previous, std::ptr::null_mut()) };
        }
    }
}

/// Consumes a `SIGPIPE` that a write on this thread left pending, if any. Never waits.
pub(super) fn consume_pending_sigpipe() {
    let set = sigpipe_set();
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: `set` and `zero` are valid for the call; a null info pointer is allowed.
        let rc = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) };
        if rc == libc::SIGPIPE {
            continue;
        }
        // -1 with EAGAIN: nothing pending (or EINTR: try no further).
        return;
    }
}

fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: `sigset_t` is plain data; it is initialised by `sigemptyset` before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid pointer to a signal set.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
    }
    set
}
