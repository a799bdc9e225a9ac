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
mod tests {
    use super::*;
    use crate::headers::ORIGINAL_TIMESTAMP_RETRY;
    use crate::headers::{encode_big_integer, encode_i32, Headers, ATTEMPTS, BACKOFF_TIMESTAMP};
    use crate::policy::Backoff;

    const NOW: EpochMillis = EpochMillis::new(1_764_320_000_000);

    fn scenario() -> (TopicChain, RetryPolicy) {
        let policy = RetryPolicy::new(5)
            .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
            .dlt_suffix(".dlt");
        (TopicChain::new("email.send", &policy), policy)
    }

    fn on(topic: &str, attempt: u32) -> Record {
        Record::new(topic, 0, 0)
            .with_timestamp(NOW)
            .with_attempt(attempt)
    }

    #[test]
    fn the_scenarios_chain_step_by_step() {
        let (chain, policy) = scenario();
        // (topic, attempt, class, Some((next topic, next attempt, delay ms)) or None for the DLT)
        type Case<'a> = (&'a str, u32, FailureClass, Option<(&'a str, u32, u64)>);
        let cases: &[Case] = &[
            (
                "email.send",
                1,
                FailureClass::Transient,
                Some(("email.send-retry-1000", 2, 1000)),
            ),
            (
                "email.send-retry-1000",
                2,
                FailureClass::Transient,
                Some(("email.send-retry-2000", 3, 2000)),
            ),
            (
                "email.send-retry-2000",
                3,
                FailureClass::Transient,
                Some(("email.send-retry-4000", 4, 4000)),
            ),
            (
                "email.send-retry-4000",
                4,
                FailureClass::Transient,
                Some(("email.send-retry-8000", 5, 8000)),
            ),
            // Out of attempts, or never retryable: the DLT.
            ("email.send-retry-8000", 5, FailureClass::Transient, None),
            ("email.send", 1, FailureClass::Permanent, None),
            ("email.send-retry-2000", 3, FailureClass::Undecodable, None),
        ];
        for (topic, attempt, class, expected) in cases {
            let hop = next_hop(&chain, &policy, &on(topic, *attempt), *class, NOW).unwrap();
            let expected = match expected {
                Some((to, next, ms)) => Hop::Retry {
                    topic: to.to_string(),
                    attempt: *next,
                    due: NOW + Duration::from_millis(*ms),
                    delay: Duration::from_millis(*ms),
                },
                None => Hop::DeadLetter {
                    topic: "email.send.dlt".into(),
                },
            };
            assert_eq!(hop, expected, "{topic} attempt {attempt} {class}");
        }
    }

    #[test]
    fn without_a_dlt_a_record_out_of_attempts_goes_nowhere() {
        let policy = RetryPolicy::new(2).without_dlt();
        let chain = TopicChain::new("t", &policy);
        assert_eq!(
            next_hop(
                &chain,
                &policy,
                &on("t-retry", 2),
                FailureClass::Transient,
                NOW
            ),
            None
        );
        assert!(next_hop(&chain, &policy, &on("t", 1), FailureClass::Transient, NOW).is_some());
    }

    #[derive(Debug, thiserror::Error)]
    #[error("no such mailbox")]
    struct InvalidAddress;

    #[derive(Debug, thiserror::Error)]
    #[error("send failed")]
    struct SendFailed(#[source] InvalidAddress);

    #[test]
    fn a_routed_failure_dies_in_its_own_dlt_after_the_same_retries() {
        use crate::policy::DltRoute;
        let policy = RetryPolicy::new(3)
            .backoff(Backoff::Fixed(Duration::from_secs(1)))
            .dlt_route(DltRoute::new("-invalid").on::<InvalidAddress>())
            .dlt_route(DltRoute::new("-deserialization").on_class(FailureClass::Undecodable))
            // A second route for the same type never wins: the first that matches does.
            .dlt_route(DltRoute::new("-other").on::<InvalidAddress>());
        let chain = TopicChain::new("t", &policy);
        assert_eq!(
            chain.topic_names(),
            [
                "t",
                "t-retry",
                "t-invalid-dlt",
                "t-deserialization-dlt",
                "t-other-dlt",
                "t-dlt"
            ]
        );
        let (transient, permanent) = (FailureClass::Transient, FailureClass::Permanent);
        // (topic, attempt, failure, class, where the copy goes)
        let cases: Vec<(&str, u32, Failure, FailureClass, &str)> = vec![
            // Routes do not shorten the retries.
            (
                "t",
                1,
                Failure::transient(InvalidAddress),
                transient,
                "t-retry",
            ),
            (
                "t-retry",
                2,
                Failure::transient(InvalidAddress),
                transient,
                "t-retry",
            ),
            // Out of attempts: the route's DLT; the type anywhere in the chain of sources.
            (
                "t-retry",
                3,
                Failure::transient(InvalidAddress),
                transient,
                "t-invalid-dlt",
            ),
            (
                "t-retry",
                3,
                SendFailed(InvalidAddress).into(),
                transient,
                "t-invalid-dlt",
            ),
            ("t-retry", 3, Failure::msg("busy"), transient, "t-dlt"),
            // Never retried: at once to the route's DLT, or the DLT.
            (
                "t",
                1,
                Failure::permanent(InvalidAddress),
                permanent,
                "t-invalid-dlt",
            ),
            (
                "t",
                1,
                Failure::undecodable("not JSON"),
                FailureClass::Undecodable,
                "t-deserialization-dlt",
            ),
            ("t", 1, Failure::permanent("no"), permanent, "t-dlt"),
        ];
        for (topic, attempt, failure, class, expected) in cases {
            let hop = next_hop(&chain, &policy, &on(topic, attempt), class, NOW)
                .unwrap()
                .routed(&chain, &policy, &failure, class);
            assert_eq!(
                hop.topic(),
                expected,
                "{topic} attempt {attempt} {failure:?}"
            );
        }
        // Past the overall timeout, a routed failure goes to its DLT too.
        let timed = policy.clone().timeout(Duration::from_millis(500));
        let hop = next_hop(&chain, &timed, &on("t", 1), transient, NOW)
            .unwrap()
            .routed(
                &chain,
                &timed,
                &Failure::transient(InvalidAddress),
                transient,
            );
        assert_eq!(hop.topic(), "t-invalid-dlt");
        // Without a DLT there are no routed DLTs either (Spring's NO_DLT).
        let none = policy.clone().without_dlt();
        let chain = TopicChain::new("t", &none);
        assert!(chain.routed_dlts.is_empty());
        let failure = Failure::permanent(InvalidAddress);
        assert_eq!(next_hop(&chain, &none, &on("t", 1), permanent, NOW), None);
        assert_eq!(dead_letter_topic(&chain, &none, &failure, permanent), None);
    }

    #[test]
    fn the_overall_timeout_counts_from_the_first_record() {
        let (chain, _) = scenario();
        let policy = scenario().1.timeout(Duration::from_secs(5));
        // The first record was written 3 s ago: a retry due in 2 s is within 5 s, in 4 s is not.
        let mut headers = Headers::new();
        headers.push(
            ORIGINAL_TIMESTAMP_RETRY,
            encode_big_integer(NOW.as_i64() - 3000),
        );
        let second = on("email.send-retry-1000", 2).with_headers(headers.clone());
        let third = on("email.send-retry-2000", 3).with_headers(headers);
        assert!(matches!(
            next_hop(&chain, &policy, &second, FailureClass::Transient, NOW),
            Some(Hop::Retry { attempt: 3, .. })
        ));
        assert!(matches!(
            next_hop(&chain, &policy, &third, FailureClass::Transient, NOW),
            Some(Hop::DeadLetter { .. })
        ));
    }

    #[test]
    fn an_original_timestamp_spring_ignores_is_the_records_own() {
        // The overall timeout of 5 s counts from the last `retry_topic-original-timestamp` when
        // it reads (1 to 8 bytes), else from the record's timestamp (NOW), as Spring 4.0.7.
        let (chain, _) = scenario();
        let policy = scenario().1.timeout(Duration::from_secs(5));
        let ago = |ms: i64| NOW.as_i64() - ms;
        let long = |ms: i64| ms.to_be_bytes().to_vec();
        let nine = |ms: i64| [&[0u8][..], &ms.to_be_bytes()].concat();
        // (values of the header, oldest first; whether the retry due in 2 s is still taken)
        let cases: Vec<(Vec<Option<Vec<u8>>>, bool)> = vec![
            (vec![], true),
            (vec![Some(encode_big_integer(ago(3000)).to_vec())], true),
            (vec![Some(encode_big_integer(ago(4000)).to_vec())], false),
            (vec![Some(long(ago(4000)))], false),
            (vec![Some(vec![])], true),
            (vec![Some(nine(ago(4000)))], true),
            (vec![None], true),
            // Only the last value counts: an earlier one is no fallback.
            (vec![Some(long(ago(4000))), Some(vec![])], true),
        ];
        for (values, retried) in cases {
            let mut headers = Headers::new();
            for value in &values {
                match value {
                    Some(bytes) => headers.push(ORIGINAL_TIMESTAMP_RETRY, bytes.clone()),
                    None => headers.push_null(ORIGINAL_TIMESTAMP_RETRY),
                }
            }
            let second = on("email.send-retry-1000", 2).with_headers(headers);
            let hop = next_hop(&chain, &policy, &second, FailureClass::Transient, NOW);
            assert_eq!(
                matches!(hop, Some(Hop::Retry { attempt: 3, .. })),
                retried,
                "{values:02x?}: {hop:?}"
            );
        }
    }

    #[test]
    fn attempts_fall_back_to_the_topics_first_delivery() {
        let with = |value: &[u8]| {
            let mut headers = Headers::new();
            headers.push(ATTEMPTS, bytes::Bytes::copy_from_slice(value));
            Record::new("t-retry", 0, 0).with_headers(headers)
        };
        assert_eq!(attempt_of(&with(&encode_i32(4)), 2), 4);
        assert_eq!(attempt_of(&with(&[3]), 2), 3);
        assert_eq!(attempt_of(&with(&[0xff]), 2), 255, "one byte is unsigned");
        assert_eq!(attempt_of(&with(&[0, 0, 0x7f, 0xff]), 2), 32767);
        assert_eq!(attempt_of(&with(&[0, 0, 0x80, 0]), 2), 2, "over the cap");
        assert_eq!(attempt_of(&with(&[0, 0, 0, 0]), 2), 2, "out of range");
        assert_eq!(attempt_of(&with(&[1, 2]), 2), 2, "bad length");
        assert_eq!(attempt_of(&Record::new("t-retry", 0, 0), 3), 3, "missing");
        let mut null = Headers::new();
        null.push(ATTEMPTS, encode_i32(4));
        null.push_null(ATTEMPTS);
        let record = Record::new("t-retry", 0, 0).with_headers(null);
        assert_eq!(attempt_of(&record, 2), 2, "a null last value is none");
    }

    #[test]
    fn due_times_in_the_past_corrupt_or_absurd_mean_now() {
        let due = |value: Vec<u8>| {
            let mut headers = Headers::new();
            headers.push(BACKOFF_TIMESTAMP, value);
            wait_until_due(&Record::new("t-retry", 0, 0).with_headers(headers))
        };
        let now = EpochMillis::now();
        let soon = due(encode_big_integer((now + Duration::from_secs(2)).as_i64()).to_vec());
        // `now` is rounded up to the next millisecond, so the wait may be 1 ms over.
        assert!(
            soon.is_some_and(|w| w > Duration::from_secs(1) && w <= Duration::from_millis(2001))
        );
        assert_eq!(
            due(encode_big_integer(now.as_i64() - 1000).to_vec()),
            None,
            "past"
        );
        assert_eq!(due(vec![0; 9]), None, "corrupt");
        // Spring 4.0.7's length guard: no bytes, or more than 8 (even a 9-byte BigInteger that
        // Java reads as a time 2 s ahead), is no due time; 8 bytes (a long) is one.
        let ahead = (now + Duration::from_secs(2)).as_i64();
        assert_eq!(due(vec![]), None, "no bytes");
        let nine = [&[0u8][..], &ahead.to_be_bytes()].concat();
        assert_eq!(due(nine), None, "9 bytes");
        assert!(due(ahead.to_be_bytes().to_vec()).is_some(), "a long");
        let ahead = now + Duration::from_secs(3 * 24 * 3600);
        assert_eq!(
            due(encode_big_integer(ahead.as_i64()).to_vec()),
            None,
            "absurd"
        );
        // Just over the day's limit (the broker test of hostile headers had this row): absurd too;
        // just under it, a wait.
        let over = now + Duration::from_secs(25 * 3600);
        assert_eq!(
            due(encode_big_integer(over.as_i64()).to_vec()),
            None,
            "25 h ahead"
        );
        let under = now + Duration::from_secs(23 * 3600);
        assert!(
            due(encode_big_integer(under.as_i64()).to_vec()).is_some(),
            "23 h ahead"
        );
        assert_eq!(
            wait_until_due(&Record::new("t-retry", 0, 0)),
            None,
            "missing"
        );
    }
}
