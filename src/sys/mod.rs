//! Platform backends.
//!
//! Each backend provides, with the same names and meaning:
//!
//! - `OwnedPipe`: the owned handle type (`OwnedFd` / `OwnedHandle`).
//! - `Io`: the per-writer OS state, kept in the writer's `Shared`, with
//!   - `Io::new(handle, provenance) -> io::Result<Io>`: validates the handle and chooses how to
//!     drive it (non-blocking / overlapped, or a blocking worker thread). Must not start I/O.
//!   - `Io::kick(&Arc<Shared>)`: the writer went from idle to having queued data. Must not block
//!     and must not call event handlers: it only arranges for the I/O context to call
//!     `Shared::drive` (or `begin`/`complete`) soon.
//!   - `Io::cancel(&Arc<Shared>)`: `stop` was requested (the core already refuses new work).
//!     Makes any in-flight OS write finish promptly and reports it through
//!     `Shared::complete`/`drive`; forgets any pending writability wait or timer. Called
//!     without any lock held, possibly from an event handler of this writer.
//!   - `Io::linger(&Arc<Shared>)`: the user's handle was dropped with queued data; the I/O
//!     context finishes the queue and closes the handle (`Begin::Close`).
//!   - `io.close_handle()`: close the handle now (nothing is in flight). Idempotent.
//!   - `io.take_handle() -> Option<OwnedPipe>`: give the handle back (after a stop), in the
//!     mode it came in.
//! - `classify(io::Error) -> Outcome`: the one table that maps OS errors to the core's
//!   outcomes (E-1 … E-4).
//!
//! Events are delivered by the I/O context only (`Shared::drive` does it between writes, or the
//! backend calls `Shared::dispatch`), never from a user's call.

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

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::OwnedPipe;
#[cfg(windows)]
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
