//! Lending the writer's descriptor (W-14): a duplicate, so that the writer may still close its
//! own (after `close`, or a lingering drop) while the duplicate lives.
//!
//! When the writer drives a twin reopened through `/proc/self/fd` (P-3), the duplicate is of
//! the user's own descriptor: its open file description is the user's, so what is done to it
//! (its flags) cannot change how the writer's writes behave.
//!
//! # References
//! - [`fcntl(2)`](https://man7.org/linux/man-pages/man2/fcntl.2.html) (`F_DUPFD_CLOEXEC`,
//!   which [`OwnedFd::try_clone`] uses)

use std::io;
use std::os::fd::OwnedFd;

use super::Io;

impl Io {
    /// A close-on-exec duplicate of the user's descriptor; `NotConnected` once it was closed
    /// or given back.
    pub(crate) fn duplicate_handle(&self) -> io::Result<OwnedFd> {
        let slot = self.fd_slot();
        let Some(handle) = slot.as_ref() else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the pipe handle was closed or given back",
            ));
        };
        handle.original.as_ref().unwrap_or(&handle.io).try_clone()
    }
}
