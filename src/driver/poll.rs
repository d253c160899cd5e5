//! The async adapters' side of a writer: cancel-safe polls that queue what fits, or
//! register the task to be woken (never under the lock: see `Wakeups`).

use std::io;
use std::task::{Context, Poll, Waker};

use super::{ended_error, timed_out, Backend, Shared};
use crate::core::{Kick, Phase};
use crate::sync::Arc;
use crate::sys;

impl Shared {
    /// For the async adapters: queues as much of `buf` as fits under the high-water
    /// mark, or registers the task to be woken when the queue falls to the low-water mark.
    /// Cancel-safe: `Pending` queued nothing, `Ready(Ok(n))` queued exactly `n` bytes.
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_write_bufs(
        this: &Arc<Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut state = this.lock();
        if let Err(refusal) = state.core.admit(0) {
            return Poll::Ready(Err(refusal.to_error()));
        }
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let room = state.core.room();
        if room == 0 {
            if state.core.queued() == 0 {
                // Only a hard limit of 0 leaves no room in an empty queue: no progress would
                // ever wake the task.
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the writer's hard limit of 0 bytes refuses every write",
                )));
            }
            add_waker(&mut state.write_wakers, cx.waker());
            return Poll::Pending;
        }
        let mut take = total.min(room);
        if let Err(refusal) = state.core.admit(take) {
            // Only the hard limit can refuse here: wait for room like above.
            if refusal == crate::core::Refusal::HardLimit {
                add_waker(&mut state.write_wakers, cx.waker());
                return Poll::Pending;
            }
            return Poll::Ready(Err(refusal.to_error()));
        }
        let n = take;
        let (_, kick) = state.core.accept(n, |queue| {
            for buf in bufs {
                if take == 0 {
                    break;
                }
                let part = buf.len().min(take);
                queue.push_slice(&buf[..part]);
                take -= part;
            }
        });
        drop(state);
        if kick == Kick::Yes {
            sys::Io::kick(this);
        }
        Poll::Ready(Ok(n))
    }

    /// For the async adapters: ready when everything accepted so far is written.
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_flush_all(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        // Not `queued() == 0`: `stop` empties the queue without writing it.
        if state.core.written() == state.core.accepted() {
            return Poll::Ready(Ok(()));
        }
        if let Some(error) = ended_error(&state) {
            return Poll::Ready(Err(error));
        }
        add_waker(&mut state.flush_wakers, cx.waker());
        Poll::Pending
    }

    /// For the async adapters: flushes, then closes the handle (the reader sees
    /// end-of-file).
    #[cfg_attr(not(any(feature = "tokio", feature = "futures-io")), allow(dead_code))]
    pub(crate) fn poll_close_all(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        match state.core.phase() {
            Phase::Closed => return Poll::Ready(Ok(())),
            Phase::Open | Phase::Closing => {}
            _ => return Poll::Ready(Err(ended_error(&state).unwrap_or_else(timed_out))),
        }
        let close_now = state.core.request_close();
        if close_now {
            drop(state);
            self.close_handle();
            return Poll::Ready(Ok(()));
        }
        add_waker(&mut state.flush_wakers, cx.waker());
        Poll::Pending
    }
}

pub(super) fn add_waker(list: &mut Vec<Waker>, waker: &Waker) {
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}
