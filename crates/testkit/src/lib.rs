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
use rdkafka::message::{Header as KafkaHeader, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};
use rebound::headers::Headers;
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

/// A cluster to talk to: the shared test broker by default, or a [`PrivateBroker`].
#[derive(Clone)]
pub struct Cluster(pub KafkaConfig);

impl Default for Cluster {
    fn default() -> Self {
        Cluster(kafka())
    }
}

pub async fn create_topic(name: &str, partitions: i32) {
    Cluster::default().create_topic(name, partitions).await
}

pub fn partition_count(topic: &str) -> Option<usize> {
    Cluster::default().partition_count(topic)
}

pub fn producer() -> FutureProducer {
    Cluster::default().producer()
}

/// Every record now in `topic`, read from the beginning up to the high watermark.
pub fn read_all(topic: &str) -> Vec<Record> {
    Cluster::default().read_all(topic)
}

/// Number of records in `topic` (sum of watermark spans).
pub fn count(topic: &str) -> i64 {
    Cluster::default().count(topic)
}

/// Creates `name` with topic-level settings (e.g. `max.message.bytes`).
pub async fn create_topic_with(name: &str, partitions: i32, config: &[(&str, &str)]) {
    Cluster::default()
        .create_topic_with(name, partitions, config)
        .await
}

impl Cluster {
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        self.create_topic_with(name, partitions, &[]).await
    }

    /// Creates `name` with topic-level settings, and waits until the metadata shows it.
    pub async fn create_topic_with(&self, name: &str, partitions: i32, config: &[(&str, &str)]) {
        let admin: AdminClient<DefaultClientContext> = self.0.client_config(&[]).create().unwrap();
        let topic = config.iter().fold(
            NewTopic::new(name, partitions, TopicReplication::Fixed(-1)),
            |topic, (key, value)| topic.set(key, value),
        );
        let results = admin
            .create_topics(
                &[topic],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("create topic");
        for result in results {
            if let Err((topic, code)) = result {
                panic!("could not create {topic}: {code}");
            }
        }
        wait_until(Duration::from_secs(60), "topic in metadata", || async {
            self.partition_count(name) == Some(partitions as usize)
        })
        .await;
    }

    /// Partitions of `topic` once every one has a leader (Rebound's own rule for a usable topic).
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        rebound::admin::partition_counts(&self.0, &[topic])
            .ok()?
            .get(topic)
            .map(|n| *n as usize)
    }

    pub fn producer(&self) -> FutureProducer {
        self.0
            .client_config(&[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("linger.ms", "2"),
            ])
            .create()
            .unwrap()
    }
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

impl Cluster {
    pub fn read_all(&self, topic: &str) -> Vec<Record> {
        let consumer: BaseConsumer = self
            .0
            .client_config(&[
                ("group.id", "testkit-reader"),
                ("enable.auto.commit", "false"),
            ])
            .create()
            .unwrap();
        let mut ends = HashMap::new();
        let mut list = TopicPartitionList::new();
        // Rebound's own watermark read: it asks again while a partition is between leaders.
        for (p, low, high) in
            rebound_ops::reader::blocking::watermarks(&self.0, topic).expect("watermarks")
        {
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
                records.push(Record::from_message(&m));
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

    pub fn count(&self, topic: &str) -> i64 {
        rebound_ops::reader::blocking::watermarks(&self.0, topic)
            .expect("watermarks")
            .iter()
            .map(|(_, low, high)| high - low)
            .sum()
    }
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
    String::from_utf8_lossy(record.payload().unwrap_or_default()).into_owned()
}

/// A broker of a test's own (Apache Kafka, or Tansu with `REBOUND_BROKER=tansu`, on free ports
/// with its data in a temporary folder), for tests that kill and restart the broker without
/// disturbing the tests that share the main one. Dropping it kills it and deletes its data.
pub struct PrivateBroker(test_broker::PrivateCluster);

impl PrivateBroker {
    /// One node, ready to serve.
    pub fn start() -> PrivateBroker {
        Self::cluster(1)
    }

    /// `nodes` nodes (three: replication factor 3, `min.insync.replicas=2`), every one ready and
    /// seeing the others.
    pub fn cluster(nodes: usize) -> PrivateBroker {
        PrivateBroker(test_broker::PrivateCluster::start(nodes).expect("start a private broker"))
    }

    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig::new(self.0.bootstrap())
    }

    /// Kills every node (SIGKILL): the data stays on disk.
    pub fn stop(&mut self) {
        for index in 0..self.0.layout().nodes.len() {
            self.0.kill(index);
        }
    }

    /// Starts every node again on the same ports and data, and waits until it serves clients.
    pub fn restart(&mut self) {
        self.0.restart_all().expect("restart the broker");
    }

    /// Kills the node whose Kafka `node.id` is `id` (SIGKILL), as a crash would.
    pub fn kill_node(&mut self, id: i32) {
        let index = self.0.index_of(id).expect("no such node");
        self.0.kill(index);
    }

    /// Starts node `id` again and returns how long it took to serve clients and see the cluster.
    pub fn restart_node(&mut self, id: i32) -> Duration {
        let index = self.0.index_of(id).expect("no such node");
        self.0.restart(index).expect("restart a broker node")
    }
}

/// What the chaos test's handler does with record `id`, decided by the id alone so that the audit
/// knows every record's expected end (see `tests/chaos.rs` and the `chaos-worker` binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fate {
    /// The handler fails (transiently) on attempts `1..=fail_times`, then succeeds.
    pub fail_times: u32,
    /// The handler fails permanently on the first attempt: straight to the DLT.
    pub permanent: bool,
}

impl Fate {
    /// The fate of record `id`: 55 % succeed at once, 10 % fail once, 10 % twice, 5 % three
    /// times, 10 % four times (with 4 attempts: dead-lettered once exhausted), 10 % permanent.
    pub fn of(id: u64) -> Fate {
        // splitmix64: neighbouring ids get unrelated fates.
        let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let (fail_times, permanent) = match z % 20 {
            0..=10 => (0, false),
            11 | 12 => (1, false),
            13 | 14 => (2, false),
            15 => (3, false),
            16 | 17 => (4, false),
            _ => (0, true),
        };
        Fate {
            fail_times,
            permanent,
        }
    }

    /// Whether the record ends in the DLT under a policy of `attempts` deliveries.
    pub fn dead_letters(&self, attempts: u32) -> bool {
        self.permanent || self.fail_times >= attempts
    }
}
