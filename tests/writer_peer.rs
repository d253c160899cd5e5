//! The reader going away (E-2) and SIGPIPE safety (P-4), on every platform.

mod util;

use std::io::ErrorKind;

use pipewriter::{Builder, Event};
use util::{pattern, Recorder, PATIENCE};

#[test]
fn e2_child_reads_1000_bytes_then_exits_peer_closed_with_exact_count() {
    let mut child = util::pipe_child(&["count", "1000"]);
    let stdin = child.stdin.take().unwrap();
    let recorder = Recorder::default();
    let writer = Builder::new()
        .on_event(recorder.handler())
        .build(stdin)
        .unwrap();
    let data = pattern(7, 8 << 20);
    writer.write(&data[..]).unwrap();
    recorder.wait_for("PeerClosed", |events| {
        events.iter().any(|e| matches!(e, Event::PeerClosed { .. }))
    });
    let events = recorder.events();
    let Some(Event::PeerClosed { unwritten }) = events.last().cloned() else {
        panic!("W-7: PeerClosed comes last: {events:?}");
    };
    let written = recorder.written_sum();
    assert_eq!(
        written,
        writer.bytes_written(),
        "W-7: Written before PeerClosed"
    );
    assert_eq!(
        written as usize + unwritten,
        data.len(),
        "E-2: exact unwritten count"
    );
    assert!(written >= 1000, "the child read 1000 bytes");
    assert!(writer.is_peer_closed());

    // Later writes are refused with BrokenPipe and hand their data back.
    let refused = writer.write(vec![1u8, 2, 3]).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::BrokenPipe, "E-2");
    assert_eq!(refused.into_data(), vec![1u8, 2, 3]);
    assert_eq!(
        writer.flush(PATIENCE).unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );

    // The unwritten bytes are exactly the suffix after what was written.
    let back = writer.stop();
    assert_eq!(back.len(), unwritten);
    assert!(
        back.to_vec() == data[written as usize..],
        "W-10: exact suffix"
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000");
}

#[test]
fn e2_read_end_dropped_before_first_write() {
    // Another test of this process spawning a child at the same moment briefly holds a copy
    // of every descriptor (between its fork and its exec), the dropped read end included: the
    // pipe then still has a reader and takes the bytes. That is not the case under test, so it
    // is tried again.
    for _attempt in 0..20 {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let writer = pipewriter::PipeWriter::new(writer).unwrap();
        let events = writer.events();
        writer.write(&b"hello"[..]).unwrap();
        let mut seen = Vec::new();
        while let Some(event) = events.recv_timeout(PATIENCE) {
            let end = matches!(event, Event::PeerClosed { .. } | Event::Failed { .. });
            let drained = event == Event::Drained;
            seen.push(event);
            if end || drained {
                break;
            }
        }
        if seen == [Event::Written(5), Event::Drained] {
            eprintln!("a concurrent spawn held the read end: trying again");
            continue;
        }
        assert_eq!(
            seen,
            vec![Event::PeerClosed { unwritten: 5 }],
            "E-2: quietly, one event"
        );
        assert_eq!(
            writer.error().map(|e| e.kind()),
            None,
            "E-2: peer closed is not a failure"
        );
        assert_eq!(writer.stop().to_vec(), b"hello");
        return;
    }
    panic!("E-2: the read end never looked closed (every attempt raced a spawn)");
}

/// P-4: a process whose SIGPIPE disposition is the default (death) survives writing to a
/// closed pipe through a PipeWriter. The child resets the disposition itself.
#[cfg(unix)]
#[test]
fn p4_sigpipe_default_process_survives_a_closed_pipe() {
    let out = util::pipe_child_command(&["sigpipe-default"])
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        None,
        "P-4: the child was killed by a signal: {:?}",
        out.status
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "survived");
}
