//! `pipewriter`: feed data into a pipe without ever blocking the producer, with a progress
//! bar; and `pipewriter bench`, which measures the library against what users would pick
//! instead, side by side in one run.
//!
//! Exit codes: 0 success; 1 a real failure; 2 bad arguments; 3 the reader went away before
//! everything was written.

mod aligned;
mod bench;
mod feed;
mod gate;
mod size;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The process exit code when the reader went away before all the input was written.
pub(crate) const EXIT_PEER_CLOSED: u8 = 3;
/// The process exit code of a real failure.
pub(crate) const EXIT_FAILURE: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "pipewriter",
    version,
    about = "Write to pipes without blocking: feed data with a progress bar, or benchmark the library.",
    after_help = "Exit codes: 0 success, 1 failure, 2 bad arguments, 3 the reader went away before all input was written."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Feed a file, stdin or generated data into a child's stdin, a FIFO or a named pipe.
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
        count: usize,
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
    /// Generate this much test data instead of reading input (e.g. 4k, 64MiB, 1G, 10GB).
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
    /// Pause reading input while more than this is queued (e.g. 1M, 16MiB).
    #[arg(long, value_name = "SIZE", default_value = "4MiB", value_parser = size::parse_nonzero_usize)]
    pub(crate) high_water: usize,
    /// Largest single OS write (library default: 256 KiB).
    #[arg(long, value_name = "SIZE", value_parser = size::parse_nonzero_usize)]
    pub(crate) max_write_size: Option<usize>,
    /// Size of each read from the input.
    #[arg(long, value_name = "SIZE", default_value = "256KiB", value_parser = size::parse_nonzero_usize)]
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
    /// Timed repetitions per contender (after one warm-up run each).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) reps: Option<u32>,
    /// Run only these workloads (comma-separated): small, bulk, enlarged, latency, many.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub(crate) only: Vec<bench::Workload>,
    /// Messages in the small-write workload (default 10M, quick 1M).
    #[arg(long, value_name = "N", value_parser = size::parse_size)]
    pub(crate) messages: Option<u64>,
    /// Bytes per bulk run (default 1GiB, quick 128MiB).
    #[arg(long, value_name = "SIZE", value_parser = size::parse_size)]
    pub(crate) bulk: Option<u64>,
    /// Run only the contenders whose name contains this text (for profiling one of them).
    #[arg(long, value_name = "TEXT")]
    pub(crate) contender: Option<String>,
    /// Tunable for the pipewriter contenders: the largest single OS write.
    #[arg(long, value_name = "SIZE", value_parser = size::parse_nonzero_usize)]
    pub(crate) max_write_size: Option<usize>,
    /// Tunable for the pipewriter contenders: the high-water mark (default: the library's, 1 MiB).
    #[arg(long, value_name = "SIZE", value_parser = size::parse_nonzero_usize)]
    pub(crate) high_water: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Feed(args) => feed::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Sink => bench::sink(),
        Command::ManyWriters { count, written } => bench::many_writers_child(count, written),
    }
}
