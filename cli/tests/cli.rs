//! End-to-end checks of the `pipewriter` binary: exit codes, messages, the bench table.
//!
//! Exit codes under test (see `pipewriter feed --help`): 0 success, 1 a failure of
//! pipewriter itself, 2 bad arguments, 3 the reader went away early (the command, if any,
//! succeeded), 4 the command failed.

use std::io;
#[cfg(unix)]
use std::io::Write;
#[cfg(unix)]
use std::path::Path;
use std::path::PathBuf;
#[cfg(unix)]
use std::process::Child;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_pipewriter");

fn pipewriter(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the pipewriter binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[cfg(unix)]
fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh, empty directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("pipewriter-cli-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every line of stderr is a `pipewriter: ` message; there is exactly one.
fn assert_one_message(out: &Output, context: &str) {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{context}: expected one line, got {err:?}");
    assert!(lines[0].starts_with("pipewriter: "), "{context}: {err:?}");
    assert!(!err.contains("panicked"), "{context}: {err:?}");
}

/// `err` contains each of `parts`.
fn assert_contains(err: &str, context: &str, parts: &[&str]) {
    for part in parts {
        assert!(err.contains(part), "{context}: {part:?} not in {err:?}");
    }
}

/// The run exited with `code` and its stderr contains each of `parts`; returns that stderr.
fn assert_exit(out: &Output, code: i32, context: &str, parts: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{context}: {err}");
    assert_contains(&err, context, parts);
    err
}

/// The run exited with `code` and its stderr is one `pipewriter: ` message containing each
/// of `parts`; returns that stderr.
fn assert_message(out: &Output, code: i32, context: &str, parts: &[&str]) -> String {
    let err = assert_exit(out, code, context, &[]);
    assert_one_message(out, context);
    assert_contains(&err, context, parts);
    err
}

/// Runs the binary with `args` and checks as [`assert_exit`] does; returns its output.
#[cfg(unix)]
fn run_exit(args: &[&str], code: i32, parts: &[&str]) -> Output {
    let out = pipewriter(args);
    assert_exit(&out, code, &format!("{args:?}"), parts);
    out
}

/// Runs the binary with `args` and checks as [`assert_message`] does; returns its stderr.
fn run_message(args: &[&str], code: i32, parts: &[&str]) -> String {
    assert_message(&pipewriter(args), code, &format!("{args:?}"), parts)
}

/// A pipe write end whose read end is already closed: any write to it fails with `EPIPE`
/// (`ERROR_NO_DATA` on Windows), which is what makes `eprintln!` and `println!` panic.
fn broken_pipe() -> io::PipeWriter {
    let (reader, writer) = io::pipe().expect("a pipe");
    drop(reader);
    writer
}

#[cfg(unix)]
#[test]
fn feed_generated_data_to_a_command_reports_the_total() {
    let out = run_exit(
        &["feed", "--generate", "3MiB", "--cmd", "wc -c"],
        0,
        &["wrote 3.00 MiB (3145728 bytes)"],
    );
    assert_eq!(stdout(&out).trim(), "3145728");
}

#[cfg(unix)]
#[test]
fn feed_exits_0_when_the_command_reads_everything_and_succeeds() {
    for input in ["0", "1k", "4MiB"] {
        let err = stderr(&run_exit(
            &["feed", "-q", "--generate", input, "--cmd", "cat >/dev/null"],
            0,
            &[],
        ));
        assert_eq!(err, "", "{input}: quiet means no summary");
    }
}

/// Pulls `N` and `M` out of "N bytes were written into the pipe ..., M bytes were not".
#[cfg(unix)]
fn written_and_not(message: &str) -> (u64, u64) {
    let number_before = |marker: &str| -> u64 {
        let at = message
            .find(marker)
            .unwrap_or_else(|| panic!("{marker:?} in {message:?}"));
        let digits: String = message[..at]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("a number before {marker:?} in {message:?}"))
    };
    (
        number_before(" bytes were written into the pipe"),
        number_before(" bytes were not"),
    )
}

#[cfg(unix)]
#[test]
fn feed_exits_3_when_the_reader_goes_away_early_and_says_only_what_is_known() {
    for _ in 0..5 {
        let err = run_message(
            &[
                "feed",
                "--generate",
                "64MiB",
                "--cmd",
                "head -c 1000 >/dev/null",
            ],
            3,
            &[
                "the reader went away before all the input was written: ",
                "(up to a pipe buffer of them may not have been read)",
                "the command exited with status 0",
            ],
        );
        // The count is what the pipe took, and it is never presented as what was read.
        assert!(!err.contains("went away after"), "{err}");
        assert!(!err.contains("were read by"), "{err}");
        let (written, not_written) = written_and_not(&err);
        assert!(
            written >= 1000,
            "head read 1000 bytes, so at least that many were written: {err}"
        );
        assert_eq!(written + not_written, 64 << 20, "{err}");
    }
}

#[cfg(unix)]
#[test]
fn a_failing_command_gives_4_every_time_whatever_it_read() {
    // More than a pipe buffer: the command's exit is seen as a broken pipe while writing,
    // which used to give 3 or 1 depending on timing.
    for _ in 0..20 {
        run_message(
            &["feed", "--generate", "1MiB", "--cmd", "exit 7"],
            4,
            &["the command exited with status 7 before all its input was written"],
        );
    }
    // A command that reads everything and then fails.
    run_message(
        &[
            "feed",
            "--generate",
            "1k",
            "--cmd",
            "cat >/dev/null; exit 5",
        ],
        4,
        &["the command exited with status 5; all of its input (1024 bytes)"],
    );
}

#[cfg(unix)]
#[test]
fn the_command_is_waited_for_after_it_closed_its_input() {
    let dir = temp_dir("wait");
    let marker = dir.join("done");
    // The command closes its input at once (the writes see a broken pipe), runs on, then
    // runs `then`.
    let feed_closing_early = |then: &str, code: i32, parts: &[&str]| {
        let cmd = format!("exec 0<&-; sleep 0.3; {then}");
        run_exit(
            &["feed", "-q", "--generate", "1MiB", "--cmd", &cmd],
            code,
            parts,
        );
    };
    // Failing: the code comes from its status, not from the broken pipe.
    for _ in 0..3 {
        feed_closing_early(
            "exit 6",
            4,
            &["the command exited with status 6 before all its input"],
        );
    }
    // Succeeding instead gives 3, and only once it is done.
    feed_closing_early(&format!("touch '{}'", marker.display()), 3, &[]);
    assert!(marker.exists(), "pipewriter exited before its command");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_command_that_does_not_exist_gives_4_every_time() {
    // 1 KiB fits in the pipe buffer (the write may succeed before `sh` exits); 1 MiB does not
    // (the write sees a broken pipe). Both must give the same code.
    for input in ["1k", "1MiB"] {
        for _ in 0..20 {
            let err = stderr(&run_exit(
                &[
                    "feed",
                    "-q",
                    "--generate",
                    input,
                    "--cmd",
                    "pipewriter-test-no-such-command",
                ],
                4,
                &[],
            ));
            let ours: Vec<&str> = err
                .lines()
                .filter(|l| l.starts_with("pipewriter: "))
                .collect();
            assert_eq!(ours.len(), 1, "{err}");
            assert!(
                ours[0].contains("the command exited with status 127"),
                "{err}"
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn a_command_killed_by_a_signal_gives_4_with_the_signal() {
    run_message(
        &["feed", "--generate", "1MiB", "--cmd", "kill -9 $$"],
        4,
        &["the command was killed by signal 9 (SIGKILL)"],
    );
}

#[cfg(unix)]
#[test]
fn a_failure_of_pipewriter_itself_gives_1_even_when_the_command_fails_too() {
    let dir = temp_dir("own-failure");
    // Reading a directory fails (EISDIR) after the command started.
    run_message(
        &[
            "feed",
            dir.to_str().unwrap(),
            "--cmd",
            "cat >/dev/null; exit 9",
        ],
        1,
        &[
            "reading the input",
            "(and the command exited with status 9)",
        ],
    );
    // An input that does not exist: refused before the command is started.
    let marker = dir.join("started");
    run_message(
        &[
            "feed",
            dir.join("missing").to_str().unwrap(),
            "--cmd",
            &format!("touch '{}'", marker.display()),
        ],
        1,
        &[],
    );
    assert!(!marker.exists(), "the command must not have been started");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_exit_2_with_one_line_not_a_panic() {
    for args in [
        &["feed", "--generate", "12parsecs", "--cmd", "true"][..],
        &["feed", "--generate", "1k"][..],
        &["feed", "--generate", "1k", "--cmd", "true", "--fifo", "x"][..],
        &["feed", "--chunks", "1k", "--cmd", "true"][..],
        &["bench", "--only", "everything"][..],
        &["frobnicate"][..],
    ] {
        run_message(args, 2, &[]);
    }
}

#[test]
fn absurd_sizes_are_refused_before_anything_is_started() {
    let dir = temp_dir("sizes");
    let marker = dir.join("started");
    // Reads all its input, then leaves a mark that it ran.
    let cmd = if cfg!(windows) {
        format!("more > nul & echo started > \"{}\"", marker.display())
    } else {
        format!("cat >/dev/null; touch '{}'", marker.display())
    };
    let cases: &[(&[&str], &str)] = &[
        (
            &["--chunk", "1T"],
            "the chunk size must be between 1 B and 64.00 MiB",
        ),
        (&["--chunk", "0"], "the chunk size must be between"),
        (&["--chunk", "64.5MiB"], "the chunk size must be between"),
        (&["--chunk", "16777216T"], "is too large"),
        (
            &["--high-water", "1T"],
            "the high-water mark must be between 1 B and 4.00 GiB",
        ),
        (
            &["--high-water", "0"],
            "the high-water mark must be between",
        ),
        (
            &["--max-write-size", "1T"],
            "the largest write must be between 1 B and 64.00 MiB",
        ),
        (
            &["--max-write-size", "0"],
            "the largest write must be between",
        ),
        (&["--generate", "99999999999999999999"], "is too large"),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["feed", "--generate", "1k", "--cmd", &cmd];
        args.extend_from_slice(extra);
        // `--generate` given twice is itself an error: put the tested one alone.
        if extra[0] == "--generate" {
            args.drain(1..3);
        }
        run_message(&args, 2, &[expected]);
        assert!(!marker.exists(), "{extra:?}: the command was started");
    }
    // The largest chunk is accepted (and the marker does appear when the command runs).
    #[cfg(unix)]
    {
        run_exit(
            &[
                "feed",
                "-q",
                "--generate",
                "1k",
                "--chunk",
                "64MiB",
                "--cmd",
                &cmd,
            ],
            0,
            &[],
        );
        assert!(marker.exists());
    }
    // A FIFO is not created either.
    #[cfg(unix)]
    {
        let fifo = dir.join("fifo");
        run_exit(
            &[
                "feed",
                "--generate",
                "1k",
                "--chunk",
                "1T",
                "--fifo",
                fifo.to_str().unwrap(),
            ],
            2,
            &[],
        );
        assert!(!fifo.exists());
    }
    for bench in [
        &["bench", "--bulk", "0"][..],
        &["bench", "--bulk", "2T"][..],
        &["bench", "--messages", "0"][..],
        &["bench", "--messages", "1T"][..],
        &["bench", "--high-water", "5G"][..],
        &["bench", "--max-write-size", "0"][..],
        &["bench", "--reps", "0"][..],
        &["__many-writers", "99999999999999"][..],
    ] {
        run_message(bench, 2, &[]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs the binary with stderr (or stdout) a pipe nobody reads any more.
fn with_broken(args: &[&str], broken_stdout: bool) -> Option<i32> {
    let mut command = Command::new(BIN);
    command.args(args).stdin(Stdio::null());
    if broken_stdout {
        command.stdout(broken_pipe()).stderr(Stdio::null());
    } else {
        command.stderr(broken_pipe()).stdout(Stdio::null());
    }
    command.status().expect("the pipewriter binary runs").code()
}

#[test]
fn a_broken_stderr_or_stdout_never_turns_into_a_panic() {
    // 101 would be a panic: every message must be dropped quietly instead.
    assert_eq!(
        with_broken(&["feed", "--chunk", "0", "--cmd", "x"], false),
        Some(2)
    );
    assert_eq!(with_broken(&["feed", "--generate", "1k"], false), Some(2));
    assert_eq!(with_broken(&["--help"], true), Some(0));
    assert_eq!(with_broken(&["feed", "--help"], true), Some(0));
    assert_eq!(with_broken(&["--version"], true), Some(0));
}

#[cfg(unix)]
#[test]
fn a_broken_stderr_keeps_the_documented_exit_codes_of_feed() {
    let dir = temp_dir("broken-stderr");
    let file = dir.join("regular");
    std::fs::write(&file, b"not a fifo").unwrap();
    for (args, code) in [
        // The summary line of a successful run.
        (
            &["feed", "--generate", "1MiB", "--cmd", "cat >/dev/null"][..],
            0,
        ),
        (
            &[
                "feed",
                "--generate",
                "4MiB",
                "--cmd",
                "head -c 1000 >/dev/null",
            ][..],
            3,
        ),
        (&["feed", "--generate", "1MiB", "--cmd", "exit 7"][..], 4),
        (
            &["feed", "--generate", "1k", "--fifo", file.to_str().unwrap()][..],
            1,
        ),
    ] {
        assert_eq!(with_broken(args, false), Some(code), "{args:?}");
    }
    // Stdout of the internal sink (the bench's child reader).
    let mut sink = Command::new(BIN)
        .arg("__sink")
        .stdin(Stdio::piped())
        .stdout(broken_pipe())
        .spawn()
        .unwrap();
    sink.stdin.take().unwrap().write_all(b"some bytes").unwrap();
    assert_eq!(sink.wait().unwrap().code(), Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn feed_refuses_a_path_that_is_not_a_fifo_without_waiting_for_a_reader() {
    let dir = temp_dir("not-a-fifo");
    let file = dir.join("regular");
    std::fs::write(&file, b"precious").unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    for (path, what) in [
        (&file, "a regular file"),
        (&dir, "a directory"),
        (&link, "a symbolic link"),
    ] {
        let err = run_message(
            &[
                "feed",
                "--generate",
                "1k",
                "--fifo",
                path.to_str().unwrap(),
                "--open-timeout",
                "1",
            ],
            1,
            &[&format!("is {what}, not a FIFO")],
        );
        assert!(!err.contains("waiting for a reader"), "{err}");
    }
    // No reader and no time to wait: a plain timeout, without announcing a wait.
    let fifo = dir.join("fifo");
    run_message(
        &[
            "feed",
            "--generate",
            "1k",
            "--fifo",
            fifo.to_str().unwrap(),
            "--open-timeout",
            "0",
        ],
        1,
        &["no reader opened"],
    );
    assert!(!fifo.exists(), "the FIFO it created is removed");
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts `pipewriter feed ARGS` in the background: no stdin, no stdout, stderr piped.
#[cfg(unix)]
fn spawn_feed(args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("feed")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `path` exists (the binary creates the FIFO).
#[cfg(unix)]
fn wait_for(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[cfg(unix)]
#[test]
fn feed_a_fifo_it_creates_and_exit_3_when_its_reader_leaves() {
    use std::io::Read;
    let dir = temp_dir("fifo");
    let fifo = dir.join("f");
    let child = spawn_feed(&["--generate", "3MiB", "--fifo", fifo.to_str().unwrap()]);
    wait_for(&fifo);
    let mut data = Vec::new();
    std::fs::File::open(&fifo)
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0, "fifo read to the end", &[]);
    assert_eq!(data.len(), 3 << 20);
    assert!(!fifo.exists(), "the FIFO it created is removed");

    // A reader that reads a little and leaves: no command, so 3.
    let child = spawn_feed(&[
        "-q",
        "--generate",
        "64MiB",
        "--fifo",
        fifo.to_str().unwrap(),
    ]);
    wait_for(&fifo);
    let mut reader = std::fs::File::open(&fifo).unwrap();
    let mut some = [0u8; 1000];
    reader.read_exact(&mut some).unwrap();
    drop(reader);
    let out = child.wait_with_output().unwrap();
    let err = assert_message(&out, 3, "fifo reader left", &[]);
    assert!(!err.contains("the command"), "{err}");
    let (written, not_written) = written_and_not(&err);
    assert!(written >= 1000, "{err}");
    assert_eq!(written + not_written, 64 << 20, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Peak resident memory of process `pid`, from `/proc/<pid>/status` (Linux only).
#[cfg(target_os = "linux")]
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or_else(|| panic!("VmHWM in {status}"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number in {line:?}"));
    kib << 10
}

/// A descriptor number another thread keeps open, for [`pipe_pending`].
#[cfg(target_os = "linux")]
#[derive(Clone, Copy)]
struct RawFd(std::os::fd::RawFd);

#[cfg(target_os = "linux")]
impl std::os::fd::AsRawFd for RawFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

/// Bytes waiting in the pipe `fd` (`FIONREAD` works on either end of a Linux pipe).
#[cfg(target_os = "linux")]
fn pipe_pending(fd: &impl std::os::fd::AsRawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD stores one int through the pointer, which points to `n`; the
    // descriptor is open for the duration of the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(r, 0, "FIONREAD: {}", io::Error::last_os_error());
    usize::try_from(n).unwrap_or(0)
}

/// How long the CLI must leave a piece of stdin unread before we take it as stopped at the
/// high-water mark. Too short only means less pressure (the reader then drains less), never a
/// wrong result.
#[cfg(target_os = "linux")]
const STALLED: std::time::Duration = std::time::Duration::from_millis(100);

/// Waits until the CLI took everything from its stdin pipe; false if it left bytes there
/// for `limit`.
#[cfg(target_os = "linux")]
fn taken_within(stdin: &impl std::os::fd::AsRawFd, limit: std::time::Duration) -> bool {
    let since = std::time::Instant::now();
    while pipe_pending(stdin) > 0 {
        if since.elapsed() > limit {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
    true
}

/// Feeds the CLI's stdin in pieces of `piece` bytes, each one read alone (the next is
/// written once the CLI took the previous one), into a FIFO whose reader is the test itself.
/// The reader reads only while the CLI is stopped at the high-water mark, until the CLI
/// reads again: the queue fills to the high-water mark and drains to the low-water mark
/// `cycles` times, so its memory is released and used again, as with a slow consumer.
/// Returns the CLI's peak resident memory.
#[cfg(target_os = "linux")]
fn peak_memory_feeding_stdin(name: &str, piece: usize, chunk: &str, cycles: usize) -> u64 {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = temp_dir(name);
    let fifo = dir.join("f");
    let mut child = Command::new(BIN)
        .args(["feed", "-q", "--high-water", "4MiB", "--chunk", chunk])
        .arg("--fifo")
        .arg(&fifo)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdin = child.stdin.take().unwrap();
    wait_for(&fifo);
    // The producer holds the pipe open until the reader has no more use for this number.
    let stdin_fd = RawFd(stdin.as_raw_fd());
    let (drain, drain_rx) = mpsc::channel::<bool>();
    let (drained, drained_rx) = mpsc::channel::<()>();
    let reader = {
        let mut file = std::fs::File::open(&fifo).unwrap();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 << 10];
            let mut total = 0usize;
            let mut read_block = |total: &mut usize| -> bool {
                let n = file.read(&mut buf).expect("reading the FIFO");
                *total += n;
                n > 0
            };
            // `true`: read until the CLI takes its stdin again; `false`: read to the end.
            for until_resumed in drain_rx {
                if !until_resumed {
                    while read_block(&mut total) {}
                    return total;
                }
                while pipe_pending(&stdin_fd) > 0 && read_block(&mut total) {}
                drained.send(()).unwrap();
            }
            total
        })
    };
    let mut stdin = stdin;
    let piece_data = vec![b'p'; piece];
    let mut produced = 0usize;
    for _ in 0..cycles {
        // Fill: until the CLI stops taking its input (it is above the high-water mark).
        assert!(
            taken_within(&stdin, Duration::from_secs(60)),
            "the CLI never read its input again"
        );
        loop {
            stdin.write_all(&piece_data).unwrap();
            produced += piece;
            if !taken_within(&stdin, STALLED) {
                break;
            }
        }
        // Drain: the reader reads until the CLI takes its input again.
        drain.send(true).unwrap();
        drained_rx.recv().unwrap();
    }
    assert!(taken_within(&stdin, Duration::from_secs(60)));
    // Everything was read from stdin; the process is still running (stdin is open).
    let peak = vm_hwm(pid);
    drop(stdin);
    drain.send(false).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0, name, &[]);
    assert_eq!(reader.join().unwrap(), produced);
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!(
        "{name}: {produced} bytes in {piece} B pieces, chunk {chunk}: peak resident memory {} KiB",
        peak >> 10
    );
    peak
}

/// Stdin arriving in small pieces used to cost a whole chunk-sized allocation per piece
/// (a 256 KiB buffer kept alive for 4 KiB of data), so a queue at the high-water mark held
/// many times the mark in memory. The CLI now reuses one read buffer and queues only the
/// bytes read, so its peak resident memory stays near the high-water mark, whatever the
/// read sizes: 4 KiB reads with the default chunk, and 64 KiB reads with a 4 MiB chunk
/// (a piece the library would queue without copying).
///
/// Linux only: it reads `VmHWM` from `/proc/<pid>/status` and uses `FIONREAD` on the pipe.
#[cfg(target_os = "linux")]
#[test]
fn stdin_in_small_pieces_keeps_memory_near_the_high_water_mark() {
    const HIGH_WATER: u64 = 4 << 20;
    let bound = HIGH_WATER + (32 << 20);
    for (name, piece, chunk) in [
        ("memory-4k", 4 << 10, "256KiB"),
        ("memory-64k", 64 << 10, "4MiB"),
    ] {
        let peak = peak_memory_feeding_stdin(name, piece, chunk, 4);
        assert!(
            peak < bound,
            "{name}: peak resident memory {} MiB, expected under {} MiB",
            peak >> 20,
            bound >> 20
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn bench_prints_a_markdown_table_and_csv() {
    let dir = temp_dir("bench");
    let csv = dir.join("bench.csv");
    let out = run_exit(
        &[
            "bench",
            "--quick",
            "--reps",
            "1",
            "--only",
            "latency,many",
            "--csv",
            csv.to_str().unwrap(),
        ],
        0,
        &[],
    );
    let table = stdout(&out);
    assert!(
        table.contains("| std blocking ping, std echo thread |"),
        "{table}"
    );
    assert!(
        table.contains("| workload | target | measured | met |"),
        "{table}"
    );
    assert!(table.contains("10000 writers"), "{table}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(
        csv.starts_with("case,contender,metric,rep,value\n"),
        "{csv}"
    );
    assert!(csv.contains(",p50 µs,0,"), "{csv}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A regular file goes in as file ranges (`write_file`, spliced on Linux): every byte, and the
/// exact counts when the reader leaves early.
#[cfg(unix)]
#[test]
fn feed_a_regular_file_delivers_it_exactly_and_counts_a_reader_that_leaves() {
    let dir = temp_dir("file-input");
    let path = dir.join("input.bin");
    let data: Vec<u8> = (0..(24u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &data).unwrap();
    let copy = dir.join("copy.bin");
    let cmd = format!("cat > '{}'", copy.display());
    let input = path.to_str().unwrap();
    run_exit(&["feed", "-q", "--cmd", &cmd, input], 0, &[]);
    assert!(std::fs::read(&copy).unwrap() == data, "the copy differs");

    let err = run_message(
        &["feed", "--cmd", "head -c 1000 >/dev/null", input],
        3,
        &["the reader went away before all the input was written: "],
    );
    let (written, not_written) = written_and_not(&err);
    assert!(written >= 1000, "{err}");
    assert_eq!(written + not_written, data.len() as u64, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
