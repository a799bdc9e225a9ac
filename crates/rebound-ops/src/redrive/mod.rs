//! Sending dead letters back to their original topic (or another), safely: claimed in the ledger
//! first so two operators never send the same dead letter twice, rate-limited on request, and
//! recorded as the copies are acknowledged so an interruption leaves nothing half-done.
//!
//! A redrive can also watch its own outcome ([`RedriveOptions::canary`],
//! [`RedriveOptions::pause_above`]): the copies it sent that die again come back to the DLT
//! carrying the run's id, and a run that sees too many of them stops sending and releases the
//! rest, the reason written in the ledger, instead of feeding a still-broken consumer its whole
//! selection.

use std::ops::Not;

use tokio_util::sync::CancellationToken;

use rebound::{EpochMillis, KafkaConfig};

use crate::error::Error;
use crate::filter::Filter;
use crate::id::{DeadLetterId, Position};
use crate::ledger::{run_id, Action, Ledger};
use crate::list::list_from;
use crate::listed::Listed;
use crate::reader;
use crate::skip::SkipReason;
use crate::write::Writer;

mod options;
mod pause;
mod plan;
mod reports;
mod returns;
mod send;
mod sending;
#[cfg(feature = "opentelemetry")]
mod trace;

pub use options::RedriveOptions;
pub use pause::{share_of_percent, Canary, Pause, DEFAULT_PAUSE_ABOVE};
use plan::{plan, Plan};
use returns::Returns;
use send::entries;
use sending::Sending;

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
    /// It paused itself: too many of its copies came back (the rest were released).
    pub paused: Option<Pause>,
    /// Dead letters whose copies came back to the DLT while the run watched (a canary or
    /// `pause_above`; 0 when it did not watch).
    pub returned: usize,
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

/// Where a running redrive is, as its progress callback hears it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RedriveProgress {
    /// Copies acknowledged so far.
    pub sent: usize,
    /// Dead letters the run will send (the claims it won).
    pub total: usize,
    /// Dead letters whose copies came back to the DLT so far (when the run watches).
    pub returned: usize,
    /// The canary is out: the rest waits until then, or until the run pauses.
    pub waiting_until: Option<EpochMillis>,
}

/// Progress callbacks: called after each record and when a canary's wait starts or ends.
pub type Progress<'a> = &'a (dyn Fn(RedriveProgress) + Sync);

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
    tracing::debug!(dlt, "redrive started");
    // The source's read starts beside the ledger's, and the writer (its producer, which ledger
    // topics are missing) opens while the source is listed: three round trips overlapped.
    let mut records = reader::scan(kafka, &options.source.topic(dlt));
    records.start();
    // The ledger's consumer is kept where its read ended: the claims are read back from there.
    let (mut ledger, resume) = Ledger::read_resumable(kafka, dlt).await?;
    let histories = ledger.histories();
    tracing::debug!(entries = ledger.entries.len(), "ledger read");
    // The ledger and archive topics are created as soon as the listing selects a dead letter
    // the run would send, beside the rest of the listing: a run that selects nothing to send
    // (or a dry one) creates nothing.
    let (sendable, selected_one) = tokio::sync::oneshot::channel();
    let mut sendable = Some(sendable);
    let first = options.dry_run.not().then_some(move |listed: &Listed| {
        let wanted = plan::target(listed, options).is_ok();
        // Taken only for one to send: a first selected dead letter that is skipped must not
        // drop the sender (the topics would then wait for the listing's end).
        if let Some(sendable) = sendable.take_if(|_| wanted) {
            let _ = sendable.send(());
        }
        wanted
    });
    let writer = async {
        if options.dry_run {
            return Ok(None);
        }
        let mut writer = Writer::open(kafka, dlt).await?;
        if selected_one.await.is_ok() {
            writer.create_missing(kafka).await?;
            tracing::debug!("ledger and archive topics ready");
        }
        Ok(Some(writer))
    };
    let listing = list_from(kafka, records, options.source, filter, &histories, first);
    let (selected, writer) = tokio::try_join!(listing, writer)?;
    tracing::debug!(selected = selected.len(), "dead letters listed");
    let mut report = RedriveReport {
        run: run_id(),
        dry_run: options.dry_run,
        ..RedriveReport::default()
    };
    // Sized once: a plan holds its dead letter, and growing a vector of 200,000 moved them all
    // again at each doubling (page faults and copies, BENCHMARKS.md 5d).
    let mut plans = Vec::with_capacity(selected.len());
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

    // Claim, then read the ledger on to learn which claims this run won. The topics were
    // created with the first dead letter to send (a no-op here, unless none was sendable).
    let mut writer = writer.expect("a run that is not dry opens its writer");
    writer.create_missing(kafka).await?;
    let claims = entries(&report.run, options, &plans, Action::Claim, None);
    let claimed_to = writer.record(&claims).await?;
    tracing::debug!(
        claimed = plans.len(),
        entries = claims.len(),
        "claims written"
    );
    // From where the first read ended to this run's last claim: every claim written before this
    // run's own is there (the ledger's one partition orders them), and what comes after cannot
    // change which of its claims were granted.
    let until = claimed_to.expect("a run with something to send writes claims");
    ledger.read_on(resume, until).await?;
    let granted: std::collections::HashSet<DeadLetterId> = ledger
        .granted(&report.run, EpochMillis::now())
        .into_iter()
        .collect();
    // In place: what another run holds is taken out, the rest does not move (two new vectors
    // moved every plan once more).
    let mut mine = plans;
    mine.retain(|plan| {
        let granted = granted.contains(&plan.listed.id);
        if !granted {
            report.outcomes.push((
                plan.listed.dead_letter.position(),
                Outcome::Skipped {
                    reason: SkipReason::ClaimedByAnotherRun,
                },
            ));
        }
        granted
    });

    tracing::debug!(granted = mine.len(), "claims read back");
    let watching = options.canary.is_some() || options.pause_above.is_some();
    let returns = match watching {
        true => Some(Returns::watch(kafka, dlt, &report.run).await?),
        false => None,
    };
    let run = report.run.clone();
    let mut sending = Sending::new(
        &writer,
        options,
        &run,
        dlt,
        mine.len(),
        returns.as_ref(),
        progress,
    );
    let unsent = sending.send_all(mine, cancel, &mut report).await?;
    report.returned = sending.returned();
    sending.free_later();
    tracing::debug!(sent = sending.sent, "copies acknowledged");
    if !unsent.is_empty() {
        let reason = match &report.paused {
            Some(pause) => {
                tracing::warn!(run = %report.run, "redrive paused: {pause}");
                SkipReason::Paused
            }
            None => {
                report.interrupted = true;
                SkipReason::Interrupted
            }
        };
        let why = report.paused.as_ref().map(|p| format!("paused: {p}"));
        let released = entries(
            &report.run,
            options,
            &unsent,
            Action::Released,
            why.as_deref(),
        );
        writer.record(&released).await?;
        for plan in unsent {
            report.outcomes.push((
                plan.listed.dead_letter.position(),
                Outcome::Skipped {
                    reason: reason.clone(),
                },
            ));
        }
    }
    // Everything it wrote is acknowledged: its producer's threads stop off the run's path.
    reader::close_later(writer);
    Ok(report)
}
