//! The sending half of a redrive: copies in flight, the pace, the canary, the watch, and the
//! ledger entries of acknowledged copies.
//!
//! A copy's `redriven` entry is written after its acknowledgement (an entry never claims a copy
//! that is not there), but not one by one: entries wait in [`Sending::unrecorded`] and go to the
//! ledger in batches, pipelined like the claims. One entry per copy, each awaited before the next
//! copy of its future, halved the run's pace (BENCHMARKS.md, redrive). A run that dies with entries
//! unrecorded leaves copies whose claims are unanswered; once [`STALE_CLAIM`] has passed, another
//! run may send those dead letters again: a duplicate, never a loss, the same at-least-once a
//! single entry per copy gave between its acknowledgement and its entry.
//!
//! [`STALE_CLAIM`]: crate::ledger::STALE_CLAIM

use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use rebound::EpochMillis;

use crate::error::Error;
use crate::ledger::Entry;
use crate::write::Writer;

use super::plan::Plan;
use super::returns::Returns;
use super::send::{send_one, Acknowledged};
use super::{Canary, Pause, Progress, RedriveOptions, RedriveProgress, RedriveReport};

/// Copies in flight at once, at most: enough to keep the producer's batches full while
/// acknowledgements come back, few enough that the dead letters held for them stay small.
const IN_FLIGHT: usize = 2048;

/// `redriven` entries written to the ledger together, at most.
const LEDGER_BATCH: usize = 1024;

/// A run's sending state.
pub(super) struct Sending<'a> {
    pub(super) writer: &'a Writer,
    pub(super) options: &'a RedriveOptions,
    pub(super) run: &'a str,
    pub(super) dlt: &'a str,
    pub(super) total: usize,
    pub(super) returns: Option<&'a Returns>,
    pub(super) progress: Progress<'a>,
    pub(super) in_flight: FuturesUnordered<SendOne<'a>>,
    /// Entries of acknowledged copies not yet in the ledger.
    pub(super) unrecorded: Vec<Entry>,
    /// Copies acknowledged.
    pub(super) sent: usize,
}

pub(super) type SendOne<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Acknowledged, Error>> + Send + 'a>>;

impl<'a> Sending<'a> {
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
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {}
                    Some(result) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                        self.take(result, report).await?;
                    }
                    _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {}
                }
            }
            if cancel.is_cancelled() || report.paused.is_some() {
                unsent.push(plan);
                break;
            }
            let send = send_one(self.writer, plan, self.options, self.run, self.dlt);
            self.in_flight.push(Box::pin(send));
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

    /// Waits for every copy in flight, then writes the entries not yet in the ledger.
    async fn settle(&mut self, report: &mut RedriveReport) -> Result<(), Error> {
        while let Some(result) = self.in_flight.next().await {
            self.take(result, report).await?;
        }
        self.record().await
    }

    /// Takes the outcome of one send. After a failed send, the entries of the copies acknowledged
    /// before it are still written: the caller sees the error, the ledger every copy it knows of.
    async fn take(
        &mut self,
        result: Result<Acknowledged, Error>,
        report: &mut RedriveReport,
    ) -> Result<(), Error> {
        match result {
            Ok(copy) => self.acknowledged(copy, report).await,
            Err(e) => {
                if let Err(ledger) = self.record().await {
                    tracing::warn!(error = %ledger, "could not record the copies acknowledged before a failed send");
                }
                Err(e)
            }
        }
    }

    /// Counts an acknowledged copy, reports it, and writes a full batch of entries.
    async fn acknowledged(
        &mut self,
        copy: Acknowledged,
        report: &mut RedriveReport,
    ) -> Result<(), Error> {
        self.sent += 1;
        (self.progress)(self.state(None));
        report.outcomes.push((copy.position, copy.outcome));
        self.unrecorded.push(copy.entry);
        if self.unrecorded.len() >= LEDGER_BATCH {
            self.record().await?;
        }
        Ok(())
    }

    /// Writes the entries not yet in the ledger.
    async fn record(&mut self) -> Result<(), Error> {
        if !self.unrecorded.is_empty() {
            self.writer.record(&self.unrecorded).await?;
            self.unrecorded.clear();
        }
        Ok(())
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

    fn state(&self, waiting_until: Option<EpochMillis>) -> RedriveProgress {
        RedriveProgress {
            sent: self.sent,
            total: self.total,
            returned: self.returned(),
            waiting_until,
        }
    }
}
