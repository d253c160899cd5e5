//! Helpers shared by the integration tests, on every platform.
//!
//! Each test file includes this module with `mod util;`. Its submodules: [`windows`], the
//! Windows pipes and reader threads of the `windows_*` tests (Windows only), and [`async_io`],
//! the scaffolding of the async adapter tests (only with an adapter's feature, as the adapter
//! itself).
#![allow(dead_code)] // Each test file uses a different subset.
#![allow(unreachable_pub)] // A module of test helpers: `pub` is its interface to the test files.

#[cfg(any(feature = "tokio", feature = "futures-io"))]
pub mod async_io;
#[cfg(windows)]
pub mod windows;

use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pipewriter::{Event, EventReceiver, IntoPipeHandle, PipeWriter, Unwritten};
use sha2::{Digest, Sha256};

/// Generous bound for waits that should finish quickly; only a hang reaches it.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// [`PATIENCE`] for the Windows tests (`tests/windows_*.rs`), twice as long because they run
/// under Wine in CI: there every pipe operation is a round trip to the wineserver and every
/// completion a callback of Wine's emulated thread pool, and the waits these tests bound cover
/// whole transfers of tens to hundreds of MiB (a `close` or `flush` after them), so on a loaded
/// machine a healthy run can take longer than a minute.
pub const WINE_PATIENCE: Duration = Duration::from_secs(120);

/// A fast deterministic generator (xorshift64), so failures are reproducible.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator for `seed`; every seed, 0 included, gives a stream of its own.
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Deterministic pseudo-random bytes for `seed`: the test data of every test.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Xorshift::new(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The path of an example program next to the test executables
/// (`<target>/<profile>/examples/`). `cargo test` builds the examples, but not with a filter
/// such as `--test NAME`: then a missing one is built here with cargo (Unix hosts); under Wine
/// there is no cargo to call, so build them first (`cargo build --examples --target
/// x86_64-pc-windows-gnu`).
pub fn example_exe(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("current_exe");
    dir.pop(); // the test executable
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        build_example(name, &path);
    }
    assert!(
        path.exists(),
        "{} is missing: build the examples first (`cargo build --examples`; add `--target \
         x86_64-pc-windows-gnu` for Wine)",
        path.display()
    );
    path
}

#[cfg(unix)]
fn build_example(name: &str, path: &std::path::Path) {
    // Tests run in parallel: one build at a time, and none once the first has made it.
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    if path.exists() {
        return;
    }
    eprintln!("building {} for this test", path.display());
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build --example {name} failed");
}

#[cfg(windows)]
fn build_example(_name: &str, _path: &std::path::Path) {
    // Under Wine there is no cargo to call: the assertion after this explains what to do.
}

/// A command running the tests' child program, `examples/pipe_child.rs` (its subcommands are
/// listed there), with `args`.
pub fn pipe_child_command(args: &[&str]) -> Command {
    let mut command = Command::new(example_exe("pipe_child"));
    command.args(args);
    command
}

/// A `pipe_child` process (see [`pipe_child_command`]) with piped stdin and stdout.
pub fn pipe_child(args: &[&str]) -> std::process::Child {
    pipe_child_command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn pipe_child")
}

/// This test executable, to be run again as a child process with only `test` selected and
/// `var=value` in its environment: for a scenario that needs a process of its own (its signal
/// state, its memory figures, what starts once per process). The test recognises the child by
/// `var` and runs the scenario instead.
pub fn this_test_in_a_child(test: &str, var: &str, value: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("current_exe"));
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, value);
    command
}

/// Declares tests that cannot run on this platform under their own names, so that a run says
/// so instead of leaving them out in silence: each prints `SKIPPED: NAME: why` and passes.
#[allow(unused_macros)] // Only where a platform lacks something.
macro_rules! not_on_this_platform {
    ($why:literal: $($name:ident),+ $(,)?) => {$(
        #[test]
        fn $name() {
            eprintln!("SKIPPED: {}: {} (NOT CHECKED on this platform)", stringify!($name), $why);
        }
    )+};
}
#[allow(unused_imports)] // As the macro.
pub(crate) use not_on_this_platform;

/// A reader thread that collects everything from `reader` until end-of-file.
pub fn collect(mut reader: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).expect("reader failed");
        out
    })
}

/// A slow reader that reads `step` bytes every `pause` until end-of-file; a read error fails
/// it.
pub fn slow_reader(
    reader: impl Read + Send + 'static,
    step: usize,
    pause: Duration,
) -> JoinHandle<Vec<u8>> {
    paced_reader(reader, step, ReadError::Fails, move |_| Some(pause))
}

/// What a read error does to a [`paced_reader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// It fails the reader thread (`Interrupted` is retried).
    Fails,
    /// It ends the reading like end-of-file. For tests that then compare what was read with
    /// what was written, which shows a reader cut short.
    Ends,
}

/// A reader thread that reads up to `step` bytes at a time until end-of-file, and after each
/// read sleeps for what `pause` says given the count read so far (`None`: no sleep). Returns
/// everything it read.
pub fn paced_reader(
    mut reader: impl Read + Send + 'static,
    step: usize,
    on_error: ReadError,
    mut pause: impl FnMut(usize) -> Option<Duration> + Send + 'static,
) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = vec![0u8; step];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) if on_error == ReadError::Ends => return out,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read: {e}"),
            }
            if let Some(pause) = pause(out.len()) {
                std::thread::sleep(pause);
            }
        }
    })
}

/// W-2: 3 MiB of `pattern(seed)` written through a writer on a new scratch file, created the
/// usual way (`File::create`: on Windows a synchronous handle), `chunk` bytes at a time and
/// closed within `timeout`: the file holds exactly that, in order.
pub fn assert_new_file_written_in_order(seed: u64, chunk: usize, timeout: Duration) {
    let path = scratch_file("file");
    let file = std::fs::File::create(&path).unwrap();
    let data = pattern(seed, 3 << 20);
    let got = write_file_through_writer(file, &path, &data, chunk, timeout);
    assert!(got == data, "W-2: the file holds the data, in order");
}

/// A writer on `handle` carries `data` to `reader`, read to end-of-file by a thread: every
/// byte arrives, in order, once the writer is closed within `timeout`.
pub fn assert_writer_carries(
    handle: impl IntoPipeHandle,
    reader: impl Read + Send + 'static,
    data: Vec<u8>,
    timeout: Duration,
) {
    let writer = PipeWriter::new(handle).unwrap();
    let expected = data.clone();
    let read = collect(reader);
    writer.write(data).unwrap();
    writer.close(timeout).unwrap();
    assert!(read.join().unwrap() == expected);
}

/// S-1, S-3: both ends of a pipe or FIFO the crate opened are close-on-exec, the write end
/// (ours) is non-blocking, and the read end (for anyone, a child's stdin say) blocks.
#[cfg(unix)]
pub fn assert_cloexec_ends_nonblocking_writer(
    reader: impl std::os::fd::AsFd,
    writer: impl std::os::fd::AsFd,
) {
    use rustix::fs::OFlags;
    use rustix::io::FdFlags;
    for fd in [reader.as_fd(), writer.as_fd()] {
        let flags = rustix::io::fcntl_getfd(fd).unwrap();
        assert!(flags.contains(FdFlags::CLOEXEC));
    }
    let ours = rustix::fs::fcntl_getfl(writer.as_fd()).unwrap();
    assert!(ours.contains(OFlags::NONBLOCK));
    let theirs = rustix::fs::fcntl_getfl(reader.as_fd()).unwrap();
    assert!(!theirs.contains(OFlags::NONBLOCK), "the reader blocks");
}

/// A path for a scratch file of this test in the temporary directory: `tag`, the process id
/// and 64 random bits.
pub fn scratch_file(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "pipewriter-{tag}-{}-{:016x}.bin",
        std::process::id(),
        rand::random::<u64>()
    ))
}

/// Writes `data` through a writer on `handle`, a file opened for writing at `path`, `chunk`
/// bytes at a time, closes the writer within `timeout`, and returns what the file then holds;
/// the file is removed.
pub fn write_file_through_writer(
    handle: impl IntoPipeHandle,
    path: &Path,
    data: &[u8],
    chunk: usize,
    timeout: Duration,
) -> Vec<u8> {
    let writer = PipeWriter::new(handle).unwrap();
    for piece in data.chunks(chunk) {
        writer.write(piece).unwrap();
    }
    writer.close(timeout).unwrap();
    let got = std::fs::read(path).unwrap();
    let _ = std::fs::remove_file(path);
    got
}

/// Stops `writer`, which was given `data`, and checks what `stop` hands back, as
/// [`check_handed_back`]. Returns the number of bytes written and what was handed back.
pub fn stop_and_check_suffix(writer: &PipeWriter, data: &[u8], what: &str) -> (usize, Unwritten) {
    let back = writer.stop();
    (check_handed_back(writer, &back, data, what), back)
}

/// Checks what a `stop` of `writer`, which was given `data`, handed back (W-10): the bytes
/// written and the bytes handed back add up to `data`, and those handed back are exactly the
/// suffix after the written prefix. `what` names the case in the failure. Returns the number of
/// bytes written.
pub fn check_handed_back(writer: &PipeWriter, back: &Unwritten, data: &[u8], what: &str) -> usize {
    let written = writer.bytes_written() as usize;
    assert_eq!(
        written + back.len(),
        data.len(),
        "W-10 ({what}): accepted = written + handed back"
    );
    assert!(
        back.to_vec() == data[written..],
        "W-10 ({what}): the exact suffix"
    );
    written
}

/// Checks that a reader got exactly the `written` prefix of `data`: what the OS took, no byte
/// more or less.
pub fn assert_reader_got_written(got: &[u8], data: &[u8], written: usize, what: &str) {
    assert_eq!(
        got.len(),
        written,
        "W-10 ({what}): the reader got exactly what was written"
    );
    assert!(got == &data[..written], "W-2 ({what}): the written prefix");
}

/// Waits for the `PeerClosed` event on `events` (E-2), within `timeout` per event; a `Failed`
/// event fails the test, since a reader that leaves is no failure. Returns the unwritten count
/// it reports and the sum of the `Written` events before it.
pub fn wait_for_peer_closed(events: &EventReceiver, timeout: Duration) -> (usize, u64) {
    let mut written = 0;
    loop {
        match events.recv_timeout(timeout).expect("PeerClosed never came") {
            Event::Written(n) => written += n,
            Event::PeerClosed { unwritten } => return (unwritten, written),
            Event::Failed { error, .. } => {
                panic!("E-2: a reader that leaves is not a failure: {error}")
            }
            _ => {}
        }
    }
}

/// A new writer on a new pipe delivers `data`, closing within `timeout` (`what` says what it
/// means if it does not): the I/O context of the process still works.
pub fn assert_a_new_writer_delivers(data: &[u8], timeout: Duration, what: &str) {
    let (reader, end) = pipewriter::pipe().unwrap();
    let received = collect(reader);
    let writer = PipeWriter::new(end).unwrap();
    writer.write(data).unwrap();
    writer.close(timeout).expect(what);
    assert!(received.join().unwrap() == data, "{what}: the data arrives");
}

/// Records every event of a writer, for assertions.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<Event>>>);

impl Recorder {
    pub fn handler(&self) -> impl Fn(Event) + Send + Sync + 'static {
        let events = self.0.clone();
        move |event| events.lock().unwrap().push(event)
    }

    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }

    pub fn written_sum(&self) -> u64 {
        self.events()
            .iter()
            .map(|e| match e {
                Event::Written(n) => *n,
                _ => 0,
            })
            .sum()
    }

    /// Waits until `pred` holds for the recorded events.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&[Event]) -> bool) {
        let start = Instant::now();
        while !pred(&self.events()) {
            assert!(
                start.elapsed() < PATIENCE,
                "timed out waiting for {what}; events: {:?}",
                self.events()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Waits until `cond` holds, polling.
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until the writer stops making progress: the pipe is full (and on Unix the writer
/// waits for writability, registered with the I/O thread's poller).
pub fn wait_until_pipe_full(writer: &PipeWriter) {
    wait_until("some bytes written", || writer.bytes_written() > 0);
    loop {
        let before = writer.bytes_written();
        std::thread::sleep(Duration::from_millis(30));
        if writer.bytes_written() == before {
            return;
        }
    }
}

/// Raw OS codes for fault injection, from the platform's own headers.
#[cfg(unix)]
pub mod codes {
    pub const PEER_CLOSED: i32 = libc::EPIPE;
    pub const OUT_OF_MEMORY: i32 = libc::ENOMEM;
    pub const NO_BUFFERS: i32 = libc::ENOBUFS;
    pub const FATAL: i32 = libc::EIO;
    /// Interrupted and would-block exist only on Unix.
    pub const INTERRUPTED: Option<i32> = Some(libc::EINTR);
    pub const WOULD_BLOCK: Option<i32> = Some(libc::EAGAIN);
}

/// Raw OS codes for fault injection, from the platform's own headers.
#[cfg(windows)]
pub mod codes {
    use windows_sys::Win32::Foundation::{
        ERROR_IO_DEVICE, ERROR_NOT_ENOUGH_MEMORY, ERROR_NO_DATA, ERROR_NO_SYSTEM_RESOURCES,
    };

    pub const PEER_CLOSED: i32 = ERROR_NO_DATA as i32;
    pub const OUT_OF_MEMORY: i32 = ERROR_NOT_ENOUGH_MEMORY as i32;
    pub const NO_BUFFERS: i32 = ERROR_NO_SYSTEM_RESOURCES as i32;
    pub const FATAL: i32 = ERROR_IO_DEVICE as i32;
    /// Interrupted and would-block exist only on Unix.
    pub const INTERRUPTED: Option<i32> = None;
    pub const WOULD_BLOCK: Option<i32> = None;
}
