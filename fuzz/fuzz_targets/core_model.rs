//! Fuzzes the sans-IO core with arbitrary operation sequences and checks it against a
//! reference model (W-2, W-3, W-6, W-7, W-9, W-10, W-12, E-2 … E-4): the proptest model of
//! `src/core.rs` (`model_tests`), extended with the I/O state (one kick per burst, W-3), the
//! caller-thread write's `settle_if_empty`, `fail`, the `wait_for_bytes_written` mark and the
//! async adapters' `room`.
//!
//! The core is compiled into this target from the crate's own sources (`#[path]` below), so
//! its crate-private API is reachable without exporting anything from the library.
//!
//! ```text
//! cargo +nightly fuzz run core_model                              # until stopped
//! cargo +nightly fuzz run core_model -- -max_total_time=30        # what CI runs
//! ```
#![no_main]
#![allow(dead_code, unused_imports)]

#[path = "../../src/core.rs"]
mod core;
#[path = "../../src/event.rs"]
mod event;
#[path = "../../src/pool.rs"]
mod pool;
#[path = "../../src/sync.rs"]
mod sync;

/// What `event.rs` asks of the platform: the fork generation, which never changes here.
mod sys {
    pub(crate) mod process {
        pub(crate) fn generation() -> u64 {
            0
        }
    }
}

use std::io;
use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

use crate::core::{Begin, Core, IoState, Kick, Limits, Next, Outcome, Phase, RetryPolicy};
use crate::event::Event;

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Size {
    Tiny(u8),
    Small(u16),
    /// Up to 256 KiB: past the staging blocks (64 KiB) and the copy threshold.
    Large(u16, u8),
}

impl Size {
    fn len(self) -> usize {
        match self {
            Size::Tiny(n) => 1 + (n % 16) as usize,
            Size::Small(n) => 1 + (n % 5000) as usize,
            Size::Large(n, k) => 1 + ((n as usize) | ((k as usize % 4) << 16)),
        }
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum OutcomeKind {
    Wrote,
    Interrupted,
    WouldBlock,
    Transient,
    PeerClosed,
    Fatal,
    Cancelled,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Op {
    /// A write of this size; `kind` picks how the payload enters the queue.
    Write(Size, u8),
    Begin,
    Complete(OutcomeKind, u16),
    Resume,
    /// After a caller-thread write completed: go idle if nothing is left.
    SettleIfEmpty,
    Stop,
    Close,
    /// The I/O context could not go on (E-4).
    Fail,
    /// `wait_for_bytes_written`'s check.
    WaitMark,
}

#[derive(Debug, Arbitrary)]
struct Input {
    hard_limit: Option<u32>,
    max_write: u32,
    max_slices: u8,
    high_water: u32,
    low_water: u32,
    max_retries: u8,
    ops: Vec<Op>,
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

/// The reference: what a correct writer must have done.
#[derive(Debug)]
struct Model {
    data: Vec<u8>,
    written: usize,
    in_flight: Option<usize>,
    io: Io,
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
    mark: usize,
    above_high: bool,
    /// A write was refused at the hard limit: `Writable` is owed by the time the queue is down
    /// to this length (W-12: a refused write can always succeed later).
    writable_owed: Option<usize>,
}

fn bytes_for(seq: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq * 31 + i * 7) as u8).collect()
}

fuzz_target!(|input: Input| run(input));

fn run(input: Input) {
    let hard = input.hard_limit.map(|h| (h % 400_000) as usize);
    let max_write = 1 + (input.max_write % 100_000) as usize;
    let max_slices = 1 + (input.max_slices % 8) as usize;
    let high_water = (input.high_water % 200_000) as usize;
    let low_water = ((input.low_water % 200_000) as usize).min(high_water);
    let max_retries = (input.max_retries % 4) as u32;
    let limits = Limits {
        high_water,
        low_water,
        hard_limit: hard,
        max_write,
        max_slices,
        retry: RetryPolicy {
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(8),
            max_retries,
        },
    };
    let mut core = Core::new(limits);
    let mut m = Model {
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
        above_high: false,
        writable_owed: None,
    };
    let mut bufs = Vec::new();
    let mut events = Vec::new();
    for (seq, op) in input.ops.into_iter().take(300).enumerate() {
        let open = !m.ended && !m.stopped && !m.closing && !m.closed;
        match op {
            Op::Write(size, kind) => {
                let len = size.len();
                let queued = m.data.len() - m.written - m.taken;
                let expected_ok = open && hard.is_none_or(|h| queued + len <= h);
                match core.admit(len) {
                    Ok(()) => {
                        assert!(expected_ok, "admitted a write the model refuses");
                        let data = bytes_for(seq, len);
                        let (acc, kick) = core.accept(len, |q| match kind % 3 {
                            0 => q.push_slice(&data),
                            1 => q.push_bytes(Bytes::from(data.clone())),
                            _ => q.push_bytes(Bytes::copy_from_slice(&data)),
                        });
                        m.data.extend_from_slice(&data);
                        let queued = m.data.len() - m.written - m.taken;
                        assert_eq!(acc.bytes_to_write(), queued, "W-6");
                        assert_eq!(acc.is_above_high_water(), queued > high_water, "W-12");
                        if queued > high_water {
                            m.above_high = true;
                        }
                        // W-3: the backend is kicked exactly when the writer was idle.
                        assert_eq!(
                            kick == Kick::Yes,
                            m.io == Io::Idle,
                            "W-3: one kick per burst"
                        );
                        if m.io == Io::Idle {
                            m.io = Io::Scheduled;
                        }
                    }
                    Err(refusal) => {
                        assert!(!expected_ok, "refused a write the model accepts");
                        let kind = refusal.to_error().kind();
                        if let (true, Some(h)) = (open, hard) {
                            if len > h {
                                // W-12: it can never fit.
                                assert_eq!(kind, io::ErrorKind::InvalidInput, "W-12: too large");
                            } else {
                                assert_eq!(kind, io::ErrorKind::WouldBlock, "W-12: hard limit");
                                let at = (h - len).min(low_water);
                                m.writable_owed = Some(m.writable_owed.map_or(at, |o| o.max(at)));
                            }
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
                        assert!(!m.ended && !m.stopped && !m.closed);
                        assert!(n > 0 && n <= max_write && bufs.len() <= max_slices);
                        let got: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                        assert_eq!(got.len(), n);
                        assert!(
                            got[..] == m.data[m.written..m.written + n],
                            "W-2: the head of the queue, in order"
                        );
                        m.in_flight = Some(n);
                        m.io = Io::InFlight;
                    }
                    Begin::Idle => {
                        assert_eq!(m.data.len(), m.written + m.taken);
                        assert!(!m.closing || m.closed || m.ended || m.stopped);
                        m.io = Io::Idle;
                    }
                    Begin::Close => {
                        assert!(m.closing && !m.closed && m.data.len() == m.written);
                        assert!(!m.ended && !m.stopped);
                        core.closed();
                        m.closed = true;
                        m.io = Io::Idle;
                    }
                    Begin::Halt => {
                        assert!(m.ended || m.stopped || m.closed);
                        m.io = Io::Idle;
                    }
                }
            }
            Op::Complete(kind, frac) => {
                let Some(n) = m.in_flight.take() else {
                    continue;
                };
                let k = n * frac as usize / u16::MAX as usize;
                let outcome = match kind {
                    OutcomeKind::Wrote => Outcome::Wrote(k),
                    OutcomeKind::Interrupted => Outcome::Interrupted,
                    OutcomeKind::WouldBlock => Outcome::WouldBlock,
                    OutcomeKind::Transient => Outcome::Transient(io::ErrorKind::OutOfMemory.into()),
                    OutcomeKind::PeerClosed => {
                        Outcome::PeerClosed(io::ErrorKind::BrokenPipe.into())
                    }
                    OutcomeKind::Fatal => Outcome::Fatal(io::Error::from_raw_os_error(5)),
                    OutcomeKind::Cancelled => Outcome::Cancelled(k),
                };
                let next = core.complete(outcome);
                let wrote = match kind {
                    OutcomeKind::Wrote | OutcomeKind::Cancelled => k,
                    _ => 0,
                };
                m.written += wrote;
                // What the model expects next (E-2 … E-4, W-10).
                let expected = match kind {
                    _ if m.stopped => Next::Halt,
                    OutcomeKind::Wrote if k == 0 => Next::AwaitWritable,
                    OutcomeKind::Wrote | OutcomeKind::Interrupted => Next::Continue,
                    OutcomeKind::WouldBlock => Next::AwaitWritable,
                    OutcomeKind::Transient if m.retries >= max_retries => Next::Halt,
                    OutcomeKind::Transient => Next::RetryAfter(Duration::ZERO),
                    OutcomeKind::PeerClosed | OutcomeKind::Fatal | OutcomeKind::Cancelled => {
                        Next::Halt
                    }
                };
                match (expected, next) {
                    (Next::RetryAfter(_), Next::RetryAfter(d)) => {
                        assert!(d <= Duration::from_millis(8), "E-3: delay capped");
                    }
                    (e, n) => assert_eq!(e, n, "E-3/W-10: what comes next after {kind:?}"),
                }
                match kind {
                    OutcomeKind::Wrote if k > 0 => m.retries = 0,
                    OutcomeKind::Transient if !m.stopped => m.retries += 1,
                    _ => {}
                }
                let ends = match kind {
                    OutcomeKind::PeerClosed | OutcomeKind::Fatal => true,
                    OutcomeKind::Transient => next == Next::Halt,
                    _ => false,
                };
                if ends && !m.stopped {
                    m.ended = true;
                    let phase = core.phase();
                    assert!(
                        matches!(phase, Phase::PeerClosed | Phase::Failed),
                        "E-2/E-4"
                    );
                }
                m.io = match next {
                    Next::Continue => Io::Scheduled,
                    Next::AwaitWritable | Next::RetryAfter(_) => Io::Waiting,
                    Next::Halt => Io::Idle,
                };
            }
            Op::Resume => {
                core.resume();
                if m.io == Io::Waiting {
                    m.io = Io::Scheduled;
                }
            }
            Op::SettleIfEmpty => {
                let queued = m.data.len() - m.written - m.taken;
                let expect = m.io == Io::Scheduled && queued == 0;
                assert_eq!(core.settle_if_empty(), expect, "settle_if_empty");
                if expect {
                    m.io = Io::Idle;
                }
            }
            Op::Stop => {
                // The in-flight write, if any, completes later with whatever the OS says
                // (a `Complete` op); the hand-back waits for it, as `stop` does.
                let first = core.request_stop();
                assert_eq!(first, !m.stopped, "W-10: idempotent");
                m.stopped = true;
                if first {
                    m.take_pending = true;
                }
            }
            Op::Close => {
                let now = core.request_close();
                if open {
                    m.closing = true;
                }
                let queued = m.data.len() - m.written - m.taken;
                let expect_now = m.closing
                    && !m.closed
                    && !m.ended
                    && !m.stopped
                    && m.io == Io::Idle
                    && queued == 0;
                assert_eq!(
                    now, expect_now,
                    "W-9: close at once only when idle and empty"
                );
                if now {
                    core.closed();
                    m.closed = true;
                }
            }
            Op::Fail => {
                core.fail(io::Error::from_raw_os_error(9));
                let live = !m.ended && !m.stopped && !m.closed;
                if live && m.in_flight.is_none() {
                    m.ended = true;
                    m.io = Io::Idle;
                    assert_eq!(core.phase(), Phase::Failed, "E-4");
                }
            }
            Op::WaitMark => {
                let expect = m.written > m.mark;
                assert_eq!(core.take_written_since_mark(), expect, "W-9");
                if expect {
                    m.mark = m.written;
                }
            }
        }

        if m.take_pending && m.in_flight.is_none() {
            m.take_pending = false;
            let back = core.take_unwritten();
            assert!(
                back.to_vec() == m.data[m.written + m.taken..],
                "W-10: exactly the unwritten suffix"
            );
            m.taken = m.data.len() - m.written;
        }

        // Invariants after every step (W-3, W-6, W-12).
        let queued = m.data.len() - m.written - m.taken;
        assert_eq!(core.written(), m.written as u64, "W-6: written");
        assert_eq!(core.accepted() as usize, m.data.len(), "W-6: accepted");
        assert_eq!(core.queued(), queued, "W-6: queued");
        let io = core.io_state();
        let model_io = match io {
            IoState::Idle => Io::Idle,
            IoState::Scheduled => Io::Scheduled,
            IoState::InFlight => Io::InFlight,
            IoState::AwaitingWritable | IoState::Backoff => Io::Waiting,
        };
        assert_eq!(model_io, m.io, "W-3: the I/O state");
        if let Some(h) = hard {
            assert!(
                core.room() + queued <= h.max(queued),
                "W-12: room within the hard limit"
            );
        }
        events.clear();
        core.take_events(&mut events);
        for event in &events {
            assert!(!m.stopped, "W-10: no events after stop");
            match event {
                Event::Written(n) => {
                    assert!(*n > 0);
                    assert_eq!(m.terminal_events, 0, "W-7: nothing after the end");
                    m.written_events += n;
                }
                Event::PeerClosed { unwritten } | Event::Failed { unwritten, .. } => {
                    m.terminal_events += 1;
                    assert_eq!(*unwritten, queued, "E-2/E-4: unwritten");
                    assert!(!m.closed);
                }
                Event::Drained => {
                    assert_eq!(m.terminal_events, 0);
                    assert_eq!(queued, 0, "W-7: drained means empty");
                }
                Event::Writable => {
                    assert_eq!(m.terminal_events, 0);
                    assert!(queued <= low_water, "W-12: writable at the low-water mark");
                    m.writable_owed = None;
                }
            }
        }
        if m.ended || m.stopped || m.closing || m.closed {
            m.writable_owed = None;
        }
        if let Some(at) = m.writable_owed {
            assert!(
                queued > at,
                "W-12: a refused write fits ({queued} queued, fits at {at}) but no Writable came"
            );
        }
        assert!(m.terminal_events <= 1, "E-4: one terminal event");
        if !m.stopped {
            assert_eq!(m.written_events, m.written as u64, "W-7: sum of Written");
        }
    }
}
