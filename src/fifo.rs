//! Unix FIFOs created and opened safely (S-3).
// Unsafe: `mkfifo(3)` through libc (rustix has no `mkfifoat` on every Unix this builds for).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::{FileType, Mode, OFlags, Stat, CWD};

use crate::pipe::{context, WriteEnd};

/// The mode FIFOs are created with: read and write for the owner only.
const FIFO_MODE: u32 = 0o600;
/// The mode of the private directory [`Fifo::create_private`] makes.
const DIR_MODE: u32 = 0o700;
/// How many fresh names [`Fifo::create_private`] tries before giving up.
const NAME_ATTEMPTS: u32 = 8;

/// A FIFO (named pipe) this crate created, removed again when dropped (S-3).
///
/// - [`Fifo::create`] makes one at a path of yours, mode `0600`;
/// - [`Fifo::create_private`] makes one in a fresh private (`0700`) directory under the
///   system's temporary directory, so no other user can even look it up.
///
/// Both endpoints are opened with `O_NOFOLLOW | O_CLOEXEC`, and anything that is not a FIFO
/// owned by the current user is refused: a symbolic link, a regular file, a directory or a
/// device put at the path is never opened for writing by mistake. [`Fifo::open_writer`] and
/// [`Fifo::open_reader`] apply the same checks to FIFOs made by others.
///
/// The process's umask applies to the creation mode, as it does to every file: it can make
/// the FIFO stricter, never looser.
///
/// ```
/// use std::io::Read;
/// use std::time::Duration;
/// use pipewriter::{Fifo, PipeWriter};
///
/// let fifo = Fifo::create_private()?;
/// let mut reader = fifo.reader()?; // a writer can only open a FIFO that has a reader
/// let writer = PipeWriter::new(fifo.writer(Duration::from_secs(5))?)?;
/// writer.write(&b"through the FIFO"[..])?;
/// writer.close(Duration::from_secs(5))?;
/// let mut text = String::new();
/// reader.read_to_string(&mut text)?;
/// assert_eq!(text, "through the FIFO");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Fifo {
    path: PathBuf,
    /// The private directory holding the FIFO, removed with it.
    private_dir: Option<PathBuf>,
    /// False once [`Fifo::into_path`] took responsibility for the path.
    remove_on_drop: bool,
}

impl fmt::Debug for Fifo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fifo")
            .field("path", &self.path)
            .field("private", &self.private_dir.is_some())
            .finish()
    }
}

impl Fifo {
    /// Creates a FIFO at `path` with mode `0600`.
    ///
    /// # Errors
    /// [`io::ErrorKind::AlreadyExists`] when anything exists at `path` (it is never replaced),
    /// [`io::ErrorKind::InvalidInput`] for a path with a NUL byte, the OS error otherwise
    /// (a missing or unwritable parent directory).
    pub fn create(path: impl AsRef<Path>) -> io::Result<Fifo> {
        let path = path.as_ref();
        mkfifo(path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "cannot create a FIFO at {}: the path exists",
                        path.display()
                    ),
                )
            } else {
                context(e, format!("cannot create a FIFO at {}", path.display()))
            }
        })?;
        Ok(Fifo {
            path: path.to_path_buf(),
            private_dir: None,
            remove_on_drop: true,
        })
    }

    /// Creates a FIFO named `fifo` in a new private directory (mode `0700`) under
    /// [`std::env::temp_dir`]. The directory has a random name; it is removed with the FIFO.
    ///
    /// # Errors
    /// The OS error when the directory or the FIFO cannot be created; nothing is left behind.
    pub fn create_private() -> io::Result<Fifo> {
        let base = std::env::temp_dir();
        let mut attempt = 0;
        let dir = loop {
            let dir = base.join(format!(
                "pipewriter-{}-{:016x}",
                std::process::id(),
                crate::pipe::random_u128() as u64
            ));
            match std::fs::DirBuilder::new().mode(DIR_MODE).create(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < NAME_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => {
                    return Err(context(
                        e,
                        format!("cannot create a private directory in {}", base.display()),
                    ))
                }
            }
        };
        // From here on, the guard removes what was made if a later step fails.
        let fifo = Fifo {
            path: dir.join("fifo"),
            private_dir: Some(dir),
            remove_on_drop: true,
        };
        mkfifo(&fifo.path).map_err(|e| {
            context(
                e,
                format!("cannot create a FIFO at {}", fifo.path.display()),
            )
        })?;
        Ok(fifo)
    }

    /// The FIFO's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the FIFO (and its private directory) after this value is dropped and returns its
    /// path; removing it becomes the caller's job.
    pub fn into_path(mut self) -> PathBuf {
        self.remove_on_drop = false;
        std::mem::take(&mut self.path)
    }

    /// Opens this FIFO for writing; see [`Fifo::open_writer`].
    ///
    /// # Errors
    /// As [`Fifo::open_writer`].
    pub fn writer(&self, timeout: Duration) -> io::Result<WriteEnd> {
        Fifo::open_writer(&self.path, timeout)
    }

    /// Opens this FIFO for reading; see [`Fifo::open_reader`].
    ///
    /// # Errors
    /// As [`Fifo::open_reader`].
    pub fn reader(&self) -> io::Result<File> {
        Fifo::open_reader(&self.path)
    }

    /// Opens the FIFO at `path` for writing, for a [`PipeWriter`](crate::PipeWriter).
    ///
    /// The FIFO is opened with `O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK`. A FIFO cannot be opened
    /// for writing before it has a reader: until one opens it, the system says `ENXIO`, and
    /// this waits for a reader (retrying) up to `timeout`. The returned end has an open file
    /// description of its own, so it is non-blocking without affecting anyone else.
    ///
    /// On Linux the check has no time-of-check window: the path is opened with `O_PATH`
    /// (which opens nothing that could have side effects), that inode is checked, and then
    /// that very inode is reopened through `/proc/self/fd`; an object swapped in at the path
    /// meanwhile is never opened. Elsewhere (or without `/proc`) the path is checked, opened,
    /// and what was opened checked again: a swapped-in object is refused, but only after it
    /// was opened.
    ///
    /// # Errors
    /// - [`io::ErrorKind::InvalidInput`] when the path is a symbolic link, a regular file, a
    ///   directory or anything else that is not a FIFO;
    /// - [`io::ErrorKind::PermissionDenied`] when the FIFO belongs to another user, or when
    ///   group or others may write to it (they could put bytes into the stream);
    /// - [`io::ErrorKind::TimedOut`] when no reader opened it within `timeout`;
    /// - [`io::ErrorKind::NotFound`] and other OS errors as the system reports them.
    pub fn open_writer(path: impl AsRef<Path>, timeout: Duration) -> io::Result<WriteEnd> {
        let path = path.as_ref();
        let flags =
            OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
        let target = Target::checked(path)?;
        let deadline = Instant::now().checked_add(timeout);
        let mut pause = Duration::from_millis(1);
        let fd = loop {
            match target.open(flags) {
                Ok(fd) => break fd,
                Err(rustix::io::Errno::NXIO) => {
                    let left = deadline.map_or(Duration::MAX, |d| {
                        d.saturating_duration_since(Instant::now())
                    });
                    if left.is_zero() {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "no reader opened the FIFO {} within {timeout:?}",
                                path.display()
                            ),
                        ));
                    }
                    thread::sleep(pause.min(left));
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(open_error(path, e)),
            }
        };
        target.verify(path, &fd)?;
        // This open made a description of our own: on macOS and NetBSD, a write to a FIFO
        // whose reader left fails with `EPIPE` and raises no `SIGPIPE` (P-4).
        crate::sys::pipe::set_no_sigpipe(fd.as_fd())?;
        Ok(WriteEnd::from_exclusive(fd))
    }

    /// Opens the FIFO at `path` for reading, with the same checks as
    /// [`Fifo::open_writer`]. Returns at once, without waiting for a writer; the returned
    /// file reads in blocking mode.
    ///
    /// Mind the FIFO rule: a read returns end-of-file (0) whenever no writer has the FIFO
    /// open, including before the first writer opened it. Open the reader first, then the
    /// writer, then read.
    ///
    /// # Errors
    /// As [`Fifo::open_writer`], without the timeout.
    pub fn open_reader(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let target = Target::checked(path)?;
        // O_NONBLOCK so the open does not wait for a writer; it is cleared afterwards.
        let flags =
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = loop {
            match target.open(flags) {
                Ok(fd) => break fd,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(open_error(path, e)),
            }
        };
        target.verify(path, &fd)?;
        let status = rustix::fs::fcntl_getfl(&fd)? & !OFlags::ACCMODE;
        rustix::fs::fcntl_setfl(&fd, status & !OFlags::NONBLOCK)?;
        Ok(File::from(fd))
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        if !self.remove_on_drop {
            return;
        }
        // Remove only what is still our FIFO: something else may have been put at a user path.
        if let Ok(stat) = rustix::fs::lstat(&self.path) {
            if describe(&stat).is_none() && stat.st_uid == rustix::process::geteuid().as_raw() {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    log::debug!("could not remove the FIFO {}: {e}", self.path.display());
                }
            }
        }
        if let Some(dir) = &self.private_dir {
            if let Err(e) = std::fs::remove_dir(dir) {
                log::debug!("could not remove the directory {}: {e}", dir.display());
            }
        }
    }
}

/// `mkfifo(path, 0600)`.
///
/// # References
/// - [`mkfifo(3)`](https://man7.org/linux/man-pages/man3/mkfifo.3.html)
fn mkfifo(path: &Path) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a FIFO path must not contain a NUL byte",
        )
    })?;
    loop {
        // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call; mkfifo
        // does not keep the pointer.
        let result = unsafe { libc::mkfifo(c_path.as_ptr(), FIFO_MODE as libc::mode_t) };
        if result == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// `None` for a FIFO, else what the file is, for the error message.
fn describe(stat: &Stat) -> Option<&'static str> {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Fifo => None,
        FileType::Symlink => Some("a symbolic link"),
        FileType::RegularFile => Some("a regular file"),
        FileType::Directory => Some("a directory"),
        FileType::CharacterDevice | FileType::BlockDevice => Some("a device"),
        FileType::Socket => Some("a socket"),
        FileType::Unknown => Some("not a FIFO"),
    }
}

fn not_a_fifo(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is {what}, not a FIFO; refusing to open it",
            path.display()
        ),
    )
}

/// What is opened: the checked inode itself (Linux), or the path again (elsewhere).
///
/// On Linux the path is opened once with `O_PATH | O_NOFOLLOW | O_CLOEXEC`, which opens no
/// device, waits for nothing and follows no symbolic link; that very inode is checked with
/// `fstat`, and then reopened for reading or writing through `/proc/self/fd/N`, which names
/// the inode, not the path. Whatever is put at the path after the check is never opened.
/// Where `/proc` is not mounted, and on other systems, the path is checked with `lstat`,
/// opened with `O_NOFOLLOW`, and what was opened checked again with `fstat`: an object
/// swapped in between the two is refused after the open, but it *was* opened, and opening
/// some devices has side effects. That window is the price of systems without `O_PATH`
/// reopening.
struct Target {
    /// The `O_PATH` descriptor of the checked inode (Linux, `/proc` mounted).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    inode: Option<OwnedFd>,
    path: PathBuf,
}

impl Target {
    /// Checks what is at `path`: a FIFO owned by this user that no one else may write to.
    ///
    /// # References
    /// - [`open(2)`, `O_PATH`](https://man7.org/linux/man-pages/man2/open.2.html)
    /// - [`proc_pid_fd(5)`](https://man7.org/linux/man-pages/man5/proc_pid_fd.5.html)
    /// - [`lstat(2)`, `fstat(2)`](https://man7.org/linux/man-pages/man2/lstat.2.html)
    fn checked(path: &Path) -> io::Result<Target> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(CWD, path, flags, Mode::empty()) {
                Ok(inode) => {
                    let stat = rustix::fs::fstat(&inode)?;
                    check_stat(path, &stat)?;
                    let proc_path = proc_fd_path(&inode);
                    if rustix::fs::access(&proc_path, rustix::fs::Access::EXISTS).is_ok() {
                        #[cfg(feature = "fault-injection")]
                        crate::fault::run_fifo_hook(path);
                        return Ok(Target {
                            inode: Some(inode),
                            path: proc_path,
                        });
                    }
                    log::debug!("no /proc/self/fd: {} is opened by path", path.display());
                }
                Err(e) => return Err(open_error(path, e)),
            }
        }
        check_path(path)?;
        #[cfg(feature = "fault-injection")]
        crate::fault::run_fifo_hook(path);
        Ok(Target {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            inode: None,
            path: path.to_path_buf(),
        })
    }

    /// Opens the checked object with `flags` (`O_NOFOLLOW` is dropped for the `/proc` link,
    /// which is a symbolic link by design and names the inode itself).
    fn open(&self, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.inode.is_some() {
            return rustix::fs::openat(CWD, &self.path, flags & !OFlags::NOFOLLOW, Mode::empty());
        }
        rustix::fs::openat(CWD, &self.path, flags, Mode::empty())
    }

    /// The check on what was really opened: a FIFO of ours, and (Linux) the checked inode.
    fn verify(&self, path: &Path, fd: &OwnedFd) -> io::Result<()> {
        verify_open(path, fd)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(inode) = &self.inode {
            let (checked, opened) = (rustix::fs::fstat(inode)?, rustix::fs::fstat(fd)?);
            if (checked.st_dev, checked.st_ino) != (opened.st_dev, opened.st_ino) {
                return Err(io::Error::other(format!(
                    "{} changed while it was opened; refusing it",
                    path.display()
                )));
            }
        }
        Ok(())
    }
}

/// `/proc/self/fd/N` for `fd`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn proc_fd_path(fd: &OwnedFd) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Refuses early, before any open, what is visibly not our FIFO: opening some devices has
/// side effects, so they must not be opened at all.
///
/// # References
/// - [`lstat(2)`](https://man7.org/linux/man-pages/man2/lstat.2.html)
fn check_path(path: &Path) -> io::Result<()> {
    let stat = rustix::fs::lstat(path).map_err(|e| open_error(path, e))?;
    check_stat(path, &stat)
}

/// A FIFO, owned by this user, that neither group nor others may write to.
fn check_stat(path: &Path, stat: &Stat) -> io::Result<()> {
    if let Some(what) = describe(stat) {
        return Err(not_a_fifo(path, what));
    }
    check_owner(path, stat)
}

/// The FIFO must be this user's (S-3), and no one else's to write into: a FIFO that group or
/// others may write to lets them put bytes into the stream (our writer's reader, or our
/// reader, would take them for ours), so it is refused too. Read permission for others is
/// not checked here: keep such FIFOs in a private directory ([`Fifo::create_private`]).
fn check_owner(path: &Path, stat: &Stat) -> io::Result<()> {
    let me = rustix::process::geteuid().as_raw();
    let mode = Mode::from_raw_mode(stat.st_mode);
    if stat.st_uid == me && mode.intersects(Mode::WGRP | Mode::WOTH) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the FIFO {} may be written by other users (mode {:o}); refusing it",
                path.display(),
                mode.bits() & 0o777
            ),
        ));
    }
    if stat.st_uid != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the FIFO {} belongs to user {}, not to this user ({me}); refusing to open it",
                path.display(),
                stat.st_uid
            ),
        ));
    }
    Ok(())
}

/// The check that counts, on what was really opened (the path may have changed since
/// [`check_path`]).
///
/// # References
/// - [`fstat(2)`](https://man7.org/linux/man-pages/man2/fstat.2.html)
fn verify_open(path: &Path, fd: &OwnedFd) -> io::Result<()> {
    let stat = rustix::fs::fstat(fd.as_fd())?;
    if let Some(what) = describe(&stat) {
        return Err(not_a_fifo(path, what));
    }
    check_owner(path, &stat)
}

/// A clear error for a failed `open`.
fn open_error(path: &Path, errno: rustix::io::Errno) -> io::Error {
    match errno {
        // O_NOFOLLOW on a symbolic link: ELOOP on Linux, EMLINK on FreeBSD, EFTYPE elsewhere.
        rustix::io::Errno::LOOP | rustix::io::Errno::MLINK => not_a_fifo(path, "a symbolic link"),
        rustix::io::Errno::ISDIR => not_a_fifo(path, "a directory"),
        e => context(e.into(), format!("cannot open the FIFO {}", path.display())),
    }
}
