//! A small child process for the process tests (C-1, C-2), the same on every platform.
//!
//! ```text
//! echo_child cat [STDERR_BYTES]  copy stdin to stdout, then write STDERR_BYTES zero bytes
//!                                to stderr
//! echo_child head N              read exactly N bytes of stdin (fewer at end-of-file),
//!                                write them to stdout, exit without reading more
//! echo_child forever             write to stdout until the pipe breaks
//! echo_child sleep SECONDS       sleep, reading nothing
//! echo_child exit CODE           exit at once with CODE
//! ```

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> u64 {
        args.get(i)
            .map(|s| s.parse().expect("a number"))
            .unwrap_or(0)
    };
    let result = match args.first().map(String::as_str) {
        Some("cat") => cat(number(1)),
        Some("head") => head(number(1)),
        Some("forever") => forever(),
        Some("sleep") => {
            std::thread::sleep(Duration::from_secs(number(1)));
            Ok(())
        }
        Some("exit") => return ExitCode::from(number(1) as u8),
        _ => {
            eprintln!("usage: echo_child cat [N] | head N | forever | sleep S | exit CODE");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_child: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cat(stderr_bytes: u64) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    io::copy(&mut io::stdin().lock(), &mut stdout)?;
    stdout.flush()?;
    let zeros = vec![0u8; 64 * 1024];
    let mut stderr = io::stderr().lock();
    let mut left = stderr_bytes;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        stderr.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    stderr.flush()
}

fn head(n: u64) -> io::Result<()> {
    let mut taken = Vec::new();
    io::stdin().lock().take(n).read_to_end(&mut taken)?;
    let mut stdout = io::stdout().lock();
    stdout.write_all(&taken)?;
    stdout.flush()
}

fn forever() -> io::Result<()> {
    let block = vec![b'y'; 64 * 1024];
    let mut stdout = io::stdout().lock();
    loop {
        stdout.write_all(&block)?;
    }
}
