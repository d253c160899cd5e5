//! Lending the writer's handle (W-14): [`PipeWriter::try_clone_handle`].
//!
//! # Why `PipeWriter` does not implement `AsFd` / `AsHandle`
//!
//! `AsFd::as_fd(&self)` promises a descriptor that stays open for as long as the writer is
//! borrowed. A `PipeWriter` cannot keep that promise: [`close`](PipeWriter::close) takes
//! `&self` and closes the handle so that the reader sees end-of-file while the writer still
//! exists (another thread may call it during any borrow); a writer whose queue ends on a
//! lingering close lets it go on its I/O thread; [`into_handle`](PipeWriter::into_handle)
//! gives it away; and on Linux the descriptor the writer writes to may be a twin it reopened
//! through `/proc/self/fd`, not the user's. Keeping the descriptor open until the drop instead
//! would keep the reader from ever seeing end-of-file before it. The same holds for
//! `AsRawFd` / `AsRawHandle`, whose number would dangle after a close.
//!
//! So the writer lends a *duplicate* instead: an owned handle (`OwnedFd` / `OwnedHandle`)
//! that is valid for as long as the caller keeps it, whatever the writer does meanwhile, and
//! that implements every std handle trait. Its cost and its rules are on
//! [`try_clone_handle`](PipeWriter::try_clone_handle).

use std::io;

use super::{inherited_error, PipeWriter};
use crate::sys::OwnedPipe;

impl PipeWriter {
    /// A duplicate of the writer's handle (W-14), for looking at it: `fstat` or `isatty` on
    /// Unix, `GetFileType` or `GetNamedPipeInfo` on Windows, a pipe's buffer size, or passing
    /// it to code that only inspects.
    ///
    /// The duplicate is close-on-exec (Unix) or not inheritable (Windows), and stays valid
    /// until you drop it, whatever the writer does meanwhile (`close`, `stop`, the reader
    /// leaving, a drop). On Linux, when the writer writes through a twin it reopened for a
    /// non-blocking mode of its own (see [`Builder::exclusive`](crate::Builder::exclusive)),
    /// the duplicate is of *your* original descriptor.
    ///
    /// What you must not do with it:
    /// - **write to it**: those bytes would go behind the queue's back, between or inside the
    ///   writer's own writes (a pipe only keeps writes of up to `PIPE_BUF` bytes whole), and
    ///   the writer's counters would not know them;
    /// - **change its flags or mode** (`fcntl(F_SETFL)`, `SetNamedPipeHandleState`): a
    ///   duplicate shares the open file description, so on a writer driving the descriptor
    ///   itself, clearing `O_NONBLOCK` would make its writes block its I/O thread;
    /// - **keep it longer than you need**: the pipe's write end stays open while any duplicate
    ///   does, so after [`close`](Self::close) the reader sees end-of-file only once the
    ///   duplicate is dropped too.
    ///
    /// Closing it is fine: it is yours, and the writer's own handle stays open.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotConnected`] once the writer's handle was closed or given back; the
    /// OS error when the duplicate cannot be made (no descriptors left); an error in a forked
    /// child for a writer its parent built (W-15).
    pub fn try_clone_handle(&self) -> io::Result<OwnedPipe> {
        if self.inherited() {
            return Err(inherited_error());
        }
        self.shared.io.duplicate_handle()
    }
}
