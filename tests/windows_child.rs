//! A child process's stdin on Windows (P-1 through `std::process::ChildStdin`, which the
//! standard library opens overlapped): large transfers with a digest check, and a child that
//! exits early.
//!
//! The child is this test executable itself, started with an environment variable that makes
//! the test function act as a reader (so no separate program has to be built, which works the
//! same cross-compiled and under Wine).
#![cfg(windows)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use pipewriter::{Builder, Event};
use sha2::{Digest, Sha256};

#[path = "util/windows.rs"]
mod win;

/// Set in the child: read stdin (up to the given number of bytes, or to the end when empty),
/// print `READ <count> <sha256>` and exit.
const CHILD_ENV: &str = "PIPEWRITER_TEST_STDIN_READER";

const PATIENCE: Duration = Duration::from_secs(120);

/// The child's side: never returns.
fn child_reader(limit: &str) -> ! {
    let limit: Option<usize> = limit.parse().ok();
    let mut stdin = std::io::stdin().lock();
    let mut digest = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut count = 0usize;
    loop {
        let want = match limit {
            Some(l) if count >= l => break,
            Some(l) => buf.len().min(l - count),
            None => buf.len(),
        };
        match stdin.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => {
                digest.update(&buf[..n]);
                count += n;
            }
            Err(e) => {
                eprintln!("child: read failed: {e}");
                std::process::exit(3);
            }
        }
    }
    let hex: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // On a line of its own: the test harness has printed "test NAME ... " without a newline.
    println!("\nREAD {count} {hex}");
    std::process::exit(0);
}

/// Starts this executable as a stdin reader running `test` (which must call
/// `child_reader` first thing when `CHILD_ENV` is set).
fn spawn_reader(test: &str, limit: Option<usize>) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, limit.map_or(String::new(), |l| l.to_string()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the reader child")
}

/// The `READ <count> <sha256>` line of the child's output.
fn child_report(mut child: std::process::Child) -> (usize, String) {
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {status:?}, output {out:?}");
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("READ "))
        .unwrap_or_else(|| panic!("no report in the child's output {out:?}"));
    let (count, digest) = line.split_once(' ').unwrap();
    (count.parse().unwrap(), digest.to_string())
}

/// P-1, W-2, W-14: 64 MiB into a child's stdin (a `ChildStdin`, overlapped), in writes of
/// many sizes and kinds; the child's digest matches.
#[test]
fn p1_child_stdin_64mib_digest_matches() {
    if let Ok(limit) = std::env::var(CHILD_ENV) {
        child_reader(&limit);
    }
    const TOTAL: usize = 64 << 20;
    let mut child = spawn_reader("p1_child_stdin_64mib_digest_matches", None);
    let writer = Builder::new()
        .high_water(8 << 20)
        .build(child.stdin.take().unwrap())
        .unwrap();
    let data = win::pattern(64, TOTAL);
    let mut offset = 0;
    let mut size = 1usize;
    while offset < TOTAL {
        let end = (offset + size).min(TOTAL);
        if size.is_multiple_of(2) {
            writer.write(&data[offset..end]).unwrap();
        } else {
            writer.write(data[offset..end].to_vec()).unwrap();
        }
        offset = end;
        size = size * 13 % 1_000_003 + 1;
        while writer.bytes_to_write() > 8 << 20 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    writer.close(PATIENCE).unwrap();
    let (count, digest) = child_report(child);
    assert_eq!(count, TOTAL);
    let expected: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        digest, expected,
        "W-2: the child read exactly what was written"
    );
}

/// E-2, W-6: the child reads 1 MiB and 1,000 bytes, then exits: the writer reports
/// `PeerClosed` quietly with the exact unwritten count, at least what the child read counts as
/// written, and `stop` hands back exactly the unwritten suffix.
#[test]
fn e2_child_exits_early_peer_closed_with_exact_unwritten() {
    const LIMIT: usize = (1 << 20) + 1000;
    if let Ok(limit) = std::env::var(CHILD_ENV) {
        child_reader(&limit);
    }
    const TOTAL: usize = 16 << 20;
    let mut child = spawn_reader(
        "e2_child_exits_early_peer_closed_with_exact_unwritten",
        Some(LIMIT),
    );
    let writer = Builder::new().build(child.stdin.take().unwrap()).unwrap();
    let events = writer.events();
    let data = win::pattern(65, TOTAL);
    writer.write(&data[..]).unwrap();
    let (count, digest) = child_report(child);
    assert_eq!(count, LIMIT);
    let expected: String = Sha256::digest(&data[..LIMIT])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(digest, expected);
    let unwritten = loop {
        match events
            .recv_timeout(PATIENCE)
            .expect("PeerClosed never came")
        {
            Event::PeerClosed { unwritten } => break unwritten,
            Event::Failed { error, .. } => panic!("E-2: a child exiting is not a failure: {error}"),
            _ => {}
        }
    };
    let written = writer.bytes_written() as usize;
    assert_eq!(written + unwritten, TOTAL, "W-6");
    assert!(
        written >= LIMIT,
        "what the child read was written ({written} < {LIMIT})"
    );
    assert!(
        writer.stop().to_vec() == data[written..],
        "W-10: the exact suffix"
    );
}
