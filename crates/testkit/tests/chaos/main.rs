//! Chaos: records flow through a retry chain while worker processes are killed with SIGKILL and
//! restarted, and the broker itself is restarted. The audit the network-fault test uses too ([`testkit::audit`]) then reads the workers' journal and the
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

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::FutureProducer;
use rebound::RELIABLE_PRODUCER;
use testkit::audit::{audit, read_dead_letters, WorkerRun};
use testkit::*;

mod fleet;
mod schedule;

use fleet::Fleet;
use schedule::{handled_by_worker, journal, leader_counts, produce_paced, Rng};

const ATTEMPTS: u32 = 4;
const PARTITIONS: i32 = 4;
/// Longer than any planned absence (a killed worker's, or the broker's), as a deployment with
/// static membership sets it: a worker restarted within it gets its own partitions back without a
/// rebalance (KIP-345). On Tansu 0.6.0 it is also a workaround: a static member, or the group
/// leader, that misses its session timeout can leave the group with a leader that is no longer a
/// member, and then no member ever gets an assignment again (RELIABILITY.md, "Tansu 0.6.0").
const SESSION_TIMEOUT_MS: u64 = 30_000;

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
    let WorkerRun {
        topic,
        chain,
        dlt,
        dir,
        journal: journal_path,
    } = WorkerRun::start(
        &cluster,
        "chaos",
        PARTITIONS,
        ATTEMPTS,
        Duration::from_millis(50),
    )
    .await;

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
                    .filter_map(|letter| letter.id)
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

    let audit = tokio::task::block_in_place(|| audit(&cluster, &chain, &journal_path, n, ATTEMPTS));
    println!(
        "chaos: audit read at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("\nchaos schedule (seed {seed}):");
    for line in &log {
        println!("  {line}");
    }
    audit.print(
        "chaos audit",
        [
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
        ],
    );

    assert_eq!(
        audit.produced as u64, n,
        "every record reached the main topic"
    );
    audit.assert_delivered(&dir);
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
