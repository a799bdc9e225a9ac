//! Redrives racing on one DLT against a real broker (`KAFKA_BROKERS`): each reads the ledger,
//! claims, then reads on from where its first read ended to its own last claim; every dead letter
//! must still go out once, and each run must have sent exactly what the whole ledger, read from
//! the start afterwards, grants it (the claims of the others written before its own included).

use std::collections::{BTreeSet, HashSet};

use futures::future::join_all;
use rdkafka::producer::FutureRecord;
use rebound::EpochMillis;
use rebound_ops::redrive::{redrive, Outcome, RedriveOptions, RedriveReport};
use rebound_ops::{reader, Filter, Ledger, Position, SkipReason};
use tokio_util::sync::CancellationToken;

mod support;

use support::{kafka, producer, send, unique};

/// `n` dead letters in `dlt` (one partition), each from `target`'s partition 0, keyed `k<i>`.
async fn seed(dlt: &str, target: &str, n: usize) {
    rebound::admin::create_topics(&kafka(), &[target, dlt], 1, -1)
        .await
        .unwrap();
    let producer = producer();
    let sends = (0..n).map(|i| {
        let producer = &producer;
        async move {
            let key = format!("k{i}");
            let record = FutureRecord::<str, str>::to(dlt)
                .partition(0)
                .key(&key)
                .payload("{}")
                .headers(support::origin(Some(target), Some(0)));
            send(producer, record).await;
        }
    });
    join_all(sends).await;
}

async fn run(dlt: &str, by: &str) -> RedriveReport {
    redrive(
        &kafka(),
        dlt,
        &Filter::default(),
        &RedriveOptions::new(by),
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap()
}

fn sent(report: &RedriveReport) -> BTreeSet<Position> {
    report
        .outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Sent { .. }))
        .map(|(p, _)| *p)
        .collect()
}

/// The keys of every record in `topic`, each once, and how many records there are.
async fn keys(topic: &str) -> (BTreeSet<String>, usize) {
    let mut records = reader::scan(&kafka(), topic);
    let (mut keys, mut count) = (BTreeSet::new(), 0);
    while let Some(record) = records.next().await {
        let record = record.unwrap();
        keys.insert(String::from_utf8(record.key().unwrap().to_vec()).unwrap());
        count += 1;
    }
    (keys, count)
}

/// Every run sent what the whole ledger grants it, no more and no less, and the runs' sends are
/// disjoint.
async fn assert_each_sent_what_the_ledger_grants(dlt: &str, reports: &[RedriveReport]) {
    let ledger = Ledger::read(&kafka(), dlt).await.unwrap();
    let mut all = HashSet::new();
    for report in reports {
        let granted: BTreeSet<Position> = ledger
            .granted(&report.run, EpochMillis::now())
            .into_iter()
            .map(|id| id.position)
            .collect();
        let sent = sent(report);
        assert_eq!(sent, granted, "run {} sent what it was granted", report.run);
        for position in sent {
            assert!(all.insert(position), "{position} sent by two runs");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_racing_on_a_first_redrive_send_each_dead_letter_once() {
    let (target, dlt) = (unique("race-first"), unique("race-first-dlt"));
    seed(&dlt, &target, 300).await;
    // No ledger yet: each run's first read finds no topic, and its claims are read on from the
    // beginning of the ledger some run created meanwhile.
    let reports = join_all(["ann", "bo", "cy"].map(|by| run(&dlt, by))).await;
    let total: usize = reports.iter().map(RedriveReport::sent).sum();
    assert_eq!(total, 300, "every dead letter sent by one of them");
    for report in &reports {
        assert_eq!(report.outcomes.len(), 300, "each run accounts for all");
        for (position, outcome) in &report.outcomes {
            match outcome {
                Outcome::Sent { .. } => {}
                Outcome::Skipped {
                    reason: SkipReason::ClaimedByAnotherRun,
                } => {}
                other => panic!("{position}: {other:?}"),
            }
        }
    }
    let (keys, count) = keys(&target).await;
    assert_eq!((keys.len(), count), (300, 300), "and only once");
    assert_each_sent_what_the_ledger_grants(&dlt, &reports).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_racing_behind_an_earlier_redrive_read_on_from_where_they_ended() {
    let (target, dlt) = (unique("race-later"), unique("race-later-dlt"));
    seed(&dlt, &target, 300).await;
    // An earlier run leaves entries in the ledger (claims, 100 `redriven`): the racing runs'
    // first reads end past them, and they read on from there.
    let first = Filter {
        limit: Some(100),
        ..Filter::default()
    };
    let earlier = redrive(
        &kafka(),
        &dlt,
        &first,
        &RedriveOptions::new("earlier"),
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(earlier.sent(), 100);
    let reports = join_all(["ann", "bo", "cy"].map(|by| run(&dlt, by))).await;
    let total: usize = reports.iter().map(RedriveReport::sent).sum();
    assert_eq!(total, 200, "every dead letter left sent by one of them");
    for report in &reports {
        let already = report
            .outcomes
            .iter()
            .filter(|(_, o)| {
                matches!(
                    o,
                    Outcome::Skipped {
                        reason: SkipReason::AlreadyRedriven
                    }
                )
            })
            .count();
        assert_eq!(already, 100, "the earlier run's hundred are skipped");
    }
    let (keys, count) = keys(&target).await;
    assert_eq!(
        (keys.len(), count),
        (300, 300),
        "each once, the earlier's too"
    );
    assert_each_sent_what_the_ledger_grants(&dlt, &reports).await;
}
