//! Pipe pairs created safely (S-1, P-5).

use std::fmt;
use std::io;

use crate::sys::{self, OwnedPipe};

/// Creates a pipe with default settings: `(read end, write end)`.
///
/// The write end is ours, ready for a [`PipeWriter`](crate::PipeWriter) (non-blocking on Unix,
/// overlapped on Windows); the read end is an ordinary synchronous
/// [`std::io::PipeReader`] that can be read here or handed to a child process as its stdin.
/// Neither end is inheritable: a child receives the read end only when it is passed to
/// [`Command::stdin`](std::process::Command::stdin). See [`PipeBuilder`] for the details and
/// the options.
///
/// ```
/// use std::io::Read;
/// use std::time::Duration;
///
/// let (mut reader, write_end) = pipewriter::pipe()?;
/// let writer = pipewriter::PipeWriter::new(write_end)?;
/// writer.write(&b"hello"[..])?;
/// writer.close(Duration::from_secs(5))?;
/// let mut text = String::new();
/// reader.read_to_string(&mut text)?;
/// assert_eq!(text, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`PipeBuilder::build`].
pub fn pipe() -> io::Result<(std::io::PipeReader, WriteEnd)> {
    PipeBuilder::new().build()
}

/// The buffer size a pipe of this crate gets by default where pipes can be resized (Linux,
/// Android), unless `/proc/sys/fs/pipe-max-size` is smaller: 1 MiB. See [`PipeBuilder`].
pub const DEFAULT_PIPE_SIZE: usize = 1 << 20;

/// A new pipe, from a backend.
#[derive(Debug)]
pub(crate) struct Pair {
    pub(crate) read: OwnedPipe,
    pub(crate) write: OwnedPipe,
    /// The buffer size, if the backend learnt it at creation.
    pub(crate) buffer_size: Option<usize>,
}

/// Settings shared with the backends.
#[derive(Default)]
pub(crate) struct PipeOptions {
    /// The requested buffer size, if any.
    pub(crate) buffer_size: Option<usize>,
    /// Keep the system's default size instead of enlarging the pipe (when no size was asked
    /// for).
    pub(crate) system_size: bool,
    /// Test support: chooses the Windows pipe name for each attempt instead of the random one.
    #[cfg(all(windows, feature = "fault-injection"))]
    pub(crate) name_hook: Option<Box<dyn FnMut(u32) -> String + Send>>,
}

impl fmt::Debug for PipeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeOptions")
            .field("buffer_size", &self.buffer_size)
            .field("system_size", &self.system_size)
            .finish_non_exhaustive()
    }
}

/// Configures and creates a pipe (S-1).
///
/// Pipes are **enlarged by default** on Linux and Android: to [`DEFAULT_PIPE_SIZE`] (1 MiB),
/// or to `/proc/sys/fs/pipe-max-size` when that is smaller. A larger pipe lets one OS write
/// hand the kernel more and lets a reader that pauses for a moment not stall the writer; with
/// 64 KiB writes a 1 MiB pipe moves data several times faster than the default 64 KiB one.
/// The enlargement is best effort: when the system refuses it the pipe keeps the system's size
/// and nothing fails. The memory is the kernel's, per pipe, and counts against the user's
/// allowance, `/proc/sys/fs/pipe-user-pages-soft` (64 MiB by default): about 64 enlarged pipes
/// open at once reach it. Past it the kernel refuses further enlargement, and gives *new* pipes
/// of that user, in any of the user's processes, only two pages until some close. A program
/// that keeps more than a few dozen pipes open at once should opt out with
/// [`system_buffer_size`](Self::system_buffer_size) or ask for a size with
/// [`buffer_size`](Self::buffer_size). [`spawn_with_writer`](crate::spawn_with_writer) and
/// [`Communicate`](crate::Communicate) create their stdin pipe this way too.
///
/// - **Unix**: `pipe2(O_CLOEXEC)`, so neither end can leak into a child spawned concurrently
///   by another thread (P-5); the write end is then switched to non-blocking mode, which is
///   safe because no other process shares it.
/// - **Windows**: a named pipe with a fresh 128-bit random name under `\\.\pipe\`, created
///   with `FILE_FLAG_FIRST_PIPE_INSTANCE` (so a squatter that created the name first makes
///   creation fail instead of receiving our data; a new name is then tried, a few times),
///   one instance, `PIPE_REJECT_REMOTE_CLIENTS`, and a DACL that grants access to the
///   current user only. The write end is the server end, overlapped; the read end is opened as
///   a synchronous client with identification-level impersonation only. Neither handle is
///   inheritable.
#[derive(Debug, Default)]
pub struct PipeBuilder {
    options: PipeOptions,
}

impl PipeBuilder {
    /// Default settings: an enlarged buffer where the system allows it (see above).
    pub fn new() -> Self {
        PipeBuilder::default()
    }

    /// Asks for a pipe buffer of `bytes`. A larger buffer lets the writer hand the kernel more
    /// per call and keeps a slow reader from stalling it: with 64 KiB writes, a 1 MiB pipe
    /// moves data about three times faster than the default 64 KiB one on Linux.
    ///
    /// - **Linux**: `F_SETPIPE_SZ`. The kernel rounds up to a power-of-two number of pages.
    ///   An unprivileged process may not exceed `/proc/sys/fs/pipe-max-size` (1 MiB by
    ///   default): larger requests are clamped to it. Unlike the default enlargement, a size
    ///   the system refuses otherwise is an error. Read the result with
    ///   [`WriteEnd::buffer_size`].
    /// - **Windows**: the pipe's in and out buffer sizes (the system treats them as quotas).
    /// - **Other Unix systems**: pipes cannot be resized there; the request is ignored.
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.options.buffer_size = Some(bytes);
        self
    }

    /// Keeps the system's default buffer size (64 KiB on Linux) instead of enlarging the pipe:
    /// the opt-out of the default for programs that keep many pipes open. An explicit
    /// [`buffer_size`](Self::buffer_size) still applies.
    pub fn system_buffer_size(mut self) -> Self {
        self.options.system_size = true;
        self
    }

    /// Test support: `names(attempt)` picks the pipe name for each creation attempt (0, 1, …)
    /// instead of a random one, so a test can occupy the name first. Only with the
    /// `fault-injection` feature, which is for testing and not covered by semver.
    #[cfg(all(windows, feature = "fault-injection"))]
    pub fn pipe_names(mut self, names: impl FnMut(u32) -> String + Send + 'static) -> Self {
        self.options.name_hook = Some(Box::new(names));
        self
    }

    /// Creates the pipe: `(read end, write end)`.
    ///
    /// # Errors
    /// The OS error when the system is out of descriptors, handles or memory, or refuses the
    /// buffer size. On Windows, [`io::ErrorKind::AlreadyExists`] when every name tried was
    /// already taken (which only a squatter who predicted the names could cause). Nothing is
    /// left open on error.
    pub fn build(mut self) -> io::Result<(std::io::PipeReader, WriteEnd)> {
        let pair = sys::pipe::pair(&mut self.options)?;
        let write_end = WriteEnd {
            handle: pair.write,
            buffer_size: pair.buffer_size,
        };
        Ok((std::io::PipeReader::from(pair.read), write_end))
    }
}

/// Our end of a pipe this crate created or opened: exclusive to this process, ready for a
/// [`PipeWriter`](crate::PipeWriter) (non-blocking on Unix, overlapped on Windows).
///
/// It is not a synchronous writer: hand it to [`PipeWriter::new`](crate::PipeWriter::new) or
/// [`Builder::build`](crate::Builder::build), or take the handle out with `OwnedFd::from` /
/// `OwnedHandle::from`.
pub struct WriteEnd {
    handle: OwnedPipe,
    /// The buffer size, when the backend learnt it at creation (Windows: our server end may
    /// lack the access right to query it later).
    buffer_size: Option<usize>,
}

impl fmt::Debug for WriteEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WriteEnd").field(&self.handle).finish()
    }
}

impl WriteEnd {
    /// Wraps a handle this crate created or opened for this process alone.
    #[cfg_attr(windows, allow(dead_code))] // Windows creates pipes through `build` only.
    pub(crate) fn from_exclusive(handle: OwnedPipe) -> Self {
        WriteEnd {
            handle,
            buffer_size: None,
        }
    }

    /// The handle, for `IntoPipeHandle`.
    pub(crate) fn into_owned(self) -> OwnedPipe {
        self.handle
    }

    /// The buffer quota learnt when the pipe was created, for the writer (P-7). On Windows it
    /// is read back from the read end, which may query it, and the pipe has the same quota in
    /// both directions, so it is the one our (server) end writes into. `None` for a quota of
    /// 0, which no write fits.
    pub(crate) fn known_quota(&self) -> Option<usize> {
        self.buffer_size.filter(|&size| size > 0)
    }

    /// The pipe's buffer size in bytes, as granted by the system (see
    /// [`PipeBuilder::buffer_size`]).
    ///
    /// # Errors
    /// [`io::ErrorKind::Unsupported`] on Unix systems other than Linux and Android; the OS
    /// error otherwise.
    pub fn buffer_size(&self) -> io::Result<usize> {
        match self.buffer_size {
            Some(size) => Ok(size),
            None => sys::pipe::buffer_size(&self.handle),
        }
    }
}

#[cfg(unix)]
mod unix_impls {
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

    use super::WriteEnd;

    impl AsFd for WriteEnd {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.handle.as_fd()
        }
    }

    impl AsRawFd for WriteEnd {
        fn as_raw_fd(&self) -> RawFd {
            self.handle.as_raw_fd()
        }
    }

    impl From<WriteEnd> for OwnedFd {
        fn from(end: WriteEnd) -> OwnedFd {
            end.handle
        }
    }
}

#[cfg(windows)]
mod windows_impls {
    use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, OwnedHandle, RawHandle};

    use super::WriteEnd;

    impl AsHandle for WriteEnd {
        fn as_handle(&self) -> BorrowedHandle<'_> {
            self.handle.as_handle()
        }
    }

    impl AsRawHandle for WriteEnd {
        fn as_raw_handle(&self) -> RawHandle {
            self.handle.as_raw_handle()
        }
    }

    impl From<WriteEnd> for OwnedHandle {
        fn from(end: WriteEnd) -> OwnedHandle {
            end.handle
        }
    }
}

/// 128 unpredictable bits, for names others must not guess (Windows pipe names, private
/// directories). The standard library seeds its hash keys from the OS's random source once
/// per thread; SipHash under those secret keys, over a counter, the process id and the time,
/// gives values an outsider cannot predict, without a dependency on a random crate.
pub(crate) fn random_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let half = |salt: u8| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(salt);
        hasher.write_u64(count);
        hasher.write_u32(std::process::id());
        hasher.write_u128(nanos);
        hasher.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// `error` with `what` in front, keeping its kind and the original error as the source.
pub(crate) fn context(error: io::Error, what: String) -> io::Error {
    io::Error::new(
        error.kind(),
        ContextError {
            what,
            source: error,
        },
    )
}

/// An OS error with what was being done.
#[derive(Debug)]
struct ContextError {
    what: String,
    source: io::Error,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for ContextError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
