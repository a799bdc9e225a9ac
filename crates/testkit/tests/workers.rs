//! Worker processes on a real broker: kill -9 in the middle of the chain, and two workers sharing
//! a group. Every record must end handled or dead-lettered; duplicates are allowed
//! (at-least-once), losses are not.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rebound::headers::Headers;
use testkit::process::{temp_dir, Process};
use testkit::*;

/// Starts a chain-worker named `name` on the test broker, with static membership when
/// `is_static`. Its log is beside the journal (`journal.<name>.log`), appended to when a worker
/// of the same name starts again.
fn start_worker(
    topic: &str,
    group: &str,
    name: &str,
    is_static: bool,
    journal: &Path,
    work_ms: u64,
) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chain-worker"));
    if is_static {
        command.args(["--instance-id", name]);
    }
    command
        .args(["--topic", topic, "--group", group, "--name", name])
        .args([
            "--attempts",
            "4",
            "--delay-ms",
            "300",
            "--work-ms",
            &work_ms.to_string(),
        ])
        .arg("--journal")
        .arg(journal)
        // The tests read "partitions assigned" from the log.
        .env("RUST_LOG", "info,rdkafka=warn");
    let log = journal.with_extension(format!("{name}.log"));
    Process::spawn_on(&kafka(), &log, name, &mut command)
}

/// Journal lines as `(id, worker, attempt)`.
fn journal(path: &Path) -> Vec<(u64, String, u32)> {
    testkit::journal::read(path)
        .into_iter()
        .map(|e| (e.id, e.worker, e.attempt))
        .collect()
}

fn dead_ids(dlt: &str) -> BTreeSet<u64> {
    read_all(dlt)
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(r.payload()?).ok())
        .filter_map(|v| v["id"].as_u64())
        .collect()
}

/// Jobs: every 3rd fails twice (handled on attempt 3), every 10th from 7 is permanent.
async fn produce_jobs(topic: &str, n: u64) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let producer = producer();
    let (mut ok, mut dead) = (BTreeSet::new(), BTreeSet::new());
    for id in 0..n {
        let permanent = id % 10 == 7;
        let fail_times = if id % 3 == 0 { 2 } else { 0 };
        let payload =
            serde_json::json!({"id": id, "fail_times": fail_times, "permanent": permanent});
        let key = id.to_string();
        produce(
            &producer,
            topic,
            None,
            Some(&key),
            payload.to_string().as_bytes(),
            &Headers::new(),
        )
        .await;
        if permanent {
            dead.insert(id);
        } else {
            ok.insert(id);
        }
    }
    (ok, dead)
}

async fn wait_for_all(
    journal_path: &Path,
    dlt: &str,
    ok: &BTreeSet<u64>,
    dead: &BTreeSet<u64>,
    timeout: Duration,
) {
    wait_until(timeout, "every record handled or dead-lettered", || async {
        let handled: BTreeSet<u64> = journal(journal_path).iter().map(|(id, ..)| *id).collect();
        ok.is_subset(&handled) && dead_ids(dlt).is_superset(dead)
    })
    .await;
    let handled: BTreeSet<u64> = journal(journal_path).iter().map(|(id, ..)| *id).collect();
    assert_eq!(&handled, ok, "handled exactly the records that can succeed");
    assert_eq!(
        &dead_ids(dlt),
        dead,
        "dead-lettered exactly the permanent ones"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_loses_nothing() {
    init_tracing();
    let topic = unique("jobs-kill");
    create_topic(&topic, 2).await;
    let group = unique("g");
    let dir = temp_dir("kill");
    let journal_path = dir.join("journal");
    let (ok, dead) = produce_jobs(&topic, 120).await;

    let mut worker = start_worker(&topic, &group, "kill-w1", true, &journal_path, 25);
    wait_until(Duration::from_secs(60), "some progress", || async {
        journal(&journal_path).len() >= 30
    })
    .await;
    worker.kill();
    let at_kill = journal(&journal_path).len();
    assert!(
        at_kill < ok.len(),
        "the kill landed mid-run ({at_kill} handled)"
    );
    let _restarted = start_worker(&topic, &group, "kill-w1", true, &journal_path, 0);
    wait_for_all(
        &journal_path,
        &format!("{topic}.dlt"),
        &ok,
        &dead,
        Duration::from_secs(120),
    )
    .await;

    let lines = journal(&journal_path);
    let duplicates = lines.len() - ok.len();
    println!(
        "killed after {at_kill} handled; {} lines for {} records: {duplicates} duplicates",
        lines.len(),
        ok.len()
    );
    let late: Vec<_> = lines
        .iter()
        .filter(|(id, _, attempt)| id % 3 == 0 && *attempt != 3)
        .collect();
    assert!(
        late.is_empty(),
        "records failing twice succeed on attempt 3: {late:?}"
    );
}

/// Dynamic members here: a static member does not leave the group on shutdown (KIP-345), and on
/// Tansu 0.6.0 its partitions were then never handed to the survivor (measured).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_the_group_and_one_leaves() {
    init_tracing();
    let topic = unique("jobs-pair");
    create_topic(&topic, 4).await;
    let group = unique("g");
    let dir = temp_dir("pair");
    let journal_path = dir.join("journal");

    // Both members first, then the work: on Kafka one worker handles 200 jobs in about 3 s,
    // which can be less than the second process needs to start and join under load.
    let mut first = start_worker(&topic, &group, "pair-a", false, &journal_path, 40);
    let second = start_worker(&topic, &group, "pair-b", false, &journal_path, 40);
    wait_until(
        Duration::from_secs(60),
        "both workers hold partitions",
        || async {
            [&first, &second]
                .iter()
                .all(|w| w.log_text().contains("partitions assigned"))
        },
    )
    .await;
    let (ok, dead) = produce_jobs(&topic, 200).await;
    wait_until(Duration::from_secs(60), "both workers handling", || async {
        let by: HashMap<String, usize> =
            journal(&journal_path)
                .iter()
                .fold(HashMap::new(), |mut m, (_, w, _)| {
                    *m.entry(w.clone()).or_default() += 1;
                    m
                });
        by.len() == 2
    })
    .await;
    first.terminate();
    first.stop_within(Duration::from_secs(60));
    wait_for_all(
        &journal_path,
        &format!("{topic}.dlt"),
        &ok,
        &dead,
        Duration::from_secs(150),
    )
    .await;
    let lines = journal(&journal_path);
    println!(
        "{} lines for {} records after one worker left",
        lines.len(),
        ok.len()
    );
    drop(second);
}
