//! A file range written from the caller's thread (W-18): moved into the pipe with
//! `splice(2)` where the backend can, copied through a buffer elsewhere.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::time::Duration;

use super::{ended_error, timed_out, Backend, Shared, State};
use crate::core::{IoState, Outcome};
use crate::sync::{Arc, Instant};
use crate::sys;

/// The most one `splice` call is asked to move: enough to fill an enlarged pipe.
const SPLICE_STEP: usize = 1 << 20;
/// The copy buffer of the plain path.
const COPY_STEP: usize = 64 << 10;
/// How long a transient error's retry waits here.
const TRANSIENT_PAUSE: Duration = Duration::from_millis(10);

/// How far a file went: the bytes moved, and the error that stopped it, if one did.
pub(crate) type FileProgress = (u64, Option<io::Error>);

impl Shared {
    /// Writes `range` of `file` after everything accepted before, on the caller's thread,
    /// within `deadline`. On Unix backends driven from the caller, the caller holds the writer
    /// for the whole range (writes from other threads queue behind it) and the pipe gets the
    /// bytes with `splice(2)` (Linux) or from a buffer; elsewhere the bytes are read into a
    /// buffer and written as the blocking adapter writes.
    pub(crate) fn write_file(
        this: &Arc<Self>,
        file: &File,
        range: Range<u64>,
        deadline: Option<Instant>,
    ) -> FileProgress {
        if !this.io.can_drive_from_caller() {
            return (0, None);
        }
        let left = |deadline: Option<Instant>| match deadline {
            Some(d) => d
                .checked_duration_since(Instant::now())
                .filter(|l| !l.is_zero()),
            None => Some(Duration::from_secs(3600)),
        };
        // Everything before goes first; then the writer is ours until the range is done.
        let held = Self::wait_driving(this, left(deadline), |state: &mut State| {
            if let Err(refusal) = state.core.admit(0) {
                return Some(Err(refusal.to_error()));
            }
            let free = state.core.queued() == 0
                && !state.driving
                && state.core.io_state() == IoState::Idle;
            if free {
                state.driving = true;
            }
            free.then_some(Ok(()))
        });
        match held {
            Some(Ok(())) => {}
            Some(Err(e)) => return (0, Some(e)),
            None => return (0, Some(timed_out())),
        }
        let mut moved = 0u64;
        let mut splice = true;
        let mut buf: Vec<u8> = Vec::new();
        let mut buffered = 0..0;
        let error = loop {
            let offset = range.start + moved;
            if offset >= range.end {
                break None;
            }
            let want = range.end - offset;
            {
                let mut state = this.lock();
                if !state.core.begin_held_in_place() {
                    break Some(ended_error(&state).unwrap_or_else(closed));
                }
            }
            // The pipe's outcome, or an error of the file's own (a read, its end), which
            // is not the pipe's: the writer goes on after it.
            let mut outcome = None;
            let mut file_error = None;
            if splice && buffered.is_empty() {
                let len = usize::try_from(want).unwrap_or(usize::MAX).min(SPLICE_STEP);
                outcome = this.io.splice_now(file, offset, len);
                splice = outcome.is_some();
                if let Some(Outcome::Wrote(0)) = outcome {
                    file_error = Some(end_of_file(offset));
                }
            }
            if outcome.is_none() {
                if buffered.is_empty() {
                    // The plain copy: a read on this thread (it may wait for the disk).
                    let len = usize::try_from(want).unwrap_or(usize::MAX).min(COPY_STEP);
                    buf.resize(len, 0);
                    match sys::read_file_at(file, &mut buf, offset) {
                        Ok(0) => file_error = Some(end_of_file(offset)),
                        Ok(n) => buffered = 0..n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => file_error = Some(e),
                    }
                }
                if !buffered.is_empty() {
                    outcome = Some(this.io.write_slice_now(&buf[buffered.clone()]));
                }
            }
            let step = match (&file_error, &outcome) {
                (Some(_), _) => Step::Fail,
                (None, None) => Step::Again,
                (None, Some(Outcome::Wrote(0) | Outcome::WouldBlock)) => Step::Full,
                (None, Some(Outcome::Wrote(n))) => Step::Moved(*n),
                (None, Some(Outcome::Interrupted)) => Step::Again,
                (None, Some(Outcome::Transient(_))) => Step::Pause,
                (
                    None,
                    Some(Outcome::PeerClosed(_) | Outcome::Fatal(_) | Outcome::Cancelled(_)),
                ) => Step::Ended,
            };
            {
                let mut state = this.lock();
                let recorded = match (&file_error, outcome) {
                    (None, Some(outcome)) => outcome,
                    _ => Outcome::Wrote(0),
                };
                let _ = state.core.complete_in_place(recorded);
                let wakeups = this.notify(&mut state);
                drop(state);
                wakeups.wake();
            }
            match step {
                Step::Moved(n) => {
                    moved += n as u64;
                    if !buffered.is_empty() {
                        buffered.start += n;
                    }
                }
                Step::Again => {}
                Step::Full | Step::Pause => {
                    let Some(wait) = left(deadline) else {
                        break Some(timed_out());
                    };
                    if matches!(step, Step::Full) {
                        this.io
                            .wait_writable(wait.min(super::readiness::CALLER_POLL_SLICE));
                    } else {
                        std::thread::sleep(wait.min(TRANSIENT_PAUSE));
                    }
                }
                Step::Fail => break file_error,
                Step::Ended => {
                    let state = this.lock();
                    break Some(ended_error(&state).unwrap_or_else(closed));
                }
            }
        };
        // The writer goes back; what others queued meanwhile is the I/O context's.
        let mut state = this.lock();
        state.driving = false;
        // Writes queued meanwhile, a close that came meanwhile (both leave the writer
        // scheduled), or events for a listener: the I/O context takes over (W-8).
        let kick = state.core.io_state() == IoState::Scheduled
            || (state.core.has_events() && this.has_consumers(&state));
        let wakeups = this.notify(&mut state);
        drop(state);
        wakeups.wake();
        if kick {
            sys::Io::kick(this);
        }
        (moved, error)
    }
}

/// What one step of [`Shared::write_file`] came to.
enum Step {
    Moved(usize),
    Full,
    Again,
    Pause,
    Fail,
    Ended,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the pipe writer was closed")
}

fn end_of_file(offset: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the file ended at byte {offset}, before the end of the range"),
    )
}
