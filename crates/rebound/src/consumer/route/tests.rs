//! The route's tables: the scenario's chain step by step, a chain without a DLT, routed
//! failures, the overall timeout and the original timestamp.

use super::*;
use crate::headers::ORIGINAL_TIMESTAMP_RETRY;
use crate::headers::{encode_big_integer, Headers};
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
