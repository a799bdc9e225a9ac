//! Share-group dead letters (KIP-1191, Kafka 4.4), written by the broker itself: a real share
//! consumer (kafka-clients 4.4.0, interop/kafka-writers) rejects some records and releases another
//! until its delivery count runs out; the group's DLQ (`dlq.` prefix, pointers only: the default)
//! is read in the share-group dialect, each pointer resolved to its source record, redriven with
//! the source's key, value and headers; a pointer whose source was deleted says so and is refused.

use std::time::Duration;

use interop::writers::{capture, java, wait_for_records};
use interop::*;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::{Offset, TopicPartitionList};
use rebound::headers::Headers;
use rebound_ops::dialect::{Dialect, Owner};
use rebound_ops::redrive::Outcome;
use rebound_ops::{Filter, SkipReason, Source};
use testkit::{
    assert_no_header_prefixed, create_topic, create_topic_with, discard_selected, produce,
    producer, read_all, redrive_all, unique,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_group_pointers_are_resolved_redriven_or_refused() {
    let dir = temp_dir("share-dlq");
    let source = unique("jobs");
    let dlq = format!("dlq.{}", unique("jobs"));
    let group = unique("job-workers");
    create_topic(&source, 1).await;
    create_topic_with(&dlq, 1, &[("errors.deadletterqueue.group.enable", "true")]).await;
    let kafka = testkit::kafka();

    let producer = producer();
    let none = Headers::new();
    let (_, gone_offset) = produce(
        &producer,
        &source,
        None,
        Some("r0"),
        b"reject, then deleted",
        &none,
    )
    .await;
    produce(&producer, &source, None, Some("a1"), b"accept me", &none).await;
    let mut trace = Headers::new();
    trace.push("trace", "내용".as_bytes().to_vec());
    let rejected = "reject 제목";
    let (_, rejected_offset) = produce(
        &producer,
        &source,
        None,
        Some("r1"),
        rejected.as_bytes(),
        &trace,
    )
    .await;
    let (_, released_offset) =
        produce(&producer, &source, None, Some("r2"), b"release me", &none).await;

    let mut consumer = java(
        &dir,
        "share-rejecter",
        "rs.rebound.writers.ShareRejecter",
        &[kafka.brokers(), &group, &source, &dlq, "pointer"],
    );
    let what = "three records in the share group's DLQ";
    wait_for_records(&mut consumer, what, &dlq, 3).await;
    consumer.stop_within(Duration::from_secs(10));
    let parked = read_all(&dlq);
    capture("share-group", &parked);
    assert_eq!(parked.len(), 3, "the accepted record is not parked");
    assert!(
        parked
            .iter()
            .all(|r| r.key().is_none() && r.payload().is_none()),
        "pointers only"
    );

    // list: the share-group dialect, each pointer resolved to its source record.
    let listed = rebound_ops::list(&kafka, &dlq, Source::Dlt, &Filter::default())
        .await
        .unwrap();
    let by_offset = |offset: i64| {
        listed
            .iter()
            .find(|l| l.dead_letter.origin.as_ref().and_then(|o| o.offset) == Some(offset))
            .unwrap_or_else(|| panic!("no dead letter points at {offset}: {listed:?}"))
    };
    let rejected_dl = &by_offset(rejected_offset).dead_letter;
    assert_eq!(rejected_dl.dialect, Dialect::ShareGroup);
    assert!(
        rejected_dl.warnings.is_empty(),
        "{:?}",
        rejected_dl.warnings
    );
    assert_eq!(
        rejected_dl.owner,
        Some(Owner::Group {
            name: group.clone()
        })
    );
    assert_eq!(rejected_dl.attempts, Some(1));
    assert!(
        rejected_dl.payload_omitted.is_none(),
        "{:?}",
        rejected_dl.payload_omitted
    );
    let body = rejected_dl.body();
    assert_eq!(
        (body.key(), body.payload()),
        (Some(&b"r1"[..]), Some(rejected.as_bytes()))
    );
    let released_dl = &by_offset(released_offset).dead_letter;
    assert_eq!(
        released_dl.attempts,
        Some(2),
        "released until the limit of 2 ran out"
    );

    // topics: the `dlq.` prefix is enough; the DLQ sits under its source topic.
    let chains = rebound_cli(&["topics", "--json"]);
    let found = chains
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|c| c["main"] == source.as_str())
        .flat_map(|c| c["topics"].as_array().cloned().unwrap_or_default())
        .any(|t| t["name"] == dlq.as_str() && t["dialect"] == "share-group");
    assert!(found, "{dlq} not found under {source}: {chains}");

    // The first source record is deleted: its pointer says so, and redrive refuses it.
    let admin: AdminClient<DefaultClientContext> = kafka.client_config(&[]).create().unwrap();
    let mut before = TopicPartitionList::new();
    before
        .add_partition_offset(&source, 0, Offset::Offset(gone_offset + 1))
        .unwrap();
    admin
        .delete_records(&before, &AdminOptions::new())
        .await
        .unwrap();
    let gone = rebound_ops::list(&kafka, &dlq, Source::Dlt, &Filter::default())
        .await
        .unwrap();
    let gone = gone
        .iter()
        .find(|l| l.dead_letter.origin.as_ref().and_then(|o| o.offset) == Some(gone_offset))
        .unwrap();
    let why = gone
        .dead_letter
        .payload_omitted
        .clone()
        .expect("the pointer says its source is gone");
    assert!(why.contains("no longer holds"), "{why}");
    let shown = rebound_cli(&[
        "dlt",
        "show",
        &dlq,
        &gone.dead_letter.position().to_string(),
    ]);
    assert!(
        shown.contains("not redrivable a share-group pointer to"),
        "{shown}"
    );
    let shown = rebound_cli(&["dlt", "show", &dlq, &rejected_dl.position().to_string()]);
    assert!(
        shown.contains("(a share-group pointer: key and payload are the source's)"),
        "{shown}"
    );
    assert!(shown.contains(rejected), "the source's payload: {shown}");

    let report = redrive_all(&kafka, &dlq, "interop-test").await;
    assert_eq!(report.sent(), 2, "{report:?}");
    let refused = report
        .outcomes
        .iter()
        .find(|(p, _)| *p == gone.dead_letter.position())
        .map(|(_, o)| o.clone());
    assert!(
        matches!(&refused, Some(Outcome::Skipped { reason: SkipReason::PayloadOmitted { why } }) if why.contains("no longer holds")),
        "{refused:?}"
    );
    // Read back: the source's key, value and own headers, none of the broker's.
    let back = read_all(&source);
    let copy = back
        .iter()
        .find(|r| r.offset() > released_offset && r.key() == Some(&b"r1"[..]))
        .expect("the redriven copy");
    assert_eq!(copy.payload(), Some(rejected.as_bytes()));
    assert_eq!(copy.headers().text("trace").as_deref(), Some("내용"));
    assert_no_header_prefixed(copy, "__dlq.");

    // discard the refused one: archived, still a pointer there.
    let filter = Filter {
        positions: vec![gone.dead_letter.position()],
        ..Filter::default()
    };
    let report = discard_selected(&kafka, &dlq, &filter, "source deleted", "interop-test").await;
    assert_eq!(report.archived.len(), 1, "{report:?}");

    // A second group with `errors.deadletterqueue.copy.record.enable=true`: the DLQ record is a
    // copy (key, value, the source's headers, then the broker's), not a pointer.
    let copy_dlq = format!("dlq.{}", unique("jobs-copies"));
    create_topic_with(
        &copy_dlq,
        1,
        &[("errors.deadletterqueue.group.enable", "true")],
    )
    .await;
    let copy_group = unique("job-copiers");
    let mut copier = java(
        &dir,
        "share-copier",
        "rs.rebound.writers.ShareRejecter",
        &[kafka.brokers(), &copy_group, &source, &copy_dlq, "copy"],
    );
    wait_for_records(
        &mut copier,
        "a copied record in the second DLQ",
        &copy_dlq,
        1,
    )
    .await;
    copier.stop_within(Duration::from_secs(10));
    let copies = read_all(&copy_dlq);
    capture("share-group-copy", &copies);
    let listed = rebound_ops::list(&kafka, &copy_dlq, Source::Dlt, &Filter::default())
        .await
        .unwrap();
    let copied = listed
        .iter()
        .find(|l| l.dead_letter.origin.as_ref().and_then(|o| o.offset) == Some(rejected_offset))
        .unwrap_or_else(|| panic!("no copy of {rejected_offset}: {listed:?}"));
    let dl = &copied.dead_letter;
    assert_eq!(dl.dialect, Dialect::ShareGroup);
    // A copy, not a pointer: its own key and value.
    assert_eq!(
        (dl.record.key(), dl.record.payload()),
        (Some(&b"r1"[..]), Some(rejected.as_bytes()))
    );
    // The broker copies the key and value, not the source's headers: the source, still there,
    // is what a redrive sends, its `trace: 내용` header with it.
    assert_eq!(
        dl.record.headers().text("trace"),
        None,
        "Kafka 4.4.0 drops them"
    );
    assert_eq!(dl.body().headers().text("trace").as_deref(), Some("내용"));
    assert!(dl.payload_omitted.is_none(), "{dl:?}");
}
