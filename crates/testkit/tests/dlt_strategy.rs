//! The DLT strategies on a real broker (Spring's `DltStrategy`): what the dead-letter hook does
//! with a dead letter it fails on. `AlwaysRetryOnError` (the default) calls it again until it
//! succeeds and commits only then; `FailOnError` calls it once, logs, and commits past it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rebound::{DltStrategy, Failure, Record, RetryPolicy, RetryingConsumer};
use testkit::group::committed_offsets;
use testkit::*;

/// Every call of the dead-letter hook: the record's key and when.
type Calls = Arc<Mutex<Vec<(String, Instant)>>>;

fn calls_of(calls: &Calls, key: &str) -> usize {
    calls.lock().unwrap().iter().filter(|c| c.0 == key).count()
}

/// Runs a consumer of `topic` whose handler fails every record for good, so each goes straight
/// to the DLT, and whose hook fails on keys starting with `bad` (on the first `failures` calls
/// of each, or always when `None`). Returns the DLT, the group, the hook's calls and the consumer.
async fn run(
    strategy: DltStrategy,
    failures: Option<usize>,
) -> (String, String, Calls, RunningConsumer) {
    init_tracing();
    let topic = unique("dlt-strategy");
    create_topic(&topic, 1).await;
    let group = unique("dlt-strategy-group");
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &group)
        .policy(RetryPolicy::new(1).dlt_strategy(strategy))
        .handler(|_: Record| async { Err(Failure::permanent("never works")) })
        .dlt_handler(move |record: Record| {
            let seen = seen.clone();
            async move {
                let key = record.key_text().unwrap_or_default();
                let mut calls = seen.lock().unwrap();
                calls.push((key.clone(), Instant::now()));
                let before = calls.iter().filter(|c| c.0 == key).count() - 1;
                match key.starts_with("bad") && failures.is_none_or(|n| before < n) {
                    true => Err(Failure::msg(format!("the hook fails on {key}"))),
                    false => Ok(()),
                }
            }
        })
        .build()
        .unwrap();
    let dlt = consumer.chain().dlt.clone().unwrap();
    assert_eq!(dlt, format!("{topic}-dlt"));
    let running = RunningConsumer::spawn(consumer);
    let producer = producer();
    for key in ["bad-1", "good", "bad-2"] {
        produce(
            &producer,
            &topic,
            Some(0),
            Some(key),
            b"{}",
            &Default::default(),
        )
        .await;
    }
    (dlt, group, calls, running)
}

/// The offset `group` committed on partition 0 of `dlt`, once it reaches `offset`.
async fn committed_reaches(group: &str, dlt: &str, offset: i64) {
    wait_until(
        Duration::from_secs(30),
        &format!("{group} commits {offset} on {dlt}"),
        || async {
            committed_offsets(group, &[dlt], 1)
                .get(&(dlt.to_string(), 0))
                .is_some_and(|(o, _)| *o >= offset)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_on_error_logs_and_skips_a_dead_letter_its_hook_fails_on() {
    let (dlt, group, calls, running) = run(DltStrategy::FailOnError, None).await;
    // The two dead letters the hook fails on are skipped: the offset goes past all three.
    committed_reaches(&group, &dlt, 3).await;
    // Longer than the first back-off (1 s) of the default strategy: no second call comes.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for key in ["bad-1", "good", "bad-2"] {
        assert_eq!(calls_of(&calls, key), 1, "{key}: the hook is called once");
    }
    assert_eq!(count(&dlt), 3, "the skipped dead letters stay in the DLT");
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_retry_on_error_calls_the_hook_again_until_it_succeeds() {
    let (dlt, group, calls, running) = run(DltStrategy::AlwaysRetryOnError, Some(2)).await;
    committed_reaches(&group, &dlt, 3).await;
    let bad: Vec<Instant> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.0 == "bad-1")
        .map(|c| c.1)
        .collect();
    assert_eq!(bad.len(), 3, "two failures, then the call that works");
    // 1 s, then 2 s between the calls (the hook's back-off).
    assert!(bad[1] - bad[0] >= Duration::from_millis(950), "{bad:?}");
    assert!(bad[2] - bad[1] >= Duration::from_millis(1950), "{bad:?}");
    assert_eq!(calls_of(&calls, "good"), 1);
    assert_eq!(calls_of(&calls, "bad-2"), 3);
    assert_eq!(count(&dlt), 3, "the hook's failures write nothing");
    running.stop().await.unwrap();
}
