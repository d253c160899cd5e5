//! Lending the writer's handle (W-14): a duplicate (`DuplicateHandle`, same access, not
//! inheritable), so that the writer may still close its own (after `close`, or a lingering
//! drop) while the duplicate lives.
//!
//! # References
//! - [`DuplicateHandle`](https://learn.microsoft.com/windows/win32/api/handleapi/nf-handleapi-duplicatehandle),
//!   which [`OwnedHandle::try_clone`] uses

use std::io;
use std::os::windows::io::OwnedHandle;

use super::Io;

impl Io {
    /// A non-inheritable duplicate of the handle; `NotConnected` once it was closed or given
    /// back.
    pub(crate) fn duplicate_handle(&self) -> io::Result<OwnedHandle> {
        let slot = self.slot();
        let Some(handle) = slot.as_ref() else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the pipe handle was closed or given back",
            ));
        };
        handle.try_clone()
    }
}
