//! The Windows workload of `pipewriter bench` (run under Wine on the project's machines):
//! coalescing 4 KiB writes against a blocking 64 KiB `WriteFile` loop.
//!
//! tokio's `NamedPipeServer` is not a contender yet: driven from this harness it stalled under
//! Wine 8 (a server whose client opened before `connect`), which needs a closer look.
//!
//! Under Wine every pipe I/O is a wineserver round trip (about 100–200 µs), so these figures
//! are relative anchors only, never Windows numbers.

use std::io::{self, Read, Write};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{run_case, Check, Contender, Metric, Plan, Report};
use crate::aligned::AlignedBuf;
use crate::gate::Gate;

const MIB: f64 = (1u64 << 20) as f64;

/// A reader thread: it returns the byte count and when it saw end-of-file.
type Reader = JoinHandle<io::Result<(u64, Instant)>>;
const LONG: Duration = Duration::from_secs(600);

fn spawn_reader(mut reader: impl Read + Send + 'static) -> Reader {
    thread::spawn(move || {
        let mut buf = AlignedBuf::new(128 << 10);
        let mut total = 0u64;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok((total, Instant::now())),
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A named pipe's client sees "broken pipe" when the server closes: the end.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    return Ok((total, Instant::now()))
                }
                Err(e) => return Err(e),
            }
        }
    })
}

fn finish(reader: Reader, expected: u64, start: Instant) -> io::Result<Vec<f64>> {
    let (got, end) = reader
        .join()
        .map_err(|_| io::Error::other("the reader thread panicked"))??;
    if got != expected {
        return Err(io::Error::other(format!(
            "the reader got {got} bytes, expected {expected}"
        )));
    }
    Ok(vec![
        got as f64 / end.duration_since(start).as_secs_f64() / MIB,
    ])
}

fn pipewriter_run(plan: &Plan, total: u64, chunk: usize) -> io::Result<Vec<f64>> {
    let (r, w) = pipewriter::pipe()?;
    let reader = spawn_reader(r);
    let gate = Gate::new();
    let g = gate.clone();
    let mut builder = pipewriter::Builder::new().on_event(move |e| g.observe(&e));
    if let Some(size) = plan.max_write_size {
        builder = builder.max_write_size(size);
    }
    if let Some(hw) = plan.high_water {
        builder = builder.high_water(hw);
    }
    let writer = builder.build(w)?;
    let low = plan.high_water.unwrap_or(1 << 20) / 4;
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
    finish(reader, total, start)
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
    finish(reader, total, start)
}

pub(super) fn run(plan: &Plan, report: &mut Report) -> io::Result<()> {
    // Wine is 10–20x slower per byte than Linux: 64 MiB per run (quick: 16 MiB).
    let total: u64 = if plan.quick { 16 << 20 } else { 64 << 20 };
    let metrics = [Metric {
        name: "MiB/s",
        higher_is_better: true,
    }];
    let contenders = vec![
        Contender::new("pipewriter, 4 KiB writes", || {
            pipewriter_run(plan, total, 4 << 10)
        }),
        Contender::new("blocking WriteFile 64 KiB (anonymous pipe)", || {
            blocking_run(total, 64 << 10)
        }),
        Contender::new("blocking WriteFile 4 KiB (anonymous pipe)", || {
            blocking_run(total, 4 << 10)
        }),
        Contender::new("pipewriter, 64 KiB writes", || {
            pipewriter_run(plan, total, 64 << 10)
        }),
    ];
    let title = format!(
        "Windows: {} MiB through a pipe to a reader thread",
        total >> 20
    );
    let case = run_case(plan, &title, &metrics, contenders)?;
    report.checks.push(Check::ratio(
        &case,
        "pipewriter, 4 KiB writes",
        "blocking WriteFile 64 KiB (anonymous pipe)",
        0,
        true,
        0.9,
    ));
    report.cases.push(case);
    Ok(())
}
