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

/// How a discard runs: each field named where it is written, so a reason and a name cannot trade
/// places as two `&str` arguments could.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscardOptions {
    /// Why, for whoever looks later: in the ledger entry and on the archive copy.
    pub reason: String,
    /// Who discards, for the ledger and the archive copy's headers (the library does not guess
    /// it from the environment: its caller knows who is acting).
    pub by: String,
    /// Only report what would be discarded; write nothing.
    pub dry_run: bool,
}

/// Discards the pending dead letters of `dlt` that `filter` selects, as `options` say: each is
/// copied to `<dlt>.archive`, then marked `discarded` in the ledger. Those already handled are
/// skipped. In a dry run, only reports what it would discard.
///
/// ```no_run
/// use rebound_ops::discard::{discard, DiscardOptions};
/// use rebound_ops::Filter;
///
/// # async fn run(kafka: &rebound::KafkaConfig) -> Result<(), rebound_ops::Error> {
/// let options = DiscardOptions {
///     reason: "member deleted".into(),
///     by: "alice@laptop".into(),
///     dry_run: false,
/// };
/// let filter = Filter { key: Some("nobody@naver.com".into()), ..Filter::default() };
/// let report = discard(kafka, "email.send.dlt", &filter, &options).await?;
/// println!("discarded {}", report.archived.len());
/// # Ok(())
/// # }
/// ```
pub async fn discard(
    kafka: &KafkaConfig,
    dlt: &str,
    filter: &Filter,
    options: &DiscardOptions,
) -> Result<DiscardReport, Error> {
    let DiscardOptions {
        reason,
        by,
        dry_run,
    } = options;
    let dry_run = *dry_run;
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
                by: by.clone(),
                at: EpochMillis::now(),
                to: Some(archive.clone()),
                copy: Some(copy),
                reason: Some(reason.clone()),
                force: false,
                runs: Vec::new(),
                copies: Vec::new(),
            }])
            .await?;
        report.archived.push((dl.position(), Some(copy)));
    }
    Ok(report)
}
