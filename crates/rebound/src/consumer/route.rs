//! The pure decisions of a record's trip, with no I/O: which delivery a record on a retry topic
//! is, how long until it is due, and where it goes after failing.

use std::time::Duration;

use crate::failure::{Failure, FailureClass};
use crate::headers::{NextDelivery, RetryState};
use crate::naming::TopicChain;
use crate::policy::RetryPolicy;
use crate::record::Record;
use crate::time::EpochMillis;

/// Records further in the future than this are treated as having no due time (Spring does too).
const MAX_FUTURE: Duration = Duration::from_secs(24 * 3600);

/// Where a failed record goes next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Hop {
    /// To retry topic `topic`, delivering attempt `attempt`, not before `due`.
    Retry {
        topic: String,
        attempt: u32,
        due: EpochMillis,
        delay: Duration,
    },
    /// To the dead-letter topic.
    DeadLetter { topic: String },
}

impl Hop {
    pub(crate) fn topic(&self) -> &str {
        match self {
            Hop::Retry { topic, .. } | Hop::DeadLetter { topic } => topic,
        }
    }

    /// This hop for a record failing with `failure` (of class `class`): a hop to the DLT goes to
    /// the DLT of the failure's route instead, when the policy routes it
    /// ([`dead_letter_topic`]); a retry is left as it is.
    pub(crate) fn routed(
        self,
        chain: &TopicChain,
        policy: &RetryPolicy,
        failure: &Failure,
        class: FailureClass,
    ) -> Hop {
        match self {
            Hop::DeadLetter { topic } => Hop::DeadLetter {
                topic: dead_letter_topic(chain, policy, failure, class).unwrap_or(topic),
            },
            retry => retry,
        }
    }

    /// What the copy's headers say about its next delivery.
    pub(crate) fn next_delivery(&self) -> NextDelivery {
        match self {
            Hop::Retry { attempt, due, .. } => NextDelivery::Retry {
                attempt: *attempt,
                due: *due,
            },
            Hop::DeadLetter { .. } => NextDelivery::DeadLetter,
        }
    }
}

/// Where a record goes after failing with `class` at `now`: the next retry topic while attempts
/// remain and the retry would be due within the policy's overall timeout, otherwise the DLT (if
/// the chain has one). `None`: nowhere, the record is given up.
pub(crate) fn next_hop(
    chain: &TopicChain,
    policy: &RetryPolicy,
    record: &Record,
    class: FailureClass,
    now: EpochMillis,
) -> Option<Hop> {
    if class.is_retryable() && record.attempt() < policy.attempts() {
        let next = record.attempt() + 1;
        if let Some(topic) = chain.retry_topic_for(next) {
            let delay = policy.delay_with_jitter(record.attempt());
            let due = now + delay;
            let within_timeout = policy.overall_timeout().is_none_or(|limit| {
                let origin = RetryState::read(record.headers())
                    .original_timestamp
                    .or(record.timestamp())
                    .unwrap_or(now);
                due <= origin + limit
            });
            if within_timeout {
                return Some(Hop::Retry {
                    topic: topic.name.clone(),
                    attempt: next,
                    due,
                    delay,
                });
            }
        }
    }
    chain.dlt.clone().map(|topic| Hop::DeadLetter { topic })
}

/// The DLT a record failing with `failure` (of class `class`) dies in, as Spring's
/// `getDltOrNoOpsDestination` picks it: the DLT of the policy's first route that matches the
/// failure, else the chain's DLT; `None` when the chain has no DLT.
pub(crate) fn dead_letter_topic(
    chain: &TopicChain,
    policy: &RetryPolicy,
    failure: &Failure,
    class: FailureClass,
) -> Option<String> {
    let dlt = chain.dlt.as_ref()?;
    let routed = policy
        .dlt_routes()
        .iter()
        .find(|route| route.matches(failure, class))
        .and_then(|route| {
            chain
                .routed_dlts
                .iter()
                .find(|r| r.suffix == route.suffix())
        });
    Some(routed.map_or(dlt, |r| &r.name).clone())
}

/// Which delivery a record on a retry topic is, from its header; a missing or corrupt header
/// falls back to `first_attempt`, the first delivery the topic makes (with a warning).
pub(crate) fn attempt_of(record: &Record, first_attempt: u32) -> u32 {
    match RetryState::read(record.headers()).attempt {
        Some(Ok(attempt)) => attempt,
        Some(Err(e)) => {
            tracing::warn!(record = %record.coordinates(), error = %e, "corrupt attempts header; taking attempt {first_attempt}");
            first_attempt
        }
        None => {
            tracing::warn!(record = %record.coordinates(), "no attempts header; taking attempt {first_attempt}");
            first_attempt
        }
    }
}

/// How long until a retry record is due. Missing, corrupt, past or absurd (over a day ahead) due
/// times mean "now" (`None`), as in spring-kafka 4.0.7: a last `retry_topic-backoff-timestamp`
/// of no bytes or more than 8 is ignored, and one more than a day ahead too (4.0.6).
pub(crate) fn wait_until_due(record: &Record) -> Option<Duration> {
    let due = match RetryState::read(record.headers()).due? {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(record = %record.coordinates(), error = %e, "corrupt back-off header; handling now");
            return None;
        }
    };
    let wait = due.time_until()?;
    if wait > MAX_FUTURE {
        tracing::warn!(record = %record.coordinates(), %due, "back-off timestamp more than a day ahead; handling now");
        return None;
    }
    Some(wait)
}

#[cfg(test)]
mod reading_tests;
#[cfg(test)]
mod tests;
