//! Latency: 64-byte ping-pong round trips over two default pipes with an echo thread,
//! pipewriter's ping against a blocking `write_all`.

use std::io::{self, Read, Write};
use std::thread;
use std::time::Instant;

use super::harness::{run_case, Contender, Metric, Report, Target};
use super::pipes::{builder, LONG};
use super::Plan;

const PIPEWRITER: &str = "pipewriter ping, std echo thread";
const STD_BLOCKING: &str = "std blocking ping, std echo thread";

const METRICS: [Metric; 2] = [
    Metric::lower_is_better("p50 µs"),
    Metric::lower_is_better("p99 µs"),
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One run: the plan's warm-up and timed round trips, pinged through pipewriter (`ours`) or
/// a blocking write. Returns the p50 and p99 round trip in µs.
fn ping_pong(plan: &Plan, ours: bool) -> io::Result<Vec<f64>> {
    let (a_r, a_w) = io::pipe()?;
    let (b_r, b_w) = io::pipe()?;
    let echo = thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 64];
        loop {
            match (&a_r).read_exact(&mut buf) {
                Ok(()) => (&b_w).write_all(&buf)?,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    });
    let msg = [7u8; 64];
    let mut back = [0u8; 64];
    let total = plan.warm_rounds + plan.rounds;
    let mut rtts = Vec::with_capacity(plan.rounds);
    if ours {
        let writer = builder(plan).build(a_w)?;
        for i in 0..total {
            let t = Instant::now();
            writer.write(&msg).map_err(|e| e.into_error())?;
            (&b_r).read_exact(&mut back)?;
            if i >= plan.warm_rounds {
                rtts.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        writer.close(LONG)?;
    } else {
        for i in 0..total {
            let t = Instant::now();
            (&a_w).write_all(&msg)?;
            (&b_r).read_exact(&mut back)?;
            if i >= plan.warm_rounds {
                rtts.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        drop(a_w);
    }
    echo.join()
        .map_err(|_| io::Error::other("the echo thread panicked"))??;
    rtts.sort_by(f64::total_cmp);
    Ok(vec![percentile(&rtts, 0.5), percentile(&rtts, 0.99)])
}

pub(super) fn run(plan: &Plan, report: &mut Report) -> io::Result<()> {
    let contenders = vec![
        Contender::new(PIPEWRITER, || ping_pong(plan, true)),
        Contender::new(STD_BLOCKING, || ping_pong(plan, false)),
    ];
    let title = format!(
        "64 B ping-pong round trip over two default pipes, {} round trips per run",
        plan.rounds
    );
    let case = run_case(plan, &title, &METRICS, contenders)?;
    report.add(
        case,
        &[
            Target::at_most(PIPEWRITER, STD_BLOCKING, 0, 1.1),
            Target::at_most(PIPEWRITER, STD_BLOCKING, 1, 1.1),
        ],
    );
    Ok(())
}
