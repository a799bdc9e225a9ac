//! The broker goes away while a failed record is being forwarded to the DLT: the source offset
//! stays uncommitted, the copy is written once the broker is back, and nothing is lost.
//! Runs on a private broker so the shared one keeps serving the other tests.

use std::sync::Arc;
use std::time::Duration;

use rebound::headers::Headers;
use rebound::{Backoff, Failure, Record, RetryPolicy, RetryingConsumer};
use testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_written_after_the_broker_comes_back() {
    init_tracing();
    let mut broker = PrivateBroker::start();
    let cluster = Cluster(broker.kafka());
    let topic = unique("restart");
    cluster.create_topic(&topic, 1).await;

    let calls = Recorder::new();
    // The second attempt holds until the test has killed the broker.
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = release.clone();
    let consumer = RetryingConsumer::builder(broker.kafka(), &topic, &unique("g"))
        .policy(RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_secs(2))))
        .handler(calls.handler(move |record: Record| {
            let gate = gate.clone();
            async move {
                let text = record.text()?;
                if text == "doomed" && record.attempt() == 2 {
                    gate.notified().await;
                }
                if text == "doomed" {
                    return Err(Failure::msg("always fails"));
                }
                Ok(())
            }
        }))
        .build()
        .unwrap();
    let retry = consumer.chain().retries[0].name.clone();
    let dlt = consumer.chain().dlt.clone().unwrap();
    let task = RunningConsumer::spawn(consumer);

    let producer = cluster.producer();
    produce(&producer, &topic, None, None, b"doomed", &Headers::new()).await;
    let doomed_calls = || calls.filter(|c| c.payload == "doomed").len();
    wait_until(Duration::from_secs(30), "the second attempt", || async {
        doomed_calls() == 2
    })
    .await;
    assert_eq!(cluster.count(&retry), 1);

    // Kill the broker while the second attempt runs: its DLT copy cannot be written.
    broker.stop();
    release.notify_one();
    // Let the worker fail at writing for a while (it retries with back-off); what counts is what
    // happens once the broker is back, not how many tries fail meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    broker.restart();

    wait_until(
        Duration::from_secs(90),
        "the dead letter after the restart",
        || async { cluster.count(&dlt) >= 1 },
    )
    .await;
    let dead = cluster.read_all(&dlt);
    assert!(dead.iter().all(|r| text(r) == "doomed"));
    assert!(
        dead.len() <= 2,
        "at-least-once allows a duplicate copy, not a flood: {}",
        dead.len()
    );

    // The consumer is alive and goes on after the restart.
    let producer = cluster.producer();
    produce(&producer, &topic, None, None, b"after", &Headers::new()).await;
    wait_until(
        Duration::from_secs(30),
        "a record after the restart",
        || async { !calls.filter(|c| c.payload == "after").is_empty() },
    )
    .await;
    task.stop().await.unwrap();
}
