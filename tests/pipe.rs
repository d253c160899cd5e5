//! Pipe pairs (S-1) and the privacy of what the crate creates (P-5), on every platform.
//! Windows-only checks (names, DACL, flags) are in `tests/named_pipe.rs`.

mod util;

use std::time::Duration;

use pipewriter::{PipeBuilder, PipeWriter};
use util::pattern;

#[test]
fn s1_pipe_carries_bytes_from_the_writer_to_the_read_end() {
    let (reader, write_end) = pipewriter::pipe().unwrap();
    util::assert_writer_carries(
        write_end,
        reader,
        pattern(1, 3_000_000),
        Duration::from_secs(60),
    );
}

#[test]
fn s1_writer_sees_peer_closed_when_the_read_end_is_dropped() {
    let (reader, write_end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(write_end).unwrap();
    drop(reader);
    writer.write(vec![0u8; 1 << 20]).unwrap();
    let error = writer.flush(Duration::from_secs(30)).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
}

#[test]
fn s1_buffer_size_is_granted() {
    let (_reader, write_end) = PipeBuilder::new().buffer_size(1 << 20).build().unwrap();
    let size = write_end.buffer_size().unwrap();
    assert!(size >= 1 << 20, "asked for 1 MiB, got {size}");
}

#[test]
fn s1_many_pipes_can_be_created_and_dropped() {
    // Each pair has its own name or descriptors: nothing collides or leaks.
    for _ in 0..200 {
        let (reader, write_end) = pipewriter::pipe().unwrap();
        drop((reader, write_end));
    }
}

/// Elsewhere the Linux checks below say that they do not run.
#[cfg(all(unix, not(target_os = "linux")))]
mod linux {
    super::util::not_on_this_platform!(
        "Linux only: reads /proc and Linux's pipe size limits":
        p5_child_inherits_none_of_our_pipes_writers_or_fifos,
        c1_spawned_child_holds_only_the_read_end_as_stdin,
        s1_ends_are_cloexec_our_end_nonblocking_theirs_blocking,
        s1_buffer_size_above_the_unprivileged_maximum_is_clamped_or_granted,
        s1_pipes_are_enlarged_by_default_and_the_opt_out_keeps_the_system_size,
        s1_spawn_with_writer_feeds_an_enlarged_pipe,
    );
}

/// Linux: what a child inherits is visible in `/proc/<pid>/fd`.
#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::{AsFd, BorrowedFd};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use pipewriter::{Fifo, PipeBuilder, PipeWriter};

    fn pipe_inode(fd: BorrowedFd<'_>) -> String {
        format!("pipe:[{}]", rustix::fs::fstat(fd).unwrap().st_ino)
    }

    /// A `sh` script listing its descriptors: `<number> <readlink target>` per line.
    const LIST_FDS: &str = "for f in /proc/$$/fd/*; do echo \"${f##*/} $(readlink $f)\"; done";

    /// What the descriptors of a `sh` child point to, one `readlink` per line.
    fn child_fd_targets(command: &mut Command) -> Vec<String> {
        let output = command
            .arg("-c")
            .arg(LIST_FDS)
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn p5_child_inherits_none_of_our_pipes_writers_or_fifos() {
        let (reader, write_end) = pipewriter::pipe().unwrap();
        let pipe_id = pipe_inode(reader.as_fd());
        let (reader2, write_end2) = PipeBuilder::new().buffer_size(1 << 20).build().unwrap();
        let writer_pipe_id = pipe_inode(reader2.as_fd());
        let writer = PipeWriter::new(write_end2).unwrap();
        writer.write(&b"queued"[..]).unwrap();
        let fifo = Fifo::create_private().unwrap();
        let fifo_reader = fifo.reader().unwrap();
        let fifo_writer = fifo.writer(Duration::from_secs(5)).unwrap();
        let fifo_id = format!("{}", fifo.path().display());

        // A control: a descriptor deliberately left inheritable must show up, or the check
        // below proves nothing.
        let (control, control_w) = std::io::pipe().unwrap();
        rustix::io::fcntl_setfd(control.as_fd(), rustix::io::FdFlags::empty()).unwrap();
        let control_id = pipe_inode(control.as_fd());

        let targets = child_fd_targets(&mut Command::new("sh"));
        assert!(
            targets.iter().any(|l| l.contains(&control_id)),
            "the control descriptor is not listed: {targets:?}"
        );
        for line in &targets {
            assert!(!line.contains(&pipe_id), "leaked a pipe end: {line}");
            assert!(
                !line.contains(&writer_pipe_id),
                "leaked a writer's pipe: {line}"
            );
            assert!(!line.contains(&fifo_id), "leaked a FIFO end: {line}");
        }
        drop((reader, write_end, reader2, writer, fifo_reader, fifo_writer));
        drop((control, control_w));
    }

    #[test]
    fn c1_spawned_child_holds_only_the_read_end_as_stdin() {
        // The pipe's inode is shared by both ends: it must show up once, as fd 0. The write
        // end leaking into the child would add a second descriptor on it.
        let mut command = Command::new("sh");
        command.arg("-c").arg(LIST_FDS).stdout(Stdio::piped());
        let (child, writer) =
            pipewriter::spawn_with_writer(&mut command, pipewriter::Builder::new()).unwrap();
        let output = child.wait_with_output().unwrap();
        drop(writer);
        let text = String::from_utf8(output.stdout).unwrap();
        let stdin_target = text
            .lines()
            .find_map(|l| l.strip_prefix("0 "))
            .expect("fd 0 listed")
            .to_owned();
        assert!(stdin_target.starts_with("pipe:["), "{text}");
        let count = text.lines().filter(|l| l.ends_with(&stdin_target)).count();
        assert_eq!(count, 1, "the stdin pipe appears once:\n{text}");
    }

    #[test]
    fn s1_ends_are_cloexec_our_end_nonblocking_theirs_blocking() {
        let (reader, write_end) = pipewriter::pipe().unwrap();
        super::util::assert_cloexec_ends_nonblocking_writer(reader, write_end);
    }

    #[test]
    fn s1_buffer_size_above_the_unprivileged_maximum_is_clamped_or_granted() {
        let max: usize = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let (_reader, write_end) = PipeBuilder::new().buffer_size(max * 4).build().unwrap();
        let size = write_end.buffer_size().unwrap();
        // Unprivileged: clamped to the maximum. Privileged (CAP_SYS_RESOURCE): granted.
        assert!(
            size == max || size >= max * 4,
            "asked for {}, got {size}",
            max * 4
        );
    }

    /// The size a default pipe of this crate should get: 1 MiB or the system's maximum.
    fn expected_default_size() -> usize {
        let max: usize = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        max.min(pipewriter::DEFAULT_PIPE_SIZE)
    }

    #[test]
    fn s1_pipes_are_enlarged_by_default_and_the_opt_out_keeps_the_system_size() {
        let expected = expected_default_size();
        let (_r, end) = pipewriter::pipe().unwrap();
        assert_eq!(end.buffer_size().unwrap(), expected, "pipe()");
        let (_r, end) = PipeBuilder::new().build().unwrap();
        assert_eq!(end.buffer_size().unwrap(), expected, "PipeBuilder::new()");
        let (_r, end) = PipeBuilder::new().system_buffer_size().build().unwrap();
        let (std_r, std_w) = std::io::pipe().unwrap();
        let system = rustix::pipe::fcntl_getpipe_size(&std_w).unwrap();
        drop((std_r, std_w));
        assert_eq!(end.buffer_size().unwrap(), system, "system_buffer_size()");
        // An explicit size still wins over the opt-out.
        let (_r, end) = PipeBuilder::new()
            .system_buffer_size()
            .buffer_size(128 << 10)
            .build()
            .unwrap();
        assert_eq!(end.buffer_size().unwrap(), 128 << 10);
    }

    #[test]
    fn s1_spawn_with_writer_feeds_an_enlarged_pipe() {
        // A child that never reads: what the kernel takes without a reader is the pipe's size.
        let expected = expected_default_size();
        let (mut child, writer) = pipewriter::spawn_with_writer(
            Command::new("sleep").arg("30"),
            pipewriter::Builder::new(),
        )
        .unwrap();
        writer.write(vec![7u8; expected + (1 << 20)]).unwrap();
        while writer
            .wait_for_bytes_written(Duration::from_millis(500))
            .unwrap()
        {}
        let written = writer.bytes_written();
        let _ = writer.stop();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(
            written, expected as u64,
            "the child's stdin pipe took {written} bytes"
        );
    }
}
