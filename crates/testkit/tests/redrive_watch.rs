//! A redrive that watches its own outcome, against a real consumer on a real broker: a canary
//! whose copies die again pauses the redrive (the rest released in the ledger, still pending, sent
//! by a later run once the fault is fixed), and a canary that stays quiet lets the rest go after
//! its wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rebound::headers::Headers;
use rebound::headers::REDRIVE_ID;
use rebound::{Failure, Record, RetryPolicy, RetryingConsumer};
use rebound_ops::ledger::{Action, Ledger};
use rebound_ops::redrive::{redrive, Canary, RedriveOptions, RedriveReport};
use rebound_ops::{Filter, SkipReason, Status};
use testkit::*;
use tokio_util::sync::CancellationToken;

/// A consumer of `topic` with one delivery (a failure goes straight to the DLT) that fails while
/// `failing` is set. Returns its DLT and the running consumer.
fn start_consumer(topic: &str, failing: Arc<AtomicBool>) -> (String, RunningConsumer) {
    let consumer = RetryingConsumer::builder(kafka(), topic, &unique("redrive-watch-group"))
        .policy(RetryPolicy::new(1))
        .handler(move |record: Record| {
            let failing = failing.clone();
            async move {
                match failing.load(Ordering::SeqCst) {
                    true => Err(Failure::msg(format!(
                        "451 4.7.1 try again later ({})",
                        record.text()?
                    ))),
                    false => Ok(()),
                }
            }
        })
        .build()
        .unwrap();
    let dlt = consumer.chain().dlt.clone().unwrap();
    let run = RunningConsumer::spawn(consumer);
    (dlt, run)
}

/// `n` records into `topic`, all failing into its DLT.
async fn dead_letters(topic: &str, dlt: &str, n: usize) {
    let producer = producer();
    for i in 0..n {
        let key = format!("member{i}@naver.com");
        let payload = format!("{{\"to\":\"{key}\",\"제목\":\"환영합니다\",\"내용\":\"{i}\"}}");
        produce(
            &producer,
            topic,
            None,
            Some(&key),
            payload.as_bytes(),
            &Headers::new(),
        )
        .await;
    }
    wait_until(Duration::from_secs(60), "every record dead", || {
        let done = count(dlt) == n as i64;
        async move { done }
    })
    .await;
}

async fn run(dlt: &str, options: &RedriveOptions) -> RedriveReport {
    redrive(
        &kafka(),
        dlt,
        &Filter::default(),
        options,
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap()
}

/// The copies a run sent, in the order they are in `topic` (one partition).
fn copies_of(topic: &str, run: &str) -> Vec<Record> {
    read_all(topic)
        .into_iter()
        .filter(|r| r.headers().text(REDRIVE_ID).as_deref() == Some(run))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_whose_copies_die_again_pauses_the_redrive_and_releases_the_rest() {
    init_tracing();
    let topic = unique("redrive-watch-pause");
    create_topic(&topic, 1).await;
    let failing = Arc::new(AtomicBool::new(true));
    let (dlt, consumer) = start_consumer(&topic, failing.clone());
    dead_letters(&topic, &dlt, 30).await;

    // The fault is not fixed: the canary's copies die again. Its wait is long; the pause must
    // not wait for it.
    let options = RedriveOptions {
        canary: Some(Canary {
            first: 5,
            wait: Duration::from_secs(120),
        }),
        pause_above: Some(0.2),
        ..RedriveOptions::new("tester")
    };
    let started = Instant::now();
    let report = run(&dlt, &options).await;
    let took = started.elapsed();
    let pause = report.paused.expect("the redrive paused itself");
    assert_eq!(report.sent(), 5, "only the canary went out");
    assert_eq!(pause.sent, 5);
    assert!(
        pause.returned >= 2,
        "paused on 2 of 5 back or more: {pause}"
    );
    assert!(report.returned >= pause.returned);
    assert!(!report.interrupted);
    assert!(
        took < Duration::from_secs(60),
        "it paused when the copies came back, not after the canary's wait: {took:?}"
    );
    let paused: Vec<_> = report
        .outcomes
        .iter()
        .filter(|(_, o)| {
            matches!(
                o,
                rebound_ops::redrive::Outcome::Skipped {
                    reason: SkipReason::Paused
                }
            )
        })
        .collect();
    assert_eq!(paused.len(), 25);
    assert_eq!(copies_of(&topic, &report.run).len(), 5);

    // The ledger says why each of the 25 was released, and they are still pending.
    let ledger = Ledger::read(&kafka(), &dlt).await.unwrap();
    let released: Vec<_> = ledger
        .entries
        .iter()
        .filter(|(_, e)| e.run == report.run && e.action == Action::Released)
        .collect();
    // Released by range: counted in dead letters.
    let named: u64 = released.iter().map(|(_, e)| e.named()).sum();
    assert_eq!(named, 25);
    for (_, entry) in &released {
        let reason = entry.reason.as_deref().unwrap_or_default();
        assert!(
            reason.starts_with("paused: ") && reason.contains("came back to the DLT"),
            "{reason}"
        );
    }
    let histories = ledger.histories();
    for (_, entry) in &released {
        for dead_letter in entry.dead_letters() {
            assert_eq!(histories[&dead_letter].status(), Status::Pending);
        }
    }

    // Fixed: the same redrive again sends the 25 left and the canary's returned copies, and
    // skips the 5 it sent.
    failing.store(false, Ordering::SeqCst);
    let returned_copies = count(&dlt) - 30;
    let again = run(&dlt, &RedriveOptions::new("tester")).await;
    assert_eq!(again.sent() as i64, 25 + returned_copies);
    assert_eq!(again.skipped(), 5);
    consumer.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_canary_lets_the_rest_go_after_its_wait() {
    init_tracing();
    let topic = unique("redrive-watch-quiet");
    create_topic(&topic, 1).await;
    let failing = Arc::new(AtomicBool::new(true));
    let (dlt, consumer) = start_consumer(&topic, failing.clone());
    dead_letters(&topic, &dlt, 12).await;
    failing.store(false, Ordering::SeqCst);

    let wait = Duration::from_secs(3);
    let options = RedriveOptions {
        canary: Some(Canary { first: 4, wait }),
        pause_above: Some(0.2),
        ..RedriveOptions::new("tester")
    };
    let report = run(&dlt, &options).await;
    assert_eq!(report.sent(), 12);
    assert_eq!(report.paused, None);
    assert_eq!(report.returned, 0);
    assert_eq!(count(&dlt), 12, "nothing came back");

    // The copies went out as 4, a wait, then 8.
    let copies = copies_of(&topic, &report.run);
    assert_eq!(copies.len(), 12);
    let at: Vec<i64> = copies
        .iter()
        .map(|r| r.timestamp().unwrap().as_i64())
        .collect();
    let gaps: Vec<i64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[3] >= wait.as_millis() as i64,
        "the rest waited for the canary: {gaps:?}"
    );
    assert!(
        gaps.iter()
            .enumerate()
            .all(|(i, gap)| i == 3 || *gap < wait.as_millis() as i64),
        "one wait only: {gaps:?}"
    );
    consumer.stop().await.unwrap();
}
