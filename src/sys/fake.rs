//! A fake backend for model checking and Miri (`--cfg loom`, or
//! `--cfg pipewriter_fake_backend` for Miri; Unix hosts only).
//!
//! Nothing is written to the handle. Each writer gets a [`Device`]: a simulated kernel whose
//! work is done by a thread of the test — a loom thread under loom, a plain thread under Miri
//! — calling [`Device::serve`]. The test decides what the kernel answers to every write
//! ([`Device::set_reply`]: take all, a short write, an OS error), and reads back what the
//! "reader" received ([`Device::received`]).
//!
//! The test makes the device first, in the mode it wants ([`Device::for_next_writer`]), and
//! the next writer built on that thread is served by it. It drives the writer in one of two
//! ways:
//!
//! - [`Mode::Completion`]: the pattern of the Windows overlapped backend, through the driver's
//!   one completion loop (the very code Windows runs). The kernel thread asks the
//!   core for chunks (`Shared::begin`), *parks* them with the writer as the in-flight
//!   operation, and completes the operation in a later step (`Shared::complete`,
//!   `Shared::dispatch`), then chains the next one. The kernel reads the data through raw
//!   pointers taken at submission, exactly as an OS does, so if the buffer were released
//!   before the kernel says done (W-5), Miri would report a use after free. `cancel` (from
//!   `stop`) does not wait: the kernel completes the parked operation as cancelled, with as
//!   many bytes as the test's reply says were taken before the cancel.
//! - [`Mode::Readiness`]: the pattern of the Unix reactor. The kernel thread calls `Shared::drive`, whose writes are synchronous,
//!   and a write to an idle writer may go out at once from the caller's thread
//!   (`Io::write_now`), as on Unix.
//!
//! What the fake checks by itself, as a kernel would notice: no second write while one is in
//! flight (W-3), no write on a closed handle and no close while a write is in flight (W-5), no
//! kick while work is already pending. Violations panic on the kernel thread (or on the thread
//! that closes), which fails the model.
// Unsafe: the simulated kernel reads parked buffers through raw pointers, as an OS does, so
// that Miri catches a buffer released too early (W-5).
#![allow(unsafe_code)]

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use bytes::Bytes;

use crate::core::Outcome;
use crate::driver::completion::{self, Completion, Submitted};
use crate::driver::{Backend, PipeHandle, Shared, Step};
use crate::sync::{Arc, Condvar, Mutex, MutexGuard};

pub(crate) use super::posix::errors::classify;
pub(crate) use super::posix::pipe;

/// The owned handle type: an `OwnedFd`, as on Unix. The fake never writes to it.
pub type OwnedPipe = OwnedFd;

/// Readiness-mode writes per `drive` call before the kernel thread yields (fairness), as the
/// reactor does.
const MAX_ROUNDS: usize = 8;

/// How a device drives its writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Asynchronous completions: `begin`, a parked in-flight operation, `complete`,
    /// `dispatch` (the Windows overlapped pattern).
    Completion,
    /// Synchronous writes through `Shared::drive` (the Unix reactor pattern).
    Readiness,
}

/// What the simulated kernel answers to one write of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The reader took this many bytes (clamped to what was submitted): all of them, or a
    /// short write. `Take(0)` is a full pipe (readiness) or a zero-byte completion.
    Take(usize),
    /// The write failed with this raw OS error code, classified by the Unix table (E-1):
    /// `EAGAIN` (full pipe), `ENOMEM` (transient), `EPIPE` (reader gone), `EIO` (fatal)...
    Error(i32),
}

/// What [`Device::serve`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    /// Writes the kernel answered.
    pub writes: u64,
    /// Bytes the reader received.
    pub bytes: u64,
    /// Writes that were completed as cancelled (completion mode).
    pub cancelled: u64,
}

/// The simulated kernel of one writer. Cheap to clone; every clone is the same device.
#[derive(Clone)]
pub struct Device {
    inner: Arc<Inner>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("mode", &self.inner.mode)
            .finish_non_exhaustive()
    }
}

struct Inner {
    mode: Mode,
    state: Mutex<State>,
    /// Signalled when work arrives or the device is released.
    changed: Condvar,
}

/// The test's answer to each write.
type ReplyFn = Box<dyn FnMut(usize) -> Reply + Send>;

struct State {
    work: Work,
    /// What the kernel answers; every write in full when the test set nothing.
    reply: Option<ReplyFn>,
    /// `cancel` was called: nothing new is started or parked.
    cancelled: bool,
    handle: Option<OwnedFd>,
    /// The writer (its `Io`) is gone: no work can arrive any more.
    detached: bool,
    /// The test asked `serve` to return once there is no work.
    shutdown: bool,
    received: Vec<u8>,
    served: Served,
}

/// What the kernel thread has to do next. Every variant but `None` holds the writer alive.
#[derive(Default)]
enum Work {
    #[default]
    None,
    /// The writer went from idle to having data: start writing.
    Kick(Arc<Shared>),
    /// A full pipe, a backoff or a fairness yield is over (time is not modelled): resume.
    Resume(Arc<Shared>),
    /// A write is in flight (completion mode).
    InFlight(InFlight),
}

/// One operation the kernel may still be reading from.
struct InFlight {
    owner: Arc<Shared>,
    /// The memory the kernel reads from; released only after the kernel said done (W-5).
    buffers: Vec<Bytes>,
    /// What the kernel was given: addresses and lengths, as an OS is given them.
    view: Vec<(*const u8, usize)>,
}

// SAFETY: the raw pointers in `view` point into `buffers`, which the same value owns and keeps
// alive and unmoved (the heap blocks of `Bytes` do not move); they are only read by the thread
// that holds the `InFlight`.
unsafe impl Send for InFlight {}

impl InFlight {
    fn new(owner: Arc<Shared>, buffers: Vec<Bytes>) -> InFlight {
        let view = buffers.iter().map(|b| (b.as_ptr(), b.len())).collect();
        InFlight {
            owner,
            buffers,
            view,
        }
    }

    fn len(&self) -> usize {
        self.view.iter().map(|(_, len)| len).sum()
    }

    /// The kernel reads the first `n` submitted bytes.
    fn read(&self, n: usize, out: &mut Vec<u8>) {
        let mut left = n;
        for &(ptr, len) in &self.view {
            if left == 0 {
                break;
            }
            let take = len.min(left);
            // SAFETY: `ptr..ptr+len` is a chunk of `self.buffers`, alive and unmoved while
            // `self` is (see the `Send` impl); `take <= len`.
            out.extend_from_slice(unsafe { std::slice::from_raw_parts(ptr, take) });
            left -= take;
        }
    }
}

impl Device {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under this lock is a failed model; the state is not looked at afterwards.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How this device drives its writer.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// Everything the reader received so far, in order.
    pub fn received(&self) -> Vec<u8> {
        self.lock().received.clone()
    }

    /// True until the writer closed (or gave back) the handle.
    pub fn is_handle_open(&self) -> bool {
        self.lock().handle.is_some()
    }

    /// Makes [`serve`](Self::serve) return as soon as it has no work, even while the writer
    /// still exists.
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.inner.changed.notify_all();
    }

    /// Sets what the kernel answers to each write of `len` bytes, from now on (the default
    /// takes every write in full). Set it before the first write: a write to an idle writer
    /// may be answered at once on the caller's thread (readiness mode).
    pub fn set_reply(&self, reply: impl FnMut(usize) -> Reply + Send + 'static) {
        self.lock().reply = Some(Box::new(reply));
    }

    /// Runs the kernel on the calling thread: answers writes and delivers completions, until
    /// the writer is gone (or [`shutdown`](Self::shutdown) was called) and no work is left.
    pub fn serve(&self) -> Served {
        loop {
            let work = {
                let mut state = self.lock();
                loop {
                    match std::mem::take(&mut state.work) {
                        Work::None if state.detached || state.shutdown => return state.served,
                        Work::None => {
                            state = self
                                .inner
                                .changed
                                .wait(state)
                                .unwrap_or_else(|e| e.into_inner());
                        }
                        work => break work,
                    }
                }
            };
            match (self.inner.mode, work) {
                (_, Work::None) => unreachable!("taken only when there is work"),
                (Mode::Completion, Work::Kick(shared)) => self.run(&shared, None),
                (Mode::Completion, Work::Resume(shared)) => {
                    shared.resume();
                    self.run(&shared, None);
                }
                (Mode::Completion, Work::InFlight(op)) => {
                    let outcome = self.finish(&op);
                    // The kernel is done with the memory: only now may it go (W-5).
                    let InFlight { owner, buffers, .. } = op;
                    drop(buffers);
                    self.run(&owner, Some(outcome));
                }
                (Mode::Readiness, Work::Kick(shared) | Work::Resume(shared)) => {
                    shared.resume();
                    self.drive(&shared);
                }
                (Mode::Readiness, Work::InFlight(_)) => {
                    unreachable!("readiness mode parks no operation")
                }
            }
        }
    }

    /// Completion mode: the kernel finishes the parked operation `op`.
    fn finish(&self, op: &InFlight) -> Outcome {
        let len = op.len();
        let mut state = self.lock();
        let answer = state.answer(len);
        assert!(
            state.handle.is_some(),
            "W-5: the handle was closed while the kernel had a write on it"
        );
        let cancelled = state.cancelled;
        state.served.writes += 1;
        if cancelled {
            state.served.cancelled += 1;
        }
        match answer {
            Reply::Take(n) => {
                let n = n.min(len);
                op.read(n, &mut state.received);
                state.served.bytes += n as u64;
                if cancelled {
                    Outcome::Cancelled(n)
                } else {
                    Outcome::Wrote(n)
                }
            }
            Reply::Error(_) if cancelled => Outcome::Cancelled(0),
            Reply::Error(code) => classify(io::Error::from_raw_os_error(code)),
        }
    }

    /// Completion mode: reports `collected`, then starts writes until one is parked or there
    /// is nothing to do — the driver's one completion loop, which Windows runs too.
    fn run(&self, shared: &Arc<Shared>, collected: Option<Outcome>) {
        completion::run(self, shared, collected);
    }

    /// Readiness mode: one `drive` call with synchronous writes.
    fn drive(&self, shared: &Arc<Shared>) {
        let mut bufs = Vec::new();
        let step = shared.drive(&mut bufs, MAX_ROUNDS, |bufs| self.write_sync(bufs));
        match step {
            Step::Idle | Step::Done => {}
            Step::Yield | Step::AwaitWritable | Step::RetryAfter(_) => {
                self.park(Work::Resume(shared.clone()));
            }
        }
    }

    /// Readiness mode: one synchronous write, from the kernel thread or a caller's thread.
    fn write_sync(&self, bufs: &[Bytes]) -> Outcome {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        let mut state = self.lock();
        let answer = state.answer(len);
        assert!(
            state.handle.is_some(),
            "W-5: a write was made on a closed handle"
        );
        state.served.writes += 1;
        match answer {
            Reply::Take(n) => {
                let mut left = n.min(len);
                state.served.bytes += left as u64;
                for buf in bufs {
                    let take = buf.len().min(left);
                    state.received.extend_from_slice(&buf[..take]);
                    left -= take;
                }
                Outcome::Wrote(n.min(len))
            }
            Reply::Error(code) => classify(io::Error::from_raw_os_error(code)),
        }
    }

    /// Leaves work for the kernel thread, unless the writer was cancelled.
    fn park(&self, work: Work) {
        let mut state = self.lock();
        if state.cancelled {
            drop(state);
            drop(work); // may be the last reference to the writer: not under the lock
            return;
        }
        assert!(
            matches!(state.work, Work::None),
            "work was parked while other work was pending"
        );
        state.work = work;
        drop(state);
        self.inner.changed.notify_all();
    }
}

impl Completion for Device {
    // The simulated kernel parks every write: nothing finishes at once but cancelled or
    // injected ones.
    const MAX_INLINE: usize = usize::MAX;

    fn submit(&self, shared: &Arc<Shared>, bufs: Vec<Bytes>) -> Submitted {
        let mut state = self.lock();
        if state.cancelled {
            // Stopped between `begin` and here: the submission never reached the kernel.
            return Submitted::Done(Outcome::Cancelled(0));
        }
        assert!(
            matches!(state.work, Work::None),
            "W-3: a second write was started while work was pending"
        );
        assert!(
            state.handle.is_some(),
            "W-5: a write was started on a closed handle"
        );
        state.work = Work::InFlight(InFlight::new(shared.clone(), bufs));
        drop(state);
        self.inner.changed.notify_all();
        Submitted::Pending
    }

    fn wait_then_resume(&self, shared: &Arc<Shared>, _delay: Option<Duration>) {
        // Time is not simulated: the kernel thread resumes the writer at its next turn.
        self.park(Work::Resume(shared.clone()));
    }

    fn yield_turn(&self, shared: &Arc<Shared>) {
        self.park(Work::Resume(shared.clone()));
    }
}

impl State {
    /// The test's answer to a write of `len` bytes.
    fn answer(&mut self, len: usize) -> Reply {
        match &mut self.reply {
            Some(reply) => reply(len),
            None => Reply::Take(len),
        }
    }
}

/// The per-writer state of the fake backend.
pub(crate) struct Io {
    device: Device,
}

impl fmt::Debug for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io").field("device", &self.device).finish()
    }
}

std::thread_local! {
    /// The device the next writer built on this thread gets (see `Device::for_next_writer`).
    static NEXT: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
}

impl Device {
    /// A simulated kernel in `mode`, which serves the next writer built on this thread.
    pub fn for_next_writer(mode: Mode) -> Device {
        let device = Device {
            inner: Arc::new(Inner {
                mode,
                state: Mutex::new(State {
                    work: Work::None,
                    reply: None,
                    cancelled: false,
                    handle: None,
                    detached: false,
                    shutdown: false,
                    received: Vec::new(),
                    served: Served::default(),
                }),
                changed: Condvar::new(),
            }),
        };
        NEXT.with(|next| *next.borrow_mut() = Some(device.clone()));
        device
    }
}

impl Backend for Io {
    /// The simulated kernel has no quotas: provenance and known quota are ignored.
    fn new(pipe: PipeHandle) -> io::Result<Io> {
        let handle = pipe.handle;
        let device = NEXT.with(|next| next.borrow_mut().take()).ok_or_else(|| {
            io::Error::other("the simulated kernel: call Device::for_next_writer before build")
        })?;
        device.lock().handle = Some(handle);
        Ok(Io { device })
    }

    /// Nothing to start: the test drives the simulated kernel.
    fn start(_shared: &Arc<Shared>) -> io::Result<()> {
        Ok(())
    }

    fn kick(shared: &Arc<Shared>) {
        let device = &shared.io.device;
        let mut state = device.lock();
        if state.cancelled {
            return;
        }
        assert!(
            matches!(state.work, Work::None),
            "kicked while work was pending"
        );
        state.work = Work::Kick(shared.clone());
        drop(state);
        device.inner.changed.notify_all();
    }

    fn cancel(shared: &Arc<Shared>) {
        let device = &shared.io.device;
        let mut state = device.lock();
        state.cancelled = true;
        // A parked operation stays: the kernel completes it as cancelled, and `stop` waits
        // for that. Anything else is forgotten.
        let forgotten = match std::mem::take(&mut state.work) {
            Work::InFlight(op) => {
                state.work = Work::InFlight(op);
                Work::None
            }
            other => other,
        };
        drop(state);
        device.inner.changed.notify_all();
        drop(forgotten);
    }

    fn linger(_shared: &Arc<Shared>) {
        // Pending work holds the writer; the kernel finishes the queue and closes.
    }

    fn close_handle(&self) {
        let mut state = self.device.lock();
        assert!(
            !matches!(state.work, Work::InFlight(_)),
            "W-5: the handle was closed while a write was in flight"
        );
        let handle = state.handle.take();
        drop(state);
        drop(handle);
    }

    fn take_handle(&self) -> Option<OwnedFd> {
        let mut state = self.device.lock();
        assert!(
            !matches!(state.work, Work::InFlight(_)),
            "W-14: the handle was given back while a write was in flight"
        );
        state.handle.take()
    }

    /// Readiness mode writes from a caller's thread when the writer is idle, as on Unix;
    /// completion mode never does, as on Windows.
    fn can_write_now(&self) -> bool {
        self.device.inner.mode == Mode::Readiness
    }

    /// One synchronous write from a caller's thread (readiness mode).
    fn write_now(&self, bufs: &[Bytes]) -> Outcome {
        debug_assert_eq!(self.device.inner.mode, Mode::Readiness);
        self.device.write_sync(bufs)
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        let mut state = self.device.lock();
        state.detached = true;
        let handle = state.handle.take();
        drop(state);
        self.device.inner.changed.notify_all();
        drop(handle);
    }
}
