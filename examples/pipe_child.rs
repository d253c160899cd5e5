//! A small child program used by pipewriter's tests and demo, so they need no outside tools
//! and run the same on Unix and Windows.
//!
//! Usage: `pipe_child MODE [ARG]`
//! - `sha256`: reads stdin to the end, prints `<hex digest> <byte count>`.
//! - `head N`: reads exactly N bytes of stdin (or until end-of-file), prints their count, exits
//!   without reading more.
//! - `sink`: reads stdin to the end, prints the byte count.
//! - `stall`: never reads stdin; exits when stdin's writer is gone is not observable, so it
//!   sleeps until killed.
//! - `sigpipe-default` (Unix): resets SIGPIPE to the default action (death), then writes
//!   through a `PipeWriter` into a pipe whose reader is closed; prints `survived` if the
//!   writer reported the closed peer instead of the process dying (P-4).

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("");
    let result = match mode {
        "sha256" => sha256(),
        "head" => head(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(0)),
        "sink" => sink(),
        "stall" => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        "sigpipe-default" => sigpipe_default(),
        _ => {
            eprintln!("usage: pipe_child sha256|head N|sink|stall|sigpipe-default");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("pipe_child: {e}");
        std::process::exit(1);
    }
}

fn sha256() -> io::Result<()> {
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
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    writeln!(io::stdout(), "{hex} {total}")
}

fn head(limit: u64) -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    while total < limit {
        let want = buf.len().min((limit - total) as usize);
        let n = stdin.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    writeln!(io::stdout(), "{total}")
}

fn sink() -> io::Result<()> {
    let n = io::copy(&mut io::stdin().lock(), &mut io::sink())?;
    writeln!(io::stdout(), "{n}")
}

#[cfg(unix)]
fn sigpipe_default() -> io::Result<()> {
    use std::time::Duration;
    // SAFETY: setting a signal's disposition to its default is always valid; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let (reader, writer) = io::pipe()?;
    drop(reader);
    let events_writer = pipewriter::PipeWriter::new(writer)?;
    let events = events_writer.events();
    let _ = events_writer.write(vec![7u8; 1 << 20]);
    loop {
        match events.recv_timeout(Duration::from_secs(10)) {
            Some(pipewriter::Event::PeerClosed { .. }) => break,
            Some(_) => continue,
            None => return Err(io::Error::other("no PeerClosed event")),
        }
    }
    writeln!(io::stdout(), "survived")
}

#[cfg(not(unix))]
fn sigpipe_default() -> io::Result<()> {
    writeln!(io::stdout(), "survived (no SIGPIPE on this platform)")
}
