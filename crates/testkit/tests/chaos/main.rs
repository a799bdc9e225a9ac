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
//! A run reads as four steps: its configuration ([`Config`]), the schedule of kills while records
//! are produced ([`Scene::run_schedule`]), the drain until every record finished
//! ([`Scene::drain`]), and the audit ([`report`], then the assertions).
//!
//! ```sh
//! cargo xtask test -p testkit --test chaos -- --nocapture    # CI size, both runs
//! REBOUND_CHAOS_RECORDS=100000 REBOUND_CHAOS_DRAIN_SECS=600 \
//!     cargo xtask test --release -p testkit --test chaos -- --nocapture chaos_loses_nothing
//! ```

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use testkit::audit::{audit, read_dead_letters, Audit, WorkerRun};
use testkit::*;

mod fleet;
mod schedule;

use fleet::Fleet;
use schedule::{handled_by_worker, journal, Production, Schedule};

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

/// A run's sizes and seed, from the environment (the table above).
struct Config {
    records: u64,
    /// How long production lasts.
    window: Duration,
    workers: usize,
    kills: usize,
    /// How long to wait, after production, for every record to finish.
    drain: Duration,
    seed: u64,
    nodes: usize,
    /// The workers' `--order`.
    order: &'static str,
}

impl Config {
    fn from_env(nodes: usize, order: &'static str) -> Config {
        let records = env_u64("REBOUND_CHAOS_RECORDS", 5000);
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Config {
            records,
            window: Duration::from_secs(env_u64("REBOUND_CHAOS_SECS", (records / 400).max(40))),
            workers: env_u64("REBOUND_CHAOS_WORKERS", 3).max(1) as usize,
            kills: env_u64("REBOUND_CHAOS_KILLS", 4) as usize,
            drain: Duration::from_secs(env_u64("REBOUND_CHAOS_DRAIN_SECS", 150)),
            seed: env_u64("REBOUND_CHAOS_SEED", clock),
            nodes,
            order,
        }
    }
}

/// What a run acts on: the private broker, the worker processes, the run's topics and journal.
struct Scene {
    broker: PrivateBroker,
    cluster: Cluster,
    fleet: Fleet,
    run: WorkerRun,
    /// Every topic of the chain, the main one first.
    topics: Vec<String>,
    /// When production started.
    started: Instant,
}

async fn run_chaos(nodes: usize, order: &'static str) {
    init_tracing();
    let config = Config::from_env(nodes, order);
    println!(
        "chaos: {} records over {:?}, {} workers in {order} order, {} kills, 1 broker kill on \
         {nodes} node(s), seed {}",
        config.records, config.window, config.workers, config.kills, config.seed
    );
    let mut scene = Scene::start(&config).await;
    let production = Production::start(&scene.cluster, &scene.run.topic, &config);
    let schedule = scene.run_schedule(&config, &production).await;
    let production_time = production.finish(&mut scene).await;
    let completion = scene.drain(&config).await;
    tokio::task::block_in_place(|| scene.fleet.stop_all());
    println!(
        "chaos: workers stopped at {:.1} s",
        scene.started.elapsed().as_secs_f64()
    );

    let audit = tokio::task::block_in_place(|| {
        audit(
            &scene.cluster,
            &scene.run.chain,
            &scene.run.journal,
            config.records,
            ATTEMPTS,
        )
    });
    println!(
        "chaos: audit read at {:.1} s",
        scene.started.elapsed().as_secs_f64()
    );
    report(
        &config,
        &scene,
        &schedule,
        &audit,
        production_time,
        completion,
    );
    assert_eq!(
        audit.produced as u64, config.records,
        "every record reached the main topic"
    );
    audit.assert_delivered(&scene.run.dir);
    assert!(
        scene.fleet.unexpected_exits.is_empty(),
        "workers died by themselves: {:?}; logs in {}",
        scene.fleet.unexpected_exits,
        scene.run.dir.display()
    );
    if std::env::var_os("REBOUND_CHAOS_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&scene.run.dir);
    }
}

impl Scene {
    /// A private broker of `config.nodes`, the run's main topic, and its workers; returns once
    /// the workers created the retry topics and the DLT, before any chaos.
    async fn start(config: &Config) -> Scene {
        let broker = PrivateBroker::cluster(config.nodes);
        let cluster = Cluster(broker.kafka());
        let run = WorkerRun::start(
            &cluster,
            "chaos",
            PARTITIONS,
            ATTEMPTS,
            Duration::from_millis(50),
        )
        .await;
        let mut fleet = Fleet::new(broker.kafka(), &run, config.order);
        for i in 1..=config.workers {
            fleet.start(&format!("chaos-w{i}"));
        }
        let topics: Vec<String> = run
            .chain
            .topic_names()
            .iter()
            .map(|t| t.to_string())
            .collect();
        wait_until(Duration::from_secs(60), "the chain's topics", || async {
            topics
                .iter()
                .all(|t| cluster.partition_count(t) == Some(PARTITIONS as usize))
        })
        .await;
        Scene {
            broker,
            cluster,
            fleet,
            run,
            topics,
            started: Instant::now(),
        }
    }

    /// Waits, at most `config.drain`, until every record reached its end: handled, or in the
    /// DLT. Returns how long after the start it was done, or (`Err`) gave up.
    async fn drain(&mut self, config: &Config) -> Result<Duration, Duration> {
        let (expected_dead, expected_handled): (BTreeSet<u64>, BTreeSet<u64>) =
            (0..config.records).partition(|id| Fate::of(*id).dead_letters(ATTEMPTS));
        // Cheap checks first (the journal, the DLT's watermarks); the DLT is read only when its
        // count says it may be complete.
        let deadline = Instant::now() + config.drain;
        while Instant::now() < deadline {
            self.fleet.watch();
            let handled: BTreeSet<u64> = journal(&self.run.journal)
                .iter()
                .map(|(id, _)| *id)
                .collect();
            if expected_handled.is_subset(&handled)
                && self.cluster.count(&self.run.dlt) as usize >= expected_dead.len()
            {
                let dead: BTreeSet<u64> =
                    tokio::task::block_in_place(|| read_dead_letters(&self.cluster, &self.run.dlt))
                        .iter()
                        .filter_map(|letter| letter.id)
                        .collect();
                if expected_dead.is_subset(&dead) {
                    return Ok(self.started.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(self.started.elapsed())
    }
}

/// Prints the schedule and the audit with the run's own figures.
fn report(
    config: &Config,
    scene: &Scene,
    schedule: &Schedule,
    audit: &Audit,
    production_time: Duration,
    completion: Result<Duration, Duration>,
) {
    println!("\nchaos schedule (seed {}):", config.seed);
    for line in &schedule.log {
        println!("  {line}");
    }
    audit.print(
        "chaos audit",
        [
            ("worker processes", config.workers.to_string()),
            (
                "handlings per worker",
                handled_by_worker(&scene.run.journal),
            ),
            ("broker nodes", config.nodes.to_string()),
            (
                "kill -9 of workers / of a broker node",
                format!("{} / 1", scene.fleet.kills),
            ),
            (
                "after the leader's kill: new leaders / handling again",
                match schedule.recovery {
                    Some((elected, resumed)) => {
                        format!("{} ms / {} ms", elected.as_millis(), resumed.as_millis())
                    }
                    None => "(single node: the whole broker was down)".to_string(),
                },
            ),
            (
                "workers that exited by themselves",
                scene.fleet.unexpected_exits.len().to_string(),
            ),
            (
                "production time",
                format!("{:.1} s", production_time.as_secs_f64()),
            ),
            (
                "all records done after",
                match completion {
                    Ok(done) => format!("{:.1} s", done.as_secs_f64()),
                    Err(gave_up) => format!("NOT DONE after {:.1} s", gave_up.as_secs_f64()),
                },
            ),
        ],
    );
}
