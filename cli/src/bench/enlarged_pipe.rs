//! An enlarged pipe: 64 KiB writes into a 1 MiB pipe read by another thread, pipewriter's own
//! (`PipeBuilder::buffer_size`) against a blocking loop on a pipe enlarged with `F_SETPIPE_SZ`
//! and on a default one.

use std::io;

use super::bulk::{self, BulkWay, Sink, Source};
use super::harness::{run_case, Contender, Report, Target};
use super::Plan;

/// The size pipes are enlarged to: the unprivileged maximum on Linux.
const BIG_PIPE: usize = 1 << 20;

const PIPEWRITER_SLICE: &str = "pipewriter (&[u8]), 1 MiB pipe";
const PIPEWRITER_BYTES: &str = "pipewriter (Bytes), 1 MiB pipe";
const STD_BIG: &str = "std blocking, 1 MiB pipe";
const STD_DEFAULT: &str = "std blocking, default pipe";

pub(super) fn run(plan: &Plan, report: &mut Report) -> io::Result<()> {
    let source = Source::new(plan);
    let way = |w: BulkWay, size: Option<usize>| {
        let source = &source;
        move || bulk::run_once(plan, Sink::Thread, size, w, source)
    };
    let big = Some(BIG_PIPE);
    let contenders = vec![
        Contender::new(PIPEWRITER_SLICE, way(BulkWay::PipewriterSlice, big)),
        Contender::new(PIPEWRITER_BYTES, way(BulkWay::PipewriterBytes, big)),
        Contender::new(STD_BIG, way(BulkWay::StdBlocking, big)),
        Contender::new(STD_DEFAULT, way(BulkWay::StdBlocking, None)),
    ];
    let title = format!(
        "{} MiB in {} KiB writes into an enlarged 1 MiB pipe (pipewriter: PipeBuilder::buffer_size; std: F_SETPIPE_SZ), reader thread",
        plan.bulk_bytes >> 20,
        plan.chunk >> 10
    );
    let case = run_case(plan, &title, &bulk::METRICS, contenders)?;
    report.add(
        case,
        &[
            Target::at_least(PIPEWRITER_SLICE, STD_DEFAULT, 0, 2.0),
            Target::at_least(PIPEWRITER_SLICE, STD_BIG, 0, 0.9),
        ],
    );
    Ok(())
}
