//! Exception-based DLT routing on a real broker (Spring's `@ExceptionBasedDltDestination`): the
//! consumer creates the routed DLTs, a failure of a routed type walks the same retries and dies
//! in its own DLT, the rest in the DLT, and the dead-letter hook reads every DLT.

use std::time::Duration;

use rebound::headers::{self as h, Provenance};
use rebound::{
    Backoff, DltRoute, Failure, FailureClass, KafkaConfig, ProcessingOrder, Record, RetryPolicy,
    RetryingConsumer,
};
use testkit::*;

#[derive(Debug)]
struct InvalidAddress(String);

impl std::fmt::Display for InvalidAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no such mailbox: {}", self.0)
    }
}

impl std::error::Error for InvalidAddress {}

fn policy() -> RetryPolicy {
    RetryPolicy::new(2)
        .backoff(Backoff::Fixed(Duration::from_millis(200)))
        .dlt_route(DltRoute::new("-invalid").on::<InvalidAddress>())
        .dlt_route(DltRoute::new("-deserialization").on_class(FailureClass::Undecodable))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_failures_die_in_their_own_dlts() {
    init_tracing();
    let topic = unique("dlt-routes");
    create_topic(&topic, 2).await;
    // The handler's calls, and the dead-letter hook's.
    let (calls, hooked) = (Recorder::new(), Recorder::new());
    let consumer = RetryingConsumer::builder(kafka(), &topic, &unique("dlt-routes-group"))
        .policy(policy())
        .handler(calls.handler(|record: Record| async move {
            let key = record.key_text().unwrap_or_default();
            match key.as_str() {
                "invalid" => Err(InvalidAddress(key).into()),
                "undecodable" => record.json::<serde_json::Value>().map(|_| ()),
                "busy" => Err(Failure::msg("busy")),
                _ => Ok(()),
            }
        }))
        .dlt_handler(hooked.handler(|_: Record| async { Ok(()) }))
        .build()
        .unwrap();
    let chain = consumer.chain().clone();
    let (invalid, deserialization, dlt) = (
        format!("{topic}-invalid-dlt"),
        format!("{topic}-deserialization-dlt"),
        format!("{topic}-dlt"),
    );
    assert_eq!(
        chain.topic_names(),
        [
            topic.clone(),
            format!("{topic}-retry"),
            invalid.clone(),
            deserialization.clone(),
            dlt.clone()
        ]
    );
    let running = RunningConsumer::spawn(consumer);
    wait_until(
        Duration::from_secs(30),
        "the routed DLTs created",
        || async {
            partition_count(&invalid) == Some(2) && partition_count(&deserialization) == Some(2)
        },
    )
    .await;

    let producer = producer();
    let records: [(&str, &[u8]); 4] = [
        ("invalid", b"{}"),
        ("undecodable", b"not JSON"),
        ("busy", b"{}"),
        ("fine", b"{}"),
    ];
    for (key, payload) in records {
        produce(
            &producer,
            &topic,
            Some(1),
            Some(key),
            payload,
            &Default::default(),
        )
        .await;
    }
    wait_until(
        Duration::from_secs(30),
        "three dead letters hooked",
        || async { hooked.len() == 3 },
    )
    .await;

    let attempts_of =
        |key: &str| -> Vec<u32> { calls.for_key(key).iter().map(|c| c.attempt).collect() };
    assert_eq!(
        attempts_of("invalid"),
        [1, 2],
        "routes do not shorten the retries"
    );
    assert_eq!(attempts_of("undecodable"), [1], "never retried");
    assert_eq!(attempts_of("busy"), [1, 2]);
    let mut hooked: Vec<(String, String)> = hooked
        .calls()
        .into_iter()
        .map(|c| (c.topic.clone(), c.key().to_string()))
        .collect();
    hooked.sort();
    let mut expected = vec![
        (invalid.clone(), "invalid".to_string()),
        (deserialization.clone(), "undecodable".to_string()),
        (dlt.clone(), "busy".to_string()),
    ];
    expected.sort();
    assert_eq!(hooked, expected, "the hook reads every DLT");
    for (name, key, class) in [
        (&invalid, "invalid", "transient"),
        (&deserialization, "undecodable", "undecodable"),
        (&dlt, "busy", "transient"),
    ] {
        let records = read_all(name);
        assert_eq!(records.len(), 1, "{name}");
        let record = &records[0];
        assert_eq!(record.key_text().as_deref(), Some(key));
        assert_eq!(record.partition(), 1, "the source's partition");
        let origin = Provenance::read(record.headers()).unwrap();
        assert_eq!(
            (origin.topic.as_str(), origin.partition),
            (topic.as_str(), Some(1))
        );
        assert_eq!(
            record.headers().text(h::FAILURE_CLASS).as_deref(),
            Some(class)
        );
    }
    let dead = &read_all(&invalid)[0];
    assert_eq!(
        dead.headers().text(h::EXCEPTION_CAUSE_FQCN).as_deref(),
        Some("dlt_routes::InvalidAddress")
    );
    running.stop().await.unwrap();
}

#[test]
fn hold_until_redriven_refuses_routes() {
    let refused = RetryingConsumer::builder(KafkaConfig::new("localhost:9092"), "t", "g")
        .policy(policy())
        .processing_order(ProcessingOrder::Key)
        .hold_until_redriven(true)
        .handler(|_: Record| async { Ok(()) })
        .build();
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("dlt_route"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_spring_stage_groups_a_routed_dlt_is_read_in_its_own_group() {
    init_tracing();
    let topic = unique("dlt-routes-stages");
    create_topic(&topic, 1).await;
    let group = unique("dlt-routes-stages-group");
    let hooked = Recorder::new();
    let consumer = RetryingConsumer::builder(kafka(), &topic, &group)
        .policy(policy())
        .group_per_stage(true)
        .handler(|record: Record| async move {
            Err(InvalidAddress(record.key_text().unwrap_or_default()).into())
        })
        .dlt_handler(hooked.handler(|_: Record| async { Ok(()) }))
        .build()
        .unwrap();
    let running = RunningConsumer::spawn(consumer);
    let invalid = format!("{topic}-invalid-dlt");
    wait_until(
        Duration::from_secs(30),
        "the routed DLT created",
        || async { partition_count(&invalid).is_some() },
    )
    .await;
    produce(
        &producer(),
        &topic,
        Some(0),
        Some("invalid"),
        b"{}",
        &Default::default(),
    )
    .await;
    wait_until(
        Duration::from_secs(30),
        "the routed dead letter hooked",
        || async { !hooked.is_empty() },
    )
    .await;
    let topics: Vec<String> = hooked.calls().into_iter().map(|c| c.topic).collect();
    assert_eq!(topics.as_slice(), std::slice::from_ref(&invalid));
    // Spring's group for the stage: the group plus the stage's suffix.
    let stage_group = format!("{group}-invalid-dlt");
    wait_until(
        Duration::from_secs(30),
        "the stage group's commit",
        || async {
            testkit::group::committed_offsets(&stage_group, &[&invalid], 1)
                .get(&(invalid.clone(), 0))
                .is_some_and(|(offset, _)| *offset == 1)
        },
    )
    .await;
    running.stop().await.unwrap();
}
