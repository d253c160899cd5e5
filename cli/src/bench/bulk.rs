//! Bulk: 64 KiB writes into a default pipe, to a reader thread and to a child process,
//! pipewriter (copied and not) against a blocking `write_all` loop and tokio's pipe sender.
//! The ways of writing and the destinations here also serve the enlarged-pipe workload.

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use bytes::Bytes;

use super::harness::{run_case, Contender, Metric, Report, Target};
use super::pipes::{
    builder, gated_writer, join_reader, join_sink, low_water, spawn_reader, Reader, LONG,
};
use super::Plan;
use crate::aligned::AlignedBuf;

const GIB: f64 = (1u64 << 30) as f64;

pub(super) const METRICS: [Metric; 1] = [Metric::higher_is_better("GiB/s")];

const PIPEWRITER_SLICE: &str = "pipewriter (&[u8], copied)";
const PIPEWRITER_BYTES: &str = "pipewriter (Bytes, no copy)";
const PIPEWRITER_IO_WRITE: &str = "pipewriter blocking() io::Write write_all";
const STD_BLOCKING: &str = "std blocking write_all";
const TOKIO_SENDER: &str = "tokio pipe::Sender write_all";

/// Who reads the bulk bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sink {
    /// A reader thread on a fresh pipe.
    Thread,
    /// A child process (`pipewriter __sink`) on its stdin.
    Child,
}

/// Where the bulk bytes go: a reader thread on a fresh pipe, or a child's stdin.
enum Dest {
    Thread(OwnedFd, Reader),
    Child(Child),
}

impl Dest {
    fn open(sink: Sink, pipe_size: Option<usize>) -> io::Result<Dest> {
        match sink {
            Sink::Thread => {
                let (r, w) = io::pipe()?;
                if let Some(size) = pipe_size {
                    set_pipe_size(&w, size)?;
                }
                Ok(Dest::Thread(OwnedFd::from(w), spawn_reader(r)))
            }
            Sink::Child => {
                let child = Command::new(std::env::current_exe()?)
                    .arg("__sink")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()?;
                if let (Some(size), Some(stdin)) = (pipe_size, &child.stdin) {
                    set_pipe_size(stdin, size)?;
                }
                Ok(Dest::Child(child))
            }
        }
    }

    /// The write end (taken out of the destination).
    fn take_handle(&mut self) -> io::Result<OwnedFd> {
        match self {
            Dest::Thread(w, _) => {
                let (_, dummy) = io::pipe()?;
                Ok(std::mem::replace(w, OwnedFd::from(dummy)))
            }
            Dest::Child(child) => child
                .stdin
                .take()
                .map(OwnedFd::from)
                .ok_or_else(|| io::Error::other("the child has no stdin pipe")),
        }
    }

    /// Waits until the reader saw EOF after exactly `expected` bytes.
    fn finish(self, expected: u64) -> io::Result<Instant> {
        match self {
            Dest::Thread(w, reader) => {
                drop(w);
                join_reader(reader, expected)
            }
            Dest::Child(child) => join_sink(child, expected),
        }
    }
}

/// Enlarges the pipe `fd` belongs to with `F_SETPIPE_SZ` (Linux only).
fn set_pipe_size(fd: &impl AsFd, size: usize) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
        // SAFETY: F_SETPIPE_SZ takes an int argument; the descriptor is valid for the call.
        let r = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_SETPIPE_SZ, size) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (fd, size);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "F_SETPIPE_SZ is Linux only",
        ))
    }
}

/// The ways a bulk contender writes.
#[derive(Debug, Clone, Copy)]
pub(super) enum BulkWay {
    /// `PipeWriter::write(&[u8])`: one copy into the queue.
    PipewriterSlice,
    /// `PipeWriter::write(Bytes)`: no copy.
    PipewriterBytes,
    /// `write_all` on the blocking adapter, `PipeWriter::blocking()` (W-16).
    PipewriterIoWrite,
    /// A blocking `write_all` loop.
    StdBlocking,
    /// `tokio::net::unix::pipe::Sender::write_all` on a current-thread runtime.
    Tokio,
}

/// The chunk every bulk write sends, as a slice and as `Bytes` (for the no-copy writes).
#[derive(Debug)]
pub(super) struct Source {
    slice: AlignedBuf,
    bytes: Bytes,
}

impl Source {
    /// The chunk as a slice.
    pub(super) fn slice(&self) -> &[u8] {
        &self.slice
    }

    pub(super) fn new(plan: &Plan) -> Source {
        Source {
            slice: AlignedBuf::with_pattern(plan.chunk),
            bytes: Bytes::from_static(AlignedBuf::with_pattern(plan.chunk).leak()),
        }
    }
}

/// One run: the plan's bulk bytes written `way` to `sink`, through a default pipe or one of
/// `pipe_size` bytes. Returns GiB/s from the first write to the reader's end-of-file.
pub(super) fn run_once(
    plan: &Plan,
    sink: Sink,
    pipe_size: Option<usize>,
    way: BulkWay,
    source: &Source,
) -> io::Result<Vec<f64>> {
    let (src, src_bytes) = (&source.slice[..], &source.bytes);
    let count = plan.bulk_bytes / src.len() as u64;
    let total = count * src.len() as u64;
    let mut dest = match (way, sink, pipe_size) {
        // The enlarged pipe of the pipewriter contenders is one the library creates itself.
        (
            BulkWay::PipewriterSlice | BulkWay::PipewriterBytes | BulkWay::PipewriterIoWrite,
            Sink::Thread,
            Some(size),
        ) => {
            let (r, w) = pipewriter::PipeBuilder::new().buffer_size(size).build()?;
            let got = w.buffer_size()?;
            if got < size {
                return Err(io::Error::other(format!(
                    "asked for a {size} B pipe, got {got} B"
                )));
            }
            Dest::Thread(OwnedFd::from(w), spawn_reader(r))
        }
        _ => Dest::open(sink, pipe_size)?,
    };
    let fd = dest.take_handle()?;
    let start;
    match way {
        BulkWay::PipewriterSlice | BulkWay::PipewriterBytes => {
            // Our own pipe ends (a std pipe, a child's stdin): not shared with anyone.
            let (writer, gate) = gated_writer(builder(plan).exclusive(true), fd)?;
            let low = low_water(plan);
            start = Instant::now();
            for _ in 0..count {
                let accepted = match way {
                    BulkWay::PipewriterSlice => writer.write(src).map_err(|e| e.into_error())?,
                    _ => writer
                        .write(src_bytes.clone())
                        .map_err(|e| e.into_error())?,
                };
                if accepted.is_above_high_water() {
                    gate.wait_writable(&writer, low, LONG, || {});
                }
            }
            writer.close(LONG)?;
        }
        BulkWay::PipewriterIoWrite => {
            let writer = builder(plan).exclusive(true).build(fd)?;
            let mut out = writer.blocking().timeout(LONG);
            start = Instant::now();
            for _ in 0..count {
                out.write_all(src)?;
            }
            writer.close(LONG)?;
        }
        BulkWay::StdBlocking => {
            let file = std::fs::File::from(fd);
            start = Instant::now();
            for _ in 0..count {
                (&file).write_all(src)?;
            }
        }
        BulkWay::Tokio => {
            use tokio::io::AsyncWriteExt;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()?;
            start = rt.block_on(async move {
                let mut sender = tokio::net::unix::pipe::Sender::from_owned_fd(fd)?;
                let start = Instant::now();
                for _ in 0..count {
                    sender.write_all(src).await?;
                }
                io::Result::Ok(start)
            })?;
        }
    }
    let end = dest.finish(total)?;
    Ok(vec![
        total as f64 / end.duration_since(start).as_secs_f64() / GIB,
    ])
}

/// The bulk workload: the same contenders to a reader thread, then to a child process.
pub(super) fn run(plan: &Plan, report: &mut Report) -> io::Result<()> {
    for sink in [Sink::Thread, Sink::Child] {
        let source = Source::new(plan);
        let way = |w: BulkWay| {
            let source = &source;
            move || run_once(plan, sink, None, w, source)
        };
        let contenders = vec![
            Contender::new(PIPEWRITER_SLICE, way(BulkWay::PipewriterSlice)),
            Contender::new(PIPEWRITER_BYTES, way(BulkWay::PipewriterBytes)),
            Contender::new(PIPEWRITER_IO_WRITE, way(BulkWay::PipewriterIoWrite)),
            Contender::new(STD_BLOCKING, way(BulkWay::StdBlocking)),
            Contender::new(TOKIO_SENDER, way(BulkWay::Tokio)),
        ];
        let to = match sink {
            Sink::Thread => "a reader thread",
            Sink::Child => "a child process (Rust reader, 128 KiB aligned reads)",
        };
        let title = format!(
            "{} MiB in {} KiB writes into a default pipe, to {to}",
            plan.bulk_bytes >> 20,
            plan.chunk >> 10
        );
        let case = run_case(plan, &title, &METRICS, contenders)?;
        // The blocking adapter replaces a blocking loop: at least as fast. The event-driven
        // writers (a `Writable` gate) may cost a little for never blocking.
        let targets: Vec<Target<'_>> = [
            (PIPEWRITER_IO_WRITE, 1.0),
            (PIPEWRITER_SLICE, 0.95),
            (PIPEWRITER_BYTES, 0.95),
        ]
        .into_iter()
        .flat_map(|(ours, vs_std)| {
            [
                Target::at_least(ours, STD_BLOCKING, 0, vs_std),
                Target::at_least(ours, TOKIO_SENDER, 0, 1.2),
            ]
        })
        .collect();
        report.add(case, &targets);
    }
    Ok(())
}
