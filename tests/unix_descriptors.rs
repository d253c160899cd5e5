//! Unix descriptor handling (P-3, W-14): whose mode may change, how descriptors that may be
//! shared are served without changing it (a reopened twin on Linux, the blocking fallback
//! elsewhere), flags given back whenever the handle leaves the writer, and one shared I/O
//! thread for all writers.
#![cfg(unix)]

mod util;

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use pipewriter::{Builder, DropPolicy, PipeWriter};
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

/// A write end of `fifo` opened the plain way, as any program would: a descriptor of unknown
/// origin (its reader must be open already).
fn plain_write_end(fifo: &pipewriter::Fifo) -> File {
    std::fs::OpenOptions::new()
        .write(true)
        .open(fifo.path())
        .unwrap()
}

fn nonblocking(fd: impl AsFd) -> bool {
    rustix::fs::fcntl_getfl(fd)
        .unwrap()
        .contains(OFlags::NONBLOCK)
}

// Elsewhere the Linux checks of this file say that they do not run.
#[cfg(not(target_os = "linux"))]
util::not_on_this_platform!(
    "Linux only: reads /proc/self/fd and /proc/self/task":
    p3_linux_shared_pipe_and_fifo_are_reopened_not_switched,
    p3_many_writers_share_one_io_thread,
);

#[test]
fn p3_shared_descriptor_keeps_its_mode_while_written() {
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
    assert!(!nonblocking(&other_process_view));
    drop(writer);
    drop(other_process_view);
    assert!(received.join().unwrap() == data);
}

/// P-3: std hands clones of a `std::io::PipeWriter` to children (`try_clone`, `Stdio::from`),
/// so one given to the writer shares its open file description with them: it must never be
/// switched to non-blocking mode. A child writing more than the pipe holds into the same pipe,
/// with blocking writes, while the writer writes too, must never see `EAGAIN`.
#[test]
fn p3_std_pipe_writer_shared_with_a_child_keeps_its_mode() {
    const CHILD_LEN: usize = 4_000_000;
    const OUR_LEN: usize = 8 << 20;
    let (mut reader, ours) = std::io::pipe().unwrap();
    let for_child = ours.try_clone().unwrap();
    let view = ours.try_clone().unwrap();
    let writer = PipeWriter::new(ours).unwrap();
    assert!(
        !nonblocking(&view),
        "P-3: a std PipeWriter may be shared with a child: its mode must not change"
    );
    // A slowish reader keeps the pipe full most of the time, so a child whose descriptor had
    // been switched would meet a full pipe in non-blocking mode.
    let received = std::thread::spawn(move || {
        let (mut zeros, mut ours, mut other) = (0usize, 0usize, 0usize);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return (zeros, ours, other),
                Ok(n) => {
                    for &b in &buf[..n] {
                        match b {
                            0 => zeros += 1,
                            0x55 => ours += 1,
                            _ => other += 1,
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("read: {e}"),
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let child = std::process::Command::new("head")
        .args(["-c", &CHILD_LEN.to_string(), "/dev/zero"])
        .stdout(std::process::Stdio::from(for_child))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn head");
    for chunk in vec![0x55u8; OUR_LEN].chunks(64 * 1024) {
        writer.write(chunk).unwrap();
        assert!(
            !nonblocking(&view),
            "P-3: the shared descriptor was switched to non-blocking mode"
        );
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "P-3: the child's blocking writes into the shared pipe failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    writer.close(PATIENCE).unwrap();
    assert!(
        !nonblocking(&view),
        "P-3: the mode is unchanged after close"
    );
    drop(view);
    let (zeros, ours, other) = received.join().unwrap();
    assert_eq!((zeros, ours, other), (CHILD_LEN, OUR_LEN, 0));
}

/// What `/proc/self/fd` shows for the open file `inode` (st_dev, st_ino): each descriptor's
/// number and whether its open file description is non-blocking.
#[cfg(target_os = "linux")]
fn descriptors_of(inode: (u64, u64)) -> Vec<(i32, bool)> {
    use std::os::unix::fs::MetadataExt;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let entry = entry.unwrap();
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // Closed meanwhile (other tests run in parallel): not ours.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if (meta.dev(), meta.ino()) != inode {
            continue;
        }
        let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) else {
            continue;
        };
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| u32::from_str_radix(f.trim(), 8).unwrap())
            .unwrap();
        found.push((fd, flags & libc::O_NONBLOCK as u32 != 0));
    }
    found.sort();
    found
}

/// P-3 on Linux: a pipe or FIFO of unknown origin is reopened through /proc/self/fd (a new open
/// file description of the same pipe, non-blocking for us alone) and driven by the reactor;
/// the original stays as it came and is what `into_handle` gives back.
#[cfg(target_os = "linux")]
#[test]
fn p3_linux_shared_pipe_and_fifo_are_reopened_not_switched() {
    if fallback_forced("p3_linux_shared_pipe_and_fifo_are_reopened_not_switched") {
        return;
    }
    let fifo = pipewriter::Fifo::create_private().unwrap();
    let fifo_reader = fifo.reader().unwrap();
    let fifo_writer = plain_write_end(&fifo);
    let (pipe_reader, pipe_writer) = std::io::pipe().unwrap();
    let cases: Vec<(&str, OwnedFd, File)> = vec![
        (
            "anonymous pipe",
            OwnedFd::from(pipe_writer),
            File::from(OwnedFd::from(pipe_reader)),
        ),
        ("FIFO", OwnedFd::from(fifo_writer), fifo_reader),
    ];
    for (what, handle, reader) in cases {
        let stat = rustix::fs::fstat(&handle).unwrap();
        let inode = (stat.st_dev as u64, stat.st_ino as u64);
        let original = std::os::fd::AsRawFd::as_raw_fd(&handle);
        let before = descriptors_of(inode);
        assert!(before.iter().all(|&(_, nb)| !nb), "{what}: {before:?}");
        let writer = PipeWriter::new(handle).unwrap();
        let during = descriptors_of(inode);
        let added: Vec<_> = during.iter().filter(|d| !before.contains(d)).collect();
        assert!(
            added.len() == 1 && added[0].1 && during.len() == before.len() + 1,
            "P-3 ({what}): one new non-blocking description of the same pipe, the others \
             unchanged; before {before:?}, after {during:?}"
        );
        let received = collect(reader);
        let data = pattern(9, 2 << 20);
        writer.write(&data[..]).unwrap();
        writer.flush(PATIENCE).unwrap();
        assert!(descriptors_of(inode).iter().all(|d| during.contains(d)));
        let (handle, unwritten) = writer.into_handle();
        assert!(unwritten.is_empty());
        let handle = handle.unwrap();
        assert_eq!(
            std::os::fd::AsRawFd::as_raw_fd(&handle),
            original,
            "W-14 ({what}): the original descriptor comes back"
        );
        assert_eq!(
            descriptors_of(inode),
            before,
            "P-3 ({what}): the reopened description is closed when the handle is given back"
        );
        drop(handle);
        assert!(received.join().unwrap() == data, "{what}");
    }
}

/// P-3: a FIFO whose reader left cannot be reopened (`ENXIO`); the writer falls back to the
/// blocking worker, which reports the closed peer.
#[test]
fn p3_fifo_whose_reader_left_reports_peer_closed() {
    let fifo = pipewriter::Fifo::create_private().unwrap();
    let reader = fifo.reader().unwrap();
    let handle = plain_write_end(&fifo);
    drop(reader);
    let writer = PipeWriter::new(handle).unwrap();
    writer.write(&b"nobody reads this"[..]).unwrap();
    util::wait_until("peer closed", || writer.is_peer_closed());
    assert_eq!(writer.stop().len(), b"nobody reads this".len());
}

/// P-3: flags the writer switched on an `exclusive(true)` descriptor are restored whenever the
/// handle leaves it: `close`, a drop (idle, lingering with a queue, or discarding), and
/// `into_handle`. A dup taken before (another holder of the same open file description) sees
/// the original mode again.
#[test]
fn p3_exclusive_descriptor_gets_its_mode_back_whenever_it_leaves() {
    let forced = cfg!(pipewriter_force_fallback);
    for how in [
        "close",
        "idle drop",
        "lingering drop",
        "discarding drop",
        "into_handle",
    ] {
        let (mut reader, handle) = std::io::pipe().unwrap();
        let view: OwnedFd = handle.as_fd().try_clone_to_owned().unwrap();
        let policy = if how == "discarding drop" {
            DropPolicy::Discard
        } else {
            DropPolicy::Linger
        };
        let writer = Builder::new()
            .exclusive(true)
            .drop_policy(policy)
            .build(OwnedFd::from(handle))
            .unwrap();
        // With the fallback forced nothing is switched; the restores are then trivially true.
        assert_eq!(nonblocking(&view), !forced, "{how}: driven non-blocking");
        let data = pattern(7, 1 << 20);
        match how {
            "close" => {
                let received = std::thread::spawn(move || {
                    let mut got = vec![0u8; 3];
                    reader.read_exact(&mut got).unwrap();
                    got
                });
                writer.write(&b"abc"[..]).unwrap();
                writer.close(PATIENCE).unwrap();
                assert_eq!(received.join().unwrap(), b"abc");
            }
            "idle drop" => drop(writer),
            "lingering drop" => {
                writer.write(&data[..]).unwrap();
                drop(writer);
                let mut got = vec![0u8; data.len()];
                reader.read_exact(&mut got).unwrap();
                assert!(got == data);
                // The I/O context closes the handle once the queue is written.
                util::wait_until("the lingering writer closed its handle", || {
                    !nonblocking(&view)
                });
            }
            "discarding drop" => {
                writer.write(&data[..]).unwrap();
                drop(writer);
            }
            "into_handle" => {
                let (handle, _) = writer.into_handle();
                assert!(!nonblocking(handle.unwrap()));
            }
            _ => unreachable!(),
        }
        assert!(
            !nonblocking(&view),
            "P-3: after {how}, the shared description is back in blocking mode"
        );
    }
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
    let mut child = util::pipe_child(&["count"]);
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
    util::assert_new_file_written_in_order(3, 100_000, PATIENCE);
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
