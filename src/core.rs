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

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::time::Duration;

use bytes::{Buf, Bytes};

use crate::pool;

use crate::event::Event;

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

/// Bytes that were accepted but never written, handed back by `stop` (W-10).
///
/// The chunks are in write order; their concatenation is exactly the unwritten suffix of
/// everything the writer accepted.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Unwritten {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Unwritten {
    /// Total number of unwritten bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was left unwritten.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The unwritten chunks, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.chunks.iter()
    }

    /// The unwritten bytes as one vector (copies them).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        out
    }

    /// The unwritten bytes as one `Bytes` (copies only when there is more than one chunk).
    pub fn into_bytes(mut self) -> Bytes {
        if self.chunks.len() == 1 {
            return self.chunks.pop_front().unwrap_or_default();
        }
        Bytes::from(self.to_vec())
    }
}

impl fmt::Debug for Unwritten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unwritten")
            .field("len", &self.len)
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl From<Unwritten> for Vec<u8> {
    fn from(u: Unwritten) -> Vec<u8> {
        u.to_vec()
    }
}

/// The queue of accepted, not yet written bytes: sealed chunks in order, then the open
/// staging block that copied writes are appended to.
///
/// What it holds in memory stays close to the bytes it counts (W-12): small and copied
/// writes share pooled blocks, which an OS write never seals early (see `pool`), and owned
/// buffers are queued without their spare capacity ([`Queue::push_vec`], [`Queue::push_bytes`]).
#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Sealed chunks, oldest first. The head may be partly written (its prefix was consumed).
    chunks: VecDeque<Bytes>,
    /// The staging block copied writes go into; logically after every sealed chunk.
    tail: pool::Tail,
    /// Total unwritten bytes (sealed chunks plus tail).
    len: usize,
}

/// Owned buffers up to this size are copied into the staging blocks rather than queued as they
/// are when they carry spare memory (see [`Queue::push_vec`] and [`Queue::push_bytes`]).
const COPY_WHEN_WASTEFUL: usize = pool::BLOCK;

/// True when a buffer of `len` bytes in `capacity` would keep more than an eighth of its
/// length in spare memory while it waits in the queue (W-12).
pub(crate) fn is_wasteful(len: usize, capacity: usize) -> bool {
    capacity - len > len / 8
}

/// Gives a large buffer's spare capacity back to the allocator (usually in place), before the
/// writer's lock is taken; smaller wasteful ones are copied into the queue's blocks instead.
pub(crate) fn release_spare_capacity(data: &mut Vec<u8>) {
    if data.len() > COPY_WHEN_WASTEFUL && is_wasteful(data.len(), data.capacity()) {
        data.shrink_to_fit();
    }
}

impl Queue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends a copy of `data`, into pooled staging blocks.
    pub(crate) fn push_slice(&mut self, data: &[u8]) {
        self.len += data.len();
        let mut rest = data;
        while !rest.is_empty() {
            if self.tail.room() == 0 {
                self.seal();
            }
            let n = self.tail.fill(rest);
            rest = &rest[n..];
        }
    }

    /// Appends an owned buffer. Small ones are copied (W-4); a larger one is queued without
    /// copying once its spare capacity, if it is more than an eighth of its length, was given
    /// back (W-12): a buffer truncated to what one read returned must not keep its whole
    /// allocation alive while it waits. Up to a block's size such a buffer is copied instead
    /// (cheaper than a reallocation, and it shares a block with its neighbours).
    pub(crate) fn push_vec(&mut self, mut data: Vec<u8>) {
        if data.len() <= COPY_THRESHOLD {
            self.push_slice(&data);
            return;
        }
        if is_wasteful(data.len(), data.capacity()) {
            if data.len() <= COPY_WHEN_WASTEFUL {
                self.push_slice(&data);
                return;
            }
            // `Payload::compact` normally did this before the lock was taken.
            data.shrink_to_fit();
        }
        self.push_chunk(Bytes::from(data));
    }

    /// Appends a `Bytes` without copying, unless it is smaller than a block: a `Bytes` cannot
    /// tell how large an allocation it keeps alive, and small slices of large parents are the
    /// common case (W-12). Large ones are queued as they are.
    pub(crate) fn push_bytes(&mut self, data: Bytes) {
        if data.len() < COPY_WHEN_WASTEFUL {
            self.push_slice(&data);
            return;
        }
        self.push_chunk(data);
    }

    fn push_chunk(&mut self, data: Bytes) {
        self.seal();
        self.len += data.len();
        self.chunks.push_back(data);
    }

    /// Moves what was copied into the staging block so far to the sealed chunks. Later writes
    /// go after it, into the same block while it has room.
    fn seal(&mut self) {
        if let Some(chunk) = self.tail.seal() {
            self.chunks.push_back(chunk);
        }
    }

    /// Clones (cheaply: reference counts) the head chunks into `out`, at most `max_bytes` in
    /// at most `max_slices` chunks. Returns the number of bytes placed in `out`.
    pub(crate) fn peek(
        &mut self,
        max_bytes: usize,
        max_slices: usize,
        out: &mut Vec<Bytes>,
    ) -> usize {
        out.clear();
        let mut total = 0;
        for chunk in &self.chunks {
            if out.len() == max_slices || total == max_bytes {
                return total;
            }
            let take = chunk.len().min(max_bytes - total);
            out.push(chunk.slice(..take));
            total += take;
        }
        // The write reaches the staging block: only now is its content sealed, so that a long
        // queue whose OS writes are small does not turn into many small segments (W-12).
        if out.len() < max_slices && total < max_bytes {
            if let Some(chunk) = self.tail.seal() {
                let take = chunk.len().min(max_bytes - total);
                out.push(chunk.slice(..take));
                total += take;
                self.chunks.push_back(chunk);
            }
        }
        total
    }

    /// Drops the first `n` bytes (they were written).
    pub(crate) fn consume(&mut self, mut n: usize) {
        debug_assert!(n <= self.len);
        self.len -= n;
        if self.len == 0 {
            // Idle: let the staging block go (back to the pool once its last segment is
            // written), so an idle writer holds no block (W-12).
            self.tail = pool::Tail::default();
        }
        while n > 0 {
            let Some(head) = self.chunks.front_mut() else {
                unreachable!("consumed more than was submitted");
            };
            if head.len() > n {
                head.advance(n);
                return;
            }
            n -= head.len();
            self.chunks.pop_front();
        }
    }

    /// Takes everything out of the queue.
    pub(crate) fn take_all(&mut self) -> Unwritten {
        self.seal();
        self.tail = pool::Tail::default();
        let chunks = std::mem::take(&mut self.chunks);
        let len = std::mem::replace(&mut self.len, 0);
        Unwritten { chunks, len }
    }
}

/// Events produced but not yet delivered, coalesced (W-7).
#[derive(Debug, Default)]
pub(crate) struct PendingEvents {
    written: u64,
    writable: bool,
    drained: bool,
    terminal: Option<Event>,
}

impl PendingEvents {
    pub(crate) fn is_empty(&self) -> bool {
        self.written == 0 && !self.writable && !self.drained && self.terminal.is_none()
    }

    /// Moves the pending events into `out`, in delivery order.
    fn drain_into(&mut self, out: &mut Vec<Event>) {
        if self.written > 0 {
            out.push(Event::Written(std::mem::take(&mut self.written)));
        }
        if std::mem::take(&mut self.writable) {
            out.push(Event::Writable);
        }
        if std::mem::take(&mut self.drained) {
            out.push(Event::Drained);
        }
        if let Some(t) = self.terminal.take() {
            out.push(t);
        }
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
            if self.queue.len().saturating_add(len) > limit {
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
    #[cfg_attr(windows, allow(dead_code))] // Only the Unix reactor waits for readiness.
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
        if self.io == IoState::Scheduled && self.queue.len() == 0 {
            self.io = IoState::Idle;
            return true;
        }
        false
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

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> Core {
        Core::new(Limits::default())
    }

    fn write(core: &mut Core, data: &[u8]) -> Kick {
        core.admit(data.len()).unwrap();
        core.accept(data.len(), |q| q.push_slice(data)).1
    }

    fn concat(chunks: &[Bytes]) -> Vec<u8> {
        chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    #[test]
    fn w3_kick_once_per_burst() {
        let mut c = core();
        assert_eq!(write(&mut c, b"abc"), Kick::Yes);
        assert_eq!(write(&mut c, b"def"), Kick::No);
        let mut out = Vec::new();
        assert_eq!(c.begin(&mut out), Begin::Submit(6));
        assert_eq!(concat(&out), b"abcdef");
        assert_eq!(write(&mut c, b"g"), Kick::No);
        assert_eq!(c.complete(Outcome::Wrote(6)), Next::Continue);
        assert_eq!(c.begin(&mut out), Begin::Submit(1));
        assert_eq!(c.complete(Outcome::Wrote(1)), Next::Continue);
        assert_eq!(c.begin(&mut out), Begin::Idle);
        assert_eq!(write(&mut c, b"h"), Kick::Yes);
    }

    #[test]
    fn w6_short_write_leaves_remainder_at_head() {
        let mut c = core();
        let _ = write(&mut c, b"hello world");
        let mut out = Vec::new();
        assert_eq!(c.begin(&mut out), Begin::Submit(11));
        assert_eq!(c.complete(Outcome::Wrote(4)), Next::Continue);
        assert_eq!(c.queued(), 7);
        assert_eq!(c.written(), 4);
        assert_eq!(c.begin(&mut out), Begin::Submit(7));
        assert_eq!(concat(&out), b"o world");
    }

    #[test]
    fn w7_written_events_coalesce_and_drained_follows() {
        let mut c = core();
        let _ = write(&mut c, b"aaaa");
        let mut out = Vec::new();
        let _ = c.begin(&mut out);
        let _ = c.complete(Outcome::Wrote(2));
        let _ = c.begin(&mut out);
        let _ = c.complete(Outcome::Wrote(2));
        let mut ev = Vec::new();
        c.take_events(&mut ev);
        assert_eq!(ev, vec![Event::Written(4), Event::Drained]);
        c.take_events(&mut ev);
        assert_eq!(ev.len(), 2, "taking again adds nothing");
    }

    #[test]
    fn w7_written_reported_before_peer_closed() {
        let mut c = core();
        let _ = write(&mut c, b"abcdef");
        let mut out = Vec::new();
        let _ = c.begin(&mut out);
        let _ = c.complete(Outcome::Wrote(2));
        let _ = c.begin(&mut out);
        let err = io::Error::from_raw_os_error(32);
        assert_eq!(c.complete(Outcome::PeerClosed(err)), Next::Halt);
        let mut ev = Vec::new();
        c.take_events(&mut ev);
        assert_eq!(
            ev,
            vec![Event::Written(2), Event::PeerClosed { unwritten: 4 }]
        );
        assert_eq!(c.admit(1), Err(Refusal::PeerClosed));
        assert_eq!(c.take_unwritten().to_vec(), b"cdef");
    }

    #[test]
    fn w12_high_water_and_writable() {
        let mut c = Core::new(Limits {
            high_water: 10,
            low_water: 4,
            ..Limits::default()
        });
        c.admit(8).unwrap();
        let (a, _) = c.accept(8, |q| q.push_slice(&[1; 8]));
        assert!(!a.is_above_high_water());
        let (a, _) = c.accept(8, |q| q.push_slice(&[2; 8]));
        assert!(a.is_above_high_water());
        assert_eq!(a.bytes_to_write(), 16);
        let mut out = Vec::new();
        let _ = c.begin(&mut out);
        let _ = c.complete(Outcome::Wrote(10));
        let mut ev = Vec::new();
        c.take_events(&mut ev);
        assert_eq!(
            ev,
            vec![Event::Written(10)],
            "6 queued is above the low-water mark"
        );
        let _ = c.begin(&mut out);
        let _ = c.complete(Outcome::Wrote(3));
        ev.clear();
        c.take_events(&mut ev);
        assert_eq!(ev, vec![Event::Written(3), Event::Writable]);
    }

    #[test]
    fn w12_hard_limit_refuses() {
        let mut c = Core::new(Limits {
            hard_limit: Some(10),
            ..Limits::default()
        });
        let _ = write(&mut c, b"abcd");
        assert_eq!(c.admit(7), Err(Refusal::HardLimit));
        assert_eq!(
            Refusal::HardLimit.to_error().kind(),
            io::ErrorKind::WouldBlock
        );
        assert!(c.admit(6).is_ok());
    }

    #[test]
    fn w12_a_write_larger_than_the_hard_limit_is_invalid_input() {
        let mut c = Core::new(Limits {
            hard_limit: Some(10),
            ..Limits::default()
        });
        assert_eq!(
            c.admit(11),
            Err(Refusal::TooLarge),
            "even on an empty queue"
        );
        assert_eq!(
            Refusal::TooLarge.to_error().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(c.admit(10).is_ok());
    }

    /// Drains `n` bytes through one OS write and returns the events it produced.
    fn drain(c: &mut Core, n: usize) -> Vec<Event> {
        let mut out = Vec::new();
        assert!(matches!(c.begin(&mut out), Begin::Submit(_)));
        let _ = c.complete(Outcome::Wrote(n));
        let mut ev = Vec::new();
        c.take_events(&mut ev);
        ev
    }

    #[test]
    fn w12_refusal_below_the_high_water_mark_is_followed_by_writable() {
        // hard limit below the high-water mark: the queue is never "above high water".
        let mut c = Core::new(Limits {
            high_water: 1000,
            low_water: 250,
            hard_limit: Some(100),
            ..Limits::default()
        });
        let _ = write(&mut c, &[1; 90]);
        assert_eq!(c.admit(40), Err(Refusal::HardLimit));
        // 40 fits once 60 or fewer are queued.
        assert_eq!(drain(&mut c, 20), vec![Event::Written(20)], "70 queued");
        assert_eq!(
            drain(&mut c, 10),
            vec![Event::Written(10), Event::Writable],
            "60 queued: the refused write fits now"
        );
        assert!(c.admit(40).is_ok());
    }

    #[test]
    fn w12_refusal_waits_for_the_low_water_mark_when_that_is_lower() {
        let mut c = Core::new(Limits {
            high_water: 1000,
            low_water: 10,
            hard_limit: Some(100),
            ..Limits::default()
        });
        let _ = write(&mut c, &[1; 100]);
        assert_eq!(c.admit(1), Err(Refusal::HardLimit));
        assert_eq!(drain(&mut c, 80), vec![Event::Written(80)], "hysteresis");
        assert_eq!(drain(&mut c, 10), vec![Event::Written(10), Event::Writable]);
    }

    #[test]
    fn w12_refusal_on_an_otherwise_idle_writer_still_gets_writable() {
        // The refused write is larger than everything queued: the queue must drain fully.
        let mut c = Core::new(Limits {
            hard_limit: Some(100),
            ..Limits::default()
        });
        let _ = write(&mut c, &[1; 10]);
        assert_eq!(c.admit(100), Err(Refusal::HardLimit));
        assert_eq!(
            drain(&mut c, 10),
            vec![Event::Written(10), Event::Writable, Event::Drained]
        );
    }

    #[test]
    fn e3_transient_backoff_then_fatal() {
        let mut c = Core::new(Limits {
            retry: RetryPolicy {
                initial_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(4),
                max_retries: 3,
            },
            ..Limits::default()
        });
        let _ = write(&mut c, b"x");
        let mut out = Vec::new();
        let mut delays = Vec::new();
        for _ in 0..3 {
            let _ = c.begin(&mut out);
            match c.complete(Outcome::Transient(io::Error::from_raw_os_error(12))) {
                Next::RetryAfter(d) => delays.push(d.as_millis()),
                other => panic!("expected a retry, got {other:?}"),
            }
            c.resume();
        }
        assert_eq!(delays, vec![1, 2, 4]);
        let _ = c.begin(&mut out);
        assert_eq!(
            c.complete(Outcome::Transient(io::Error::from_raw_os_error(12))),
            Next::Halt
        );
        assert_eq!(c.phase(), Phase::Failed);
        assert_eq!(c.admit(1).unwrap_err().to_error().raw_os_error(), Some(12));
    }

    #[test]
    fn e3_success_resets_retries() {
        let mut c = Core::new(Limits {
            retry: RetryPolicy {
                max_retries: 1,
                ..RetryPolicy::default()
            },
            ..Limits::default()
        });
        let _ = write(&mut c, b"xy");
        let mut out = Vec::new();
        for _ in 0..2 {
            let _ = c.begin(&mut out);
            assert!(matches!(
                c.complete(Outcome::Transient(io::ErrorKind::OutOfMemory.into())),
                Next::RetryAfter(_)
            ));
            c.resume();
            let _ = c.begin(&mut out);
            assert_eq!(c.complete(Outcome::Wrote(1)), Next::Continue);
        }
        assert_eq!(c.written(), 2);
    }

    /// Found by the fuzz target: a zero-byte write between transient failures used to reset
    /// the retry count, so failures alternating with writes that move nothing were retried
    /// forever instead of becoming fatal after `max_retries` (E-3).
    #[test]
    fn e3_zero_byte_writes_do_not_reset_retries() {
        let mut c = Core::new(Limits {
            retry: RetryPolicy {
                max_retries: 2,
                ..RetryPolicy::default()
            },
            ..Limits::default()
        });
        let _ = write(&mut c, b"x");
        let mut out = Vec::new();
        let oom = || Outcome::Transient(io::ErrorKind::OutOfMemory.into());
        for _ in 0..2 {
            let _ = c.begin(&mut out);
            assert!(matches!(c.complete(oom()), Next::RetryAfter(_)));
            c.resume();
            let _ = c.begin(&mut out);
            assert_eq!(c.complete(Outcome::Wrote(0)), Next::AwaitWritable);
            c.resume();
        }
        let _ = c.begin(&mut out);
        assert_eq!(c.complete(oom()), Next::Halt, "E-3: bounded, then fatal");
        assert_eq!(c.phase(), Phase::Failed);
    }

    #[test]
    fn w10_stop_returns_unwritten_and_silences_events() {
        let mut c = core();
        let _ = write(&mut c, b"0123456789");
        let mut out = Vec::new();
        let _ = c.begin(&mut out);
        assert!(c.request_stop());
        assert!(!c.request_stop(), "idempotent");
        assert_eq!(c.complete(Outcome::Cancelled(3)), Next::Halt);
        assert_eq!(c.take_unwritten().to_vec(), b"3456789");
        let mut ev = Vec::new();
        c.take_events(&mut ev);
        assert!(ev.is_empty());
        assert_eq!(c.admit(1), Err(Refusal::Stopped));
    }

    #[test]
    fn close_waits_for_drain() {
        let mut c = core();
        let _ = write(&mut c, b"abc");
        assert!(!c.request_close());
        assert_eq!(c.admit(1), Err(Refusal::Closed));
        let mut out = Vec::new();
        let _ = c.begin(&mut out);
        let _ = c.complete(Outcome::Wrote(3));
        assert_eq!(c.begin(&mut out), Begin::Close);
        c.closed();
        assert_eq!(c.phase(), Phase::Closed);
    }

    #[test]
    fn w4_small_writes_share_a_block_and_large_ones_stand_alone() {
        let mut q = Queue::default();
        for _ in 0..100 {
            q.push_slice(&[7; 10]);
        }
        q.push_bytes(Bytes::from(vec![9u8; 100_000]));
        q.push_slice(b"end");
        let mut out = Vec::new();
        let n = q.peek(usize::MAX, 64, &mut out);
        assert_eq!(n, 1000 + 100_000 + 3);
        assert_eq!(
            out.len(),
            3,
            "one staging block, one owned chunk, one staging block"
        );
        q.consume(1500);
        assert_eq!(q.len(), 100_000 + 3 - 500);
    }

    #[test]
    fn w12_small_os_writes_of_a_long_queue_do_not_cut_the_tail_into_segments() {
        let mut q = Queue::default();
        q.push_bytes(Bytes::from(vec![1u8; 100_000]));
        let mut out = Vec::new();
        for _ in 0..100 {
            q.push_slice(&[2u8; 16]);
            assert_eq!(q.peek(16, 64, &mut out), 16);
            q.consume(16);
        }
        assert_eq!(q.chunks.len(), 1, "W-12: the tail stays one open block");
        assert_eq!(q.len(), 100_000 - 1600 + 1600);
        // A write that reaches the tail seals it once.
        assert_eq!(q.peek(usize::MAX, 64, &mut out), q.len());
        assert_eq!(q.chunks.len(), 2);
    }

    #[test]
    fn queue_peek_respects_limits() {
        let mut q = Queue::default();
        q.push_bytes(Bytes::from(vec![1u8; 70_000]));
        q.push_bytes(Bytes::from(vec![2u8; 70_000]));
        let mut out = Vec::new();
        assert_eq!(q.peek(80_000, 64, &mut out), 80_000);
        assert_eq!(out[1].len(), 10_000);
        assert_eq!(q.peek(usize::MAX, 1, &mut out), 70_000);
    }

    #[test]
    fn w15_absurd_retry_delays_saturate_at_a_day() {
        let p = RetryPolicy {
            initial_delay: Duration::MAX,
            max_delay: Duration::MAX,
            max_retries: 3,
        };
        for attempt in [0, 1, 31, u32::MAX] {
            assert_eq!(p.delay(attempt), MAX_RETRY_DELAY);
        }
        assert!(std::time::Instant::now()
            .checked_add(MAX_RETRY_DELAY)
            .is_some());
    }

    #[test]
    fn retry_delay_saturates() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0), Duration::from_millis(1));
        assert_eq!(p.delay(40), p.max_delay);
    }
}

/// The core checked against a small reference model: a plain byte vector of everything
/// accepted and a count of what was written (W-2, W-3, W-6, W-7, W-10, W-12, E-2 … E-4).
#[cfg(test)]
mod model_tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Write(usize, u8),
        Begin,
        Complete(OutcomeKind, u16),
        Resume,
        Stop,
        Close,
    }

    #[derive(Debug, Clone, Copy)]
    enum OutcomeKind {
        Wrote,
        Interrupted,
        WouldBlock,
        Transient,
        PeerClosed,
        Fatal,
        Cancelled,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (prop_oneof![1usize..16, 1usize..5000, 1usize..200_000], 0u8..3)
                .prop_map(|(n, k)| Op::Write(n, k)),
            4 => Just(Op::Begin),
            4 => (
                prop_oneof![
                    6 => Just(OutcomeKind::Wrote),
                    1 => Just(OutcomeKind::Interrupted),
                    1 => Just(OutcomeKind::WouldBlock),
                    1 => Just(OutcomeKind::Transient),
                    1 => Just(OutcomeKind::PeerClosed),
                    1 => Just(OutcomeKind::Fatal),
                    1 => Just(OutcomeKind::Cancelled),
                ],
                any::<u16>()
            )
                .prop_map(|(k, f)| Op::Complete(k, f)),
            1 => Just(Op::Resume),
            1 => Just(Op::Stop),
            1 => Just(Op::Close),
        ]
    }

    /// The reference: what a correct writer must have done.
    #[derive(Debug, Default)]
    struct Model {
        data: Vec<u8>,
        written: usize,
        in_flight: Option<usize>,
        ended: bool,
        stopped: bool,
        closing: bool,
        closed: bool,
        /// Bytes handed back by stop.
        taken: usize,
        terminal_events: usize,
        written_events: u64,
        /// A write was refused at the hard limit: `Writable` is owed by the time the queue is
        /// down to this length (W-12).
        writable_owed: Option<usize>,
    }

    fn bytes_for(seq: usize, len: usize) -> Vec<u8> {
        (0..len).map(|i| (seq * 31 + i * 7) as u8).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 512 }))]
        #[test]
        fn core_matches_reference_model(
            ops in proptest::collection::vec(op(), 1..120),
            hard in prop_oneof![Just(None), (1000usize..300_000).prop_map(Some)],
            max_write in 1usize..100_000,
        ) {
            let limits = Limits {
                high_water: 50_000,
                low_water: 10_000,
                hard_limit: hard,
                max_write,
                max_slices: 8,
                retry: RetryPolicy { max_retries: 2, ..RetryPolicy::default() },
            };
            let mut core = Core::new(limits);
            let mut m = Model::default();
            let mut bufs = Vec::new();
            let mut events = Vec::new();
            for (seq, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Write(len, kind) => {
                        let data = bytes_for(seq, len);
                        let expected_ok = !m.ended && !m.stopped && !m.closing && !m.closed
                            && hard.is_none_or(|h| m.data.len() - m.written + len <= h);
                        match core.admit(len) {
                            Ok(()) => {
                                prop_assert!(expected_ok, "admitted a write the model refuses");
                                let (acc, _) = core.accept(len, |q| match kind {
                                    0 => q.push_slice(&data),
                                    1 => q.push_bytes(Bytes::from(data.clone())),
                                    _ => q.push_bytes(Bytes::copy_from_slice(&data)),
                                });
                                m.data.extend_from_slice(&data);
                                prop_assert_eq!(acc.bytes_to_write(), m.data.len() - m.written);
                                prop_assert_eq!(acc.is_above_high_water(), acc.bytes_to_write() > 50_000);
                            }
                            Err(refusal) => {
                                prop_assert!(!expected_ok, "refused a write the model accepts");
                                let open = !m.ended && !m.stopped && !m.closing && !m.closed;
                                if let Some(h) = hard.filter(|&h| open && len > h) {
                                    prop_assert_eq!(refusal, Refusal::TooLarge, "W-12: {} > {}", len, h);
                                }
                                if refusal == Refusal::HardLimit {
                                    let at = (hard.unwrap_or(0) - len).min(10_000);
                                    m.writable_owed = Some(m.writable_owed.map_or(at, |o| o.max(at)));
                                }
                            }
                        }
                    }
                    Op::Begin => {
                        if m.in_flight.is_some() {
                            continue; // W-3: the backend never begins twice
                        }
                        match core.begin(&mut bufs) {
                            Begin::Submit(n) => {
                                prop_assert!(!m.ended && !m.stopped);
                                prop_assert!(n <= max_write && bufs.len() <= 8);
                                let got: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                                prop_assert_eq!(got.len(), n);
                                prop_assert!(got[..] == m.data[m.written..m.written + n], "W-2: head of queue");
                                m.in_flight = Some(n);
                            }
                            Begin::Idle => prop_assert_eq!(m.data.len(), m.written),
                            Begin::Close => {
                                prop_assert!(m.closing && m.data.len() == m.written);
                                core.closed();
                                m.closed = true;
                            }
                            Begin::Halt => prop_assert!(m.ended || m.stopped || m.closed),
                        }
                    }
                    Op::Complete(kind, frac) => {
                        let Some(n) = m.in_flight.take() else { continue };
                        let k = n * frac as usize / u16::MAX as usize;
                        let outcome = match kind {
                            OutcomeKind::Wrote => Outcome::Wrote(k),
                            OutcomeKind::Interrupted => Outcome::Interrupted,
                            OutcomeKind::WouldBlock => Outcome::WouldBlock,
                            OutcomeKind::Transient => Outcome::Transient(io::ErrorKind::OutOfMemory.into()),
                            OutcomeKind::PeerClosed => Outcome::PeerClosed(io::ErrorKind::BrokenPipe.into()),
                            OutcomeKind::Fatal => Outcome::Fatal(io::Error::from_raw_os_error(5)),
                            OutcomeKind::Cancelled => Outcome::Cancelled(k),
                        };
                        let wrote = match kind {
                            OutcomeKind::Wrote | OutcomeKind::Cancelled => k,
                            _ => 0,
                        };
                        let next = core.complete(outcome);
                        m.written += wrote;
                        if matches!(kind, OutcomeKind::PeerClosed | OutcomeKind::Fatal) && !m.stopped {
                            m.ended = true;
                        }
                        if matches!(next, Next::Halt) && !m.stopped && core.phase() == Phase::Failed {
                            m.ended = true; // transient retries exhausted
                        }
                        if m.stopped {
                            prop_assert_eq!(next, Next::Halt);
                        }
                        if let Next::RetryAfter(_) | Next::AwaitWritable = next {
                            core.resume();
                        }
                    }
                    Op::Resume => core.resume(),
                    Op::Stop => {
                        let first = core.request_stop();
                        prop_assert_eq!(first, !m.stopped, "W-10: idempotent");
                        m.stopped = true;
                        if let Some(n) = m.in_flight.take() {
                            // The backend cancels; the OS reports how much it took.
                            let k = n / 2;
                            prop_assert_eq!(core.complete(Outcome::Cancelled(k)), Next::Halt);
                            m.written += k;
                        }
                        if first {
                            let back = core.take_unwritten();
                            prop_assert!(back.to_vec() == m.data[m.written + m.taken..], "W-10: exact suffix");
                            m.taken = m.data.len() - m.written;
                        }
                    }
                    Op::Close => {
                        let now = core.request_close();
                        if !m.ended && !m.stopped && !m.closed {
                            m.closing = true;
                        }
                        if now {
                            prop_assert!(m.in_flight.is_none() && m.data.len() == m.written);
                            core.closed();
                            m.closed = true;
                        }
                    }
                }
                // Invariants after every step (W-6).
                prop_assert_eq!(core.written(), m.written as u64);
                prop_assert_eq!(core.accepted() as usize, m.data.len());
                prop_assert_eq!(core.queued(), m.data.len() - m.written - m.taken);
                events.clear();
                core.take_events(&mut events);
                for event in &events {
                    prop_assert!(!m.stopped, "W-10: no events after stop");
                    match event {
                        Event::Written(n) => {
                            prop_assert!(*n > 0);
                            prop_assert_eq!(m.terminal_events, 0, "W-7: nothing after the end");
                            m.written_events += n;
                        }
                        Event::PeerClosed { unwritten } | Event::Failed { unwritten, .. } => {
                            m.terminal_events += 1;
                            prop_assert_eq!(*unwritten, m.data.len() - m.written, "E-2/E-4: unwritten");
                            prop_assert!(!m.closed);
                        }
                        Event::Drained => prop_assert_eq!(m.terminal_events, 0),
                        Event::Writable => m.writable_owed = None,
                    }
                }
                if m.ended || m.stopped || m.closing || m.closed {
                    m.writable_owed = None;
                }
                if let Some(at) = m.writable_owed {
                    prop_assert!(
                        core.queued() > at,
                        "W-12: a refused write fits ({} queued, fits at {}) but no Writable came",
                        core.queued(),
                        at
                    );
                }
                prop_assert!(m.terminal_events <= 1, "E-4: one terminal event");
                if !m.stopped {
                    prop_assert_eq!(m.written_events, m.written as u64, "W-7: sum of Written");
                }
            }
        }
    }
}
