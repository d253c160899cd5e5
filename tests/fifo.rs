//! Unix FIFOs (S-3): created 0600 in private places, opened with O_NOFOLLOW | O_CLOEXEC, and
//! anything that is not a FIFO of ours refused.
#![cfg(unix)]

mod util;

use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

use pipewriter::Fifo;
use util::pattern;

/// A private scratch directory for one test, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("pipewriter-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn s3_created_fifo_is_mode_0600_and_removed_on_drop() {
    let scratch = Scratch::new("mode");
    let path = scratch.0.join("f");
    let fifo = Fifo::create(&path).unwrap();
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()));
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
    drop(fifo);
    assert!(!path.exists(), "the FIFO is removed on drop");
}

#[test]
fn s3_private_fifo_lives_in_a_0700_directory_removed_with_it() {
    let fifo = Fifo::create_private().unwrap();
    let dir = fifo.path().parent().unwrap().to_path_buf();
    let dir_meta = std::fs::symlink_metadata(&dir).unwrap();
    assert!(dir_meta.is_dir());
    assert_eq!(dir_meta.permissions().mode() & 0o777, 0o700);
    let meta = std::fs::symlink_metadata(fifo.path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let other = Fifo::create_private().unwrap();
    assert_ne!(
        other.path(),
        fifo.path(),
        "each private FIFO has its own directory"
    );
    drop(fifo);
    assert!(
        !dir.exists(),
        "the private directory is removed with the FIFO"
    );
}

#[test]
fn s3_create_refuses_an_existing_path_and_leaves_it_alone() {
    let scratch = Scratch::new("exists");
    let path = scratch.0.join("taken");
    std::fs::write(&path, b"precious").unwrap();
    let error = Fifo::create(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AlreadyExists);
    assert!(error.to_string().contains("exists"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn s3_write_and_read_through_a_fifo() {
    let fifo = Fifo::create_private().unwrap();
    let reader = fifo.reader().unwrap();
    let write_end = fifo.writer(Duration::from_secs(10)).unwrap();
    util::assert_writer_carries(
        write_end,
        reader,
        pattern(3, 1_000_000),
        Duration::from_secs(30),
    );
}

#[test]
fn s3_opened_ends_are_cloexec_and_the_write_end_is_nonblocking() {
    let fifo = Fifo::create_private().unwrap();
    let reader = fifo.reader().unwrap();
    let writer = fifo.writer(Duration::from_secs(10)).unwrap();
    util::assert_cloexec_ends_nonblocking_writer(reader, writer);
}

#[test]
fn s3_opening_a_writer_without_reader_times_out_clearly() {
    let fifo = Fifo::create_private().unwrap();
    let error = fifo.writer(Duration::from_millis(100)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TimedOut);
    assert!(error.to_string().contains("no reader"), "{error}");
}

#[test]
fn s3_symlink_to_a_fifo_is_refused() {
    let scratch = Scratch::new("symlink");
    let fifo = Fifo::create(scratch.0.join("real")).unwrap();
    let link = scratch.0.join("link");
    std::os::unix::fs::symlink(fifo.path(), &link).unwrap();
    let _reader = fifo.reader().unwrap();
    let error = Fifo::open_writer(&link, Duration::from_secs(1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("symbolic link"), "{error}");
    let error = Fifo::open_reader(&link).unwrap_err();
    assert!(error.to_string().contains("symbolic link"), "{error}");
}

#[test]
fn s3_regular_file_is_refused_and_untouched() {
    let scratch = Scratch::new("regular");
    let path = scratch.0.join("file");
    std::fs::write(&path, b"keep me").unwrap();
    let error = Fifo::open_writer(&path, Duration::from_secs(1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("regular file"), "{error}");
    let error = Fifo::open_reader(&path).unwrap_err();
    assert!(error.to_string().contains("regular file"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}

#[test]
fn s3_directory_is_refused() {
    let scratch = Scratch::new("dir");
    let error = Fifo::open_writer(&scratch.0, Duration::from_secs(1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("directory"), "{error}");
    let error = Fifo::open_reader(&scratch.0).unwrap_err();
    assert!(error.to_string().contains("directory"), "{error}");
}

#[test]
fn s3_device_is_refused_without_opening_it() {
    let error = Fifo::open_writer("/dev/null", Duration::from_secs(1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("device"), "{error}");
}

#[test]
fn s3_missing_path_is_not_found() {
    let error =
        Fifo::open_writer("/nonexistent/pipewriter/fifo", Duration::from_secs(1)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
}

#[test]
fn s3_fifo_of_another_user_is_refused() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("SKIPPED: s3_fifo_of_another_user_is_refused needs root to chown a FIFO");
        return;
    }
    let scratch = Scratch::new("owner");
    let path = scratch.0.join("theirs");
    let fifo = Fifo::create(&path).unwrap();
    std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
    let error = Fifo::open_reader(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied);
    assert!(
        error.to_string().contains("belongs to user 65534"),
        "{error}"
    );
    drop(fifo);
    assert!(
        path.exists(),
        "a FIFO that is no longer ours is not removed"
    );
}

#[test]
fn s3_into_path_keeps_the_fifo() {
    let fifo = Fifo::create_private().unwrap();
    let path = fifo.into_path();
    assert!(path.exists());
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_dir(path.parent().unwrap()).unwrap();
}

/// S-3, Linux: the object checked is the object opened. Between the check and the open the
/// path is swapped for a regular file, another FIFO of ours, or a symbolic link; the writer
/// still reaches the FIFO that was checked, and the swapped-in object is never opened.
#[cfg(target_os = "linux")]
#[test]
fn s3_swapped_path_after_the_check_is_never_opened() {
    use std::io::Read;
    for swap in ["regular file", "other fifo", "symlink"] {
        let scratch = Scratch::new(&format!("swap-{}", swap.replace(' ', "-")));
        let path = scratch.0.join("fifo");
        let checked = Fifo::create(&path).unwrap().into_path();
        let mut checked_reader = Fifo::open_reader(&checked).unwrap();
        let moved = scratch.0.join("checked");
        let other = scratch.0.join("other");
        let other_fifo = Fifo::create(&other).unwrap();
        let mut other_reader = other_fifo.reader().unwrap();
        let (swap_path, moved_to) = (path.clone(), moved.clone());
        let other_path = other.clone();
        let kind = swap;
        pipewriter::fault::before_fifo_open(move |at| {
            assert_eq!(at, swap_path.as_path());
            std::fs::rename(&swap_path, &moved_to).unwrap();
            match kind {
                "regular file" => std::fs::write(&swap_path, b"untouched").unwrap(),
                "other fifo" => std::fs::rename(&other_path, &swap_path).unwrap(),
                _ => std::os::unix::fs::symlink(&other_path, &swap_path).unwrap(),
            }
        });
        let end = Fifo::open_writer(&path, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{swap}: {e}"));
        let writer = pipewriter::PipeWriter::new(end).unwrap();
        writer.write(&b"to the checked FIFO"[..]).unwrap();
        writer.close(Duration::from_secs(5)).unwrap();
        let mut got = String::new();
        checked_reader.read_to_string(&mut got).unwrap();
        assert_eq!(
            got, "to the checked FIFO",
            "{swap}: the checked inode got the data"
        );
        let mut other_got = [0u8; 16];
        let n = match std::io::Read::read(&mut other_reader, &mut other_got) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) => panic!("{swap}: {e}"),
        };
        assert_eq!(n, 0, "{swap}: the other FIFO got nothing");
        if swap == "regular file" {
            assert_eq!(
                std::fs::read(&path).unwrap(),
                b"untouched",
                "{swap}: left alone"
            );
        }
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&moved);
        drop(other_fifo);
        let _ = std::fs::remove_file(&other);
    }
}

/// S-3: a FIFO of ours that group or others may write to is refused (they could put bytes
/// into the stream); the same FIFO at 0600 is served.
#[test]
fn s3_fifo_writable_by_others_is_refused() {
    let scratch = Scratch::new("others-write");
    let fifo = Fifo::create(scratch.0.join("fifo")).unwrap();
    let _reader = fifo.reader().unwrap();
    std::fs::set_permissions(fifo.path(), std::fs::Permissions::from_mode(0o622)).unwrap();
    let error = fifo.writer(Duration::from_secs(1)).unwrap_err();
    assert_eq!(
        error.kind(),
        std::io::ErrorKind::PermissionDenied,
        "{error}"
    );
    assert!(
        error.to_string().contains("written by other users"),
        "{error}"
    );
    std::fs::set_permissions(fifo.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(fifo.writer(Duration::from_secs(1)).is_ok());
}
