//! Bounded memory (W-12, issue 6): with a reader that never reads and a hard limit, the
//! process's resident memory grows by no more than the limit plus a small constant, however
//! many writes are attempted, of whatever size.
//!
//! Resident memory is read from `/proc/self/status` (`VmRSS`) on Linux and from
//! `K32GetProcessMemoryInfo` (`WorkingSetSize`) on Windows (Wine maps it to the Unix process's
//! resident set). One test per process, so no other test allocates meanwhile.

use std::time::Duration;

use pipewriter::{Builder, PipeWriter};

/// The hard limit under test.
const LIMIT: usize = 64 << 20;
/// What the process may grow by on top of the queued bytes: allocator bookkeeping, partly
/// filled staging blocks, event and thread bookkeeping.
const SLACK: usize = 4 << 20;

#[cfg(target_os = "linux")]
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kib * 1024
}

#[cfg(windows)]
fn resident_bytes() -> u64 {
    use windows_sys::Win32::System::ProcessStatus::{
        K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS,
    };
    use windows_sys::Win32::System::Threading::GetCurrentProcess;
    // SAFETY: PROCESS_MEMORY_COUNTERS is plain data; all zeroes is a valid value.
    let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
    counters.cb = size;
    // SAFETY: the pseudo-handle of the current process is always valid; `counters` is a
    // writable struct of the size passed.
    let ok = unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut counters, size) };
    assert_ne!(ok, 0, "K32GetProcessMemoryInfo failed");
    counters.WorkingSetSize as u64
}

/// Tries to queue `payload()`-sized writes until `refusals` in a row were refused; returns
/// how many were accepted.
fn fill<P: pipewriter::Payload>(
    writer: &PipeWriter,
    mut payload: impl FnMut() -> P,
    refusals: usize,
) -> usize {
    let mut accepted = 0;
    let mut refused = 0;
    while refused < refusals {
        match writer.write(payload()) {
            Ok(_) => {
                accepted += 1;
                refused = 0;
            }
            Err(e) => {
                assert_eq!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock,
                    "W-12: only the hard limit refuses"
                );
                refused += 1;
            }
        }
    }
    accepted
}

#[test]
fn w12_resident_memory_stays_within_the_hard_limit_with_a_stalled_reader() {
    let small = [0x5a_u8; 100];
    let medium = vec![0xa5_u8; 10 << 10];

    // Warm-up: the I/O thread, the allocator's arenas and this test's buffers exist before the
    // first measurement.
    {
        let (reader, write_end) = pipewriter::pipe().unwrap();
        let writer = PipeWriter::new(write_end).unwrap();
        writer.write(&small[..]).unwrap();
        drop(reader);
        let _ = writer.flush(Duration::from_secs(5));
    }

    // The reader end stays open and is never read: the pipe fills and stays full.
    let (reader, write_end) = pipewriter::pipe().unwrap();
    let before = resident_bytes();
    let writer = Builder::new()
        .hard_limit(LIMIT)
        .high_water(LIMIT / 2)
        .build(write_end)
        .unwrap();

    // Large owned writes (queued without a copy), then medium and small copied ones, until
    // each size is refused; then thousands more attempts of each, all refused.
    let large = fill(&writer, || vec![0x3c_u8; 1 << 20], 3);
    let medium_n = fill(&writer, || &medium[..], 3);
    let small_n = fill(&writer, || &small[..], 3);
    for _ in 0..1000 {
        assert!(writer.write(vec![1u8; 1 << 20]).is_err());
        assert!(writer.write(&medium[..]).is_err());
    }
    let queued = writer.bytes_to_write();
    assert!(
        queued <= LIMIT,
        "W-12: {queued} bytes queued over the limit"
    );
    assert!(
        queued > LIMIT - (10 << 10),
        "the queue should be nearly full: {queued} of {LIMIT}"
    );

    let after = resident_bytes();
    let growth = after.saturating_sub(before);
    eprintln!(
        "W-12: resident {before} -> {after} bytes: growth {growth} ({:.2} MiB) for {queued} \
         queued bytes, hard limit {LIMIT}, allowed {} ({} large, {medium_n} medium, {small_n} \
         small writes accepted)",
        growth as f64 / (1 << 20) as f64,
        LIMIT + SLACK,
        large
    );
    assert!(
        growth <= (LIMIT + SLACK) as u64,
        "W-12: resident memory grew by {growth} bytes, more than the hard limit {LIMIT} + {SLACK}"
    );

    let unwritten = writer.stop();
    assert_eq!(
        unwritten.len(),
        queued,
        "W-10: everything queued is handed back"
    );
    drop(unwritten);
    drop(writer);
    drop(reader);
}
