//! `rebound groups handover` against a real broker: offsets committed in Spring's stage groups by
//! plain rdkafka clients become Rebound's one group's, and back; a dry run writes nothing; a live
//! member in a group it reads or writes makes it refuse.

mod support;

use support::rebound;

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::Duration;

use rebound::naming::TopicChain;
use rebound::{Backoff, RetryPolicy};
use testkit::group::{commit_offsets as commit, committed_offsets, live_member, live_member_with};
use testkit::*;

/// The scenario's policy as the command's flags.
const POLICY: [&str; 8] = [
    "--attempts",
    "5",
    "--delay-ms",
    "1000",
    "--multiplier",
    "2",
    "--dlt-suffix",
    ".dlt",
];

/// `(topic, partition) → offset`.
type Offsets = BTreeMap<(String, i32), i64>;

/// A chain under the scenario's policy, every topic created with 2 partitions: main,
/// `-retry-1000` … `-retry-8000`, `.dlt`.
async fn chain(prefix: &str) -> Vec<String> {
    let policy = RetryPolicy::new(5)
        .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
        .dlt_suffix(".dlt");
    let chain = TopicChain::new(&unique(prefix), &policy);
    let names = chain.topic_names();
    Cluster::default().create_topics(&names, 2, &[]).await;
    names.into_iter().map(String::from).collect()
}

/// `group`'s committed offsets on every topic of the chain `t`, and their metadata.
fn committed(group: &str, t: &[String]) -> (Offsets, BTreeMap<(String, i32), String>) {
    let topics: Vec<&str> = t.iter().map(String::as_str).collect();
    let all = committed_offsets(group, &topics, 2);
    let offsets = all.iter().map(|(k, (o, _))| (k.clone(), *o)).collect();
    let metadata = all.into_iter().map(|(k, (_, m))| (k, m)).collect();
    (offsets, metadata)
}

fn offsets(entries: &[(&str, i32, i64)]) -> Offsets {
    entries
        .iter()
        .map(|(t, p, o)| ((t.to_string(), *p), *o))
        .collect()
}

/// `rebound groups handover <main> --group <group> --to <to> <policy> <extra>`, whatever it
/// answers.
fn handover(main: &str, group: &str, to: &str, extra: &[&str]) -> Output {
    run(&handover_args(main, group, to, &POLICY, extra))
}

fn handover_args<'a>(
    main: &'a str,
    group: &'a str,
    to: &'a str,
    policy: &[&'a str],
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["groups", "handover", main, "--group", group, "--to", to];
    args.extend(policy);
    args.extend(extra);
    args
}

/// The `rebound` command with `args`, whatever it answers.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(args)
        .env("KAFKA_BROKERS", kafka().brokers())
        .output()
        .expect("run rebound")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_stage_groups_to_one_group() {
    let t = chain("handover-in").await;
    let (main, r1000, r2000, r4000, r8000, dlt) = (&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]);
    let g = unique("g");
    // What Spring's containers committed, stage by stage; -retry-4000's group never committed.
    commit(&g, &[(main, 0, 30, ""), (main, 1, 40, "")]);
    commit(
        &format!("{g}-retry-1000"),
        &[(r1000, 0, 2, ""), (r1000, 1, 1, "spring")],
    );
    commit(&format!("{g}-retry-2000"), &[(r2000, 0, 1, "")]);
    commit(&format!("{g}-retry-8000"), &[(r8000, 1, 7, "")]);
    commit(&format!("{g}.dlt"), &[(dlt, 0, 5, ""), (dlt, 1, 6, "")]);
    // A Rebound offset the hand-over has nothing for: it stays.
    commit(&g, &[(r4000, 0, 9, "")]);
    let before = committed(&g, &t).0;

    let dry = handover(main, &g, "single", &["--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    let table = String::from_utf8_lossy(&dry.stdout);
    assert!(table.contains("would be written"), "{table}");
    assert!(
        table.contains(&format!(
            "no committed offset in {g}-retry-4000: left as is"
        )),
        "{table}"
    );
    assert!(
        stderr(&dry).contains(&format!("would write 4 offsets to {g}")),
        "{}",
        stderr(&dry)
    );
    assert_eq!(committed(&g, &t).0, before, "a dry run writes nothing");

    let out = rebound(&handover_args(main, &g, "single", &POLICY, &[]));
    assert!(out.contains("written"), "{out}");
    let (after, metadata) = committed(&g, &t);
    assert_eq!(
        after,
        offsets(&[
            (main, 0, 30),
            (main, 1, 40),
            (r1000, 0, 2),
            (r1000, 1, 1),
            (r2000, 0, 1),
            (r4000, 0, 9),
            (r8000, 1, 7),
        ]),
        "the retry stages' offsets, the DLT's left (Rebound reads it only with a dlt_handler)"
    );
    assert_eq!(
        metadata[&(r1000.clone(), 1)],
        "spring",
        "metadata goes with the offset"
    );

    let json = handover(main, &g, "single", &["--include-dlt", "--json"]);
    assert!(json.status.success(), "{}", stderr(&json));
    let done: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let written = done["moves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["outcome"] == "written")
        .count();
    assert_eq!(written, 6);
    let (after, _) = committed(&g, &t);
    assert_eq!((after[&(dlt.clone(), 0)], after[&(dlt.clone(), 1)]), (5, 6));
    assert_eq!(after.len(), 9);

    // Flags that derive another chain: a topic it lacks, or one it does not know.
    let other = |attempts| {
        let mut policy = POLICY;
        policy[1] = attempts;
        run(&handover_args(main, &g, "single", &policy, &["--dry-run"]))
    };
    let wrong = other("6");
    assert!(!wrong.status.success());
    let expected = "-retry-16000 of the chain does not exist";
    assert!(stderr(&wrong).contains(expected), "{}", stderr(&wrong));
    let short = other("4");
    assert!(
        stderr(&short).contains(&format!(
            "note: {r8000} is on the cluster but not in this chain"
        )),
        "{}",
        stderr(&short)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_group_to_spring_stage_groups() {
    let t = chain("handover-out").await;
    let (main, r1000, r2000, r8000, dlt) = (&t[0], &t[1], &t[2], &t[4], &t[5]);
    let g = unique("g");
    // What Rebound committed in its one group; nothing on -retry-4000.
    commit(
        &g,
        &[
            (main, 0, 10, ""),
            (main, 1, 11, ""),
            (r1000, 0, 12, ""),
            (r1000, 1, 13, "rebound-done:1:13:01"),
            (r2000, 0, 14, ""),
            (r8000, 0, 15, ""),
            (r8000, 1, 16, ""),
            (dlt, 0, 17, ""),
            (dlt, 1, 18, ""),
        ],
    );
    let out = handover(main, &g, "spring-stages", &["--include-dlt"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stage = |suffix: &str| committed(&format!("{g}{suffix}"), &t).0;
    assert_eq!(
        stage("-retry-1000"),
        offsets(&[(r1000, 0, 12), (r1000, 1, 13)])
    );
    assert_eq!(stage("-retry-2000"), offsets(&[(r2000, 0, 14)]));
    assert_eq!(stage("-retry-4000"), offsets(&[]), "nothing invented");
    assert_eq!(
        stage("-retry-8000"),
        offsets(&[(r8000, 0, 15), (r8000, 1, 16)])
    );
    assert_eq!(stage(".dlt"), offsets(&[(dlt, 0, 17), (dlt, 1, 18)]));
    assert_eq!(committed(&g, &t).0.len(), 9, "the source keeps its offsets");
    let metadata = committed(&format!("{g}-retry-1000"), &t).1;
    assert_eq!(metadata[&(r1000.clone(), 1)], "rebound-done:1:13:01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_members_refuse() {
    let t = chain("handover-live").await;
    let (main, r2000) = (&t[0], &t[2]);
    let g = unique("g");
    let spring_retry = format!("{g}-retry-2000");
    commit(&spring_retry, &[(r2000, 0, 3, "")]);

    let member = live_member(&spring_retry, r2000);
    for extra in [&[][..], &["--dry-run"][..]] {
        let refused = handover(main, &g, "single", extra);
        assert!(!refused.status.success());
        let expected = format!("{spring_retry} has 1 live member(s) (state Stable)");
        assert!(stderr(&refused).contains(&expected), "{}", stderr(&refused));
    }
    drop(member);

    let member = live_member(&g, main);
    let refused = handover(main, &g, "single", &[]);
    assert!(!refused.status.success());
    let expected = format!("the target group {g} has 1 live member(s)");
    assert!(stderr(&refused).contains(&expected), "{}", stderr(&refused));
    assert_eq!(committed(&g, &t).0, offsets(&[]), "nothing written");
    drop(member);

    let done = handover(main, &g, "single", &[]);
    assert!(done.status.success(), "{}", stderr(&done));
    assert_eq!(committed(&g, &t).0, offsets(&[(r2000, 0, 3)]));
}

/// A group of KIP-848's consumer protocol is Dead to the classic DescribeGroups, members or not:
/// holding offsets, it refuses rather than guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_protocol_group_refuses() {
    let t = chain("handover-kip848").await;
    let (main, r1000) = (&t[0], &t[1]);
    let g = unique("g");
    let spring_retry = format!("{g}-retry-1000");
    let protocol = [("group.protocol", "consumer")];
    drop(live_member_with(&spring_retry, r1000, &protocol));
    commit(&spring_retry, &[(r1000, 0, 4, "")]);
    let refused = handover(main, &g, "single", &["--dry-run"]);
    assert!(!refused.status.success());
    let expected = format!("{spring_retry} holds committed offsets but Kafka describes it as Dead");
    assert!(stderr(&refused).contains(&expected), "{}", stderr(&refused));
    assert_eq!(committed(&g, &t).0, offsets(&[]), "nothing written");
}
