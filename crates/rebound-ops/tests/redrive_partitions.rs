//! A redrive against a real broker (`KAFKA_BROKERS`) when a dead letter's original partition is
//! gone from its topic: the copy is refused there and goes where its key lands, recorded as sent.

use rdkafka::producer::FutureRecord;
use rebound_ops::redrive::{redrive, Outcome, RedriveOptions};
use rebound_ops::{reader, Filter, Ledger};
use tokio_util::sync::CancellationToken;

mod support;

use support::{kafka, producer, send, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_whose_partition_is_gone_goes_where_its_key_lands() {
    let (target, dlt) = (unique("shrunk"), unique("shrunk-dlt"));
    rebound::admin::create_topics(&kafka(), &[&target, &dlt], 1, -1)
        .await
        .unwrap();
    // Died in partition 3 of a topic that has one partition now.
    let record = FutureRecord::<str, str>::to(&dlt)
        .key("fail@naver.com")
        .payload("{}")
        .headers(support::origin(Some(&target), Some(3)));
    send(&producer(), record).await;

    let report = redrive(
        &kafka(),
        &dlt,
        &Filter::default(),
        &RedriveOptions::new("tester"),
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap();

    assert_eq!(report.sent(), 1, "{:?}", report.outcomes);
    let Outcome::Sent { topic, copy } = &report.outcomes[0].1 else {
        panic!("not sent: {:?}", report.outcomes);
    };
    assert_eq!(topic, &target);
    assert_eq!(copy.map(|c| c.partition), Some(0));
    let mut copies = reader::scan(&kafka(), &target);
    let copy = copies.next().await.expect("the copy").unwrap();
    assert_eq!(copy.key(), Some(&b"fail@naver.com"[..]));
    assert!(copies.next().await.is_none(), "one copy, not two");
    // Its entry is in the ledger: the dead letter shows as redriven.
    let ledger = Ledger::read(&kafka(), &dlt).await.unwrap();
    let redriven = ledger
        .histories()
        .into_values()
        .filter(|history| history.redrives == 1)
        .count();
    assert_eq!(redriven, 1);
}
