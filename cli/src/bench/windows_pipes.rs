//! The Windows workload (run under Wine on the project's machines): coalescing 4 KiB writes
//! against a blocking 64 KiB `WriteFile` loop, through an anonymous pipe to a reader thread;
//! and 64 KiB writes through the pipe ends the crate creates, outbound only (a
//! `pipewriter::pipe()` end, an outbound-only `NamedPipeServer`) against a duplex
//! `NamedPipeServer`, which can read its own buffer quota: the outbound-only ends learn it
//! from their creator (P-7) and should keep up.
//!
//! tokio's `NamedPipeServer` is not a contender yet: driven from this harness it stalled under
//! Wine 8 (a server whose client opened before `connect`), which needs a closer look.
//!
//! Under Wine every pipe I/O is a wineserver round trip (about 100–200 µs), so these figures
//! are relative anchors only, never Windows numbers.

use std::io::{self, Write};
use std::os::windows::io::OwnedHandle;
use std::time::Instant;

use pipewriter::{NamedPipeClientOptions, NamedPipeServerBuilder};

use super::harness::{run_case, Contender, Metric, Report, Target};
use super::pipes::{builder, gated_writer, join_reader, low_water, spawn_reader, Reader, LONG};
use super::Plan;
use crate::aligned::AlignedBuf;

const MIB: f64 = (1u64 << 20) as f64;

const PIPEWRITER_4K: &str = "pipewriter, 4 KiB writes";
const PIPEWRITER_64K: &str = "pipewriter, 64 KiB writes";
const BLOCKING_64K: &str = "blocking WriteFile 64 KiB (anonymous pipe)";
const BLOCKING_4K: &str = "blocking WriteFile 4 KiB (anonymous pipe)";
const SERVER_OUTBOUND: &str = "pipewriter, 64 KiB writes, outbound-only NamedPipeServer";
const SERVER_DUPLEX: &str = "pipewriter, 64 KiB writes, duplex NamedPipeServer";

const METRICS: [Metric; 1] = [Metric::higher_is_better("MiB/s")];

/// Waits for the reader to see all `total` bytes; returns MiB/s since `start`.
fn throughput(reader: Reader, total: u64, start: Instant) -> io::Result<Vec<f64>> {
    let end = join_reader(reader, total)?;
    Ok(vec![
        total as f64 / end.duration_since(start).as_secs_f64() / MIB,
    ])
}

fn pipewriter_run(plan: &Plan, total: u64, chunk: usize) -> io::Result<Vec<f64>> {
    let (r, w) = pipewriter::pipe()?;
    let reader = spawn_reader(r);
    gated_feed(plan, w, reader, total, chunk)
}

/// `total` bytes in `chunk`-byte writes through a pipewriter on `handle`, pausing at the
/// high-water mark until `Writable`, to `reader`.
fn gated_feed(
    plan: &Plan,
    handle: impl pipewriter::IntoPipeHandle,
    reader: Reader,
    total: u64,
    chunk: usize,
) -> io::Result<Vec<f64>> {
    let (writer, gate) = gated_writer(builder(plan), handle)?;
    let low = low_water(plan);
    let src = AlignedBuf::with_pattern(chunk);
    let start = Instant::now();
    for _ in 0..total / chunk as u64 {
        let accepted = writer.write(&src[..]).map_err(|e| e.into_error())?;
        if accepted.is_above_high_water() {
            gate.wait_writable(&writer, low, LONG, || {});
        }
    }
    writer.close(LONG)?;
    drop(writer);
    throughput(reader, total, start)
}

/// Like `pipewriter_run` with 64 KiB writes, through a `NamedPipeServer` of this crate
/// (outbound only, or duplex) to a reader thread on its client end.
fn server_run(plan: &Plan, total: u64, duplex: bool) -> io::Result<Vec<f64>> {
    let chunk = 64 << 10;
    let name = format!(
        r"\\.\pipe\pipewriter-bench-{}-{}",
        std::process::id(),
        if duplex { "duplex" } else { "outbound" }
    );
    let server = NamedPipeServerBuilder::new()
        .access_inbound(duplex)
        .create(&name)?;
    let client = NamedPipeClientOptions::new()
        .read(true)
        .write(false)
        .open(&name, LONG)?;
    server.connect(LONG)?;
    let reader = spawn_reader(io::PipeReader::from(OwnedHandle::from(client)));
    gated_feed(plan, server, reader, total, chunk)
}

fn blocking_run(total: u64, chunk: usize) -> io::Result<Vec<f64>> {
    let (r, mut w) = io::pipe()?;
    let reader = spawn_reader(r);
    let src = AlignedBuf::with_pattern(chunk);
    let start = Instant::now();
    for _ in 0..total / chunk as u64 {
        w.write_all(&src)?;
    }
    drop(w);
    throughput(reader, total, start)
}

pub(super) fn run(plan: &Plan, report: &mut Report) -> io::Result<()> {
    // Wine is 10–20x slower per byte than Linux: 64 MiB per run (quick: 16 MiB).
    let total: u64 = if plan.quick { 16 << 20 } else { 64 << 20 };
    let contenders = vec![
        Contender::new(PIPEWRITER_4K, || pipewriter_run(plan, total, 4 << 10)),
        Contender::new(BLOCKING_64K, || blocking_run(total, 64 << 10)),
        Contender::new(BLOCKING_4K, || blocking_run(total, 4 << 10)),
        Contender::new(PIPEWRITER_64K, || pipewriter_run(plan, total, 64 << 10)),
        Contender::new(SERVER_OUTBOUND, || server_run(plan, total, false)),
        Contender::new(SERVER_DUPLEX, || server_run(plan, total, true)),
    ];
    let title = format!(
        "Windows: {} MiB through a pipe to a reader thread",
        total >> 20
    );
    let case = run_case(plan, &title, &METRICS, contenders)?;
    report.add(
        case,
        &[
            Target::at_least(PIPEWRITER_4K, BLOCKING_64K, 0, 0.9),
            // The crate's own outbound-only ends write as much per call as a duplex end (P-7).
            Target::at_least(PIPEWRITER_64K, SERVER_DUPLEX, 0, 0.9),
            Target::at_least(SERVER_OUTBOUND, SERVER_DUPLEX, 0, 0.9),
        ],
    );
    Ok(())
}
