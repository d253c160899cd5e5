//! What the simulated kernel of model-checking and Miri builds cannot do: look into the pipe
//! (W-19) or lend a handle (W-14). Both answer with an honest error.

use std::io;

use super::fake::{Io, OwnedPipe};

impl Io {
    /// The simulated kernel has no pipe buffer to look into.
    pub(crate) fn bytes_unread(&self) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the simulated kernel cannot tell what the reader has not read",
        ))
    }

    /// Never known here.
    pub(crate) fn reader_gone(&self) -> bool {
        false
    }

    /// The simulated kernel's handle is not a real descriptor.
    pub(crate) fn duplicate_handle(&self) -> io::Result<OwnedPipe> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the simulated kernel's handle cannot be lent",
        ))
    }
}
