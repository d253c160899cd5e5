//! A child process's stdin on Windows (P-1 through `std::process::ChildStdin`, which the
//! standard library opens overlapped): large transfers with a digest check, and a child that
//! exits early.
//!
//! The child is the tests' child program, `examples/pipe_child.rs`, reading its stdin with
//! `sha256 [LIMIT]`: build the examples first under Wine (`cargo build --examples --target
//! x86_64-pc-windows-gnu`).
#![cfg(windows)]

mod util;

use std::io::Read;
use std::time::Duration;

use pipewriter::Builder;
use util::{pattern, sha256_hex, WINE_PATIENCE};

/// A child that reads its stdin (up to `limit` bytes, or to the end), then prints the count
/// and digest of what it read.
fn spawn_reader(limit: Option<usize>) -> std::process::Child {
    match limit {
        Some(limit) => util::pipe_child(&["sha256", &limit.to_string()]),
        None => util::pipe_child(&["sha256"]),
    }
}

/// The count and SHA-256 of what the child read, from its `<sha256> <count>` line.
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
    let (digest, count) = out
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("no report in the child's output {out:?}"));
    (count.parse().unwrap(), digest.to_string())
}

/// P-1, W-2, W-14: 64 MiB into a child's stdin (a `ChildStdin`, overlapped), in writes of
/// many sizes and kinds; the child's digest matches.
#[test]
fn p1_child_stdin_64mib_digest_matches() {
    const TOTAL: usize = 64 << 20;
    let mut child = spawn_reader(None);
    let writer = Builder::new()
        .high_water(8 << 20)
        .build(child.stdin.take().unwrap())
        .unwrap();
    let data = pattern(64, TOTAL);
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
    writer.close(WINE_PATIENCE).unwrap();
    let (count, digest) = child_report(child);
    assert_eq!(count, TOTAL);
    let expected = sha256_hex(&data);
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
    const TOTAL: usize = 16 << 20;
    let mut child = spawn_reader(Some(LIMIT));
    let writer = Builder::new().build(child.stdin.take().unwrap()).unwrap();
    let events = writer.events();
    let data = pattern(65, TOTAL);
    writer.write(&data[..]).unwrap();
    let (count, digest) = child_report(child);
    assert_eq!(count, LIMIT);
    let expected = sha256_hex(&data[..LIMIT]);
    assert_eq!(digest, expected);
    let (unwritten, _) = util::wait_for_peer_closed(&events, WINE_PATIENCE);
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
