//! The chain follows its main topic's growth: partitions added to the main topic while a worker
//! runs are consumed within 30 s, the retry topic grows to match, and a failed record's copy
//! keeps its partition number (what Key order relies on).

use std::time::{Duration, Instant};

use rebound::headers::Headers;
use rebound::{Backoff, Failure, ProcessingOrder, Record, RetryPolicy, RetryingConsumer};
use testkit::*;

/// Fails a record's first delivery, so every record goes through the retry topic once.
fn fail_once(calls: &Recorder) -> impl rebound::Handler {
    calls.handler(|record: Record| async move {
        match record.attempt() {
            1 => Err(Failure::msg("the first delivery fails")),
            _ => Ok(()),
        }
    })
}

async fn grows_with(order: ProcessingOrder) {
    init_tracing();
    let main = unique("growth");
    let group = unique("growth-g");
    let cluster = Cluster::default();
    cluster.create_topic(&main, 2).await;
    let policy = RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_millis(200)));
    let calls = Recorder::new();
    let consumer = RetryingConsumer::builder(kafka(), &main, &group)
        .policy(policy)
        .processing_order(order)
        .handler(fail_once(&calls))
        .build()
        .unwrap();
    let running = RunningConsumer::spawn(consumer);
    let producer = cluster.producer();
    let handled_twice = |needle: &str| {
        calls
            .filter(|c| c.payload.contains(needle) && c.attempt == 2)
            .len()
    };
    produce(
        &producer,
        &main,
        None,
        Some("before"),
        "제목 before".as_bytes(),
        &Headers::new(),
    )
    .await;
    wait_until(
        Duration::from_secs(60),
        "the record before the growth handled twice",
        || async { handled_twice("before") == 1 },
    )
    .await;

    rebound::admin::grow_topics(&kafka(), &[&main], 4)
        .await
        .unwrap();
    let grown = Instant::now();
    for partition in [2, 3] {
        produce_into_new_partition(&cluster, &main, partition).await;
    }
    wait_until(
        Duration::from_secs(45),
        "the records on the new partitions handled twice",
        || async { handled_twice("after") == 2 },
    )
    .await;
    let took = grown.elapsed();
    running.stop().await.unwrap();
    println!("{order:?}: records on the new partitions handled within {took:?} of the growth");
    assert!(
        took < Duration::from_secs(30),
        "new partitions consumed within 30 s (took {took:?})"
    );
    let retry = format!("{main}-retry");
    let calls = calls.calls();
    for partition in [2, 3] {
        let second = calls
            .iter()
            .find(|c| c.payload == format!("내용 after {partition}") && c.attempt == 2)
            .expect("handled from the retry topic");
        assert_eq!(
            (second.topic.as_str(), second.partition),
            (retry.as_str(), partition),
            "the copy kept its partition number"
        );
    }
    let counts =
        rebound::admin::partition_counts(&kafka(), &[&retry, &format!("{main}-dlt")]).unwrap();
    assert_eq!(
        counts[&retry], 4,
        "the retry topic grew with the main topic"
    );
    assert_eq!(counts[&format!("{main}-dlt")], 4, "and the DLT");
}

/// Produces `내용 after <partition>` into a partition the topic just got. A producer refuses a
/// partition its metadata does not list yet (`UnknownPartition`), and the broker lists a new
/// partition to one client a moment before another: asked again, with a fresh producer, until
/// it takes the record.
async fn produce_into_new_partition(cluster: &Cluster, topic: &str, partition: i32) {
    use rdkafka::producer::FutureRecord;
    use rdkafka::util::Timeout;
    let (key, payload) = (format!("k{partition}"), format!("내용 after {partition}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let record = FutureRecord::<str, str>::to(topic)
            .partition(partition)
            .key(&key)
            .payload(&payload);
        match cluster
            .producer()
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
        {
            Ok(_) => return,
            Err((e, _)) if Instant::now() < deadline => {
                println!("partition {partition} not known to the producer yet ({e}); asking again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err((e, _)) => panic!("could not produce into partition {partition}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_grows_with_its_main_topic() {
    grows_with(ProcessingOrder::Partition).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_order_copies_keep_their_partition_after_growth() {
    grows_with(ProcessingOrder::Key).await;
}
