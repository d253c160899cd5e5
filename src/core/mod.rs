//! The sans-IO core of a writer: queue, accounting, state machine, event coalescing and
//! backpressure.
//!
//! Nothing in this module performs an OS call. It is driven by inputs — [`Core::accept`] (a
//! write), [`Core::begin`] / [`Core::complete`] (an OS write starting and finishing),
//! [`Core::request_stop`] / [`Core::take_unwritten`] (stop) — and it answers with what the
//! caller must do next ([`Kick`], [`Begin`], [`Next`]) plus coalesced events
//! ([`Core::take_events`]). The facade in `writer.rs` holds it under one mutex; backends in
//! `sys/` only ever see it through that facade. This is the piece that property tests, loom and
//! Miri exercise.
//!
//! - `queue`: the [`Queue`] of accepted bytes and the [`Unwritten`] bytes `stop` hands back;
//! - `events`: the pending, coalesced events;
//! - `model`: the reference model the core is checked against, by the property test
//!   (`cargo test`) and by the fuzz target (`cfg(fuzzing)`, through `pipewriter::fuzzing`).

use std::io;
use std::time::Duration;

use bytes::Bytes;

use crate::event::Event;

mod events;
#[cfg(any(test, fuzzing))]
#[cfg_attr(not(fuzzing), allow(unreachable_pub))]
pub mod model;
mod queue;
#[cfg(test)]
mod tests;

use self::events::PendingEvents;
pub use self::queue::Unwritten;
pub(crate) use self::queue::{is_wasteful, release_spare_capacity, Queue};

/// Writes up to this size are copied into the current staging block instead of being queued
/// as chunks of their own, so that many small writes turn into few, large OS writes (W-4).
pub(crate) const COPY_THRESHOLD: usize = 2 * 1024;

/// The longest delay between two retries, whatever the [`RetryPolicy`] says: absurd delays
/// saturate here instead of overflowing a clock (W-15).
pub(crate) const MAX_RETRY_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How transient errors (resource shortages, E-3) are retried before they become fatal.
///
/// The delay before retry `k` (counting from 0) is `initial_delay * 2^k`, capped at
/// `max_delay` and at one day (longer delays saturate there). After `max_retries` consecutive failures the error is treated as fatal (E-4).
/// Any successful OS write resets the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry. Default: 1 ms.
    pub initial_delay: Duration,
    /// Upper bound of a single delay. Default: 200 ms.
    pub max_delay: Duration,
    /// Consecutive failures tolerated before the error becomes fatal. Default: 10.
    pub max_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(200),
            max_retries: 10,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (0-based), never longer than
    /// [`MAX_RETRY_DELAY`].
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
            .min(MAX_RETRY_DELAY)
    }
}

/// The limits a core enforces; built from the public `Builder`.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Above this many queued bytes `write` reports backpressure (W-12).
    pub(crate) high_water: usize,
    /// `Writable` fires when the queue falls to or below this after having been above
    /// `high_water`.
    pub(crate) low_water: usize,
    /// Writes that would take the queue above this are refused (W-12).
    pub(crate) hard_limit: Option<usize>,
    /// Largest single OS write.
    pub(crate) max_write: usize,
    /// Largest number of chunks in one gather write.
    pub(crate) max_slices: usize,
    /// Retry policy for transient errors (E-3).
    pub(crate) retry: RetryPolicy,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            high_water: 1024 * 1024,
            low_water: 256 * 1024,
            hard_limit: None,
            max_write: 256 * 1024,
            max_slices: 64,
            retry: RetryPolicy::default(),
        }
    }
}

/// How the outcome of an OS write is classified, per OS, by `sys::classify` (E-1).
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The OS took this many bytes (possibly fewer than submitted: a short write).
    Wrote(usize),
    /// Interrupted before anything was written (`EINTR`): retry at once.
    Interrupted,
    /// The pipe is full (`EAGAIN`): retry when it becomes writable.
    #[cfg_attr(windows, allow(dead_code))] // Windows writes wait instead of failing.
    WouldBlock,
    /// A resource shortage (E-3): retry after a backoff delay, then give up.
    Transient(io::Error),
    /// The reader went away (E-2).
    PeerClosed(io::Error),
    /// Our own stop cancelled the operation (Windows: `ERROR_OPERATION_ABORTED` after
    /// `CancelIoEx`); `n` bytes were written before it was.
    #[cfg_attr(unix, allow(dead_code))] // Unix writes are synchronous: nothing to cancel.
    Cancelled(usize),
    /// Anything else (E-4).
    Fatal(io::Error),
}

/// The writer's life cycle. Changes only under the core's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepting writes.
    Open,
    /// `close` was called or the writer was dropped with the linger policy: no new writes;
    /// the queue drains, then the handle is closed.
    Closing,
    /// The handle was closed after the queue drained.
    Closed,
    /// The reader went away; the unwritten bytes stay queued until `stop` takes them.
    PeerClosed,
    /// A fatal error ended the writer; the unwritten bytes stay queued until `stop` takes them.
    Failed,
    /// `stop` was called: no more I/O, no more events.
    Stopped,
}

/// What the I/O side is doing. Changes only under the core's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IoState {
    /// Nothing to do, nobody scheduled.
    Idle,
    /// Data is queued and the backend was asked to write it (one kick per burst).
    Scheduled,
    /// One OS write is outstanding (W-3); the queue's head is its data.
    InFlight,
    /// The pipe was full; the backend waits for writability.
    AwaitingWritable,
    /// A transient error is being retried after a delay.
    Backoff,
}

/// Tells the facade whether the backend must be asked to start writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Kick {
    /// The I/O side is already busy with this writer; it will pick the new data up.
    No,
    /// The writer was idle: the backend must be kicked (once per burst).
    Yes,
}

/// The answer to [`Core::begin`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Begin {
    /// Submit the chunks placed in the output vector: `len` bytes in total.
    Submit(usize),
    /// Nothing to write now; the writer went idle.
    Idle,
    /// Nothing left and the writer is closing: close the handle now (then call
    /// [`Core::closed`]).
    Close,
    /// The writer ended (stopped, failed, peer closed): do no more I/O.
    Halt,
}

/// The answer to [`Core::complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Next {
    /// Call [`Core::begin`] again.
    Continue,
    /// Wait until the handle is writable, then call [`Core::begin`].
    AwaitWritable,
    /// Wait this long, then call [`Core::begin`].
    RetryAfter(Duration),
    /// The writer ended; do no more I/O.
    Halt,
}

/// Refusal of a write by the core, before anything was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The queue would exceed the hard limit; the write fits once the queue is shorter.
    HardLimit,
    /// The write is larger than the hard limit: it can never be accepted.
    TooLarge,
    /// The writer is closing or closed.
    Closed,
    /// The reader went away.
    PeerClosed,
    /// The writer failed with this raw OS code (if it had one) and kind.
    Failed(Option<i32>, io::ErrorKind),
    /// The writer was stopped.
    Stopped,
}

impl Refusal {
    /// The error a refused write reports. Built without allocating.
    pub(crate) fn to_error(self) -> io::Error {
        match self {
            Refusal::HardLimit => io::ErrorKind::WouldBlock.into(),
            Refusal::TooLarge => io::Error::new(
                io::ErrorKind::InvalidInput,
                "the write is larger than the writer's hard limit: it can never be accepted",
            ),
            Refusal::Closed => io::ErrorKind::BrokenPipe.into(),
            Refusal::PeerClosed => io::ErrorKind::BrokenPipe.into(),
            Refusal::Failed(Some(code), _) => io::Error::from_raw_os_error(code),
            Refusal::Failed(None, kind) => kind.into(),
            Refusal::Stopped => io::ErrorKind::NotConnected.into(),
        }
    }
}

/// The result of an accepted write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    queued: usize,
    above_high_water: bool,
}

impl Accepted {
    /// Bytes queued (accepted but not yet confirmed written) right after this write.
    pub fn bytes_to_write(&self) -> usize {
        self.queued
    }

    /// True when the queue is above the high-water mark: the caller should pause until
    /// [`Event::Writable`] (W-12). The data was accepted all the same.
    pub fn is_above_high_water(&self) -> bool {
        self.above_high_water
    }
}

/// The writer's whole state, minus the OS handle.
#[derive(Debug)]
pub(crate) struct Core {
    queue: Queue,
    limits: Limits,
    phase: Phase,
    io: IoState,
    accepted: u64,
    written: u64,
    /// Bytes submitted by the in-flight operation.
    in_flight: usize,
    /// Bytes of a write made in place (from a caller's buffer, W-16) while it is in flight:
    /// not in the queue, but counted against the hard limit, since what it does not write
    /// is queued (W-12).
    in_place: usize,
    /// `Writable` fires when the queue falls to this many bytes (W-12): armed at the low-water
    /// mark when the queue went above the high-water mark, and by a write refused at the hard
    /// limit at the length where that write would fit (or lower, at the low-water mark).
    writable_at: Option<usize>,
    /// Consecutive transient failures (E-3).
    retries: u32,
    events: PendingEvents,
    /// `written` as last observed by `wait_for_bytes_written` (W-9).
    wait_mark: u64,
    /// The error that ended the writer (E-4), kept for waits and refusals.
    failure: Option<(Option<i32>, io::ErrorKind)>,
}

impl Core {
    pub(crate) fn new(limits: Limits) -> Core {
        Core {
            queue: Queue::default(),
            limits,
            phase: Phase::Open,
            io: IoState::Idle,
            accepted: 0,
            written: 0,
            in_flight: 0,
            in_place: 0,
            writable_at: None,
            retries: 0,
            events: PendingEvents::default(),
            wait_mark: 0,
            failure: None,
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    pub(crate) fn io_state(&self) -> IoState {
        self.io
    }

    pub(crate) fn low_water(&self) -> usize {
        self.limits.low_water
    }

    /// How many bytes an async write may queue now (A-1, W-12): up to the high-water mark and
    /// never past the hard limit. With an empty queue at least one OS write's worth (within the
    /// hard limit), so that a high-water mark of 0 cannot stall an async writer forever.
    pub(crate) fn room(&self) -> usize {
        let queued = self.queue.len();
        let mut room = self.limits.high_water.saturating_sub(queued);
        if queued == 0 {
            room = room.max(self.limits.max_write);
        }
        if let Some(limit) = self.limits.hard_limit {
            room = room.min(limit.saturating_sub(queued));
        }
        room
    }

    /// Bytes accepted so far.
    pub(crate) fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Bytes confirmed written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Bytes accepted and not yet confirmed written.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// True while an OS write is outstanding or about to be (W-6).
    pub(crate) fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Closing)
            && (self.io != IoState::Idle || self.queue.len() > 0)
    }

    /// The queue's state as a write would report it.
    pub(crate) fn status(&self) -> Accepted {
        let queued = self.queue.len();
        Accepted {
            queued,
            above_high_water: queued > self.limits.high_water,
        }
    }

    pub(crate) fn failure(&self) -> Option<(Option<i32>, io::ErrorKind)> {
        self.failure
    }

    /// Checks whether a write of `len` bytes may be queued (W-12, E-2, E-4). A write refused
    /// at the hard limit arms `Writable` for the moment it would fit.
    pub(crate) fn admit(&mut self, len: usize) -> Result<(), Refusal> {
        match self.phase {
            Phase::Open => {}
            Phase::Closing | Phase::Closed => return Err(Refusal::Closed),
            Phase::PeerClosed => return Err(Refusal::PeerClosed),
            Phase::Failed => {
                let (code, kind) = self.failure.unwrap_or((None, io::ErrorKind::Other));
                return Err(Refusal::Failed(code, kind));
            }
            Phase::Stopped => return Err(Refusal::Stopped),
        }
        if let Some(limit) = self.limits.hard_limit {
            if len > limit {
                return Err(Refusal::TooLarge);
            }
            if self
                .queue
                .len()
                .saturating_add(self.in_place)
                .saturating_add(len)
                > limit
            {
                // It fits once the queue is down to `limit - len`; with the low-water mark's
                // hysteresis when that is lower.
                self.arm_writable((limit - len).min(self.limits.low_water));
                return Err(Refusal::HardLimit);
            }
        }
        Ok(())
    }

    /// `Writable` fires when the queue falls to `at` bytes, or earlier if armed higher.
    fn arm_writable(&mut self, at: usize) {
        self.writable_at = Some(self.writable_at.map_or(at, |armed| armed.max(at)));
    }

    /// Queues a write admitted by [`Core::admit`]; `push` places the bytes into the queue.
    pub(crate) fn accept(&mut self, len: usize, push: impl FnOnce(&mut Queue)) -> (Accepted, Kick) {
        push(&mut self.queue);
        self.accepted += len as u64;
        self.events.drained = false;
        let queued = self.queue.len();
        if queued > self.limits.high_water {
            self.arm_writable(self.limits.low_water);
        }
        let kick = if self.io == IoState::Idle {
            self.io = IoState::Scheduled;
            Kick::Yes
        } else {
            Kick::No
        };
        (
            Accepted {
                queued,
                above_high_water: queued > self.limits.high_water,
            },
            kick,
        )
    }

    /// Starts an OS write: fills `out` with the chunks to submit.
    pub(crate) fn begin(&mut self, out: &mut Vec<Bytes>) -> Begin {
        out.clear();
        debug_assert_ne!(self.io, IoState::InFlight, "W-3: one operation at a time");
        match self.phase {
            Phase::Open | Phase::Closing => {}
            Phase::Closed | Phase::PeerClosed | Phase::Failed | Phase::Stopped => {
                self.io = IoState::Idle;
                return Begin::Halt;
            }
        }
        let n = self
            .queue
            .peek(self.limits.max_write, self.limits.max_slices, out);
        if n == 0 {
            self.io = IoState::Idle;
            if self.phase == Phase::Closing {
                return Begin::Close;
            }
            return Begin::Idle;
        }
        self.io = IoState::InFlight;
        self.in_flight = n;
        Begin::Submit(n)
    }

    /// Records the outcome of the in-flight OS write.
    pub(crate) fn complete(&mut self, outcome: Outcome) -> Next {
        debug_assert_eq!(self.io, IoState::InFlight);
        let submitted = std::mem::take(&mut self.in_flight);
        self.io = IoState::Scheduled;
        match outcome {
            Outcome::Wrote(n) => {
                assert!(
                    n <= submitted,
                    "the OS reported more bytes than were submitted"
                );
                if n > 0 {
                    // Progress: the resource shortage is over. A zero-byte write is no
                    // progress (it is handled as a full pipe, below) and keeps the count, so
                    // the retries stay bounded (E-3).
                    self.retries = 0;
                }
                self.record_written(n);
                if self.phase == Phase::Stopped {
                    self.io = IoState::Idle;
                    return Next::Halt;
                }
                if n == 0 {
                    // A zero-byte success on a non-empty submission: treat as a full pipe.
                    self.io = IoState::AwaitingWritable;
                    return Next::AwaitWritable;
                }
                Next::Continue
            }
            Outcome::Cancelled(n) => {
                self.record_written(n.min(submitted));
                self.io = IoState::Idle;
                Next::Halt
            }
            Outcome::Interrupted => self.unless_stopped(Next::Continue),
            Outcome::WouldBlock => {
                if self.phase == Phase::Stopped {
                    self.io = IoState::Idle;
                    return Next::Halt;
                }
                self.io = IoState::AwaitingWritable;
                Next::AwaitWritable
            }
            Outcome::Transient(error) => {
                if self.retries >= self.limits.retry.max_retries {
                    log::warn!(
                        "pipe write: giving up after {} retries: {error}",
                        self.retries
                    );
                    return self.end(Phase::Failed, error);
                }
                let delay = self.limits.retry.delay(self.retries);
                self.retries += 1;
                log::debug!("pipe write: transient error, retry in {delay:?}: {error}");
                if self.phase == Phase::Stopped {
                    self.io = IoState::Idle;
                    return Next::Halt;
                }
                self.io = IoState::Backoff;
                Next::RetryAfter(delay)
            }
            Outcome::PeerClosed(error) => self.end(Phase::PeerClosed, error),
            Outcome::Fatal(error) => {
                log::warn!("pipe write failed: {error}");
                self.end(Phase::Failed, error)
            }
        }
    }

    fn unless_stopped(&mut self, next: Next) -> Next {
        if self.phase == Phase::Stopped {
            self.io = IoState::Idle;
            Next::Halt
        } else {
            next
        }
    }

    fn record_written(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.queue.consume(n);
        self.written += n as u64;
        if self.phase == Phase::Stopped {
            return;
        }
        self.events.written += n as u64;
        let queued = self.queue.len();
        if self.writable_at.is_some_and(|at| queued <= at) {
            self.writable_at = None;
            self.events.writable = true;
        }
        if queued == 0 {
            self.events.drained = true;
        }
    }

    /// Ends the writer after a peer close or a fatal error (E-2, E-4).
    fn end(&mut self, phase: Phase, error: io::Error) -> Next {
        self.io = IoState::Idle;
        if self.phase == Phase::Stopped {
            return Next::Halt;
        }
        self.failure = Some((error.raw_os_error(), error.kind()));
        self.phase = phase;
        let unwritten = self.queue.len();
        self.events.drained = false;
        self.events.writable = false;
        self.writable_at = None;
        self.events.terminal = Some(match phase {
            Phase::PeerClosed => Event::PeerClosed { unwritten },
            _ => Event::Failed {
                error: std::sync::Arc::new(error),
                unwritten,
            },
        });
        Next::Halt
    }

    /// The I/O context cannot go on (e.g. it cannot wait for the handle): fatal (E-4).
    // Only the Unix reactor waits for readiness (not Windows, not the simulated kernel).
    #[cfg_attr(any(windows, loom, pipewriter_fake_backend), allow(dead_code))]
    pub(crate) fn fail(&mut self, error: io::Error) {
        if matches!(self.phase, Phase::Open | Phase::Closing) && self.io != IoState::InFlight {
            log::warn!("pipe writer failed: {error}");
            let _ = self.end(Phase::Failed, error);
        }
    }

    /// The I/O context lost track of this writer (a panic while driving it, a last line of
    /// defence): the operation in flight, if any, is given up as not written and the writer
    /// fails (E-4), so that `stop` and the waits return instead of waiting for it for ever.
    #[cfg_attr(not(unix), allow(dead_code))] // Only the Unix reactor drives writers in turns.
    pub(crate) fn abandon(&mut self, error: io::Error) {
        self.in_flight = 0;
        self.io = IoState::Idle;
        if matches!(self.phase, Phase::Open | Phase::Closing) {
            log::error!("pipe writer abandoned: {error}");
            let _ = self.end(Phase::Failed, error);
        }
    }

    /// After a write made from the caller's thread completed with [`Next::Continue`]: goes
    /// idle when nothing is left to write (true), or stays scheduled for the I/O context
    /// (false: the backend must be kicked).
    pub(crate) fn settle_if_empty(&mut self) -> bool {
        // Closing: the backend must still close the handle.
        if self.io == IoState::Scheduled && self.queue.len() == 0 && self.phase != Phase::Closing {
            self.io = IoState::Idle;
            return true;
        }
        false
    }

    /// Starts a write a caller makes straight from its own buffer (W-16): only while the writer
    /// is open, nothing is queued and nothing is in flight, so the bytes go out in order. The
    /// write counts as in flight (a `stop` waits for it) until [`Core::complete_in_place`].
    pub(crate) fn begin_in_place(&mut self, len: usize) -> bool {
        if self.phase != Phase::Open || self.io != IoState::Idle || self.queue.len() != 0 {
            return false;
        }
        self.io = IoState::InFlight;
        self.in_flight = 0;
        self.in_place = len;
        true
    }

    /// Like [`Core::begin_in_place`], for a caller that holds the writer for a run of such
    /// writes (a file, W-18) that began when nothing was queued: writes queued by others since
    /// then wait behind the run.
    pub(crate) fn begin_held_in_place(&mut self) -> bool {
        if self.phase != Phase::Open || !matches!(self.io, IoState::Idle | IoState::Scheduled) {
            return false;
        }
        self.io = IoState::InFlight;
        self.in_flight = 0;
        self.in_place = 0;
        true
    }

    /// Records the outcome of the write started by [`Core::begin_in_place`]: the bytes it took
    /// are accepted and written at once; a closed peer or a fatal error ends the writer as
    /// from any OS write (E-2, E-4); a full pipe or a transient error changes nothing (the
    /// caller waits, or queues its bytes). True when writes were queued meanwhile and the
    /// backend must be kicked for them.
    pub(crate) fn complete_in_place(&mut self, outcome: Outcome) -> bool {
        debug_assert_eq!(self.io, IoState::InFlight);
        self.io = IoState::Idle;
        self.in_place = 0;
        match outcome {
            Outcome::Wrote(n) => {
                self.accepted += n as u64;
                self.written += n as u64;
                if n > 0 && self.phase != Phase::Stopped {
                    self.events.written += n as u64;
                    if self.queue.len() == 0 {
                        self.events.drained = true;
                    }
                }
            }
            Outcome::PeerClosed(error) => {
                let _ = self.end(Phase::PeerClosed, error);
            }
            Outcome::Fatal(error) => {
                log::warn!("pipe write failed: {error}");
                let _ = self.end(Phase::Failed, error);
            }
            Outcome::Interrupted
            | Outcome::WouldBlock
            | Outcome::Transient(_)
            | Outcome::Cancelled(_) => {}
        }
        // Writes queued meanwhile, or a `close` that came meanwhile and waits for the handle to
        // be closed: the backend must go on.
        if (self.queue.len() > 0 && self.phase == Phase::Open) || self.phase == Phase::Closing {
            self.io = IoState::Scheduled;
            return true;
        }
        false
    }

    /// Queues the part of an in-place write the OS did not take, at the head of the queue:
    /// before anything other threads queued while it was out (W-2). It was admitted with the
    /// write.
    pub(crate) fn accept_rest_in_place(&mut self, rest: &[u8]) -> (Accepted, Kick) {
        self.accept(rest.len(), |queue| queue.push_front_slice(rest))
    }

    /// A transient-error delay or a writability wait is over: the backend resumes writing.
    pub(crate) fn resume(&mut self) {
        if matches!(self.io, IoState::AwaitingWritable | IoState::Backoff) {
            self.io = IoState::Scheduled;
        }
    }

    /// `close` or a lingering drop: no more writes; close once drained.
    /// Returns true when the handle can be closed right away (nothing queued, nothing active).
    pub(crate) fn request_close(&mut self) -> bool {
        if self.phase == Phase::Open {
            self.phase = Phase::Closing;
        }
        self.phase == Phase::Closing && self.io == IoState::Idle && self.queue.len() == 0
    }

    /// The handle was closed.
    pub(crate) fn closed(&mut self) {
        if self.phase == Phase::Closing {
            self.phase = Phase::Closed;
        }
    }

    /// First half of `stop` (W-10): no more I/O or events. Returns false if already stopped.
    pub(crate) fn request_stop(&mut self) -> bool {
        if self.phase == Phase::Stopped {
            return false;
        }
        self.phase = Phase::Stopped;
        self.events = PendingEvents::default();
        true
    }

    /// Second half of `stop`, once nothing is in flight: everything not written.
    pub(crate) fn take_unwritten(&mut self) -> Unwritten {
        debug_assert_ne!(self.io, IoState::InFlight);
        self.queue.take_all()
    }

    /// Moves the pending events into `out`. No events are produced after a stop.
    pub(crate) fn take_events(&mut self, out: &mut Vec<Event>) {
        self.events.drain_into(out);
    }

    /// For a receiver that starts listening: forgets the progress events nobody heard
    /// (`Written`, `Drained`), keeping those that still hold and that a caller may be
    /// waiting for (`Writable` after a refusal, the final event).
    pub(crate) fn forget_progress(&mut self) {
        self.events.written = 0;
        self.events.drained = false;
    }

    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// For `wait_for_bytes_written`: true (and the mark advanced) when bytes were written
    /// since the last call that returned true.
    pub(crate) fn take_written_since_mark(&mut self) -> bool {
        if self.written > self.wait_mark {
            self.wait_mark = self.written;
            true
        } else {
            false
        }
    }
}
