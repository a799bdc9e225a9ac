//! The pure decisions of a record's trip, with no I/O: which delivery a record on a retry topic
//! is, how long until it is due, and where it goes after failing.

use std::time::Duration;

use crate::failure::FailureClass;
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
        assert_eq!(
            wait_until_due(&Record::new("t-retry", 0, 0)),
            None,
            "missing"
        );
    }
}
