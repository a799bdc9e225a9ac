//! One redriven copy and the ledger entries of a run: the copy carries the redrive stamp (who,
//! when, which run, from where) and goes to its planned partition, or where its key lands when
//! that partition no longer exists.

use std::collections::BTreeMap;

use rebound::headers::RedriveStamp;
use rebound::naming::archive_topic;
use rebound::EpochMillis;

use crate::dialect::Dialect;
use crate::error::Error;
use crate::id::{DeadLetterId, Position, Source};
use crate::ledger::{ranged, Action, Entry};
use crate::write::Writer;

use super::{Outcome, Plan, RedriveOptions};

/// A copy the cluster acknowledged: where its dead letter is, what happened to it, and the
/// `redriven` entry that says so, for the caller to write to the ledger (after the
/// acknowledgement: an entry never claims a copy that is not there).
pub(super) struct Acknowledged {
    pub(super) position: Position,
    pub(super) outcome: Outcome,
    pub(super) entry: Entry,
}

/// Sends one planned copy and waits for its acknowledgement.
pub(super) async fn send_one(
    writer: &Writer,
    plan: Plan,
    options: &RedriveOptions,
    run: &str,
    dlt: &str,
) -> Result<Acknowledged, Error> {
    let dl = &plan.listed.dead_letter;
    // Where the dead letter is: the DLT, or the archive for a copy redriven from there.
    let topic = match options.source {
        Source::Dlt => dlt.to_string(),
        Source::Archive => archive_topic(dlt),
    };
    let from = dl.position().in_topic(&topic).to_string();
    let headers = RedriveStamp {
        run,
        count: dl.redrive_count + plan.listed.history.redrives + 1,
        at: EpochMillis::now(),
        by: &options.by,
        from: &from,
    }
    .headers_for(dl.body().headers());
    #[cfg_attr(not(feature = "opentelemetry"), allow(unused_mut))]
    let mut headers = without_dialect_headers(headers);
    #[cfg(feature = "opentelemetry")]
    let _span = super::trace::start(dl.body().headers(), &from, &plan.topic, run, &mut headers);
    // A resolved share-group pointer sends its source record, not the empty pointer.
    let body = dl.body();
    let send =
        |partition| writer.send(&plan.topic, partition, body.key(), body.payload(), &headers);
    // The original partition may not exist in the target any more: let the key decide then.
    let copy = match send(plan.partition).await {
        Ok(copy) => copy,
        Err(_) if plan.partition.is_some() => send(None).await?,
        Err(e) => return Err(e),
    };
    let mut done = entry(
        run,
        options,
        plan.listed.id,
        Action::Redriven,
        Some(&plan.topic),
    );
    done.copy = Some(copy);
    Ok(Acknowledged {
        position: dl.position(),
        outcome: Outcome::Sent {
            topic: plan.topic.clone(),
            copy: Some(copy),
        },
        entry: done,
    })
}

/// `headers` without another writer's failure headers (Connect's, a share group's, Streams'): a
/// redriven copy starts afresh, as Spring's chain headers are dropped by the stamp.
fn without_dialect_headers(headers: rebound::headers::Headers) -> rebound::headers::Headers {
    headers
        .iter()
        .filter(|h| {
            !matches!(
                Dialect::of_header(&h.key),
                Some(Dialect::Connect | Dialect::ShareGroup | Dialect::Streams)
            )
        })
        .cloned()
        .collect()
}

/// The ledger entries of `action` about `plans`: by range, a few entries per partition of the
/// source (and per target topic, which a claim names) instead of one per dead letter; releases
/// may say why.
pub(super) fn entries(
    run: &str,
    options: &RedriveOptions,
    plans: &[Plan],
    action: Action,
    reason: Option<&str>,
) -> Vec<Entry> {
    let mut by_topic: BTreeMap<Option<&str>, Vec<(DeadLetterId, Option<Position>)>> =
        BTreeMap::new();
    for plan in plans {
        let to = (action == Action::Claim).then_some(plan.topic.as_str());
        by_topic.entry(to).or_default().push((plan.listed.id, None));
    }
    by_topic
        .into_iter()
        .flat_map(|(to, letters)| {
            let template = Entry {
                reason: reason.map(String::from),
                ..entry(run, options, letters[0].0, action, to)
            };
            ranged(&template, letters)
        })
        .collect()
}

/// An entry of this run about `dead_letter`.
fn entry(
    run: &str,
    options: &RedriveOptions,
    dead_letter: DeadLetterId,
    action: Action,
    to: Option<&str>,
) -> Entry {
    Entry {
        v: 1,
        dead_letter,
        action,
        run: run.to_string(),
        by: options.by.clone(),
        at: EpochMillis::now(),
        to: to.map(String::from),
        copy: None,
        reason: None,
        force: options.force,
        runs: Vec::new(),
        copies: Vec::new(),
    }
}
