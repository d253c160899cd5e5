//! The pipes, reader threads and pipewriter writers the workloads share.

use std::io::{self, PipeReader, Read};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use pipewriter::{Builder, PipeWriter};

use super::Plan;
use crate::aligned::AlignedBuf;
use crate::gate::Gate;

/// A reader thread: it returns the byte count and when it saw end-of-file.
pub(super) type Reader = JoinHandle<io::Result<(u64, Instant)>>;

/// How long a writer may take to close or to drain (Wine is far slower than Linux).
pub(super) const LONG: Duration = Duration::from_secs(if cfg!(windows) { 600 } else { 300 });

/// The reader side's buffer, as GNU `cat` uses.
const READ_BUF: usize = 128 << 10;

/// A builder with the tunables of the run.
pub(super) fn builder(plan: &Plan) -> Builder {
    let mut b = Builder::new();
    if let Some(size) = plan.max_write_size {
        b = b.max_write_size(size);
    }
    if let Some(hw) = plan.high_water {
        b = b.high_water(hw);
    }
    b
}

/// The low-water mark that goes with the run's high-water mark (the library's default ratio).
pub(super) fn low_water(plan: &Plan) -> usize {
    plan.high_water.unwrap_or(1 << 20) / 4
}

/// A writer built by `builder` whose producer honours backpressure, and the gate it waits on.
pub(super) fn gated_writer(
    builder: Builder,
    handle: impl pipewriter::IntoPipeHandle,
) -> io::Result<(PipeWriter, Arc<Gate>)> {
    let gate = Gate::new();
    let g = gate.clone();
    let writer = builder
        .on_event(move |event| g.observe(&event))
        .build(handle)?;
    Ok((writer, gate))
}

/// A reader thread: blocking 128 KiB reads into a page-aligned buffer until EOF. Returns
/// the byte count and when EOF was seen.
pub(super) fn spawn_reader(mut reader: PipeReader) -> Reader {
    thread::spawn(move || {
        let mut buf = AlignedBuf::new(READ_BUF);
        let mut total = 0u64;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok((total, Instant::now())),
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A named pipe's client sees "broken pipe" when the server closes: the end.
                #[cfg(windows)]
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    return Ok((total, Instant::now()))
                }
                Err(e) => return Err(e),
            }
        }
    })
}

/// Waits for the reader and checks it got exactly `expected` bytes; returns the EOF time.
pub(super) fn join_reader(reader: Reader, expected: u64) -> io::Result<Instant> {
    let (got, at) = reader
        .join()
        .map_err(|_| io::Error::other("the reader thread panicked"))??;
    if got != expected {
        return Err(io::Error::other(format!(
            "the reader got {got} bytes, expected {expected}"
        )));
    }
    Ok(at)
}

/// Waits for a `pipewriter __sink` child (its stdin closed first) and checks it read exactly
/// `expected` bytes; returns when it exited. The Unix workloads only (bulk, child feeding).
#[cfg(unix)]
pub(super) fn join_sink(mut child: std::process::Child, expected: u64) -> io::Result<Instant> {
    drop(child.stdin.take());
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    let status = child.wait()?;
    let at = Instant::now();
    if !status.success() || out.trim() != expected.to_string() {
        return Err(io::Error::other(format!(
            "the child reader exited with {status} after reporting {:?} bytes, expected {expected}",
            out.trim()
        )));
    }
    Ok(at)
}

/// A fresh default pipe, and a reader thread on its read end.
#[cfg(unix)]
pub(super) fn pipe_to_thread() -> io::Result<(io::PipeWriter, Reader)> {
    let (r, w) = io::pipe()?;
    Ok((w, spawn_reader(r)))
}
