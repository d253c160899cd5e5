//! Copies a file into a child process's stdin with `tokio::io::copy` through an
//! [`AsyncPipeWriter`] (A-1): the copy waits while the child is slow (W-12), and `shutdown`
//! returns once every byte is in the pipe and the child has seen end-of-file.
//!
//! ```text
//! cargo run --example async_copy --features tokio -- [FILE [PROGRAM [ARGS...]]]
//! ```
//!
//! Defaults: this crate's `Cargo.toml` into `sort`.

use std::process::{Command, Stdio};

use pipewriter::{AsyncPipeWriter, Builder, Event};
use tokio::io::AsyncWriteExt;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let file = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml").into());
    let program = args.next().unwrap_or_else(|| "sort".into());

    let mut child = Command::new(&program)
        .args(args)
        .stdin(Stdio::piped())
        .spawn()?;
    let stdin = child.stdin.take().expect("stdin is piped");
    let writer = Builder::new()
        .high_water(256 << 10)
        .on_event(|event| {
            if let Event::PeerClosed { unwritten } = event {
                eprintln!("the child stopped reading; {unwritten} bytes were not written");
            }
        })
        .build(stdin)?;
    let mut writer = AsyncPipeWriter::new(writer);

    // Any executor works; a current-thread tokio runtime is the smallest for `tokio::fs`.
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let copied = runtime.block_on(async {
        let mut input = tokio::fs::File::open(&file).await?;
        let copied = tokio::io::copy(&mut input, &mut writer).await?;
        writer.shutdown().await?; // flushed and closed: the child sees end-of-file
        std::io::Result::Ok(copied)
    })?;

    let status = child.wait()?;
    eprintln!(
        "copied {copied} bytes into {}; {} confirmed written; child: {status}",
        program.to_string_lossy(),
        writer.get_ref().bytes_written(),
    );
    Ok(())
}
