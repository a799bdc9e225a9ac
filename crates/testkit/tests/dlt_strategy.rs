//! The DLT strategies on a real broker (Spring's `DltStrategy`): what the dead-letter hook does
//! with a dead letter it fails on. `AlwaysRetryOnError` (the default) calls it again until it
//! succeeds and commits only then; `FailOnError` calls it once, logs, and commits past it.

use std::time::{Duration, Instant};

use rebound::{DltStrategy, Failure, Record, RetryPolicy, RetryingConsumer};
use testkit::group::committed_offsets;
use testkit::*;

/// A consumer whose every record dies at once, and its dead-letter hook's calls.
struct Run {
    topic: String,
    dlt: String,
    group: String,
    /// Every call of the dead-letter hook.
    calls: Recorder,
    running: RunningConsumer,
}

/// Runs a consumer of `topic` whose handler fails every record for good, so each goes straight
/// to the DLT, and whose hook fails on keys starting with `bad` (on the first `failures` calls
/// of each, or always when `None`); then produces `bad-1`, `good` and `bad-2`.
async fn run(strategy: DltStrategy, failures: Option<usize>) -> Run {
    init_tracing();
    let topic = unique("dlt-strategy");
    create_topic(&topic, 1).await;
    let group = unique("dlt-strategy-group");
    let calls = Recorder::new();
    let seen = calls.clone();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &group)
        .policy(RetryPolicy::new(1).dlt_strategy(strategy))
        .handler(|_: Record| async { Err(Failure::permanent("never works")) })
        .dlt_handler(calls.handler(move |record: Record| {
            // This call is noted already: the ones before it are the others of its key.
            let key = record.key_text().unwrap_or_default();
            let before = seen.for_key(&key).len() - 1;
            async move {
                match key.starts_with("bad") && failures.is_none_or(|n| before < n) {
                    true => Err(Failure::msg(format!("the hook fails on {key}"))),
                    false => Ok(()),
                }
            }
        }))
        .build()
        .unwrap();
    let dlt = consumer.chain().dlt.clone().unwrap();
    assert_eq!(dlt, format!("{topic}-dlt"));
    let running = RunningConsumer::spawn(consumer);
    for key in ["bad-1", "good", "bad-2"] {
        send(&topic, key).await;
    }
    Run {
        topic,
        dlt,
        group,
        calls,
        running,
    }
}

async fn send(topic: &str, key: &str) {
    produce(
        &producer(),
        topic,
        Some(0),
        Some(key),
        b"{}",
        &Default::default(),
    )
    .await;
}

/// The offset `group` committed on partition 0 of `dlt`, once it reaches `offset`.
async fn committed_reaches(group: &str, dlt: &str, offset: i64) {
    wait_for(
        Duration::from_secs(30),
        &format!("{group} commits {offset} on {dlt}"),
        || async {
            match committed_offsets(group, &[dlt], 1).get(&(dlt.to_string(), 0)) {
                Some((o, _)) if *o >= offset => Ok(()),
                other => Err(format!("committed: {other:?}")),
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_on_error_logs_and_skips_a_dead_letter_its_hook_fails_on() {
    let Run {
        topic,
        dlt,
        group,
        calls,
        running,
    } = run(DltStrategy::FailOnError, None).await;
    // The two dead letters the hook fails on are skipped: the offset goes past all three.
    committed_reaches(&group, &dlt, 3).await;
    // A strategy calls the hook again in place, before the next dead letter of the partition:
    // once a marker behind them is through the hook, no second call of theirs can come.
    send(&topic, "marker").await;
    committed_reaches(&group, &dlt, 4).await;
    for key in ["bad-1", "good", "bad-2", "marker"] {
        assert_eq!(
            calls.for_key(key).len(),
            1,
            "{key}: the hook is called once"
        );
    }
    assert_eq!(count(&dlt), 4, "the skipped dead letters stay in the DLT");
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_retry_on_error_calls_the_hook_again_until_it_succeeds() {
    let Run {
        dlt,
        group,
        calls,
        running,
        ..
    } = run(DltStrategy::AlwaysRetryOnError, Some(2)).await;
    committed_reaches(&group, &dlt, 3).await;
    let bad: Vec<Instant> = calls.for_key("bad-1").iter().map(|c| c.started).collect();
    assert_eq!(bad.len(), 3, "two failures, then the call that works");
    // 1 s, then 2 s between the calls (the hook's back-off).
    assert!(bad[1] - bad[0] >= Duration::from_millis(950), "{bad:?}");
    assert!(bad[2] - bad[1] >= Duration::from_millis(1950), "{bad:?}");
    assert_eq!(calls.for_key("good").len(), 1);
    assert_eq!(calls.for_key("bad-2").len(), 3);
    assert_eq!(count(&dlt), 3, "the hook's failures write nothing");
    running.stop().await.unwrap();
}
