//! Feeding a child: 64 KiB writes through `spawn_with_writer` (its enlarged pipe) against
//! std's `ChildStdin`, and a file through `write_file` (spliced) against std's
//! `io::copy(File, ChildStdin)`. The child is `pipewriter __sink`, which reads 128 KiB at a
//! time and reports its count.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Instant;

use super::bulk::{Source, METRICS};
use super::harness::{run_case, Contender, Report, Target};
use super::pipes::{builder, join_sink, LONG};
use super::Plan;

const GIB: f64 = (1u64 << 30) as f64;

const SPAWN_IO_WRITE: &str = "pipewriter spawn_with_writer, blocking() write_all";
const STD_CHILD_STDIN: &str = "std ChildStdin write_all";
const WRITE_FILE: &str = "pipewriter spawn_with_writer, write_file";
const STD_COPY: &str = "std io::copy(File, ChildStdin)";

fn sink_command() -> io::Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("__sink").stdout(Stdio::piped());
    Ok(command)
}

/// The sink with a std pipe on its stdin, and that pipe's write end.
fn spawn_sink_piped() -> io::Result<(Child, ChildStdin)> {
    let mut child = sink_command()?.stdin(Stdio::piped()).spawn()?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("no stdin"))?;
    Ok((child, stdin))
}

fn gib_per_s(total: u64, start: Instant, end: Instant) -> Vec<f64> {
    vec![total as f64 / end.duration_since(start).as_secs_f64() / GIB]
}

fn spawn_io_write(plan: &Plan, source: &Source) -> io::Result<Vec<f64>> {
    let chunk = source.slice();
    let count = plan.bulk_bytes / chunk.len() as u64;
    let (child, writer) = pipewriter::spawn_with_writer(&mut sink_command()?, builder(plan))?;
    let start = Instant::now();
    let mut out = writer.blocking().timeout(LONG);
    for _ in 0..count {
        out.write_all(chunk)?;
    }
    writer.close(LONG)?;
    let end = join_sink(child, count * chunk.len() as u64)?;
    Ok(gib_per_s(count * chunk.len() as u64, start, end))
}

fn std_child_stdin(plan: &Plan, source: &Source) -> io::Result<Vec<f64>> {
    let chunk = source.slice();
    let count = plan.bulk_bytes / chunk.len() as u64;
    let (child, mut stdin) = spawn_sink_piped()?;
    let start = Instant::now();
    for _ in 0..count {
        stdin.write_all(chunk)?;
    }
    drop(stdin);
    let end = join_sink(child, count * chunk.len() as u64)?;
    Ok(gib_per_s(count * chunk.len() as u64, start, end))
}

/// A scratch file of the run's bulk size, in the page cache once written; removed on drop.
struct InputFile {
    path: PathBuf,
    len: u64,
}

impl InputFile {
    fn new(plan: &Plan, source: &Source) -> io::Result<InputFile> {
        let path =
            std::env::temp_dir().join(format!("pipewriter-bench-{}.bin", std::process::id()));
        let mut file = File::create(&path)?;
        let chunk = source.slice();
        let count = plan.bulk_bytes / chunk.len() as u64;
        for _ in 0..count {
            file.write_all(chunk)?;
        }
        file.sync_all()?;
        Ok(InputFile {
            path,
            len: count * chunk.len() as u64,
        })
    }
}

impl Drop for InputFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write_file(plan: &Plan, input: &InputFile) -> io::Result<Vec<f64>> {
    let file = File::open(&input.path)?;
    let (child, writer) = pipewriter::spawn_with_writer(&mut sink_command()?, builder(plan))?;
    let start = Instant::now();
    writer.write_file(&file, 0..input.len, LONG)?;
    writer.close(LONG)?;
    let end = join_sink(child, input.len)?;
    Ok(gib_per_s(input.len, start, end))
}

fn std_copy(input: &InputFile) -> io::Result<Vec<f64>> {
    let mut file = File::open(&input.path)?;
    let (child, mut stdin) = spawn_sink_piped()?;
    let start = Instant::now();
    io::copy(&mut file, &mut stdin)?;
    drop(stdin);
    let end = join_sink(child, input.len)?;
    Ok(gib_per_s(input.len, start, end))
}

pub(super) fn run(plan: &Plan, report: &mut Report) -> io::Result<()> {
    let source = Source::new(plan);
    let contenders = vec![
        Contender::new(SPAWN_IO_WRITE, || spawn_io_write(plan, &source)),
        Contender::new(STD_CHILD_STDIN, || std_child_stdin(plan, &source)),
    ];
    let title = format!(
        "{} MiB in {} KiB writes into a child's stdin (pipewriter: the pipe spawn_with_writer makes; std: Stdio::piped)",
        plan.bulk_bytes >> 20,
        plan.chunk >> 10
    );
    let case = run_case(plan, &title, &METRICS, contenders)?;
    report.add(
        case,
        &[Target::at_least(SPAWN_IO_WRITE, STD_CHILD_STDIN, 0, 1.5)],
    );

    let input = InputFile::new(plan, &source)?;
    let contenders = vec![
        Contender::new(WRITE_FILE, || write_file(plan, &input)),
        Contender::new(STD_COPY, || std_copy(&input)),
    ];
    let title = format!(
        "a {} MiB file (in the page cache) into a child that reads it",
        input.len >> 20
    );
    let case = run_case(plan, &title, &METRICS, contenders)?;
    report.add(case, &[Target::at_least(WRITE_FILE, STD_COPY, 0, 3.0)]);
    Ok(())
}
