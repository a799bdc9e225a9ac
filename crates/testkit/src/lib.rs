//! Test support for Rebound's integration tests, all against a real broker (`KAFKA_BROKERS`,
//! default `127.0.0.1:9092`; `cargo xtask broker start` starts one).
//!
//! Every test names its own topics and groups with [`unique`], so tests run in parallel on one
//! broker without seeing each other's records.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header as KafkaHeader, Headers as _, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};
use rebound::headers::{Header, Headers};
use rebound::{KafkaConfig, Record};

pub fn kafka() -> KafkaConfig {
    KafkaConfig::from_env()
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// Installs a tracing subscriber once (tests' output shows the runtime's log lines).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rdkafka=warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub async fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = kafka().client_config(&[]).create().unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(-1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topic");
    for result in results {
        if let Err((topic, code)) = result {
            panic!("could not create {topic}: {code}");
        }
    }
    wait_until(Duration::from_secs(20), "topic in metadata", || async {
        partition_count(name) == Some(partitions as usize)
    })
    .await;
}

pub fn partition_count(topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = kafka().client_config(&[]).create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let t = metadata.topics().first()?;
    (t.error().is_none() && !t.partitions().is_empty()).then(|| t.partitions().len())
}

pub fn producer() -> FutureProducer {
    kafka()
        .client_config(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "2"),
        ])
        .create()
        .unwrap()
}

/// Produces one record and waits for the broker's acknowledgement.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    key: Option<&str>,
    payload: &[u8],
    headers: &Headers,
) -> (i32, i64) {
    let owned = headers.iter().fold(OwnedHeaders::new(), |acc, h| {
        acc.insert(KafkaHeader {
            key: &h.key,
            value: h.value.as_deref(),
        })
    });
    let mut record = FutureRecord::<str, [u8]>::to(topic)
        .payload(payload)
        .headers(owned);
    if let Some(p) = partition {
        record = record.partition(p);
    }
    if let Some(k) = key {
        record = record.key(k);
    }
    let delivery = producer
        .send(record, Timeout::After(Duration::from_secs(30)))
        .await
        .map_err(|(e, _)| e)
        .expect("produce");
    (delivery.partition, delivery.offset)
}

/// Every record now in `topic`, read from the beginning up to the high watermark.
pub fn read_all(topic: &str) -> Vec<Record> {
    let Some(partitions) = partition_count(topic) else {
        return Vec::new();
    };
    let consumer: BaseConsumer = kafka()
        .client_config(&[
            ("group.id", "testkit-reader"),
            ("enable.auto.commit", "false"),
        ])
        .create()
        .unwrap();
    let mut ends = HashMap::new();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(5))
            .expect("watermarks");
        if high > low {
            ends.insert(p, high);
            list.add_partition_offset(topic, p, Offset::Offset(low))
                .unwrap();
        }
    }
    if ends.is_empty() {
        return Vec::new();
    }
    consumer.assign(&list).unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ends.is_empty() && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let headers: Headers = m
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| Header {
                            key: h.key.to_string(),
                            value: h.value.map(bytes::Bytes::copy_from_slice),
                        })
                        .collect()
                })
                .unwrap_or_default();
            records.push(Record {
                topic: m.topic().to_string(),
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(bytes::Bytes::copy_from_slice),
                payload: m.payload().map(bytes::Bytes::copy_from_slice),
                timestamp: m.timestamp().to_millis(),
                headers,
                attempt: 1,
            });
            if ends
                .get(&m.partition())
                .is_some_and(|end| m.offset() + 1 >= *end)
            {
                ends.remove(&m.partition());
            }
        }
    }
    assert!(
        ends.is_empty(),
        "could not read {topic} to its end: {ends:?} left"
    );
    records
}

/// Number of records in `topic` (sum of watermark spans).
pub fn count(topic: &str) -> i64 {
    let Some(partitions) = partition_count(topic) else {
        return 0;
    };
    let consumer: BaseConsumer = kafka().client_config(&[]).create().unwrap();
    (0..partitions as i32)
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(5))
                .unwrap();
            high - low
        })
        .sum()
}

/// Polls `condition` every 50 ms until it holds; panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The payload of a record as text.
pub fn text(record: &Record) -> String {
    String::from_utf8_lossy(record.payload.as_deref().unwrap_or_default()).into_owned()
}
