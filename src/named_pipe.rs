//! Windows named pipes, server and client, created and opened safely (S-2).

use std::fmt;
use std::fs::File;
use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, OwnedHandle, RawHandle};
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_PIPE_BUSY, GENERIC_READ, GENERIC_WRITE,
};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, PIPE_ACCESS_INBOUND, PIPE_ACCESS_OUTBOUND,
    SECURITY_IDENTIFICATION, SECURITY_SQOS_PRESENT,
};
use windows_sys::Win32::System::Pipes::{
    PIPE_READMODE_BYTE, PIPE_READMODE_MESSAGE, PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE,
    PIPE_TYPE_MESSAGE, PIPE_UNLIMITED_INSTANCES, PIPE_WAIT,
};

use crate::pipe::context;
use crate::sys::named_pipe::{self as sys, OwnerOnly, ServerParams};

/// The prefix of local pipe names.
const LOCAL_PREFIX: &str = r"\\.\pipe\";
/// The longest pipe path the system accepts, in characters.
const MAX_NAME_LEN: usize = 256;

/// Configures and creates the server end of a named pipe (S-2).
///
/// Safe by default, and in the parts that matter, whatever the settings:
/// - **remote clients are always rejected** (`PIPE_REJECT_REMOTE_CLIENTS`): no setting and
///   no order of calls turns that off;
/// - **first instance** (`FILE_FLAG_FIRST_PIPE_INSTANCE`) by default: creation fails if the
///   name already exists, so a squatter cannot receive the data meant for your clients;
/// - an **owner-only DACL**: only the current user can open the pipe;
/// - the handle is **overlapped** (ready for a [`PipeWriter`](crate::PipeWriter)) and **not
///   inheritable**.
///
/// Defaults: outbound only (the server writes), byte mode, one instance, 64 KiB buffers.
///
/// ```no_run
/// use std::time::Duration;
/// use pipewriter::{NamedPipeServerBuilder, PipeWriter};
///
/// let server = NamedPipeServerBuilder::new().create(r"\\.\pipe\my-app-events")?;
/// server.connect(Duration::from_secs(30))?;
/// let writer = PipeWriter::new(server)?;
/// writer.write(&b"hello"[..])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct NamedPipeServerBuilder {
    first_instance: bool,
    max_instances: u32,
    out_buffer: u32,
    in_buffer: u32,
    inbound: bool,
    outbound: bool,
    message_mode: bool,
}

impl Default for NamedPipeServerBuilder {
    fn default() -> Self {
        NamedPipeServerBuilder::new()
    }
}

impl NamedPipeServerBuilder {
    /// The defaults listed above.
    pub fn new() -> Self {
        NamedPipeServerBuilder {
            first_instance: true,
            max_instances: 1,
            out_buffer: 64 * 1024,
            in_buffer: 64 * 1024,
            inbound: false,
            outbound: true,
            message_mode: false,
        }
    }

    /// Whether creation must fail when the name already exists. Default: true. Turn it off
    /// only to add instances to a pipe this process created first.
    pub fn first_instance(mut self, first: bool) -> Self {
        self.first_instance = first;
        self
    }

    /// The most instances the pipe may have, 1 to 254, or 255 for no limit. Default: 1.
    /// Checked by [`create`](Self::create).
    pub fn max_instances(mut self, instances: u32) -> Self {
        self.max_instances = instances;
        self
    }

    /// The out buffer size (what the server writes), in bytes. Default: 64 KiB.
    ///
    /// A [`PipeWriter`](crate::PipeWriter) on the server writes pieces of up to this size
    /// (P-7), also when the server is outbound only and cannot read its own quota; a larger
    /// buffer means fewer OS calls.
    pub fn out_buffer_size(mut self, bytes: u32) -> Self {
        self.out_buffer = bytes;
        self
    }

    /// The in buffer size (what clients write), in bytes. Default: 64 KiB.
    pub fn in_buffer_size(mut self, bytes: u32) -> Self {
        self.in_buffer = bytes;
        self
    }

    /// Whether clients may write to the server. Default: false.
    pub fn access_inbound(mut self, inbound: bool) -> Self {
        self.inbound = inbound;
        self
    }

    /// Whether the server may write to clients. Default: true.
    pub fn access_outbound(mut self, outbound: bool) -> Self {
        self.outbound = outbound;
        self
    }

    /// Message mode (`PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE`) instead of byte mode.
    /// Default: false.
    ///
    /// A [`PipeWriter`](crate::PipeWriter) does not keep message boundaries (it merges small
    /// writes into one `WriteFile` and splits large ones at the pipe's quota), so it refuses a
    /// message-mode pipe (P-7): `PipeWriter::new` on a duplex message-mode server fails with
    /// [`io::ErrorKind::InvalidInput`]. **Do not give an outbound-only message-mode server to
    /// a `PipeWriter`**: that end cannot read its own pipe's type (it lacks
    /// `FILE_READ_ATTRIBUTES`), so the writer cannot tell, and a reader would see merged and
    /// split messages. Message mode is for servers that read messages, or write each message
    /// with one `WriteFile` of their own.
    pub fn message_mode(mut self, message: bool) -> Self {
        self.message_mode = message;
        self
    }

    /// The `(open mode, pipe mode)` flags [`create`](Self::create) passes to
    /// `CreateNamedPipeW`. Test support, with the `fault-injection` feature only; not
    /// covered by semver.
    #[cfg(feature = "fault-injection")]
    pub fn os_flags(&self) -> (u32, u32) {
        let params = self.params();
        (params.open_mode, params.pipe_mode)
    }

    /// What `CreateNamedPipeW` gets. `PIPE_REJECT_REMOTE_CLIENTS` is added here, last, from
    /// no setting at all, so that no builder call can remove it (tokio CVE-2023-22466 was a
    /// builder call that did).
    fn params(&self) -> ServerParams {
        let mut open_mode = FILE_FLAG_OVERLAPPED;
        if self.inbound {
            open_mode |= PIPE_ACCESS_INBOUND;
        }
        if self.outbound {
            open_mode |= PIPE_ACCESS_OUTBOUND;
        }
        if self.first_instance {
            open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
        }
        let mut pipe_mode = PIPE_WAIT;
        pipe_mode |= if self.message_mode {
            PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE
        } else {
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE
        };
        ServerParams {
            open_mode,
            pipe_mode: pipe_mode | PIPE_REJECT_REMOTE_CLIENTS,
            max_instances: self.max_instances,
            out_buffer: self.out_buffer,
            in_buffer: self.in_buffer,
        }
    }

    /// Creates a server instance of the pipe `name`: `\\.\pipe\<name>`, or a bare `<name>`
    /// that is put under `\\.\pipe\`.
    ///
    /// # Errors
    /// - [`io::ErrorKind::InvalidInput`] for an invalid name (empty, a backslash or NUL in
    ///   the pipe's own name, a remote server, too long), for `max_instances` out of range,
    ///   or for neither inbound nor outbound access;
    /// - [`io::ErrorKind::AlreadyExists`] when [`first_instance`](Self::first_instance) is
    ///   on and the name is taken;
    /// - the OS error otherwise.
    pub fn create(&self, name: &str) -> io::Result<NamedPipeServer> {
        let path = pipe_path(name, false)?;
        if !(1..=PIPE_UNLIMITED_INSTANCES).contains(&self.max_instances) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "max_instances must be 1 to 255 (255: no limit), not {}",
                    self.max_instances
                ),
            ));
        }
        if !self.inbound && !self.outbound {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a pipe needs inbound or outbound access (or both)",
            ));
        }
        let security = OwnerOnly::new()?;
        let handle =
            sys::create_server(&sys::wide(&path), self.params(), &security).map_err(|e| {
                // ERROR_ACCESS_DENIED is what Windows reports for a first instance that is
                // not; Wine reports ERROR_PIPE_BUSY when the other server's instances are all
                // in use.
                let taken = matches!(
                    e.raw_os_error().map(|c| c as u32),
                    Some(ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY)
                );
                if self.first_instance && taken {
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("the pipe name {path} is already taken (or not ours to use)"),
                    )
                } else {
                    context(e, format!("cannot create the pipe {path}"))
                }
            })?;
        Ok(NamedPipeServer {
            handle,
            path,
            known_quota: self.known_quota(),
        })
    }

    /// The out buffer quota a server created by these settings is known to have (P-7): the
    /// out buffer size given to `CreateNamedPipeW`, when the server writes and the instance
    /// is the pipe's first. The documentation calls the sizes advisory: the system may round
    /// them up to an allocation boundary, which only grants more room, so a write no larger
    /// than the size asked for still fits (Wine keeps them exactly; `tests/windows_quota.rs`
    /// reads them back from a handle that may). An instance added to an existing
    /// pipe (`first_instance(false)`) may get the quotas of the pipe's first instance (Wine
    /// does), so nothing is claimed for it; nor for a quota of 0, which no write fits.
    fn known_quota(&self) -> Option<usize> {
        (self.outbound && self.first_instance && self.out_buffer > 0)
            .then_some(self.out_buffer as usize)
    }
}

/// A server instance of a named pipe, created by [`NamedPipeServerBuilder`].
///
/// Wait for a client with [`connect`](Self::connect), then write to it through a
/// [`PipeWriter`](crate::PipeWriter) (`PipeWriter::new(server)`).
pub struct NamedPipeServer {
    handle: OwnedHandle,
    path: String,
    /// The out buffer quota, when the builder knows it (see `NamedPipeServerBuilder::known_quota`):
    /// an outbound-only server cannot read it back.
    known_quota: Option<usize>,
}

impl fmt::Debug for NamedPipeServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedPipeServer")
            .field("path", &self.path)
            .field("handle", &self.handle)
            .finish()
    }
}

impl NamedPipeServer {
    /// The pipe's full path (`\\.\pipe\…`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Waits up to `timeout` for a client to connect. Returns at once when one already has.
    ///
    /// # Errors
    /// [`io::ErrorKind::TimedOut`] when no client came (the wait is cancelled cleanly and
    /// the server can wait again); the OS error otherwise.
    pub fn connect(&self, timeout: Duration) -> io::Result<()> {
        sys::connect(self.handle.as_raw_handle(), timeout)
    }

    /// The handle, for `IntoPipeHandle`.
    pub(crate) fn into_owned(self) -> OwnedHandle {
        self.handle
    }

    /// The out buffer quota the builder asked for, when it is known to be the pipe's (P-7).
    pub(crate) fn known_quota(&self) -> Option<usize> {
        self.known_quota
    }
}

impl AsHandle for NamedPipeServer {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.handle.as_handle()
    }
}

impl AsRawHandle for NamedPipeServer {
    fn as_raw_handle(&self) -> RawHandle {
        self.handle.as_raw_handle()
    }
}

impl From<NamedPipeServer> for OwnedHandle {
    fn from(server: NamedPipeServer) -> OwnedHandle {
        server.handle
    }
}

/// Opens the client end of a named pipe (S-2).
///
/// The client always opens with `SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION`: the
/// server can learn who the client is, but cannot act as the client, so a hostile server
/// that took the name cannot use the client's rights. When every instance is busy, it waits
/// (`WaitNamedPipeW`) up to the timeout. The handle is not inheritable.
///
/// Defaults: write access only, synchronous. A synchronous handle works as an ordinary
/// [`File`] and can also be given to a [`PipeWriter`](crate::PipeWriter), which serves it
/// with a worker thread; [`overlapped`](Self::overlapped) opens it for overlapped I/O
/// instead (then use it only with a `PipeWriter`).
///
/// ```no_run
/// use std::io::Read;
/// use std::time::Duration;
/// use pipewriter::NamedPipeClientOptions;
///
/// let mut client = NamedPipeClientOptions::new()
///     .read(true)
///     .write(false)
///     .open(r"\\.\pipe\my-app-events", Duration::from_secs(5))?;
/// let mut text = String::new();
/// client.read_to_string(&mut text)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct NamedPipeClientOptions {
    read: bool,
    write: bool,
    overlapped: bool,
}

impl Default for NamedPipeClientOptions {
    fn default() -> Self {
        NamedPipeClientOptions::new()
    }
}

impl NamedPipeClientOptions {
    /// Write access, synchronous.
    pub fn new() -> Self {
        NamedPipeClientOptions {
            read: false,
            write: true,
            overlapped: false,
        }
    }

    /// Read access. Default: false.
    pub fn read(mut self, read: bool) -> Self {
        self.read = read;
        self
    }

    /// Write access. Default: true.
    pub fn write(mut self, write: bool) -> Self {
        self.write = write;
        self
    }

    /// Opens the handle for overlapped I/O (`FILE_FLAG_OVERLAPPED`). Default: false.
    pub fn overlapped(mut self, overlapped: bool) -> Self {
        self.overlapped = overlapped;
        self
    }

    /// The `dwFlagsAndAttributes` [`open`](Self::open) passes to `CreateFileW`. Test
    /// support, with the `fault-injection` feature only; not covered by semver.
    #[cfg(feature = "fault-injection")]
    pub fn os_flags(&self) -> u32 {
        self.flags()
    }

    /// The SQOS flags are added here, from no setting, so no call can remove them.
    fn flags(&self) -> u32 {
        let mut flags = 0;
        if self.overlapped {
            flags |= FILE_FLAG_OVERLAPPED;
        }
        flags | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION
    }

    /// Opens the pipe `name`: `\\.\pipe\<name>`, `\\<server>\pipe\<name>`, or a bare
    /// `<name>` that is looked up under `\\.\pipe\`.
    ///
    /// # Errors
    /// - [`io::ErrorKind::InvalidInput`] for an invalid name, or neither read nor write
    ///   access;
    /// - [`io::ErrorKind::NotFound`] when no such pipe exists;
    /// - the `ERROR_PIPE_BUSY` OS error when every instance stayed busy for `timeout`;
    /// - the OS error otherwise ([`io::ErrorKind::PermissionDenied`] when the pipe's
    ///   security refuses us).
    pub fn open(&self, name: &str, timeout: Duration) -> io::Result<File> {
        let path = pipe_path(name, true)?;
        let mut access = 0;
        if self.read {
            access |= GENERIC_READ;
        }
        if self.write {
            access |= GENERIC_WRITE;
        }
        if access == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a pipe client needs read or write access (or both)",
            ));
        }
        let handle = sys::open_client(&sys::wide(&path), access, self.flags(), timeout)
            .map_err(|e| context(e, format!("cannot open the pipe {path}")))?;
        Ok(File::from(handle))
    }
}

/// Validates a pipe name and returns the full path. `remote_ok`: whether
/// `\\<server>\pipe\…` is allowed (clients) or only `\\.\pipe\…` (servers).
fn pipe_path(name: &str, remote_ok: bool) -> io::Result<String> {
    let invalid = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid pipe name {name:?}: {why}"),
        )
    };
    let (server, pipe_name) = if let Some(rest) = name.strip_prefix(r"\\") {
        let (server, rest) = rest
            .split_once('\\')
            .ok_or_else(|| invalid(r"expected \\.\pipe\<name>"))?;
        let pipe_name = match rest.split_once('\\') {
            Some((pipe, pipe_name)) if pipe.eq_ignore_ascii_case("pipe") => pipe_name,
            _ => return Err(invalid(r"expected \\<server>\pipe\<name>")),
        };
        (server, pipe_name)
    } else {
        (".", name)
    };
    if server.is_empty() || server.contains(['/', '\0']) {
        return Err(invalid(
            "the server part is empty or has forbidden characters",
        ));
    }
    if server != "." && !remote_ok {
        return Err(invalid(
            r"a server can only create local pipes (\\.\pipe\…)",
        ));
    }
    if pipe_name.is_empty() {
        return Err(invalid("the pipe's name is empty"));
    }
    if pipe_name.contains('\\') {
        return Err(invalid("a pipe's name cannot contain a backslash"));
    }
    if pipe_name.contains('\0') {
        return Err(invalid("a pipe's name cannot contain a NUL character"));
    }
    let path = if server == "." {
        format!("{LOCAL_PREFIX}{pipe_name}")
    } else {
        format!(r"\\{server}\pipe\{pipe_name}")
    };
    if path.encode_utf16().count() > MAX_NAME_LEN {
        return Err(invalid("longer than 256 characters"));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s2_pipe_names_are_validated() {
        assert_eq!(pipe_path("app", false).unwrap(), r"\\.\pipe\app");
        assert_eq!(pipe_path(r"\\.\pipe\app", false).unwrap(), r"\\.\pipe\app");
        assert_eq!(pipe_path(r"\\.\PIPE\app", false).unwrap(), r"\\.\pipe\app");
        assert_eq!(
            pipe_path(r"\\host\pipe\app", true).unwrap(),
            r"\\host\pipe\app"
        );
        for bad in [
            "",
            r"a\b",
            "nul\0inside",
            r"\\.\pipe\",
            r"\\.\pipe\a\b",
            r"\\.\notpipe\a",
            r"\\",
            r"\\\pipe\a",
        ] {
            let e = pipe_path(bad, true).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
            assert!(e.to_string().contains("invalid pipe name"), "{e}");
        }
        let e = pipe_path(r"\\host\pipe\app", false).unwrap_err();
        assert!(e.to_string().contains("local"), "{e}");
        let long = "x".repeat(300);
        assert!(pipe_path(&long, false).is_err());
    }
}
