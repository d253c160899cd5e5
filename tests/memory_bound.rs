//! Bounded memory (W-12): with a reader that stalls, or one that reads slowly while tiny writes
//! keep coming, a writer's hard limit bounds the process's *memory* — resident and virtual —
//! not just a count of queued bytes, whatever kind of payload is written: slices, `Vec`s and
//! `String`s that carry spare capacity (a read buffer truncated to what one read returned),
//! small `Bytes` slices of large parents, many tiny writes.
//!
//! Each scenario runs in a process of its own (the test re-runs this executable with
//! `PIPEWRITER_MEMORY_SCENARIO` set), so nothing else allocates meanwhile and each starts
//! from the same state. Resident and virtual memory are read from `/proc/self/status`
//! (`VmRSS`, and `VmData` for the writable address space) on Linux and from
//! `K32GetProcessMemoryInfo` (`WorkingSetSize`, `PagefileUsage`, the private commit charge) on
//! Windows; under Wine these follow the Unix process's resident set and Wine's own commit
//! accounting, which may differ from Windows.

mod util;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pipewriter::{Builder, Event, PipeWriter};

/// The hard limit under test.
const LIMIT: usize = 16 << 20;
/// What resident memory may grow by on top of the limit (W-12): allocator bookkeeping, the
/// open and the partly consumed staging block, the process-wide block pool (2 MiB).
const SLACK: usize = 4 << 20;
/// What virtual memory may grow by: twice the limit and this.
const VIRTUAL_SLACK: usize = 16 << 20;

const SCENARIO_VAR: &str = "PIPEWRITER_MEMORY_SCENARIO";
const SCENARIOS: &[&str] = &[
    "mixed_sizes",
    "vec_with_spare_capacity",
    "large_vec_with_spare_capacity",
    "string_with_spare_capacity",
    "small_bytes_slices_of_large_parents",
    "tiny_writes_with_a_slow_reader",
];

#[derive(Debug, Clone, Copy)]
struct Memory {
    resident: u64,
    virtual_: u64,
}

#[cfg(target_os = "linux")]
fn memory() -> Memory {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| -> u64 {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in /proc/self/status"));
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("a value in kB");
        kib * 1024
    };
    Memory {
        resident: field("VmRSS:"),
        // The writable private address space (heap, anonymous maps): what strict overcommit
        // charges. Not `VmSize`, which also counts the inaccessible reservation of every
        // malloc arena a thread happens to get (64 MiB each), whoever allocates.
        virtual_: field("VmData:"),
    }
}

#[cfg(windows)]
fn memory() -> Memory {
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
    Memory {
        resident: counters.WorkingSetSize as u64,
        virtual_: counters.PagefileUsage as u64,
    }
}

/// Whether [`memory`] can read this platform's figures; elsewhere the test says so and skips.
const MEMORY_FIGURES: bool = cfg!(any(target_os = "linux", windows));

#[cfg(not(any(target_os = "linux", windows)))]
fn memory() -> Memory {
    panic!("this test reads memory figures on Linux and Windows only");
}

/// Queues `payload()` writes until `refusals` in a row were refused; returns how many were
/// accepted.
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

fn vec_with_capacity(len: usize, capacity: usize, byte: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(capacity);
    v.resize(len, byte);
    v
}

/// Runs one scenario and checks the memory it took.
fn run_scenario(name: &str) {
    // Warm-up: the I/O thread, the allocator's arenas and a reader thread exist before the
    // first measurement.
    {
        let (reader, write_end) = pipewriter::pipe().unwrap();
        let writer = PipeWriter::new(write_end).unwrap();
        writer.write(&[1u8; 100][..]).unwrap();
        let reading = std::thread::spawn(move || {
            let mut reader = reader;
            let _ = std::io::Read::read(&mut reader, &mut [0u8; 1000]);
        });
        let _ = writer.flush(Duration::from_secs(5));
        reading.join().unwrap();
    }

    // The reader end stays open; it is never read, except in the slow-reader scenario.
    let (reader, write_end) = pipewriter::pipe().unwrap();
    let before = memory();
    let writer = Arc::new(
        Builder::new()
            .hard_limit(LIMIT)
            .high_water(LIMIT / 2)
            .build(write_end)
            .unwrap(),
    );
    let accepted = match name {
        "mixed_sizes" => {
            let medium = vec![0xa5_u8; 10 << 10];
            fill(&writer, || vec![0x3c_u8; 1 << 20], 3)
                + fill(&writer, || &medium[..], 3)
                + fill(&writer, || &[0x5a_u8; 100][..], 3)
        }
        // A read buffer of 64 KiB truncated to the 4 KiB one read returned.
        "vec_with_spare_capacity" => fill(&writer, || vec_with_capacity(4 << 10, 64 << 10, 7), 3),
        "large_vec_with_spare_capacity" => {
            fill(&writer, || vec_with_capacity(100 << 10, 1 << 20, 8), 3)
        }
        "string_with_spare_capacity" => fill(
            &writer,
            || {
                let mut s = String::with_capacity(64 << 10);
                s.push_str(&"x".repeat(4 << 10));
                s
            },
            3,
        ),
        "small_bytes_slices_of_large_parents" => fill(
            &writer,
            || Bytes::from(vec![9u8; 1 << 20]).slice(1000..1000 + (8 << 10)),
            3,
        ),
        "tiny_writes_with_a_slow_reader" => tiny_writes_with_a_slow_reader(&writer, reader),
        other => panic!("unknown scenario {other}"),
    };
    let queued = writer.bytes_to_write();
    assert!(
        queued <= LIMIT,
        "W-12: {queued} bytes queued over the limit"
    );
    let after = memory();
    let resident = after.resident.saturating_sub(before.resident);
    let virtual_ = after.virtual_.saturating_sub(before.virtual_);
    eprintln!(
        "W-12 {name}: {accepted} writes accepted, {queued} bytes queued (limit {LIMIT}); \
         resident +{:.2} MiB (allowed {:.2}), virtual +{:.2} MiB (allowed {:.2})",
        resident as f64 / (1 << 20) as f64,
        (LIMIT + SLACK) as f64 / (1 << 20) as f64,
        virtual_ as f64 / (1 << 20) as f64,
        (2 * LIMIT + VIRTUAL_SLACK) as f64 / (1 << 20) as f64,
    );
    assert!(
        resident <= (LIMIT + SLACK) as u64,
        "W-12 {name}: resident memory grew by {resident} bytes, more than the hard limit \
         {LIMIT} + {SLACK}"
    );
    assert!(
        virtual_ <= (2 * LIMIT + VIRTUAL_SLACK) as u64,
        "W-12 {name}: virtual memory grew by {virtual_} bytes, more than twice the hard limit \
         {LIMIT} + {VIRTUAL_SLACK}"
    );
    let unwritten = writer.stop();
    // Not `queued`: the OS may take more between that reading and the stop (under Wine a
    // pending write completed in between: 4 KiB more written, 4 KiB fewer handed back).
    assert_eq!(
        unwritten.len() as u64,
        writer.bytes_accepted() - writer.bytes_written(),
        "W-10: everything not written is handed back"
    );
}

/// The queue is filled to the limit; then a reader takes 16 bytes at a time for a while, and
/// every `Written(n)` is answered with `n` bytes more in 16-byte writes, so the queue stays at
/// the limit while every OS write finds a few fresh bytes at the tail. Such an OS write must not
/// cost a staging block of its own.
fn tiny_writes_with_a_slow_reader(writer: &Arc<PipeWriter>, reader: std::io::PipeReader) -> usize {
    fill(writer, || vec![0u8; 64 << 10], 3);
    // Events go to a receiver drained by this thread, which answers them as a handler would.
    let events = writer.events();
    let reading = std::thread::spawn(move || {
        let mut reader = reader;
        let mut buf = [0u8; 16];
        let end = Instant::now() + Duration::from_millis(1500);
        let mut reads = 0u64;
        while Instant::now() < end {
            if std::io::Read::read(&mut reader, &mut buf).unwrap_or(0) == 0 {
                break;
            }
            reads += 1;
        }
        (reads, reader)
    });
    let mut tiny = 0;
    let end = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < end {
        if let Some(Event::Written(n)) = events.recv_timeout(Duration::from_millis(10)) {
            for _ in 0..n.div_ceil(16) {
                if writer.write(&[0x11u8; 16][..]).is_ok() {
                    tiny += 1;
                }
            }
        }
    }
    let (reads, reader) = reading.join().unwrap();
    eprintln!("W-12 tiny writes: {reads} reads of 16 bytes, {tiny} tiny writes accepted");
    assert!(reads > 1000, "the reader should have read often: {reads}");
    assert!(
        writer.bytes_to_write() > LIMIT / 2,
        "the queue should have stayed full: {}",
        writer.bytes_to_write()
    );
    std::mem::forget(reader); // keep the pipe open: the rest stays queued
    tiny
}

#[test]
fn w12_memory_stays_within_the_hard_limit_for_every_payload_kind() {
    const TEST: &str = "w12_memory_stays_within_the_hard_limit_for_every_payload_kind";
    if !MEMORY_FIGURES {
        eprintln!(
            "SKIPPED: {TEST}: no memory figures on this platform (read from /proc/self/status \
             on Linux, K32GetProcessMemoryInfo on Windows): W-12's memory bound is NOT CHECKED"
        );
        return;
    }
    if let Ok(name) = std::env::var(SCENARIO_VAR) {
        run_scenario(&name);
        return;
    }
    let mut failed = Vec::new();
    for name in SCENARIOS {
        let out = util::this_test_in_a_child(TEST, SCENARIO_VAR, name)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        for line in stderr.lines().filter(|l| l.contains("W-12")) {
            eprintln!("{line}");
        }
        if !out.status.success() {
            eprintln!("--- scenario {name} failed:\n{stderr}");
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "W-12: scenarios over the bound: {failed:?}"
    );
}
