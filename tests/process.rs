//! Child processes fed by a writer (C-1) and `communicate` (C-2), on every platform.
//!
//! The child is the tests' child program, `examples/pipe_child.rs` (see
//! `util::example_exe` for how it is found, and built when missing).

mod util;

use std::process::{Command, Stdio};
use std::time::Duration;

use pipewriter::{Builder, Communicate};
use util::{collect, pattern, pipe_child_command as child};

#[test]
fn c2_communicate_64_mib_in_64_mib_out_1_mib_err_without_deadlock() {
    let input = pattern(1, 64 << 20);
    let output = Communicate::new()
        .timeout(Duration::from_secs(300))
        .run(&mut child(&["copy", "--stderr", "1048576"]), input.clone())
        .expect("communicate");
    assert!(output.status.success(), "status {:?}", output.status);
    assert_eq!(output.stdout.len(), input.len());
    assert!(output.stdout == input, "stdout differs from the input");
    assert_eq!(output.stderr.len(), 1 << 20);
    assert!(output.stderr.iter().all(|&b| b == 0));
}

#[test]
fn c2_child_that_reads_10_bytes_and_exits_is_success() {
    let input = pattern(2, 4 << 20);
    let output = pipewriter::communicate(
        &mut child(&["copy", "10"]),
        &input[..],
        Duration::from_secs(60),
    )
    .expect("an early exit is not an error");
    assert!(output.status.success());
    assert_eq!(output.stdout, &input[..10]);
    assert!(output.stderr.is_empty());
}

#[test]
fn c2_runaway_child_is_stopped_by_the_output_limit() {
    let error = Communicate::new()
        .timeout(Duration::from_secs(120))
        .stdout_limit(1 << 20)
        .run(&mut child(&["forever"]), &b""[..])
        .expect_err("the limit must stop it");
    assert_eq!(error.kind(), std::io::ErrorKind::QuotaExceeded, "{error}");
    assert!(error.to_string().contains("stdout"), "{error}");
    assert!(error.to_string().contains("1048576"), "{error}");
    assert_eq!(
        error.stdout().len(),
        1 << 20,
        "what was collected, up to the limit"
    );
    assert!(error.stdout().iter().all(|&b| b == b'y'));
    // Killed, or ended by the broken pipe when collection stopped: reaped either way.
    assert!(error.status().is_some(), "the child was reaped");
}

#[test]
fn c2_timeout_kills_the_child_and_returns_what_was_collected() {
    let error = Communicate::new()
        .timeout(Duration::from_millis(300))
        .run(&mut child(&["sleep", "60"]), &b"unread"[..])
        .expect_err("the child sleeps past the timeout");
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error}");
    assert!(error.stdout().is_empty());
    assert!(!error.status().expect("reaped").success());
}

#[test]
fn c2_nonzero_exit_is_returned_not_an_error() {
    let output = pipewriter::communicate(
        &mut child(&["exit", "3"]),
        vec![7u8; 1 << 20],
        Duration::from_secs(60),
    )
    .expect("a failing child is not a communicate error");
    assert_eq!(output.status.code(), Some(3));
}

#[test]
fn c2_missing_program_is_a_clear_error_before_anything_runs() {
    let error = pipewriter::communicate(
        &mut Command::new("pipewriter-no-such-program"),
        &b"x"[..],
        Duration::from_secs(5),
    )
    .expect_err("no such program");
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
    assert!(error.status().is_none());
}

#[test]
fn c1_spawn_with_writer_feeds_stdin_and_the_child_sees_eof_on_close() {
    let input = pattern(3, 8 << 20);
    let mut command = child(&["copy"]);
    command.stdout(Stdio::piped());
    let (mut child, writer) =
        pipewriter::spawn_with_writer(&mut command, Builder::new()).expect("spawn");
    let reader = collect(child.stdout.take().expect("piped stdout"));
    for chunk in input.chunks(100_000) {
        writer.write(chunk).expect("queued");
    }
    writer.close(Duration::from_secs(120)).expect("all written");
    let out = reader.join().expect("read the child's stdout");
    assert!(child.wait().expect("wait").success());
    assert_eq!(out.len(), input.len());
    assert!(out == input);
}

#[test]
fn c1_writer_sees_peer_closed_when_the_child_exits_early() {
    let (mut child, writer) =
        pipewriter::spawn_with_writer(&mut child(&["copy", "10"]), Builder::new()).expect("spawn");
    writer.write(vec![1u8; 4 << 20]).expect("queued");
    assert!(child.wait().expect("wait").success());
    let error = writer
        .flush(Duration::from_secs(60))
        .expect_err("the reader went away");
    assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
    assert!(writer.is_peer_closed());
}
