//! The per-record metrics of one consumer group's member: a set of handles per topic of the
//! chain, registered once when the member starts, so recording one is an atomic add (or nothing,
//! with no recorder) and never builds a label.

use std::borrow::Cow;
use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};

use super::{
    COPIES_IN_FLIGHT, COPY_FAILURES, HANDLER_DURATION, LATENESS, RECORDS_DEAD_LETTERED,
    RECORDS_FAILED, RECORDS_HANDLED, RECORDS_RETRIED,
};
use crate::failure::FailureClass;
use crate::headers::RetryState;
use crate::naming::{Stage, TopicChain};
use crate::record::Record;
use crate::time::EpochMillis;

/// Every failure class, in the order of [`TopicMetrics::failed`].
const CLASSES: [FailureClass; 3] = [
    FailureClass::Transient,
    FailureClass::Permanent,
    FailureClass::Undecodable,
];

/// The `stage` label of a topic of `chain`.
pub(crate) fn stage_label(chain: &TopicChain, topic: &str) -> &'static str {
    match chain.stage_of(topic) {
        Some(Stage::Main) => "main",
        Some(Stage::Retry(_)) => "retry",
        Some(Stage::Dlt) => "dlt",
        // A topic the chain does not name (it grew since, or a caller's own): still counted.
        None => "other",
    }
}

/// How late a record reached its handler: `now` past `due`, zero if early (clocks disagree).
pub(crate) fn lateness(due: EpochMillis, now: EpochMillis) -> Duration {
    now.since(due).unwrap_or(Duration::ZERO)
}

/// One topic's handles.
#[derive(Clone)]
pub(crate) struct TopicMetrics {
    retry_stage: bool,
    handled: Counter,
    failed: [Counter; CLASSES.len()],
    retried: Counter,
    dead_lettered: Counter,
    copy_failures: Counter,
    duration: Histogram,
    lateness: Histogram,
}

impl TopicMetrics {
    fn register(group: &str, topic: &str, stage: &'static str) -> Self {
        let labels = [
            ("group", group.to_string()),
            ("topic", topic.to_string()),
            ("stage", stage.to_string()),
        ];
        let failed = CLASSES.map(|class| {
            let mut labels = labels.to_vec();
            labels.push(("class", class.as_str().to_string()));
            counter!(RECORDS_FAILED, &labels)
        });
        TopicMetrics {
            retry_stage: stage == "retry",
            handled: counter!(RECORDS_HANDLED, &labels),
            failed,
            retried: counter!(RECORDS_RETRIED, &labels),
            dead_lettered: counter!(RECORDS_DEAD_LETTERED, &labels),
            copy_failures: counter!(COPY_FAILURES, &labels),
            duration: histogram!(HANDLER_DURATION, &labels),
            // Only a retry topic has due times: no empty series for the others.
            lateness: match stage {
                "retry" => histogram!(LATENESS, &labels),
                _ => Histogram::noop(),
            },
        }
    }
}

/// A member's handles: per topic of its chain, and its copies in flight.
pub(crate) struct ChainMetrics {
    group: String,
    chain: TopicChain,
    /// A handful of topics, looked up on every record: a scan of short names is cheaper than
    /// hashing the name (SipHash was 8 % of a no-op handler's time).
    topics: Vec<(String, TopicMetrics)>,
    copies_in_flight: CopyGauge,
}

impl ChainMetrics {
    /// Registers the handles of the `topics` of `chain` the member of `group` reads (each a
    /// series from the start, so a dashboard sees its zero before its first record).
    pub(crate) fn new(group: &str, chain: &TopicChain, topics: &[&str]) -> Self {
        let topics = topics
            .iter()
            .map(|topic| {
                let stage = stage_label(chain, topic);
                (
                    topic.to_string(),
                    TopicMetrics::register(group, topic, stage),
                )
            })
            .collect();
        ChainMetrics {
            group: group.to_string(),
            chain: chain.clone(),
            topics,
            copies_in_flight: CopyGauge(gauge!(COPIES_IN_FLIGHT, "group" => group.to_string())),
        }
    }

    fn topic(&self, topic: &str) -> Cow<'_, TopicMetrics> {
        match self.topics.iter().find(|(name, _)| name == topic) {
            Some((_, metrics)) => Cow::Borrowed(metrics),
            None => Cow::Owned(TopicMetrics::register(
                &self.group,
                topic,
                stage_label(&self.chain, topic),
            )),
        }
    }

    /// A record of `topic` reached its handler: on a retry topic, how late after its due time.
    pub(crate) fn started(&self, record: &Record) {
        let metrics = self.topic(record.topic());
        if !metrics.retry_stage {
            return;
        }
        if let Some(Ok(due)) = RetryState::read(record.headers()).due {
            let late = lateness(due, EpochMillis::now());
            metrics.lateness.record(late.as_secs_f64());
        }
    }

    pub(crate) fn handled(&self, topic: &str, took: Duration) {
        let metrics = self.topic(topic);
        metrics.handled.increment(1);
        metrics.duration.record(took.as_secs_f64());
    }

    pub(crate) fn failed(&self, topic: &str, class: FailureClass, took: Duration) {
        let metrics = self.topic(topic);
        let index = CLASSES.iter().position(|c| *c == class).unwrap_or(0);
        metrics.failed[index].increment(1);
        metrics.duration.record(took.as_secs_f64());
    }

    pub(crate) fn retried(&self, from: &str) {
        self.topic(from).retried.increment(1);
    }

    pub(crate) fn dead_lettered(&self, from: &str) {
        self.topic(from).dead_lettered.increment(1);
    }

    pub(crate) fn copy_failed(&self, from: &str) {
        self.topic(from).copy_failures.increment(1);
    }

    /// The gauge of copies in flight, for the partition tasks that send them.
    pub(crate) fn copies(&self) -> CopyGauge {
        self.copies_in_flight.clone()
    }
}

/// `rebound_copies_in_flight` of one member.
#[derive(Clone)]
pub(crate) struct CopyGauge(Gauge);

impl CopyGauge {
    /// Counts a copy in flight until the guard is dropped.
    pub(crate) fn count(&self) -> CopiesInFlight {
        self.0.increment(1.0);
        CopiesInFlight(self.0.clone())
    }
}

/// One copy in flight, counted by `rebound_copies_in_flight` until dropped.
pub(crate) struct CopiesInFlight(Gauge);

impl Drop for CopiesInFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
