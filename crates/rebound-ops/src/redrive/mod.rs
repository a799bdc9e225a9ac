//! Sending dead letters back to their original topic (or another), safely: claimed in the ledger
//! first so two operators never send the same dead letter twice, rate-limited on request, and
//! recorded one by one so an interruption leaves nothing half-done.

use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use rebound::{EpochMillis, KafkaConfig};

use crate::error::Error;
use crate::filter::Filter;
use crate::id::{DeadLetterId, Position, Source};
use crate::ledger::{run_id, Action, Ledger};
use crate::list::list_with;
use crate::skip::SkipReason;
use crate::write::Writer;

mod plan;
mod send;

use plan::{plan, Plan};
use send::{entries, send_one};

/// How a redrive runs. [`RedriveOptions::new`] gives the defaults; the fields are the knobs.
#[derive(Debug, Clone)]
pub struct RedriveOptions {
    /// Send here instead of each dead letter's original topic.
    pub to: Option<String>,
    /// Plan only: report what would be sent, write nothing (not even a claim).
    pub dry_run: bool,
    /// Records per second, at most.
    pub rate: Option<f64>,
    /// Redrive dead letters already redriven (and poison loops).
    pub force: bool,
    /// Who runs it, for the ledger and the headers.
    pub by: String,
    /// A dead letter redriven this many times already is a poison loop: skipped unless forced.
    pub poison_after: u32,
    /// Read from the archive of discarded dead letters instead of the DLT.
    pub source: Source,
}

impl RedriveOptions {
    /// A redrive run by `by` (who, for the ledger and the copies' headers: the library does not
    /// guess it from the environment, its caller knows who is acting): from the DLT, back to each
    /// dead letter's original topic, as fast as the cluster acknowledges, skipping what was
    /// redriven already and poison loops (3 redrives).
    pub fn new(by: impl Into<String>) -> Self {
        RedriveOptions {
            to: None,
            dry_run: false,
            rate: None,
            force: false,
            by: by.into(),
            poison_after: 3,
            source: Source::Dlt,
        }
    }
}

/// What happened to one selected dead letter. Sent or not, nothing else: a new way of not being
/// sent is a new [`SkipReason`], so this enum is exhaustive.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Sent to `topic` at `copy` (or would be, in a dry run).
    Sent {
        /// The topic the copy went to.
        topic: String,
        /// Where the copy is in `topic`; `None` in a dry run.
        copy: Option<Position>,
    },
    /// Left alone.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
}

/// What a redrive did.
#[derive(Debug, Clone, Default)]
pub struct RedriveReport {
    /// The run's id: the `run` of its ledger entries and the copies' `rebound-redrive-id`.
    pub run: String,
    /// A dry run: nothing was written.
    pub dry_run: bool,
    /// Cancelled before every granted dead letter was sent (the rest were released).
    pub interrupted: bool,
    /// Each selected dead letter (by its position in the source) and what happened to it.
    pub outcomes: Vec<(Position, Outcome)>,
}

impl RedriveReport {
    /// How many were sent (or would be, in a dry run).
    pub fn sent(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Sent { .. }))
            .count()
    }

    /// How many were skipped.
    pub fn skipped(&self) -> usize {
        self.outcomes.len() - self.sent()
    }
}

/// Progress callbacks: `(done, total)` after each record.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Redrives what `filter` selects. `cancel` stops it between records: what was sent is recorded,
/// the rest is released.
pub async fn redrive(
    kafka: &KafkaConfig,
    dlt: &str,
    filter: &Filter,
    options: &RedriveOptions,
    progress: Progress<'_>,
    cancel: &CancellationToken,
) -> Result<RedriveReport, Error> {
    let ledger = Ledger::read(kafka, dlt).await?;
    let histories = ledger.histories();
    let selected = list_with(kafka, dlt, options.source, filter, &histories).await?;
    let mut report = RedriveReport {
        run: run_id(),
        dry_run: options.dry_run,
        ..RedriveReport::default()
    };
    let mut plans = Vec::new();
    for listed in selected {
        let position = listed.dead_letter.position();
        match plan(listed, options) {
            Ok(plan) => plans.push(plan),
            Err(reason) => report
                .outcomes
                .push((position, Outcome::Skipped { reason })),
        }
    }
    if options.dry_run || plans.is_empty() {
        for plan in plans {
            let position = plan.listed.dead_letter.position();
            report.outcomes.push((
                position,
                Outcome::Sent {
                    topic: plan.topic,
                    copy: None,
                },
            ));
        }
        return Ok(report);
    }

    // Claim, then read the ledger back to learn which claims this run won.
    let writer = Writer::new(kafka, dlt).await?;
    let claims = entries(&report.run, options, &plans, Action::Claim);
    writer.record(&claims).await?;
    tracing::debug!(claims = claims.len(), "claims written");
    let granted: std::collections::HashSet<DeadLetterId> = Ledger::read(kafka, dlt)
        .await?
        .granted(&report.run, EpochMillis::now())
        .into_iter()
        .collect();
    let (mine, theirs): (Vec<Plan>, Vec<Plan>) = plans
        .into_iter()
        .partition(|p| granted.contains(&p.listed.id));
    for plan in theirs {
        report.outcomes.push((
            plan.listed.dead_letter.position(),
            Outcome::Skipped {
                reason: SkipReason::ClaimedByAnotherRun,
            },
        ));
    }

    tracing::debug!(granted = mine.len(), "claims read back");
    let run = report.run.clone();
    let total = mine.len();
    let started = tokio::time::Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut unsent = Vec::new();
    let mut done = 0usize;
    for (i, plan) in mine.into_iter().enumerate() {
        let due = options
            .rate
            .map(|rate| started + Duration::from_secs_f64(i as f64 / rate));
        // Wait for this record's turn (and the cap on records in flight) while the sends in
        // flight make progress.
        loop {
            let ready =
                due.is_none_or(|due| tokio::time::Instant::now() >= due) && in_flight.len() < 512;
            if ready || cancel.is_cancelled() {
                break;
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {}
                Some(result) = in_flight.next(), if !in_flight.is_empty() => {
                    done += 1;
                    progress(done, total);
                    report.outcomes.push(result?);
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {}
            }
        }
        if cancel.is_cancelled() {
            unsent.push(plan);
            continue;
        }
        in_flight.push(send_one(&writer, plan, options, &run, dlt));
    }
    while let Some(result) = in_flight.next().await {
        done += 1;
        progress(done, total);
        report.outcomes.push(result?);
    }
    tracing::debug!(sent = done, "copies acknowledged");
    if !unsent.is_empty() {
        report.interrupted = true;
        let released = entries(&report.run, options, &unsent, Action::Released);
        writer.record(&released).await?;
        for plan in unsent {
            report.outcomes.push((
                plan.listed.dead_letter.position(),
                Outcome::Skipped {
                    reason: SkipReason::Interrupted,
                },
            ));
        }
    }
    Ok(report)
}
