//! The child program of pipewriter's tests, so that they need no outside tools and run the
//! same on Unix and Windows (under Wine too). The tests find it with `util::example_exe`.
//!
//! ```text
//! pipe_child count [LIMIT]            read stdin to the end (at most LIMIT bytes, then exit
//!                                     without reading more), print the byte count
//! pipe_child sha256 [LIMIT]           the same, printing `<hex SHA-256> <byte count>`
//! pipe_child copy [LIMIT] [--stderr N]
//!                                     the same, copying the bytes to stdout; then write N zero
//!                                     bytes to stderr
//! pipe_child forever                  write to stdout until the pipe breaks
//! pipe_child sleep [SECONDS]          sleep without reading stdin (until killed, without
//!                                     SECONDS)
//! pipe_child exit CODE                exit at once with CODE
//! pipe_child exit-flush N             queue N bytes (`x`) for stdout through a `PipeWriter`
//!                                     and return from `main` at once, with an `ExitGuard`
//!                                     (W-20): nothing is lost
//! pipe_child exit-lost N              the same without the guard: what was still queued is
//!                                     lost at exit
//! pipe_child sigpipe-default          (Unix) reset SIGPIPE to the default action (death), then
//!                                     write through a `PipeWriter` into a pipe whose reader is
//!                                     closed; print `survived` if the writer reported the
//!                                     closed peer instead of the process dying (P-4)
//! ```
//!
//! A broken pipe on stdout or stderr ends the program with success: its reader left, which is
//! what `forever` waits for.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use sha2::{Digest, Sha256};

const USAGE: &str = "usage: pipe_child count [LIMIT] | sha256 [LIMIT] | copy [LIMIT] [--stderr N] \
                     | forever | sleep [SECONDS] | exit CODE | exit-flush N | exit-lost N \
                     | sigpipe-default";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((mode, rest)) = args.split_first() else {
        return usage();
    };
    let Some(options) = Options::parse(rest) else {
        return usage();
    };
    let result = match mode.as_str() {
        "count" => read_stdin(options.limit, |_| Ok(()))
            .and_then(|total| writeln!(io::stdout(), "{total}")),
        "sha256" => {
            let mut hasher = Sha256::new();
            read_stdin(options.limit, |chunk| {
                hasher.update(chunk);
                Ok(())
            })
            .and_then(|total| {
                let hex: String = hasher
                    .finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                writeln!(io::stdout(), "{hex} {total}")
            })
        }
        "copy" => copy(options.limit, options.stderr),
        "forever" => forever(),
        "sleep" => {
            match options.limit {
                Some(seconds) => std::thread::sleep(Duration::from_secs(seconds)),
                None => loop {
                    std::thread::sleep(Duration::from_secs(3600));
                },
            }
            Ok(())
        }
        "exit" => match options.limit {
            Some(code) => return ExitCode::from(code as u8),
            None => return usage(),
        },
        "exit-flush" | "exit-lost" => match options.limit {
            Some(n) => exit_right_after_writing(n, mode == "exit-flush"),
            None => return usage(),
        },
        "sigpipe-default" => sigpipe_default(),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipe_child: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// The arguments after the mode: one number (a limit, seconds or an exit code) and
/// `--stderr N`.
struct Options {
    limit: Option<u64>,
    stderr: u64,
}

impl Options {
    fn parse(args: &[String]) -> Option<Options> {
        let mut options = Options {
            limit: None,
            stderr: 0,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if arg == "--stderr" {
                options.stderr = args.next()?.parse().ok()?;
            } else if options.limit.is_none() {
                options.limit = Some(arg.parse().ok()?);
            } else {
                return None;
            }
        }
        Some(options)
    }
}

/// Reads stdin to the end, or `limit` bytes of it and no more, handing each piece to `each`;
/// returns the byte count.
fn read_stdin(
    limit: Option<u64>,
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let limit = limit.unwrap_or(u64::MAX);
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    while total < limit {
        let want = buf
            .len()
            .min((limit - total).try_into().unwrap_or(usize::MAX));
        let n = stdin.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        each(&buf[..n])?;
        total += n as u64;
    }
    Ok(total)
}

fn copy(limit: Option<u64>, stderr_bytes: u64) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    read_stdin(limit, |chunk| stdout.write_all(chunk))?;
    stdout.flush()?;
    let zeros = vec![0u8; 64 * 1024];
    let mut stderr = io::stderr().lock();
    let mut left = stderr_bytes;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        stderr.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    stderr.flush()
}

fn forever() -> io::Result<()> {
    let block = vec![b'y'; 64 * 1024];
    let mut stdout = io::stdout().lock();
    loop {
        stdout.write_all(&block)?;
    }
}

/// Queues `n` bytes for stdout through a lingering `PipeWriter` and returns at once; with
/// `guard`, an `ExitGuard` flushes before the process ends (W-20).
fn exit_right_after_writing(n: u64, guard: bool) -> io::Result<()> {
    let _guard = guard.then(|| pipewriter::ExitGuard::new(Duration::from_secs(60)));
    let writer = pipewriter::PipeWriter::new(stdout_handle()?)?;
    let n = usize::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    writer.write(vec![b'x'; n]).map_err(|e| e.into_error())?;
    Ok(())
}

#[cfg(unix)]
fn stdout_handle() -> io::Result<pipewriter::OwnedPipe> {
    use std::os::fd::AsFd;
    io::stdout().as_fd().try_clone_to_owned()
}

#[cfg(windows)]
fn stdout_handle() -> io::Result<pipewriter::OwnedPipe> {
    use std::os::windows::io::AsHandle;
    io::stdout().as_handle().try_clone_to_owned()
}

#[cfg(unix)]
fn sigpipe_default() -> io::Result<()> {
    // SAFETY: setting a signal's disposition to its default is always valid; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let (reader, writer) = io::pipe()?;
    drop(reader);
    let events_writer = pipewriter::PipeWriter::new(writer)?;
    let events = events_writer.events();
    let _ = events_writer.write(vec![7u8; 1 << 20]);
    loop {
        match events.recv_timeout(Duration::from_secs(10)) {
            Some(pipewriter::Event::PeerClosed { .. }) => break,
            Some(_) => continue,
            None => return Err(io::Error::other("no PeerClosed event")),
        }
    }
    writeln!(io::stdout(), "survived")
}

#[cfg(not(unix))]
fn sigpipe_default() -> io::Result<()> {
    writeln!(io::stdout(), "survived (no SIGPIPE on this platform)")
}
