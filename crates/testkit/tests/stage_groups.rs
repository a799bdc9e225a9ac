//! Spring's consumer group per stage (`group_per_stage`): each stage's offsets are committed in
//! the group Spring reads it in, so a Spring service and a Rebound worker sharing the groups
//! hand records over instead of reading them again; and a worker given some stages reads only
//! those.

use std::time::Duration;

use rebound::headers::Headers;
use rebound::naming::TopicChain;
use rebound::{Backoff, Failure, Record, RetryPolicy, RetryingConsumer, Stages};
use testkit::group::committed_offsets;
use testkit::*;

const PARTITIONS: i32 = 2;

/// Two retry topics (`-retry-200`, `-retry-400`) and a DLT.
fn policy() -> RetryPolicy {
    RetryPolicy::new(3)
        .backoff(Backoff::exponential(Duration::from_millis(200), 2.0))
        .dlt_suffix(".dlt")
}

/// Fails a record's first delivery, its calls noted.
fn fail_once(calls: &Recorder) -> impl rebound::Handler {
    calls.handler(|record: Record| async move {
        match record.attempt() {
            1 => Err(Failure::msg("the first delivery fails")),
            _ => Ok(()),
        }
    })
}

/// `count` records keyed `k<i>`, with the scenario's Korean text and their number.
async fn produce_keyed(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    count: usize,
    text: &str,
) {
    for i in 0..count {
        let (key, payload) = (format!("k{i}"), format!("{text} {i}"));
        produce(
            producer,
            topic,
            None,
            Some(&key),
            payload.as_bytes(),
            &Headers::new(),
        )
        .await;
    }
}

/// The sum of the offsets `group` committed on `topic`'s partitions.
fn committed_sum(group: &str, topic: &str) -> i64 {
    committed_offsets(group, &[topic], PARTITIONS)
        .values()
        .map(|(offset, _)| offset)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_stage_commits_in_springs_group_for_it() {
    let main = unique("stage-groups");
    let group = unique("stage-groups-g");
    let chain = TopicChain::new(&main, &policy());
    let cluster = Cluster::default();
    cluster.create_topic(&main, PARTITIONS).await;
    let producer = cluster.producer();
    produce_keyed(&producer, &main, 10, "제목").await;
    let calls = Recorder::new();
    let consumer = RetryingConsumer::builder(kafka(), &main, &group)
        .policy(policy())
        .group_per_stage(true)
        .handler(fail_once(&calls))
        .build()
        .unwrap();
    let running = RunningConsumer::spawn(consumer);
    wait_until(
        Duration::from_secs(60),
        "every record handled on its second delivery",
        || async { calls.filter(|c| c.attempt == 2).len() == 10 },
    )
    .await;
    running.stop().await.unwrap();

    let retry = &chain.retries[0].name;
    assert_eq!(retry, &format!("{main}-retry-200"));
    assert!(
        calls.calls().iter().all(|c| match c.attempt {
            1 => c.topic == main,
            _ => &c.topic == retry,
        }),
        "first deliveries from the main topic, second from -retry-200"
    );
    assert_eq!(
        committed_sum(&group, &main),
        10,
        "the main topic in the group given"
    );
    assert_eq!(
        committed_sum(&format!("{group}-retry-200"), retry),
        10,
        "the first retry topic in Spring's group for it"
    );
    assert!(
        committed_offsets(&group, &[retry], PARTITIONS).is_empty(),
        "nothing of the retry topic in the main group"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_given_the_retry_stages_leaves_the_main_topic_alone() {
    let main = unique("stage-retries");
    let group = unique("stage-retries-g");
    let cluster = Cluster::default();
    cluster.create_topic(&main, PARTITIONS).await;
    let producer = cluster.producer();
    // Spring's side reads the main topic and forwards: here a Rebound worker given the main stage.
    let forwarded = Recorder::new();
    let main_worker = RetryingConsumer::builder(kafka(), &main, &group)
        .policy(policy())
        .group_per_stage(true)
        .stages(Stages::MAIN)
        .handler(fail_once(&forwarded))
        .build()
        .unwrap();
    let calls = Recorder::new();
    let retry_worker = RetryingConsumer::builder(kafka(), &main, &group)
        .policy(policy())
        .group_per_stage(true)
        .stages(Stages::RETRIES)
        .handler(fail_once(&calls))
        .build()
        .unwrap();
    let (main_worker, retry_worker) = (
        RunningConsumer::spawn(main_worker),
        RunningConsumer::spawn(retry_worker),
    );
    produce_keyed(&producer, &main, 6, "내용").await;
    wait_until(
        Duration::from_secs(60),
        "the retry worker handled all six",
        || async { calls.len() == 6 },
    )
    .await;
    main_worker.stop().await.unwrap();
    retry_worker.stop().await.unwrap();
    let read: Vec<(u32, String)> = calls
        .calls()
        .into_iter()
        .map(|c| (c.attempt, c.topic))
        .collect();
    assert!(
        read.iter()
            .all(|(attempt, topic)| *attempt == 2 && topic.ends_with("-retry-200")),
        "the retry worker read only its retry stage: {read:?}"
    );
    assert_eq!(
        forwarded.len(),
        6,
        "the main worker read each record once and forwarded it"
    );
}

#[test]
fn key_order_is_refused_with_a_group_per_stage() {
    let refused = RetryingConsumer::builder(kafka(), "t", "g")
        .policy(policy())
        .group_per_stage(true)
        .processing_order(rebound::ProcessingOrder::Key)
        .handler(|_: Record| async { Ok(()) })
        .build();
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("group per stage"), "{message}");
}
