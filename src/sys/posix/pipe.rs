//! Unix pipe pairs (S-1, P-5): `pipe2(O_CLOEXEC)`, our end non-blocking, optional buffer size;
//! on macOS and NetBSD our end also never raises `SIGPIPE` (`F_SETNOSIGPIPE`, P-4).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::OFlags;

use crate::pipe::{Pair, PipeOptions};

/// Creates a pipe. Both ends are close-on-exec from their creation;
/// the write end (ours) is non-blocking, the read end blocking (it may go to a child).
///
/// # References
/// - [`pipe2(2)`](https://man7.org/linux/man-pages/man2/pipe2.2.html)
/// - [`fcntl(2)`, `F_SETPIPE_SZ`](https://man7.org/linux/man-pages/man2/fcntl.2.html)
/// - [`pipe(2)` on macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/pipe.2.html)
///   (no `pipe2` there)
pub(crate) fn pair(options: &mut PipeOptions) -> io::Result<Pair> {
    let (read, write) = pipe_cloexec()?;
    // O_NONBLOCK lives on the open file description; this one was just created and only
    // this process holds it, so changing it cannot surprise anyone (P-3).
    let flags = rustix::fs::fcntl_getfl(&write)? & !OFlags::ACCMODE;
    rustix::fs::fcntl_setfl(&write, flags | OFlags::NONBLOCK)?;
    // Also a flag of the description, and as much ours (see `sys/unix/signal.rs`).
    set_no_sigpipe(write.as_fd())?;
    match options.buffer_size {
        Some(size) => set_buffer_size(write.as_fd(), size)?,
        None if !options.system_size => enlarge(write.as_fd()),
        None => {}
    }
    Ok(Pair {
        read,
        write,
        buffer_size: None,
    })
}

#[cfg(not(any(
    target_vendor = "apple",
    target_os = "aix",
    target_os = "haiku",
    target_os = "nto"
)))]
fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

/// These systems have no `pipe2`: the flag is set right after creation, as the standard
/// library does there. A `fork` in another thread between the two calls could inherit the
/// descriptors; nothing better exists on these systems.
#[cfg(any(
    target_vendor = "apple",
    target_os = "aix",
    target_os = "haiku",
    target_os = "nto"
))]
fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    use rustix::io::FdFlags;
    let (read, write) = rustix::pipe::pipe()?;
    rustix::io::fcntl_setfd(&read, FdFlags::CLOEXEC)?;
    rustix::io::fcntl_setfd(&write, FdFlags::CLOEXEC)?;
    Ok((read, write))
}

/// Makes writes on `fd` fail with `EPIPE` without raising `SIGPIPE` (P-4), where the system
/// can: `F_SETNOSIGPIPE` on macOS (and the other Apple systems) and NetBSD. It is a flag of
/// the open file description, shared with every duplicate: only call it on a description that
/// is this process's alone (a pipe or FIFO end it just opened). Elsewhere it does nothing;
/// the writing threads' signal mask covers those systems (`sys/unix/signal.rs`).
///
/// # Errors
/// The OS error of `fcntl`.
///
/// # References
/// - [NetBSD `fcntl(2)`, `F_SETNOSIGPIPE`](https://man.netbsd.org/fcntl.2)
/// - [macOS `fcntl(2)`](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/fcntl.2.html)
#[cfg(any(target_vendor = "apple", target_os = "netbsd"))]
#[allow(unsafe_code)] // `fcntl(F_SETNOSIGPIPE)` through libc: rustix has no wrapper for it.
pub(crate) fn set_no_sigpipe(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `fd` is a valid descriptor for the call; the command takes an int argument.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETNOSIGPIPE, 1 as libc::c_int) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// No such flag on this system: nothing to do (see the Apple/NetBSD version).
#[cfg(not(any(target_vendor = "apple", target_os = "netbsd")))]
pub(crate) fn set_no_sigpipe(_fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    Ok(())
}

/// The largest pipe an unprivileged process may ask for (`/proc/sys/fs/pipe-max-size`);
/// 1 MiB by default.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn max_unprivileged_size() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Asks for a pipe buffer of `size` bytes. The kernel rounds up to a power-of-two number of
/// pages; an unprivileged request above the system's maximum is clamped to that maximum
/// (logged at debug level). Use [`buffer_size`] to read what was granted.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_buffer_size(fd: std::os::fd::BorrowedFd<'_>, size: usize) -> io::Result<()> {
    match rustix::pipe::fcntl_setpipe_size(fd, size) {
        Ok(_) => Ok(()),
        Err(rustix::io::Errno::PERM) => {
            let Some(max) = max_unprivileged_size().filter(|&max| max < size) else {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("the system refused a pipe buffer of {size} bytes"),
                ));
            };
            log::debug!("pipe buffer of {size} bytes clamped to the system maximum, {max}");
            rustix::pipe::fcntl_setpipe_size(fd, max)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The default enlargement (see `PipeBuilder`): to `DEFAULT_PIPE_SIZE` or the system's
/// maximum, whichever is smaller; a refusal keeps the system's size.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn enlarge(fd: std::os::fd::BorrowedFd<'_>) {
    let size = max_unprivileged_size().map_or(crate::pipe::DEFAULT_PIPE_SIZE, |max| {
        max.min(crate::pipe::DEFAULT_PIPE_SIZE)
    });
    if let Err(e) = rustix::pipe::fcntl_setpipe_size(fd, size) {
        log::debug!("pipe not enlarged to {size} bytes ({e}); it keeps the system's size");
    }
}

/// Pipes cannot be resized here: they keep the system's size.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn enlarge(_fd: std::os::fd::BorrowedFd<'_>) {}

/// Other systems have no way to resize a pipe: the request is ignored (logged at debug
/// level), as documented on `PipeBuilder::buffer_size`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_buffer_size(_fd: std::os::fd::BorrowedFd<'_>, size: usize) -> io::Result<()> {
    log::debug!("this system cannot resize pipes; ignoring a request for {size} bytes");
    Ok(())
}

/// The pipe's buffer size in bytes.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn buffer_size(fd: &OwnedFd) -> io::Result<usize> {
    Ok(rustix::pipe::fcntl_getpipe_size(fd)?)
}

/// The pipe's buffer size in bytes: not available on this system.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn buffer_size(_fd: &OwnedFd) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this system does not report pipe buffer sizes",
    ))
}
