//! Events produced but not yet delivered.

use crate::event::Event;

/// Events produced but not yet delivered, coalesced (W-7).
#[derive(Debug, Default)]
pub(crate) struct PendingEvents {
    pub(super) written: u64,
    pub(super) writable: bool,
    pub(super) drained: bool,
    pub(super) terminal: Option<Event>,
}

impl PendingEvents {
    pub(crate) fn is_empty(&self) -> bool {
        self.written == 0 && !self.writable && !self.drained && self.terminal.is_none()
    }

    /// Moves the pending events into `out`, in delivery order.
    pub(super) fn drain_into(&mut self, out: &mut Vec<Event>) {
        if self.written > 0 {
            out.push(Event::Written(std::mem::take(&mut self.written)));
        }
        if std::mem::take(&mut self.writable) {
            out.push(Event::Writable);
        }
        if std::mem::take(&mut self.drained) {
            out.push(Event::Drained);
        }
        if let Some(t) = self.terminal.take() {
            out.push(t);
        }
    }
}
