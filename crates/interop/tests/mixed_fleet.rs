//! Test 3 of INTEROP.md: a mixed fleet in one chain, the rolling migration of a service from Java
//! to Rust. (A) Spring consumes `email.send`, Rebound the retry topics; (B) the other way round.
//! Either way the record walks 1 s, 2 s, 4 s, 8 s, is never handled before its due time by either
//! side, reaches the DLT after exactly 5 deliveries, and the other side's DLT listener reads it.
//!
//! Rebound cannot yet be told to consume only some stages of a chain (INTEROP.md, D6): in (A) its
//! group is parked at the end of the main topic before it starts; in (B) it leaves once it has
//! handed the record to the first retry topic, before that copy is due.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use interop::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use rebound::headers::{self as h, FailureInfo, Headers, Provenance};
use rebound::{Backoff, Event, Failure, KafkaConfig, Record, RetryPolicy, RetryingConsumer};
use testkit::{count, kafka, unique, wait_until, RunningConsumer};

const KOREAN: &str = "잘못된 이메일 주소로 인해 발송 실패";
const DELAYS: [i64; 4] = [1000, 2000, 4000, 8000];

fn due_of(headers: &Headers) -> Option<i64> {
    headers
        .last(h::BACKOFF_TIMESTAMP)
        .and_then(|v| h::decode_big_integer(h::BACKOFF_TIMESTAMP, v).ok())
}

fn attempt_of(headers: &Headers) -> Option<u32> {
    headers
        .last(h::ATTEMPTS)
        .and_then(|v| h::decode_attempts(v).ok())
}

/// One delivery to a handler, by either side.
#[derive(Debug, Clone)]
struct Delivery {
    by: &'static str,
    topic: String,
    attempt: u32,
    at: i64,
    due: Option<i64>,
}

fn spring_deliveries(spring: &Spring) -> Vec<Delivery> {
    spring
        .events_of("delivery")
        .iter()
        .map(|e| {
            let headers = event_headers(e);
            let delivery = Delivery {
                by: "Spring",
                topic: e["topic"].as_str().unwrap().to_string(),
                attempt: attempt_of(&headers).unwrap_or(1),
                at: e["at"].as_i64().unwrap(),
                due: due_of(&headers),
            };
            // The peer decodes the same headers the same way.
            assert_eq!(
                e["attempt"].as_u64().map(|a| a as u32),
                attempt_of(&headers)
            );
            assert_eq!(e["due"].as_i64(), delivery.due);
            delivery
        })
        .collect()
}

/// The scenario's policy on Rebound's side.
fn policy() -> RetryPolicy {
    RetryPolicy::new(5)
        .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
        .dlt_suffix(".dlt")
}

/// A Rebound worker on `main`'s chain that fails every record with the blog's message and notes
/// each delivery.
fn rebound_worker(
    main: &str,
    group: &str,
    seen: Arc<Mutex<Vec<Delivery>>>,
    on_event: impl Fn(&Event<'_>) + Send + Sync + 'static,
) -> RetryingConsumer {
    RetryingConsumer::builder(kafka(), main, group)
        .policy(policy())
        .on_event(on_event)
        .handler(move |record: Record| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(Delivery {
                    by: "Rebound",
                    topic: record.topic().to_string(),
                    attempt: record.attempt(),
                    at: rebound::EpochMillis::now().as_i64(),
                    due: due_of(record.headers()),
                });
                Err(Failure::msg(KOREAN))
            }
        })
        .build()
        .unwrap()
}

/// The record's walk: 5 deliveries, main then each retry topic in order, none before its due
/// time, each due at least `delay` after the delivery before it (and not much later).
fn assert_walk(main: &str, mut walk: Vec<Delivery>) {
    walk.sort_by_key(|d| d.at);
    let topics: Vec<String> = walk.iter().map(|d| d.topic.clone()).collect();
    let expected: Vec<String> = scenario_chain(main)[..5].to_vec();
    assert_eq!(topics, expected, "{walk:#?}");
    assert_eq!(
        walk.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5],
        "{walk:#?}"
    );
    for (n, pair) in walk.windows(2).enumerate() {
        let (before, retry) = (&pair[0], &pair[1]);
        let due = retry
            .due
            .unwrap_or_else(|| panic!("no due time on {retry:?}"));
        assert!(
            retry.at >= due,
            "handled {} ms before its due time: {retry:?}",
            due - retry.at
        );
        // Due `delay` after the failure, which comes after the delivery started: never sooner.
        // The upper bound only allows for a slow machine (a JVM creating its producer on the
        // first failure takes a while on 2 busy cores).
        let waited = due - before.at;
        assert!(
            (DELAYS[n]..DELAYS[n] + 5000).contains(&waited),
            "retry {} due {waited} ms after the delivery before it, expected {} ms: {walk:#?}",
            n + 1,
            DELAYS[n]
        );
    }
}

/// Commits `group`'s offsets on `topic` at its end: a consumer of that group starts after what is
/// there now.
fn park_group_at_end(group: &str, topic: &str) {
    let consumer: BaseConsumer = KafkaConfig::from_env()
        .client_config(&[("group.id", group), ("enable.auto.commit", "false")])
        .create()
        .unwrap();
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Offset(high))
        .unwrap();
    consumer.commit(&list, CommitMode::Sync).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_main_topic_rebound_retry_topics() {
    let dir = temp_dir("fleet-a");
    let main = unique("email.send");
    let topics = scenario_chain(&main);
    create_topics(&topics, 1).await;
    let dlt = format!("{main}.dlt");
    let mut spring = Spring::start(
        &dir,
        "spring",
        &[
            ("interop.topic", &main),
            ("interop.group", &unique("email-send-group")),
            ("interop.dlt-group", &unique("email-send-dlt-group")),
            ("interop.run", "main,dlt-consumer"),
        ],
    );
    spring.wait_started().await;
    let produced = Spring::produce(&dir, &main, &[email("fail@naver.com")], &[]);
    assert_eq!(produced.len(), 1);
    // Rebound joins for the retry topics only: its group starts past the main topic's records.
    let group = unique("email-send-group-rust");
    park_group_at_end(&group, &main);
    let seen: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let worker = rebound_worker(&main, &group, seen.clone(), |_| {});
    let task = RunningConsumer::spawn(worker);

    spring
        .wait_for(
            Duration::from_secs(90),
            "Spring's DLT listener receives Rebound's dead letter",
            |e| e.iter().any(|e| e["event"] == "dlt"),
        )
        .await;
    task.stop().await.unwrap();

    let mut walk = spring_deliveries(&spring);
    assert_eq!(
        walk.len(),
        1,
        "Spring handled the main topic only: {walk:?}"
    );
    walk.extend(seen.lock().unwrap().iter().cloned());
    assert!(walk[1..].iter().all(|d| d.by == "Rebound"));
    assert_walk(&main, walk);
    assert_eq!(count(&dlt), 1);

    // Spring's DLT listener reads Rebound's failure headers.
    let dead = &spring.events_of("dlt")[0];
    let headers = event_headers(dead);
    assert_eq!(dead["payload"], email("fail@naver.com").to_string());
    assert_eq!(headers.text(h::EXCEPTION_MESSAGE).as_deref(), Some(KOREAN));
    assert_eq!(
        headers.text(h::EXCEPTION_FQCN).as_deref(),
        Some("rebound::failure::Message")
    );
    assert_eq!(headers.text(h::ORIGINAL_TOPIC), Some(main.clone()));
    let log = spring.process.log_text();
    assert!(
        log.contains(&format!("Received message in dlt listener: {dlt}-0@0")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebound_main_topic_spring_retry_topics() {
    let dir = temp_dir("fleet-b");
    let main = unique("email.send");
    let topics = scenario_chain(&main);
    create_topics(&topics, 1).await;
    let dlt = format!("{main}.dlt");
    let spring_group = unique("email-send-group");
    let mut spring = Spring::start(
        &dir,
        "spring",
        &[
            ("interop.topic", &main),
            ("interop.group", &spring_group),
            ("interop.run", "retry,dlt"),
        ],
    );
    spring.wait_started().await;

    // Rebound's DLT worker, as the Rust service runs it.
    let dead: Arc<Mutex<Vec<Record>>> = Arc::default();
    let dead_in = dead.clone();
    let dlt_worker = RetryingConsumer::dead_letters(kafka(), &dlt, &unique("email-send-dlt-group"))
        .handler(move |record: Record| {
            let dead = dead_in.clone();
            async move {
                dead.lock().unwrap().push(record);
                Ok(())
            }
        })
        .build()
        .unwrap();
    let dlt_task = RunningConsumer::spawn(dlt_worker);

    // Rebound handles the main topic, hands the record to the first retry topic and leaves
    // before that copy is due (1 s): the retry topics are Spring's.
    let seen: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let (forwarded_tx, forwarded_rx) = tokio::sync::oneshot::channel::<()>();
    let forwarded_tx = Mutex::new(Some(forwarded_tx));
    let worker = rebound_worker(
        &main,
        &unique("email-send-group-rust"),
        seen.clone(),
        move |event| {
            if let Event::Forwarded { .. } = event {
                if let Some(tx) = forwarded_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
            }
        },
    );
    let running = RunningConsumer::spawn_until(worker, async {
        let _ = forwarded_rx.await;
    });
    Spring::produce(&dir, &main, &[email("fail@naver.com")], &[]);
    tokio::time::timeout(Duration::from_secs(60), running.ended())
        .await
        .expect("Rebound forwards to the first retry topic")
        .unwrap();

    wait_until(
        Duration::from_secs(90),
        "Rebound's DLT worker receives Spring's dead letter",
        || async { !dead.lock().unwrap().is_empty() },
    )
    .await;
    dlt_task.stop().await.unwrap();

    let mut walk: Vec<Delivery> = seen.lock().unwrap().clone();
    assert_eq!(
        walk.len(),
        1,
        "Rebound handled the main topic only: {walk:?}"
    );
    walk.extend(spring_deliveries(&spring));
    assert!(walk[1..].iter().all(|d| d.by == "Spring"));
    assert_walk(&main, walk);
    assert_eq!(count(&dlt), 1);
    let log = spring.process.log_text();
    assert!(
        log.contains(&format!("Received message in dlt listener: {dlt}-0@0")),
        "{log}"
    );

    // Rebound's DLT worker reads Spring's dead letter: origin, failure, payload.
    let dead = dead.lock().unwrap();
    let record = &dead[0];
    assert_eq!(testkit::text(record), email("fail@naver.com").to_string());
    let origin = Provenance::read(record.headers()).expect("provenance");
    assert_eq!(
        (origin.topic.as_str(), origin.partition, origin.offset),
        (main.as_str(), Some(0), Some(0))
    );
    let failure = FailureInfo::read(record.headers());
    assert!(
        failure.message.as_deref().unwrap().contains(KOREAN),
        "{failure:?}"
    );
    assert_eq!(
        failure.cause_fqcn.as_deref(),
        Some("java.lang.RuntimeException")
    );
}
