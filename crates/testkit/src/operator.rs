//! A test as the on-call operator: a DLT's dead letters redriven (`rebound_ops`' redrive with its
//! default options, not cancelled, its progress unwatched) or discarded, and what a redriven copy
//! must not carry. Each panics when the operation fails.

use rebound::{KafkaConfig, Record};
use rebound_ops::discard::{discard, DiscardOptions, DiscardReport};
use rebound_ops::redrive::{redrive, RedriveOptions, RedriveReport};
use rebound_ops::Filter;
use tokio_util::sync::CancellationToken;

/// Redrives the dead letters of `dlt` that `filter` selects, in the name of `by`, with the
/// default options; panics when the redrive fails.
pub async fn redrive_selected(
    kafka: &KafkaConfig,
    dlt: &str,
    filter: &Filter,
    by: &str,
) -> RedriveReport {
    redrive(
        kafka,
        dlt,
        filter,
        &RedriveOptions::new(by),
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap_or_else(|e| panic!("redriving {dlt} failed: {e:#}"))
}

/// Redrives every dead letter of `dlt` in the name of `by`, with the default options.
pub async fn redrive_all(kafka: &KafkaConfig, dlt: &str, by: &str) -> RedriveReport {
    redrive_selected(kafka, dlt, &Filter::default(), by).await
}

/// Discards the dead letters of `dlt` that `filter` selects, for `reason`, in the name of `by`
/// (archived, not a dry run).
pub async fn discard_selected(
    kafka: &KafkaConfig,
    dlt: &str,
    filter: &Filter,
    reason: &str,
    by: &str,
) -> DiscardReport {
    let options = DiscardOptions {
        reason: reason.into(),
        by: by.into(),
        dry_run: false,
    };
    discard(kafka, dlt, filter, &options)
        .await
        .unwrap_or_else(|e| panic!("discarding from {dlt} failed: {e:#}"))
}

/// Panics unless `record` carries no header whose name starts with `prefix`: a redriven copy
/// starts afresh, without the failure headers its writer (`__connect.errors.`, `__dlq.`,
/// `__streams.`) put on the dead letter.
pub fn assert_no_header_prefixed(record: &Record, prefix: &str) {
    let found: Vec<&str> = record
        .headers()
        .iter()
        .map(|h| h.key.as_str())
        .filter(|key| key.starts_with(prefix))
        .collect();
    assert!(
        found.is_empty(),
        "{} carries {found:?}, a redriven copy starts afresh: {:?}",
        record.coordinates(),
        record.headers()
    );
}
