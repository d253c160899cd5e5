//! Helpers shared by the integration tests, on every platform.
#![allow(dead_code)] // Each test file uses a different subset.
#![allow(unreachable_pub)] // A module of test helpers: `pub` is its interface to the test files.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pipewriter::Event;
use sha2::{Digest, Sha256};

/// Generous bound for waits that should finish quickly; only a hang reaches it.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
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

/// The path of an example program built by `cargo test` next to the test executables.
pub fn example_exe(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("current_exe");
    dir.pop(); // the test executable
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build the examples first (`cargo test` builds them; with a filter such as `--test NAME`, run `cargo build --examples` too)",
        path.display()
    );
    path
}

/// A `pipe_child` process (see examples/pipe_child.rs) with piped stdin and stdout.
pub fn pipe_child(args: &[&str]) -> std::process::Child {
    Command::new(example_exe("pipe_child"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn pipe_child")
}

/// A reader thread that collects everything from `reader` until end-of-file.
pub fn collect(mut reader: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).expect("reader failed");
        out
    })
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
pub fn wait_until_pipe_full(writer: &pipewriter::PipeWriter) {
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
