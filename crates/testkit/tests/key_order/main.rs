//! `ProcessingOrder::Key` on a real broker: records of different keys run at once, a key's
//! records run one after another in offset order through the retry chain and the DLT, a poisoned
//! key slows no other, and a key held by a retry record stays held across a restart.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rebound::headers::Headers;
use rebound::{
    Backoff, Failure, ProcessingOrder, Record, RetryPolicy, RetryingConsumer,
    RetryingConsumerBuilder,
};
use testkit::*;

mod dead_keys;
mod owners;
mod through_the_chain;

/// The record of a call: its key and sequence number within the key, from its payload `key:seq`.
fn key_seq(call: &Call) -> (&str, u32) {
    let (key, seq) = call.payload.split_once(':').expect("key:seq");
    (key, seq.parse().expect("seq"))
}

/// Payload `key:seq`; the handler sleeps `work` and fails as `fails(key, seq, attempt)` says.
fn consumer(
    topic: &str,
    group: &str,
    policy: RetryPolicy,
    work: Duration,
    calls: &Recorder,
    fails: fn(&str, u32, u32) -> Option<Failure>,
) -> RetryingConsumerBuilder {
    RetryingConsumer::builder(kafka(), topic, group)
        .policy(policy)
        .processing_order(ProcessingOrder::Key)
        .max_in_flight(16)
        .handler(calls.handler(move |record: Record| async move {
            let text = record.text()?.to_string();
            let (key, seq) = text.split_once(':').expect("key:seq");
            let seq: u32 = seq.parse().expect("seq");
            tokio::time::sleep(work).await;
            match fails(key, seq, record.attempt()) {
                Some(failure) => Err(failure),
                None => Ok(()),
            }
        }))
}

fn short_chain(attempts: u32) -> RetryPolicy {
    RetryPolicy::new(attempts).backoff(Backoff::exponential(Duration::from_millis(300), 2.0))
}

/// Every key's calls, in the order they started.
fn by_key(calls: &[Call]) -> HashMap<String, Vec<Call>> {
    let mut keys: HashMap<String, Vec<Call>> = HashMap::new();
    for call in calls {
        keys.entry(key_seq(call).0.to_string())
            .or_default()
            .push(call.clone());
    }
    for calls in keys.values_mut() {
        calls.sort_by_key(|c| c.started);
    }
    keys
}

/// `(seq, attempt)` of each call, in order.
fn seqs(calls: &[Call]) -> Vec<(u32, u32)> {
    calls.iter().map(|c| (key_seq(c).1, c.attempt)).collect()
}

/// The audit: within a key, no call starts before the one before it ended, and sequence numbers
/// never go back (a record's retries come before the next record of its key).
fn assert_key_order(calls: &[Call]) {
    for (key, calls) in by_key(calls) {
        for pair in calls.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            assert!(
                after.started >= before.ended(),
                "key {key}: {after:?} started while {before:?} ran"
            );
            assert!(
                key_seq(after).1 >= key_seq(before).1,
                "key {key}: seq {} ran after seq {}",
                key_seq(after).1,
                key_seq(before).1
            );
        }
    }
}

/// The most calls that overlapped in time.
fn most_at_once(calls: &[Call]) -> usize {
    let mut edges: Vec<(Instant, i32)> = calls
        .iter()
        .flat_map(|c| [(c.started, 1), (c.ended(), -1)])
        .collect();
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

async fn produce_keys(topic: &str, keys: &[String], per_key: u32) {
    let producer = producer();
    for seq in 0..per_key {
        for key in keys {
            let payload = format!("{key}:{seq}");
            produce(
                &producer,
                topic,
                None,
                Some(key),
                payload.as_bytes(),
                &Headers::new(),
            )
            .await;
        }
    }
}

/// Key `poison` always fails; every third record of the others fails once; `dead` keys fail
/// permanently on their first record only.
fn scenario_fails(key: &str, seq: u32, attempt: u32) -> Option<Failure> {
    if key == "poison" {
        return Some(Failure::msg("잘못된 이메일 주소로 인해 발송 실패"));
    }
    if key.starts_with("dead") && seq == 0 {
        return Some(Failure::permanent("no such mailbox"));
    }
    (seq % 3 == 1 && attempt == 1).then(|| Failure::msg("451 mailbox busy"))
}
