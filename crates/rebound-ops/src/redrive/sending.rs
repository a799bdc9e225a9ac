//! The sending half of a redrive: copies in flight, the pace, the canary, the watch, and the
//! ledger entries of acknowledged copies.
//!
//! A copy's `redriven` entry is written after its acknowledgement (an entry never claims a copy
//! that is not there), but not one by one: entries wait in [`Sending::unrecorded`] and go to the
//! ledger in batches, handed to the producer without waiting for them ([`reports`](super::reports)):
//! the run waits for them only when it settles (before a canary's wait, at its end). One entry per
//! copy, each awaited before the next copy of its future, halved the run's pace (BENCHMARKS.md,
//! redrive). A run that dies with entries
//! unrecorded leaves copies whose claims are unanswered; once [`STALE_CLAIM`] has passed, another
//! run may send those dead letters again: a duplicate, never a loss, the same at-least-once a
//! single entry per copy gave between its acknowledgement and its entry.
//!
//! [`STALE_CLAIM`]: crate::ledger::STALE_CLAIM

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use rebound::EpochMillis;

use crate::error::Error;
use crate::ledger::Entry;
use crate::listed::Listed;
use crate::write::{TicketMap, TicketSet, Writer};

use super::plan::Plan;
use super::returns::Returns;
use super::send::{Stamped, Stamps};
use super::{Canary, Pause, Progress, RedriveOptions, RedriveProgress, RedriveReport};

/// Copies in flight at once, at most: enough to keep the producer's batches full while
/// acknowledgements come back, few enough that the dead letters held for them stay small.
const IN_FLIGHT: usize = 2048;

/// `redriven` entries handed to the producer together, at most.
pub(super) const LEDGER_BATCH: usize = 1024;

/// A run's sending state.
pub(super) struct Sending<'a> {
    pub(super) writer: &'a Writer,
    pub(super) options: &'a RedriveOptions,
    pub(super) run: &'a str,
    total: usize,
    returns: Option<&'a Returns>,
    pub(super) progress: Progress<'a>,
    stamps: Stamps<'a>,
    /// Copies handed to the producer and not yet reported, by ticket.
    pub(super) in_flight: TicketMap<Stamped>,
    /// Entries of acknowledged copies not yet handed to the producer.
    pub(super) unrecorded: Vec<Entry>,
    /// Entries handed to the producer and not yet acknowledged.
    pub(super) recording: TicketSet,
    /// Copies acknowledged.
    pub(super) sent: usize,
    /// The dead letters of acknowledged copies, freed after the run ([`Sending::free_later`]).
    pub(super) finished: Vec<Listed>,
}

impl<'a> Sending<'a> {
    pub(super) fn new(
        writer: &'a Writer,
        options: &'a RedriveOptions,
        run: &'a str,
        dlt: &str,
        total: usize,
        returns: Option<&'a Returns>,
        progress: Progress<'a>,
    ) -> Sending<'a> {
        Sending {
            writer,
            options,
            run,
            total,
            returns,
            progress,
            stamps: Stamps::new(options, run, dlt),
            in_flight: TicketMap::default(),
            unrecorded: Vec::new(),
            recording: TicketSet::default(),
            sent: 0,
            finished: Vec::new(),
        }
    }

    /// Sends `plans` in order (at the rate, after the canary's wait), records each outcome in
    /// `report` and each copy in the ledger, and returns the plans it did not send: cancelled, or
    /// paused (`report.paused`).
    pub(super) async fn send_all(
        &mut self,
        plans: Vec<Plan>,
        cancel: &CancellationToken,
        report: &mut RedriveReport,
    ) -> Result<Vec<Plan>, Error> {
        let canary = self.options.canary.filter(|c| c.first > 0);
        // The pace counts from here, and again from the end of the canary's wait (no burst of
        // the records "due" during it).
        let (mut paced_from, mut paced_index) = (tokio::time::Instant::now(), 0usize);
        let mut plans = plans.into_iter().enumerate();
        let mut unsent = Vec::new();
        for (i, plan) in plans.by_ref() {
            if canary.is_some_and(|c| c.first == i) {
                self.canary_wait(canary.expect("checked"), cancel, report)
                    .await?;
                (paced_from, paced_index) = (tokio::time::Instant::now(), i);
            }
            let due = self
                .options
                .rate
                .map(|rate| paced_from + Duration::from_secs_f64((i - paced_index) as f64 / rate));
            // Wait for this record's turn (and the cap on records in flight) while the sends in
            // flight make progress.
            loop {
                report.paused = report.paused.take().or_else(|| self.pause(canary));
                let ready = due.is_none_or(|due| tokio::time::Instant::now() >= due)
                    && self.in_flight.len() < IN_FLIGHT;
                if ready || cancel.is_cancelled() || report.paused.is_some() {
                    break;
                }
                let writer = self.writer;
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {}
                    reports = writer.delivered(), if self.waiting() => {
                        self.take(reports, report).await?;
                    }
                    _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {}
                }
            }
            if cancel.is_cancelled() || report.paused.is_some() {
                unsent.push(plan);
                break;
            }
            let copy = self.stamps.copy(plan);
            self.launch(copy).await?;
        }
        // After a stop, the plans not reached; after the last send, none.
        unsent.extend(plans.map(|(_, plan)| plan));
        self.settle(report).await?;
        Ok(unsent)
    }

    /// Sends nothing more until every copy of the canary is acknowledged (and in the ledger) and
    /// `canary.wait` has passed, watching the returns; ends early when the run is cancelled or
    /// pauses.
    async fn canary_wait(
        &mut self,
        canary: Canary,
        cancel: &CancellationToken,
        report: &mut RedriveReport,
    ) -> Result<(), Error> {
        self.settle(report).await?;
        let until = tokio::time::Instant::now() + canary.wait;
        let shown = EpochMillis::now() + canary.wait;
        (self.progress)(self.state(Some(shown)));
        let mut returned = self.returned();
        while tokio::time::Instant::now() < until && !cancel.is_cancelled() {
            report.paused = self.pause(Some(canary));
            if report.paused.is_some() {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep_until(until) => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            if self.returned() != returned {
                returned = self.returned();
                (self.progress)(self.state(Some(shown)));
            }
        }
        report.paused = report.paused.take().or_else(|| self.pause(Some(canary)));
        (self.progress)(self.state(None));
        Ok(())
    }

    /// Frees the dead letters of acknowledged copies on the blocking pool, after the run: a
    /// dozen blocks each, read on another thread, and freeing them one by one as their copies
    /// were acknowledged made the sending task wait on that thread's allocator arena (glibc locks
    /// it) and spend a fifth of its time in `free` (BENCHMARKS.md, 5c). The caller does not wait.
    pub(super) fn free_later(&mut self) {
        let finished = std::mem::take(&mut self.finished);
        if !finished.is_empty() {
            tokio::task::spawn_blocking(move || drop(finished));
        }
    }

    /// Whether the run must pause now, and why.
    fn pause(&self, canary: Option<Canary>) -> Option<Pause> {
        let share = self.options.pause_above?;
        // With a canary, its whole sample is judged, not its first copy.
        let at_least = canary.map_or(1, |c| c.first);
        Pause::judge(self.sent, self.returned(), share, at_least)
    }

    /// Dead letters whose copies came back so far.
    pub(super) fn returned(&self) -> usize {
        self.returns.map_or(0, Returns::count)
    }

    pub(super) fn state(&self, waiting_until: Option<EpochMillis>) -> RedriveProgress {
        RedriveProgress {
            sent: self.sent,
            total: self.total,
            returned: self.returned(),
            waiting_until,
        }
    }
}
