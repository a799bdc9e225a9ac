//! Chaos: records flow through a retry chain while worker processes are killed with SIGKILL and
//! restarted, and the broker itself is restarted. An audit then reads the workers' journal and the
//! DLT, and counts the main and retry topics: nothing may be lost and nothing may reach the DLT that
//! should not. The figures of runs are in RELIABILITY.md.
//!
//! Runs on a private broker so that killing it disturbs no other test: once on a single node
//! (killed and restarted), once on a three-node cluster whose leader node is killed and restarted
//! later. The two runs take turns. Sizes come from the environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `REBOUND_CHAOS_RECORDS` | 5000 | records produced (100,000 for the full run of RELIABILITY.md) |
//! | `REBOUND_CHAOS_SECS` | 40, or records/400 if more | how long production lasts (chaos happens meanwhile) |
//! | `REBOUND_CHAOS_WORKERS` | 3 | worker processes in the group |
//! | `REBOUND_CHAOS_KILLS` | 4 | kill -9 events (one keeps its worker down 6–9 s, the others 0.2–3 s) |
//! | `REBOUND_CHAOS_DRAIN_SECS` | 150 | how long to wait, after production, for every record to finish |
//! | `REBOUND_CHAOS_SEED` | from the clock | the random schedule (printed, to replay a run) |
//! | `REBOUND_CHAOS_WORKER_LOG` | `warn,rebound=info` | the workers' log filter (their logs are in the run's folder) |
//! | `REBOUND_CHAOS_DEBUG` | unset | librdkafka `debug` contexts for the workers (e.g. `cgrp`) |
//! | `REBOUND_CHAOS_KEEP` | unset | keep the journal and worker logs of a passing run too |
//!
//! ```sh
//! cargo xtask test -p testkit --test chaos -- --nocapture    # CI size, both runs
//! REBOUND_CHAOS_RECORDS=100000 REBOUND_CHAOS_DRAIN_SECS=600 \
//!     cargo xtask test --release -p testkit --test chaos -- --nocapture chaos_loses_nothing
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rebound::headers as h;
use rebound::naming::TopicChain;
use rebound::{Backoff, RetryPolicy, RELIABLE_PRODUCER};
use testkit::process::Process;
use testkit::*;

const ATTEMPTS: u32 = 4;
const PARTITIONS: i32 = 4;
/// Longer than any planned absence (a killed worker's, or the broker's), as a deployment with
/// static membership sets it: a worker restarted within it gets its own partitions back without a
/// rebalance (KIP-345). On Tansu 0.6.0 it is also a workaround: a static member, or the group
/// leader, that misses its session timeout can leave the group with a leader that is no longer a
/// member, and then no member ever gets an assignment again (RELIABILITY.md, "Tansu 0.6.0").
const SESSION_TIMEOUT_MS: u64 = 30_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// How many partitions of `topics` each broker node leads (-1: no leader now).
fn leader_counts(cluster: &Cluster, topics: &[String]) -> BTreeMap<i32, usize> {
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
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}

/// One worker process of the group, with a stable instance id.
struct Worker {
    id: String,
    process: Process,
}

struct Fleet {
    kafka: rebound::KafkaConfig,
    topic: String,
    group: String,
    dir: PathBuf,
    journal: PathBuf,
    workers: Vec<Worker>,
    kills: usize,
    unexpected_exits: Vec<String>,
    /// The workers' `--order`.
    order: &'static str,
}

impl Fleet {
    /// Starts worker `id` on the private broker; its log (`<id>.log`) is appended to across
    /// restarts.
    fn spawn(&self, id: &str) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chaos-worker"));
        command
            .args(["--topic", &self.topic, "--group", &self.group])
            .args(["--instance-id", id])
            .args(["--attempts", &ATTEMPTS.to_string(), "--delay-ms", "50"])
            .args(["--multiplier", "2", "--dlt-suffix", ".dlt"])
            .args(["--order", self.order])
            .arg("--journal")
            .arg(&self.journal)
            .args(["-X", &format!("session.timeout.ms={SESSION_TIMEOUT_MS}")])
            .args(
                std::env::var("REBOUND_CHAOS_DEBUG")
                    .map(|d| vec!["-X".to_string(), format!("debug={d}")])
                    .unwrap_or_default(),
            )
            .env(
                "RUST_LOG",
                std::env::var("REBOUND_CHAOS_WORKER_LOG")
                    .unwrap_or_else(|_| "warn,rebound=info".into()),
            );
        let log = self.dir.join(format!("{id}.log"));
        Process::spawn_on(&self.kafka, &log, id, &mut command)
    }

    fn start(&mut self, id: &str) {
        let process = self.spawn(id);
        self.workers.push(Worker {
            id: id.to_string(),
            process,
        });
    }

    fn kill_9(&mut self, index: usize) -> String {
        let worker = &mut self.workers[index];
        worker.process.kill();
        self.kills += 1;
        worker.id.clone()
    }

    fn restart(&mut self, index: usize) {
        let id = self.workers[index].id.clone();
        self.workers[index].process = self.spawn(&id);
    }

    /// Restarts any worker that exited by itself, and notes it: a worker must not die.
    fn watch(&mut self) {
        for index in 0..self.workers.len() {
            if let Some(status) = self.workers[index].process.exited() {
                let id = self.workers[index].id.clone();
                eprintln!("chaos: worker {id} exited by itself ({status}); restarting it");
                self.unexpected_exits.push(format!("{id}: {status}"));
                self.restart(index);
            }
        }
    }

    /// SIGTERM to every worker, then wait (SIGKILL after 15 s).
    fn stop_all(&mut self) {
        for worker in &self.workers {
            worker.process.terminate();
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        for worker in &mut self.workers {
            worker
                .process
                .stop_within(deadline.saturating_duration_since(Instant::now()));
        }
    }
}

/// Successful handlings per worker, from the journal.
fn handled_by_worker(path: &Path) -> String {
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
fn journal(path: &Path) -> Vec<(u64, u32)> {
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

/// What the audit found.
#[derive(Default)]
struct Audit {
    produced: usize,
    main_records: usize,
    expected_handled: usize,
    handled: usize,
    wrong_attempt: usize,
    expected_exhausted: usize,
    expected_permanent: usize,
    dead_lettered_as_expected: usize,
    dlt_bad_headers: usize,
    lost: Vec<u64>,
    wrong_dlt: Vec<u64>,
    handled_but_doomed: Vec<u64>,
    journal_lines: usize,
    dlt_records: usize,
    dlt_distinct: usize,
    retries: Vec<(String, usize, usize)>,
    invented: usize,
}

impl Audit {
    fn duplicate_handlings(&self) -> usize {
        self.journal_lines - self.handled
    }

    fn print(&self, extra: &[(&str, String)]) {
        let rate = |dups: usize, of: usize| {
            if of == 0 {
                "0".to_string()
            } else {
                format!("{dups} ({:.2} %)", 100.0 * dups as f64 / of as f64)
            }
        };
        let mut rows: Vec<(String, String)> = vec![
            (
                "records produced (distinct ids)".into(),
                self.produced.to_string(),
            ),
            (
                "records in the main topic".into(),
                self.main_records.to_string(),
            ),
            ("expected handled".into(), self.expected_handled.to_string()),
            (
                "handled (distinct ids in the journal)".into(),
                self.handled.to_string(),
            ),
            (
                "handled on the wrong attempt".into(),
                self.wrong_attempt.to_string(),
            ),
            (
                "expected dead letters (exhausted + permanent)".into(),
                format!(
                    "{} ({} + {})",
                    self.expected_exhausted + self.expected_permanent,
                    self.expected_exhausted,
                    self.expected_permanent
                ),
            ),
            (
                "dead-lettered as expected".into(),
                self.dead_lettered_as_expected.to_string(),
            ),
            (
                "dead letters with wrong class/attempts headers".into(),
                self.dlt_bad_headers.to_string(),
            ),
            ("LOST (must be 0)".into(), self.lost.len().to_string()),
            (
                "in the DLT but should not be (must be 0)".into(),
                self.wrong_dlt.len().to_string(),
            ),
            (
                "handled but should have failed".into(),
                self.handled_but_doomed.len().to_string(),
            ),
            ("journal lines".into(), self.journal_lines.to_string()),
            (
                "duplicate handlings (rate of handled)".into(),
                rate(self.duplicate_handlings(), self.handled),
            ),
            (
                "duplicate dead letters (rate of dead letters)".into(),
                rate(self.dlt_records - self.dlt_distinct, self.dlt_distinct),
            ),
            (
                "ids in the journal or DLT never produced".into(),
                self.invented.to_string(),
            ),
        ];
        for (topic, expected, actual) in &self.retries {
            let name = topic.rsplit('-').next().unwrap_or(topic);
            rows.push((
                format!("copies in retry topic -{name}: expected / written"),
                format!("{expected} / {actual}"),
            ));
        }
        rows.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        println!("\nchaos audit");
        println!("| {:width$} | value |", "measure");
        println!("|{}|-------|", "-".repeat(width + 2));
        for (k, v) in rows {
            println!("| {k:width$} | {v} |");
        }
    }
}

/// One dead letter: the record's id, its `rebound-failure-class` and `retry_topic-attempts`.
struct DeadLetter {
    id: u64,
    class: Option<String>,
    attempts: Option<Vec<u8>>,
}

/// Every dead letter now in `dlt`, read by assignment from the low to the high watermark.
///
/// Tansu 0.6.0's SQLite engine looks up the headers of each record it serves with a scan of every
/// header it stores (`header_fetch.sql`, no index), so a fetch gets slower as a run writes more
/// headers: this reader waits as long as it makes progress, up to 2 minutes without any.
fn read_dead_letters(cluster: &Cluster, dlt: &str) -> Vec<DeadLetter> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers as _, Message};
    use rdkafka::{Offset, TopicPartitionList};

    let consumer: BaseConsumer = cluster
        .0
        .client_config(&[("group.id", "chaos-audit"), ("enable.auto.commit", "false")])
        .create()
        .unwrap();
    let mut ends = std::collections::HashMap::new();
    let mut list = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        let (low, high) = consumer
            .fetch_watermarks(dlt, p, Duration::from_secs(30))
            .expect("DLT watermarks");
        if high > low {
            ends.insert(p, high);
            list.add_partition_offset(dlt, p, Offset::Offset(low))
                .unwrap();
        }
    }
    let mut letters = Vec::new();
    if ends.is_empty() {
        return letters;
    }
    consumer.assign(&list).unwrap();
    let mut progress = Instant::now();
    while !ends.is_empty() {
        assert!(
            progress.elapsed() < Duration::from_secs(120),
            "reading {dlt} made no progress for 2 minutes; left: {ends:?}"
        );
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        progress = Instant::now();
        let end = ends.get(&m.partition()).copied();
        if end.is_some_and(|end| m.offset() < end) {
            let header = |key: &str| {
                m.headers().and_then(|hs| {
                    hs.iter()
                        .filter(|x| x.key == key)
                        .last()
                        .and_then(|x| x.value.map(<[u8]>::to_vec))
                })
            };
            let id = m
                .payload()
                .and_then(|p| serde_json::from_slice::<serde_json::Value>(p).ok())
                .and_then(|v| v.get("id")?.as_u64());
            if let Some(id) = id {
                letters.push(DeadLetter {
                    id,
                    class: header(h::FAILURE_CLASS).map(|v| String::from_utf8_lossy(&v).into()),
                    attempts: header(h::ATTEMPTS),
                });
            }
        }
        if end.is_some_and(|end| m.offset() + 1 >= end) {
            ends.remove(&m.partition());
        }
    }
    letters
}

/// The audit reads the journal and the DLT in full, and counts the main and retry topics (their
/// watermarks): reading every topic in full is slow on Tansu's SQLite engine (see
/// [`read_dead_letters`]), and the ids produced are known from the producer's acknowledgements.
fn audit(cluster: &Cluster, chain: &TopicChain, journal_path: &Path, n: u64) -> Audit {
    let mut audit = Audit {
        produced: n as usize,
        main_records: cluster.count(&chain.main) as usize,
        ..Audit::default()
    };

    let lines = journal(journal_path);
    audit.journal_lines = lines.len();
    let mut handled: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for (id, attempt) in &lines {
        handled.entry(*id).or_default().push(*attempt);
    }
    audit.handled = handled.len();

    let dead = read_dead_letters(cluster, chain.dlt.as_deref().unwrap());
    audit.dlt_records = dead.len();
    let mut dead_ids: BTreeMap<u64, Vec<&DeadLetter>> = BTreeMap::new();
    for letter in &dead {
        dead_ids.entry(letter.id).or_default().push(letter);
    }
    audit.dlt_distinct = dead_ids.len();

    for id in 0..n {
        let fate = Fate::of(id);
        if fate.dead_letters(ATTEMPTS) {
            if fate.permanent {
                audit.expected_permanent += 1;
            } else {
                audit.expected_exhausted += 1;
            }
            match dead_ids.get(&id) {
                Some(copies) => {
                    audit.dead_lettered_as_expected += 1;
                    // `retry_topic-attempts` on a DLT copy is deliveries + 1, as Spring writes it.
                    let (class, attempts) = if fate.permanent {
                        ("permanent", 2)
                    } else {
                        ("transient", ATTEMPTS as i32 + 1)
                    };
                    let bad = copies.iter().any(|letter| {
                        letter.class.as_deref() != Some(class)
                            || letter.attempts.as_deref() != Some(&attempts.to_be_bytes()[..])
                    });
                    audit.dlt_bad_headers += bad as usize;
                }
                None => audit.lost.push(id),
            }
            if handled.contains_key(&id) {
                audit.handled_but_doomed.push(id);
            }
        } else {
            audit.expected_handled += 1;
            match handled.get(&id) {
                Some(attempts) => {
                    let right = fate.fail_times + 1;
                    audit.wrong_attempt += attempts.iter().filter(|a| **a != right).count();
                }
                None => audit.lost.push(id),
            }
            if dead_ids.contains_key(&id) {
                audit.wrong_dlt.push(id);
            }
        }
    }
    audit.invented = dead_ids
        .keys()
        .chain(handled.keys())
        .filter(|id| **id >= n)
        .count();

    for (i, retry) in chain.retries.iter().enumerate() {
        // Retry topic i (0-based) delivers attempt i + 2: it gets a copy of every record that
        // failed attempt i + 1 transiently.
        let expected = (0..n)
            .filter(|id| {
                let fate = Fate::of(*id);
                !fate.permanent && fate.fail_times > i as u32
            })
            .count();
        audit.retries.push((
            retry.name.clone(),
            expected,
            cluster.count(&retry.name) as usize,
        ));
    }
    audit
}

/// One broker node, killed with SIGKILL and restarted once in the middle of the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_loses_nothing() {
    let _alone = SERIAL.lock().await;
    run_chaos(1, "partition").await;
}

/// Three nodes as production runs them (replication factor 3, `min.insync.replicas=2`): the node
/// that leads most of the chain's partitions is killed with SIGKILL while records are in the
/// retry topics and on their way to the DLT, kept down for several seconds, then restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_on_three_brokers_survives_the_leader_killed() {
    let _alone = SERIAL.lock().await;
    run_chaos(3, "partition").await;
}

/// Records run at once inside each partition (`ProcessingOrder::Key`): kills lose nothing there
/// either, and what runs again after a kill stays within what was in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_in_key_order_loses_nothing() {
    let _alone = SERIAL.lock().await;
    run_chaos(1, "key").await;
}

/// Any record beside any other (`ProcessingOrder::Unordered`): the same engine with another
/// admission, so the same audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_in_unordered_order_loses_nothing() {
    let _alone = SERIAL.lock().await;
    run_chaos(1, "unordered").await;
}

/// The runs take the machine's whole CPU each: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run_chaos(nodes: usize, order: &'static str) {
    init_tracing();
    let n = env_u64("REBOUND_CHAOS_RECORDS", 5000);
    let window = Duration::from_secs(env_u64("REBOUND_CHAOS_SECS", (n / 400).max(40)));
    let worker_count = env_u64("REBOUND_CHAOS_WORKERS", 3).max(1) as usize;
    let kill_count = env_u64("REBOUND_CHAOS_KILLS", 4) as usize;
    let drain = Duration::from_secs(env_u64("REBOUND_CHAOS_DRAIN_SECS", 150));
    let seed = env_u64(
        "REBOUND_CHAOS_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    )
    .max(1);
    println!(
        "chaos: {n} records over {window:?}, {worker_count} workers in {order} order, \
         {kill_count} kills, 1 broker kill on {nodes} node(s), seed {seed}"
    );
    let mut rng = Rng(seed);

    let mut broker = PrivateBroker::cluster(nodes);
    let cluster = Cluster(broker.kafka());
    let topic = unique("chaos");
    cluster.create_topic(&topic, PARTITIONS).await;
    let policy = RetryPolicy::new(ATTEMPTS)
        .backoff(Backoff::exponential(Duration::from_millis(50), 2.0))
        .dlt_suffix(".dlt");
    let chain = TopicChain::new(&topic, &policy);
    let dlt = chain.dlt.clone().unwrap();
    let dir = std::env::temp_dir().join(unique("chaos"));
    std::fs::create_dir_all(&dir).unwrap();
    let journal_path = dir.join("journal");
    println!(
        "chaos: chain {:?}; logs in {}",
        chain.topic_names(),
        dir.display()
    );

    let mut fleet = Fleet {
        kafka: broker.kafka(),
        topic: topic.clone(),
        group: unique("chaos-group"),
        dir: dir.clone(),
        journal: journal_path.clone(),
        workers: Vec::new(),
        kills: 0,
        unexpected_exits: Vec::new(),
        order,
    };
    for i in 1..=worker_count {
        fleet.start(&format!("chaos-w{i}"));
    }
    // The workers create the retry topics and the DLT: wait for them before any chaos.
    let topics: Vec<String> = chain.topic_names().iter().map(|t| t.to_string()).collect();
    wait_until(Duration::from_secs(60), "the chain's topics", || async {
        topics
            .iter()
            .all(|t| cluster.partition_count(t) == Some(PARTITIONS as usize))
    })
    .await;

    let started = Instant::now();
    let produced = Arc::new(AtomicUsize::new(0));
    let producer: FutureProducer = cluster
        .0
        .client_config(&[RELIABLE_PRODUCER, &[("message.timeout.ms", "120000")]].concat())
        .create()
        .unwrap();
    let production = tokio::spawn(produce_paced(
        producer,
        topic.clone(),
        n,
        window,
        produced.clone(),
    ));

    // The schedule: kills spread over the production window, the broker restart in the middle.
    // One kill keeps its worker down for several seconds (its partitions wait: static membership
    // keeps them for it until the session timeout), the others restart it at once.
    let events = kill_count + 1;
    let restart_slot = events / 2;
    let long_kill = if kill_count >= 2 { Some(1) } else { None };
    let mut log = Vec::new();
    let mut note = |line: String| {
        println!("chaos: {line}");
        log.push(line);
    };
    let mut kills_done = 0;
    let mut recovery: Option<(Duration, Duration)> = None;
    for slot in 0..events {
        let base = window.mul_f64(0.1 + 0.8 * slot as f64 / events as f64);
        let at = base + rng.millis(0, 2000);
        while started.elapsed() < at {
            fleet.watch();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        fleet.watch();
        note(format!(
            "{:>6.1} s  progress: {} produced, {} handlings in the journal",
            started.elapsed().as_secs_f64(),
            produced.load(Ordering::SeqCst),
            journal(&journal_path).len()
        ));
        if slot == restart_slot && nodes == 1 {
            let down = rng.millis(500, 2500);
            let stopped_at = started.elapsed();
            tokio::task::block_in_place(|| broker.stop());
            tokio::time::sleep(down).await;
            tokio::task::block_in_place(|| broker.restart());
            note(format!(
                "{:>6.1} s  broker killed, restarted after {} ms down",
                stopped_at.as_secs_f64(),
                down.as_millis()
            ));
        } else if slot == restart_slot {
            // The cluster goes on without the node: its partitions elect new leaders among the
            // two in-sync replicas left, and writes with acks=all still reach two of them.
            let leaders = leader_counts(&cluster, &topics);
            let (leader, led) = leaders
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(l, n)| (*l, *n))
                .unwrap();
            let handled_before = journal(&journal_path).len();
            let killed_at = started.elapsed();
            broker.kill_node(leader);
            let killed = Instant::now();
            let mut elected = None;
            let mut resumed = None;
            let down = rng.millis(6_000, 9_000);
            while killed.elapsed() < down || elected.is_none() || resumed.is_none() {
                fleet.watch();
                if elected.is_none()
                    && tokio::task::block_in_place(|| leader_counts(&cluster, &topics))
                        .keys()
                        .all(|l| *l != leader && *l >= 0)
                {
                    elected = Some(killed.elapsed());
                }
                if resumed.is_none() && journal(&journal_path).len() > handled_before {
                    resumed = Some(killed.elapsed());
                }
                assert!(
                    killed.elapsed() < Duration::from_secs(120),
                    "the cluster did not recover from losing node {leader}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let (elected, resumed) = (elected.unwrap(), resumed.unwrap());
            recovery = Some((elected, resumed));
            let back = tokio::task::block_in_place(|| broker.restart_node(leader));
            note(format!(
                "{:>6.1} s  kill -9 broker node {leader} (leader of {led} of the chain's partitions): \
                 new leaders after {} ms, handling again after {} ms; restarted after {} ms down, \
                 serving again {} ms later",
                killed_at.as_secs_f64(),
                elected.as_millis(),
                resumed.as_millis(),
                killed.elapsed().as_millis() - back.as_millis(),
                back.as_millis()
            ));
        } else {
            let index = rng.below(fleet.workers.len() as u64) as usize;
            let down = if long_kill == Some(kills_done) {
                rng.millis(6_000, 9_000)
            } else {
                rng.millis(200, 3000)
            };
            let killed_at = started.elapsed();
            let id = fleet.kill_9(index);
            tokio::time::sleep(down).await;
            fleet.restart(index);
            kills_done += 1;
            note(format!(
                "{:>6.1} s  kill -9 {id}, restarted after {} ms",
                killed_at.as_secs_f64(),
                down.as_millis()
            ));
        }
    }
    while !production.is_finished() {
        fleet.watch();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let not_produced = production.await.unwrap();
    let production_time = started.elapsed();
    assert!(
        not_produced.is_empty(),
        "{} records could not be produced",
        not_produced.len()
    );

    // Wait (bounded) until every record reached its end: handled, or in the DLT.
    let expected_handled: BTreeSet<u64> = (0..n)
        .filter(|id| !Fate::of(*id).dead_letters(ATTEMPTS))
        .collect();
    let expected_dead: BTreeSet<u64> = (0..n)
        .filter(|id| Fate::of(*id).dead_letters(ATTEMPTS))
        .collect();
    // Cheap checks first (the journal, the DLT's watermarks); the DLT is read only when its count
    // says it may be complete.
    let deadline = Instant::now() + drain;
    let mut complete = false;
    while Instant::now() < deadline {
        fleet.watch();
        let handled: BTreeSet<u64> = journal(&journal_path).iter().map(|(id, _)| *id).collect();
        if expected_handled.is_subset(&handled)
            && cluster.count(&dlt) as usize >= expected_dead.len()
        {
            let dead: BTreeSet<u64> =
                tokio::task::block_in_place(|| read_dead_letters(&cluster, &dlt))
                    .iter()
                    .map(|letter| letter.id)
                    .collect();
            if expected_dead.is_subset(&dead) {
                complete = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let completion_time = started.elapsed();
    tokio::task::block_in_place(|| fleet.stop_all());
    println!(
        "chaos: workers stopped at {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let audit = tokio::task::block_in_place(|| audit(&cluster, &chain, &journal_path, n));
    println!(
        "chaos: audit read at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("\nchaos schedule (seed {seed}):");
    for line in &log {
        println!("  {line}");
    }
    audit.print(&[
        ("worker processes", worker_count.to_string()),
        ("handlings per worker", handled_by_worker(&journal_path)),
        ("broker nodes", nodes.to_string()),
        (
            "kill -9 of workers / of a broker node",
            format!("{} / 1", fleet.kills),
        ),
        (
            "after the leader's kill: new leaders / handling again",
            match recovery {
                Some((elected, resumed)) => {
                    format!("{} ms / {} ms", elected.as_millis(), resumed.as_millis())
                }
                None => "(single node: the whole broker was down)".to_string(),
            },
        ),
        (
            "workers that exited by themselves",
            fleet.unexpected_exits.len().to_string(),
        ),
        (
            "production time",
            format!("{:.1} s", production_time.as_secs_f64()),
        ),
        (
            "all records done after",
            if complete {
                format!("{:.1} s", completion_time.as_secs_f64())
            } else {
                format!("NOT DONE after {:.1} s", completion_time.as_secs_f64())
            },
        ),
    ]);

    let sample = |ids: &[u64]| ids.iter().take(20).copied().collect::<Vec<_>>();
    assert_eq!(
        audit.produced as u64, n,
        "every record reached the main topic"
    );
    assert!(
        audit.lost.is_empty(),
        "{} records lost (first: {:?}); worker logs in {}",
        audit.lost.len(),
        sample(&audit.lost),
        dir.display()
    );
    assert!(
        audit.wrong_dlt.is_empty(),
        "{} records in the DLT that should not be there (first: {:?})",
        audit.wrong_dlt.len(),
        sample(&audit.wrong_dlt)
    );
    assert!(
        audit.handled_but_doomed.is_empty(),
        "records handled that must fail: {:?}",
        sample(&audit.handled_but_doomed)
    );
    assert_eq!(audit.wrong_attempt, 0, "handlings on the wrong attempt");
    assert_eq!(audit.dlt_bad_headers, 0, "dead letters with wrong headers");
    assert_eq!(audit.invented, 0, "ids that were never produced");
    assert!(
        fleet.unexpected_exits.is_empty(),
        "workers died by themselves: {:?}; logs in {}",
        fleet.unexpected_exits,
        dir.display()
    );
    if std::env::var_os("REBOUND_CHAOS_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
