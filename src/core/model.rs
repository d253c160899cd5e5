//! The reference model the core is checked against (W-2, W-3, W-6, W-7, W-9, W-10, W-12,
//! E-2 … E-4): a plain byte vector of everything accepted, a count of what was written, and
//! what the I/O side must be doing (one kick per burst, one OS write at a time).
//!
//! [`run`] steps a [`Core`] and the model through a sequence of [`Op`]s and checks, after
//! every step, that the core did what a correct writer must. Two drivers share it: the
//! property test below (`cargo test`, proptest strategies) and the fuzz target
//! (`fuzz/fuzz_targets/core_model.rs`, arbitrary input), which reaches it as
//! `pipewriter::fuzzing` in builds with `--cfg fuzzing` (what `cargo fuzz` passes). It is not
//! part of the API.
//!
//! What it checks:
//!
//! - W-2: every OS write submits the head of the queue, in order;
//! - W-3: the backend is kicked exactly when the writer was idle, and the core's I/O state is
//!   the model's after every step;
//! - W-6: `written`, `accepted`, `queued` and `bytes_to_write` are exact;
//! - W-7: the `Written` events add up to what was written, `Drained` means empty, nothing
//!   follows the final event;
//! - W-9: `close` closes at once only when idle and empty; the `wait_for_bytes_written` mark;
//! - W-10: `stop` is idempotent, hands back exactly the unwritten suffix, silences events and
//!   halts the I/O;
//! - W-12: the high-water mark, the hard limit (a write larger than it can never fit, any
//!   other refused write gets `Writable` by the time it fits), `Writable` at the low-water
//!   mark, the async adapters' `room` within the hard limit;
//! - E-2 … E-4: what comes after each outcome of an OS write (transient errors retried a
//!   bounded number of times, with capped delays), one final event with the unwritten count,
//!   `fail`, the refusals of an ended writer.

use std::io;
use std::time::Duration;

use bytes::Bytes;

use super::{Begin, Core, IoState, Kick, Limits, Next, Outcome, Phase, Refusal, RetryPolicy};
use crate::event::Event;

/// The limits of the core under test (the crate's `Limits`).
///
/// `max_write` and `max_slices` are at least 1 and `low_water` is at most `high_water`, as the
/// builder ensures.
#[derive(Debug, Clone)]
pub struct Config {
    /// Above this many queued bytes a write reports backpressure.
    pub high_water: usize,
    /// `Writable` fires at or below this many queued bytes.
    pub low_water: usize,
    /// Writes that would take the queue above this are refused.
    pub hard_limit: Option<usize>,
    /// Largest single OS write.
    pub max_write: usize,
    /// Largest number of chunks in one gather write.
    pub max_slices: usize,
    /// Retries of transient errors.
    pub retry: RetryPolicy,
}

/// How a write's bytes enter the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Copied from a slice.
    Slice,
    /// A `Bytes` made from an owned vector.
    OwnedBytes,
    /// A `Bytes` copied from a slice.
    CopiedBytes,
}

impl Push {
    /// Every way, for drivers that pick one by number.
    pub const ALL: [Push; 3] = [Push::Slice, Push::OwnedBytes, Push::CopiedBytes];
}

/// How the OS write in flight ends (the core's `Outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    /// Some bytes written (possibly none, possibly fewer than submitted).
    Wrote,
    /// `EINTR`.
    Interrupted,
    /// A full pipe.
    WouldBlock,
    /// A resource shortage.
    Transient,
    /// The reader went away.
    PeerClosed,
    /// Any other error.
    Fatal,
    /// Cancelled by a stop, after some bytes were written.
    Cancelled,
}

/// One step of the writer's life, as the facade and the backends drive the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A write of this many bytes (at least 1), entering the queue this way.
    Write(usize, Push),
    /// The backend starts an OS write (skipped while one is in flight: the backend never
    /// begins twice, W-3).
    Begin,
    /// The OS write in flight ends (skipped when none is); for `Wrote` and `Cancelled`, with
    /// `frac / u16::MAX` of the bytes submitted written.
    Complete(OutcomeKind, u16),
    /// A full-pipe wait or a backoff is over.
    Resume,
    /// After a write made from the caller's thread: go idle if nothing is left.
    SettleIfEmpty,
    /// `stop`: the hand-back waits for the write in flight, if any, to complete.
    Stop,
    /// `close` or a lingering drop.
    Close,
    /// The I/O context could not go on (E-4).
    Fail,
    /// `wait_for_bytes_written`'s check.
    WaitMark,
}

/// Steps a new core through `ops` and checks it against the model after every step.
/// Returns the first violation, with the step it happened at.
pub fn run(config: &Config, ops: &[Op]) -> Result<(), String> {
    let mut m = Model::new(config);
    for (seq, &op) in ops.iter().enumerate() {
        m.step(seq, op)
            .and_then(|()| m.check_invariants())
            .map_err(|violation| format!("step {seq} ({op:?}): {violation}\nmodel: {m:?}"))?;
    }
    Ok(())
}

/// Fails the step with a message when the condition does not hold.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Fails the step when the two differ, showing both (as `assert_eq!` does).
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    return Err(format!(
                        "{}\n  left: {:?}\n right: {:?}",
                        format_args!($($msg)+),
                        left,
                        right
                    ));
                }
            }
        }
    };
}

/// What the I/O side is doing, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Io {
    Idle,
    Scheduled,
    InFlight,
    /// A full pipe or a backoff.
    Waiting,
}

/// The reference: what a correct writer must have done, next to the core under test.
struct Model {
    core: Core,
    high_water: usize,
    low_water: usize,
    hard: Option<usize>,
    max_write: usize,
    max_slices: usize,
    retry: RetryPolicy,
    /// Everything accepted, in order.
    data: Vec<u8>,
    written: usize,
    in_flight: Option<usize>,
    io: Io,
    /// Peer closed or failed.
    ended: bool,
    stopped: bool,
    closing: bool,
    closed: bool,
    /// Bytes handed back by stop.
    taken: usize,
    /// Stop was requested while a write was in flight: the hand-back waits for its
    /// completion, as `stop` does.
    take_pending: bool,
    terminal_events: usize,
    written_events: u64,
    retries: u32,
    /// `written` when `wait_for_bytes_written`'s check last saw progress.
    mark: usize,
    /// A write was refused at the hard limit: `Writable` is owed by the time the queue is down
    /// to this length (W-12: a refused write can always succeed later).
    writable_owed: Option<usize>,
    bufs: Vec<Bytes>,
    events: Vec<Event>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("accepted", &self.data.len())
            .field("written", &self.written)
            .field("taken", &self.taken)
            .field("in_flight", &self.in_flight)
            .field("io", &self.io)
            .field("ended", &self.ended)
            .field("stopped", &self.stopped)
            .field("closing", &self.closing)
            .field("closed", &self.closed)
            .field("retries", &self.retries)
            .field("writable_owed", &self.writable_owed)
            .field("core_phase", &self.core.phase())
            .field("core_io", &self.core.io_state())
            .finish_non_exhaustive()
    }
}

/// The bytes of the write at step `seq`: different for every write, so that misordered or
/// duplicated bytes show.
fn bytes_for(seq: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq * 31 + i * 7) as u8).collect()
}

impl Model {
    fn new(config: &Config) -> Model {
        let limits = Limits {
            high_water: config.high_water,
            low_water: config.low_water,
            hard_limit: config.hard_limit,
            max_write: config.max_write,
            max_slices: config.max_slices,
            retry: config.retry,
        };
        Model {
            core: Core::new(limits),
            high_water: config.high_water,
            low_water: config.low_water,
            hard: config.hard_limit,
            max_write: config.max_write,
            max_slices: config.max_slices,
            retry: config.retry,
            data: Vec::new(),
            written: 0,
            in_flight: None,
            io: Io::Idle,
            ended: false,
            stopped: false,
            closing: false,
            closed: false,
            taken: 0,
            take_pending: false,
            terminal_events: 0,
            written_events: 0,
            retries: 0,
            mark: 0,
            writable_owed: None,
            bufs: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Accepting writes.
    fn open(&self) -> bool {
        !self.ended && !self.stopped && !self.closing && !self.closed
    }

    /// Accepted, not written, not handed back.
    fn queued(&self) -> usize {
        self.data.len() - self.written - self.taken
    }

    fn step(&mut self, seq: usize, op: Op) -> Result<(), String> {
        match op {
            Op::Write(len, push) => self.write(seq, len, push)?,
            Op::Begin => self.begin()?,
            Op::Complete(kind, frac) => self.complete(kind, frac)?,
            Op::Resume => {
                self.core.resume();
                if self.io == Io::Waiting {
                    self.io = Io::Scheduled;
                }
            }
            Op::SettleIfEmpty => {
                // Closing: the backend must still close the handle, so it stays scheduled.
                let closing = self.closing && !self.closed && !self.stopped && !self.ended;
                let expect = self.io == Io::Scheduled && self.queued() == 0 && !closing;
                ensure_eq!(self.core.settle_if_empty(), expect, "settle_if_empty");
                if expect {
                    self.io = Io::Idle;
                }
            }
            Op::Stop => {
                // The write in flight, if any, completes later with whatever the OS says (a
                // `Complete` op); the hand-back waits for it, as `stop` does.
                let first = self.core.request_stop();
                ensure_eq!(first, !self.stopped, "W-10: idempotent");
                self.stopped = true;
                if first {
                    self.take_pending = true;
                }
            }
            Op::Close => self.close()?,
            Op::Fail => {
                self.core.fail(io::Error::from_raw_os_error(9));
                let live = !self.ended && !self.stopped && !self.closed;
                if live && self.in_flight.is_none() {
                    self.ended = true;
                    self.io = Io::Idle;
                    ensure_eq!(
                        self.core.phase(),
                        Phase::Failed,
                        "E-4: fail ends the writer"
                    );
                }
            }
            Op::WaitMark => {
                let expect = self.written > self.mark;
                ensure_eq!(
                    self.core.take_written_since_mark(),
                    expect,
                    "W-9: the wait mark"
                );
                if expect {
                    self.mark = self.written;
                }
            }
        }
        if self.take_pending && self.in_flight.is_none() {
            self.take_pending = false;
            let back = self.core.take_unwritten();
            ensure!(
                back.to_vec() == self.data[self.written + self.taken..],
                "W-10: stop hands back exactly the unwritten suffix ({} bytes back, {} unwritten)",
                back.len(),
                self.queued()
            );
            self.taken = self.data.len() - self.written;
        }
        Ok(())
    }

    fn write(&mut self, seq: usize, len: usize, push: Push) -> Result<(), String> {
        let open = self.open();
        let expected_ok = open && self.hard.is_none_or(|h| self.queued() + len <= h);
        match self.core.admit(len) {
            Ok(()) => {
                ensure!(expected_ok, "admitted a write the model refuses");
                let data = bytes_for(seq, len);
                let (acc, kick) = self.core.accept(len, |q| match push {
                    Push::Slice => q.push_slice(&data),
                    Push::OwnedBytes => q.push_bytes(Bytes::from(data.clone())),
                    Push::CopiedBytes => q.push_bytes(Bytes::copy_from_slice(&data)),
                });
                self.data.extend_from_slice(&data);
                let queued = self.queued();
                ensure_eq!(acc.bytes_to_write(), queued, "W-6: bytes_to_write");
                ensure_eq!(
                    acc.is_above_high_water(),
                    queued > self.high_water,
                    "W-12: above the high-water mark"
                );
                // W-3: the backend is kicked exactly when the writer was idle.
                ensure_eq!(
                    kick == Kick::Yes,
                    self.io == Io::Idle,
                    "W-3: one kick per burst"
                );
                if self.io == Io::Idle {
                    self.io = Io::Scheduled;
                }
            }
            Err(refusal) => {
                ensure!(
                    !expected_ok,
                    "refused a write the model accepts: {refusal:?}"
                );
                let kind = refusal.to_error().kind();
                if !open {
                    let expected = if self.stopped {
                        matches!(refusal, Refusal::Stopped)
                    } else if self.ended {
                        matches!(refusal, Refusal::PeerClosed | Refusal::Failed(..))
                    } else {
                        matches!(refusal, Refusal::Closed)
                    };
                    ensure!(
                        expected,
                        "E-2/E-4/W-10: refusal {refusal:?} of an ended writer"
                    );
                } else if let Some(h) = self.hard {
                    if len > h {
                        // W-12: it can never fit.
                        ensure_eq!(refusal, Refusal::TooLarge, "W-12: {len} > {h}: too large");
                        ensure_eq!(kind, io::ErrorKind::InvalidInput, "W-12: too large");
                    } else {
                        ensure_eq!(refusal, Refusal::HardLimit, "W-12: hard limit");
                        ensure_eq!(kind, io::ErrorKind::WouldBlock, "W-12: hard limit");
                        let at = (h - len).min(self.low_water);
                        self.writable_owed =
                            Some(self.writable_owed.map_or(at, |owed| owed.max(at)));
                    }
                }
            }
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<(), String> {
        if self.in_flight.is_some() {
            return Ok(()); // W-3: the backend never begins twice
        }
        match self.core.begin(&mut self.bufs) {
            Begin::Submit(n) => {
                ensure!(
                    !self.ended && !self.stopped && !self.closed,
                    "submitted a write after the end"
                );
                ensure!(
                    n > 0 && n <= self.max_write && self.bufs.len() <= self.max_slices,
                    "submitted {n} bytes in {} chunks",
                    self.bufs.len()
                );
                let got: Vec<u8> = self.bufs.iter().flat_map(|b| b.iter().copied()).collect();
                ensure_eq!(got.len(), n, "Submit(n) and the chunks disagree");
                ensure!(
                    self.written + n <= self.data.len()
                        && got[..] == self.data[self.written..self.written + n],
                    "W-2: the head of the queue, in order"
                );
                self.in_flight = Some(n);
                self.io = Io::InFlight;
            }
            Begin::Idle => {
                ensure_eq!(
                    self.data.len(),
                    self.written + self.taken,
                    "idle with data left"
                );
                ensure_eq!(self.data.len(), self.written, "idle with data left");
                ensure!(
                    !self.closing || self.closed || self.ended || self.stopped,
                    "idle instead of closing"
                );
                self.io = Io::Idle;
            }
            Begin::Close => {
                ensure!(
                    self.closing && !self.closed && self.data.len() == self.written,
                    "closed while not closing or not drained"
                );
                ensure!(!self.ended && !self.stopped, "closed after the end");
                self.core.closed();
                self.closed = true;
                self.io = Io::Idle;
            }
            Begin::Halt => {
                ensure!(
                    self.ended || self.stopped || self.closed,
                    "halted a live writer"
                );
                self.io = Io::Idle;
            }
        }
        Ok(())
    }

    fn complete(&mut self, kind: OutcomeKind, frac: u16) -> Result<(), String> {
        let Some(n) = self.in_flight.take() else {
            return Ok(());
        };
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
        let next = self.core.complete(outcome);
        self.written += match kind {
            OutcomeKind::Wrote | OutcomeKind::Cancelled => k,
            _ => 0,
        };
        // What comes next (E-2 … E-4, W-10).
        let expected = match kind {
            _ if self.stopped => Next::Halt,
            OutcomeKind::Wrote if k == 0 => Next::AwaitWritable,
            OutcomeKind::Wrote | OutcomeKind::Interrupted => Next::Continue,
            OutcomeKind::WouldBlock => Next::AwaitWritable,
            OutcomeKind::Transient if self.retries >= self.retry.max_retries => Next::Halt,
            OutcomeKind::Transient => Next::RetryAfter(Duration::ZERO),
            OutcomeKind::PeerClosed | OutcomeKind::Fatal | OutcomeKind::Cancelled => Next::Halt,
        };
        match (expected, next) {
            (Next::RetryAfter(_), Next::RetryAfter(delay)) => {
                ensure!(
                    delay <= self.retry.max_delay,
                    "E-3: delay {delay:?} above the cap {:?}",
                    self.retry.max_delay
                );
            }
            (expected, next) => {
                ensure_eq!(next, expected, "E-3/W-10: what comes next after {kind:?}")
            }
        }
        match kind {
            OutcomeKind::Wrote if k > 0 => self.retries = 0,
            OutcomeKind::Transient if !self.stopped => self.retries += 1,
            _ => {}
        }
        let ends = match kind {
            OutcomeKind::PeerClosed | OutcomeKind::Fatal => true,
            OutcomeKind::Transient => next == Next::Halt,
            _ => false,
        };
        if ends && !self.stopped {
            self.ended = true;
            let phase = self.core.phase();
            ensure!(
                matches!(phase, Phase::PeerClosed | Phase::Failed),
                "E-2/E-4: the writer ended in phase {phase:?}"
            );
        }
        self.io = match next {
            Next::Continue => Io::Scheduled,
            Next::AwaitWritable | Next::RetryAfter(_) => Io::Waiting,
            Next::Halt => Io::Idle,
        };
        Ok(())
    }

    fn close(&mut self) -> Result<(), String> {
        let open = self.open();
        let now = self.core.request_close();
        if open {
            self.closing = true;
        }
        let expect_now = self.closing
            && !self.closed
            && !self.ended
            && !self.stopped
            && self.io == Io::Idle
            && self.queued() == 0;
        ensure_eq!(
            now,
            expect_now,
            "W-9: close at once only when idle and empty"
        );
        if now {
            ensure!(
                self.in_flight.is_none() && self.data.len() == self.written,
                "closed with data left"
            );
            self.core.closed();
            self.closed = true;
        }
        Ok(())
    }

    /// What holds after every step (W-3, W-6, W-7, W-10, W-12, E-2 … E-4).
    fn check_invariants(&mut self) -> Result<(), String> {
        let queued = self.queued();
        ensure_eq!(self.core.written(), self.written as u64, "W-6: written");
        ensure_eq!(
            self.core.accepted() as usize,
            self.data.len(),
            "W-6: accepted"
        );
        ensure_eq!(self.core.queued(), queued, "W-6: queued");
        let io = match self.core.io_state() {
            IoState::Idle => Io::Idle,
            IoState::Scheduled => Io::Scheduled,
            IoState::InFlight => Io::InFlight,
            IoState::AwaitingWritable | IoState::Backoff => Io::Waiting,
        };
        ensure_eq!(io, self.io, "W-3: the I/O state");
        if let Some(h) = self.hard {
            let room = self.core.room();
            ensure!(
                room + queued <= h.max(queued),
                "W-12: room {room} with {queued} queued is past the hard limit {h}"
            );
        }
        self.events.clear();
        self.core.take_events(&mut self.events);
        for event in &self.events {
            ensure!(!self.stopped, "W-10: no events after stop, got {event:?}");
            match event {
                Event::Written(n) => {
                    ensure!(*n > 0, "W-7: Written(0)");
                    ensure_eq!(self.terminal_events, 0, "W-7: nothing after the end");
                    self.written_events += n;
                }
                Event::PeerClosed { unwritten } | Event::Failed { unwritten, .. } => {
                    self.terminal_events += 1;
                    ensure_eq!(*unwritten, queued, "E-2/E-4: unwritten");
                    ensure_eq!(
                        *unwritten,
                        self.data.len() - self.written,
                        "E-2/E-4: unwritten"
                    );
                    ensure!(!self.closed, "E-2/E-4: a final event after the close");
                }
                Event::Drained => {
                    ensure_eq!(self.terminal_events, 0, "W-7: nothing after the end");
                    ensure_eq!(queued, 0, "W-7: drained means empty");
                }
                Event::Writable => {
                    ensure_eq!(self.terminal_events, 0, "W-7: nothing after the end");
                    ensure!(
                        queued <= self.low_water,
                        "W-12: Writable with {queued} queued, above the low-water mark {}",
                        self.low_water
                    );
                    self.writable_owed = None;
                }
            }
        }
        if !self.open() {
            self.writable_owed = None;
        }
        if let Some(at) = self.writable_owed {
            ensure!(
                queued > at,
                "W-12: a refused write fits ({queued} queued, fits at {at}) but no Writable came"
            );
        }
        ensure!(self.terminal_events <= 1, "E-4: one final event");
        if !self.stopped {
            ensure_eq!(
                self.written_events,
                self.written as u64,
                "W-7: the Written events add up to what was written"
            );
        }
        Ok(())
    }
}

/// The core checked against the model with generated op sequences.
#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One generated step, as the model runs it: the backend resumes at once after a wait or
    /// a backoff. A stop cancels the write in flight, if any (Windows: the OS says how much of
    /// it was written), or lets it end as it will, in a later step (Unix).
    fn step() -> impl Strategy<Value = Vec<Op>> {
        prop_oneof![
            4 => (
                prop_oneof![1usize..16, 1usize..5000, 1usize..200_000],
                proptest::sample::select(Push::ALL.to_vec()),
            )
                .prop_map(|(n, push)| vec![Op::Write(n, push)]),
            4 => Just(vec![Op::Begin]),
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
                .prop_map(|(kind, frac)| vec![Op::Complete(kind, frac), Op::Resume]),
            1 => Just(vec![Op::Resume]),
            1 => any::<u16>()
                .prop_map(|frac| vec![Op::Stop, Op::Complete(OutcomeKind::Cancelled, frac)]),
            1 => Just(vec![Op::Stop]),
            1 => Just(vec![Op::Close]),
            1 => Just(vec![Op::SettleIfEmpty]),
            1 => Just(vec![Op::Fail]),
            1 => Just(vec![Op::WaitMark]),
        ]
    }

    fn config(hard_limit: Option<usize>, max_write: usize) -> Config {
        Config {
            high_water: 50_000,
            low_water: 10_000,
            hard_limit,
            max_write,
            max_slices: 8,
            retry: RetryPolicy {
                max_retries: 2,
                ..RetryPolicy::default()
            },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 512 }))]
        #[test]
        fn core_matches_reference_model(
            steps in proptest::collection::vec(step(), 1..120),
            hard in prop_oneof![Just(None), (1000usize..300_000).prop_map(Some)],
            max_write in 1usize..100_000,
        ) {
            let ops: Vec<Op> = steps.into_iter().flatten().collect();
            run(&config(hard, max_write), &ops).map_err(TestCaseError::fail)?;
        }
    }

    /// Cases the property test found in the past.
    #[test]
    fn model_regressions() {
        let cases: [(Option<usize>, usize, &[Op]); 2] = [
            (None, 1, &[Op::Close, Op::Begin]),
            (Some(1000), 1, &[Op::Stop, Op::Write(26746, Push::Slice)]),
        ];
        for (hard, max_write, ops) in cases {
            if let Err(violation) = run(&config(hard, max_write), ops) {
                panic!("{violation}");
            }
        }
    }
}
