//! The buffered front (W-17): small writes gathered into whole blocks without the writer's
//! lock, with exact accounting through flush, drop, stop and a closed peer, on every platform.

mod util;

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use pipewriter::{Builder, PipeWriter};
use util::{collect, pattern, wait_until_pipe_full, PATIENCE};

const BLOCK: u64 = 64 << 10;

/// Messages of 1 to 199 bytes cut from `data`, in order.
fn messages(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    let mut i = 0usize;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        i += 1;
        let n = (1 + (i * 37) % 199).min(rest.len());
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    })
}

#[test]
fn w17_both_fronts_deliver_many_small_messages_in_order() {
    for blocking in [false, true] {
        let (reader, end) = pipewriter::pipe().unwrap();
        let writer = PipeWriter::new(end).unwrap();
        let received = collect(reader);
        let data = pattern(171, 6 << 20);
        {
            let mut front = if blocking {
                writer.blocking().timeout(PATIENCE).buffered()
            } else {
                writer.buffered()
            };
            for message in messages(&data) {
                front.write_all(message).unwrap();
            }
            front.flush().unwrap();
            assert!(front.buffer().is_empty());
        }
        writer.close(PATIENCE).unwrap();
        let got = received.join().unwrap();
        assert!(got == data, "W-17: blocking {blocking}: the bytes differ");
    }
}

#[test]
fn w17_the_front_hands_over_whole_blocks_only() {
    let (reader, end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(end).unwrap();
    let received = collect(reader);
    let data = pattern(172, 1 << 20);
    let mut front = writer.buffered();
    for message in messages(&data) {
        front.write_all(message).unwrap();
        assert_eq!(
            writer.bytes_accepted() % BLOCK,
            0,
            "W-17: the writer got a partial block before a flush"
        );
    }
    assert_eq!(
        writer.bytes_accepted() + front.buffer().len() as u64,
        data.len() as u64
    );
    drop(front); // hands the rest over
    writer.close(PATIENCE).unwrap();
    assert!(received.join().unwrap() == data);
}

#[test]
fn w17_stop_mid_block_leaves_every_byte_in_exactly_one_place() {
    let (reader, end) = pipewriter::pipe().unwrap();
    let writer = Builder::new()
        .high_water(256 << 10)
        .hard_limit(512 << 10)
        .build(end)
        .unwrap();
    let data = pattern(173, 8 << 20);
    let mut front = writer.buffered();
    let mut taken = 0;
    // Nobody reads: the pipe, then the queue fill, until the hard limit refuses a block.
    'fill: for message in messages(&data) {
        let mut rest = message;
        while !rest.is_empty() {
            match front.write(rest) {
                Ok(n) => {
                    taken += n;
                    rest = &rest[n..];
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::WouldBlock, "W-12: the hard limit");
                    break 'fill;
                }
            }
        }
    }
    wait_until_pipe_full(&writer);
    let unwritten = writer.stop();
    // The front learns of the stop when it hands a block over.
    let more = &data[taken..taken + 4];
    taken += front.write(more).unwrap_or(0);
    let after_stop = front.flush().unwrap_err();
    assert_eq!(after_stop.kind(), ErrorKind::NotConnected);
    let accepted = writer.bytes_accepted() as usize;
    let written = writer.bytes_written() as usize;
    let in_front = front.into_unflushed();
    assert_eq!(
        accepted + in_front.len(),
        taken,
        "W-17: every byte the front took is in the writer or still in the front"
    );
    assert_eq!(written + unwritten.len(), accepted, "W-10: exact hand-back");
    let (handle, _) = writer.into_handle();
    drop(handle);
    let mut got = Vec::new();
    let mut reader = reader;
    reader.read_to_end(&mut got).unwrap();
    assert!(got == data[..written]);
    assert!(unwritten.to_vec() == data[written..accepted]);
    assert!(in_front == data[accepted..taken]);
}

#[test]
fn w17_a_closed_peer_mid_block_fails_the_blocking_front_and_loses_nothing_it_held() {
    let (mut reader, end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(end).unwrap();
    let data = pattern(174, 16 << 20);
    let reading = std::thread::spawn(move || {
        let mut got = vec![0u8; 100_000];
        reader.read_exact(&mut got).unwrap();
        got
    });
    let mut front = writer.blocking().timeout(PATIENCE).buffered();
    let mut taken = 0;
    let mut error = None;
    for message in messages(&data) {
        match front.write_all(message) {
            Ok(()) => taken += message.len(),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let got = reading.join().unwrap();
    let error = error.expect("E-2: the front must learn that the reader left");
    assert_eq!(error.kind(), ErrorKind::BrokenPipe);
    assert!(got == data[..got.len()]);
    let accepted = writer.bytes_accepted() as usize;
    let in_front = front.into_unflushed();
    // `write_all` may have put part of the failing message into the front.
    assert!(accepted + in_front.len() >= taken);
    assert!(in_front == data[accepted..accepted + in_front.len()]);
    assert!(writer.is_peer_closed());
}

#[test]
fn w17_dropping_the_front_hands_its_bytes_to_the_writer() {
    let (reader, end) = pipewriter::pipe().unwrap();
    let writer = PipeWriter::new(end).unwrap();
    let received = collect(reader);
    {
        let mut front = writer.blocking().buffered();
        write!(front, "hello from a front").unwrap();
        assert_eq!(writer.bytes_accepted(), 0, "still in the front");
    }
    writer.close(Duration::from_secs(30)).unwrap();
    assert_eq!(received.join().unwrap(), b"hello from a front");
}
