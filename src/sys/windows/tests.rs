//! Unit tests of the Windows backend that need its internals: handle hygiene (P-5), mode
//! detection (P-1, P-2), staging (W-4).
// Unsafe: Win32 calls that inspect the objects the backend made.
#![allow(unsafe_code)]

use std::io::Read;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::time::Duration;

use bytes::Bytes;
use windows_sys::Win32::Foundation::{
    GetHandleInformation, GENERIC_READ, HANDLE, HANDLE_FLAG_INHERIT, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, OPEN_EXISTING,
    PIPE_ACCESS_OUTBOUND,
};
use windows_sys::Win32::System::Pipes::{
    CreateNamedPipeW, CreatePipe, PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE, PIPE_WAIT,
};

use super::{not_our_cancel, stage, Mode, Staged, STAGING_BLOCK};
use crate::core::Outcome;
use crate::PipeWriter;

fn inheritable(handle: HANDLE) -> bool {
    let mut flags = 0;
    // SAFETY: a valid handle and out pointer.
    let ok = unsafe { GetHandleInformation(handle, &mut flags) };
    assert_ne!(ok, 0, "{}", std::io::Error::last_os_error());
    flags & HANDLE_FLAG_INHERIT != 0
}

/// An overlapped, write-only named pipe server and its synchronous client.
fn overlapped_pipe() -> (OwnedHandle, std::fs::File) {
    let name: Vec<u16> = format!(
        r"\\.\pipe\pipewriter-unit-{}-{:032x}",
        std::process::id(),
        rand::random::<u128>()
    )
    .encode_utf16()
    .chain(Some(0))
    .collect();
    // SAFETY: a NUL-terminated name; NULL security attributes.
    let server = unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            PIPE_ACCESS_OUTBOUND | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
            PIPE_TYPE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            1,
            65536,
            65536,
            0,
            ptr::null(),
        )
    };
    assert_ne!(server, INVALID_HANDLE_VALUE);
    // SAFETY: a NUL-terminated name; synchronous open.
    let client = unsafe {
        CreateFileW(
            name.as_ptr(),
            GENERIC_READ,
            0,
            ptr::null(),
            OPEN_EXISTING,
            0,
            ptr::null_mut(),
        )
    };
    assert_ne!(client, INVALID_HANDLE_VALUE);
    // SAFETY: new handles we own.
    unsafe {
        (
            OwnedHandle::from_raw_handle(server),
            std::fs::File::from_raw_handle(client),
        )
    }
}

/// A `CreatePipe` pair: (write end, read end), both synchronous.
fn anonymous_pipe() -> (OwnedHandle, std::fs::File) {
    let (mut read, mut write): (HANDLE, HANDLE) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: valid out pointers; NULL security attributes.
    let ok = unsafe { CreatePipe(&mut read, &mut write, ptr::null(), 0) };
    assert_ne!(ok, 0);
    // SAFETY: new handles we own.
    unsafe {
        (
            OwnedHandle::from_raw_handle(write),
            std::fs::File::from_raw_handle(read),
        )
    }
}

/// P-1 / P-2: an overlapped named pipe takes the overlapped path, a `CreatePipe` pipe the
/// worker.
#[test]
fn p1_p2_mode_detected_from_the_handle() {
    let (server, _client) = overlapped_pipe();
    let writer = PipeWriter::new(server).unwrap();
    assert!(matches!(writer.shared().io.mode, Mode::Overlapped(_)));
    let (write, _read) = anonymous_pipe();
    let writer = PipeWriter::new(write).unwrap();
    assert!(matches!(writer.shared().io.mode, Mode::Worker(_)));
}

/// W-10: writes on a pipe are limited to its buffer quota in our direction (server end: the
/// outbound buffer; client end: the inbound one); other handles are not limited.
#[test]
fn w10_pipe_writes_limited_to_the_buffer_quota() {
    // A write-only server end cannot read its own quota (no FILE_READ_ATTRIBUTES): the
    // quota its creator knows applies (P-7), else the conservative default.
    let (server, _client) = overlapped_pipe();
    let raw = super::RawPipe(server.as_raw_handle());
    assert_eq!(
        super::pipe_quota(raw, None).unwrap(),
        Some(super::UNKNOWN_QUOTA)
    );
    assert_eq!(super::pipe_quota(raw, Some(65536)).unwrap(), Some(65536));
    // `CreatePipe`'s write end can (its requested size was 0: the default, 4 KiB), and what
    // it reads wins over a known value.
    let (write, _read) = anonymous_pipe();
    let raw = super::RawPipe(write.as_raw_handle());
    assert_eq!(
        super::pipe_quota(raw, Some(1 << 30)).unwrap(),
        super::pipe_quota(raw, None).unwrap()
    );
    let quota = super::pipe_quota(raw, None).unwrap();
    assert!(
        matches!(quota, Some(q) if q >= 1024),
        "CreatePipe quota: {quota:?}"
    );
    let file = std::fs::File::create(std::env::temp_dir().join(format!(
        "pipewriter-quota-{}-{:x}",
        std::process::id(),
        rand::random::<u64>()
    )))
    .unwrap();
    assert_eq!(
        super::pipe_quota(super::RawPipe(file.as_raw_handle()), Some(4096)).unwrap(),
        None
    );
}

/// The read end of a pipe is refused: it is not open for writing.
#[test]
fn read_only_handle_is_refused() {
    let (_write, read) = anonymous_pipe();
    let error = PipeWriter::new(read).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

/// P-5: every handle the writer creates is not inheritable: the `OVERLAPPED`'s event
/// (overlapped path) and the worker thread's handle (synchronous path). The thread-pool wait
/// is not a kernel handle. No object is named, so there is no DACL of ours to check.
#[test]
fn p5_created_handles_are_not_inheritable() {
    let (server, mut client) = overlapped_pipe();
    let writer = PipeWriter::new(server).unwrap();
    let Mode::Overlapped(overlapped) = &writer.shared().io.mode else {
        panic!("expected the overlapped path");
    };
    assert!(!inheritable(overlapped.event_handle()), "event inheritable");
    writer.write(&b"hello"[..]).unwrap();
    let mut buf = [0u8; 5];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    assert!(!inheritable(overlapped.event_handle()), "event inheritable");

    let (write, mut read) = anonymous_pipe();
    let writer = PipeWriter::new(write).unwrap();
    writer.write(&b"world"[..]).unwrap();
    read.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"world");
    let Mode::Worker(worker) = &writer.shared().io.mode else {
        panic!("expected the worker");
    };
    let thread = worker
        .thread_handle()
        .expect("the worker thread was started");
    assert!(!inheritable(thread), "worker thread handle inheritable");
    writer.flush(Duration::from_secs(10)).unwrap();
}

/// W-4: small head chunks are copied into one staging block of at most 64 KiB; a head chunk
/// of a block or more, or a lone chunk, is written in place without a copy.
#[test]
fn w4_staging_copies_small_chunks_and_writes_large_ones_in_place() {
    let mut staging = Vec::new();
    let small: Vec<Bytes> = (0..40u8).map(|i| Bytes::from(vec![i; 3000])).collect();
    match stage(&small, &mut staging, usize::MAX) {
        Staged::Copied(block) => {
            assert_eq!(block.len(), STAGING_BLOCK);
            assert_eq!(&block[..3000], &[0u8; 3000][..]);
            assert_eq!(block[3000], 1);
            assert_eq!(block[STAGING_BLOCK - 1], (STAGING_BLOCK / 3000) as u8);
        }
        Staged::InPlace(_) => panic!("small chunks must be copied"),
    }
    let big = Bytes::from(vec![7u8; 300_000]);
    let bufs = vec![big.clone(), Bytes::from_static(b"tail")];
    match stage(&bufs, &mut staging, usize::MAX) {
        Staged::InPlace(b) => {
            assert_eq!(b.len(), 300_000);
            assert_eq!(b.as_ptr(), big.as_ptr(), "written in place, not copied");
        }
        Staged::Copied(_) => panic!("a large head chunk is written in place"),
    }
    match stage(&bufs, &mut staging, STAGING_BLOCK) {
        Staged::InPlace(b) => assert_eq!(b.len(), STAGING_BLOCK, "the limit clamps"),
        Staged::Copied(_) => panic!("in place"),
    }
    // A pipe with a 4 KiB buffer: every write fits it (see the module docs on write size).
    match stage(&small, &mut staging, 4096) {
        Staged::Copied(block) => assert_eq!(block.len(), 4096),
        Staged::InPlace(_) => panic!("small chunks must be copied"),
    }
    let medium = vec![Bytes::from(vec![1u8; 10_000]), Bytes::from_static(b"x")];
    match stage(&medium, &mut staging, 4096) {
        Staged::InPlace(b) => assert_eq!(b.len(), 4096, "in place, clamped to the quota"),
        Staged::Copied(_) => panic!("a head chunk larger than the limit is not copied"),
    }
    let lone = vec![Bytes::from_static(b"abc")];
    assert!(matches!(
        stage(&lone, &mut staging, usize::MAX),
        Staged::InPlace(_)
    ));
}

/// E-3: `ERROR_OPERATION_ABORTED` without our stop is not a cancellation.
#[test]
fn e3_cancellation_we_did_not_ask_for_is_retried() {
    assert!(matches!(
        not_our_cancel(Outcome::Cancelled(0)),
        Outcome::Interrupted
    ));
    assert!(matches!(
        not_our_cancel(Outcome::Cancelled(12)),
        Outcome::Wrote(12)
    ));
    assert!(matches!(
        not_our_cancel(Outcome::Wrote(3)),
        Outcome::Wrote(3)
    ));
}

/// P-1: a handle given back after `into_handle` still works, and the writer's own objects
/// are gone with the writer.
#[test]
fn w14_into_handle_gives_the_handle_back() {
    let (server, mut client) = overlapped_pipe();
    let writer = PipeWriter::new(server).unwrap();
    writer.write(&b"abc"[..]).unwrap();
    writer.flush(Duration::from_secs(10)).unwrap();
    let (handle, unwritten) = writer.into_handle();
    assert!(unwritten.is_empty());
    let handle = handle.expect("the handle comes back");
    let writer = PipeWriter::new(handle).unwrap();
    writer.write(&b"def"[..]).unwrap();
    writer.close(Duration::from_secs(10)).unwrap();
    let mut all = Vec::new();
    client.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"abcdef");
    let _ = client.as_raw_handle();
}
