//! Windows helpers for the `windows_*` tests: pipe pairs of both kinds, handle flags.
//!
//! Included with `#[path = "util/windows.rs"] mod win;` so it does not depend on the shared
//! `tests/util/mod.rs`.
#![allow(dead_code)] // each test file uses a different subset

use std::fs::File;
use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};

use windows_sys::Win32::Foundation::{
    GetHandleInformation, GetLastError, ERROR_IO_PENDING, ERROR_PIPE_CONNECTED, GENERIC_READ,
    HANDLE, HANDLE_FLAG_INHERIT, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, OPEN_EXISTING,
    PIPE_ACCESS_OUTBOUND,
};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, CreatePipe, PeekNamedPipe, PIPE_REJECT_REMOTE_CLIENTS,
    PIPE_TYPE_BYTE, PIPE_WAIT,
};
use windows_sys::Win32::System::Threading::CreateEventW;
use windows_sys::Win32::System::IO::{GetOverlappedResult, OVERLAPPED};

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(Some(0)).collect()
}

/// A unique pipe name: 128 random bits plus the process id and a counter.
fn unique_pipe_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random: u128 = rand::random();
    format!(
        r"\\.\pipe\pipewriter-test-{}-{n}-{random:032x}",
        std::process::id()
    )
}

/// An overlapped named pipe: the server end (write-only, `FILE_FLAG_OVERLAPPED`, first
/// instance, remote clients rejected) and a synchronous client end for reading.
/// `buffer` is the server's out-buffer size.
pub(crate) fn overlapped_pipe(buffer: u32) -> (OwnedHandle, File) {
    let name = wide(&unique_pipe_name());
    // SAFETY: a valid NUL-terminated name; NULL security attributes.
    let server = unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            PIPE_ACCESS_OUTBOUND | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
            PIPE_TYPE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            1,
            buffer,
            buffer,
            0,
            ptr::null(),
        )
    };
    assert_ne!(
        server,
        INVALID_HANDLE_VALUE,
        "CreateNamedPipeW: {}",
        io::Error::last_os_error()
    );
    // SAFETY: a new handle we own.
    let server = unsafe { OwnedHandle::from_raw_handle(server) };
    // SAFETY: a valid name; synchronous client (no FILE_FLAG_OVERLAPPED).
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
    assert_ne!(
        client,
        INVALID_HANDLE_VALUE,
        "CreateFileW: {}",
        io::Error::last_os_error()
    );
    // SAFETY: a new handle we own.
    let client = unsafe { File::from_raw_handle(client) };
    connect(&server);
    (server, client)
}

/// Completes the server side of the connection (the client is already there).
fn connect(server: &OwnedHandle) {
    // SAFETY: an unnamed manual-reset event.
    let event = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
    assert!(!event.is_null());
    // SAFETY: a new handle we own.
    let event = unsafe { OwnedHandle::from_raw_handle(event) };
    // SAFETY: zeroed OVERLAPPED is valid.
    let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
    ov.hEvent = event.as_raw_handle();
    // SAFETY: valid handle and OVERLAPPED, which outlives the operation (waited for below).
    let ok = unsafe { ConnectNamedPipe(server.as_raw_handle(), &mut ov) };
    if ok != 0 {
        return;
    }
    // SAFETY: reads the last error.
    match unsafe { GetLastError() } {
        ERROR_PIPE_CONNECTED => {}
        ERROR_IO_PENDING => {
            let mut n = 0;
            // SAFETY: waits for the operation on `ov`.
            let ok = unsafe { GetOverlappedResult(server.as_raw_handle(), &ov, &mut n, 1) };
            assert_ne!(ok, 0, "ConnectNamedPipe: {}", io::Error::last_os_error());
        }
        e => panic!(
            "ConnectNamedPipe: {}",
            io::Error::from_raw_os_error(e as i32)
        ),
    }
}

/// An anonymous pipe (`CreatePipe`): both ends synchronous. Returns (write end, read end).
/// `size` is the buffer-size hint.
pub(crate) fn sync_pipe(size: u32) -> (OwnedHandle, File) {
    let mut read: HANDLE = ptr::null_mut();
    let mut write: HANDLE = ptr::null_mut();
    // SAFETY: valid out pointers; NULL security attributes (not inheritable).
    let ok = unsafe { CreatePipe(&mut read, &mut write, ptr::null(), size) };
    assert_ne!(ok, 0, "CreatePipe: {}", io::Error::last_os_error());
    // SAFETY: new handles we own.
    unsafe {
        (
            OwnedHandle::from_raw_handle(write),
            File::from_raw_handle(read),
        )
    }
}

/// True when the handle's inherit flag is set (P-5).
pub(crate) fn is_inheritable(handle: HANDLE) -> bool {
    let mut flags = 0;
    // SAFETY: a valid handle; a valid out pointer.
    let ok = unsafe { GetHandleInformation(handle, &mut flags) };
    assert_ne!(
        ok,
        0,
        "GetHandleInformation: {}",
        io::Error::last_os_error()
    );
    flags & HANDLE_FLAG_INHERIT != 0
}

/// Bytes waiting in a pipe, seen from its read end.
pub(crate) fn available(reader: &File) -> u32 {
    let mut avail = 0;
    // SAFETY: a valid pipe handle; a valid out pointer; no buffer.
    let ok = unsafe {
        PeekNamedPipe(
            reader.as_raw_handle(),
            ptr::null_mut(),
            0,
            ptr::null_mut(),
            &mut avail,
            ptr::null_mut(),
        )
    };
    assert_ne!(ok, 0, "PeekNamedPipe: {}", io::Error::last_os_error());
    avail
}

/// Deterministic test data: a pseudo-random stream from a seed (xorshift), cheap to check.
pub(crate) fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
