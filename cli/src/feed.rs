//! `pipewriter feed`: copy a file, stdin or generated data into a child's stdin, a FIFO or a
//! named pipe, through a [`PipeWriter`], with a progress bar driven by `Event::Written`.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use pipewriter::{Builder, Event, PipeWriter};

use crate::aligned::fill_pattern;
use crate::gate::Gate;
use crate::size::human_bytes;
use crate::{FeedArgs, EXIT_FAILURE, EXIT_PEER_CLOSED};

/// How often the progress bar is redrawn while the producer waits.
const TICK: Duration = Duration::from_millis(100);

/// Why a feed ended early.
#[derive(Debug)]
enum FeedError {
    /// The reader went away: `written` of `total` bytes reached it.
    PeerClosed {
        written: u64,
        total: Option<u64>,
        read: u64,
        input_done: bool,
        status: Option<ExitStatus>,
    },
    /// The arguments cannot work on this platform or together.
    Usage(String),
    /// Anything else.
    Failed(String),
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::PeerClosed {
                written,
                total,
                read,
                input_done,
                status,
            } => {
                write!(f, "the reader went away after {written}")?;
                match total {
                    Some(total) => write!(f, " of {total} bytes")?,
                    None if *input_done => write!(f, " of {read} bytes")?,
                    None => write!(f, " bytes ({read} read from the input so far)")?,
                }
                if let Some(status) = status {
                    write!(f, "; the command exited with {status}")?;
                }
                Ok(())
            }
            FeedError::Usage(msg) | FeedError::Failed(msg) => f.write_str(msg),
        }
    }
}

fn failed(context: impl fmt::Display, error: impl fmt::Display) -> FeedError {
    FeedError::Failed(format!("{context}: {error}"))
}

/// Runs `pipewriter feed`; the exit code tells success, failure and an early reader apart.
pub(crate) fn run(args: &FeedArgs) -> ExitCode {
    match feed(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pipewriter: {error}");
            ExitCode::from(match error {
                FeedError::PeerClosed { .. } => EXIT_PEER_CLOSED,
                FeedError::Usage(_) => 2,
                FeedError::Failed(_) => EXIT_FAILURE,
            })
        }
    }
}

/// Where the bytes come from.
enum Source {
    Reader(Box<dyn Read>),
    /// A repeating pattern, sliced out of one shared block (no copy per chunk).
    Generate {
        block: Bytes,
        left: u64,
    },
}

impl Source {
    fn open(args: &FeedArgs) -> Result<(Source, Option<u64>), FeedError> {
        if let Some(size) = args.generate {
            let mut block = vec![0u8; args.chunk];
            fill_pattern(&mut block);
            return Ok((
                Source::Generate {
                    block: Bytes::from(block),
                    left: size,
                },
                Some(size),
            ));
        }
        match args.input.as_deref() {
            None => Ok((Source::Reader(Box::new(io::stdin().lock())), None)),
            Some(path) if path == Path::new("-") => {
                Ok((Source::Reader(Box::new(io::stdin().lock())), None))
            }
            Some(path) => {
                let file = File::open(path).map_err(|e| failed(path.display(), e))?;
                let meta = file.metadata().map_err(|e| failed(path.display(), e))?;
                let total = meta.is_file().then_some(meta.len());
                Ok((Source::Reader(Box::new(file)), total))
            }
        }
    }

    /// The next chunk of at most `size` bytes; `None` at the end.
    fn next_chunk(&mut self, size: usize) -> io::Result<Option<Bytes>> {
        match self {
            Source::Generate { block, left } => {
                if *left == 0 {
                    return Ok(None);
                }
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(block.len());
                *left -= n as u64;
                Ok(Some(block.slice(..n)))
            }
            Source::Reader(reader) => {
                let mut buf = vec![0u8; size];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => return Ok(None),
                        Ok(n) => {
                            buf.truncate(n);
                            return Ok(Some(Bytes::from(buf)));
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}

/// What the data goes into, kept for the end of the run.
enum Target {
    Child(Child),
    /// A FIFO; holds the FIFO this run created, which is removed when it is dropped.
    #[cfg(unix)]
    Fifo {
        _cleanup: Option<pipewriter::Fifo>,
    },
    /// A Windows named pipe, as a client.
    #[cfg(windows)]
    NamedPipe,
}

fn feed(args: &FeedArgs) -> Result<(), FeedError> {
    let (mut source, total) = Source::open(args)?;
    let written = Arc::new(AtomicU64::new(0));
    let gate = Gate::new();
    let mut builder = {
        let written = written.clone();
        let gate = gate.clone();
        Builder::new()
            .high_water(args.high_water)
            .on_event(move |event| {
                if let Event::Written(n) = event {
                    written.fetch_add(n, Ordering::Relaxed);
                }
                gate.observe(&event);
            })
    };
    if let Some(size) = args.max_write_size {
        builder = builder.max_write_size(size);
    }
    let (writer, mut target) = open_target(args, builder)?;

    let bar = progress_bar(args.quiet, total);
    let update = || bar.set_position(written.load(Ordering::Relaxed));
    let low_water = args.high_water / 4;
    let start = Instant::now();
    let mut read = 0u64;
    let mut input_done = false;
    let outcome = (|| -> Result<(), FeedError> {
        loop {
            let chunk = match source.next_chunk(args.chunk) {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Err(failed("reading the input", e)),
            };
            read += chunk.len() as u64;
            match writer.write(chunk) {
                Ok(accepted) => {
                    if accepted.is_above_high_water() {
                        gate.wait_writable(&writer, low_water, TICK, update);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Err(peer_closed()),
                Err(e) => return Err(failed("writing", e.error())),
            }
            update();
        }
        input_done = true;
        loop {
            match writer.flush(TICK) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => update(),
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Err(peer_closed()),
                Err(e) => return Err(failed("writing", e)),
            }
        }
        match writer.close(Duration::from_secs(30)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(peer_closed()),
            Err(e) => Err(failed("closing the pipe", e)),
        }
    })();
    let elapsed = start.elapsed();
    let bytes_written = writer.bytes_written();
    update();
    bar.finish_and_clear();
    // Whatever happened, the pipe is closed before we wait for the child.
    drop(writer.stop());
    drop(writer);

    let status = match &mut target {
        Target::Child(child) => Some(
            child
                .wait()
                .map_err(|e| failed("waiting for the command", e))?,
        ),
        #[cfg(unix)]
        Target::Fifo { .. } => None,
        #[cfg(windows)]
        Target::NamedPipe => None,
    };
    let outcome = match outcome {
        Err(FeedError::PeerClosed { .. }) => Err(FeedError::PeerClosed {
            written: bytes_written,
            total,
            read,
            input_done,
            status,
        }),
        Ok(()) => match status {
            Some(status) if !status.success() => Err(FeedError::Failed(format!(
                "all {bytes_written} bytes were written, but the command exited with {status}"
            ))),
            _ => Ok(()),
        },
        other => other,
    };
    if !args.quiet && outcome.is_ok() {
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            bytes_written as f64 / secs
        } else {
            0.0
        };
        eprintln!(
            "pipewriter: wrote {} ({bytes_written} bytes) in {secs:.3} s, {}/s",
            human_bytes(bytes_written),
            human_bytes(rate as u64)
        );
    }
    outcome
}

/// Placeholder: the real figures are filled in by `feed` once the writer is gone.
fn peer_closed() -> FeedError {
    FeedError::PeerClosed {
        written: 0,
        total: None,
        read: 0,
        input_done: false,
        status: None,
    }
}

fn progress_bar(quiet: bool, total: Option<u64>) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::new(total),
            "{spinner} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {bytes} written, {binary_bytes_per_sec}, {elapsed}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn open_target(args: &FeedArgs, builder: Builder) -> Result<(PipeWriter, Target), FeedError> {
    if let Some(cmd) = &args.cmd {
        let mut command = shell(cmd);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .map_err(|e| failed(format!("cannot run `{cmd}`"), e))?;
        let Some(stdin) = child.stdin.take() else {
            return Err(FeedError::Failed("the command has no stdin pipe".into()));
        };
        let writer = builder
            .build(stdin)
            .map_err(|e| failed("cannot write to the command's stdin", e))?;
        return Ok((writer, Target::Child(child)));
    }
    if let Some(path) = &args.fifo {
        return open_fifo(
            path,
            builder,
            args.quiet,
            Duration::from_secs(args.open_timeout),
        );
    }
    if let Some(name) = &args.pipe {
        return open_named_pipe(name, builder, Duration::from_secs(args.open_timeout));
    }
    Err(FeedError::Usage(
        "no target: pass --cmd, --fifo or --pipe".into(),
    ))
}

#[cfg(unix)]
fn shell(cmd: &str) -> Command {
    let mut command = Command::new("sh");
    command.arg("-c").arg(cmd);
    command
}

#[cfg(windows)]
fn shell(cmd: &str) -> Command {
    let mut command = Command::new("cmd");
    command.arg("/c").arg(cmd);
    command
}

#[cfg(unix)]
fn open_fifo(
    path: &Path,
    builder: Builder,
    quiet: bool,
    timeout: Duration,
) -> Result<(PipeWriter, Target), FeedError> {
    use pipewriter::Fifo;

    let shown = path.display();
    // A FIFO this run creates (mode 0600, S-3) is removed again when the run ends.
    let created = match std::fs::symlink_metadata(path) {
        Ok(_) => None,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(
            Fifo::create(path).map_err(|e| failed(format!("cannot create the FIFO {shown}"), e))?,
        ),
        Err(e) => return Err(failed(&shown, e)),
    };
    if !quiet {
        eprintln!("pipewriter: waiting for a reader to open {shown} ...");
    }
    // Refuses anything that is not a FIFO owned by us (symlinks included), and waits for a
    // reader. The end it returns has an open file description of its own, so the writer may
    // make it non-blocking and drive it from the shared reactor (P-3).
    let end = match &created {
        Some(fifo) => fifo.writer(timeout),
        None => Fifo::open_writer(path, timeout),
    };
    let end = end.map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => FeedError::Failed(format!(
            "no reader opened {shown} within {} s (see --open-timeout)",
            timeout.as_secs()
        )),
        _ => failed(format!("cannot open {shown}"), e),
    })?;
    let writer = builder
        .build(end)
        .map_err(|e| failed(format!("cannot write to {shown}"), e))?;
    Ok((writer, Target::Fifo { _cleanup: created }))
}

#[cfg(not(unix))]
fn open_fifo(
    _: &Path,
    _: Builder,
    _: bool,
    _: Duration,
) -> Result<(PipeWriter, Target), FeedError> {
    Err(FeedError::Usage(
        "--fifo is for Unix FIFOs; on Windows use --pipe NAME".into(),
    ))
}

#[cfg(windows)]
fn open_named_pipe(
    name: &str,
    builder: Builder,
    timeout: Duration,
) -> Result<(PipeWriter, Target), FeedError> {
    // A client end (S-2: identification-level impersonation only), overlapped so that the
    // writer drives it with overlapped writes instead of a worker thread.
    let file = pipewriter::NamedPipeClientOptions::new()
        .overlapped(true)
        .open(name, timeout)
        .map_err(|e| failed(format!("cannot open the named pipe {name}"), e))?;
    let writer = builder
        .build(file)
        .map_err(|e| failed(format!("cannot write to the named pipe {name}"), e))?;
    Ok((writer, Target::NamedPipe))
}

#[cfg(not(windows))]
fn open_named_pipe(_: &str, _: Builder, _: Duration) -> Result<(PipeWriter, Target), FeedError> {
    Err(FeedError::Usage(
        "--pipe is for Windows named pipes; on Unix use --fifo PATH".into(),
    ))
}
