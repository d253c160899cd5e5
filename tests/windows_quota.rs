//! P-7: pipes the crate creates pass their known buffer quota to the writer. An outbound-only
//! pipe end may not read its own quota (it lacks `FILE_READ_ATTRIBUTES`), so without it the
//! writer would split every write into 4 KiB pieces; with it, one `WriteFile` is as large as
//! the quota in the direction we write, and never larger (W-10, see `src/sys/windows/mod.rs`).
//! The fault-injection seam sees the length of every OS write.
#![cfg(windows)]

mod util;

use std::io::Read;
use std::os::windows::io::AsRawHandle;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pipewriter::fault::Fault;
use pipewriter::{Builder, IntoPipeHandle, NamedPipeClientOptions, NamedPipeServerBuilder};
use windows_sys::Win32::System::Pipes::GetNamedPipeInfo;

use util::windows::unique_pipe_name;
use util::{collect, pattern, WINE_PATIENCE};

/// What the writer of a pipe with an unknown quota uses (`UNKNOWN_QUOTA` in the backend).
const UNKNOWN_QUOTA: usize = 4096;

/// Writes `len` bytes of test data through a writer over `handle` in 256 KiB writes, closes
/// it, and checks that `reader` got them intact. Returns the largest OS write submitted.
fn largest_write(
    handle: impl IntoPipeHandle,
    reader: impl Read + Send + 'static,
    len: usize,
) -> usize {
    let largest = Arc::new(AtomicUsize::new(0));
    let seen = largest.clone();
    let collector = collect(reader);
    let writer = Builder::new()
        .fault_injector(move |len| {
            seen.fetch_max(len, Ordering::Relaxed);
            Fault::Pass
        })
        .build(handle)
        .unwrap();
    let data = pattern(7, len);
    for chunk in data.chunks(256 << 10) {
        writer.write(chunk.to_vec()).unwrap();
    }
    writer.close(WINE_PATIENCE).unwrap();
    let got = collector.join().unwrap();
    assert_eq!(got.len(), data.len(), "bytes that arrived");
    assert!(got == data, "the data arrived changed");
    largest.load(Ordering::Relaxed)
}

/// An outbound-only server from `builder` with a connected reading client.
fn server_and_client(
    builder: &NamedPipeServerBuilder,
    tag: &str,
) -> (pipewriter::NamedPipeServer, std::fs::File) {
    let name = unique_pipe_name(tag);
    let server = builder.create(&name).unwrap();
    let client = NamedPipeClientOptions::new()
        .read(true)
        .write(false)
        .open(&name, Duration::from_secs(5))
        .unwrap();
    server.connect(Duration::from_secs(5)).unwrap();
    (server, client)
}

/// The (out, in) buffer sizes `GetNamedPipeInfo` reports for a handle that may read them.
fn reported_quotas(handle: &impl AsRawHandle) -> (usize, usize) {
    let (mut out_size, mut in_size) = (0u32, 0u32);
    // SAFETY: a valid handle for the call; valid out pointers; the others may be null.
    let ok = unsafe {
        GetNamedPipeInfo(
            handle.as_raw_handle(),
            std::ptr::null_mut(),
            &mut out_size,
            &mut in_size,
            std::ptr::null_mut(),
        )
    };
    assert_ne!(
        ok,
        0,
        "GetNamedPipeInfo: {}",
        std::io::Error::last_os_error()
    );
    (out_size as usize, in_size as usize)
}

/// P-7: an outbound-only `NamedPipeServer` is written in pieces as large as the out buffer
/// size its builder asked for, never larger; 16 MiB arrive intact.
#[test]
fn p7_outbound_server_writes_up_to_its_out_quota() {
    // The default (64 KiB) and a size that is no power of two.
    for quota in [64 << 10, 40_000] {
        let builder = NamedPipeServerBuilder::new().out_buffer_size(quota as u32);
        let (server, client) = server_and_client(&builder, "quota-outbound");
        let largest = largest_write(server, client, 16 << 20);
        assert!(
            largest > UNKNOWN_QUOTA && largest <= quota,
            "quota {quota}: largest write {largest}"
        );
    }
}

/// P-7: the write end `pipewriter::pipe()` creates is written in pieces as large as its
/// quota, never larger; 16 MiB arrive intact.
#[test]
fn p7_pipe_write_end_writes_up_to_its_quota() {
    let (reader, write_end) = pipewriter::pipe().unwrap();
    let quota = write_end.buffer_size().unwrap();
    let largest = largest_write(write_end, reader, 16 << 20);
    assert!(
        largest > UNKNOWN_QUOTA && largest <= quota,
        "quota {quota}: largest write {largest}"
    );
    let (reader, write_end) = pipewriter::PipeBuilder::new()
        .buffer_size(40_000)
        .build()
        .unwrap();
    assert_eq!(write_end.buffer_size().unwrap(), 40_000);
    let largest = largest_write(write_end, reader, 4 << 20);
    assert!(
        largest > UNKNOWN_QUOTA && largest <= 40_000,
        "largest write {largest}"
    );
}

/// P-7: the quota a server's builder asked for is no larger than the pipe's: a handle that may
/// read the sizes reports at least those asked for (Windows documents that it may round them
/// up, which only adds room; Wine keeps them exactly).
#[test]
fn p7_known_quota_is_what_the_pipe_reports() {
    let builder = NamedPipeServerBuilder::new()
        .out_buffer_size(40_000)
        .in_buffer_size(12_345);
    let (_server, client) = server_and_client(&builder, "quota-reported");
    let (out_size, in_size) = reported_quotas(&client);
    // Under Wine both are exactly the sizes asked for.
    eprintln!("asked for 40000 out, 12345 in; the pipe reports {out_size} out, {in_size} in");
    assert!(out_size >= 40_000, "out buffer {out_size}");
    assert!(in_size >= 12_345, "in buffer {in_size}");
    let duplex = builder.access_inbound(true);
    let (server, _client) = server_and_client(&duplex, "quota-reported-duplex");
    let (out_size, _) = reported_quotas(&server);
    assert!(out_size >= 40_000, "out buffer {out_size}");
}

/// P-7: a server instance added to an existing pipe (`first_instance(false)`) may have the
/// quotas of the pipe's first instance, so its builder claims none: 4 KiB writes.
#[test]
fn p7_added_instance_claims_no_quota() {
    let builder = NamedPipeServerBuilder::new().first_instance(false);
    let (server, client) = server_and_client(&builder, "quota-added");
    let largest = largest_write(server, client, 1 << 20);
    assert_eq!(largest, UNKNOWN_QUOTA);
}
