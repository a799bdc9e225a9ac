//! Discarding dead letters without losing them: an archive copy first (payload, headers, reason,
//! who, when), then the `discarded` ledger entry. Nothing is deleted from Kafka.

use rebound::headers::DiscardStamp;
use rebound::naming::archive_topic;
use rebound::{EpochMillis, KafkaConfig};

use crate::dead_letter::Status;
use crate::error::Error;
use crate::filter::Filter;
use crate::id::{Position, Source};
use crate::ledger::{run_id, Action, Entry, Ledger};
use crate::list::list_with;
use crate::skip::SkipReason;
use crate::write::Writer;

/// What a discard did.
#[derive(Debug, Clone, Default)]
pub struct DiscardReport {
    /// The run's id: the `run` of its ledger entries.
    pub run: String,
    /// A dry run: nothing was written.
    pub dry_run: bool,
    /// Discarded dead letters and where their archive copy is (`None` in a dry run).
    pub archived: Vec<(Position, Option<Position>)>,
    /// Selected dead letters left alone, and why.
    pub skipped: Vec<(Position, SkipReason)>,
}

/// Discards the pending dead letters of `dlt` that `filter` selects, for `reason`, by `by` (who,
/// for the ledger and the archive copy's headers): each is copied to `<dlt>.archive`, then marked
/// `discarded` in the ledger. Those already handled are skipped. With `dry_run`, only reports
/// what it would discard.
pub async fn discard(
    kafka: &KafkaConfig,
    dlt: &str,
    filter: &Filter,
    reason: &str,
    by: &str,
    dry_run: bool,
) -> Result<DiscardReport, Error> {
    let histories = Ledger::read(kafka, dlt).await?.histories();
    let selected = list_with(kafka, dlt, Source::Dlt, filter, &histories).await?;
    let mut report = DiscardReport {
        run: run_id(),
        dry_run,
        ..DiscardReport::default()
    };
    let (pending, done): (Vec<_>, Vec<_>) = selected
        .into_iter()
        .partition(|l| l.status == Status::Pending);
    for listed in done {
        let why = SkipReason::AlreadyHandled(listed.status);
        report.skipped.push((listed.dead_letter.position(), why));
    }
    if dry_run {
        report.archived = pending
            .iter()
            .map(|l| (l.dead_letter.position(), None))
            .collect();
        return Ok(report);
    }
    if pending.is_empty() {
        return Ok(report);
    }
    let writer = Writer::new(kafka, dlt).await?;
    let archive = archive_topic(dlt);
    for listed in pending {
        let dl = &listed.dead_letter;
        let dead_letter = dl.position().in_topic(dlt).to_string();
        let headers = DiscardStamp {
            reason,
            by,
            at: EpochMillis::now(),
            dead_letter: &dead_letter,
        }
        .headers_for(dl.record.headers());
        // The archive copy first: if the ledger entry then fails, the dead letter still shows as
        // pending and a second discard archives it again; it is never marked without a copy.
        let copy = writer
            .send(
                &archive,
                Some(0),
                dl.record.key(),
                dl.record.payload(),
                &headers,
            )
            .await?;
        writer
            .record(&[Entry {
                v: 1,
                dead_letter: listed.id,
                action: Action::Discarded,
                run: report.run.clone(),
                by: by.to_string(),
                at: EpochMillis::now(),
                to: Some(archive.clone()),
                copy: Some(copy),
                reason: Some(reason.to_string()),
                force: false,
            }])
            .await?;
        report.archived.push((dl.position(), Some(copy)));
    }
    Ok(report)
}
