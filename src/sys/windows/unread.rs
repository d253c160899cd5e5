//! What the reader has not read yet (W-19): Windows cannot tell, so the answer is
//! `Unsupported`, never an estimate.
//!
//! What a pipe's write end can be asked, and why none of it is the count:
//! - `PeekNamedPipe` reports the data *this* end could read — the other direction of a duplex
//!   pipe — and needs read access, which an outbound end (a `ChildStdin`, this crate's pipes)
//!   lacks.
//! - `GetNamedPipeInfo` gives the buffer quotas, not their use.
//! - `NtQueryInformationFile(FilePipeLocalInformation)` gives `OutboundQuota` and
//!   `WriteQuotaAvailable`, whose difference looks like the unread bytes, but a reader blocked
//!   in a read takes its request's size off the free quota although the buffer is empty
//!   (Cygwin's `select.cc` works around exactly this when it polls a pipe for writing), and
//!   the server end of an outbound pipe may not be opened with `FILE_READ_ATTRIBUTES` to ask
//!   at all. The difference is therefore not what the reader left, and is not reported.
//!
//! Under Wine the answer is the same `Unsupported` (tested in `tests/reader_consumed.rs`).
//!
//! # References
//! - [`PeekNamedPipe`](https://learn.microsoft.com/windows/win32/api/namedpipeapi/nf-namedpipeapi-peeknamedpipe)
//! - [`GetNamedPipeInfo`](https://learn.microsoft.com/windows/win32/api/namedpipeapi/nf-namedpipeapi-getnamedpipeinfo)
//! - [`FILE_PIPE_LOCAL_INFORMATION`](https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/ns-ntifs-_file_pipe_local_information)

use std::io;

use super::Io;

impl Io {
    /// `NotConnected` once the handle was closed; otherwise `Unsupported` (see the module
    /// docs).
    pub(crate) fn bytes_unread(&self) -> io::Result<usize> {
        if self.slot().is_none() {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the pipe handle was closed: what is left in the pipe can no longer be seen",
            ));
        }
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Windows cannot tell how much of a pipe its reader has not read yet",
        ))
    }

    /// Never known here: the writer learns of a closed reader from its next write.
    pub(crate) fn reader_gone(&self) -> bool {
        false
    }
}
