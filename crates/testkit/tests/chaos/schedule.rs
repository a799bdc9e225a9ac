//! What the chaos test does over time: its reproducible random schedule (kills of workers and of
//! the broker, seeded by the printed seed), the paced producer, and what it reads as it goes (the
//! journal, the partition leaders).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rebound::RELIABLE_PRODUCER;
use testkit::Cluster;
use tokio::task::JoinHandle;

use super::{Config, Scene};

/// What the schedule did: a line an event, and how long the cluster took to recover from the
/// loss of its leader node (three nodes only).
pub(crate) struct Schedule {
    pub(crate) log: Vec<String>,
    /// After the leader node's kill: new leaders elected after, records handled again after.
    pub(crate) recovery: Option<(Duration, Duration)>,
}

impl Schedule {
    fn note(&mut self, line: String) {
        println!("chaos: {line}");
        self.log.push(line);
    }
}

/// A random wait from `from` to `to` ms.
fn millis(rng: &mut StdRng, from: u64, to: u64) -> Duration {
    Duration::from_millis(rng.random_range(from..=to))
}

impl Scene {
    /// The schedule of `config.seed`, while `production` runs: `config.kills` kills of a worker
    /// and one of the broker (the whole broker on one node, the leader node of three), spread
    /// over the production window, the broker's in the middle. One kill keeps its worker down for
    /// several seconds (its partitions wait: static membership keeps them for it until the
    /// session timeout), the others restart it at once.
    pub(crate) async fn run_schedule(
        &mut self,
        config: &Config,
        production: &Production,
    ) -> Schedule {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let events = config.kills + 1;
        let restart_slot = events / 2;
        let long_kill = if config.kills >= 2 { Some(1) } else { None };
        let mut schedule = Schedule {
            log: Vec::new(),
            recovery: None,
        };
        let mut kills_done = 0;
        for slot in 0..events {
            let base = config
                .window
                .mul_f64(0.1 + 0.8 * slot as f64 / events as f64);
            let at = base + millis(&mut rng, 0, 2000);
            while self.started.elapsed() < at {
                self.fleet.watch();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            self.fleet.watch();
            schedule.note(format!(
                "{:>6.1} s  progress: {} produced, {} handlings in the journal",
                self.started.elapsed().as_secs_f64(),
                production.produced.load(Ordering::SeqCst),
                journal(&self.run.journal).len()
            ));
            if slot == restart_slot && config.nodes == 1 {
                let line = self.restart_broker(&mut rng).await;
                schedule.note(line);
            } else if slot == restart_slot {
                let (line, recovery) = self.kill_leader_node(&mut rng).await;
                schedule.recovery = Some(recovery);
                schedule.note(line);
            } else {
                let line = self
                    .kill_worker(&mut rng, long_kill == Some(kills_done))
                    .await;
                kills_done += 1;
                schedule.note(line);
            }
        }
        schedule
    }

    /// kill -9 of a random worker, restarted after a short wait (`long`: several seconds).
    async fn kill_worker(&mut self, rng: &mut StdRng, long: bool) -> String {
        let index = rng.random_range(0..self.fleet.workers.len());
        let down = match long {
            true => millis(rng, 6_000, 9_000),
            false => millis(rng, 200, 3000),
        };
        let killed_at = self.started.elapsed();
        let id = self.fleet.kill_9(index);
        tokio::time::sleep(down).await;
        self.fleet.restart(index);
        format!(
            "{:>6.1} s  kill -9 {id}, restarted after {} ms",
            killed_at.as_secs_f64(),
            down.as_millis()
        )
    }

    /// kill -9 of the single-node broker, restarted after up to 2.5 s.
    async fn restart_broker(&mut self, rng: &mut StdRng) -> String {
        let down = millis(rng, 500, 2500);
        let stopped_at = self.started.elapsed();
        tokio::task::block_in_place(|| self.broker.stop());
        tokio::time::sleep(down).await;
        tokio::task::block_in_place(|| self.broker.restart());
        format!(
            "{:>6.1} s  broker killed, restarted after {} ms down",
            stopped_at.as_secs_f64(),
            down.as_millis()
        )
    }

    /// kill -9 of the node that leads most of the chain's partitions, kept down 6 to 9 s and until
    /// the others elected new leaders and records are handled again; then restarted. The cluster
    /// goes on without the node: its partitions elect new leaders among the two in-sync replicas
    /// left, and writes with acks=all still reach two of them. Returns the line, and when the
    /// new leaders and the first handling came.
    async fn kill_leader_node(&mut self, rng: &mut StdRng) -> (String, (Duration, Duration)) {
        let leaders = leader_counts(&self.cluster, &self.topics);
        let (leader, led) = leaders
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(l, n)| (*l, *n))
            .unwrap();
        let handled_before = journal(&self.run.journal).len();
        let killed_at = self.started.elapsed();
        self.broker.kill_node(leader);
        let killed = Instant::now();
        let mut elected = None;
        let mut resumed = None;
        let down = millis(rng, 6_000, 9_000);
        while killed.elapsed() < down || elected.is_none() || resumed.is_none() {
            self.fleet.watch();
            if elected.is_none()
                && tokio::task::block_in_place(|| leader_counts(&self.cluster, &self.topics))
                    .keys()
                    .all(|l| *l != leader && *l >= 0)
            {
                elected = Some(killed.elapsed());
            }
            if resumed.is_none() && journal(&self.run.journal).len() > handled_before {
                resumed = Some(killed.elapsed());
            }
            assert!(
                killed.elapsed() < Duration::from_secs(120),
                "the cluster did not recover from losing node {leader}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (elected, resumed) = (elected.unwrap(), resumed.unwrap());
        let back = tokio::task::block_in_place(|| self.broker.restart_node(leader));
        let line = format!(
            "{:>6.1} s  kill -9 broker node {leader} (leader of {led} of the chain's partitions): \
             new leaders after {} ms, handling again after {} ms; restarted after {} ms down, \
             serving again {} ms later",
            killed_at.as_secs_f64(),
            elected.as_millis(),
            resumed.as_millis(),
            killed.elapsed().as_millis() - back.as_millis(),
            back.as_millis()
        );
        (line, (elected, resumed))
    }
}

/// The records `{"id": i}` being produced over the run's window, in the background.
pub(crate) struct Production {
    task: JoinHandle<Vec<u64>>,
    /// How many were sent so far.
    pub(crate) produced: Arc<AtomicUsize>,
}

impl Production {
    /// Starts producing `config.records` records to `topic`, evenly over `config.window`.
    pub(crate) fn start(cluster: &Cluster, topic: &str, config: &Config) -> Production {
        let produced = Arc::new(AtomicUsize::new(0));
        let producer: FutureProducer = cluster
            .0
            .client_config(&[RELIABLE_PRODUCER, &[("message.timeout.ms", "120000")]].concat())
            .create()
            .unwrap();
        let task = tokio::spawn(produce_paced(
            producer,
            topic.to_string(),
            config.records,
            config.window,
            produced.clone(),
        ));
        Production { task, produced }
    }

    /// Waits, watching the workers, until every record was sent; returns how long after the
    /// start that was. Panics when a record could not be produced.
    pub(crate) async fn finish(self, scene: &mut Scene) -> Duration {
        while !self.task.is_finished() {
            scene.fleet.watch();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let not_produced = self.task.await.unwrap();
        assert!(
            not_produced.is_empty(),
            "{} records could not be produced",
            not_produced.len()
        );
        scene.started.elapsed()
    }
}

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
async fn produce_paced(
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
