//! Fuzzes the sans-IO core with arbitrary operation sequences and checks it against the
//! crate's reference model (`src/core/model.rs`, the one the property test uses too), reached
//! as `pipewriter::fuzzing`: the library exports it in builds with `--cfg fuzzing`, which
//! `cargo fuzz` passes.
//!
//! This target only turns the fuzzer's bytes into a configuration and an op sequence; every
//! check is in the model.
//!
//! ```text
//! cargo +nightly fuzz run core_model                              # until stopped
//! cargo +nightly fuzz run core_model -- -max_total_time=30        # what CI runs
//! ```
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pipewriter::fuzzing::{self as model, Config, OutcomeKind, Push};
use pipewriter::RetryPolicy;

/// Longest op sequence run.
const MAX_OPS: usize = 300;

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
enum Outcome {
    Wrote,
    Interrupted,
    WouldBlock,
    Transient,
    PeerClosed,
    Fatal,
    Cancelled,
}

impl From<Outcome> for OutcomeKind {
    fn from(outcome: Outcome) -> OutcomeKind {
        match outcome {
            Outcome::Wrote => OutcomeKind::Wrote,
            Outcome::Interrupted => OutcomeKind::Interrupted,
            Outcome::WouldBlock => OutcomeKind::WouldBlock,
            Outcome::Transient => OutcomeKind::Transient,
            Outcome::PeerClosed => OutcomeKind::PeerClosed,
            Outcome::Fatal => OutcomeKind::Fatal,
            Outcome::Cancelled => OutcomeKind::Cancelled,
        }
    }
}

/// The model's ops, as the fuzzer builds them (see `pipewriter::fuzzing::Op`).
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Op {
    /// A write of this size; the number picks how the payload enters the queue.
    Write(Size, u8),
    Begin,
    Complete(Outcome, u16),
    Resume,
    SettleIfEmpty,
    Stop,
    Close,
    Fail,
    WaitMark,
}

impl From<Op> for model::Op {
    fn from(op: Op) -> model::Op {
        match op {
            Op::Write(size, push) => {
                model::Op::Write(size.len(), Push::ALL[push as usize % Push::ALL.len()])
            }
            Op::Begin => model::Op::Begin,
            Op::Complete(outcome, frac) => model::Op::Complete(outcome.into(), frac),
            Op::Resume => model::Op::Resume,
            Op::SettleIfEmpty => model::Op::SettleIfEmpty,
            Op::Stop => model::Op::Stop,
            Op::Close => model::Op::Close,
            Op::Fail => model::Op::Fail,
            Op::WaitMark => model::Op::WaitMark,
        }
    }
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

fuzz_target!(|input: Input| {
    let high_water = (input.high_water % 200_000) as usize;
    let config = Config {
        high_water,
        low_water: ((input.low_water % 200_000) as usize).min(high_water),
        hard_limit: input.hard_limit.map(|h| (h % 400_000) as usize),
        max_write: 1 + (input.max_write % 100_000) as usize,
        max_slices: 1 + (input.max_slices % 8) as usize,
        retry: RetryPolicy {
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(8),
            max_retries: (input.max_retries % 4) as u32,
        },
    };
    let ops: Vec<model::Op> = input
        .ops
        .iter()
        .take(MAX_OPS)
        .map(|&op| op.into())
        .collect();
    if let Err(violation) = model::run(&config, &ops) {
        panic!("the core differs from the model: {violation}");
    }
});
