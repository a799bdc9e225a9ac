//! When a redrive creates the DLT's ledger and archive topics, against a real broker
//! (`KAFKA_BROKERS`): as soon as its listing selects a dead letter it would send, beside the rest
//! of the listing, and never for a dry run or a run with nothing to send.

use rdkafka::producer::FutureRecord;
use rebound::naming::{archive_topic, ledger_topic};
use rebound_ops::redrive::{redrive, RedriveOptions, RedriveReport};
use rebound_ops::{reader, Filter, SkipReason};
use tokio_util::sync::CancellationToken;

mod support;

use support::{kafka, producer, send, unique};

/// A dead letter in `dlt`, from `origin` when it names one (without, a redrive skips it).
async fn dead_letter(dlt: &str, origin: Option<&str>) {
    let record = FutureRecord::<str, str>::to(dlt)
        .key("k")
        .payload("{}")
        .headers(support::origin(origin, None));
    send(&producer(), record).await;
}

async fn run(dlt: &str, dry_run: bool) -> RedriveReport {
    let options = RedriveOptions {
        dry_run,
        ..RedriveOptions::new("tester")
    };
    redrive(
        &kafka(),
        dlt,
        &Filter::default(),
        &options,
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap()
}

async fn exists(topic: &str) -> bool {
    reader::partitions(&kafka(), topic).await.unwrap().is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_and_archive_topics_come_with_the_first_dead_letter_to_send() {
    let (target, dlt) = (unique("topics"), unique("topics-dlt"));
    rebound::admin::create_topics(&kafka(), &[&target, &dlt], 1, -1)
        .await
        .unwrap();
    dead_letter(&dlt, None).await;

    // Selected, but nowhere to send it: nothing is created.
    let nothing = run(&dlt, false).await;
    assert_eq!(nothing.sent(), 0, "{:?}", nothing.outcomes);
    assert_eq!(
        nothing.outcomes[0].1,
        rebound_ops::redrive::Outcome::Skipped {
            reason: SkipReason::NoOriginalTopic
        }
    );
    assert!(
        !exists(&ledger_topic(&dlt)).await,
        "no ledger for nothing sent"
    );
    assert!(!exists(&archive_topic(&dlt)).await, "nor an archive");

    // Something to send, in a dry run: still nothing.
    dead_letter(&dlt, Some(&target)).await;
    let dry = run(&dlt, true).await;
    assert_eq!(dry.sent(), 1, "{:?}", dry.outcomes);
    assert!(
        !exists(&ledger_topic(&dlt)).await,
        "no ledger for a dry run"
    );
    assert!(!exists(&archive_topic(&dlt)).await, "nor an archive");

    // Sent: both exist, and the ledger holds the run's entries.
    let sent = run(&dlt, false).await;
    assert_eq!(sent.sent(), 1, "{:?}", sent.outcomes);
    assert!(exists(&ledger_topic(&dlt)).await);
    assert!(exists(&archive_topic(&dlt)).await);
    let ledger = rebound_ops::Ledger::read(&kafka(), &dlt).await.unwrap();
    assert!(
        ledger.entries.iter().any(|(_, e)| e.run == sent.run),
        "{:?}",
        ledger.entries
    );
}
