//! Unix descriptor handling (P-3, W-14): whose mode may change, the blocking fallback, and
//! one shared I/O thread for all writers.
#![cfg(unix)]

mod util;

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

use pipewriter::{Builder, PipeWriter};
use rustix::fs::OFlags;
use util::{collect, pattern, PATIENCE};

/// True (and says so loudly) when the suite runs with the blocking fallback forced, where no
/// descriptor is switched to non-blocking mode.
fn fallback_forced(test: &str) -> bool {
    if cfg!(pipewriter_force_fallback) {
        eprintln!("SKIPPED {test}: the blocking fallback is forced in this run");
        return true;
    }
    false
}

fn nonblocking(fd: impl AsFd) -> bool {
    rustix::fs::fcntl_getfl(fd)
        .unwrap()
        .contains(OFlags::NONBLOCK)
}

#[test]
fn p3_shared_descriptor_keeps_its_mode_and_is_served_by_the_fallback() {
    let (reader, writer) = std::io::pipe().unwrap();
    let other_process_view: OwnedFd = writer.as_fd().try_clone_to_owned().unwrap();
    let writer = PipeWriter::new(OwnedFd::from(writer)).unwrap();
    let received = collect(reader);
    let data = pattern(1, 4 << 20);
    writer.write(&data[..]).unwrap();
    assert!(
        !nonblocking(&other_process_view),
        "P-3: O_NONBLOCK must not be switched on a descriptor of unknown origin"
    );
    writer.flush(PATIENCE).unwrap();
    drop(writer);
    drop(other_process_view);
    assert!(received.join().unwrap() == data);
}

#[test]
fn p3_exclusive_descriptor_goes_nonblocking_and_gets_its_mode_back() {
    if fallback_forced("p3_exclusive_descriptor_goes_nonblocking_and_gets_its_mode_back") {
        return;
    }
    let (reader, writer) = std::io::pipe().unwrap();
    let view: OwnedFd = writer.as_fd().try_clone_to_owned().unwrap();
    let writer = Builder::new()
        .exclusive(true)
        .build(OwnedFd::from(writer))
        .unwrap();
    assert!(
        nonblocking(&view),
        "P-3: an exclusive descriptor is driven non-blocking"
    );
    writer.write(&b"abc"[..]).unwrap();
    writer.flush(PATIENCE).unwrap();
    let (handle, unwritten) = writer.into_handle();
    assert!(unwritten.is_empty());
    let handle = handle.unwrap();
    assert!(!nonblocking(&handle), "W-14: the original mode is restored");
    drop((handle, view));
    assert_eq!(collect(reader).join().unwrap(), b"abc");
}

#[test]
fn p3_child_stdin_is_ours_and_driven_by_the_reactor() {
    if fallback_forced("p3_child_stdin_is_ours_and_driven_by_the_reactor") {
        return;
    }
    let mut child = util::pipe_child(&["sink"]);
    let stdin = child.stdin.take().unwrap();
    let view: OwnedFd = stdin.as_fd().try_clone_to_owned().unwrap();
    let writer = PipeWriter::new(stdin).unwrap();
    assert!(nonblocking(&view));
    drop(view);
    writer.write(pattern(2, 1 << 20)).unwrap();
    writer.close(PATIENCE).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1048576");
}

#[test]
fn p3_regular_file_is_written_through_the_fallback() {
    let dir = std::env::temp_dir().join(format!("pipewriter-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("regular.bin");
    let file = File::create(&path).unwrap();
    let writer = PipeWriter::new(file).unwrap();
    let data = pattern(3, 3 << 20);
    for piece in data.chunks(100_000) {
        writer.write(piece).unwrap();
    }
    writer.close(PATIENCE).unwrap();
    let mut got = Vec::new();
    File::open(&path).unwrap().read_to_end(&mut got).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(got == data);
}

#[test]
fn w14_read_only_descriptor_is_refused_clearly() {
    let (reader, _writer) = std::io::pipe().unwrap();
    let err = PipeWriter::new(OwnedFd::from(reader)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("not open for writing"), "{err}");
}

/// P-3: one shared I/O thread for all non-blocking writers, never a thread per writer.
#[cfg(target_os = "linux")]
#[test]
fn p3_many_writers_share_one_io_thread() {
    if fallback_forced("p3_many_writers_share_one_io_thread") {
        return;
    }
    /// The crate's threads in this process, by name (comm is cut to 15 characters).
    fn crate_threads() -> (usize, usize) {
        let mut reactor = 0;
        let mut total = 0;
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let comm =
                std::fs::read_to_string(task.unwrap().path().join("comm")).unwrap_or_default();
            if comm.starts_with("pipewriter-") {
                total += 1;
                reactor += comm.starts_with("pipewriter-reac") as usize;
            }
        }
        (reactor, total)
    }
    // Each writer gets more than a default pipe holds, so every one of them needs the I/O
    // context (a lone small write would go out from this thread and never start it).
    let message = |i: u32| pattern(i as u64, 100_000);
    let mut pairs = Vec::new();
    for i in 0..200u32 {
        let (reader, writer) = std::io::pipe().unwrap();
        let writer = PipeWriter::new(writer).unwrap();
        writer.write(message(i)).unwrap();
        pairs.push((reader, writer));
    }
    let (reactor, total) = crate_threads();
    assert_eq!(reactor, 1, "P-3: one shared reactor thread");
    // Other tests of this binary may run fallback workers meanwhile, but never 200.
    assert!(total < 20, "P-3: {total} threads for 200 writers");
    for (i, (reader, writer)) in pairs.into_iter().enumerate() {
        let received = collect(reader);
        writer.close(PATIENCE).unwrap();
        assert!(received.join().unwrap() == message(i as u32), "writer {i}");
    }
}
