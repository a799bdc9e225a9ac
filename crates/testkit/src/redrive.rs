//! Redriving a DLT as a test does it: `rebound_ops`' redrive with its default options, not
//! cancelled, its progress unwatched; and what a redriven copy must not carry.

use rebound::{KafkaConfig, Record};
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
