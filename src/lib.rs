//! Write to pipes without ever blocking the caller.
//!
//! A [`PipeWriter`] takes over the write end of a pipe — a child's stdin, an anonymous pipe,
//! a FIFO, a Windows named pipe — and queues what you [`write`](PipeWriter::write): the call
//! returns at once, whatever the reader does. The bytes go out in the background, in order,
//! one OS write at a time, and the writer tells you what really happened:
//!
//! - [`Event`]s — `Written(n)` (bytes the OS took, summed), `Drained`, `Writable` (back under
//!   the low-water mark), `PeerClosed { unwritten }`, `Failed { error, unwritten }` — through a
//!   handler ([`Builder::on_event`]) or a receiver you poll ([`PipeWriter::events`]);
//! - counters ([`bytes_to_write`](PipeWriter::bytes_to_write),
//!   [`bytes_written`](PipeWriter::bytes_written));
//! - waits with a timeout ([`flush`](PipeWriter::flush), [`close`](PipeWriter::close),
//!   [`wait_for_bytes_written`](PipeWriter::wait_for_bytes_written));
//! - [`stop`](PipeWriter::stop), which cancels and hands back exactly the bytes that were not
//!   written.
//!
//! Memory is bounded if you want it to be: above the high-water mark `write` says so, and
//! an optional hard limit refuses writes and hands the data back. On Unix one background
//! thread serves every writer of the process (non-blocking `writev`); on Windows writes are
//! overlapped and completed by a thread-pool wait, with a worker thread for synchronous
//! handles. With the `tokio` or `futures-io` feature, `AsyncPipeWriter` adapts it to
//! `AsyncWrite` with real backpressure, flush and close.
//!
//! # Example
//!
//! ```
//! use std::io::Read;
//! use std::time::Duration;
//! use pipewriter::{Event, PipeWriter};
//!
//! let (mut reader, writer) = std::io::pipe()?;
//! let writer = PipeWriter::builder()
//!     .on_event(|event| {
//!         if let Event::PeerClosed { unwritten } = event {
//!             eprintln!("the reader left; {unwritten} bytes were not written");
//!         }
//!     })
//!     .build(writer)?;
//!
//! writer.write(&b"hello, "[..])?;            // never blocks
//! writer.write(b"world".to_vec())?;         // owned buffers are not copied
//! writer.close(Duration::from_secs(5))?;    // flush, then end-of-file for the reader
//!
//! let mut text = String::new();
//! reader.read_to_string(&mut text)?;
//! assert_eq!(text, "hello, world");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Pitfalls
//!
//! - **Handlers run on the I/O context.** On Unix one thread drives every writer of the
//!   process: a handler that sleeps or blocks stalls all of them. Keep handlers short; hand
//!   work to your own thread, or use the [`EventReceiver`] instead. The synchronous waits
//!   refuse to run inside a handler (they return [`std::io::ErrorKind::Deadlock`]).
//! - **`write` accepts even above the high-water mark.** It never blocks, so a producer that
//!   ignores [`Accepted::is_above_high_water`] can queue without bound. Wait for
//!   [`Event::Writable`] (or use [`Builder::hard_limit`], or the async adapter, which waits
//!   for you).
//! - **Dropping lingers.** By default a dropped writer keeps writing its queue in the
//!   background, then closes the handle ([`DropPolicy::Linger`]). A reader that never reads
//!   keeps that data in memory; call [`stop`](PipeWriter::stop) or use
//!   [`DropPolicy::Discard`] when that matters. At process exit, queued data that was never
//!   flushed is lost: call [`close`](PipeWriter::close) before exiting.
//! - **Shared descriptors keep their mode.** `O_NONBLOCK` is shared by every process
//!   holding the same open file (your stdout, say, or a `std::io::PipeWriter` whose clone a
//!   child got). A descriptor of unknown origin (`File`, `OwnedFd`, `std::io::PipeWriter`) is
//!   never switched: on Linux a pipe, FIFO or terminal is reopened through `/proc/self/fd`
//!   for a non-blocking description of the writer's own (one more descriptor per writer);
//!   anything else is written by a worker thread of its own. Say [`Builder::exclusive`] if
//!   the descriptor is yours alone.
//! - **`fork()` without `exec`**: in the child, a writer the parent built is inert — writes
//!   and waits refuse with an error, `stop` hands back nothing, and dropping it closes the
//!   child's copy of the descriptor without disturbing the parent's writer. Build new
//!   writers in the child; they work.
//! - **The classic pipe deadlock still exists around you.** Feeding a child's stdin while
//!   nobody reads its stdout fills both pipes; the writer never blocks, but the child will.
//!   Use [`communicate`] to feed and collect at once.
//! - **`Written` means the OS took the bytes**, not that the reader read them: a pipe holds
//!   some (64 KiB by default on Linux) that a reader may never consume.
// docs.rs builds with `--cfg docsrs` on nightly: platform- and feature-gated items then show
// what they need (`doc_cfg` took over `doc_auto_cfg`'s automatic labels).
#![cfg_attr(docsrs, feature(doc_cfg))]
// Unsafe code only where the crate talks to the OS or shares raw memory: each such file says
// why, with an `allow` of its own.
#![deny(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

#[cfg(any(feature = "tokio", feature = "futures-io"))]
mod async_io;
mod core;
mod driver;
mod error;
mod event;
mod exit;
#[cfg(feature = "fault-injection")]
pub mod fault;
#[cfg(unix)]
mod fifo;
#[cfg(windows)]
mod named_pipe;
mod payload;
mod pipe;
mod pool;
mod process;
mod sync;
mod sys;
mod thread;
mod writer;

#[cfg(any(feature = "tokio", feature = "futures-io"))]
pub use crate::async_io::AsyncPipeWriter;
pub use crate::core::{Accepted, RetryPolicy, Unwritten};
pub use crate::error::WriteError;
pub use crate::event::{Event, EventReceiver};
pub use crate::exit::{flush_all, ExitGuard, ExitReport, UnfinishedWriter};
#[cfg(unix)]
pub use crate::fifo::Fifo;
#[cfg(windows)]
pub use crate::named_pipe::{NamedPipeClientOptions, NamedPipeServer, NamedPipeServerBuilder};
pub use crate::pipe::{pipe, PipeBuilder, WriteEnd, DEFAULT_PIPE_SIZE};
pub use crate::process::{
    communicate, spawn_with_writer, Communicate, CommunicateError, DEFAULT_OUTPUT_LIMIT,
};
pub use crate::writer::{
    BlockingWriter, BufferedWriter, Builder, DropPolicy, IntoPipeHandle, OwnedPipe, Payload,
    PipeWriter, WriteFileError,
};

/// The simulated kernel of model-checking and Miri builds (see RELIABILITY.md); not part of
/// the API.
#[cfg(all(unix, any(loom, pipewriter_fake_backend)))]
#[doc(hidden)]
pub use crate::sys::fake as fake_backend;

/// The core's reference model, for the fuzz target (`cargo fuzz` builds with `--cfg fuzzing`);
/// not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub use crate::core::model as fuzzing;
