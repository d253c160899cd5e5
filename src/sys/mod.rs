//! Platform backends: one per target, each a `sys::Io` that implements the driver's
//! [`Backend`](crate::driver::Backend) contract (documented there, once), plus `OwnedPipe`,
//! `classify` (the OS error table, E-1) and `pipe`. Backends build on `driver` and `core`,
//! never on the public facade.

#[cfg(unix)]
mod posix;

#[cfg(all(unix, not(any(loom, pipewriter_fake_backend))))]
mod unix;
#[cfg(all(unix, not(any(loom, pipewriter_fake_backend))))]
pub use unix::OwnedPipe;
#[cfg(all(unix, not(any(loom, pipewriter_fake_backend))))]
#[allow(unused_imports)] // the table is used by backends' tests and fault injection
pub(crate) use unix::{classify, pipe, Io};

// Model checking (`--cfg loom`) and Miri (`--cfg pipewriter_fake_backend`), Unix hosts only: a
// simulated kernel driven by the test instead of the OS (see fake.rs and RELIABILITY.md).
#[cfg(all(unix, any(loom, pipewriter_fake_backend)))]
pub mod fake;
#[cfg(all(unix, any(loom, pipewriter_fake_backend)))]
pub use fake::OwnedPipe;
#[cfg(all(unix, any(loom, pipewriter_fake_backend)))]
#[allow(unused_imports)]
pub(crate) use fake::{classify, pipe, Io};
#[cfg(all(unix, any(loom, pipewriter_fake_backend)))]
mod fake_unsupported;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::OwnedPipe;
#[cfg(windows)]
#[allow(unused_imports)] // the table is used by backends' tests and fault injection
pub(crate) use windows::{classify, named_pipe, pipe, Io};

/// Fork generations (W-15): `register()` when a writer is built, `generation()` to compare.
/// Only Unix forks; elsewhere, and in the simulated kernel, the generation never changes.
#[cfg(all(unix, not(any(loom, pipewriter_fake_backend))))]
pub(crate) use unix::fork as process;

#[cfg(not(all(unix, not(any(loom, pipewriter_fake_backend)))))]
pub(crate) mod process {
    /// The generation, which never changes here.
    pub(crate) fn register() -> u64 {
        0
    }

    /// The generation, which never changes here.
    pub(crate) fn generation() -> u64 {
        0
    }
}

#[cfg(not(any(unix, windows)))]
compile_error!("pipewriter supports Unix and Windows targets only");

/// Reads from `file` at `offset` without using its file position where the OS allows (W-18's
/// plain copy, on the caller's thread).
///
/// # References
/// - [`pread(2)`](https://man7.org/linux/man-pages/man2/pread.2.html)
/// - [`ReadFile` with an `OVERLAPPED` offset](https://learn.microsoft.com/en-us/windows/win32/api/fileapi/nf-fileapi-readfile)
///   (`std::os::windows::fs::FileExt::seek_read`, which also moves the file position)
pub(crate) fn read_file_at(
    file: &std::fs::File,
    buf: &mut [u8],
    offset: u64,
) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
}
