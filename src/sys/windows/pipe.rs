//! Windows pipe pairs (S-1, P-5): a named pipe with a 128-bit random name, created first
//! instance only, one instance, remote clients rejected, owner-only DACL; our (server) end
//! overlapped, the other (client) end synchronous; neither inheritable.
//!
//! A named pipe is used rather than `CreatePipe` because anonymous pipes cannot do
//! overlapped I/O. The name cannot be squatted: `FILE_FLAG_FIRST_PIPE_INSTANCE` makes the
//! creation fail if any instance of the name exists, so data never goes to a server someone
//! else created; another random name is then tried.

use std::io;
use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::time::Duration;

use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, ERROR_PIPE_BUSY, GENERIC_READ};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, PIPE_ACCESS_OUTBOUND,
    SECURITY_IDENTIFICATION, SECURITY_SQOS_PRESENT,
};
use windows_sys::Win32::System::Pipes::{
    PIPE_READMODE_BYTE, PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE, PIPE_WAIT,
};

use super::named_pipe::{self, OwnerOnly, ServerParams};
use crate::pipe::{Pair, PipeOptions};

/// The default buffer size, like a Linux pipe's (and the standard library's pipes).
const DEFAULT_BUFFER: u32 = 64 * 1024;
/// How many names are tried before giving up. A collision of 128-bit random names does not
/// happen by chance: one means someone occupies the names we pick.
const NAME_ATTEMPTS: u32 = 3;

/// Creates a pipe.
pub(crate) fn pair(options: &mut PipeOptions) -> io::Result<Pair> {
    let size = options
        .buffer_size
        .map_or(DEFAULT_BUFFER, |s| u32::try_from(s).unwrap_or(u32::MAX));
    let params = ServerParams {
        open_mode: PIPE_ACCESS_OUTBOUND | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
        pipe_mode: PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
        max_instances: 1,
        out_buffer: size,
        in_buffer: size,
    };
    let security = OwnerOnly::new()?;
    for attempt in 0..NAME_ATTEMPTS {
        let name = next_name(options, attempt);
        let wide = named_pipe::wide(&name);
        let server = match named_pipe::create_server(&wide, params, &security) {
            Ok(server) => server,
            Err(e) if is_name_taken(&e) => {
                log::warn!("the pipe name {name} is already taken ({e}); trying another name");
                continue;
            }
            Err(e) => return Err(e),
        };
        // Our instance is the only one that can exist under this name, so the client can only
        // reach it. Synchronous (no FILE_FLAG_OVERLAPPED): this end may go to a child.
        let client = named_pipe::open_client(
            &wide,
            GENERIC_READ,
            SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
            Duration::ZERO,
        )?;
        // Read from the client end: the server end, outbound only, may lack the right to
        // query the pipe (it does under Wine).
        let buffer_size = named_pipe::out_buffer_size(client.as_raw_handle()).ok();
        return Ok(Pair {
            read: client,
            write: server,
            buffer_size,
        });
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "could not create a pipe: {NAME_ATTEMPTS} random pipe names were already taken \
             (is another process occupying them?)"
        ),
    ))
}

/// `ERROR_ACCESS_DENIED` is what `FILE_FLAG_FIRST_PIPE_INSTANCE` reports when an instance
/// exists; `ERROR_PIPE_BUSY` when the squatter's instances are all in use.
fn is_name_taken(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error().map(|c| c as u32),
        Some(ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY)
    )
}

/// The pipe name for one attempt: random, unless a test chose it.
fn next_name(options: &mut PipeOptions, attempt: u32) -> String {
    #[cfg(feature = "fault-injection")]
    if let Some(hook) = options.name_hook.as_mut() {
        return hook(attempt);
    }
    let _ = (options, attempt);
    format!(
        r"\\.\pipe\pipewriter-{}-{:032x}",
        std::process::id(),
        crate::pipe::random_u128()
    )
}

/// The pipe's buffer size in bytes (the out buffer of our server end).
pub(crate) fn buffer_size(handle: &OwnedHandle) -> io::Result<usize> {
    named_pipe::out_buffer_size(handle.as_raw_handle())
}
