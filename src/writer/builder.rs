//! [`Builder`]: the settings of a writer, and building it over a handle (W-12, W-15).

use std::fmt;
use std::io;

use super::PipeWriter;
use crate::core::{Core, Limits, RetryPolicy};
use crate::driver::{Backend, Handler, Provenance, Shared};
use crate::event::Event;
use crate::payload::IntoPipeHandle;
use crate::sync::Arc;
use crate::sys;

/// What happens to queued data when a [`PipeWriter`] is dropped (W-11).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropPolicy {
    /// Keep writing the queued data in the background until it is all written (or the reader
    /// goes away), then close the handle. Events keep reaching the handler meanwhile. The
    /// default, because losing data silently on drop is the most common complaint about pipe
    /// writers.
    #[default]
    Linger,
    /// Stop at once: cancel the in-flight write, discard the queue, close the handle.
    Discard,
}

/// Configures and builds a [`PipeWriter`].
///
/// ```no_run
/// use std::process::{Command, Stdio};
/// use pipewriter::{Builder, Event};
///
/// let mut child = Command::new("cat").stdin(Stdio::piped()).spawn()?;
/// let writer = Builder::new()
///     .high_water(4 << 20)
///     .on_event(|event| {
///         if let Event::Written(n) = event {
///             log::trace!("{n} more bytes written");
///         }
///     })
///     .build(child.stdin.take().unwrap())?;
/// writer.write(&b"hello\n"[..]).map_err(|e| e.into_error())?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Builder {
    limits: Limits,
    low_water_set: bool,
    handler: Option<Handler>,
    drop_policy: DropPolicy,
    exclusive: bool,
    #[cfg(feature = "fault-injection")]
    injector: Option<crate::fault::Injector>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("limits", &self.limits)
            .field("handler", &self.handler.is_some())
            .field("drop_policy", &self.drop_policy)
            .field("exclusive", &self.exclusive)
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Default settings: high-water mark 1 MiB, low-water mark a quarter of it, no hard
    /// limit, [`DropPolicy::Linger`], default [`RetryPolicy`], no handler.
    pub fn new() -> Self {
        Builder {
            limits: Limits::default(),
            low_water_set: false,
            handler: None,
            drop_policy: DropPolicy::default(),
            exclusive: false,
            #[cfg(feature = "fault-injection")]
            injector: None,
        }
    }

    /// Above this many queued bytes, [`PipeWriter::write`] reports backpressure
    /// ([`Accepted::is_above_high_water`](crate::Accepted::is_above_high_water)); [`Event::Writable`] fires when the queue has fallen
    /// to the low-water mark (W-12). Default: 1 MiB. Unless set, the low-water mark follows
    /// at a quarter of it.
    pub fn high_water(mut self, bytes: usize) -> Self {
        self.limits.high_water = bytes;
        if !self.low_water_set {
            self.limits.low_water = bytes / 4;
        }
        self
    }

    /// Where [`Event::Writable`] fires after the high-water mark was crossed. Clamped to the
    /// high-water mark.
    pub fn low_water(mut self, bytes: usize) -> Self {
        self.limits.low_water = bytes;
        self.low_water_set = true;
        self
    }

    /// Refuse writes that would take the queue above `bytes`: they fail with
    /// [`io::ErrorKind::WouldBlock`] and hand their data back (W-12). Default: no limit.
    ///
    /// A refused write can always succeed later: [`Event::Writable`] follows every refusal
    /// once the queue is short enough for that write (or at the low-water mark, if that is
    /// lower), whatever the high-water mark is. A single write larger than the limit can never
    /// fit and is refused with [`io::ErrorKind::InvalidInput`]. A limit of 0 would refuse every
    /// write: [`build`](Self::build) rejects it.
    pub fn hard_limit(mut self, bytes: usize) -> Self {
        self.limits.hard_limit = Some(bytes);
        self
    }

    /// The largest single OS write. Default: 256 KiB. Smaller writes keep the reader and the
    /// writer from running in lock-step on a small pipe; larger ones cost fewer calls.
    pub fn max_write_size(mut self, bytes: usize) -> Self {
        self.limits.max_write = bytes.max(1);
        self
    }

    /// How transient errors are retried (E-3).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.limits.retry = policy;
        self
    }

    /// Calls `handler` for every event, from the writer's I/O context (W-8).
    ///
    /// The handler is never called while an internal lock is held, never concurrently for one
    /// writer, and never from inside [`PipeWriter::write`] or another call of yours. It may
    /// call any method of the writer, including [`PipeWriter::stop`], and may drop it; the
    /// synchronous waits return an error there instead of deadlocking. A panic in the handler
    /// is caught and logged. Keep handlers short: on Unix one I/O thread serves all writers.
    pub fn on_event(mut self, handler: impl Fn(Event) + Send + Sync + 'static) -> Self {
        self.handler = Some(Box::new(handler));
        self
    }

    /// What a drop does with queued data (W-11). Default: [`DropPolicy::Linger`].
    pub fn drop_policy(mut self, policy: DropPolicy) -> Self {
        self.drop_policy = policy;
        self
    }

    /// Declares that the handle's open file description is not shared with another process,
    /// so the writer may switch it to non-blocking mode (Unix, P-3). Handles from
    /// `ChildStdin` and this crate's pipes are treated so anyway. Any other descriptor
    /// (`File`, `OwnedFd`, `std::io::PipeWriter`, whose clones std hands to children) keeps
    /// its mode, because `O_NONBLOCK` would also change it for every process sharing it: on
    /// Linux a pipe, FIFO or terminal is reopened through `/proc/self/fd` for a non-blocking
    /// description of the writer's own; otherwise it is served by a blocking thread. Flags
    /// changed here are restored when the handle is given back or closed. No effect on
    /// Windows.
    pub fn exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        self
    }

    /// Test support: `injector` is asked before every OS write and may replace it with an
    /// error or shorten it (see [`Fault`](crate::fault::Fault)). Only with the
    /// `fault-injection` feature, which is for testing and not covered by semver.
    #[cfg(feature = "fault-injection")]
    pub fn fault_injector(
        mut self,
        injector: impl FnMut(usize) -> crate::fault::Fault + Send + 'static,
    ) -> Self {
        self.injector = Some(crate::fault::Injector::new(injector));
        self
    }

    /// Builds a writer over `handle`.
    ///
    /// # Errors
    /// Fails with [`io::ErrorKind::InvalidInput`] for a hard limit of 0; when the handle
    /// cannot be used for writing (it is not open for writing, its mode cannot be read or
    /// set); and when the writer cannot get its I/O context — the OS refuses a thread, a
    /// poller or a thread-pool wait (W-15): the OS error is returned, and a later `build`
    /// tries again. On Windows, a message-mode pipe (`PIPE_TYPE_MESSAGE`) is refused with
    /// [`io::ErrorKind::InvalidInput`] (P-7): writes are merged and split, so one `write`
    /// would not stay one message. A write-only pipe end that may not read its own pipe's
    /// type (no `FILE_READ_ATTRIBUTES`) cannot be checked and is served as byte mode. The
    /// handle is closed in every case.
    pub fn build(mut self, handle: impl IntoPipeHandle) -> io::Result<PipeWriter> {
        // Before anything of the I/O context exists, so a fork from now on is counted (W-15).
        let generation = sys::process::register();
        if self.limits.hard_limit == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a hard limit of 0 bytes would refuse every write",
            ));
        }
        let mut pipe = handle.into_pipe_handle();
        if self.exclusive {
            pipe.provenance = Provenance::Exclusive;
        }
        self.limits.low_water = self.limits.low_water.min(self.limits.high_water);
        let io = sys::Io::new(pipe)?;
        if let Some(limit) = io.max_write() {
            self.limits.max_write = self.limits.max_write.min(limit.max(1));
        }
        let shared = Arc::new(Shared::new(
            Core::new(self.limits),
            self.handler,
            #[cfg(feature = "fault-injection")]
            self.injector,
            io,
            generation,
        ));
        sys::Io::start(&shared)?;
        crate::exit::register(&shared);
        Ok(PipeWriter {
            shared,
            drop_policy: self.drop_policy,
        })
    }
}
