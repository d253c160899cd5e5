//! `pipewriter bench`: pipewriter against the contenders users would pick instead, each case
//! repeated with the contenders interleaved (their order rotating every repetition), medians
//! and same-repetition ratios reported as a Markdown table, every sample optionally as CSV.
//!
//! Each workload has a module with its contenders and its targets: `small_messages`,
//! `bulk` (to a reader thread and to a child), `enlarged_pipe`, `ping_pong` and
//! `many_writers` on Unix, `windows_pipes` on Windows. `harness` runs the cases and
//! prints the report, `pipes` holds the reader threads and writers they share, and
//! `probes` what is read about the machine and the process.

mod chart;
mod harness;
mod pipes;
mod probes;

// One module per workload. Only the bulk workload is measured on Windows (with contenders of
// its own); the others use Unix pipes, descriptors and tokio's Unix pipe sender.
#[cfg(unix)]
mod bulk;
#[cfg(unix)]
mod child_feed;
#[cfg(unix)]
mod enlarged_pipe;
#[cfg(unix)]
mod many_writers;
#[cfg(unix)]
mod ping_pong;
#[cfg(unix)]
mod small_messages;
#[cfg(windows)]
mod windows_pipes;

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use self::harness::Report;
use crate::aligned::AlignedBuf;
use crate::output::{out, say};
use crate::BenchArgs;

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Workload {
    /// 64-byte messages into a pipe read by another thread.
    Small,
    /// 64 KiB writes to a reader thread and to a child.
    Bulk,
    /// 64 KiB writes into an enlarged (1 MiB) pipe.
    Enlarged,
    /// Feeding a child: spawn_with_writer against ChildStdin, write_file against io::copy.
    Child,
    /// 64-byte ping-pong round trips.
    Latency,
    /// 10,000 idle writers: background threads and memory.
    Many,
}

/// How big a run is.
#[derive(Debug, Clone)]
#[cfg_attr(windows, allow(dead_code))] // Windows runs only the bulk workload, sized itself.
pub(crate) struct Plan {
    pub(crate) quick: bool,
    pub(crate) reps: u32,
    pub(crate) messages: u64,
    pub(crate) syscall_messages: u64,
    pub(crate) bulk_bytes: u64,
    pub(crate) chunk: usize,
    pub(crate) rounds: usize,
    pub(crate) warm_rounds: usize,
    pub(crate) writers: usize,
    pub(crate) max_write_size: Option<usize>,
    pub(crate) high_water: Option<usize>,
    pub(crate) contender: Option<String>,
}

impl Plan {
    fn from_args(args: &BenchArgs) -> Plan {
        let quick = args.quick;
        let messages = args
            .messages
            .unwrap_or(if quick { 1_000_000 } else { 10_000_000 })
            .max(1);
        Plan {
            quick,
            reps: args.reps.unwrap_or(if quick { 3 } else { 5 }),
            messages,
            syscall_messages: (messages / 10).max(1),
            bulk_bytes: args
                .bulk
                .unwrap_or(if quick { 128 << 20 } else { 1 << 30 })
                .max(64 << 10),
            chunk: 64 << 10,
            rounds: if quick { 3_000 } else { 30_000 },
            warm_rounds: if quick { 300 } else { 2_000 },
            writers: 10_000,
            max_write_size: args.max_write_size,
            high_water: args.high_water,
            contender: args.contender.clone(),
        }
    }
}

/// Runs `pipewriter bench`.
pub(crate) fn run(args: &BenchArgs) -> ExitCode {
    let plan = Plan::from_args(args);
    let all = [
        Workload::Small,
        Workload::Bulk,
        Workload::Enlarged,
        Workload::Child,
        Workload::Latency,
        Workload::Many,
    ];
    let workloads: Vec<Workload> = if args.only.is_empty() {
        all.to_vec()
    } else {
        all.into_iter().filter(|w| args.only.contains(w)).collect()
    };
    let started = Instant::now();
    let report = match run_workloads(&plan, &workloads) {
        Ok(report) => report,
        Err(e) => {
            say!("pipewriter: bench: {e}");
            return ExitCode::from(crate::EXIT_FAILURE);
        }
    };
    let markdown = report.markdown(&plan);
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(markdown.as_bytes());
    let _ = stdout.flush();
    if let Some(path) = &args.csv {
        if let Err(e) = std::fs::write(path, report.csv()) {
            say!("pipewriter: bench: cannot write {}: {e}", path.display());
            return ExitCode::from(crate::EXIT_FAILURE);
        }
    }
    if let Some(path) = &args.chart {
        if let Err(e) = chart::write_svg(&report, path) {
            say!("pipewriter: bench: {e}");
            return ExitCode::from(crate::EXIT_FAILURE);
        }
    }
    say!("bench: done in {:.1} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}

#[cfg(unix)]
fn run_workloads(plan: &Plan, workloads: &[Workload]) -> io::Result<Report> {
    let mut report = Report::default();
    for w in workloads {
        match w {
            Workload::Small => small_messages::run(plan, &mut report)?,
            Workload::Bulk => bulk::run(plan, &mut report)?,
            Workload::Enlarged => enlarged_pipe::run(plan, &mut report)?,
            Workload::Child => child_feed::run(plan, &mut report)?,
            Workload::Latency => ping_pong::run(plan, &mut report)?,
            Workload::Many => many_writers::run(plan, &mut report)?,
        }
    }
    report
        .notes
        .push("Windows: not measured on this platform (run the Windows build under Wine).".into());
    Ok(report)
}

#[cfg(windows)]
fn run_workloads(plan: &Plan, workloads: &[Workload]) -> io::Result<Report> {
    let mut report = Report::default();
    if workloads.contains(&Workload::Bulk) {
        windows_pipes::run(plan, &mut report)?;
    }
    report.notes.push(
        "Windows: only the bulk workload (4 KiB writes against a blocking 64 KiB WriteFile loop) is measured on this platform.".into(),
    );
    Ok(report)
}

/// `pipewriter __sink`: reads stdin to the end through a page-aligned 128 KiB buffer and
/// prints how many bytes it read (the child of the bulk workloads).
pub(crate) fn sink() -> ExitCode {
    let mut buf = AlignedBuf::new(128 << 10);
    let mut stdin = io::stdin().lock();
    let mut total = 0u64;
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                say!("pipewriter: __sink: {e}");
                return ExitCode::from(crate::EXIT_FAILURE);
            }
        }
    }
    out!("{total}");
    ExitCode::SUCCESS
}

/// `pipewriter __many-writers N`, run in a fresh process so that its thread count and
/// memory are not mixed with the other workloads'.
pub(crate) fn many_writers_child(count: usize, written: bool) -> ExitCode {
    #[cfg(unix)]
    {
        match many_writers::child(count, written) {
            Ok(lines) => {
                for line in lines {
                    out!("{line}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                say!("pipewriter: __many-writers: {e}");
                ExitCode::from(crate::EXIT_FAILURE)
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (count, written);
        say!("pipewriter: __many-writers: Unix only in this build");
        ExitCode::from(crate::EXIT_FAILURE)
    }
}
