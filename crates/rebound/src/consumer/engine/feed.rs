//! A partition task's feed from the poller: batches of records in offset order, and the
//! flow-control gauge the poller pauses and resumes the partition by.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::consumer::context::Context;
use crate::consumer::registry::{Gauge, Tp};
use crate::record::{Delivery, Record};

/// The records the poller handed to one partition's task.
pub(super) struct Feed {
    context: Arc<Context>,
    tp: Tp,
    batches: UnboundedReceiver<Delivery>,
    /// The batch in hand, in offset order (each record made as it is taken).
    inbox: Option<Delivery>,
    /// Records handed to the task and not yet taken, and whether the partition is paused.
    gauge: Arc<Gauge>,
    /// What the gauge last heard of whether the task can take records (written on change only).
    held_up: bool,
}

impl Feed {
    pub(super) fn new(
        context: Arc<Context>,
        tp: Tp,
        batches: UnboundedReceiver<Delivery>,
        gauge: Arc<Gauge>,
    ) -> Self {
        Feed {
            context,
            tp,
            batches,
            inbox: None,
            held_up: gauge.held_up.load(Ordering::SeqCst),
            gauge,
        }
    }

    /// The next record: from the batch in hand, else the next batch from the poller (`None` when
    /// the poller has dropped its end). Cancel-safe: a batch received is kept in hand.
    pub(super) async fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(record) = self.next_in_hand() {
                return Some(record);
            }
            self.inbox = Some(self.batches.recv().await?);
        }
    }

    /// The next record of the batch in hand, if any, without waiting for another batch.
    pub(super) fn next_in_hand(&mut self) -> Option<Record> {
        let record = self.inbox.as_mut()?.next()?;
        self.taken();
        Some(record)
    }

    /// Whether the batch in hand is done.
    pub(super) fn batch_done(&self) -> bool {
        self.inbox.as_ref().is_none_or(|batch| batch.len() == 0)
    }

    /// Tells the poller whether the task can take records now: it feeds on a full task that can,
    /// and waits for one that cannot before it pauses the partition.
    pub(super) fn held_up(&mut self, held_up: bool) {
        if self.held_up != held_up {
            self.held_up = held_up;
            self.gauge.held_up.store(held_up, Ordering::SeqCst);
        }
    }

    /// A record left the buffer: the gauge goes down, and the poller hears when it may stop
    /// waiting for the task (below `pause_above`) or resume a paused partition (at
    /// `resume_below`).
    fn taken(&self) {
        let settings = &self.context.settings;
        let left = self.gauge.buffered.fetch_sub(1, Ordering::SeqCst) - 1;
        if left + 1 == settings.drained_below() {
            self.context.drained.notify();
        }
        if left == settings.resume_below && self.gauge.paused.load(Ordering::SeqCst) {
            self.context.resume(&self.tp, &self.gauge);
        }
    }
}
