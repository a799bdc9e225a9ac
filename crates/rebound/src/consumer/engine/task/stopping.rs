//! A partition's task stopping: what is in hand finishes (or gives up at the stop), what
//! finished is stored with the marks, nothing new starts.

use futures::stream::StreamExt;

use super::PartitionTask;
use crate::consumer::engine::copies::Finished;

impl PartitionTask {
    /// Stopping: the records being handled get the stop (due waits and back-offs end at once),
    /// copies in flight get their acknowledgement or give up at their next back-off; what
    /// finishes is stored with the marks, the rest is handled again by the partition's next
    /// owner. Copies still waiting for room are not sent.
    pub(super) async fn finish_in_hand(&mut self) {
        self.copies.drop_waiting();
        loop {
            self.settle_stopping();
            // The marks may be up to a second old: what is done above the lowest unfinished
            // record goes with the last store, so the next owner skips it.
            self.offsets.set_marks(self.window.marks());
            // Checked here, not by the `select!`'s `else`: its abort branch is always enabled,
            // so an `else` would never run and an idle task would wait out the grace period.
            if self.running.is_empty() && self.copies.in_flight() == 0 {
                return;
            }
            tokio::select! {
                biased;
                _ = &mut self.aborted => return,
                Some(processing) = self.running.next(), if !self.running.is_empty() => {
                    self.processed(processing);
                }
                finished = self.copies.next(), if self.copies.in_flight() > 0 => {
                    self.finished.push(finished);
                }
            }
        }
    }

    /// Settles finished records without starting any other.
    fn settle_stopping(&mut self) {
        for Finished { offset, done, .. } in std::mem::take(&mut self.finished) {
            if !done {
                continue;
            }
            if let Some(offset) = self.window.finish(offset) {
                self.offsets.set(offset);
            }
        }
    }
}
