//! One redriven copy and the ledger entries of a run: the copy carries the redrive stamp (who,
//! when, which run, from where) and goes to its planned partition, or where its key lands when
//! that partition no longer exists.

use std::collections::{BTreeMap, HashMap};

use rebound::headers::{Headers, RedriveStamp};
use rebound::naming::archive_topic;
use rebound::EpochMillis;

use crate::dialect::Dialect;
use crate::id::{DeadLetterId, Position, Source};
use crate::ledger::{ranged, Action, Entry};

use super::{Plan, RedriveOptions};

/// A copy ready to send: its dead letter's plan, its headers (the dead letter's own the copy
/// keeps, and the run's stamp), and the partition it goes to (`None`: the key decides).
pub(super) struct Stamped {
    pub(super) plan: Plan,
    pub(super) headers: Headers,
    pub(super) partition: Option<i32>,
    /// The copy's span, ended when the copy is dropped: acknowledged, or given up.
    #[cfg(feature = "opentelemetry")]
    pub(super) _span: Option<super::trace::RedriveSpan>,
}

/// Stamps a run's copies. Which of a dead letter's headers a copy keeps depends on the header's
/// key alone (the stamp drops a chain's and earlier operators' headers by key, and other
/// writers' failure headers go by key too), so each key is judged once per run, not once per
/// copy: the copies of 40,000 Spring dead letters share a dozen keys, most of them dropped.
pub(super) struct Stamps<'a> {
    options: &'a RedriveOptions,
    run: &'a str,
    /// Where the dead letters are: the DLT, or the archive for a copy redriven from there.
    source: String,
    kept: HashMap<String, bool>,
    /// The last dead letter's header keys and whether its copy kept each: a run's dead letters
    /// mostly share one list of keys, compared faster than each key is hashed.
    last: Vec<(String, bool)>,
    #[cfg(feature = "opentelemetry")]
    tracer: super::trace::RunTracer,
}

impl<'a> Stamps<'a> {
    pub(super) fn new(options: &'a RedriveOptions, run: &'a str, dlt: &str) -> Stamps<'a> {
        let source = match options.source {
            Source::Dlt => dlt.to_string(),
            Source::Archive => archive_topic(dlt),
        };
        Stamps {
            options,
            run,
            source,
            kept: HashMap::new(),
            last: Vec::new(),
            #[cfg(feature = "opentelemetry")]
            tracer: super::trace::RunTracer::global(),
        }
    }

    /// The copy of `plan`'s dead letter, stamped.
    pub(super) fn copy(&mut self, plan: Plan) -> Stamped {
        let dl = &plan.listed.dead_letter;
        let from = dl.position().in_topic(&self.source).to_string();
        let stamp = RedriveStamp {
            run: self.run,
            count: dl.redrive_count + plan.listed.history.redrives + 1,
            at: EpochMillis::now(),
            by: &self.options.by,
            from: &from,
        }
        .headers_for(&Headers::new());
        let own = dl.body().headers();
        let same_keys = self.last.len() == own.len()
            && self
                .last
                .iter()
                .zip(own.iter())
                .all(|((k, _), h)| *k == h.key);
        if !same_keys {
            let kept = &mut self.kept;
            self.last = own
                .iter()
                .map(|h| (h.key.clone(), keeps(kept, &h.key)))
                .collect();
        }
        #[cfg_attr(not(feature = "opentelemetry"), allow(unused_mut))]
        let mut headers: Headers = own
            .iter()
            .zip(&self.last)
            .filter_map(|(h, (_, keep))| keep.then_some(h))
            .chain(stamp.iter())
            .cloned()
            .collect();
        #[cfg(feature = "opentelemetry")]
        let _span = super::trace::start(
            &self.tracer,
            own,
            &from,
            &plan.topic,
            self.run,
            &mut headers,
        );
        Stamped {
            partition: plan.partition,
            plan,
            headers,
            #[cfg(feature = "opentelemetry")]
            _span,
        }
    }
}

/// Whether a copy keeps a dead letter's header named `key`, asked once per key of `kept`: of
/// [`RedriveStamp::headers_for`] itself (one header with that key, stamped: kept when the stamp
/// comes out one header longer than a bare stamp), then of the dialects (another writer's
/// failure headers are dropped: a redriven copy starts afresh, as Spring's chain headers are
/// dropped by the stamp).
fn keeps(kept: &mut HashMap<String, bool>, key: &str) -> bool {
    if let Some(keep) = kept.get(key) {
        return *keep;
    }
    let stamp = RedriveStamp {
        run: "",
        count: 0,
        at: EpochMillis::new(0),
        by: "",
        from: "",
    };
    let mut alone = Headers::new();
    alone.push(key, Vec::new());
    let by_stamp = stamp.headers_for(&alone).len() > stamp.headers_for(&Headers::new()).len();
    let by_dialect = !matches!(
        Dialect::of_header(key),
        Some(Dialect::Connect | Dialect::ShareGroup | Dialect::Streams)
    );
    kept.insert(key.to_string(), by_stamp && by_dialect);
    by_stamp && by_dialect
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
pub(super) fn entry(
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
