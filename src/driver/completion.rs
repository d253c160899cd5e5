//! The one completion loop, for backends whose OS writes finish asynchronously (Windows'
//! overlapped writes, and the simulated kernel that loom and Miri run, so the models check the
//! very loop Windows runs).
//!
//! Called when an operation finished (its outcome collected) or when there is new work: it
//! reports the outcome to the core, delivers events, then starts the next write, applying the
//! fault seam (the `fault-injection` feature) exactly where an OS result would enter the
//! core, and goes on while writes finish at once — up to the backend's limit, after which it
//! yields its thread — until one is pending in the OS, the queue is empty, or the writer
//! waits (a backoff, W-3/E-3).

use std::time::Duration;

use bytes::Bytes;

use super::Shared;
use crate::core::{Begin, Next, Outcome};
use crate::sync::Arc;

/// What became of a write the backend was asked to submit.
#[derive(Debug)]
pub(crate) enum Submitted {
    /// In the OS: its completion will call [`run`] again with the outcome.
    Pending,
    /// Finished at once (completed synchronously, failed, or cancelled before it reached the
    /// OS).
    Done(Outcome),
}

/// The backend's half of the loop.
pub(crate) trait Completion {
    /// Operations finishing at once in a row before the loop yields its thread.
    const MAX_INLINE: usize;

    /// Submits `bufs` (the head of the queue, never empty) to the OS; a backend that was
    /// cancelled meanwhile answers `Done(Outcome::Cancelled(0))` without submitting.
    fn submit(&self, shared: &Arc<Shared>, bufs: Vec<Bytes>) -> Submitted;

    /// The writer must wait before writing again: `Some(delay)` for a transient error's
    /// backoff (E-3), `None` after a zero-byte completion (retry shortly). Then the loop runs
    /// again, after `Shared::resume`.
    fn wait_then_resume(&self, shared: &Arc<Shared>, delay: Option<Duration>);

    /// `MAX_INLINE` operations finished at once: continue on another turn.
    fn yield_turn(&self, shared: &Arc<Shared>);

    /// An outcome the fault seam injected, as the backend's own OS result would be read.
    fn injected(&self, outcome: Outcome) -> Outcome {
        outcome
    }
}

/// Reports `collected` (if an operation finished), then chains writes (W-3).
pub(crate) fn run<B: Completion>(backend: &B, shared: &Arc<Shared>, collected: Option<Outcome>) {
    let mut collected = collected;
    let mut inline = 0;
    loop {
        if let Some(outcome) = collected.take() {
            let next = shared.complete(outcome);
            shared.dispatch();
            match next {
                Next::Continue => {}
                Next::Halt => return,
                Next::AwaitWritable => {
                    // A zero-byte completion of a non-empty write: retry shortly, not spin.
                    backend.wait_then_resume(shared, None);
                    return;
                }
                Next::RetryAfter(delay) => {
                    backend.wait_then_resume(shared, Some(delay));
                    return;
                }
            }
        }
        if inline == B::MAX_INLINE {
            // Operations keep finishing at once: give the thread back, to stay fair to the
            // other work it serves.
            backend.yield_turn(shared);
            return;
        }
        let mut bufs = Vec::new();
        match shared.begin(&mut bufs) {
            Begin::Submit(_) => {}
            Begin::Close => {
                shared.close_handle();
                shared.dispatch();
                return;
            }
            Begin::Idle | Begin::Halt => {
                shared.dispatch();
                return;
            }
        }
        inline += 1;
        if let Some(outcome) = shared.injected_fault(&mut bufs) {
            collected = Some(backend.injected(outcome));
            continue;
        }
        if bufs.is_empty() {
            collected = Some(Outcome::Wrote(0));
            continue;
        }
        match backend.submit(shared, bufs) {
            Submitted::Pending => return,
            Submitted::Done(outcome) => collected = Some(outcome),
        }
    }
}
