//! The main job: stream a generated 1 GiB into a child process through a `PipeWriter`, with a
//! progress line drawn from the writer's `Written` events, then compare the child's SHA-256
//! digest of what it read with the digest of what was sent.
//!
//! ```text
//! cargo run --release --example demo            # 1 GiB
//! cargo run --release --example demo -- 256M    # another size
//! ```
//!
//! The child is this same program started with `--digest-stdin`, so the demo needs no outside
//! tool and runs the same on Unix and Windows.

use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pipewriter::{Builder, Event};
use sha2::{Digest, Sha256};

const BLOCK: usize = 1 << 20;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--digest-stdin") {
        return digest_stdin();
    }
    let total = match args.first() {
        Some(size) => parse_size(size).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad size {size:?} (try 1G, 256M, 4096)"),
            )
        })?,
        None => 1 << 30,
    };

    let mut child = Command::new(std::env::current_exe()?)
        .arg("--digest-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdin = child.stdin.take().expect("piped stdin");

    // The handler runs on the writer's I/O context: keep it tiny.
    let written = Arc::new(AtomicU64::new(0));
    let peer_gone = Arc::new(AtomicBool::new(false));
    let writer = Builder::new()
        .high_water(8 << 20)
        .on_event({
            let (written, peer_gone) = (written.clone(), peer_gone.clone());
            move |event| match event {
                Event::Written(n) => {
                    written.fetch_add(n, Ordering::Relaxed);
                }
                Event::PeerClosed { .. } | Event::Failed { .. } => {
                    peer_gone.store(true, Ordering::Relaxed);
                }
                _ => {}
            }
        })
        .build(stdin)?;

    let progress = spawn_progress(written.clone(), total);
    let start = Instant::now();
    let mut expected = Sha256::new();
    let mut generator = Generator(0x2545_f491_4f6c_dd1d);
    let mut sent = 0u64;
    while sent < total && !peer_gone.load(Ordering::Relaxed) {
        let len = BLOCK.min((total - sent) as usize);
        let block = Bytes::from(generator.fill(len));
        expected.update(&block);
        // `write` never blocks; when the queue is above the high-water mark, this producer
        // chooses to wait for progress instead of queueing the whole gigabyte.
        let accepted = writer.write(block).map_err(|e| e.into_error())?;
        sent += len as u64;
        if accepted.is_above_high_water() {
            while writer.bytes_to_write() > 2 << 20 {
                writer.wait_for_bytes_written(Duration::from_secs(30))?;
            }
        }
    }
    writer.close(Duration::from_secs(60))?;
    let elapsed = start.elapsed();
    progress.finish();

    let mut output = String::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut output)?;
    let status = child.wait()?;
    let expected = hex(&expected.finalize());
    let got = output.split_whitespace().next().unwrap_or("").to_string();
    let gib = total as f64 / (1u64 << 30) as f64;
    println!(
        "sent      {total} bytes ({gib:.2} GiB) in {:.2} s: {:.2} GiB/s",
        elapsed.as_secs_f64(),
        gib / elapsed.as_secs_f64()
    );
    println!("expected  {expected}");
    println!("child     {got}  ({})", status);
    if got == expected && status.success() {
        println!("digests match");
        Ok(())
    } else {
        Err(io::Error::other(
            "the child's digest differs from what was sent",
        ))
    }
}

/// The child's side: SHA-256 of everything on stdin.
fn digest_stdin() -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let n = stdin.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    writeln!(io::stdout(), "{} {total}", hex(&hasher.finalize()))
}

/// Fast deterministic bytes (xorshift64).
struct Generator(u64);

impl Generator {
    fn fill(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            out.extend_from_slice(&self.0.to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

struct Progress {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Progress {
    fn finish(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// Draws `written / total` on stderr a few times a second.
fn spawn_progress(written: Arc<AtomicU64>, total: u64) -> Progress {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let thread = std::thread::spawn(move || {
        let start = Instant::now();
        loop {
            let finished = flag.load(Ordering::Relaxed);
            let n = written.load(Ordering::Relaxed);
            let secs = start.elapsed().as_secs_f64().max(1e-3);
            let width = 30;
            let filled = (n as f64 / total.max(1) as f64 * width as f64) as usize;
            eprint!(
                "\r[{}{}] {:>6.1} / {:.1} MiB  {:>7.1} MiB/s ",
                "#".repeat(filled.min(width)),
                " ".repeat(width - filled.min(width)),
                n as f64 / 1048576.0,
                total as f64 / 1048576.0,
                n as f64 / 1048576.0 / secs
            );
            if finished {
                eprintln!();
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    Progress { done, thread }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim_end_matches("iB").trim_end_matches('B') {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}
