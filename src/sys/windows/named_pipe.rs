//! Windows named pipes created and opened safely (S-1, S-2, P-5): owner-only security,
//! first-instance creation, remote clients rejected, identification-only clients.
//!
//! # References
//! - [`CreateNamedPipeW`](https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-createnamedpipew)
//! - [`CreateFileW` and pipe clients](https://learn.microsoft.com/windows/win32/ipc/pipe-client)
//! - [Impersonation levels](https://learn.microsoft.com/windows/win32/secauthz/impersonation-levels)
//! - [Named pipe security](https://learn.microsoft.com/windows/win32/ipc/named-pipe-security-and-access-rights)
// Unsafe: Win32 named pipe, security descriptor and token calls.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io;
use std::mem;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::ptr;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    ERROR_IO_INCOMPLETE, ERROR_IO_PENDING, ERROR_PIPE_BUSY, ERROR_PIPE_CONNECTED,
    ERROR_SEM_TIMEOUT, FALSE, GENERIC_ALL, HANDLE, INVALID_HANDLE_VALUE, TRUE, WAIT_OBJECT_0,
    WAIT_TIMEOUT,
};
use windows_sys::Win32::Security::{
    AddAccessAllowedAce, GetLengthSid, GetTokenInformation, InitializeAcl,
    InitializeSecurityDescriptor, SetSecurityDescriptorControl, SetSecurityDescriptorDacl,
    TokenUser, ACCESS_ALLOWED_ACE, ACL, ACL_REVISION, SECURITY_ATTRIBUTES, SECURITY_DESCRIPTOR,
    SE_DACL_PROTECTED, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::{CreateFileW, OPEN_EXISTING};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, GetNamedPipeInfo, WaitNamedPipeW,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, GetCurrentProcess, OpenProcessToken, WaitForSingleObject,
};
use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};

/// `SECURITY_DESCRIPTOR_REVISION` (in a feature of windows-sys the crate does not otherwise
/// need).
const SECURITY_DESCRIPTOR_REVISION: u32 = 1;

/// A security descriptor whose DACL grants everything to the current user and nothing to
/// anyone else, and is protected from inherited entries (SDDL `D:P(A;;GA;;;<user SID>)`).
///
/// The user's SID is used rather than the "owner rights" SID (`OW`): for an elevated
/// administrator the default owner of new objects is the Administrators group, and `OW`
/// would then admit every elevated administrator.
///
/// Everything the descriptor points to lives in this value, on the heap, so it can be moved
/// while the pointers in it stay valid.
pub(crate) struct OwnerOnly {
    /// `TOKEN_USER` followed by the SID it points to.
    _token_user: Vec<u64>,
    /// The ACL (DWORD-aligned, as the system requires).
    _acl: Vec<u64>,
    descriptor: Box<SECURITY_DESCRIPTOR>,
    attributes: SECURITY_ATTRIBUTES,
}

// SAFETY: the raw pointers inside point into heap memory this value owns and never changes
// after construction; the system only reads them.
unsafe impl Send for OwnerOnly {}

impl OwnerOnly {
    pub(crate) fn new() -> io::Result<OwnerOnly> {
        let token = process_token()?;
        // TOKEN_USER holds a pointer to the SID, stored after it in the same buffer.
        let mut needed = 0u32;
        // SAFETY: a size query: a null buffer of length 0, `needed` is a valid out pointer.
        unsafe {
            GetTokenInformation(
                token.as_raw_handle(),
                TokenUser,
                ptr::null_mut(),
                0,
                &mut needed,
            )
        };
        if needed == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut token_user = vec![0u64; (needed as usize).div_ceil(8)];
        // SAFETY: the buffer holds `needed` bytes, is 8-aligned (enough for TOKEN_USER), and
        // outlives the call.
        cvt(unsafe {
            GetTokenInformation(
                token.as_raw_handle(),
                TokenUser,
                token_user.as_mut_ptr().cast(),
                needed,
                &mut needed,
            )
        })?;
        // SAFETY: GetTokenInformation filled the buffer with a TOKEN_USER.
        let sid = unsafe { (*token_user.as_ptr().cast::<TOKEN_USER>()).User.Sid };
        // SAFETY: `sid` points to a valid SID inside `token_user`.
        let sid_len = unsafe { GetLengthSid(sid) };
        // The ACL header, one ACCESS_ALLOWED_ACE whose SidStart holds the SID's first DWORD.
        let acl_len = mem::size_of::<ACL>() + mem::size_of::<ACCESS_ALLOWED_ACE>()
            - mem::size_of::<u32>()
            + sid_len as usize;
        let mut acl = vec![0u64; acl_len.div_ceil(8)];
        let acl_ptr = acl.as_mut_ptr().cast::<ACL>();
        // SAFETY: `acl_ptr` points to `acl_len` writable, aligned bytes owned by `acl`.
        cvt(unsafe { InitializeAcl(acl_ptr, acl_len as u32, ACL_REVISION) })?;
        // SAFETY: the ACL was initialized with room for this ACE; `sid` is valid.
        cvt(unsafe { AddAccessAllowedAce(acl_ptr, ACL_REVISION, GENERIC_ALL, sid) })?;
        // SAFETY: SECURITY_DESCRIPTOR is plain data; all zeroes is a valid starting value.
        let mut descriptor: Box<SECURITY_DESCRIPTOR> = Box::new(unsafe { mem::zeroed() });
        let descriptor_ptr: *mut c_void = (&mut *descriptor as *mut SECURITY_DESCRIPTOR).cast();
        // SAFETY: the descriptor is writable and lives on the heap as long as `self`.
        cvt(unsafe { InitializeSecurityDescriptor(descriptor_ptr, SECURITY_DESCRIPTOR_REVISION) })?;
        // SAFETY: the descriptor is initialized; the ACL outlives it (both owned by `self`).
        cvt(unsafe { SetSecurityDescriptorDacl(descriptor_ptr, TRUE, acl_ptr, FALSE) })?;
        // SAFETY: the descriptor is initialized.
        cvt(unsafe {
            SetSecurityDescriptorControl(descriptor_ptr, SE_DACL_PROTECTED, SE_DACL_PROTECTED)
        })?;
        let attributes = SECURITY_ATTRIBUTES {
            nLength: mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: descriptor_ptr,
            // Never inheritable (P-5).
            bInheritHandle: FALSE,
        };
        Ok(OwnerOnly {
            _token_user: token_user,
            _acl: acl,
            descriptor,
            attributes,
        })
    }

    /// The attributes to pass to `CreateNamedPipeW`: valid while `self` lives.
    pub(crate) fn attributes(&self) -> *const SECURITY_ATTRIBUTES {
        debug_assert!(ptr::eq(
            self.attributes.lpSecurityDescriptor,
            (&*self.descriptor as *const SECURITY_DESCRIPTOR).cast::<c_void>()
        ));
        &self.attributes
    }
}

/// The current process's access token, for queries.
fn process_token() -> io::Result<OwnedHandle> {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing; `token` is a
    // valid out pointer.
    cvt(unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) })?;
    // SAFETY: on success `token` is a new handle that we own.
    Ok(unsafe { OwnedHandle::from_raw_handle(token) })
}

/// A NUL-terminated UTF-16 copy of `s`.
pub(crate) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// What `CreateNamedPipeW` takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerParams {
    pub(crate) open_mode: u32,
    pub(crate) pipe_mode: u32,
    pub(crate) max_instances: u32,
    pub(crate) out_buffer: u32,
    pub(crate) in_buffer: u32,
}

/// Creates one server instance of the pipe `name` (a NUL-terminated `\\.\pipe\…` path).
/// The handle is not inheritable (the security attributes say so).
pub(crate) fn create_server(
    name: &[u16],
    params: ServerParams,
    security: &OwnerOnly,
) -> io::Result<OwnedHandle> {
    debug_assert_eq!(name.last(), Some(&0));
    // SAFETY: `name` is NUL-terminated and outlives the call; the security attributes and
    // everything they point to live in `security`, which outlives the call.
    let handle = unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            params.open_mode,
            params.pipe_mode,
            params.max_instances,
            params.out_buffer,
            params.in_buffer,
            0,
            security.attributes(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid handle that we own.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
}

/// Opens a client end of the pipe `name` once, with `access` and `flags` (which must carry
/// the SQOS flags). Not inheritable: no security attributes.
pub(crate) fn open_client_once(name: &[u16], access: u32, flags: u32) -> io::Result<OwnedHandle> {
    debug_assert_eq!(name.last(), Some(&0));
    // SAFETY: `name` is NUL-terminated and outlives the call; null security attributes
    // make the handle non-inheritable; no template.
    let handle = unsafe {
        CreateFileW(
            name.as_ptr(),
            access,
            0,
            ptr::null(),
            OPEN_EXISTING,
            flags,
            ptr::null_mut(),
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid handle that we own.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
}

/// Opens a client end, waiting up to `timeout` while every instance is busy
/// (`ERROR_PIPE_BUSY`, with `WaitNamedPipeW`).
pub(crate) fn open_client(
    name: &[u16],
    access: u32,
    flags: u32,
    timeout: Duration,
) -> io::Result<OwnedHandle> {
    let deadline = Instant::now().checked_add(timeout);
    loop {
        match open_client_once(name, access, flags) {
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => {
                let left = deadline.map_or(Duration::from_millis(u32::MAX as u64 - 1), |d| {
                    d.saturating_duration_since(Instant::now())
                });
                if left.is_zero() {
                    return Err(e);
                }
                // 0 would mean "the server's default"; at least 1 ms, never INFINITE.
                let millis = left.as_millis().clamp(1, u128::from(u32::MAX - 1)) as u32;
                // SAFETY: `name` is NUL-terminated and outlives the call.
                let ok = unsafe { WaitNamedPipeW(name.as_ptr(), millis) };
                if ok == FALSE {
                    let error = io::Error::last_os_error();
                    // A timeout is decided by the loop; the pipe vanishing is reported by
                    // the next open.
                    if error.raw_os_error() != Some(ERROR_SEM_TIMEOUT as i32) {
                        log::debug!("WaitNamedPipeW: {error}");
                    }
                }
            }
            result => return result,
        }
    }
}

/// The out buffer size of a pipe handle (`GetNamedPipeInfo`).
pub(crate) fn out_buffer_size(handle: HANDLE) -> io::Result<usize> {
    let mut out = 0u32;
    // SAFETY: `handle` is valid for the call; the other out pointers may be null.
    cvt(unsafe {
        GetNamedPipeInfo(
            handle,
            ptr::null_mut(),
            &mut out,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    })?;
    Ok(out as usize)
}

/// Waits up to `timeout` for a client to connect to the overlapped server instance
/// `handle`. On timeout the pending connect is cancelled and waited for before returning, so
/// the `OVERLAPPED` is never released while the system may still write to it.
pub(crate) fn connect(handle: HANDLE, timeout: Duration) -> io::Result<()> {
    // SAFETY: no name, no security attributes (unnamed, non-inheritable); manual reset,
    // initially unsignalled.
    let event = unsafe { CreateEventW(ptr::null(), TRUE, FALSE, ptr::null()) };
    if event.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid handle that we own.
    let event = unsafe { OwnedHandle::from_raw_handle(event) };
    // SAFETY: OVERLAPPED is plain data; zeroes are its documented initial state.
    let mut overlapped: Box<OVERLAPPED> = Box::new(unsafe { mem::zeroed() });
    // No packet to a completion port the handle may be bound to (P-7).
    overlapped.hEvent = super::no_port_packet(event.as_raw_handle());
    let overlapped_ptr: *mut OVERLAPPED = &mut *overlapped;
    // SAFETY: `handle` is an overlapped pipe handle; `overlapped` stays alive (and unmoved,
    // on the heap) until the operation is known complete below.
    let ok = unsafe { ConnectNamedPipe(handle, overlapped_ptr) };
    if ok != FALSE {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error().map(|c| c as u32) {
        Some(ERROR_PIPE_CONNECTED) => return Ok(()),
        Some(ERROR_IO_PENDING) => {}
        _ => return Err(error),
    }
    let millis = timeout.as_millis().min(u128::from(u32::MAX - 1)) as u32;
    // SAFETY: the event is a valid handle.
    let waited = unsafe { WaitForSingleObject(event.as_raw_handle(), millis) };
    let mut transferred = 0u32;
    if waited == WAIT_OBJECT_0 {
        // SAFETY: the operation completed; `overlapped` is the one it used.
        cvt(unsafe { GetOverlappedResult(handle, overlapped_ptr, &mut transferred, FALSE) })?;
        return Ok(());
    }
    // Timeout (or a failed wait): cancel, then wait for the cancellation to land.
    // SAFETY: `overlapped` identifies our pending operation on `handle`.
    unsafe { CancelIoEx(handle, overlapped_ptr) };
    // Waits until the system is done with `overlapped`: polls the status, waiting on the event
    // itself between polls (the OVERLAPPED holds it with its low bit set, see above).
    let ok = loop {
        // SAFETY: `overlapped` is the one the operation used; no waiting.
        let ok = unsafe { GetOverlappedResult(handle, overlapped_ptr, &mut transferred, FALSE) };
        if ok == FALSE
            && io::Error::last_os_error().raw_os_error() == Some(ERROR_IO_INCOMPLETE as i32)
        {
            // SAFETY: the event is a valid handle.
            unsafe { WaitForSingleObject(event.as_raw_handle(), 10) };
            continue;
        }
        break ok;
    };
    if ok != FALSE {
        // The client arrived just before the cancellation.
        return Ok(());
    }
    if waited == WAIT_TIMEOUT {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no client connected to the pipe within {timeout:?}"),
        ))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A failed BOOL call's error.
fn cvt(ok: i32) -> io::Result<()> {
    if ok == FALSE {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
