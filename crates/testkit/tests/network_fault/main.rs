//! A network fault: one worker is cut off from the broker for longer than its consumer group's
//! session timeout while records flow through the retry chain, then the path heals. The audit
//! the chaos test uses too ([`testkit::audit`]) then reads the workers' journal and the DLT: nothing may be lost, and the outage
//! must not burn retry attempts, so no record that succeeds on a later attempt may reach the DLT
//! (nor be handled on another attempt than the one its fate says). Duplicates are counted and
//! printed. The figures of runs are in RELIABILITY.md.
//!
//! The broker is a private one behind a [`Proxy`]: the worker `cut` reaches it only through the
//! proxy (every connection: bootstrap, partition leader, group coordinator), the worker `direct`,
//! the test's producer and the audit talk to it directly. The cut drops the `cut` worker's
//! connections and holds its new ones unanswered; the `direct` worker takes over its partitions
//! once the group has expired its session.
//!
//! The workload makes burned attempts visible: records `{"id": N}` whose fate
//! ([`testkit::Fate::of`]) is to fail 0 to 4 times and then succeed, under a chain of 5 attempts
//! (so each of them ends handled, on attempt `fails + 1`), and 10 % that fail permanently (the only
//! records that belong in the DLT). The workers' producer gives up on a send after 5 s
//! (`message.timeout.ms`), less than the outage, so a copy in flight at the cut fails with a
//! timeout and only the forwarder's own retrying may bring it through.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `REBOUND_NETFAULT_RECORDS` | 2000 | records produced |
//! | `REBOUND_NETFAULT_SECS` | 20 | how long production lasts (the cut happens meanwhile) |
//! | `REBOUND_NETFAULT_OUTAGE_SECS` | 10 | how long the path stays cut at least (longer until the other worker took over) |
//! | `REBOUND_NETFAULT_KEEP` | unset | keep the journal and worker logs of a passing run too |
//!
//! ```sh
//! cargo xtask test -p testkit --test network_fault -- --nocapture
//! ```

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::producer::FutureProducer;
use testkit::audit::{audit, WorkerRun};
use testkit::process::tail;
use testkit::*;

mod workers;

use workers::{produce_paced, Timeline, Workers};

const PARTITIONS: i32 = 4;
/// Five deliveries: [`Fate`] fails a record at most four times, so every record that is not a
/// permanent failure succeeds within the chain, on attempt `fail_times + 1`.
const ATTEMPTS: u32 = 5;
/// 500 ms doubling: retry topics `-retry-500` to `-retry-4000`, 7.5 s from the first failure to
/// the fifth delivery, so records are waiting in every retry topic when the path is cut.
const DELAY_MS: u64 = 500;
/// The group's session timeout: the shortest a Kafka broker allows by default
/// (`group.min.session.timeout.ms`), so the outage outlasts it without making the test long.
const SESSION_TIMEOUT_MS: u64 = 6_000;
/// The workers' producer gives up on a copy after this long, less than the outage: a copy in
/// flight at the cut fails (`MessageTimedOut`) and must be sent again by the forwarder, never
/// count as a failed attempt.
const MESSAGE_TIMEOUT_MS: u64 = 5_000;
/// The worker whose path to the broker is cut, and the one that stays connected.
const CUT: &str = "cut";
const DIRECT: &str = "direct";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_order_loses_nothing_when_a_worker_is_cut_off() {
    let _alone = SERIAL.lock().await;
    run("partition").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_order_loses_nothing_when_a_worker_is_cut_off() {
    let _alone = SERIAL.lock().await;
    run("key").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unordered_loses_nothing_when_a_worker_is_cut_off() {
    let _alone = SERIAL.lock().await;
    run("unordered").await;
}

/// Each run takes a broker and two workers on 2 cores: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Lines of `log` that contain `needle`.
fn lines_with(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

async fn run(order: &'static str) {
    init_tracing();
    let n = env_u64("REBOUND_NETFAULT_RECORDS", 2000);
    let window = Duration::from_secs(env_u64("REBOUND_NETFAULT_SECS", 20));
    let outage = Duration::from_secs(env_u64("REBOUND_NETFAULT_OUTAGE_SECS", 10));
    println!(
        "netfault: {n} records over {window:?} in {order} order; the worker `{CUT}` cut off for at \
         least {outage:?} (session timeout {SESSION_TIMEOUT_MS} ms)"
    );

    let (broker, proxy) = tokio::task::block_in_place(PrivateBroker::behind_proxy);
    let cluster = Cluster(broker.kafka());
    let WorkerRun {
        topic,
        chain,
        dlt,
        dir,
        journal: journal_path,
    } = WorkerRun::start(
        &cluster,
        "netfault",
        PARTITIONS,
        ATTEMPTS,
        Duration::from_millis(DELAY_MS),
    )
    .await;

    let group = unique("netfault-group");
    let mut workers = Workers {
        dir: dir.clone(),
        journal: journal_path.clone(),
        processes: Vec::new(),
    };
    workers.start(CUT, &proxy.kafka(), &topic, &group, order);
    workers.start(DIRECT, &broker.kafka(), &topic, &group, order);
    let topics: Vec<String> = chain.topic_names().iter().map(|t| t.to_string()).collect();
    wait_until(Duration::from_secs(60), "the chain's topics", || async {
        topics
            .iter()
            .all(|t| cluster.partition_count(t) == Some(PARTITIONS as usize))
    })
    .await;

    let started = Instant::now();
    let producer: FutureProducer = cluster
        .0
        .client_config(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
        ])
        .create()
        .unwrap();
    let production = tokio::spawn(produce_paced(producer, topic.clone(), n, window));
    let mut timeline = Timeline {
        path: journal_path.clone(),
        seen: Vec::new(),
    };

    // Cut once the group is stable with both workers in it, both handle records, and copies wait
    // in the retry topics. The broker says which partitions `cut` owns.
    let retry_copies = || {
        chain
            .retries
            .iter()
            .map(|r| cluster.count(&r.name))
            .sum::<i64>()
    };
    let all_partitions = topics.len() * PARTITIONS as usize - PARTITIONS as usize; // not the DLT
    let owned = wait_for(Duration::from_secs(60), "the workers to get going", || {
        timeline.update();
        let view = tokio::task::block_in_place(|| cluster.group(&group)).unwrap_or_default();
        let owned = view.instance(CUT).map(|m| m.partitions.clone());
        let stable = view.state == "Stable"
            && view.members.len() == 2
            && view.instance(DIRECT).is_some()
            && view.assigned().len() == all_partitions;
        let seen = match owned {
            Some(owned)
                if stable
                    && !owned.is_empty()
                    && started.elapsed() >= window / 5
                    && timeline.count_by(CUT) >= 20
                    && timeline.count_by(DIRECT) >= 20
                    && retry_copies() >= 50 =>
            {
                Ok(owned)
            }
            _ => Err(format!(
                "group {view:?}, {} / {} handlings, {} retry copies; `{CUT}` log:\n{}",
                timeline.count_by(CUT),
                timeline.count_by(DIRECT),
                retry_copies(),
                tail(&workers.log(CUT), 30)
            )),
        };
        async move { seen }
    })
    .await;
    timeline.update();
    let copies_before = retry_copies();
    let handled_before = (timeline.count_by(CUT), timeline.count_by(DIRECT));
    let cut_at = Instant::now();
    let dropped = proxy.cut();
    println!(
        "netfault: {:>5.1} s  cut `{CUT}` off ({dropped} connections dropped); it owns {} \
         partitions; {} copies in the retry topics",
        started.elapsed().as_secs_f64(),
        owned.len(),
        copies_before
    );

    // Hold the cut for the outage, and until the broker has dropped `cut` from the group (its
    // session expired) and `direct` has handled a record of a partition `cut` owned.
    let mut left: Option<Duration> = None;
    let mut takeover: Option<Duration> = None;
    let mut last_cut_handling: Option<Duration> = None;
    let mut asked = Instant::now() - Duration::from_secs(1);
    loop {
        for (_, entry) in timeline.update() {
            if entry.worker == CUT {
                last_cut_handling = Some(cut_at.elapsed());
            }
            let theirs = entry
                .topic_partition()
                .is_some_and(|(t, p)| owned.contains(&(t.to_string(), p)));
            if takeover.is_none() && entry.worker == DIRECT && theirs {
                takeover = Some(cut_at.elapsed());
            }
        }
        if left.is_none() && asked.elapsed() >= Duration::from_millis(250) {
            asked = Instant::now();
            let view = tokio::task::block_in_place(|| cluster.group(&group));
            if view.is_some_and(|v| v.instance(CUT).is_none()) {
                left = Some(cut_at.elapsed());
            }
        }
        if cut_at.elapsed() >= outage && left.is_some() && takeover.is_some() {
            break;
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(60),
            "60 s into the cut, `{CUT}` left the group: {left:?}, `{DIRECT}` took over: \
             {takeover:?}; `{DIRECT}` log:\n{}",
            tail(&workers.log(DIRECT), 30)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = left.unwrap();
    let takeover = takeover.unwrap();
    let heal_at = Instant::now();
    let cut_for = proxy.heal();
    let handled_by_cut_during = timeline.by_since(CUT, cut_at).count();
    let stats = proxy.stats();
    println!(
        "netfault: {:>5.1} s  healed after {} cut; `{CUT}` left the group after {}, `{DIRECT}` \
         took over after {}; `{CUT}` handled {handled_by_cut_during} records during the cut (the \
         last {} after the cut); {} connection attempts held",
        started.elapsed().as_secs_f64(),
        secs(cut_for),
        secs(left),
        secs(takeover),
        last_cut_handling.map_or("-".into(), secs),
        stats.held
    );

    // The cut worker comes back: it rejoins the group and handles records again.
    let what = format!("`{CUT}` to handle records again after the heal");
    let rejoined = wait_for(Duration::from_secs(60), &what, || {
        timeline.update();
        let seen = match timeline.by_since(CUT, heal_at).next() {
            Some(_) => Ok(heal_at.elapsed()),
            None => Err(format!(
                "nothing handled; its log:\n{}",
                tail(&workers.log(CUT), 40)
            )),
        };
        async move { seen }
    })
    .await;
    println!(
        "netfault: {:>5.1} s  `{CUT}` handles records again, {} after the heal",
        started.elapsed().as_secs_f64(),
        secs(rejoined)
    );

    production.await.unwrap();
    let production_time = started.elapsed();

    // Every record reaches its end: handled, or (the permanent failures) in the DLT.
    let expected_handled: BTreeSet<u64> = (0..n)
        .filter(|id| !Fate::of(*id).dead_letters(ATTEMPTS))
        .collect();
    let expected_dead = n as usize - expected_handled.len();
    let drain_by = Instant::now() + Duration::from_secs(90);
    let mut complete = false;
    while Instant::now() < drain_by {
        timeline.update();
        let handled: BTreeSet<u64> = timeline.seen.iter().map(|(_, e)| e.id).collect();
        if expected_handled.is_subset(&handled) && cluster.count(&dlt) as usize >= expected_dead {
            let dead: BTreeSet<u64> = tokio::task::block_in_place(|| cluster.read_all(&dlt))
                .iter()
                .filter_map(|r| {
                    r.json::<serde_json::Value>()
                        .ok()
                        .and_then(|v| v.get("id")?.as_u64())
                })
                .collect();
            if dead.len() >= expected_dead {
                complete = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let done_after_heal = heal_at.elapsed();
    let done_after_production = started.elapsed() - production_time;
    let exited = workers.exited();
    let (cut_log, direct_log) = (workers.log(CUT), workers.log(DIRECT));
    tokio::task::block_in_place(|| workers.stop());

    let audit = tokio::task::block_in_place(|| audit(&cluster, &chain, &journal_path, n, ATTEMPTS));
    let handlings = |worker: &str| {
        testkit::journal::read(&journal_path)
            .iter()
            .filter(|e| e.worker == worker)
            .count()
    };
    let mut rows: Vec<(String, String)> = vec![("processing order".into(), order.into())];
    rows.extend([
        (
            "handlings before the cut (cut / direct)".into(),
            format!("{} / {}", handled_before.0, handled_before.1),
        ),
        (
            "handlings in all (cut / direct)".into(),
            format!("{} / {}", handlings(CUT), handlings(DIRECT)),
        ),
        (
            "copies in the retry topics at the cut".into(),
            copies_before.to_string(),
        ),
        (
            "connections dropped at the cut / held during it".into(),
            format!("{} / {}", stats.dropped, stats.held),
        ),
        ("path cut for".into(), secs(cut_for)),
        (
            "handled by `cut` during the cut (last one after)".into(),
            format!(
                "{handled_by_cut_during} ({})",
                last_cut_handling.map_or("-".into(), secs)
            ),
        ),
        (
            "partitions `cut` owned at the cut".into(),
            owned.len().to_string(),
        ),
        (
            "`cut` out of the group (broker's view) / `direct` handles its partitions, after"
                .into(),
            format!("{} / {}", secs(left), secs(takeover)),
        ),
        (
            "`cut` handles records again after the heal".into(),
            secs(rejoined),
        ),
        (
            "all records done after the heal / after production".into(),
            if complete {
                format!(
                    "{} / {}",
                    secs(done_after_heal),
                    secs(done_after_production)
                )
            } else {
                format!("NOT DONE after {}", secs(done_after_heal))
            },
        ),
        ("production time".into(), secs(production_time)),
        (
            "`cut` log: copy writes tried again / consumer errors / revoked / assigned".into(),
            format!(
                "{} / {} / {} / {}",
                lines_with(&cut_log, "could not write the copy"),
                lines_with(&cut_log, "consumer error"),
                lines_with(&cut_log, "partitions revoked"),
                lines_with(&cut_log, "partitions assigned")
            ),
        ),
        (
            "`direct` log: copy writes tried again / revoked / assigned".into(),
            format!(
                "{} / {} / {}",
                lines_with(&direct_log, "could not write the copy"),
                lines_with(&direct_log, "partitions revoked"),
                lines_with(&direct_log, "partitions assigned")
            ),
        ),
        (
            "workers that exited by themselves".into(),
            format!("{exited:?}"),
        ),
    ]);
    audit.print(&format!("network-fault audit ({order} order)"), rows);

    // The outage happened: the cut dropped the worker's connections, it tried to get back and
    // heard nothing, and its partitions went to the other worker (its session expired).
    assert!(
        stats.dropped >= 1,
        "the cut dropped no connection of `{CUT}`"
    );
    assert!(
        stats.held >= 1,
        "`{CUT}` never tried to reconnect during the cut"
    );
    assert!(cut_for >= outage, "the path was cut for {cut_for:?} only");
    assert!(
        complete,
        "not every record was done; logs in {}",
        dir.display()
    );
    assert_eq!(audit.main_records, n as usize, "records in the main topic");
    audit.assert_delivered(&dir);
    assert!(
        exited.is_empty(),
        "workers exited by themselves: {exited:?}; logs in {}",
        dir.display()
    );
    drop(proxy);
    drop(broker);
    if std::env::var_os("REBOUND_NETFAULT_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
