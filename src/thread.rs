//! Starting the crate's own threads (the Unix reactor, worker threads).
//!
//! A thread is a resource the OS may refuse (thread or address-space limits): starting one
//! never panics, the caller gets the OS error and the writer that needed it fails to build
//! (W-15). Under the `fault-injection` feature a test can make the next starts fail on purpose
//! ([`fail_thread_spawns`](crate::fault::fail_thread_spawns)).

use std::io;
use std::thread::JoinHandle;

/// Starts a thread named `name` running `body`, or returns why the OS refused it.
#[cfg_attr(any(loom, pipewriter_fake_backend), allow(dead_code))]
pub(crate) fn spawn(
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> io::Result<JoinHandle<()>> {
    #[cfg(feature = "fault-injection")]
    if crate::fault::take_spawn_failure() {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            "the OS refused a thread (injected fault)",
        ));
    }
    std::thread::Builder::new().name(name.into()).spawn(body)
}
