//! What every scenario needs around its measurements: a batching producer that fills a topic
//! with 200-byte JSON records, a tally of handled records with first/last timestamps, CPU meters,
//! and the hand-written rdkafka consumer settings the baselines share.
//!
//! Names, topic creation (which waits until every partition has a leader), counting and header
//! conversion are testkit's, the same code the integration tests use: the benchmark's own copy of
//! them once read a fresh topic's watermarks before its partitions had a leader, and the delay
//! scenario failed with `NotLeaderForPartition`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use futures::stream::{self, StreamExt};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseProducer, BaseRecord, FutureProducer, FutureRecord, Producer, ProducerContext,
};
use rdkafka::util::Timeout;
use rebound::headers::Headers;
use rebound::{EpochMillis, KafkaConfig, RELIABLE_PRODUCER};
use tokio_util::sync::CancellationToken;

/// The size of every benchmark record's payload.
pub const PAYLOAD_BYTES: usize = 200;

/// A topic or group name no earlier run used, `bench-` first so that a broker's benchmark
/// topics are told from the tests' at a glance.
pub fn unique(prefix: &str) -> String {
    testkit::unique(&format!("bench-{prefix}"))
}

pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Record `i`'s payload: a JSON object padded to exactly [`PAYLOAD_BYTES`] bytes. `kind` lets a
/// scenario tell the handler what to do with it ("ok", "transient", "permanent").
pub fn payload(i: u64, kind: &str) -> Vec<u8> {
    let head = format!(
        r#"{{"id":{i},"kind":"{kind}","to":"user{i}@example.com","subject":"Benchmark message {i}","body":""#
    );
    let tail = r#""}"#;
    let pad = PAYLOAD_BYTES.saturating_sub(head.len() + tail.len());
    let mut text = head;
    text.extend(std::iter::repeat_n('x', pad));
    text.push_str(tail);
    text.into_bytes()
}

/// The `"kind"` of a payload made by [`payload`], without decoding the JSON.
pub fn kind_of(payload: &[u8]) -> &str {
    let text = std::str::from_utf8(payload).unwrap_or("");
    text.split(r#""kind":""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
}

/// Creates `topics` with `partitions` partitions each and waits until every partition has a
/// leader, so that the scenario may produce and read at once.
pub async fn create_topics(kafka: &KafkaConfig, topics: &[&str], partitions: i32) -> Result<()> {
    testkit::topics::create(kafka, topics, partitions, &[]).await
}

/// Deletes topics a scenario made (best effort: a broker that cannot is left as it is).
pub async fn delete_topics(kafka: &KafkaConfig, topics: &[String]) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let Ok(admin) = kafka
        .client_config(&[])
        .create::<AdminClient<DefaultClientContext>>()
    else {
        return;
    };
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    if let Err(e) = admin.delete_topics(&names, &options).await {
        eprintln!("  (could not delete the scenario's topics: {e})");
    }
}

/// A producer that makes big batches (linger 20 ms): Tansu reads single-record batches slowly,
/// and the scenarios' inputs should look like a busy producer's output.
pub fn batching_producer(kafka: &KafkaConfig) -> Result<FutureProducer> {
    Ok(kafka
        .client_config(
            &[
                RELIABLE_PRODUCER,
                &[
                    ("linger.ms", "20"),
                    ("queue.buffering.max.messages", "1000000"),
                    ("queue.buffering.max.kbytes", "1048576"),
                    ("message.timeout.ms", "120000"),
                ],
            ]
            .concat(),
        )
        .create()?)
}

/// One record to produce.
pub struct Spec {
    pub partition: i32,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: Option<Headers>,
}

/// Produces `n` records made by `make(i)` into `topic` with many sends in flight, and checks
/// that the topic then holds them. Prints the rate.
pub async fn fill(
    kafka: &KafkaConfig,
    topic: &str,
    n: u64,
    make: impl Fn(u64) -> Spec,
) -> Result<()> {
    let producer = batching_producer(kafka)?;
    let before = testkit::read::count(kafka, topic)?;
    let started = Instant::now();
    let producer_ref = &producer;
    let make = &make;
    let mut sends = stream::iter(0..n)
        .map(|i| async move {
            let spec = make(i);
            let mut record = FutureRecord::<str, [u8]>::to(topic)
                .partition(spec.partition)
                .key(&spec.key)
                .payload(&spec.payload);
            if let Some(h) = &spec.headers {
                record = record.headers(h.to_kafka());
            }
            producer_ref
                .send(record, Timeout::Never)
                .await
                .map_err(|(e, _)| e)
        })
        .buffer_unordered(20_000);
    while let Some(result) = sends.next().await {
        result.with_context(|| format!("producing to {topic}"))?;
    }
    producer.flush(Duration::from_secs(60))?;
    let elapsed = started.elapsed();
    let after = testkit::read::count(kafka, topic)?;
    if after - before != n as i64 {
        bail!(
            "{topic} holds {} new records after producing {n}",
            after - before
        );
    }
    eprintln!(
        "  produced {n} records into {topic} in {:.1} s ({:.0}/s)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// The usual record `i` of a topic with `partitions` partitions: spread evenly, keyed, 200 bytes.
pub fn plain(i: u64, partitions: i32, kind: &str) -> Spec {
    Spec {
        partition: (i % partitions as u64) as i32,
        key: format!("user{i}"),
        payload: payload(i, kind),
        headers: None,
    }
}

/// Record `i` as a copy Rebound wrote of record `i` of `origin` (spread and keyed like
/// [`plain`]): a retry-topic copy due at `retry_due` (epoch ms), or a dead letter (`None`).
pub fn copy(i: u64, partitions: i32, origin: &str, retry_due: Option<i64>) -> Spec {
    let partition = (i % partitions as u64) as i32;
    Spec {
        partition,
        key: format!("user{i}"),
        payload: payload(i, "ok"),
        headers: Some(hop_headers(
            origin,
            partition,
            (i / partitions as u64) as i64,
            retry_due,
        )),
    }
}

/// Counts handled records and remembers when the first and the last one were handled.
/// `done` is cancelled when `target` records have been counted.
pub struct Tally {
    base: Instant,
    /// `base` as epoch microseconds, to compare the tallies of several processes.
    base_epoch_us: i64,
    target: u64,
    count: AtomicU64,
    first_ns: AtomicU64,
    last_ns: AtomicU64,
    pub done: CancellationToken,
}

impl Tally {
    pub fn new(target: u64) -> Arc<Tally> {
        Arc::new(Tally {
            base: Instant::now(),
            base_epoch_us: now_micros(),
            target,
            count: AtomicU64::new(0),
            first_ns: AtomicU64::new(u64::MAX),
            last_ns: AtomicU64::new(0),
            done: CancellationToken::new(),
        })
    }

    /// Marks the start of the measured span without counting a record (a record handled but not
    /// yet done, as a first attempt that fails).
    pub fn start(&self) {
        let now = self.base.elapsed().as_nanos() as u64;
        self.first_ns.fetch_min(now, Ordering::Relaxed);
    }

    /// Counts a handled record. Only the first, every 1,024th and the records from the target on
    /// read the clock: a clock read (25 ns on these VMs) and three shared atomics per record cost
    /// a contender whose handlers run on two threads (the line bounces between them) more than the
    /// loop on one, which skewed the ratios against Rebound. A run that stops short of its target
    /// ends at most 1,023 records after its last mark.
    pub fn tick(&self) {
        let counted = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if counted != 1 && !counted.is_multiple_of(1024) && counted < self.target {
            return;
        }
        let now = self.base.elapsed().as_nanos() as u64;
        if counted == 1 {
            self.first_ns.fetch_min(now, Ordering::Relaxed);
        }
        self.last_ns.fetch_max(now, Ordering::Relaxed);
        if counted == self.target {
            self.done.cancel();
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Seconds from the first record handled to the last one.
    pub fn span(&self) -> f64 {
        let first = self.first_ns.load(Ordering::Relaxed);
        let last = self.last_ns.load(Ordering::Relaxed);
        if first == u64::MAX || last <= first {
            return f64::NAN;
        }
        (last - first) as f64 / 1e9
    }

    /// When the first and the last record were handled, in epoch microseconds (`None` before
    /// the first).
    pub fn epoch_span(&self) -> Option<(i64, i64)> {
        let first = self.first_ns.load(Ordering::Relaxed);
        if first == u64::MAX {
            return None;
        }
        let last = self.last_ns.load(Ordering::Relaxed).max(first);
        let us = |ns: u64| self.base_epoch_us + (ns / 1000) as i64;
        Some((us(first), us(last)))
    }

    /// Records per second over the measured span.
    pub fn rate(&self) -> f64 {
        self.count() as f64 / self.span()
    }

    /// Waits until `target` records were counted. Fails when nothing was counted for `stall`
    /// (group join included before the first record).
    pub async fn wait(&self, what: &str, stall: Duration) -> Result<()> {
        let mut seen = 0;
        let mut since = Instant::now();
        loop {
            tokio::select! {
                _ = self.done.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            let now = self.count();
            if now != seen {
                seen = now;
                since = Instant::now();
            } else if since.elapsed() > stall {
                bail!(
                    "{what}: stalled at {now} of {} records for {} s",
                    self.target,
                    stall.as_secs()
                );
            }
        }
    }
}

/// Consumer settings of the hand-written baselines: what a careful user writes for
/// at-least-once (store the offset after handling, let librdkafka commit stored offsets every
/// 500 ms), the same commit cadence as Rebound.
pub fn baseline_consumer_config(group: &str) -> Vec<(&str, &str)> {
    vec![
        ("group.id", group),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "500"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
    ]
}

/// The load average now, for the record of how quiet the machine was.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs a blocking baseline on its own thread and waits for it.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("the baseline thread panicked")?
}

/// Runs a Rebound consumer until `tally` reaches its target (or stalls), then shuts it down.
pub async fn run_rebound(
    consumer: rebound::RetryingConsumer,
    tally: &Arc<Tally>,
    what: &str,
) -> Result<()> {
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let run = tokio::spawn(consumer.run(async move { stopped.cancelled().await }));
    let waited = tally.wait(what, Duration::from_secs(90)).await;
    stop.cancel();
    match tokio::time::timeout(Duration::from_secs(60), run).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("  {what}: the consumer ended with an error: {e}"),
        Ok(Err(e)) => eprintln!("  {what}: the consumer task failed: {e}"),
        Err(_) => eprintln!("  {what}: the consumer did not stop within 60 s"),
    }
    waited
}

/// The headers Rebound writes on a copy of record `offset` of `origin` (partition `partition`)
/// after a transient failure: Spring's provenance and failure headers plus Rebound's own.
/// `retry_due` makes it a retry-topic copy due then (epoch ms); `None` makes it a dead letter.
pub fn hop_headers(origin: &str, partition: i32, offset: i64, retry_due: Option<i64>) -> Headers {
    use rebound::headers as h;
    let now = EpochMillis::now().as_i64();
    let mut headers = Headers::new();
    headers.push(h::ORIGINAL_TOPIC, origin.to_string());
    headers.push(h::ORIGINAL_PARTITION, h::encode_i32(partition));
    headers.push(h::ORIGINAL_OFFSET, h::encode_i64(offset));
    headers.push(h::ORIGINAL_TIMESTAMP, h::encode_i64(now - 60_000));
    headers.push(h::ORIGINAL_TIMESTAMP_TYPE, "CreateTime");
    headers.push(h::DLT_ORIGINAL_CONSUMER_GROUP, "bench-group");
    headers.push(h::EXCEPTION_FQCN, "rebound::failure::Message");
    headers.push(h::EXCEPTION_MESSAGE, "451 4.3.0 mailbox busy");
    headers.push(h::EXCEPTION_STACKTRACE, "451 4.3.0 mailbox busy");
    headers.push(h::FAILURE_CLASS, "transient");
    headers.push(h::FIRST_FAILED_AT, (now - 30_000).to_string());
    headers.push(h::FAILED_AT, now.to_string());
    match retry_due {
        Some(due) => {
            headers.push(h::ATTEMPTS, h::encode_i32(2));
            headers.push(h::BACKOFF_TIMESTAMP, h::encode_big_integer(due));
            headers.push(
                h::ORIGINAL_TIMESTAMP_RETRY,
                h::encode_big_integer(now - 60_000),
            );
        }
        None => headers.push(h::ATTEMPTS, h::encode_i32(5)),
    }
    headers
}

/// CPU seconds (user + system) used so far by process `pid` (`self` for this one).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start at index 2 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// The pid of a broker on this machine (Kafka or Tansu) listening on `brokers` (first address), if
/// any: its CPU time is reported beside the client's.
pub fn broker_pid(brokers: &str) -> Option<String> {
    test_broker::broker_pid(brokers.split(',').next()?.trim()).map(|pid| pid.to_string())
}

/// CPU used by this process and by the broker over a span, per record.
pub struct Meter {
    broker: Option<String>,
    client0: f64,
    broker0: Option<f64>,
}

impl Meter {
    pub fn start(broker: Option<&str>) -> Meter {
        Meter {
            broker: broker.map(String::from),
            client0: cpu_seconds("self").unwrap_or(f64::NAN),
            broker0: broker.and_then(cpu_seconds),
        }
    }

    /// (client, broker) CPU microseconds per record.
    pub fn per_record(&self, records: u64) -> (f64, f64) {
        let client = cpu_seconds("self").unwrap_or(f64::NAN) - self.client0;
        let broker = match (&self.broker, self.broker0) {
            (Some(pid), Some(b0)) => cpu_seconds(pid).map_or(f64::NAN, |b| b - b0),
            _ => f64::NAN,
        };
        let n = records.max(1) as f64;
        (client * 1e6 / n, broker * 1e6 / n)
    }
}

/// Hands `copy` to a baseline's producer, serving delivery reports while librdkafka's queue is
/// full, as a hand-written pipelined forwarder does.
pub fn send_waiting<'a, C: ProducerContext>(
    producer: &BaseProducer<C>,
    mut copy: BaseRecord<'a, [u8], [u8], C::DeliveryOpaque>,
) -> Result<()> {
    loop {
        match producer.send(copy) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                copy = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => bail!("baseline: could not send a copy: {e}"),
        }
    }
}
