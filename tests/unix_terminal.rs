//! Terminals nobody reads (W-10, W-11, W-14, P-3): a terminal stopped with Ctrl-S, a stalled
//! ssh client or a tmux pane in copy mode takes no more output, and a writer handed such a
//! terminal as a `File` (a descriptor of unknown origin, whose mode must not change) must
//! still stop, drop and give its handle back promptly, with exact accounting.
//!
//! Each test opens a pseudo-terminal pair whose master nobody reads, gives the writer the
//! slave as a `File`, queues several MiB (far more than the terminal buffers), and measures
//! `stop`, a `DropPolicy::Discard` drop or `into_handle`. The bound asserted (1 s) is generous
//! for CI; the measured time is printed. A call that has not returned after `RESCUE_AFTER` is
//! released by reading the master, so the test fails instead of hanging.
//!
//! Linux only. NOT COVERED: macOS and the BSDs, whose terminals are served by the blocking
//! worker (no reopening through /proc there); their tty layers decide how long a small write
//! may wait, which these tests do not measure.
#![cfg(target_os = "linux")]

mod util;

use std::ffi::CStr;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pipewriter::{Builder, DropPolicy, PipeWriter};
use rustix::fs::OFlags;
use util::{pattern, PATIENCE};

/// What the tests assert: stop, drop and `into_handle` return within this bound.
const BOUND: Duration = Duration::from_secs(1);
/// A call still running after this long is released by reading the terminal.
const RESCUE_AFTER: Duration = Duration::from_secs(5);
/// Far more than a pseudo-terminal buffers (about 20 KiB on Linux).
const DATA_LEN: usize = 4 << 20;

/// A pseudo-terminal pair: the master stays with the test, unread; the slave goes to the
/// writer.
struct Pty {
    master: File,
    slave: File,
}

fn last_os_error(what: &str) -> std::io::Error {
    let e = std::io::Error::last_os_error();
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Opens a pseudo-terminal pair; `raw`: the slave passes bytes unchanged (no output
/// processing), else it keeps the default cooked mode (`OPOST | ONLCR`: "\n" becomes "\r\n").
fn pty(raw: bool) -> Pty {
    // SAFETY: plain FFI call with valid flags; the result is checked.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    assert!(master >= 0, "{}", last_os_error("posix_openpt"));
    // SAFETY: `master` was just opened and is owned by nobody else.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    // SAFETY: `master` is an open pseudo-terminal master.
    let rc = unsafe { libc::grantpt(master.as_raw_fd()) };
    assert_eq!(rc, 0, "{}", last_os_error("grantpt"));
    // SAFETY: as above.
    let rc = unsafe { libc::unlockpt(master.as_raw_fd()) };
    assert_eq!(rc, 0, "{}", last_os_error("unlockpt"));
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: `name` is writable for its whole length, which is passed.
    let rc = unsafe { libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) };
    assert_eq!(rc, 0, "ptsname_r: error {rc}");
    // SAFETY: `ptsname_r` succeeded, so `name` holds a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(name.as_ptr()) };
    // SAFETY: `name` is a valid C string; the flags are valid; the result is checked.
    let slave = unsafe {
        libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    assert!(slave >= 0, "{}", last_os_error("open the slave"));
    // SAFETY: `slave` was just opened and is owned by nobody else.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if raw {
        // SAFETY: `termios` is plain data, filled in by `tcgetattr` before use.
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `slave` is an open terminal; `termios` is writable.
        let rc = unsafe { libc::tcgetattr(slave.as_raw_fd(), &mut termios) };
        assert_eq!(rc, 0, "{}", last_os_error("tcgetattr"));
        // SAFETY: `termios` is a valid, initialised structure.
        unsafe { libc::cfmakeraw(&mut termios) };
        // SAFETY: `slave` is an open terminal; `termios` is valid.
        let rc = unsafe { libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &termios) };
        assert_eq!(rc, 0, "{}", last_os_error("tcsetattr"));
    }
    Pty {
        master: File::from(master),
        slave: File::from(slave),
    }
}

fn nonblocking(fd: impl AsFd) -> bool {
    rustix::fs::fcntl_getfl(fd)
        .unwrap()
        .contains(OFlags::NONBLOCK)
}

/// Reads the master until the slave is closed everywhere (Linux then reports `EIO`, after
/// every byte the slave wrote).
fn drain(master: &File) -> JoinHandle<Vec<u8>> {
    let mut master = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match master.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EIO) => return out,
                Err(e) => panic!("reading the master: {e}"),
            }
        }
    })
}

/// Waits until the writer has filled the terminal: some bytes written, then no progress for
/// a while. (A writer whose one write is blocked on the terminal shows no progress at all.)
fn wait_until_stalled(writer: &PipeWriter) {
    let start = Instant::now();
    let mut last = writer.bytes_written();
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_millis(300) {
        assert!(start.elapsed() < PATIENCE, "the terminal never filled");
        std::thread::sleep(Duration::from_millis(10));
        let now = writer.bytes_written();
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    assert!(
        (writer.bytes_written() as usize) < DATA_LEN,
        "the terminal took everything: nobody should be reading it"
    );
}

/// Runs `op` on another thread and measures it. If it has not returned after
/// `RESCUE_AFTER`, the master is read from then on (so a write blocked on the terminal can
/// finish) and the returned reader holds what it read; otherwise no reader was started.
fn timed<T: Send + 'static>(
    what: &str,
    master: &File,
    op: impl FnOnce() -> T + Send + 'static,
) -> (T, Duration, Option<JoinHandle<Vec<u8>>>) {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let worker = std::thread::spawn(move || {
        let value = op();
        let _ = tx.send(start.elapsed());
        value
    });
    let (elapsed, rescue) = match rx.recv_timeout(RESCUE_AFTER) {
        Ok(elapsed) => (elapsed, None),
        Err(_) => {
            eprintln!(
                "{what}: still blocked after {RESCUE_AFTER:?}; reading the terminal to release it"
            );
            let reader = drain(master);
            let elapsed = rx.recv_timeout(PATIENCE).expect("released");
            (elapsed, Some(reader))
        }
    };
    eprintln!("{what}: returned after {elapsed:?} on a terminal nobody reads");
    (worker.join().unwrap(), elapsed, rescue)
}

/// Text with a newline every few dozen bytes and no carriage return, so a cooked terminal's
/// "\r\n" can be turned back into "\n" exactly.
fn text(seed: u64, len: usize) -> Vec<u8> {
    pattern(seed, len)
        .into_iter()
        .map(|b| match b % 32 {
            0 => b'\n',
            1 => b'\t',
            r => b'a' + r % 26,
        })
        .collect()
}

/// What a cooked terminal (`ONLCR`) did to `text`, undone.
fn uncook(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn assert_exact(what: &str, data: &[u8], read: &[u8], unwritten: &[u8]) {
    assert_eq!(
        read.len() + unwritten.len(),
        data.len(),
        "W-10 ({what}): the reader's bytes ({}) + the handed-back bytes ({}) must be everything accepted",
        read.len(),
        unwritten.len()
    );
    assert!(
        read == &data[..read.len()] && unwritten == &data[read.len()..],
        "W-10 ({what}): the reader got a prefix and the rest was handed back, byte for byte"
    );
}

fn stop_on_unread_terminal(test: &str, raw: bool, data: Vec<u8>) {
    let pty = pty(raw);
    let writer = PipeWriter::new(pty.slave).unwrap();
    writer.write(data.clone()).unwrap();
    wait_until_stalled(&writer);
    let writer = std::sync::Arc::new(writer);
    let (unwritten, elapsed, rescue) = timed(test, &pty.master, {
        let writer = writer.clone();
        move || writer.stop().to_vec()
    });
    drop(writer); // closes the slave: the master reads to the end
    let reader = rescue.unwrap_or_else(|| drain(&pty.master));
    let read = reader.join().unwrap();
    let read = if raw { read } else { uncook(&read) };
    assert_exact(test, &data, &read, &unwritten);
    assert!(
        elapsed < BOUND,
        "W-10: stop took {elapsed:?} on a terminal nobody reads (bound {BOUND:?})"
    );
}

#[test]
fn w10_stop_returns_promptly_on_a_terminal_nobody_reads() {
    stop_on_unread_terminal(
        "w10_stop_returns_promptly_on_a_terminal_nobody_reads",
        true,
        pattern(1, DATA_LEN),
    );
}

/// Output processing (`OPOST | ONLCR`, the default of a new terminal) makes the tty layer
/// check for room again at every newline and tab within one write.
#[test]
fn w10_stop_returns_promptly_on_a_cooked_terminal_nobody_reads() {
    stop_on_unread_terminal(
        "w10_stop_returns_promptly_on_a_cooked_terminal_nobody_reads",
        false,
        text(2, DATA_LEN),
    );
}

#[test]
fn w11_discard_drop_returns_promptly_on_a_terminal_nobody_reads() {
    let test = "w11_discard_drop_returns_promptly_on_a_terminal_nobody_reads";
    let pty = pty(true);
    let data = pattern(3, DATA_LEN);
    let writer = Builder::new()
        .drop_policy(DropPolicy::Discard)
        .build(pty.slave)
        .unwrap();
    writer.write(data.clone()).unwrap();
    wait_until_stalled(&writer);
    let written_before = writer.bytes_written() as usize;
    let ((), elapsed, rescue) = timed(test, &pty.master, move || drop(writer));
    // The drop closed the slave: the master reads to the end.
    let reader = rescue.unwrap_or_else(|| drain(&pty.master));
    let read = reader.join().unwrap();
    assert!(
        read.len() >= written_before && read == data[..read.len()],
        "W-11: the reader got exactly a prefix of the data, at least what was reported written \
         ({} read, {written_before} reported)",
        read.len()
    );
    assert!(
        elapsed < BOUND,
        "W-11: a discarding drop took {elapsed:?} on a terminal nobody reads (bound {BOUND:?})"
    );
}

#[test]
fn w14_into_handle_returns_promptly_the_original_descriptor_of_a_terminal_nobody_reads() {
    let test =
        "w14_into_handle_returns_promptly_the_original_descriptor_of_a_terminal_nobody_reads";
    let pty = pty(true);
    let original = pty.slave.as_raw_fd();
    let original_stat = rustix::fs::fstat(&pty.slave).unwrap();
    let data = pattern(4, DATA_LEN);
    let writer = PipeWriter::new(pty.slave).unwrap();
    writer.write(data.clone()).unwrap();
    wait_until_stalled(&writer);
    let ((handle, unwritten), elapsed, rescue) = timed(test, &pty.master, move || {
        let (handle, unwritten) = writer.into_handle();
        (handle, unwritten.to_vec())
    });
    let handle = handle.expect("W-14: the handle comes back");
    assert_eq!(
        handle.as_raw_fd(),
        original,
        "W-14: the descriptor given back is the one given"
    );
    let stat = rustix::fs::fstat(&handle).unwrap();
    assert_eq!(
        (stat.st_dev, stat.st_ino, stat.st_rdev),
        (
            original_stat.st_dev,
            original_stat.st_ino,
            original_stat.st_rdev
        )
    );
    assert!(
        !nonblocking(&handle),
        "P-3, W-14: the terminal comes back in blocking mode, as it came"
    );
    drop(handle); // the last slave descriptor: the master reads to the end
    let reader = rescue.unwrap_or_else(|| drain(&pty.master));
    let read = reader.join().unwrap();
    assert_exact(test, &data, &read, &unwritten);
    assert!(
        elapsed < BOUND,
        "W-14: into_handle took {elapsed:?} on a terminal nobody reads (bound {BOUND:?})"
    );
}

/// P-3: the terminal's open file description is never switched to non-blocking mode while
/// the writer serves it (another process writing to the same terminal would see `EAGAIN`).
#[test]
fn p3_shared_terminal_keeps_its_mode_while_written() {
    let pty = pty(true);
    let other_process_view = pty.slave.try_clone().unwrap();
    let writer = PipeWriter::new(pty.slave).unwrap();
    writer.write(pattern(5, 1 << 20)).unwrap();
    wait_until_stalled(&writer);
    assert!(
        !nonblocking(&other_process_view),
        "P-3: O_NONBLOCK must not be switched on a terminal of unknown origin"
    );
    let reader = drain(&pty.master);
    writer.close(PATIENCE).unwrap();
    assert!(!nonblocking(&other_process_view));
    drop(other_process_view);
    assert!(reader.join().unwrap() == pattern(5, 1 << 20));
}
