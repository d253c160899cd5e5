//! Resources that run out (W-15): when the shared I/O thread's poller or thread cannot be had,
//! the writer being built fails with the OS error — no panic, and nothing is remembered — and
//! a later writer starts the I/O thread once resources return. The reactor is started once
//! per process, so the checks run in a fresh process: the test re-runs this executable with
//! `PIPEWRITER_RESOURCES_CHILD` set. Unix only (the reactor is Unix's; Windows writers get
//! their resources per writer, covered in writer_faults.rs).
#![cfg(unix)]

mod util;

use pipewriter::PipeWriter;
use util::{collect, pattern, PATIENCE};

const CHILD: &str = "PIPEWRITER_RESOURCES_CHILD";
const DONE: &str = "resources-child-done";

fn child() {
    let (_r1, first) = pipewriter::pipe().unwrap();
    let (_r2, second) = pipewriter::pipe().unwrap();
    let (reader, third) = pipewriter::pipe().unwrap();

    if cfg!(pipewriter_force_fallback) {
        eprintln!("SKIPPED the poller check: the blocking fallback is forced (no reactor)");
        drop(first);
    } else {
        // No descriptor left for the poller: the lowest free descriptor becomes the limit.
        // SAFETY: plain system calls on valid arguments.
        let lowest_free = unsafe { libc::dup(0) };
        assert!(lowest_free >= 0);
        // SAFETY: closes the descriptor just made.
        unsafe { libc::close(lowest_free) };
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid out pointer.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        assert_eq!(rc, 0);
        let saved = limit.rlim_cur;
        limit.rlim_cur = lowest_free as libc::rlim_t;
        // SAFETY: `limit` is valid; lowering the soft limit is always allowed.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
        let built = PipeWriter::new(first);
        limit.rlim_cur = saved;
        // SAFETY: as above; the soft limit goes back to where it was (below the hard one).
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
        let err = built.expect_err("W-15: no descriptor for the poller must fail the build");
        assert_eq!(
            err.raw_os_error(),
            Some(libc::EMFILE),
            "the OS error is returned: {err}"
        );
    }

    // The OS refuses the thread.
    pipewriter::fault::fail_thread_spawns(1);
    let err = PipeWriter::new(second).expect_err("W-15: no thread must fail the build");
    assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory, "{err}");

    // Resources are back: the I/O thread starts and the data flows.
    let received = collect(reader);
    let writer = PipeWriter::new(third).expect("W-15: a later writer works");
    let data = pattern(15, 4 << 20);
    writer.write(&data[..]).unwrap();
    writer.close(PATIENCE).unwrap();
    assert!(received.join().unwrap() == data);
    println!("{DONE}");
}

#[test]
fn w15_an_io_thread_that_cannot_start_fails_the_build_and_a_later_one_starts() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let out = util::this_test_in_a_child(
        "w15_an_io_thread_that_cannot_start_fails_the_build_and_a_later_one_starts",
        CHILD,
        "1",
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(DONE),
        "the child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
