//! Listing dead letters with their handling state: the DLT (or its archive) read once, each
//! record joined with what the ledger says about it, kept if the filter selects it.

use std::collections::HashMap;

use rebound::KafkaConfig;

use crate::dead_letter::DeadLetter;
use crate::error::Error;
use crate::filter::Filter;
use crate::id::{DeadLetterId, Position, Source};
use crate::ledger::{History, Ledger};
use crate::listed::Listed;
use crate::reader;

/// The dead letters of `dlt` (or of its archive) that `filter` selects, oldest first.
pub async fn list(
    kafka: &KafkaConfig,
    dlt: &str,
    source: Source,
    filter: &Filter,
) -> Result<Vec<Listed>, Error> {
    let ledger = Ledger::read(kafka, dlt).await?;
    let histories = ledger.histories();
    list_with(kafka, dlt, source, filter, &histories).await
}

/// [`list`] with the ledger already read: redrive and discard read it once for both.
pub(crate) async fn list_with(
    kafka: &KafkaConfig,
    dlt: &str,
    source: Source,
    filter: &Filter,
    histories: &HashMap<DeadLetterId, History>,
) -> Result<Vec<Listed>, Error> {
    let records = reader::scan(kafka, &source.topic(dlt));
    let first = None::<fn(&Listed) -> bool>;
    list_from(kafka, records, source, filter, histories, first).await
}

/// [`list_with`] from a read of the source already made (and perhaps started: a redrive starts
/// it before reading the ledger). `first` hears each dead letter the filter selects until it
/// answers `true`, and is dropped then or at the end (a redrive starts creating its topics once
/// it has something to send).
pub(crate) async fn list_from(
    kafka: &KafkaConfig,
    mut records: reader::Scan,
    source: Source,
    filter: &Filter,
    histories: &HashMap<DeadLetterId, History>,
    mut first: Option<impl FnMut(&Listed) -> bool>,
) -> Result<Vec<Listed>, Error> {
    // One record at a time: only what the filter selects (at most twice the limit) is kept.
    let mut selection = filter.selection();
    while let Some(record) = records.next().await {
        let mut listed = Listed::new(DeadLetter::from_record(record?), source, History::default());
        if let Some(history) = histories.get(&listed.id) {
            listed.status = history.status();
            listed.history = history.clone();
        }
        if let Some(heard) = &mut first {
            if filter.matches(&listed.dead_letter, listed.status) && heard(&listed) {
                first = None;
            }
        }
        selection.offer(listed);
    }
    drop(first);
    // Only what is shown or sent: a pointer costs a read of its source.
    let mut selected = selection.finish();
    for listed in &mut selected {
        crate::pointer::resolve(kafka, &mut listed.dead_letter).await;
    }
    Ok(selected)
}

/// One dead letter by position, whatever its state.
pub async fn show(
    kafka: &KafkaConfig,
    dlt: &str,
    source: Source,
    position: Position,
) -> Result<Listed, Error> {
    let filter = Filter {
        positions: vec![position],
        ..Filter::default()
    };
    list(kafka, dlt, source, &filter)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::NotFound {
            topic: source.topic(dlt),
            position,
        })
}
