//! What the chaos test does over time: its reproducible random schedule, the paced producer,
//! and what it reads as it goes (the journal, the partition leaders).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use testkit::Cluster;

/// How many partitions of `topics` each broker node leads (-1: no leader now).
pub(crate) fn leader_counts(cluster: &Cluster, topics: &[String]) -> BTreeMap<i32, usize> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = cluster.0.client_config(&[]).create().unwrap();
    let mut counts = BTreeMap::new();
    for topic in topics {
        let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) else {
            *counts.entry(-1).or_default() += 1;
            continue;
        };
        for t in metadata.topics() {
            for p in t.partitions() {
                *counts.entry(p.leader()).or_default() += 1;
            }
        }
    }
    counts
}

/// xorshift64*: a reproducible schedule from a printed seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub(crate) fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}

/// Successful handlings per worker, from the journal.
pub(crate) fn handled_by_worker(path: &Path) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for entry in testkit::journal::read(path) {
        *by.entry(entry.worker).or_default() += 1;
    }
    by.iter()
        .map(|(w, n)| format!("{w} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Journal lines: `(id, attempt)` of every successful handling.
pub(crate) fn journal(path: &Path) -> Vec<(u64, u32)> {
    testkit::journal::read(path)
        .into_iter()
        .map(|e| (e.id, e.attempt))
        .collect()
}

/// Produces `n` records `{"id": i}` evenly over `window`, keyed by id, at most 2000 in flight.
/// A failed send is tried again (the broker restarts meanwhile); returns the ids whose send never
/// succeeded.
pub(crate) async fn produce_paced(
    producer: FutureProducer,
    topic: String,
    n: u64,
    window: Duration,
    produced: Arc<AtomicUsize>,
) -> Vec<u64> {
    const IN_FLIGHT: u32 = 2000;
    let start = Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT as usize));
    let failed: Arc<Mutex<Vec<u64>>> = Arc::default();
    for id in 0..n {
        let due = start + window.mul_f64(id as f64 / n as f64);
        if due > Instant::now() + Duration::from_millis(5) {
            tokio::time::sleep_until(due.into()).await;
        }
        let permit = permits.clone().acquire_owned().await.unwrap();
        let (producer, topic, produced, failed) = (
            producer.clone(),
            topic.clone(),
            produced.clone(),
            failed.clone(),
        );
        // A task per record: a send is enqueued only once its future is polled.
        tokio::spawn(async move {
            let _permit = permit;
            let key = id.to_string();
            let payload = format!(r#"{{"id":{id}}}"#);
            for _ in 0..5 {
                let record = FutureRecord::to(&topic).key(&key).payload(&payload);
                match producer
                    .send(record, Timeout::After(Duration::from_secs(60)))
                    .await
                {
                    Ok(_) => {
                        produced.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    Err((e, _)) => {
                        eprintln!("chaos: producing {id} failed ({e}); trying again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            failed.lock().unwrap().push(id);
        });
    }
    let _all = permits.acquire_many(IN_FLIGHT).await.unwrap();
    let failed = failed.lock().unwrap().clone();
    failed
}
