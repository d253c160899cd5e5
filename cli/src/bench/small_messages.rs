//! Small messages: millions of 64-byte writes into a default pipe read by another thread,
//! against buffered std and tokio writers and one `write(2)` per message.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::time::Instant;

use super::harness::{run_case, Contender, Metric, Report, Target};
use super::pipes::{builder, gated_writer, join_reader, low_water, pipe_to_thread, LONG};
use super::Plan;

const PIPEWRITER: &str = "pipewriter";
const PIPEWRITER_GATED: &str = "pipewriter, Writable events at high-water";
const PIPEWRITER_WAITS: &str = "pipewriter, wait_for_room at high-water";
const PIPEWRITER_FRONT: &str = "pipewriter blocking().buffered() front";
const STD_BUFWRITER: &str = "std BufWriter 8 KiB";
const TOKIO_BUFWRITER: &str = "tokio BufWriter 8 KiB<pipe::Sender>";

const METRICS: [Metric; 2] = [
    Metric::higher_is_better("M msg/s"),
    Metric::lower_is_better("producer ns/msg"),
];

const MSG: [u8; 64] = *b"pipewriter bench message 0123456789 abcdefghijklmnopqrstuvwxyz.\n";

/// Throughput end to end and the producer's time per message.
fn result(n: u64, start: Instant, produced: Instant, end: Instant) -> Vec<f64> {
    let e2e = end.duration_since(start).as_secs_f64();
    let prod = produced.duration_since(start).as_secs_f64();
    vec![n as f64 / e2e / 1e6, prod * 1e9 / n as f64]
}

/// What a plain-`write` producer does when a write leaves the queue above the high-water mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backpressure {
    /// Nothing: the queue grows.
    None,
    /// Waits for `Event::Writable`, seen by an event handler (event-driven).
    Events,
    /// `PipeWriter::wait_for_room`, which drives the writer from the waiting thread (W-16).
    Wait,
}

/// `n` messages through pipewriter's plain `write`, with `backpressure`.
fn pipewriter_run(plan: &Plan, n: u64, backpressure: Backpressure) -> io::Result<Vec<f64>> {
    let (w, reader) = pipe_to_thread()?;
    let (writer, gate) = match backpressure {
        Backpressure::Events => {
            let (writer, gate) = gated_writer(builder(plan), w)?;
            (writer, Some(gate))
        }
        _ => (builder(plan).build(w)?, None),
    };
    let low = low_water(plan);
    let start = Instant::now();
    for _ in 0..n {
        let accepted = writer.write(&MSG).map_err(|e| e.into_error())?;
        if accepted.is_above_high_water() {
            match (&gate, backpressure) {
                (Some(gate), _) => gate.wait_writable(&writer, low, LONG, || {}),
                (None, Backpressure::Wait) => writer.wait_for_room(LONG)?,
                (None, _) => {}
            }
        }
    }
    let produced = Instant::now();
    writer.close(LONG)?;
    let end = join_reader(reader, n * 64)?;
    Ok(result(n, start, produced, end))
}

/// `n` messages through the buffered front of the blocking adapter (W-17).
fn pipewriter_front_run(plan: &Plan, n: u64) -> io::Result<Vec<f64>> {
    let (w, reader) = pipe_to_thread()?;
    let writer = builder(plan).exclusive(true).build(w)?;
    let start = Instant::now();
    let mut front = writer.blocking().timeout(LONG).buffered();
    for _ in 0..n {
        front.write_all(&MSG)?;
    }
    front.flush()?;
    let produced = Instant::now();
    drop(front);
    writer.close(LONG)?;
    let end = join_reader(reader, n * 64)?;
    Ok(result(n, start, produced, end))
}

fn std_bufwriter_run(n: u64) -> io::Result<Vec<f64>> {
    let (w, reader) = pipe_to_thread()?;
    let start = Instant::now();
    let mut bw = io::BufWriter::new(w);
    for _ in 0..n {
        bw.write_all(&MSG)?;
    }
    bw.flush()?;
    let produced = Instant::now();
    drop(bw);
    let end = join_reader(reader, n * 64)?;
    Ok(result(n, start, produced, end))
}

fn tokio_bufwriter_run(n: u64) -> io::Result<Vec<f64>> {
    use tokio::io::AsyncWriteExt;
    let (w, reader) = pipe_to_thread()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let fd = OwnedFd::from(w);
    let (start, produced) = rt.block_on(async move {
        let sender = tokio::net::unix::pipe::Sender::from_owned_fd(fd)?;
        let start = Instant::now();
        let mut bw = tokio::io::BufWriter::new(sender);
        for _ in 0..n {
            bw.write_all(&MSG).await?;
        }
        bw.flush().await?;
        io::Result::Ok((start, Instant::now()))
    })?;
    let end = join_reader(reader, n * 64)?;
    Ok(result(n, start, produced, end))
}

fn one_write_per_message_run(n: u64) -> io::Result<Vec<f64>> {
    let (w, reader) = pipe_to_thread()?;
    let start = Instant::now();
    for _ in 0..n {
        (&w).write_all(&MSG)?;
    }
    let produced = Instant::now();
    drop(w);
    let end = join_reader(reader, n * 64)?;
    Ok(result(n, start, produced, end))
}

pub(super) fn run(plan: &Plan, report: &mut Report) -> io::Result<()> {
    let n = plan.messages;
    let n_sys = plan.syscall_messages;
    let syscall = format!("one write(2) per message ({n_sys} msgs)");
    let contenders = vec![
        Contender::new(PIPEWRITER, || pipewriter_run(plan, n, Backpressure::None)),
        Contender::new(PIPEWRITER_GATED, || {
            pipewriter_run(plan, n, Backpressure::Events)
        }),
        Contender::new(PIPEWRITER_WAITS, || {
            pipewriter_run(plan, n, Backpressure::Wait)
        }),
        Contender::new(PIPEWRITER_FRONT, || pipewriter_front_run(plan, n)),
        Contender::new(STD_BUFWRITER, || std_bufwriter_run(n)),
        Contender::new(TOKIO_BUFWRITER, || tokio_bufwriter_run(n)),
        Contender::new(syscall.as_str(), || one_write_per_message_run(n_sys)),
    ];
    let title = format!("{n} writes of 64 B into a default pipe, reader thread");
    let case = run_case(plan, &title, &METRICS, contenders)?;
    report.add(
        case,
        &[
            Target::at_least(PIPEWRITER_FRONT, STD_BUFWRITER, 0, 1.0),
            Target::at_least(PIPEWRITER_FRONT, TOKIO_BUFWRITER, 0, 2.0),
            Target::at_least(PIPEWRITER, STD_BUFWRITER, 0, 0.8),
            Target::at_least(PIPEWRITER, TOKIO_BUFWRITER, 0, 2.0),
            Target::at_least(PIPEWRITER, &syscall, 0, 25.0),
            Target::at_least(PIPEWRITER_WAITS, STD_BUFWRITER, 0, 0.8),
            Target::at_most(PIPEWRITER, STD_BUFWRITER, 1, 1.3),
        ],
    );
    Ok(())
}
