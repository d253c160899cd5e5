//! The blocking fallback (P-3): a thread of its own for a descriptor whose `O_NONBLOCK` must
//! not be switched (it may be shared with other processes), or that the poller cannot watch
//! (a regular file).
//!
//! The worker polls for writability with a short timeout, then writes at most `PIPE_BUF`
//! bytes to a pipe or FIFO — a size that cannot block once the pipe polls writable — so a
//! `stop` never waits behind a write the reader may never make room for. (If another process
//! fills the same pipe between the poll and the write, that write does block until the
//! reader makes room.) The thread ends when the writer does.

use std::sync::Arc;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};

use super::Mode;
use crate::writer::{Shared, Step};

/// How long one writability poll may wait before the worker looks at the writer again.
const POLL_SLICE: Duration = Duration::from_millis(20);

pub(super) fn spawn(shared: Arc<Shared>) {
    let spawned = std::thread::Builder::new()
        .name("pipewriter-worker".into())
        .spawn(move || run(shared));
    if let Err(e) = spawned {
        log::error!("pipewriter: cannot start a worker thread: {e}");
    }
}

fn run(shared: Arc<Shared>) {
    super::signal::block_sigpipe_in_this_thread();
    let limit = match shared.io.mode {
        Mode::Worker { atomic_limit, .. } => atomic_limit,
        Mode::Reactor { .. } => usize::MAX,
    };
    let mut bufs = Vec::new();
    while shared.wait_for_work() {
        if !wait_writable(&shared) {
            continue;
        }
        shared.resume();
        match shared.drive(&mut bufs, 16, |bufs| shared.io.write(bufs, limit)) {
            Step::Idle | Step::Yield | Step::AwaitWritable => {}
            Step::RetryAfter(delay) => std::thread::sleep(delay),
            Step::Done => break,
        }
    }
}

/// Polls the descriptor for writability for up to one slice. False on timeout.
fn wait_writable(shared: &Shared) -> bool {
    let slot = shared.io.fd_slot();
    let Some(fd) = slot.as_ref() else {
        // Closed or taken: driving reports it.
        return true;
    };
    // The handle lock is held for at most one slice, so a `stop` waits at most that long.
    let mut fds = [PollFd::new(fd, PollFlags::OUT)];
    let timeout = Timespec::try_from(POLL_SLICE).ok();
    match rustix::event::poll(&mut fds, timeout.as_ref()) {
        Ok(n) => n > 0,
        Err(_) => true,
    }
}
