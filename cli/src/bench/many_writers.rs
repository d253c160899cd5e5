//! Many writers: 10,000 writers, each on its own pipe, idle and after one write: the
//! background threads and the memory per writer they cost, measured in fresh processes.

use std::io;
use std::process::{Command, Stdio};
use std::time::Duration;

use pipewriter::PipeWriter;

use super::harness::{Check, Report};
use super::probes::{heap_bytes, or_unknown, raise_fd_limit, rss_bytes, thread_count};
use super::Plan;
use crate::output::say;

/// Runs `__many-writers` in a fresh process and returns its `key=value` lines.
fn many_child(count: usize, written: bool) -> io::Result<String> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("__many-writers").arg(count.to_string());
    if written {
        command.arg("--written");
    }
    let output = command.stderr(Stdio::inherit()).output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "__many-writers exited with {}",
            output.status
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

pub(super) fn run(plan: &Plan, report: &mut Report) -> io::Result<()> {
    say!(
        "bench: {} writers, each on its own pipe (in fresh processes)",
        plan.writers
    );
    let idle = many_child(plan.writers, false)?;
    let used = many_child(plan.writers, true)?;
    let get = |text: &str, key: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('=')?.trim().parse().ok())
    };
    let n = get(&idle, "writers").unwrap_or(f64::NAN);
    let title = format!("{n} writers, each on its own pipe");
    let check = |target: &str, measured: Option<f64>, bound: f64, unit: &'static str| Check {
        workload: title.clone(),
        target: target.to_owned(),
        measured,
        at_least: false,
        bound,
        unit,
    };
    for (text, when) in [
        (&idle, "never written to"),
        (&used, "after one 64 B write each, drained"),
    ] {
        report.checks.push(check(
            &format!("background threads, writers {when} ≤ 2"),
            get(text, "threads_extra"),
            2.0,
            " threads",
        ));
        report.checks.push(check(
            &format!("heap per writer (mallinfo2), {when} ≤ 4096 B"),
            get(text, "heap_per_writer"),
            4096.0,
            " B",
        ));
        report.checks.push(check(
            &format!("RSS per writer, {when} ≤ 4096 B"),
            get(text, "rss_per_writer"),
            4096.0,
            " B",
        ));
    }
    for (text, when) in [(&idle, "idle"), (&used, "after a write")] {
        report.notes.push(format!(
            "Many writers ({when}), raw figures: {}",
            text.lines().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(())
}

/// The body of `pipewriter __many-writers N [--written]`: `count` writers, each on its own
/// pipe, then the process's extra threads and memory per writer ("unknown" where this
/// platform cannot measure them). With `written`, each writer first writes 64 B and waits
/// until they are written; the read end is then closed, so that only one descriptor per
/// writer stays open (10,000 pipes with both ends open would need more descriptors than the
/// usual hard limit of 20,000).
pub(crate) fn child(count: usize, written: bool) -> io::Result<Vec<String>> {
    let limit = raise_fd_limit(u64::try_from(count).unwrap_or(u64::MAX).saturating_add(64));
    let count = count.min(usize::try_from(limit.saturating_sub(64)).unwrap_or(usize::MAX));
    let msg = [1u8; 64];
    let mut writers = Vec::with_capacity(count);
    let threads0 = thread_count();
    let (rss0, heap0) = (rss_bytes(), heap_bytes());
    for _ in 0..count {
        // This crate's own pipes: exclusive ends, one descriptor per writer once the read end
        // is closed (a std pipe end would be reopened for a description of its own: two).
        let (r, w) = pipewriter::pipe()?;
        let writer = PipeWriter::new(w)?;
        if written {
            writer.write(&msg).map_err(|e| e.into_error())?;
            writer.flush(Duration::from_secs(30))?;
        }
        drop(r);
        writers.push(writer);
    }
    let (rss1, heap1) = (rss_bytes(), heap_bytes());
    let threads1 = thread_count();
    let extra = |a: Option<usize>, b: Option<usize>| Some(b?.saturating_sub(a?));
    let per = |a: Option<u64>, b: Option<u64>| {
        let grown = b?.saturating_sub(a?);
        Some(format!("{:.0}", grown as f64 / count as f64))
    };
    Ok(vec![
        format!("writers={count}"),
        format!("written={written}"),
        format!("threads_before={}", or_unknown(threads0)),
        format!("threads_extra={}", or_unknown(extra(threads0, threads1))),
        format!("rss_per_writer={}", or_unknown(per(rss0, rss1))),
        format!("heap_per_writer={}", or_unknown(per(heap0, heap1))),
    ])
}
