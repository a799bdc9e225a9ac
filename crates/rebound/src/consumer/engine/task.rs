//! One partition's task, for every processing order: takes the partition's records in offset
//! order, starts each as its [`Admission`] allows, sends the copies of failed records within the
//! copy budget, and stores the offset before the lowest unfinished record.
//!
//! ```text
//!  poller ─batches─▶ take ─▶ admit ─▶ launch ─▶ running ─┬─ done ─────────────────▶ finish ─▶ window ─▶ offsets
//!                     │                 ▲                └─ copy ─▶ budget ─▶ copies ─ack─▶ ┘
//!                     └ done before ─▶ skip       finish frees the key's next record ┘
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::admission::Admission;
use super::attempt::Processed;
use super::copies::{Copies, Finished};
use super::done_marks;
use super::feed::Feed;
use super::offsets::OffsetStore;
use super::record_life::{self, Pass, Processing, Started};
use super::window::Window;
use super::PartitionControl;
use crate::consumer::context::Context;
use crate::consumer::registry::{ExitGuard, Tp};
use crate::record::{Delivery, Record};

mod stopping;

/// How long done records of a batch in hand may wait before their offset is stored: well under
/// librdkafka's 500 ms auto-commit, so that slow handlers do not delay commits.
const STORE_AT_LEAST_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// How many records of the batch in hand one step takes (see [`PartitionTask::take_in_hand`]).
const TAKEN_AT_ONCE: usize = 64;

/// A run of records taken in hand looks at the stop and the abort every this many records.
const LOOK_AT_STOP_EVERY: usize = 8;

/// The state of one partition's task.
pub(crate) struct PartitionTask {
    context: Arc<Context>,
    tp: Tp,
    feed: Feed,
    /// Shared with every record's future: cloning an `Arc` is an atomic add, cloning the token
    /// takes its lock (and dropping the clone again).
    stop: Arc<CancellationToken>,
    abort: CancellationToken,
    /// The stop and the abort as futures made once: a `cancelled()` made in every step
    /// registers with the token and leaves it again, a lock each way per record.
    stopped: Signal,
    aborted: Signal,
    admission: Admission,
    window: Window,
    running: FuturesUnordered<BoxFuture<'static, Processing>>, // Due wait, permit, handler.
    /// Copies of failed records, within the copy budget.
    copies: Copies,
    /// A record taken when no start ticket was free: it starts as soon as one is.
    awaiting_ticket: Option<Record>,
    finished: Vec<Finished>, // Since the last step, to settle.
    /// Records a previous owner finished above the committed offset, as the commit's metadata
    /// says: skipped, not handled again.
    done_before: HashSet<i64>,
    // Dropped after everything above and before `_exit`: whatever is done is stored before the
    // poller learns that the task ended (and commits).
    offsets: OffsetStore,
    _exit: ExitGuard,
}

/// A cancellation token's cancellation, as a future that lives with the task.
type Signal = std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>;

/// What one step of the task led to.
enum Step {
    Go,
    Stop,
    Abort,
}

impl PartitionTask {
    /// The task of partition `tp`, fed by the poller through `records` in batches.
    pub(crate) fn new(
        context: Arc<Context>,
        tp: Tp,
        records: UnboundedReceiver<Delivery>,
        control: PartitionControl,
    ) -> Self {
        PartitionTask {
            admission: Admission::of(&context, &tp),
            copies: Copies::new(
                context.copy_permits.clone(),
                context.settings.copies_per_partition(),
                context.metrics.copies(),
            ),
            offsets: OffsetStore::new(context.clone(), tp.clone()),
            feed: Feed::new(context.clone(), tp.clone(), records, control.gauge),
            context,
            tp,
            stopped: Box::pin(control.stop.clone().cancelled_owned()),
            aborted: Box::pin(control.abort.clone().cancelled_owned()),
            abort: control.abort,
            stop: Arc::new(control.stop),
            window: Window::default(),
            running: FuturesUnordered::new(),
            awaiting_ticket: None,
            finished: Vec::new(),
            done_before: HashSet::new(),
            _exit: control.exit,
        }
    }

    /// Runs until stopped (then finishes what is in hand) or aborted.
    pub(crate) async fn run(mut self) {
        if !self
            .admission
            .ready(&self.context.consumer, &self.stop)
            .await
        {
            return;
        }
        self.done_before = done_marks::done_before(&self.context, &self.tp).await;
        loop {
            match self.step().await {
                Step::Go => {}
                Step::Stop => break,
                Step::Abort => return,
            }
        }
        self.finish_in_hand().await;
    }

    /// Settles what finished, stores progress, then waits for the next thing to happen.
    async fn step(&mut self) -> Step {
        self.settle();
        self.store();
        let may_take = self.may_take();
        self.feed.held_up(!may_take);
        tokio::select! {
            biased;
            _ = &mut self.aborted => return Step::Abort,
            Some(processing) = self.running.next(), if !self.running.is_empty() => {
                self.processed(processing);
            }
            finished = self.copies.next() => self.finished.push(finished),
            released = self.admission.released() => {
                for record in released {
                    self.launch(record, Pass::None);
                }
            }
            Ok(ticket) = self.context.start_tickets.clone().acquire_owned(), if self.awaiting_ticket.is_some() => {
                if let Some(record) = self.awaiting_ticket.take() {
                    self.launch(record, Pass::Ticket(ticket));
                }
            }
            _ = &mut self.stopped => return Step::Stop,
            next = self.feed.next(), if may_take => match next {
                Some(record) => {
                    self.take(record);
                    self.take_in_hand();
                    self.feed.held_up(!self.may_take()); // Told at once: the poller may look now.
                }
                None => return Step::Stop,
            },
        }
        Step::Go
    }

    /// Takes more of the batch in hand without a trip through the `select!` per record (a
    /// quick record then costs its handler and little else), up to [`TAKEN_AT_ONCE`], so that
    /// finished handlers, copies and the stop are looked at between runs; a stop or an abort
    /// seen here (every [`LOOK_AT_STOP_EVERY`] records: a look takes each token's lock, per
    /// record 4 % of the happy path) ends the run at once.
    fn take_in_hand(&mut self) {
        for taken in 0..TAKEN_AT_ONCE - 1 {
            self.settle();
            let look = taken % LOOK_AT_STOP_EVERY == 0;
            if !self.may_take() || (look && (self.stop.is_cancelled() || self.abort.is_cancelled()))
            {
                return;
            }
            match self.feed.next_in_hand() {
                Some(record) => self.take(record),
                None => return,
            }
        }
    }

    /// Whether the next record may be taken: the admission has room, no record waits for a
    /// ticket, and the partition's copies are within their share of the budget.
    fn may_take(&self) -> bool {
        self.awaiting_ticket.is_none()
            && self.copies.leave_room()
            && self
                .admission
                .has_room(self.window.len(), self.running.len())
    }

    /// A record taken from the partition, in offset order.
    fn take(&mut self, record: Record) {
        let offset = record.offset();
        if !self.window.take(offset) {
            return; // A redelivery of a record taken before.
        }
        // Checked for emptiness first: a hash of the offset per record, for a set that is empty
        // but after a rebalance, was 5 % of the happy path.
        if !self.done_before.is_empty() && self.done_before.remove(&offset) {
            if let Some(offset) = self.window.finish(offset) {
                self.offsets.set(offset);
            }
            self.admission.skipped(&record);
            if self.done_before.is_empty() {
                tracing::info!(tp = %self.tp, "skipped the records the previous owner had finished above the committed offset");
            }
            return;
        }
        let Some(record) = self.admission.admit(record) else {
            return; // Waits behind its key.
        };
        let pass = match self.admission.needs_ticket() {
            false => Pass::None,
            // A permit free now is all the record needs; else a ticket to wait for one.
            true => match self.context.in_flight.clone().try_acquire_owned() {
                Ok(permit) => Pass::Permit(permit),
                Err(_) => match self.context.start_tickets.clone().try_acquire_owned() {
                    Ok(ticket) => Pass::Ticket(ticket),
                    Err(_) => {
                        self.awaiting_ticket = Some(record);
                        return;
                    }
                },
            },
        };
        self.launch(record, pass);
    }

    /// Starts a record and polls it once at once: a record whose handler finishes without
    /// waiting (no due time, a permit free, a quick handler) is done without a trip through
    /// `running`.
    fn launch(&mut self, record: Record, pass: Pass) {
        let mut start = self.admission.start_of(&record, &self.context.consumer);
        start.pass = pass;
        let mut future = match record_life::start(&self.context, record, start, &self.stop) {
            Started::Now(processing) => return self.processed(processing),
            Started::Later(future) => future,
        };
        match (&mut future).now_or_never() {
            Some(processing) => self.processed(processing),
            None => self.running.push(future),
        }
    }

    /// A record's handling ended: done, stopped, or its copy to send.
    fn processed(&mut self, processing: Processing) {
        let Processing {
            offset,
            key,
            processed,
        } = processing;
        let done = match processed {
            Processed::Done => true,
            Processed::Stopped => false,
            Processed::Forwarding(copy) => return self.copies.push(offset, key, copy),
        };
        self.finished.push(Finished { offset, key, done });
    }

    /// Settles the records finished since the last step: the window moves, and a finished
    /// record's key lets its next record start (which may finish at once too).
    fn settle(&mut self) {
        while let Some(Finished { offset, key, done }) = self.finished.pop() {
            if !done {
                continue;
            }
            if let Some(offset) = self.window.finish(offset) {
                self.offsets.set(offset);
            }
            if let Some(next) = self.admission.finished(&key, offset) {
                self.launch(next, Pass::None);
            }
        }
    }

    /// Hands the progress to librdkafka: once per batch, and at least every 100 ms during a
    /// long one; the marks of the records finished above it once a second.
    fn store(&mut self) {
        if self.offsets.marks_due() {
            self.offsets.set_marks(self.window.marks());
        }
        if self.feed.batch_done() {
            self.offsets.flush();
        } else {
            self.offsets.flush_if_older_than(STORE_AT_LEAST_EVERY);
        }
    }
}
