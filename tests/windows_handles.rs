//! Windows handles as they come (P-7): handles bound to an I/O completion port by someone
//! else, and message-mode pipes.
//!
//! These run under Wine in CI. Where Wine may behave differently from Windows, the test says
//! so next to the assertion.
#![cfg(windows)]

mod util;

use std::io::{self, Read};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::thread;

use pipewriter::{NamedPipeServerBuilder, PipeWriter};
use util::windows::{overlapped_pipe, unique_pipe_name, wide};
use util::{pattern, WINE_PATIENCE};
use windows_sys::Win32::Foundation::{
    GetLastError, ERROR_IO_PENDING, HANDLE, INVALID_HANDLE_VALUE, WAIT_TIMEOUT,
};
use windows_sys::Win32::Storage::FileSystem::{
    WriteFile, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, PIPE_ACCESS_DUPLEX,
};
use windows_sys::Win32::System::Pipes::{
    CreateNamedPipeW, PIPE_READMODE_MESSAGE, PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_MESSAGE,
    PIPE_WAIT,
};
use windows_sys::Win32::System::Threading::CreateEventW;
use windows_sys::Win32::System::IO::{
    CreateIoCompletionPort, GetOverlappedResult, GetQueuedCompletionStatus, OVERLAPPED,
};

/// The completion key the test binds the pipe with.
const KEY: usize = 0x5157;

/// One packet from `port`, waiting at most `millis`: `(key, overlapped)`, or `None` on timeout.
fn next_packet(port: &OwnedHandle, millis: u32) -> Option<(usize, *mut OVERLAPPED)> {
    let (mut bytes, mut key, mut overlapped) = (0u32, 0usize, ptr::null_mut());
    // SAFETY: a valid port; valid out pointers.
    let ok = unsafe {
        GetQueuedCompletionStatus(
            port.as_raw_handle(),
            &mut bytes,
            &mut key,
            &mut overlapped,
            millis,
        )
    };
    if ok == 0 && overlapped.is_null() {
        // SAFETY: reads the last error.
        let error = unsafe { GetLastError() };
        assert_eq!(error, WAIT_TIMEOUT, "GetQueuedCompletionStatus failed");
        return None;
    }
    Some((key, overlapped))
}

/// P-7: a pipe end bound to a completion port (as mio, tokio or libuv bind theirs) never gets a
/// packet for the writer's operations: 8 MiB through the writer, then the port is empty. Then
/// the test's own overlapped write on the same handle, without the low-order bit, does queue
/// one: the binding is live, so the empty port was the bit's doing.
#[test]
fn p7_completion_port_gets_no_packet_for_our_writes() {
    let (server, mut client) = overlapped_pipe(64 * 1024);
    // SAFETY: binds a valid overlapped handle to a new port (no existing port).
    let port = unsafe { CreateIoCompletionPort(server.as_raw_handle(), ptr::null_mut(), KEY, 1) };
    assert!(
        !port.is_null(),
        "CreateIoCompletionPort: {}",
        io::Error::last_os_error()
    );
    // SAFETY: a new handle we own.
    let port = unsafe { OwnedHandle::from_raw_handle(port) };

    let data = pattern(7, 8 << 20);
    let reader = thread::spawn(move || {
        let mut got = vec![0u8; 8 << 20];
        client.read_exact(&mut got).unwrap();
        (got, client)
    });
    let writer = PipeWriter::new(server).unwrap();
    for chunk in data.chunks(4096 + 17) {
        writer.write(chunk).unwrap();
    }
    writer.flush(WINE_PATIENCE).unwrap();
    let (got, mut client) = reader.join().unwrap();
    assert!(got == data, "W-2: the reader got the data");
    let mut ours = 0;
    while let Some((key, _)) = next_packet(&port, 200) {
        assert_eq!(key, KEY, "a packet for another handle");
        ours += 1;
    }
    assert_eq!(
        ours, 0,
        "P-7: the writer's operations queued completion packets"
    );

    // The control: the same handle, one overlapped write of our own without the bit.
    let (handle, back) = writer.into_handle();
    assert!(back.is_empty());
    let handle = handle.expect("the handle back");
    // SAFETY: an unnamed manual-reset event.
    let event = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
    assert!(!event.is_null());
    // SAFETY: a new handle we own.
    let event = unsafe { OwnedHandle::from_raw_handle(event) };
    // SAFETY: a zeroed OVERLAPPED is valid.
    let mut ov: Box<OVERLAPPED> = Box::new(unsafe { std::mem::zeroed() });
    ov.hEvent = event.as_raw_handle();
    let ov_ptr: *mut OVERLAPPED = &mut *ov;
    // SAFETY: a valid overlapped handle; the buffer is static; `ov` outlives the operation
    // (its result is waited for below).
    let ok = unsafe {
        WriteFile(
            handle.as_raw_handle(),
            b"ctl".as_ptr(),
            3,
            ptr::null_mut(),
            ov_ptr,
        )
    };
    // SAFETY: reads the last error.
    assert!(ok != 0 || unsafe { GetLastError() } == ERROR_IO_PENDING);
    let mut control = [0u8; 3];
    client.read_exact(&mut control).unwrap();
    assert_eq!(&control, b"ctl");
    let mut n = 0;
    // SAFETY: waits for our operation on `ov`.
    let ok = unsafe { GetOverlappedResult(handle.as_raw_handle(), ov_ptr, &mut n, 1) };
    assert_ne!(ok, 0);
    let packet = next_packet(&port, 5000);
    assert_eq!(
        packet.map(|(key, ov)| (key, ov as usize)),
        Some((KEY, ov_ptr as usize)),
        "the control write (no low-order bit) queued no packet: the port does not work, so \
         the check above proved nothing"
    );
}

/// A message-mode pipe server made directly (duplex, so its end can read its own mode).
fn message_mode_server() -> OwnedHandle {
    let name = wide(&unique_pipe_name("message"));
    // SAFETY: a valid NUL-terminated name; NULL security attributes.
    let server: HANDLE = unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
            PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            1,
            4096,
            4096,
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
    unsafe { OwnedHandle::from_raw_handle(server) }
}

/// P-7: a message-mode pipe is refused at build, with an error that names message mode (the
/// writer merges and splits writes, so one write would not stay one message).
#[test]
fn p7_message_mode_pipe_is_refused_clearly() {
    let error = PipeWriter::new(message_mode_server()).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("message-mode"), "{error}");
}

/// P-7: the crate's own server builder: a duplex message-mode server is refused by the
/// writer; byte mode, the default, is served. (An outbound-only message-mode server cannot be
/// detected by the writer: its end may not read the pipe's type. The docs say so.)
#[test]
fn p7_message_mode_servers_of_the_builder_are_refused() {
    let duplex = NamedPipeServerBuilder::new()
        .message_mode(true)
        .access_inbound(true)
        .create(&unique_pipe_name("msg-duplex"))
        .unwrap();
    let error = PipeWriter::new(duplex).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("message-mode"), "{error}");

    let server = NamedPipeServerBuilder::new()
        .create(&unique_pipe_name("byte"))
        .unwrap();
    let writer = PipeWriter::new(server).unwrap();
    assert!(writer.stop().is_empty());
}
