//! Unit tests of the core: queue, accounting, state machine, events and backpressure.

use super::*;

fn core() -> Core {
    Core::new(Limits::default())
}

fn write(core: &mut Core, data: &[u8]) -> Kick {
    core.admit(data.len()).unwrap();
    core.accept(data.len(), |q| q.push_slice(data)).1
}

fn concat(chunks: &[Bytes]) -> Vec<u8> {
    chunks.iter().flat_map(|c| c.iter().copied()).collect()
}

#[test]
fn w3_kick_once_per_burst() {
    let mut c = core();
    assert_eq!(write(&mut c, b"abc"), Kick::Yes);
    assert_eq!(write(&mut c, b"def"), Kick::No);
    let mut out = Vec::new();
    assert_eq!(c.begin(&mut out), Begin::Submit(6));
    assert_eq!(concat(&out), b"abcdef");
    assert_eq!(write(&mut c, b"g"), Kick::No);
    assert_eq!(c.complete(Outcome::Wrote(6)), Next::Continue);
    assert_eq!(c.begin(&mut out), Begin::Submit(1));
    assert_eq!(c.complete(Outcome::Wrote(1)), Next::Continue);
    assert_eq!(c.begin(&mut out), Begin::Idle);
    assert_eq!(write(&mut c, b"h"), Kick::Yes);
}

#[test]
fn w6_short_write_leaves_remainder_at_head() {
    let mut c = core();
    let _ = write(&mut c, b"hello world");
    let mut out = Vec::new();
    assert_eq!(c.begin(&mut out), Begin::Submit(11));
    assert_eq!(c.complete(Outcome::Wrote(4)), Next::Continue);
    assert_eq!(c.queued(), 7);
    assert_eq!(c.written(), 4);
    assert_eq!(c.begin(&mut out), Begin::Submit(7));
    assert_eq!(concat(&out), b"o world");
}

#[test]
fn w7_written_events_coalesce_and_drained_follows() {
    let mut c = core();
    let _ = write(&mut c, b"aaaa");
    let mut out = Vec::new();
    let _ = c.begin(&mut out);
    let _ = c.complete(Outcome::Wrote(2));
    let _ = c.begin(&mut out);
    let _ = c.complete(Outcome::Wrote(2));
    let mut ev = Vec::new();
    c.take_events(&mut ev);
    assert_eq!(ev, vec![Event::Written(4), Event::Drained]);
    c.take_events(&mut ev);
    assert_eq!(ev.len(), 2, "taking again adds nothing");
}

#[test]
fn w7_written_reported_before_peer_closed() {
    let mut c = core();
    let _ = write(&mut c, b"abcdef");
    let mut out = Vec::new();
    let _ = c.begin(&mut out);
    let _ = c.complete(Outcome::Wrote(2));
    let _ = c.begin(&mut out);
    let err = io::Error::from_raw_os_error(32);
    assert_eq!(c.complete(Outcome::PeerClosed(err)), Next::Halt);
    let mut ev = Vec::new();
    c.take_events(&mut ev);
    assert_eq!(
        ev,
        vec![Event::Written(2), Event::PeerClosed { unwritten: 4 }]
    );
    assert_eq!(c.admit(1), Err(Refusal::PeerClosed));
    assert_eq!(c.take_unwritten().to_vec(), b"cdef");
}

#[test]
fn w12_high_water_and_writable() {
    let mut c = Core::new(Limits {
        high_water: 10,
        low_water: 4,
        ..Limits::default()
    });
    c.admit(8).unwrap();
    let (a, _) = c.accept(8, |q| q.push_slice(&[1; 8]));
    assert!(!a.is_above_high_water());
    let (a, _) = c.accept(8, |q| q.push_slice(&[2; 8]));
    assert!(a.is_above_high_water());
    assert_eq!(a.bytes_to_write(), 16);
    let mut out = Vec::new();
    let _ = c.begin(&mut out);
    let _ = c.complete(Outcome::Wrote(10));
    let mut ev = Vec::new();
    c.take_events(&mut ev);
    assert_eq!(
        ev,
        vec![Event::Written(10)],
        "6 queued is above the low-water mark"
    );
    let _ = c.begin(&mut out);
    let _ = c.complete(Outcome::Wrote(3));
    ev.clear();
    c.take_events(&mut ev);
    assert_eq!(ev, vec![Event::Written(3), Event::Writable]);
}

#[test]
fn w12_hard_limit_refuses() {
    let mut c = Core::new(Limits {
        hard_limit: Some(10),
        ..Limits::default()
    });
    let _ = write(&mut c, b"abcd");
    assert_eq!(c.admit(7), Err(Refusal::HardLimit));
    assert_eq!(
        Refusal::HardLimit.to_error().kind(),
        io::ErrorKind::WouldBlock
    );
    assert!(c.admit(6).is_ok());
}

#[test]
fn w12_a_write_larger_than_the_hard_limit_is_invalid_input() {
    let mut c = Core::new(Limits {
        hard_limit: Some(10),
        ..Limits::default()
    });
    assert_eq!(
        c.admit(11),
        Err(Refusal::TooLarge),
        "even on an empty queue"
    );
    assert_eq!(
        Refusal::TooLarge.to_error().kind(),
        io::ErrorKind::InvalidInput
    );
    assert!(c.admit(10).is_ok());
}

/// Drains `n` bytes through one OS write and returns the events it produced.
fn drain(c: &mut Core, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    assert!(matches!(c.begin(&mut out), Begin::Submit(_)));
    let _ = c.complete(Outcome::Wrote(n));
    let mut ev = Vec::new();
    c.take_events(&mut ev);
    ev
}

#[test]
fn w12_refusal_below_the_high_water_mark_is_followed_by_writable() {
    // hard limit below the high-water mark: the queue is never "above high water".
    let mut c = Core::new(Limits {
        high_water: 1000,
        low_water: 250,
        hard_limit: Some(100),
        ..Limits::default()
    });
    let _ = write(&mut c, &[1; 90]);
    assert_eq!(c.admit(40), Err(Refusal::HardLimit));
    // 40 fits once 60 or fewer are queued.
    assert_eq!(drain(&mut c, 20), vec![Event::Written(20)], "70 queued");
    assert_eq!(
        drain(&mut c, 10),
        vec![Event::Written(10), Event::Writable],
        "60 queued: the refused write fits now"
    );
    assert!(c.admit(40).is_ok());
}

#[test]
fn w12_refusal_waits_for_the_low_water_mark_when_that_is_lower() {
    let mut c = Core::new(Limits {
        high_water: 1000,
        low_water: 10,
        hard_limit: Some(100),
        ..Limits::default()
    });
    let _ = write(&mut c, &[1; 100]);
    assert_eq!(c.admit(1), Err(Refusal::HardLimit));
    assert_eq!(drain(&mut c, 80), vec![Event::Written(80)], "hysteresis");
    assert_eq!(drain(&mut c, 10), vec![Event::Written(10), Event::Writable]);
}

#[test]
fn w12_refusal_on_an_otherwise_idle_writer_still_gets_writable() {
    // The refused write is larger than everything queued: the queue must drain fully.
    let mut c = Core::new(Limits {
        hard_limit: Some(100),
        ..Limits::default()
    });
    let _ = write(&mut c, &[1; 10]);
    assert_eq!(c.admit(100), Err(Refusal::HardLimit));
    assert_eq!(
        drain(&mut c, 10),
        vec![Event::Written(10), Event::Writable, Event::Drained]
    );
}

#[test]
fn e3_transient_backoff_then_fatal() {
    let mut c = Core::new(Limits {
        retry: RetryPolicy {
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_retries: 3,
        },
        ..Limits::default()
    });
    let _ = write(&mut c, b"x");
    let mut out = Vec::new();
    let mut delays = Vec::new();
    for _ in 0..3 {
        let _ = c.begin(&mut out);
        match c.complete(Outcome::Transient(io::Error::from_raw_os_error(12))) {
            Next::RetryAfter(d) => delays.push(d.as_millis()),
            other => panic!("expected a retry, got {other:?}"),
        }
        c.resume();
    }
    assert_eq!(delays, vec![1, 2, 4]);
    let _ = c.begin(&mut out);
    assert_eq!(
        c.complete(Outcome::Transient(io::Error::from_raw_os_error(12))),
        Next::Halt
    );
    assert_eq!(c.phase(), Phase::Failed);
    assert_eq!(c.admit(1).unwrap_err().to_error().raw_os_error(), Some(12));
}

#[test]
fn e3_success_resets_retries() {
    let mut c = Core::new(Limits {
        retry: RetryPolicy {
            max_retries: 1,
            ..RetryPolicy::default()
        },
        ..Limits::default()
    });
    let _ = write(&mut c, b"xy");
    let mut out = Vec::new();
    for _ in 0..2 {
        let _ = c.begin(&mut out);
        assert!(matches!(
            c.complete(Outcome::Transient(io::ErrorKind::OutOfMemory.into())),
            Next::RetryAfter(_)
        ));
        c.resume();
        let _ = c.begin(&mut out);
        assert_eq!(c.complete(Outcome::Wrote(1)), Next::Continue);
    }
    assert_eq!(c.written(), 2);
}

/// Found by the fuzz target: a zero-byte write between transient failures used to reset
/// the retry count, so failures alternating with writes that move nothing were retried
/// forever instead of becoming fatal after `max_retries` (E-3).
#[test]
fn e3_zero_byte_writes_do_not_reset_retries() {
    let mut c = Core::new(Limits {
        retry: RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        },
        ..Limits::default()
    });
    let _ = write(&mut c, b"x");
    let mut out = Vec::new();
    let oom = || Outcome::Transient(io::ErrorKind::OutOfMemory.into());
    for _ in 0..2 {
        let _ = c.begin(&mut out);
        assert!(matches!(c.complete(oom()), Next::RetryAfter(_)));
        c.resume();
        let _ = c.begin(&mut out);
        assert_eq!(c.complete(Outcome::Wrote(0)), Next::AwaitWritable);
        c.resume();
    }
    let _ = c.begin(&mut out);
    assert_eq!(c.complete(oom()), Next::Halt, "E-3: bounded, then fatal");
    assert_eq!(c.phase(), Phase::Failed);
}

#[test]
fn w10_stop_returns_unwritten_and_silences_events() {
    let mut c = core();
    let _ = write(&mut c, b"0123456789");
    let mut out = Vec::new();
    let _ = c.begin(&mut out);
    assert!(c.request_stop());
    assert!(!c.request_stop(), "idempotent");
    assert_eq!(c.complete(Outcome::Cancelled(3)), Next::Halt);
    assert_eq!(c.take_unwritten().to_vec(), b"3456789");
    let mut ev = Vec::new();
    c.take_events(&mut ev);
    assert!(ev.is_empty());
    assert_eq!(c.admit(1), Err(Refusal::Stopped));
}

#[test]
fn close_waits_for_drain() {
    let mut c = core();
    let _ = write(&mut c, b"abc");
    assert!(!c.request_close());
    assert_eq!(c.admit(1), Err(Refusal::Closed));
    let mut out = Vec::new();
    let _ = c.begin(&mut out);
    let _ = c.complete(Outcome::Wrote(3));
    assert_eq!(c.begin(&mut out), Begin::Close);
    c.closed();
    assert_eq!(c.phase(), Phase::Closed);
}

#[test]
fn w4_small_writes_share_a_block_and_large_ones_stand_alone() {
    let mut q = Queue::default();
    for _ in 0..100 {
        q.push_slice(&[7; 10]);
    }
    q.push_bytes(Bytes::from(vec![9u8; 100_000]));
    q.push_slice(b"end");
    let mut out = Vec::new();
    let n = q.peek(usize::MAX, 64, &mut out);
    assert_eq!(n, 1000 + 100_000 + 3);
    assert_eq!(
        out.len(),
        3,
        "one staging block, one owned chunk, one staging block"
    );
    q.consume(1500);
    assert_eq!(q.len(), 100_000 + 3 - 500);
}

#[test]
fn w12_small_os_writes_of_a_long_queue_do_not_cut_the_tail_into_segments() {
    let mut q = Queue::default();
    q.push_bytes(Bytes::from(vec![1u8; 100_000]));
    let mut out = Vec::new();
    for _ in 0..100 {
        q.push_slice(&[2u8; 16]);
        assert_eq!(q.peek(16, 64, &mut out), 16);
        q.consume(16);
    }
    assert_eq!(q.chunks.len(), 1, "W-12: the tail stays one open block");
    assert_eq!(q.len(), 100_000 - 1600 + 1600);
    // A write that reaches the tail seals it once.
    assert_eq!(q.peek(usize::MAX, 64, &mut out), q.len());
    assert_eq!(q.chunks.len(), 2);
}

#[test]
fn queue_peek_respects_limits() {
    let mut q = Queue::default();
    q.push_bytes(Bytes::from(vec![1u8; 70_000]));
    q.push_bytes(Bytes::from(vec![2u8; 70_000]));
    let mut out = Vec::new();
    assert_eq!(q.peek(80_000, 64, &mut out), 80_000);
    assert_eq!(out[1].len(), 10_000);
    assert_eq!(q.peek(usize::MAX, 1, &mut out), 70_000);
}

#[test]
fn w15_absurd_retry_delays_saturate_at_a_day() {
    let p = RetryPolicy {
        initial_delay: Duration::MAX,
        max_delay: Duration::MAX,
        max_retries: 3,
    };
    for attempt in [0, 1, 31, u32::MAX] {
        assert_eq!(p.delay(attempt), MAX_RETRY_DELAY);
    }
    assert!(std::time::Instant::now()
        .checked_add(MAX_RETRY_DELAY)
        .is_some());
}

#[test]
fn retry_delay_saturates() {
    let p = RetryPolicy::default();
    assert_eq!(p.delay(0), Duration::from_millis(1));
    assert_eq!(p.delay(40), p.max_delay);
}

#[test]
fn w16_an_in_place_write_is_accepted_and_written_at_once_and_only_when_nothing_is_queued() {
    let mut c = core();
    assert!(c.begin_in_place(10));
    assert_eq!(c.io_state(), IoState::InFlight, "a stop waits for it");
    assert!(!c.begin_in_place(10), "W-3: one write at a time");
    assert!(!c.complete_in_place(Outcome::Wrote(10)));
    assert_eq!((c.accepted(), c.written(), c.queued()), (10, 10, 0));
    assert_eq!(c.io_state(), IoState::Idle);

    // Something queued: in place would overtake it.
    let _ = write(&mut c, b"abc");
    assert!(!c.begin_in_place(10));
    let mut out = Vec::new();
    assert_eq!(c.begin(&mut out), Begin::Submit(3));
    assert_eq!(c.complete(Outcome::Wrote(3)), Next::Continue);
    assert_eq!(c.begin(&mut out), Begin::Idle);

    // Queued while the in-place write was out: the backend must be kicked for it.
    assert!(c.begin_in_place(10));
    c.admit(2).unwrap();
    let (_, kick) = c.accept(2, |q| q.push_slice(b"de"));
    assert_eq!(kick, Kick::No);
    assert!(c.complete_in_place(Outcome::WouldBlock));
    assert_eq!(c.io_state(), IoState::Scheduled);
    assert_eq!((c.accepted(), c.written()), (15, 13));
}

#[test]
fn w16_an_in_place_write_that_finds_the_peer_gone_ends_the_writer() {
    let mut c = core();
    assert!(c.begin_in_place(10));
    assert!(!c.complete_in_place(Outcome::PeerClosed(io::ErrorKind::BrokenPipe.into())));
    assert_eq!(c.phase(), Phase::PeerClosed);
    assert!(!c.begin_in_place(10));
    assert!(c.admit(1).is_err());
}
