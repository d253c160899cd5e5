//! The Linux/Unix workloads of `pipewriter bench`.

use std::io::{self, PipeReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pipewriter::{Builder, PipeWriter};

use super::{run_case, Check, Contender, Metric, Plan, Report, Workload};
use crate::aligned::AlignedBuf;
use crate::gate::Gate;
use crate::output::say;

const GIB: f64 = (1u64 << 30) as f64;

/// A reader thread: it returns the byte count and when it saw end-of-file.
type Reader = JoinHandle<io::Result<(u64, Instant)>>;
const LONG: Duration = Duration::from_secs(300);
/// The reader side's buffer, as GNU `cat` uses.
const READ_BUF: usize = 128 << 10;
/// The size `F_SETPIPE_SZ` enlarges pipes to: the unprivileged maximum on Linux.
const BIG_PIPE: usize = 1 << 20;

pub(super) fn run(plan: &Plan, workloads: &[Workload]) -> io::Result<Report> {
    let mut report = Report::default();
    for w in workloads {
        match w {
            Workload::Small => small(plan, &mut report)?,
            Workload::Bulk => {
                bulk(plan, &mut report, Sink::Thread)?;
                bulk(plan, &mut report, Sink::Child)?;
            }
            Workload::Enlarged => enlarged(plan, &mut report)?,
            Workload::Latency => latency(plan, &mut report)?,
            Workload::Many => many(plan, &mut report)?,
        }
    }
    Ok(report)
}

/// A builder with the tunables of the run.
fn builder(plan: &Plan) -> Builder {
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
fn low_water(plan: &Plan) -> usize {
    plan.high_water.unwrap_or(1 << 20) / 4
}

/// A writer whose producer honours backpressure, and the gate it waits on.
fn gated_writer(
    plan: &Plan,
    handle: impl pipewriter::IntoPipeHandle,
) -> io::Result<(PipeWriter, Arc<Gate>)> {
    let gate = Gate::new();
    let g = gate.clone();
    let writer = builder(plan)
        .on_event(move |event| g.observe(&event))
        .build(handle)?;
    Ok((writer, gate))
}

fn set_pipe_size(fd: &impl AsFd, size: usize) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
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

/// A reader thread: blocking 128 KiB reads into a page-aligned buffer until EOF. Returns
/// the byte count and when EOF was seen.
fn spawn_reader(reader: PipeReader) -> Reader {
    thread::spawn(move || {
        let mut buf = AlignedBuf::new(READ_BUF);
        let mut total = 0u64;
        loop {
            match (&reader).read(&mut buf) {
                Ok(0) => return Ok((total, Instant::now())),
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    })
}

/// Waits for the reader and checks it got exactly `expected` bytes; returns the EOF time.
fn join_reader(reader: Reader, expected: u64) -> io::Result<Instant> {
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

fn pipe_to_thread(size: Option<usize>) -> io::Result<(io::PipeWriter, Reader)> {
    let (r, w) = io::pipe()?;
    if let Some(size) = size {
        set_pipe_size(&w, size)?;
    }
    Ok((w, spawn_reader(r)))
}

// ---------------------------------------------------------------------------------------------
// 10 M × 64 B

fn small(plan: &Plan, report: &mut Report) -> io::Result<()> {
    let n = plan.messages;
    let n_sys = plan.syscall_messages;
    let metrics = [
        Metric {
            name: "M msg/s",
            higher_is_better: true,
        },
        Metric {
            name: "producer ns/msg",
            higher_is_better: false,
        },
    ];
    let msg: [u8; 64] = *b"pipewriter bench message 0123456789 abcdefghijklmnopqrstuvwxyz.\n";
    let result = |n: u64, start: Instant, produced: Instant, end: Instant| {
        let e2e = end.duration_since(start).as_secs_f64();
        let prod = produced.duration_since(start).as_secs_f64();
        vec![n as f64 / e2e / 1e6, prod * 1e9 / n as f64]
    };
    let pw = |backpressure: bool| {
        move || -> io::Result<Vec<f64>> {
            let (w, reader) = pipe_to_thread(None)?;
            let (writer, gate) = gated_writer(plan, w)?;
            let low = low_water(plan);
            let start = Instant::now();
            for _ in 0..n {
                let accepted = writer.write(&msg).map_err(|e| e.into_error())?;
                if backpressure && accepted.is_above_high_water() {
                    gate.wait_writable(&writer, low, LONG, || {});
                }
            }
            let produced = Instant::now();
            writer.close(LONG)?;
            let end = join_reader(reader, n * 64)?;
            Ok(result(n, start, produced, end))
        }
    };
    let contenders = vec![
        Contender::new("pipewriter", pw(false)),
        Contender::new("pipewriter, waits at high-water", pw(true)),
        Contender::new("std BufWriter 8 KiB", || {
            let (w, reader) = pipe_to_thread(None)?;
            let start = Instant::now();
            let mut bw = io::BufWriter::new(w);
            for _ in 0..n {
                bw.write_all(&msg)?;
            }
            bw.flush()?;
            let produced = Instant::now();
            drop(bw);
            let end = join_reader(reader, n * 64)?;
            Ok(result(n, start, produced, end))
        }),
        Contender::new("tokio BufWriter 8 KiB<pipe::Sender>", || {
            use tokio::io::AsyncWriteExt;
            let (w, reader) = pipe_to_thread(None)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()?;
            let fd = OwnedFd::from(w);
            let (start, produced) = rt.block_on(async move {
                let sender = tokio::net::unix::pipe::Sender::from_owned_fd(fd)?;
                let start = Instant::now();
                let mut bw = tokio::io::BufWriter::new(sender);
                for _ in 0..n {
                    bw.write_all(&msg).await?;
                }
                bw.flush().await?;
                io::Result::Ok((start, Instant::now()))
            })?;
            let end = join_reader(reader, n * 64)?;
            Ok(result(n, start, produced, end))
        }),
        Contender::new(format!("one write(2) per message ({n_sys} msgs)"), || {
            let (w, reader) = pipe_to_thread(None)?;
            let start = Instant::now();
            for _ in 0..n_sys {
                (&w).write_all(&msg)?;
            }
            let produced = Instant::now();
            drop(w);
            let end = join_reader(reader, n_sys * 64)?;
            Ok(result(n_sys, start, produced, end))
        }),
    ];
    let title = format!("{n} writes of 64 B into a default pipe, reader thread");
    let case = run_case(plan, &title, &metrics, contenders)?;
    let syscall = format!("one write(2) per message ({n_sys} msgs)");
    report.checks.push(Check::ratio(
        &case,
        "pipewriter",
        "std BufWriter 8 KiB",
        0,
        true,
        1.0,
    ));
    report.checks.push(Check::ratio(
        &case,
        "pipewriter",
        "tokio BufWriter 8 KiB<pipe::Sender>",
        0,
        true,
        2.0,
    ));
    report
        .checks
        .push(Check::ratio(&case, "pipewriter", &syscall, 0, true, 25.0));
    report.checks.push(Check::ratio(
        &case,
        "pipewriter, waits at high-water",
        "std BufWriter 8 KiB",
        0,
        true,
        1.0,
    ));
    report.checks.push(Check::ratio(
        &case,
        "pipewriter",
        "std BufWriter 8 KiB",
        1,
        false,
        1.3,
    ));
    report.cases.push(case);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 1 GiB in 64 KiB writes

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    Thread,
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
                let (w, reader) = pipe_to_thread(pipe_size)?;
                Ok(Dest::Thread(OwnedFd::from(w), reader))
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
            Dest::Child(mut child) => {
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
        }
    }
}

/// The ways a bulk contender writes.
#[derive(Debug, Clone, Copy)]
enum BulkWay {
    /// `PipeWriter::write(&[u8])`: one copy into the queue.
    PipewriterSlice,
    /// `PipeWriter::write(Bytes)`: no copy.
    PipewriterBytes,
    /// A blocking `write_all` loop.
    StdBlocking,
    /// `tokio::net::unix::pipe::Sender::write_all` on a current-thread runtime.
    Tokio,
}

fn bulk_run(
    plan: &Plan,
    sink: Sink,
    pipe_size: Option<usize>,
    way: BulkWay,
    src: &[u8],
    src_bytes: &Bytes,
) -> io::Result<Vec<f64>> {
    let count = plan.bulk_bytes / src.len() as u64;
    let total = count * src.len() as u64;
    let mut dest = match (way, sink, pipe_size) {
        // The enlarged pipe of the pipewriter contenders is one the library creates itself.
        (BulkWay::PipewriterSlice | BulkWay::PipewriterBytes, Sink::Thread, Some(size)) => {
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
            let b = builder(plan).exclusive(true);
            let gate = Gate::new();
            let g = gate.clone();
            let writer = b.on_event(move |e| g.observe(&e)).build(fd)?;
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

fn bulk(plan: &Plan, report: &mut Report, sink: Sink) -> io::Result<()> {
    let src = AlignedBuf::with_pattern(plan.chunk);
    let src_bytes = Bytes::from_static(AlignedBuf::with_pattern(plan.chunk).leak());
    let metrics = [Metric {
        name: "GiB/s",
        higher_is_better: true,
    }];
    let way = |w: BulkWay| {
        let (src, src_bytes) = (&src, &src_bytes);
        move || bulk_run(plan, sink, None, w, src, src_bytes)
    };
    let contenders = vec![
        Contender::new("pipewriter (&[u8], copied)", way(BulkWay::PipewriterSlice)),
        Contender::new("pipewriter (Bytes, no copy)", way(BulkWay::PipewriterBytes)),
        Contender::new("std blocking write_all", way(BulkWay::StdBlocking)),
        Contender::new("tokio pipe::Sender write_all", way(BulkWay::Tokio)),
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
    let case = run_case(plan, &title, &metrics, contenders)?;
    for ours in ["pipewriter (&[u8], copied)", "pipewriter (Bytes, no copy)"] {
        report.checks.push(Check::ratio(
            &case,
            ours,
            "std blocking write_all",
            0,
            true,
            1.0,
        ));
        report.checks.push(Check::ratio(
            &case,
            ours,
            "tokio pipe::Sender write_all",
            0,
            true,
            1.2,
        ));
    }
    report.cases.push(case);
    Ok(())
}

fn enlarged(plan: &Plan, report: &mut Report) -> io::Result<()> {
    let src = AlignedBuf::with_pattern(plan.chunk);
    let src_bytes = Bytes::from_static(AlignedBuf::with_pattern(plan.chunk).leak());
    let metrics = [Metric {
        name: "GiB/s",
        higher_is_better: true,
    }];
    let way = |w: BulkWay, size: Option<usize>| {
        let (src, src_bytes) = (&src, &src_bytes);
        move || bulk_run(plan, Sink::Thread, size, w, src, src_bytes)
    };
    let big = Some(BIG_PIPE);
    let contenders = vec![
        Contender::new(
            "pipewriter (&[u8]), 1 MiB pipe",
            way(BulkWay::PipewriterSlice, big),
        ),
        Contender::new(
            "pipewriter (Bytes), 1 MiB pipe",
            way(BulkWay::PipewriterBytes, big),
        ),
        Contender::new("std blocking, 1 MiB pipe", way(BulkWay::StdBlocking, big)),
        Contender::new(
            "std blocking, default pipe",
            way(BulkWay::StdBlocking, None),
        ),
    ];
    let title = format!(
        "{} MiB in {} KiB writes into an enlarged 1 MiB pipe (pipewriter: PipeBuilder::buffer_size; std: F_SETPIPE_SZ), reader thread",
        plan.bulk_bytes >> 20,
        plan.chunk >> 10
    );
    let case = run_case(plan, &title, &metrics, contenders)?;
    report.checks.push(Check::ratio(
        &case,
        "pipewriter (&[u8]), 1 MiB pipe",
        "std blocking, default pipe",
        0,
        true,
        2.0,
    ));
    report.checks.push(Check::ratio(
        &case,
        "pipewriter (&[u8]), 1 MiB pipe",
        "std blocking, 1 MiB pipe",
        0,
        true,
        0.9,
    ));
    report.cases.push(case);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ping-pong

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ping_pong(plan: &Plan, ours: bool) -> io::Result<Vec<f64>> {
    let (a_r, a_w) = io::pipe()?;
    let (b_r, b_w) = io::pipe()?;
    let echo = thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 64];
        loop {
            match (&a_r).read_exact(&mut buf) {
                Ok(()) => (&b_w).write_all(&buf)?,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    });
    let msg = [7u8; 64];
    let mut back = [0u8; 64];
    let total = plan.warm_rounds + plan.rounds;
    let mut rtts = Vec::with_capacity(plan.rounds);
    if ours {
        let writer = builder(plan).build(a_w)?;
        for i in 0..total {
            let t = Instant::now();
            writer.write(&msg).map_err(|e| e.into_error())?;
            (&b_r).read_exact(&mut back)?;
            if i >= plan.warm_rounds {
                rtts.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        writer.close(LONG)?;
    } else {
        for i in 0..total {
            let t = Instant::now();
            (&a_w).write_all(&msg)?;
            (&b_r).read_exact(&mut back)?;
            if i >= plan.warm_rounds {
                rtts.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        drop(a_w);
    }
    echo.join()
        .map_err(|_| io::Error::other("the echo thread panicked"))??;
    rtts.sort_by(f64::total_cmp);
    Ok(vec![percentile(&rtts, 0.5), percentile(&rtts, 0.99)])
}

fn latency(plan: &Plan, report: &mut Report) -> io::Result<()> {
    let metrics = [
        Metric {
            name: "p50 µs",
            higher_is_better: false,
        },
        Metric {
            name: "p99 µs",
            higher_is_better: false,
        },
    ];
    let contenders = vec![
        Contender::new("pipewriter ping, std echo thread", || ping_pong(plan, true)),
        Contender::new("std blocking ping, std echo thread", || {
            ping_pong(plan, false)
        }),
    ];
    let title = format!(
        "64 B ping-pong round trip over two default pipes, {} round trips per run",
        plan.rounds
    );
    let case = run_case(plan, &title, &metrics, contenders)?;
    report.checks.push(Check::ratio(
        &case,
        "pipewriter ping, std echo thread",
        "std blocking ping, std echo thread",
        0,
        false,
        1.1,
    ));
    report.checks.push(Check::ratio(
        &case,
        "pipewriter ping, std echo thread",
        "std blocking ping, std echo thread",
        1,
        false,
        1.1,
    ));
    report.cases.push(case);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Many writers

/// Runs `__many-writers` in a fresh process and returns its `key=value` lines.
fn many_child(count: usize, written: bool) -> io::Result<String> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("__many-writers").arg(count.to_string());
    if written {
        command.arg("--written");
    }
    let output = command.stderr(Stdio::inherit()).output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "__many-writers exited with {}",
            output.status
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn many(plan: &Plan, report: &mut Report) -> io::Result<()> {
    say!(
        "bench: {} writers, each on its own pipe (in fresh processes)",
        plan.writers
    );
    let idle = many_child(plan.writers, false)?;
    let used = many_child(plan.writers, true)?;
    let get = |text: &str, key: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('=')?.trim().parse().ok())
    };
    let n = get(&idle, "writers").unwrap_or(f64::NAN);
    let title = format!("{n} writers, each on its own pipe");
    let check = |target: &str, measured: Option<f64>, bound: f64, unit: &'static str| Check {
        workload: title.clone(),
        target: target.to_owned(),
        measured,
        at_least: false,
        bound,
        unit,
    };
    for (text, when) in [
        (&idle, "never written to"),
        (&used, "after one 64 B write each, drained"),
    ] {
        report.checks.push(check(
            &format!("background threads, writers {when} ≤ 2"),
            get(text, "threads_extra"),
            2.0,
            " threads",
        ));
        report.checks.push(check(
            &format!("heap per writer (mallinfo2), {when} ≤ 4096 B"),
            get(text, "heap_per_writer"),
            4096.0,
            " B",
        ));
        report.checks.push(check(
            &format!("RSS per writer, {when} ≤ 4096 B"),
            get(text, "rss_per_writer"),
            4096.0,
            " B",
        ));
    }
    for (text, when) in [(&idle, "idle"), (&used, "after a write")] {
        report.notes.push(format!(
            "Many writers ({when}), raw figures: {}",
            text.lines().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(())
}

fn count_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap_bytes() -> u64 {
    // SAFETY: mallinfo2 has no preconditions; it only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks as u64
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_bytes() -> u64 {
    0
}

/// Raises the soft descriptor limit (and the hard one, where allowed) to at least `need`.
fn raise_fd_limit(need: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur >= need {
        return lim.rlim_cur;
    }
    let want = libc::rlimit {
        rlim_cur: need,
        rlim_max: lim.rlim_max.max(need),
    };
    // SAFETY: `want` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
        return need;
    }
    let soft = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: `soft` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) } == 0 {
        return lim.rlim_max;
    }
    lim.rlim_cur
}

/// The body of `pipewriter __many-writers N [--written]`: `count` writers, each on its own
/// pipe, then the process's extra threads and memory per writer. With `written`, each writer
/// first writes 64 B and waits until they are written; the read end is then closed, so that
/// only one descriptor per writer stays open (10,000 pipes with both ends open would need
/// more descriptors than the usual hard limit of 20,000).
pub(crate) fn many_writers(count: usize, written: bool) -> io::Result<Vec<String>> {
    let limit = raise_fd_limit(u64::try_from(count).unwrap_or(u64::MAX).saturating_add(64));
    let count = count.min(usize::try_from(limit.saturating_sub(64)).unwrap_or(usize::MAX));
    let msg = [1u8; 64];
    let mut writers = Vec::with_capacity(count);
    let threads0 = count_threads();
    let (rss0, heap0) = (rss_bytes(), heap_bytes());
    for _ in 0..count {
        // This crate's own pipes: exclusive ends, one descriptor per writer once the read end
        // is closed (a std pipe end would be reopened for a description of its own: two).
        let (r, w) = pipewriter::pipe()?;
        let writer = PipeWriter::new(w)?;
        if written {
            writer.write(&msg).map_err(|e| e.into_error())?;
            writer.flush(Duration::from_secs(30))?;
        }
        drop(r);
        writers.push(writer);
    }
    let (rss1, heap1) = (rss_bytes(), heap_bytes());
    let threads1 = count_threads();
    let per = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / count as f64;
    Ok(vec![
        format!("writers={count}"),
        format!("written={written}"),
        format!("threads_before={threads0}"),
        format!("threads_extra={}", threads1.saturating_sub(threads0)),
        format!("rss_per_writer={:.0}", per(rss0, rss1)),
        format!("heap_per_writer={:.0}", per(heap0, heap1)),
    ])
}
