//! `pipewriter`: feed data into a pipe without ever blocking the producer, with a progress
//! bar; and `pipewriter bench`, which measures the library against what users would pick
//! instead, side by side in one run.
//!
//! # Exit codes
//!
//! Each code has one meaning, whatever the timing of the reader and of the command:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | everything was written and the pipe closed; the command, if any, exited with status 0 |
//! | 1 | pipewriter itself failed: the input, the FIFO or the named pipe could not be opened or read, the command could not be started, a write failed (other than the reader going away), no reader came within `--open-timeout` |
//! | 2 | bad arguments, refused before anything is opened or started (clap's usage errors, sizes out of range, an option this platform does not have) |
//! | 3 | the reader went away before all the input was written, and the command, if any, exited with status 0 (e.g. `head -c 1000`, or a FIFO reader that left) |
//! | 4 | the command failed: it exited with a non-zero status or was killed by a signal, whether it read all its input or not (a command that does not exist: `sh` exits 127) |
//!
//! When both pipewriter and the command failed, the code is 1 and the message gives the
//! command's status too. pipewriter always waits for the command to exit before it decides
//! (however long it runs after closing its input), so a command that stops reading early and
//! then fails gives 4 every time, never 3.
//!
//! "Written" means that the OS took the bytes into the pipe, not that the reader read them:
//! a reader that leaves while everything already fits in the pipe's buffer is not noticed
//! (code 0 if its command succeeded), and the message of code 3 says how many bytes went into
//! the pipe, up to a pipe buffer of which may never have been read.
//!
//! Sizes: `--chunk` and `--max-write-size` are at most 64 MiB, `--high-water` at most
//! 4 GiB; none of them may be 0. Every message is one line starting with `pipewriter: `,
//! and none of them can make the program panic (write errors on stdout and stderr are
//! ignored).

#![doc(test(attr(deny(warnings))))]
#![warn(rust_2018_idioms)]

mod aligned;
mod bench;
mod feed;
mod gate;
mod output;
mod size;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::output::say;

/// The process exit code of a real failure of pipewriter itself.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// The process exit code of bad arguments.
pub(crate) const EXIT_USAGE: u8 = 2;
/// The process exit code when the reader went away before all the input was written (and
/// the command, if any, succeeded).
pub(crate) const EXIT_READER_LEFT: u8 = 3;
/// The process exit code when the command exited with a non-zero status or was killed.
pub(crate) const EXIT_COMMAND_FAILED: u8 = 4;

/// The exit-code table of `--help`.
const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  everything was written; the command, if any, exited with status 0
  1  pipewriter itself failed (cannot open or read the input, start the command, open
     the FIFO or named pipe, or write for a reason other than the reader going away)
  2  bad arguments (checked before anything is opened or started)
  3  the reader went away before all input was written, and the command, if any,
     exited with status 0
  4  the command failed: it exited with a non-zero status or was killed by a signal
     (pipewriter waits for it before deciding; `sh -c` gives 127 for a missing command)
If pipewriter and the command both failed, the code is 1.";

#[derive(Debug, Parser)]
#[command(
    name = "pipewriter",
    version,
    about = "Write to pipes without blocking: feed data with a progress bar, or benchmark the library.",
    after_help = EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Feed a file, stdin or generated data into a child's stdin, a FIFO or a named pipe.
    #[command(after_help = EXIT_CODES_HELP)]
    Feed(FeedArgs),
    /// Compare pipewriter with std and tokio on this machine; prints a Markdown table.
    Bench(BenchArgs),
    /// Internal: read stdin to the end with page-aligned 128 KiB reads, print the byte count.
    #[command(name = "__sink", hide = true)]
    Sink,
    /// Internal: create many idle writers and report threads and memory (for `bench`).
    #[command(name = "__many-writers", hide = true)]
    ManyWriters {
        /// How many writers.
        #[arg(value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        count: u32,
        /// Write 64 B to each writer (and wait until written) before measuring.
        #[arg(long)]
        written: bool,
    },
}

/// Arguments of `pipewriter feed`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").args(["input", "generate"])))]
#[command(group(clap::ArgGroup::new("target").required(true).args(["cmd", "fifo", "pipe"])))]
pub(crate) struct FeedArgs {
    /// Read the data from this file (`-` or nothing: standard input).
    #[arg(value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
    /// Generate this much test data instead of reading input (e.g. 4k, 64MiB, 1G, 10GB; 0:
    /// no data, the target only sees end-of-file).
    #[arg(long, value_name = "SIZE", value_parser = size::parse_size)]
    pub(crate) generate: Option<u64>,
    /// Run this command (through `sh -c`, or `cmd /c` on Windows) and feed its stdin; its own
    /// output goes to ours.
    #[arg(long, value_name = "COMMAND")]
    pub(crate) cmd: Option<String>,
    /// Feed this FIFO (created with mode 0600, and removed afterwards, if it does not exist).
    #[arg(long, value_name = "PATH")]
    pub(crate) fifo: Option<PathBuf>,
    /// How long to wait for a reader to open the FIFO (or for a free instance of the named
    /// pipe), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub(crate) open_timeout: u64,
    /// Feed this Windows named pipe (as a client, e.g. `\\.\pipe\name` or just `name`).
    #[arg(long, value_name = "NAME")]
    pub(crate) pipe: Option<String>,
    /// Pause reading input while more than this is queued (e.g. 1M, 16MiB; 1 B to 4 GiB).
    /// Memory use stays near this mark plus one chunk, whatever the reader does.
    #[arg(long, value_name = "SIZE", default_value = "4MiB", value_parser = size::parse_high_water)]
    pub(crate) high_water: usize,
    /// Largest single OS write (1 B to 64 MiB; library default: 256 KiB).
    #[arg(long, value_name = "SIZE", value_parser = size::parse_max_write_size)]
    pub(crate) max_write_size: Option<usize>,
    /// Size of each read from the input (1 B to 64 MiB): one buffer of this size is reused
    /// for every read.
    #[arg(long, value_name = "SIZE", default_value = "256KiB", value_parser = size::parse_chunk)]
    pub(crate) chunk: usize,
    /// No progress bar and no summary.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

/// Arguments of `pipewriter bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// A small, fast run (well under a minute on two cores) that still prints the table.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Also write every sample as CSV to this file.
    #[arg(long, value_name = "PATH")]
    pub(crate) csv: Option<PathBuf>,
    /// Also draw the run's ratios to each workload's baseline as an SVG chart in this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) chart: Option<PathBuf>,
    /// Timed repetitions per contender (after one warm-up run each).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) reps: Option<u32>,
    /// Run only these workloads (comma-separated): small, bulk, enlarged, child, latency, many.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub(crate) only: Vec<bench::Workload>,
    /// Messages in the small-write workload (default 10M, quick 1M; 1 to 10^12).
    #[arg(long, value_name = "N", value_parser = size::parse_messages)]
    pub(crate) messages: Option<u64>,
    /// Bytes per bulk run (default 1GiB, quick 128MiB; 64 KiB to 1 TiB).
    #[arg(long, value_name = "SIZE", value_parser = size::parse_bulk)]
    pub(crate) bulk: Option<u64>,
    /// Run only the contenders whose name contains this text (for profiling one of them).
    #[arg(long, value_name = "TEXT")]
    pub(crate) contender: Option<String>,
    /// Tunable for the pipewriter contenders: the largest single OS write (1 B to 64 MiB).
    #[arg(long, value_name = "SIZE", value_parser = size::parse_max_write_size)]
    pub(crate) max_write_size: Option<usize>,
    /// Tunable for the pipewriter contenders: the high-water mark (default: the library's,
    /// 1 MiB; 1 B to 4 GiB).
    #[arg(long, value_name = "SIZE", value_parser = size::parse_high_water)]
    pub(crate) high_water: Option<usize>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    match cli.command {
        Command::Feed(args) => feed::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Sink => bench::sink(),
        Command::ManyWriters { count, written } => {
            bench::many_writers_child(count as usize, written)
        }
    }
}

/// Prints `--help` and `--version` as clap does (to stdout, exit 0), and any other parse
/// error as one line `pipewriter: ...` with exit code 2.
fn usage_error(error: &clap::Error) -> ExitCode {
    if !error.use_stderr()
        || error.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    {
        // Help or version (to stdout, exit 0), or the help for a bare `pipewriter` (to
        // stderr, exit 2), as clap prints them; clap ignores a failed write there.
        let _ = error.print();
        return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE));
    }
    say!("pipewriter: {}", one_line(&error.render().to_string()));
    ExitCode::from(EXIT_USAGE)
}

/// clap's multi-line error as one line: the text before the usage section, its lines joined,
/// the `error: ` prefix dropped, and a pointer to `--help`.
fn one_line(rendered: &str) -> String {
    let body = rendered
        .split("\nUsage:")
        .next()
        .unwrap_or(rendered)
        .split("\nFor more information")
        .next()
        .unwrap_or(rendered);
    let mut line = String::new();
    for part in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    format!("{line} (see --help)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_become_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  \
            <--cmd <COMMAND>|--fifo <PATH>|--pipe <NAME>>\n\nUsage: pipewriter feed \
            <--cmd <COMMAND>|--fifo <PATH>|--pipe <NAME>> [FILE]\n\nFor more information, \
            try '--help'.\n";
        assert_eq!(
            one_line(rendered),
            "the following required arguments were not provided: \
             <--cmd <COMMAND>|--fifo <PATH>|--pipe <NAME>> (see --help)"
        );
        let rendered = "error: unexpected argument '--chunks' found\n\n  tip: a similar \
            argument exists: '--chunk'\n\nUsage: pipewriter feed --chunk <SIZE>\n";
        assert_eq!(
            one_line(rendered),
            "unexpected argument '--chunks' found; tip: a similar argument exists: '--chunk' \
             (see --help)"
        );
    }

    #[test]
    fn every_parse_error_is_a_single_line() {
        for args in [
            &["pipewriter", "feed", "--chunk", "1T", "--cmd", "true"][..],
            &["pipewriter", "feed", "--generate", "1k"][..],
            &["pipewriter", "feed", "--cmd", "true", "--fifo", "x"][..],
            &["pipewriter", "bench", "--only", "everything"][..],
            &["pipewriter", "frobnicate"][..],
        ] {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert!(error.use_stderr(), "{args:?}");
            let line = one_line(&error.render().to_string());
            assert!(!line.contains('\n') && !line.starts_with("error"), "{line}");
            assert!(line.len() > 20, "{line}");
        }
    }
}
