//! Event-driven backpressure (W-12), for the bench's event-driven contenders: when `write`
//! reports that the queue is above the high-water mark, wait for `Event::Writable` (seen by
//! an event handler) before producing more. Code that simply waits uses
//! `PipeWriter::wait_for_room` instead, which also drives the writer from the waiting thread.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use pipewriter::{Event, PipeWriter};

/// Woken by the writer's event handler when the queue fell to the low-water mark or the
/// writer ended.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Gate {
    pub(crate) fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// Records an event; call it from the writer's `on_event` handler. Cheap and never
    /// blocks for long (the handler runs on the I/O thread every writer shares).
    pub(crate) fn observe(&self, event: &Event) {
        if matches!(
            event,
            Event::Writable | Event::Drained | Event::PeerClosed { .. } | Event::Failed { .. }
        ) {
            let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
            *generation += 1;
            self.changed.notify_all();
        }
    }

    /// Waits until at most `low_water` bytes are queued or the writer can make no more
    /// progress. `tick` runs about every `period` while waiting (to redraw a progress bar).
    pub(crate) fn wait_writable(
        &self,
        writer: &PipeWriter,
        low_water: usize,
        period: Duration,
        mut tick: impl FnMut(),
    ) {
        let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        // The writer's own lock is taken under ours; the handler takes ours without the
        // writer's, so there is no cycle.
        while writer.bytes_to_write() > low_water && writer.is_write_active() {
            let (next, timeout) = self
                .changed
                .wait_timeout(generation, period)
                .unwrap_or_else(|e| e.into_inner());
            generation = next;
            if timeout.timed_out() {
                tick();
            }
        }
    }
}
