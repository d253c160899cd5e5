//! Stress and soak test of the writer (issue 6): many writers at once, random chunk sizes,
//! readers of random speed, readers dying at random offsets, stops, `into_handle` and drops at
//! random times, and transient, short, interrupted, would-block and fatal OS results injected
//! through the fault seam. Every byte the readers receive is checked against the stream the
//! writer was given, every byte handed back too, and for every writer the identity
//! *accepted = written + handed back* is checked.
//!
//! ```text
//! cargo run --release --example stress -- --quick          # about 30 s (CI)
//! cargo run --release --example stress -- --long           # 10 minutes (by hand)
//! cargo run --release --example stress -- --seed 42 --secs 60 --writers 8
//! ```
//!
//! The seed is printed first. The same seed gives the same scenarios (sizes, configurations,
//! fault plans, reader speeds and death offsets, endings); thread timing differs from run to
//! run. A failure prints the seed of its round and writer. Exit status: 0 when no check
//! failed, 1 on a failed check, 2 on a hang (a round that does not end), 64 on bad arguments.
//!
//! Runs on Linux and, cross-compiled, on Windows (under Wine with `ci/wine-runner.sh`).

use std::fmt;
use std::io::{ErrorKind, Read};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pipewriter::fault::Fault;
use pipewriter::{Builder, DropPolicy, Event, OwnedPipe, PipeBuilder, RetryPolicy, Unwritten};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A generous bound for waits: only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(120);
/// A round that runs longer than this is a hang.
const ROUND_LIMIT: Duration = Duration::from_secs(300);

/// Raw OS codes for the injected faults, per platform (the crate's E-1 table classifies them);
/// the Unix ones from `libc`, so they are right on every Unix.
mod codes {
    #[cfg(unix)]
    pub(crate) const TRANSIENT: [i32; 2] = [libc::ENOMEM, libc::ENOBUFS];
    #[cfg(windows)]
    pub(crate) const TRANSIENT: [i32; 2] = [8, 1450]; // ERROR_NOT_ENOUGH_MEMORY, ERROR_NO_SYSTEM_RESOURCES
    #[cfg(unix)]
    pub(crate) const FATAL: i32 = libc::EIO;
    #[cfg(windows)]
    pub(crate) const FATAL: i32 = 1117; // ERROR_IO_DEVICE
    /// EINTR and EAGAIN exist only on Unix.
    #[cfg(unix)]
    pub(crate) const INTERRUPTED: Option<i32> = Some(libc::EINTR);
    #[cfg(windows)]
    pub(crate) const INTERRUPTED: Option<i32> = None;
    #[cfg(unix)]
    pub(crate) const WOULD_BLOCK: Option<i32> = Some(libc::EAGAIN);
    #[cfg(windows)]
    pub(crate) const WOULD_BLOCK: Option<i32> = None;
}

// ---------------------------------------------------------------------------------------------
// The byte stream of a writer: position-addressable, so readers and hand-backs can be checked
// anywhere without keeping a copy.

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Fills `out` with the stream of `seed` from `offset` on.
fn fill(seed: u64, offset: u64, out: &mut [u8]) {
    let mut pos = offset;
    let mut i = 0;
    while i < out.len() {
        let word = splitmix(seed ^ (pos / 8).wrapping_mul(0xD6E8_FEB8_6659_FD93)).to_le_bytes();
        let start = (pos % 8) as usize;
        let take = (8 - start).min(out.len() - i);
        out[i..i + take].copy_from_slice(&word[start..start + take]);
        i += take;
        pos += take as u64;
    }
}

fn stream(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    fill(seed, offset, &mut out);
    out
}

/// The first offset in `data` (at stream position `offset`) that differs from the stream.
fn first_mismatch(seed: u64, offset: u64, data: &[u8]) -> Option<u64> {
    let mut expected = [0u8; 4096];
    let mut done = 0;
    while done < data.len() {
        let n = (data.len() - done).min(expected.len());
        fill(seed, offset + done as u64, &mut expected[..n]);
        if let Some(i) = (0..n).find(|&i| expected[i] != data[done + i]) {
            return Some(offset + (done + i) as u64);
        }
        done += n;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Figures.

#[derive(Default)]
struct Stats {
    writers: AtomicU64,
    writes_accepted: AtomicU64,
    writes_refused: AtomicU64,
    bytes_accepted: AtomicU64,
    bytes_written: AtomicU64,
    bytes_handed_back: AtomicU64,
    bytes_verified: AtomicU64,
    faults_short: AtomicU64,
    faults_transient: AtomicU64,
    faults_interrupted: AtomicU64,
    faults_would_block: AtomicU64,
    faults_fatal: AtomicU64,
    readers_died: AtomicU64,
    peer_closed: AtomicU64,
    failed: AtomicU64,
    endings: [AtomicU64; Ending::COUNT],
    failures: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Failure messages (the first ones), for the report.
static FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn fail(stats: &Stats, who: &Who, what: String) {
    add(&stats.failures, 1);
    let message = format!("FAILED {who}: {what}");
    eprintln!("{message}");
    let mut failures = FAILURES.lock().unwrap();
    if failures.len() < 20 {
        failures.push(message);
    }
}

/// Identifies a writer in messages: enough to find its scenario again.
#[derive(Clone)]
struct Who {
    seed: u64,
    round: u64,
    index: usize,
    writer_seed: u64,
    /// The scenario, once drawn.
    scenario: String,
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[--seed {} round {} writer {} (writer seed {:#x}){}]",
            self.seed, self.round, self.index, self.writer_seed, self.scenario
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// `close` after the last write, then `stop` for what a failed close left.
    Close,
    /// The writing thread calls `stop` after a random number of writes.
    StopAt,
    /// Another thread calls `stop` at a random time while the writes go on.
    ConcurrentStop,
    /// `into_handle` after a random number of writes; the handle is dropped.
    IntoHandle,
    /// Dropped after the last write with the linger policy: everything is still written.
    DropLinger,
    /// Dropped at a random point with the discard policy.
    DropDiscard,
}

impl Ending {
    const COUNT: usize = 6;
    const ALL: [Ending; Ending::COUNT] = [
        Ending::Close,
        Ending::StopAt,
        Ending::ConcurrentStop,
        Ending::IntoHandle,
        Ending::DropLinger,
        Ending::DropDiscard,
    ];
}

#[derive(Debug, Clone, Copy)]
enum ReaderSpeed {
    /// Large reads, no pause.
    Fast,
    /// Random read sizes, an occasional short pause.
    Jittery,
    /// Small reads with pauses.
    Slow,
    /// Stalls for a while, then reads fast.
    Stalled,
}

/// Everything random about one writer, drawn from its seed.
#[derive(Debug, Clone)]
struct Plan {
    total: u64,
    chunk_max: usize,
    high_water: usize,
    hard_limit: Option<usize>,
    max_write: usize,
    pipe_buffer: Option<usize>,
    /// A blocking pipe from `std::io::pipe`, given as a plain handle (unknown provenance): the
    /// blocking worker path on Unix, the synchronous-handle worker on Windows.
    blocking_pipe: bool,
    polite: bool,
    ending: Ending,
    /// For `StopAt`, `IntoHandle`, `DropDiscard`: after this many accepted bytes.
    end_after: u64,
    /// For `ConcurrentStop`: after this long.
    stop_delay: Duration,
    reader: ReaderSpeed,
    reader_dies_at: Option<u64>,
    /// Fault probabilities per OS write, in millionths.
    fault_ppm: FaultRates,
}

#[derive(Debug, Clone, Copy)]
struct FaultRates {
    short: u32,
    transient: u32,
    interrupted: u32,
    would_block: u32,
    fatal: u32,
}

impl Plan {
    fn draw(rng: &mut StdRng, max_total: u64) -> Plan {
        let total = match rng.gen_range(0..10) {
            0 => rng.gen_range(0..4096),
            1..=6 => rng.gen_range(0..max_total / 4),
            _ => rng.gen_range(0..max_total),
        };
        let chunk_max = *[16, 512, 4096, 64 << 10, 256 << 10, 1 << 20]
            .get(rng.gen_range(0..6))
            .unwrap();
        let high_water = 1 << rng.gen_range(12..22); // 4 KiB .. 2 MiB
        let hard_limit = if rng.gen_bool(0.4) {
            // At least one chunk must fit (a larger write is InvalidInput, tried separately);
            // the limit may be below the high-water mark (W-12: refusals still get Writable).
            Some(rng.gen_range(chunk_max..=(high_water * 4).max(chunk_max)))
        } else {
            None
        };
        let max_write = *[512, 4096, 65536, 256 << 10]
            .get(rng.gen_range(0..4))
            .unwrap();
        let pipe_buffer = match rng.gen_range(0..4) {
            0 => Some(4096),
            1 => Some(16 << 10),
            2 => Some(64 << 10),
            _ => None,
        };
        let ending = Ending::ALL[rng.gen_range(0..Ending::COUNT)];
        let end_after = rng.gen_range(0..=total);
        let stop_delay = Duration::from_micros(rng.gen_range(0..200_000));
        let reader = match rng.gen_range(0..4) {
            0 => ReaderSpeed::Fast,
            1 => ReaderSpeed::Jittery,
            2 => ReaderSpeed::Slow,
            _ => ReaderSpeed::Stalled,
        };
        let reader_dies_at = if rng.gen_bool(0.25) {
            Some(rng.gen_range(0..=total))
        } else {
            None
        };
        let faulty = rng.gen_bool(0.7);
        let fault_ppm = if faulty {
            FaultRates {
                short: rng.gen_range(0..60_000),
                transient: rng.gen_range(0..30_000),
                interrupted: rng.gen_range(0..20_000),
                would_block: rng.gen_range(0..20_000),
                fatal: if rng.gen_bool(0.1) {
                    rng.gen_range(0..2_000)
                } else {
                    0
                },
            }
        } else {
            FaultRates {
                short: 0,
                transient: 0,
                interrupted: 0,
                would_block: 0,
                fatal: 0,
            }
        };
        Plan {
            total,
            chunk_max,
            high_water,
            hard_limit,
            max_write,
            pipe_buffer,
            blocking_pipe: rng.gen_bool(0.2),
            polite: rng.gen_bool(0.5),
            ending,
            end_after,
            stop_delay,
            reader,
            reader_dies_at,
            fault_ppm,
        }
    }
}

/// The injector of one writer: seeded, counts what it injects.
fn injector(
    seed: u64,
    rates: FaultRates,
    stats: Arc<Stats>,
) -> impl FnMut(usize) -> Fault + Send + 'static {
    let mut rng = StdRng::seed_from_u64(seed);
    move |len| {
        let mut roll = rng.gen_range(0..1_000_000u32);
        let mut hit = |rate: u32| {
            if roll < rate {
                true
            } else {
                roll -= rate;
                false
            }
        };
        if hit(rates.short) && len > 1 {
            add(&stats.faults_short, 1);
            return Fault::Short(rng.gen_range(0..len));
        }
        if hit(rates.transient) {
            add(&stats.faults_transient, 1);
            return Fault::Error(codes::TRANSIENT[rng.gen_range(0..2)]);
        }
        if hit(rates.interrupted) {
            if let Some(code) = codes::INTERRUPTED {
                add(&stats.faults_interrupted, 1);
                return Fault::Error(code);
            }
        }
        if hit(rates.would_block) {
            if let Some(code) = codes::WOULD_BLOCK {
                add(&stats.faults_would_block, 1);
                return Fault::Error(code);
            }
        }
        if hit(rates.fatal) {
            add(&stats.faults_fatal, 1);
            return Fault::Error(codes::FATAL);
        }
        Fault::Pass
    }
}

// ---------------------------------------------------------------------------------------------
// One writer.

/// What a handler saw.
#[derive(Default)]
struct Seen {
    written: u64,
    terminal: usize,
    peer_closed: bool,
    failed: bool,
    after_terminal: usize,
    zero_written: usize,
    /// `Writable` events so far (W-12: one must follow every refusal at the hard limit).
    writable: u64,
}

/// The reader: reads at its speed, checks every byte, may die at its offset. Returns the
/// number of bytes it read.
fn read_all(
    mut reader: std::io::PipeReader,
    seed: u64,
    speed: ReaderSpeed,
    dies_at: Option<u64>,
    rng_seed: u64,
    stats: Arc<Stats>,
    who: Who,
) -> (u64, bool) {
    let mut rng = StdRng::seed_from_u64(rng_seed);
    let mut buf = vec![0u8; 256 << 10];
    let mut offset = 0u64;
    if let ReaderSpeed::Stalled = speed {
        thread::sleep(Duration::from_millis(rng.gen_range(0..300)));
    }
    loop {
        let mut want = match speed {
            ReaderSpeed::Fast | ReaderSpeed::Stalled => buf.len(),
            ReaderSpeed::Jittery => rng.gen_range(1..=buf.len()),
            ReaderSpeed::Slow => rng.gen_range(1..=8192),
        };
        if let Some(limit) = dies_at {
            if offset >= limit {
                add(&stats.readers_died, 1);
                return (offset, true);
            }
            want = want.min((limit - offset) as usize);
        }
        match reader.read(&mut buf[..want]) {
            Ok(0) => return (offset, false),
            Ok(n) => {
                if let Some(at) = first_mismatch(seed, offset, &buf[..n]) {
                    fail(
                        &stats,
                        &who,
                        format!("W-2: the reader got a wrong byte at offset {at}"),
                    );
                    return (offset, true);
                }
                offset += n as u64;
                add(&stats.bytes_verified, n as u64);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                fail(&stats, &who, format!("the reader failed: {e}"));
                return (offset, true);
            }
        }
        match speed {
            ReaderSpeed::Jittery if rng.gen_bool(0.05) => {
                thread::sleep(Duration::from_micros(rng.gen_range(0..2000)));
            }
            ReaderSpeed::Slow => thread::sleep(Duration::from_micros(rng.gen_range(0..1500))),
            _ => {}
        }
    }
}

/// Checks a hand-back: exactly the stream from `written` to `accepted`.
fn check_unwritten(stats: &Stats, who: &Who, accepted: u64, written: u64, unwritten: &Unwritten) {
    add(&stats.bytes_handed_back, unwritten.len() as u64);
    if written + unwritten.len() as u64 != accepted {
        fail(
            stats,
            who,
            format!(
                "W-6/W-10: accepted {accepted} != written {written} + handed back {}",
                unwritten.len()
            ),
        );
        return;
    }
    let mut offset = written;
    for chunk in unwritten.chunks() {
        if let Some(at) = first_mismatch(who.writer_seed, offset, chunk) {
            fail(
                stats,
                who,
                format!("W-10: a wrong byte handed back at offset {at}"),
            );
            return;
        }
        offset += chunk.len() as u64;
    }
}

/// Runs one writer with its reader to the end and checks everything.
fn run_writer(mut who: Who, max_total: u64, stats: Arc<Stats>) {
    let mut rng = StdRng::seed_from_u64(who.writer_seed);
    let plan = Plan::draw(&mut rng, max_total);
    who.scenario = format!(
        " {:?}, {} pipe, reader {:?}{}",
        plan.ending,
        if plan.blocking_pipe {
            "blocking std"
        } else {
            "crate"
        },
        plan.reader,
        if plan.reader_dies_at.is_some() {
            " (dies)"
        } else {
            ""
        }
    );
    let seed = who.writer_seed;
    add(&stats.writers, 1);
    add(&stats.endings[plan.ending as usize], 1);

    let (reader, handle) = if plan.blocking_pipe {
        let (reader, writer) = std::io::pipe().expect("pipe");
        (reader, Err(OwnedPipe::from(writer)))
    } else {
        let mut pipe = PipeBuilder::new();
        if let Some(size) = plan.pipe_buffer {
            pipe = pipe.buffer_size(size);
        }
        let (reader, write_end) = pipe.build().expect("pipe");
        (reader, Ok(write_end))
    };
    let reader = {
        let stats = stats.clone();
        let who = who.clone();
        let (speed, dies_at, reader_seed) = (plan.reader, plan.reader_dies_at, rng.gen());
        thread::spawn(move || read_all(reader, seed, speed, dies_at, reader_seed, stats, who))
    };

    let seen = Arc::new(Mutex::new(Seen::default()));
    let handler_seen = seen.clone();
    let mut builder = Builder::new()
        .high_water(plan.high_water)
        .max_write_size(plan.max_write)
        .retry_policy(RetryPolicy {
            initial_delay: Duration::from_micros(50),
            max_delay: Duration::from_millis(2),
            max_retries: 8,
        })
        .drop_policy(if plan.ending == Ending::DropDiscard {
            DropPolicy::Discard
        } else {
            DropPolicy::Linger
        })
        .fault_injector(injector(rng.gen(), plan.fault_ppm, stats.clone()))
        .on_event(move |event| {
            let mut seen = handler_seen.lock().unwrap();
            if seen.terminal > 0 {
                seen.after_terminal += 1;
            }
            match event {
                Event::Written(0) => seen.zero_written += 1,
                Event::Written(n) => seen.written += n,
                Event::PeerClosed { .. } => {
                    seen.terminal += 1;
                    seen.peer_closed = true;
                }
                Event::Failed { .. } => {
                    seen.terminal += 1;
                    seen.failed = true;
                }
                Event::Writable => seen.writable += 1,
                _ => {}
            }
        });
    if let Some(limit) = plan.hard_limit {
        builder = builder.hard_limit(limit);
    }
    let writer = match handle {
        Ok(write_end) => builder.build(write_end),
        Err(handle) => builder.build(handle),
    };
    let writer = Arc::new(writer.expect("build"));

    // A concurrent stop, if planned.
    let stopper = (plan.ending == Ending::ConcurrentStop).then(|| {
        let writer = writer.clone();
        let delay = plan.stop_delay;
        thread::spawn(move || {
            thread::sleep(delay);
            writer.stop()
        })
    });

    // The writes.
    let stops_early = matches!(
        plan.ending,
        Ending::StopAt | Ending::IntoHandle | Ending::DropDiscard
    );
    let mut accepted = 0u64;
    let mut refusals_in_a_row = 0u32;
    while accepted < plan.total {
        if stops_early && accepted >= plan.end_after {
            break;
        }
        let len = rng
            .gen_range(1..=plan.chunk_max)
            .min((plan.total - accepted) as usize);
        if let Some(limit) = plan.hard_limit.filter(|_| rng.gen_bool(0.01)) {
            // W-12: a write that can never fit is InvalidInput and comes back whole.
            match writer.write(vec![0u8; limit + 1]) {
                Err(e) if e.kind() == ErrorKind::InvalidInput && e.data().len() == limit + 1 => {}
                Err(e)
                    if e.kind() != ErrorKind::WouldBlock && e.kind() != ErrorKind::InvalidInput => {
                }
                other => fail(
                    &stats,
                    &who,
                    format!(
                        "W-12: a write over the hard limit gave {:?}",
                        other.map_err(|e| e.kind())
                    ),
                ),
            }
        }
        let data = stream(seed, accepted, len);
        let writables_before = seen.lock().unwrap().writable;
        let result = match rng.gen_range(0..5) {
            0 => writer.write(&data[..]).map_err(|e| {
                let (error, back) = e.into_parts();
                (error, back.len())
            }),
            1 => writer.write(data).map_err(|e| {
                let (error, back) = e.into_parts();
                (error, back.len())
            }),
            2 => writer.write(Bytes::from(data)).map_err(|e| {
                let (error, back) = e.into_parts();
                (error, back.len())
            }),
            3 => {
                // A read buffer truncated to what one read returned (W-12: its spare capacity
                // is not kept).
                let mut buf = Vec::with_capacity(len * 4 + 4096);
                buf.extend_from_slice(&data);
                writer.write(buf).map_err(|e| {
                    let (error, back) = e.into_parts();
                    (error, back.len())
                })
            }
            _ => {
                // A slice of a larger parent.
                let mut parent = vec![0u8; 100];
                parent.extend_from_slice(&data);
                parent.resize(parent.len() + 4096, 0);
                let slice = Bytes::from(parent).slice(100..100 + len);
                writer.write(slice).map_err(|e| {
                    let (error, back) = e.into_parts();
                    (error, back.len())
                })
            }
        };
        match result {
            Ok(status) => {
                refusals_in_a_row = 0;
                accepted += len as u64;
                add(&stats.writes_accepted, 1);
                if plan.polite && status.is_above_high_water() {
                    // Backpressure (W-12): wait for the queue to come down.
                    let start = Instant::now();
                    while writer.bytes_to_write() > plan.high_water / 4 {
                        match writer.wait_for_bytes_written(Duration::from_millis(100)) {
                            Ok(_) => {}
                            Err(_) => break, // ended: the next write says how
                        }
                        if start.elapsed() > PATIENCE {
                            fail(&stats, &who, "W-12: the queue never came down".into());
                            break;
                        }
                    }
                }
            }
            Err((error, back)) => {
                add(&stats.writes_refused, 1);
                if back != len {
                    fail(
                        &stats,
                        &who,
                        format!("W-12: a refused write handed back {back} of {len} bytes"),
                    );
                }
                if error.kind() == ErrorKind::WouldBlock {
                    // The hard limit (W-12): `Writable` must follow once the write fits; then
                    // retry the same bytes.
                    refusals_in_a_row += 1;
                    if refusals_in_a_row > 10_000 {
                        fail(&stats, &who, "W-12: the hard limit never made room".into());
                        break;
                    }
                    let start = Instant::now();
                    loop {
                        let seen = seen.lock().unwrap();
                        if seen.writable > writables_before || seen.terminal > 0 {
                            break;
                        }
                        drop(seen);
                        if !writer.is_write_active() {
                            break;
                        }
                        if start.elapsed() > PATIENCE {
                            fail(&stats, &who, "W-12: no Writable after a refusal".into());
                            break;
                        }
                        let _ = writer.wait_for_bytes_written(Duration::from_millis(20));
                    }
                    continue;
                }
                // The writer ended (peer closed, failed, stopped).
                break;
            }
        }
    }

    // The ending, and what it tells about the accounting.
    let mut written = None;
    let mut unwritten = None;
    let writer = match plan.ending {
        Ending::Close => {
            match writer.close(PATIENCE) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    fail(&stats, &who, "W-9: close timed out".into());
                }
                Err(_) => {} // peer closed or failed: stop takes the rest
            }
            unwritten = Some(writer.stop());
            written = Some(writer.bytes_written());
            Some(writer)
        }
        Ending::StopAt => {
            unwritten = Some(writer.stop());
            written = Some(writer.bytes_written());
            Some(writer)
        }
        Ending::ConcurrentStop => {
            let back = stopper.expect("stopper").join().expect("stopper panicked");
            // The stop may have come after the last write: stopping again hands back nothing.
            if !writer.stop().is_empty() {
                fail(&stats, &who, "W-10: a second stop handed back bytes".into());
            }
            unwritten = Some(back);
            written = Some(writer.bytes_written());
            Some(writer)
        }
        Ending::IntoHandle => {
            let writer = Arc::into_inner(writer).expect("one owner");
            let (handle, back) = writer.into_handle();
            drop(handle);
            unwritten = Some(back);
            None
        }
        Ending::DropLinger | Ending::DropDiscard => {
            drop(writer);
            None
        }
    };
    if let Some(writer) = &writer {
        if writer.bytes_accepted() != accepted {
            fail(
                &stats,
                &who,
                format!(
                    "W-6: bytes_accepted {} != {accepted} accepted writes",
                    writer.bytes_accepted()
                ),
            );
        }
    }
    // Dropping the last reference closes the handle: the reader sees end-of-file.
    drop(writer);

    let (received, reader_died) = reader.join().expect("reader panicked");
    // The reader saw end-of-file or died: a terminal event, if any, was delivered before the
    // handle was closed... unless the writer was stopped first (no events after a stop).
    let (peer_closed, failed) = {
        let seen = seen.lock().unwrap();
        (seen.peer_closed, seen.failed)
    };
    if peer_closed {
        add(&stats.peer_closed, 1);
    }
    if failed {
        add(&stats.failed, 1);
    }
    add(&stats.bytes_accepted, accepted);
    if received > accepted {
        fail(
            &stats,
            &who,
            format!("the reader got {received} bytes of {accepted} accepted"),
        );
    }
    // Without the writer (into_handle), written = what the reader got before end-of-file.
    let written = match (written, &unwritten) {
        (Some(w), _) => Some(w),
        (None, Some(_)) if !reader_died => Some(received),
        _ => None,
    };
    if let (Some(written), false) = (written, reader_died) {
        if received != written {
            fail(
                &stats,
                &who,
                format!("W-6: the reader got {received} bytes, the writer wrote {written}"),
            );
        }
    }
    match (written, &unwritten) {
        (Some(written), Some(back)) => {
            add(&stats.bytes_written, written);
            check_unwritten(&stats, &who, accepted, written, back);
        }
        (None, Some(back)) => {
            // into_handle with a dead reader: the written count is accepted - handed back; the
            // reader got a prefix of it.
            let written = accepted.saturating_sub(back.len() as u64);
            add(&stats.bytes_written, written);
            if received > written {
                fail(
                    &stats,
                    &who,
                    format!("W-10: the reader got {received} bytes, only {written} written"),
                );
            }
            check_unwritten(&stats, &who, accepted, written, back);
        }
        (_, None) => {
            // Dropped: the writer is gone. Linger writes everything unless the reader died.
            add(&stats.bytes_written, received);
            // A fatal error (injected) ends the writer before it is done.
            if plan.ending == Ending::DropLinger && !reader_died && !failed && received != accepted
            {
                fail(
                    &stats,
                    &who,
                    format!(
                        "W-11: a lingering drop delivered {received} of {accepted} bytes (plan {plan:?})"
                    ),
                );
            }
        }
    }
    let seen = seen.lock().unwrap();
    if seen.terminal > 1 || seen.after_terminal > 0 || seen.zero_written > 0 {
        fail(
            &stats,
            &who,
            format!(
                "W-7: {} terminal events, {} events after one, {} empty Written",
                seen.terminal, seen.after_terminal, seen.zero_written
            ),
        );
    }
    if let Some(written) = written {
        if seen.written > written {
            fail(
                &stats,
                &who,
                format!(
                    "W-7: Written events sum to {} > {written} written",
                    seen.written
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------

struct Args {
    seed: u64,
    secs: u64,
    writers: usize,
    max_total: u64,
    mode: &'static str,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        secs: 30,
        writers: 6,
        max_total: 4 << 20,
        mode: "quick",
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(format!("{name} takes a number"))
        };
        match arg.as_str() {
            "--quick" => {
                args.secs = 30;
                args.writers = 6;
                args.max_total = 4 << 20;
                args.mode = "quick";
            }
            "--long" => {
                args.secs = 600;
                args.writers = 12;
                args.max_total = 32 << 20;
                args.mode = "long";
            }
            "--seed" => args.seed = value("--seed")?,
            "--secs" => args.secs = value("--secs")?,
            "--writers" => args.writers = value("--writers")?.max(1) as usize,
            "--max-bytes" => args.max_total = value("--max-bytes")?.max(1),
            "-h" | "--help" => {
                return Err("usage: stress [--quick|--long] [--seed N] [--secs S] [--writers N] [--max-bytes B]".into())
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(64);
        }
    };
    println!(
        "stress: seed {} ({} mode: {} s, {} writers at a time, up to {} bytes each; rerun the same scenarios with --seed {})",
        args.seed, args.mode, args.secs, args.writers, args.max_total, args.seed
    );
    let stats = Arc::new(Stats::default());
    let start = Instant::now();
    let budget = Duration::from_secs(args.secs);
    let mut round = 0u64;
    let round_started = Arc::new(Mutex::new((Instant::now(), 0u64)));
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let round_started = round_started.clone();
        let finished = finished.clone();
        let seed = args.seed;
        thread::spawn(move || {
            while !finished.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(200));
                let (since, round) = *round_started.lock().unwrap();
                if since.elapsed() > ROUND_LIMIT {
                    eprintln!(
                        "FAILED [--seed {seed} round {round}]: HANG: the round did not end in {ROUND_LIMIT:?}"
                    );
                    std::process::exit(2);
                }
            }
        })
    };
    while start.elapsed() < budget {
        *round_started.lock().unwrap() = (Instant::now(), round);
        let mut threads = Vec::new();
        for index in 0..args.writers {
            let who = Who {
                seed: args.seed,
                round,
                index,
                writer_seed: splitmix(args.seed ^ splitmix(round) ^ (index as u64) << 48),
                scenario: String::new(),
            };
            let stats = stats.clone();
            let max_total = args.max_total;
            threads.push(thread::spawn(move || run_writer(who, max_total, stats)));
        }
        for t in threads {
            if t.join().is_err() {
                add(&stats.failures, 1);
                eprintln!(
                    "FAILED [--seed {} round {round}]: a writer thread panicked",
                    args.seed
                );
            }
        }
        round += 1;
    }
    finished.store(true, Ordering::Relaxed);
    let _ = watchdog.join();

    let s = &*stats;
    let secs = start.elapsed().as_secs_f64();
    println!("stress: {round} rounds in {secs:.1} s");
    println!(
        "  writers {}  writes accepted {}  refused {}",
        get(&s.writers),
        get(&s.writes_accepted),
        get(&s.writes_refused)
    );
    println!(
        "  bytes accepted {}  written {}  handed back {}  verified by readers {} ({:.1} MiB/s)",
        get(&s.bytes_accepted),
        get(&s.bytes_written),
        get(&s.bytes_handed_back),
        get(&s.bytes_verified),
        get(&s.bytes_verified) as f64 / secs / (1 << 20) as f64
    );
    println!(
        "  faults injected: short {}  transient {}  interrupted {}  would-block {}  fatal {}",
        get(&s.faults_short),
        get(&s.faults_transient),
        get(&s.faults_interrupted),
        get(&s.faults_would_block),
        get(&s.faults_fatal)
    );
    println!(
        "  readers died {}  writers peer-closed {}  failed {}",
        get(&s.readers_died),
        get(&s.peer_closed),
        get(&s.failed)
    );
    let endings: Vec<String> = Ending::ALL
        .iter()
        .map(|e| format!("{e:?} {}", get(&s.endings[*e as usize])))
        .collect();
    println!("  endings: {}", endings.join("  "));
    let failures = get(&s.failures);
    println!("stress: failures = {failures} (seed {})", args.seed);
    if failures > 0 {
        for f in FAILURES.lock().unwrap().iter() {
            eprintln!("  {f}");
        }
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
