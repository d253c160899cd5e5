//! Lending the writer's handle (W-14): `try_clone_handle` gives a duplicate that stays valid
//! whatever the writer does, on every platform.

mod util;

use std::io::{ErrorKind, Read};

use pipewriter::PipeWriter;
use util::{pattern, PATIENCE};

/// The OS agrees the handle is a pipe: `fstat` says FIFO (Unix), `GetFileType` says
/// `FILE_TYPE_PIPE` (Windows).
#[cfg(unix)]
fn is_pipe(handle: &pipewriter::OwnedPipe) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed `stat` is a valid out buffer; the descriptor is open (owned).
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::fstat(handle.as_raw_fd(), &mut stat) };
    rc == 0 && stat.st_mode & libc::S_IFMT == libc::S_IFIFO
}

#[cfg(windows)]
fn is_pipe(handle: &pipewriter::OwnedPipe) -> bool {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{GetFileType, FILE_TYPE_PIPE};
    // SAFETY: the handle is open (owned).
    unsafe { GetFileType(handle.as_raw_handle()) == FILE_TYPE_PIPE }
}

#[test]
fn w14_a_lent_handle_is_the_pipe_and_outlives_stop() {
    let (mut reader, write_end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(write_end).unwrap();
    let lent = writer.try_clone_handle().unwrap();
    assert!(is_pipe(&lent), "W-14: the duplicate is the pipe");
    writer.write(pattern(14, 1000)).unwrap();
    writer.flush(PATIENCE).unwrap();
    let back = writer.stop();
    assert_eq!(back.len(), 0);
    assert!(is_pipe(&lent), "W-14: still valid after stop");
    // The writer's own handle stays open after stop: another duplicate can be had.
    let again = writer.try_clone_handle().unwrap();
    assert!(is_pipe(&again));
    drop(again);
    let mut got = vec![0u8; 1000];
    reader.read_exact(&mut got).unwrap();
    assert_eq!(got, pattern(14, 1000));
    drop(writer);
    assert!(
        is_pipe(&lent),
        "W-14: still valid after the writer is dropped"
    );
}

#[test]
fn w14_after_close_no_handle_is_lent_and_a_lent_one_holds_eof_back() {
    let (mut reader, write_end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(write_end).unwrap();
    let lent = writer.try_clone_handle().unwrap();
    writer.write(pattern(15, 100)).unwrap();
    writer.close(PATIENCE).unwrap();
    let error = writer.try_clone_handle().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotConnected, "{error}");
    assert!(
        is_pipe(&lent),
        "W-14: the duplicate survives the writer's close"
    );
    let mut got = vec![0u8; 100];
    reader.read_exact(&mut got).unwrap();
    // The duplicate keeps the write end open: end-of-file comes once it is dropped.
    drop(lent);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn w14_into_handle_after_lending_gives_the_original_back() {
    let (_reader, write_end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(write_end).unwrap();
    let lent = writer.try_clone_handle().unwrap();
    let (handle, _) = writer.into_handle();
    let handle = handle.expect("W-14: the handle comes back");
    assert!(is_pipe(&handle) && is_pipe(&lent));
}
