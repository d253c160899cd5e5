//! `PipeWriter::write` writing a lone message straight from its buffer
//! (`Shared::write_lone`) while another thread writes.

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use pipewriter::PipeWriter;
use util::collect;

/// T1 writes a message much larger than the pipe on an idle writer (so `write_lone` writes
/// part of it from its buffer); T2 writes while that OS write is in flight (it sees
/// `is_write_active()` turn true). Returns the writer and the reader's join handle.
fn race(rounds: usize, big: usize) -> (Arc<PipeWriter>, std::thread::JoinHandle<Vec<u8>>, usize) {
    let (reader, end) = std::io::pipe().unwrap();
    let writer = Arc::new(PipeWriter::new(end).unwrap());
    let received = collect(reader);
    let mut raced = 0;
    for round in 0..rounds {
        // Idle writer, nothing queued.
        writer.flush(Duration::from_secs(30)).unwrap();
        std::thread::sleep(Duration::from_millis(1));
        let go = Arc::new(Barrier::new(2));
        let done = Arc::new(AtomicBool::new(false));
        let t2 = {
            let writer = writer.clone();
            let go = go.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                go.wait();
                let start = Instant::now();
                while !writer.is_write_active() {
                    if done.load(Ordering::Acquire) || start.elapsed() > Duration::from_secs(1) {
                        return false;
                    }
                    std::hint::spin_loop();
                }
                let msg = [b'B'; 16];
                writer.write(&msg[..]).unwrap();
                true
            })
        };
        go.wait();
        let msg = vec![b'A' + (round % 2) as u8 * 2; big]; // 'A' or 'C'
        writer.write(&msg[..]).unwrap();
        done.store(true, Ordering::Release);
        if t2.join().unwrap() {
            raced += 1;
        }
        // Give the I/O context time to write what was queued, without a flush (a flush
        // would drive the writer from this thread and hide a lost kick).
        let deadline = Instant::now() + Duration::from_secs(2);
        while writer.bytes_to_write() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if writer.bytes_to_write() > 0 {
            return (writer, received, usize::MAX - round);
        }
    }
    (writer, received, raced)
}

/// W-2/W-3: data queued behind a lone message's partial in-place write must be written by
/// the I/O context without anybody waiting: the kick owed by `complete_in_place` must not
/// be lost on the `Lone::Queue` path.
#[test]
fn w3_a_lone_partial_write_with_a_concurrent_write_is_not_stranded() {
    let (writer, received, raced) = race(200, 1 << 20);
    let stranded = raced > usize::MAX / 2;
    let left = writer.bytes_to_write();
    // Let the reader finish either way.
    let _ = writer.flush(Duration::from_secs(30));
    let _ = writer.close(Duration::from_secs(30));
    drop(received.join());
    assert!(
        !stranded,
        "round {}: {left} bytes stayed queued with nobody writing them (no kick after \
         write_lone's partial write)",
        usize::MAX - raced
    );
}

/// W-2: a message accepted by one `write` call arrives contiguous: bytes another thread
/// wrote meanwhile go before or after it, never into its middle.
#[test]
fn w2_a_lone_partial_write_is_not_split_by_a_concurrent_write() {
    let big = 1 << 20;
    let (writer, received, _) = race(200, big);
    writer.flush(Duration::from_secs(30)).unwrap();
    writer.close(Duration::from_secs(30)).unwrap();
    let got = received.join().unwrap();
    // Every run of 'A'/'C' must be `big` long: a 'B' inside one splits the message.
    let mut i = 0;
    let mut split = 0;
    while i < got.len() {
        let b = got[i];
        let mut j = i;
        while j < got.len() && got[j] == b {
            j += 1;
        }
        if b != b'B' && (j - i) % big != 0 {
            split += 1;
        }
        i = j;
    }
    assert_eq!(
        split, 0,
        "{split} runs of a big message were split by another write"
    );
}
