//! Order and integrity (W-1, W-2, W-3, W-4), on every platform.

mod util;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pipewriter::{Builder, PipeWriter};
use util::{collect, pattern, PATIENCE};

/// Chunk framing for the multi-threaded test: thread id, sequence number, payload length.
const HEADER: usize = 9;

fn chunk(thread: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + len);
    out.push(thread);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&pattern(((thread as u64) << 32) | seq as u64, len));
    out
}

/// Log-uniform sizes from 1 B to 1 MiB, so both tiny and huge writes are common.
fn size(rng: &mut u64) -> usize {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let bits = (*rng % 21) as u32; // 2^0 .. 2^20
    1 + (*rng >> 8) as usize % (1usize << bits)
}

#[test]
fn w2_eight_threads_random_chunks_arrive_whole_and_in_order() {
    const THREADS: u8 = 8;
    const PER_THREAD: u32 = 120;
    let (reader, writer) = std::io::pipe().unwrap();
    let writer = Arc::new(PipeWriter::new(writer).unwrap());
    let received = collect(reader);
    let mut threads = Vec::new();
    for t in 0..THREADS {
        let writer = writer.clone();
        threads.push(std::thread::spawn(move || {
            let mut rng = 0x1234_5678 + t as u64;
            let mut bytes = 0usize;
            for seq in 0..PER_THREAD {
                let data = chunk(t, seq, size(&mut rng));
                bytes += data.len();
                // Mix the three payload kinds (W-1).
                let accepted = match seq % 3 {
                    0 => writer
                        .write(&data[..])
                        .map(|_| ())
                        .map_err(|e| e.into_error()),
                    1 => writer
                        .write(Bytes::from(data))
                        .map(|_| ())
                        .map_err(|e| e.into_error()),
                    _ => writer.write(data).map(|_| ()).map_err(|e| e.into_error()),
                };
                accepted.expect("write refused");
            }
            bytes
        }));
    }
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let writer = Arc::try_unwrap(writer).expect("all threads are done");
    writer.close(PATIENCE).expect("close");
    let data = received.join().unwrap();
    assert_eq!(data.len(), total, "W-2: no loss, no duplication");

    // Parse the stream: every chunk whole, each thread's chunks in sequence.
    let mut next_seq = [0u32; THREADS as usize];
    let mut at = 0;
    while at < data.len() {
        let thread = data[at];
        let seq = u32::from_le_bytes(data[at + 1..at + 5].try_into().unwrap());
        let len = u32::from_le_bytes(data[at + 5..at + 9].try_into().unwrap()) as usize;
        assert_eq!(
            seq, next_seq[thread as usize],
            "W-2: order within thread {thread}"
        );
        next_seq[thread as usize] += 1;
        let payload = &data[at + HEADER..at + HEADER + len];
        assert!(
            payload == pattern(((thread as u64) << 32) | seq as u64, len),
            "W-2: payload of thread {thread} chunk {seq} intact"
        );
        at += HEADER + len;
    }
    assert!(next_seq.iter().all(|&n| n == PER_THREAD));
}

#[test]
fn w2_large_stream_to_child_digest_matches() {
    // 1 GiB on Unix; Windows (and Wine, where every pipe write is a server round trip) gets
    // 256 MiB to keep the suite's time in bounds.
    let total: usize = if cfg!(windows) { 256 << 20 } else { 1 << 30 };
    let block = pattern(42, 4 << 20);
    let mut child = util::pipe_child(&["sha256"]);
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let out = collect(stdout);
    let writer = Builder::new().high_water(16 << 20).build(stdin).unwrap();
    let block = Bytes::from(block);
    let mut expected = sha2::Sha256::default();
    let mut sent = 0;
    while sent < total {
        let accepted = writer.write(block.clone()).unwrap();
        sha2::Digest::update(&mut expected, &block);
        sent += block.len();
        if accepted.is_above_high_water() {
            // Backpressure (W-12): wait for progress instead of queueing 1 GiB.
            while writer.bytes_to_write() > 8 << 20 {
                writer.wait_for_bytes_written(PATIENCE).unwrap();
            }
        }
    }
    writer.close(PATIENCE).unwrap();
    assert!(child.wait().unwrap().success());
    let line = String::from_utf8(out.join().unwrap()).unwrap();
    let expected = util::hex(&sha2::Digest::finalize(expected));
    assert_eq!(
        line.trim(),
        format!("{expected} {total}"),
        "W-2: digest and length"
    );
}

#[test]
fn w1_zero_length_write_is_a_noop_without_events() {
    let (reader, writer) = std::io::pipe().unwrap();
    let recorder = util::Recorder::default();
    let writer = Builder::new()
        .on_event(recorder.handler())
        .build(writer)
        .unwrap();
    let accepted = writer.write(&b""[..]).unwrap();
    assert_eq!(accepted.bytes_to_write(), 0);
    assert!(!writer.is_write_active());
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        recorder.events().is_empty(),
        "W-2: no event for an empty write"
    );
    writer.write(&b"x"[..]).unwrap();
    writer.close(PATIENCE).unwrap();
    assert_eq!(collect(reader).join().unwrap(), b"x");
}

#[test]
fn w4_small_writes_are_coalesced_into_few_os_writes() {
    // Count OS writes through the fault-injection seam (which lets every write through).
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let (reader, writer) = std::io::pipe().unwrap();
    let writer = Builder::new()
        .fault_injector(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            pipewriter::fault::Fault::Pass
        })
        .build(writer)
        .unwrap();
    let received = collect(reader);
    let mut expected = Vec::new();
    for i in 0..100_000u32 {
        let msg = i.to_le_bytes();
        writer.write(&msg).unwrap();
        expected.extend_from_slice(&msg);
    }
    writer.close(PATIENCE).unwrap();
    assert!(received.join().unwrap() == expected, "W-2");
    let os_writes = calls.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        os_writes < 100_000 / 5,
        "W-4: {os_writes} OS writes for 100000 writes; expected well below one per write"
    );
}
