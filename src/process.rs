//! Child processes fed by a writer (C-1) and `communicate` (C-2).

use std::error::Error;
use std::fmt;
use std::io::{self, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::pipe::PipeBuilder;
use crate::writer::{Builder, Payload, PipeWriter};

/// Spawns `command` with a [`PipeWriter`] on its stdin (C-1).
///
/// The pipe is made by [`pipe`](crate::pipe): only its read end reaches the child, as its
/// stdin; our end is never inheritable, so neither this child nor one spawned concurrently
/// by another thread holds it, and the child sees end-of-file as soon as the writer is
/// closed or dropped. The writer is built before the child starts: if that fails, nothing
/// is spawned.
///
/// The command's stdin is set to the pipe for the spawn and then reset to
/// [`Stdio::null`], so that `command` does not keep the read end open in this process (which
/// would keep the child from ever seeing end-of-file, and the writer from seeing the child
/// go away). Its stdout and stderr are left as they were.
///
/// ```no_run
/// use std::process::Command;
/// use std::time::Duration;
///
/// let (mut child, writer) =
///     pipewriter::spawn_with_writer(&mut Command::new("sort"), pipewriter::Builder::new())?;
/// writer.write("b\na\n")?;
/// writer.close(Duration::from_secs(5))?;
/// child.wait()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// An error creating the pipe or the writer, or spawning the child.
pub fn spawn_with_writer(
    command: &mut Command,
    writer: Builder,
) -> io::Result<(Child, PipeWriter)> {
    let (read_end, write_end) = PipeBuilder::new().build()?;
    let writer = writer.build(write_end)?;
    let spawned = command.stdin(read_end).spawn();
    command.stdin(Stdio::null());
    Ok((spawned?, writer))
}

/// Runs `command`, writes `input` to its stdin while collecting its stdout and stderr, and
/// waits for it to exit, for at most `timeout` (C-2). With the default output limits; see
/// [`Communicate`].
///
/// # Errors
/// As [`Communicate::run`].
pub fn communicate(
    command: &mut Command,
    input: impl Payload,
    timeout: Duration,
) -> Result<Output, CommunicateError> {
    Communicate::new().timeout(timeout).run(command, input)
}

/// The default limit on each of stdout and stderr: 256 MiB.
pub const DEFAULT_OUTPUT_LIMIT: usize = 256 << 20;

/// Runs a child, feeds its stdin and collects its output without the classic pipe deadlock
/// (C-2).
///
/// The deadlock: a parent that writes all the input before reading any output blocks as soon
/// as the child, whose output pipe is full, stops reading its input. Here the input goes
/// through a [`PipeWriter`], which never blocks, while one thread per stream drains stdout
/// and stderr.
///
/// - A child that exits without reading all its input is not an error: the rest of the input
///   is dropped, and its output and exit status are returned.
/// - A non-zero exit status is not an error either (as with [`Command::output`]): check
///   [`Output::status`].
/// - Output beyond a limit ([`DEFAULT_OUTPUT_LIMIT`] per stream unless set) kills the child,
///   so a runaway child cannot exhaust memory; the error carries what was collected.
/// - Past the timeout the child is killed, and the error carries what was collected.
///
/// ```no_run
/// use std::process::Command;
/// use std::time::Duration;
/// use pipewriter::Communicate;
///
/// let output = Communicate::new()
///     .timeout(Duration::from_secs(30))
///     .stdout_limit(16 << 20)
///     .run(&mut Command::new("sort"), "b\na\n")?;
/// assert_eq!(output.stdout, b"a\nb\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # A child's children
/// Killing reaches the child only. A grandchild that inherited the child's stdout or stderr
/// (as with `sh -c 'cmd &'`) keeps those pipes open: the run still ends at its timeout or
/// limit, but the thread collecting that stream lives on until the grandchild closes it.
#[derive(Debug, Clone)]
pub struct Communicate {
    timeout: Option<Duration>,
    stdout_limit: usize,
    stderr_limit: usize,
    buffer_size: Option<usize>,
}

impl Default for Communicate {
    fn default() -> Self {
        Communicate::new()
    }
}

/// Which output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// What a collecting thread reports.
#[derive(Debug)]
enum Report {
    /// The stream reached end-of-file, or failed.
    Ended(Stream, io::Result<()>),
    /// The stream went past its limit; the thread stopped reading it.
    OverLimit(Stream),
}

/// One stream's collected bytes, shared with its thread so a failed run can return them.
type Collected = Arc<Mutex<Vec<u8>>>;

impl Communicate {
    /// No timeout, [`DEFAULT_OUTPUT_LIMIT`] on each stream, the default pipe size.
    pub fn new() -> Self {
        Communicate {
            timeout: None,
            stdout_limit: DEFAULT_OUTPUT_LIMIT,
            stderr_limit: DEFAULT_OUTPUT_LIMIT,
            buffer_size: None,
        }
    }

    /// Kill the child when it has not exited and closed its output within `timeout`.
    /// Default: no timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The most bytes of stdout to collect; more kills the child. `usize::MAX` for no limit.
    pub fn stdout_limit(mut self, bytes: usize) -> Self {
        self.stdout_limit = bytes;
        self
    }

    /// The most bytes of stderr to collect; more kills the child. `usize::MAX` for no limit.
    pub fn stderr_limit(mut self, bytes: usize) -> Self {
        self.stderr_limit = bytes;
        self
    }

    /// The buffer size of the stdin pipe; see [`PipeBuilder::buffer_size`].
    pub fn stdin_buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = Some(bytes);
        self
    }

    /// Spawns `command` with its stdin, stdout and stderr connected to this process, writes
    /// `input`, collects the output, and waits for the child to exit.
    ///
    /// `command`'s stdin, stdout and stderr are replaced (stdin is [`Stdio::null`]
    /// afterwards, see [`spawn_with_writer`]).
    ///
    /// # Errors
    /// A [`CommunicateError`] carrying what was collected:
    /// - [`io::ErrorKind::TimedOut`] when the timeout passed (the child was killed);
    /// - [`io::ErrorKind::QuotaExceeded`] when an output went past its limit (the child was
    ///   killed; the output holds the first `limit` bytes);
    /// - the OS error when the pipes or the child could not be created, reading an output
    ///   failed, or writing the input failed for a reason other than the child closing its
    ///   stdin.
    pub fn run(
        &self,
        command: &mut Command,
        input: impl Payload,
    ) -> Result<Output, CommunicateError> {
        let started = Instant::now();
        let deadline = self.timeout.and_then(|t| started.checked_add(t));
        let mut pipe = PipeBuilder::new();
        if let Some(size) = self.buffer_size {
            pipe = pipe.buffer_size(size);
        }
        let (read_end, write_end) = pipe.build().map_err(CommunicateError::bare)?;
        let writer = PipeWriter::new(write_end).map_err(CommunicateError::bare)?;
        let spawned = command
            .stdin(read_end)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        command.stdin(Stdio::null());
        let mut child = spawned.map_err(CommunicateError::bare)?;

        let (reports, receiver) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let mut collected = Vec::new();
        let mut threads = Vec::new();
        let streams = [
            (
                Stream::Stdout,
                self.stdout_limit,
                child.stdout.take().map(box_reader),
            ),
            (
                Stream::Stderr,
                self.stderr_limit,
                child.stderr.take().map(box_reader),
            ),
        ];
        for (stream, limit, source) in streams {
            let buffer = Collected::default();
            collected.push(buffer.clone());
            let Some(source) = source else {
                continue;
            };
            let spawn = spawn_collector(
                stream,
                source,
                limit,
                buffer,
                cancel.clone(),
                reports.clone(),
            );
            match spawn {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    let run = Run {
                        child: &mut child,
                        writer: &writer,
                        cancel: &cancel,
                    };
                    return Err(run.abort(e, &collected));
                }
            }
        }
        drop(reports);
        let run = Run {
            child: &mut child,
            writer: &writer,
            cancel: &cancel,
        };

        // The input goes out in the background; the handle closes (EOF) once it is written.
        if let Err(refused) = writer.write(input) {
            let error = refused.into_error();
            if error.kind() != io::ErrorKind::BrokenPipe {
                return Err(run.abort(error, &collected));
            }
        }
        let _ = writer.close(Duration::ZERO);

        // Both streams must end (or one overflow) within the deadline.
        let mut open_streams = threads.len();
        while open_streams > 0 {
            let report = match deadline {
                None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(deadline) => {
                    receiver.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                }
            };
            match report {
                Ok(Report::Ended(_, Ok(()))) => open_streams -= 1,
                Ok(Report::Ended(stream, Err(e))) => {
                    let what = format!("reading the child's {} failed", stream.name());
                    return Err(run.abort(crate::pipe::context(e, what), &collected));
                }
                Ok(Report::OverLimit(stream)) => {
                    let limit = match stream {
                        Stream::Stdout => self.stdout_limit,
                        Stream::Stderr => self.stderr_limit,
                    };
                    let error = io::Error::new(
                        io::ErrorKind::QuotaExceeded,
                        format!(
                            "the child's {} went past the limit of {limit} bytes; the child was killed",
                            stream.name()
                        ),
                    );
                    return Err(run.abort(error, &collected));
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(run.abort(self.timed_out(), &collected));
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        for thread in threads {
            let _ = thread.join();
        }

        // The output is closed; the child normally exits at about the same time.
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match run.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(run.abort(e, &collected)),
            }
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Err(run.abort(self.timed_out(), &collected));
            }
            thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(50));
        };

        // A child that did not read all its input made the writer see a closed pipe: that is
        // its right. Any other write failure is reported.
        let write_error = writer.error();
        let _ = writer.stop();
        let [stdout, stderr] = take_all(&collected);
        let output = Output {
            status,
            stdout,
            stderr,
        };
        match write_error {
            Some(e) => Err(CommunicateError {
                error: crate::pipe::context(e, "writing the child's input failed".into()),
                stdout: output.stdout,
                stderr: output.stderr,
                status: Some(output.status),
            }),
            None => Ok(output),
        }
    }

    fn timed_out(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the child did not finish within {:?}; it was killed",
                self.timeout.unwrap_or_default()
            ),
        )
    }
}

fn box_reader(source: impl Read + Send + 'static) -> Box<dyn Read + Send> {
    Box::new(source)
}

/// Takes the bytes collected so far for stdout and stderr.
fn take_all(collected: &[Collected]) -> [Vec<u8>; 2] {
    let take = |i: usize| {
        collected
            .get(i)
            .map(|c| std::mem::take(&mut *c.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default()
    };
    [take(0), take(1)]
}

/// A run in progress, for the error paths.
struct Run<'a> {
    child: &'a mut Child,
    writer: &'a PipeWriter,
    cancel: &'a AtomicBool,
}

impl Run<'_> {
    /// Ends the run on `error`: kills and reaps the child, stops the writer, tells the
    /// collecting threads to stop, and returns the error with what was collected.
    fn abort(self, error: io::Error, collected: &[Collected]) -> CommunicateError {
        // kill fails only when the child already exited, which is what we want anyway.
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        let _ = self.writer.stop();
        self.cancel.store(true, Ordering::Release);
        let [stdout, stderr] = take_all(collected);
        CommunicateError {
            error,
            stdout,
            stderr,
            status,
        }
    }
}

/// Starts the thread that collects `stream` into `buffer`, up to `limit` bytes.
fn spawn_collector(
    stream: Stream,
    mut source: Box<dyn Read + Send>,
    limit: usize,
    buffer: Collected,
    cancel: Arc<AtomicBool>,
    reports: mpsc::Sender<Report>,
) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name(format!("pipewriter-{}", stream.name()))
        .spawn(move || {
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                if cancel.load(Ordering::Acquire) {
                    return;
                }
                let n = match source.read(&mut chunk) {
                    Ok(0) => {
                        let _ = reports.send(Report::Ended(stream, Ok(())));
                        return;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = reports.send(Report::Ended(stream, Err(e)));
                        return;
                    }
                };
                let mut buffer = buffer.lock().unwrap_or_else(|e| e.into_inner());
                let room = limit.saturating_sub(buffer.len());
                if n > room {
                    buffer.extend_from_slice(&chunk[..room]);
                    drop(buffer);
                    // Dropping the source on return makes a child still writing see a
                    // broken pipe.
                    let _ = reports.send(Report::OverLimit(stream));
                    return;
                }
                buffer.extend_from_slice(&chunk[..n]);
            }
        })
}

/// A failed [`Communicate::run`]: why, and what the child had written until then (C-2).
pub struct CommunicateError {
    error: io::Error,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Option<ExitStatus>,
}

impl CommunicateError {
    /// An error before the child started: nothing collected.
    fn bare(error: io::Error) -> Self {
        CommunicateError {
            error,
            stdout: Vec::new(),
            stderr: Vec::new(),
            status: None,
        }
    }

    /// Why the run failed.
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The error's kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.error.kind()
    }

    /// What the child wrote to stdout until then (at most the limit).
    pub fn stdout(&self) -> &[u8] {
        &self.stdout
    }

    /// What the child wrote to stderr until then (at most the limit).
    pub fn stderr(&self) -> &[u8] {
        &self.stderr
    }

    /// The child's exit status, when it was started (after a kill, the status of the kill).
    pub fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// The error, the collected stdout and stderr, and the exit status.
    pub fn into_parts(self) -> (io::Error, Vec<u8>, Vec<u8>, Option<ExitStatus>) {
        (self.error, self.stdout, self.stderr, self.status)
    }

    /// Drops the collected output and keeps the error.
    pub fn into_error(self) -> io::Error {
        self.error
    }
}

impl fmt::Debug for CommunicateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommunicateError")
            .field("error", &self.error)
            .field("stdout_len", &self.stdout.len())
            .field("stderr_len", &self.stderr.len())
            .field("status", &self.status)
            .finish()
    }
}

impl fmt::Display for CommunicateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl Error for CommunicateError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

impl From<CommunicateError> for io::Error {
    fn from(e: CommunicateError) -> io::Error {
        e.error
    }
}
