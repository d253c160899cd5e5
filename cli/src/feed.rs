//! `pipewriter feed`: copy a file, stdin or generated data into a child's stdin, a FIFO or a
//! named pipe, through a [`PipeWriter`], with a progress bar driven by `Event::Written`.
//!
//! How a run ends decides the exit code (see the table in the crate docs): the copy loop
//! ends with everything written, with the reader gone, or with a failure of ours; then, if
//! there is a command, we wait for it to exit, and a command that failed takes precedence
//! over a reader that went away, so the code never depends on which of the two the system
//! happened to report first.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use pipewriter::{Builder, PipeWriter};

use crate::aligned::fill_pattern;
use crate::output::say;
use crate::size::human_bytes;
use crate::{FeedArgs, EXIT_COMMAND_FAILED, EXIT_FAILURE, EXIT_READER_LEFT, EXIT_USAGE};

/// How often the progress bar is redrawn while the producer waits.
const TICK: Duration = Duration::from_millis(100);
/// How long the pipe may take to drain when it is closed at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// After the reader went away, a command still running after this long is announced (once)
/// while we keep waiting for it.
const STILL_RUNNING_NOTE: Duration = Duration::from_secs(2);

/// Runs `pipewriter feed` and returns its exit code.
pub(crate) fn run(args: &FeedArgs) -> ExitCode {
    let (code, message) = feed(args);
    if let Some(message) = message {
        say!("pipewriter: {message}");
    }
    ExitCode::from(code)
}

/// How the copy loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Copied {
    /// Every byte of the input was written and the pipe closed.
    All,
    /// A write found the reader gone before the input was all written.
    ReaderLeft,
    /// pipewriter itself failed (the message says how).
    Failed(String),
}

/// How the command ended, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CommandEnd {
    /// No command: a FIFO or a named pipe.
    None,
    /// Exited with status 0.
    Succeeded,
    /// Exited with another status or was killed: "exited with status 7".
    Failed(String),
}

/// What is known about the bytes at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    /// Bytes the OS took into the pipe (not necessarily read by the reader).
    written: u64,
    /// Bytes read from the input (or generated) so far.
    read: u64,
    /// The input's size when known up front (a regular file, `--generate`).
    total: Option<u64>,
    /// Whether the input was read to its end.
    input_done: bool,
}

/// `"1 byte was"`, `"7 bytes were"`.
fn bytes_were(n: u64) -> String {
    if n == 1 {
        "1 byte was".into()
    } else {
        format!("{n} bytes were")
    }
}

impl Counts {
    /// What happened to the bytes when the reader went away, saying no more than is known:
    /// the OS took `written` bytes into the pipe, but the reader may have left some of them
    /// in its buffer.
    fn reader_left_text(&self) -> String {
        let mut text = format!("{} written into the pipe", bytes_were(self.written));
        if self.written > 0 {
            text.push_str(" (up to a pipe buffer of them may not have been read)");
        }
        let pending = self.read.saturating_sub(self.written);
        if self.input_done {
            text.push_str(&format!(", {} not", bytes_were(pending)));
        } else if let Some(total) = self.total {
            text.push_str(&format!(
                ", {} not",
                bytes_were(total.saturating_sub(self.written))
            ));
        } else {
            text.push_str(&format!(
                ", {} read from the input but not written, and the rest of the input was not read",
                bytes_were(pending)
            ));
        }
        text
    }
}

/// The exit code and the message (without the `pipewriter: ` prefix; `None` on success).
fn verdict(copied: &Copied, command: &CommandEnd, counts: &Counts) -> (u8, Option<String>) {
    match (copied, command) {
        (Copied::Failed(message), CommandEnd::Failed(how)) => (
            EXIT_FAILURE,
            Some(format!("{message} (and the command {how})")),
        ),
        (Copied::Failed(message), _) => (EXIT_FAILURE, Some(message.clone())),
        (Copied::All, CommandEnd::Failed(how)) => (
            EXIT_COMMAND_FAILED,
            Some(format!(
                "the command {how}; all of its input ({} bytes) had been written into the pipe",
                counts.written
            )),
        ),
        (Copied::ReaderLeft, CommandEnd::Failed(how)) => (
            EXIT_COMMAND_FAILED,
            Some(format!(
                "the command {how} before all its input was written: {}",
                counts.reader_left_text()
            )),
        ),
        (Copied::ReaderLeft, CommandEnd::Succeeded) => (
            EXIT_READER_LEFT,
            Some(format!(
                "the reader went away before all the input was written: {}; the command exited with status 0",
                counts.reader_left_text()
            )),
        ),
        (Copied::ReaderLeft, CommandEnd::None) => (
            EXIT_READER_LEFT,
            Some(format!(
                "the reader went away before all the input was written: {}",
                counts.reader_left_text()
            )),
        ),
        (Copied::All, _) => (0, None),
    }
}

/// "exited with status 7", "was killed by signal 9 (SIGKILL)".
fn describe_status(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                1 => " (SIGHUP)",
                2 => " (SIGINT)",
                3 => " (SIGQUIT)",
                6 => " (SIGABRT)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                13 => " (SIGPIPE)",
                15 => " (SIGTERM)",
                _ => "",
            };
            let core = if status.core_dumped() {
                ", core dumped"
            } else {
                ""
            };
            return format!("was killed by signal {signal}{name}{core}");
        }
    }
    match status.code() {
        // Windows reports crashes as NTSTATUS codes, clearer in hex.
        Some(code) if cfg!(windows) && !(0..=0xFFFF).contains(&code) => {
            format!("exited with status {code} ({:#010X})", code as u32)
        }
        Some(code) => format!("exited with status {code}"),
        None => format!("ended with {status}"),
    }
}

fn failed(context: impl fmt::Display, error: impl fmt::Display) -> String {
    format!("{context}: {error}")
}

/// Where the bytes come from.
enum Source {
    /// A file or stdin, read into one reused buffer; each read's bytes are copied into the
    /// writer's queue, so the queue holds what was read and nothing more.
    Reader { reader: Box<dyn Read>, buf: Vec<u8> },
    /// A repeating pattern, sliced out of one shared block (no copy per chunk).
    Generate { block: Bytes, left: u64 },
    /// A regular file, given to the writer as file ranges (`PipeWriter::write_file`: spliced
    /// from the page cache into the pipe on Linux).
    File { file: File, next: u64, len: u64 },
}

/// One piece of input.
enum Chunk<'a> {
    /// Bytes in the reader's buffer: the writer copies them.
    Slice(&'a [u8]),
    /// A range of the input file, from its start: as much of it as the writer takes.
    File(&'a File, std::ops::Range<u64>),
    /// A slice of the generated block: queued without a copy.
    Shared(Bytes),
}

impl Source {
    fn open(args: &FeedArgs) -> Result<(Source, Option<u64>), String> {
        if let Some(size) = args.generate {
            // `--chunk` is bounded (size::MAX_CHUNK), so this allocation is too.
            let len = usize::try_from(size).map_or(args.chunk, |size| size.min(args.chunk));
            let mut block = vec![0u8; len];
            fill_pattern(&mut block);
            let block = Bytes::from(block);
            return Ok((Source::Generate { block, left: size }, Some(size)));
        }
        let stdin = || Source::Reader {
            reader: Box::new(io::stdin().lock()),
            buf: vec![0u8; args.chunk],
        };
        match args.input.as_deref() {
            None => Ok((stdin(), None)),
            Some(path) if path == Path::new("-") => Ok((stdin(), None)),
            Some(path) => {
                let file = File::open(path).map_err(|e| failed(path.display(), e))?;
                let meta = file.metadata().map_err(|e| failed(path.display(), e))?;
                if meta.is_file() {
                    let len = meta.len();
                    return Ok((Source::File { file, next: 0, len }, Some(len)));
                }
                let source = Source::Reader {
                    reader: Box::new(file),
                    buf: vec![0u8; args.chunk],
                };
                Ok((source, None))
            }
        }
    }

    /// Counts `n` bytes of a [`Chunk::File`] as taken: the next chunk starts after them.
    fn advance(&mut self, n: u64) {
        if let Source::File { next, .. } = self {
            *next += n;
        }
    }

    /// The next piece of input; `None` at the end.
    fn next_chunk(&mut self) -> io::Result<Option<Chunk<'_>>> {
        match self {
            Source::Generate { block, left } => {
                if *left == 0 {
                    return Ok(None);
                }
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(block.len());
                *left -= n as u64;
                Ok(Some(Chunk::Shared(block.slice(..n))))
            }
            Source::File { file, next, len } => {
                if *next >= *len {
                    return Ok(None);
                }
                Ok(Some(Chunk::File(file, *next..*len)))
            }
            Source::Reader { reader, buf } => loop {
                match reader.read(buf) {
                    Ok(0) => return Ok(None),
                    Ok(n) => return Ok(Some(Chunk::Slice(&buf[..n.min(buf.len())]))),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            },
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

/// Refuses, before anything is opened or started, the options this platform does not have.
fn check_platform(args: &FeedArgs) -> Result<(), String> {
    #[cfg(not(unix))]
    if args.fifo.is_some() {
        return Err("--fifo is for Unix FIFOs; on Windows use --pipe NAME".into());
    }
    #[cfg(not(windows))]
    if args.pipe.is_some() {
        return Err("--pipe is for Windows named pipes; on Unix use --fifo PATH".into());
    }
    Ok(())
}

fn feed(args: &FeedArgs) -> (u8, Option<String>) {
    if let Err(message) = check_platform(args) {
        return (EXIT_USAGE, Some(message));
    }
    let (mut source, total) = match Source::open(args) {
        Ok(opened) => opened,
        Err(message) => return (EXIT_FAILURE, Some(message)),
    };
    // No event handler: the thread that waits for room drives the writer itself (W-16).
    let mut builder = Builder::new().high_water(args.high_water);
    if let Some(size) = args.max_write_size {
        builder = builder.max_write_size(size);
    }
    let (writer, mut target) = match open_target(args, builder) {
        Ok(opened) => opened,
        Err(message) => return (EXIT_FAILURE, Some(message)),
    };

    let bar = progress_bar(args.quiet, total);
    let update = || bar.set_position(writer.bytes_written());
    let start = Instant::now();
    let mut read = 0u64;
    let mut input_done = false;
    let copied = (|| -> Copied {
        loop {
            let chunk = match source.next_chunk() {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => return Copied::Failed(failed("reading the input", e)),
            };
            let mut taken = None;
            let result = match chunk {
                Chunk::Slice(data) => {
                    read += data.len() as u64;
                    writer
                        .write(data)
                        .map(|a| a.is_above_high_water())
                        .map_err(|e| e.into_error())
                }
                Chunk::Shared(data) => {
                    read += data.len() as u64;
                    writer
                        .write(data)
                        .map(|a| a.is_above_high_water())
                        .map_err(|e| e.into_error())
                }
                Chunk::File(file, range) => match writer.write_file(file, range, TICK) {
                    Ok(n) => {
                        taken = Some(n);
                        Ok(false)
                    }
                    Err(e) => {
                        taken = Some(e.written());
                        match e.kind() {
                            io::ErrorKind::TimedOut => Ok(false),
                            _ => Err(e.into_error()),
                        }
                    }
                },
            };
            if let Some(n) = taken {
                read += n;
                source.advance(n);
            }
            match result {
                Ok(true) => loop {
                    match writer.wait_for_room(TICK) {
                        Ok(()) => break,
                        Err(e) if e.kind() == io::ErrorKind::TimedOut => update(),
                        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                            return Copied::ReaderLeft
                        }
                        Err(e) => return Copied::Failed(failed("writing", e)),
                    }
                },
                Ok(false) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Copied::ReaderLeft,
                Err(e) => return Copied::Failed(failed("writing", e)),
            }
            update();
        }
        input_done = true;
        loop {
            match writer.flush(TICK) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => update(),
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Copied::ReaderLeft,
                Err(e) => return Copied::Failed(failed("writing", e)),
            }
        }
        match writer.close(CLOSE_TIMEOUT) {
            Ok(()) => Copied::All,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Copied::ReaderLeft,
            Err(e) => Copied::Failed(failed("closing the pipe", e)),
        }
    })();
    let elapsed = start.elapsed();
    update();
    bar.finish_and_clear();
    // Whatever happened, the pipe is closed before we wait for the child; the count is taken
    // once nothing can be written any more.
    drop(writer.stop());
    let counts = Counts {
        written: writer.bytes_written(),
        read,
        total,
        input_done,
    };
    drop(writer);

    let (copied, command) = match &mut target {
        Target::Child(child) => {
            let announce = copied == Copied::ReaderLeft && !args.quiet;
            match wait_child(child, announce) {
                Ok(status) if status.success() => (copied, CommandEnd::Succeeded),
                Ok(status) => (copied, CommandEnd::Failed(describe_status(status))),
                Err(e) => {
                    let message = failed("waiting for the command", e);
                    (Copied::Failed(message), CommandEnd::None)
                }
            }
        }
        #[cfg(unix)]
        Target::Fifo { .. } => (copied, CommandEnd::None),
        #[cfg(windows)]
        Target::NamedPipe => (copied, CommandEnd::None),
    };
    let (code, message) = verdict(&copied, &command, &counts);
    if code == 0 && !args.quiet {
        let bytes = counts.written;
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 { bytes as f64 / secs } else { 0.0 };
        say!(
            "pipewriter: wrote {} ({bytes} bytes) in {secs:.3} s, {}/s",
            human_bytes(bytes),
            human_bytes(rate as u64)
        );
    }
    (code, message)
}

/// Waits for the command to exit, as long as it takes: its status decides the exit code, so
/// deciding before it exited would make the code depend on timing. With `announce`, a
/// command still running after [`STILL_RUNNING_NOTE`] is mentioned once.
fn wait_child(child: &mut Child, announce: bool) -> io::Result<ExitStatus> {
    if !announce {
        return child.wait();
    }
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if start.elapsed() >= STILL_RUNNING_NOTE {
            say!("pipewriter: the command stopped reading its input but is still running; waiting for it to exit");
            return child.wait();
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
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

fn open_target(args: &FeedArgs, builder: Builder) -> Result<(PipeWriter, Target), String> {
    if let Some(cmd) = &args.cmd {
        return open_command(cmd, builder);
    }
    #[cfg(unix)]
    if let Some(path) = &args.fifo {
        return open_fifo(
            path,
            builder,
            args.quiet,
            Duration::from_secs(args.open_timeout),
        );
    }
    #[cfg(windows)]
    if let Some(name) = &args.pipe {
        return open_named_pipe(name, builder, Duration::from_secs(args.open_timeout));
    }
    drop(builder);
    Err("no target: pass --cmd, --fifo or --pipe".into())
}

fn open_command(cmd: &str, builder: Builder) -> Result<(PipeWriter, Target), String> {
    let mut command = shell(cmd);
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .map_err(|e| failed(format!("cannot run `{cmd}`"), e))?;
    let built = match child.stdin.take() {
        Some(stdin) => builder
            .build(stdin)
            .map_err(|e| failed("cannot write to the command's stdin", e)),
        None => Err("the command has no stdin pipe".into()),
    };
    match built {
        Ok(writer) => Ok((writer, Target::Child(child))),
        Err(message) => {
            // It was never fed: stop it rather than leave it running behind us.
            let _ = child.kill();
            let _ = child.wait();
            Err(message)
        }
    }
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
) -> Result<(PipeWriter, Target), String> {
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
    // The library refuses anything that is not a FIFO owned by us (symlinks included) before
    // it opens anything, and then waits for a reader. The end it returns has an open file
    // description of its own, so the writer may make it non-blocking and drive it from the
    // shared reactor (P-3).
    let open = |timeout: Duration| match &created {
        Some(fifo) => fifo.writer(timeout),
        None => Fifo::open_writer(path, timeout),
    };
    let open_error = |e: io::Error| match e.kind() {
        io::ErrorKind::TimedOut => format!(
            "no reader opened {shown} within {} s (see --open-timeout)",
            timeout.as_secs()
        ),
        _ => failed(format!("cannot open {shown}"), e),
    };
    // A first attempt that does not wait: the path is validated, and a reader already there
    // is taken at once. Only a valid FIFO without a reader yet makes us wait (and say so).
    let end = match open(Duration::ZERO) {
        Ok(end) => end,
        Err(e) if e.kind() == io::ErrorKind::TimedOut && !timeout.is_zero() => {
            if !quiet {
                say!("pipewriter: waiting for a reader to open {shown} ...");
            }
            open(timeout).map_err(open_error)?
        }
        Err(e) => return Err(open_error(e)),
    };
    let writer = builder
        .build(end)
        .map_err(|e| failed(format!("cannot write to {shown}"), e))?;
    Ok((writer, Target::Fifo { _cleanup: created }))
}

#[cfg(windows)]
fn open_named_pipe(
    name: &str,
    builder: Builder,
    timeout: Duration,
) -> Result<(PipeWriter, Target), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(written: u64, read: u64, total: Option<u64>, input_done: bool) -> Counts {
        Counts {
            written,
            read,
            total,
            input_done,
        }
    }

    #[test]
    fn the_command_failing_decides_over_the_reader_leaving() {
        let failed = CommandEnd::Failed("exited with status 7".into());
        let c = counts(65536, 262144, Some(1 << 20), false);
        let (code, message) = verdict(&Copied::ReaderLeft, &failed, &c);
        assert_eq!(code, EXIT_COMMAND_FAILED);
        let message = message.unwrap();
        assert!(
            message.starts_with("the command exited with status 7 before all its input"),
            "{message}"
        );
        let (code, _) = verdict(&Copied::All, &failed, &c);
        assert_eq!(code, EXIT_COMMAND_FAILED);
        assert_eq!(
            verdict(&Copied::ReaderLeft, &CommandEnd::Succeeded, &c).0,
            EXIT_READER_LEFT
        );
        assert_eq!(
            verdict(&Copied::ReaderLeft, &CommandEnd::None, &c).0,
            EXIT_READER_LEFT
        );
        assert_eq!(verdict(&Copied::All, &CommandEnd::Succeeded, &c), (0, None));
        assert_eq!(verdict(&Copied::All, &CommandEnd::None, &c), (0, None));
        let ours = Copied::Failed("reading the input: Is a directory".into());
        let (code, message) = verdict(&ours, &failed, &c);
        assert_eq!(code, EXIT_FAILURE);
        assert_eq!(
            message.as_deref(),
            Some("reading the input: Is a directory (and the command exited with status 7)")
        );
        assert_eq!(verdict(&ours, &CommandEnd::Succeeded, &c).0, EXIT_FAILURE);
    }

    #[test]
    fn the_reader_left_message_claims_only_what_is_known() {
        assert_eq!(
            counts(65536, 131072, Some(1 << 20), false).reader_left_text(),
            "65536 bytes were written into the pipe (up to a pipe buffer of them may not \
             have been read), 983040 bytes were not"
        );
        assert_eq!(
            counts(0, 10, None, true).reader_left_text(),
            "0 bytes were written into the pipe, 10 bytes were not"
        );
        assert_eq!(
            counts(1, 5, None, false).reader_left_text(),
            "1 byte was written into the pipe (up to a pipe buffer of them may not have been \
             read), 4 bytes were read from the input but not written, and the rest of the \
             input was not read"
        );
        let (_, message) = verdict(
            &Copied::ReaderLeft,
            &CommandEnd::None,
            &counts(7, 7, Some(9), false),
        );
        assert_eq!(
            message.as_deref(),
            Some(
                "the reader went away before all the input was written: 7 bytes were written \
                 into the pipe (up to a pipe buffer of them may not have been read), 2 bytes \
                 were not"
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn statuses_are_described_with_their_number_or_signal() {
        use std::os::unix::process::ExitStatusExt;
        for (raw, described) in [
            (7 << 8, "exited with status 7"),
            (127 << 8, "exited with status 127"),
            (9, "was killed by signal 9 (SIGKILL)"),
            (64, "was killed by signal 64"),
        ] {
            assert_eq!(describe_status(ExitStatus::from_raw(raw)), described);
        }
    }

    #[cfg(windows)]
    #[test]
    fn statuses_are_described_with_their_number() {
        use std::os::windows::process::ExitStatusExt;
        for (raw, described) in [
            (7, "exited with status 7"),
            (0xC000_0005, "exited with status -1073741819 (0xC0000005)"),
        ] {
            assert_eq!(describe_status(ExitStatus::from_raw(raw)), described);
        }
    }
}
