//! Kafka Connect's dead letters, written by a real standalone worker (connect-runtime 4.4.0): a
//! sink with the JSON converter (schemas on) fed records that are not JSON, `errors.tolerance=all`,
//! the DLQ and its context headers on. Rebound lists and shows them in Connect's dialect, redrives
//! one to the source topic (read back there, and failed by the worker again), and discards one.

use std::time::Duration;

use interop::writers::{capture, java, properties, wait_for_records};
use interop::*;
use rebound::headers::Headers;
use rebound_ops::dialect::{Dialect, Owner};
use rebound_ops::{Filter, Source};
use testkit::process::free_port;
use testkit::{
    assert_no_header_prefixed, create_topic, discard_selected, produce, producer, read_all,
    redrive_selected, unique,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_dead_letters_are_listed_shown_redriven_and_discarded() {
    let dir = temp_dir("connect-dlq");
    let source = unique("orders");
    let dlq = unique("orders-connect-dlq");
    let connector = unique("orders-sink");
    create_topic(&source, 1).await;
    create_topic(&dlq, 1).await;
    let kafka = testkit::kafka();

    let worker = properties(
        &dir,
        "worker.properties",
        &[
            ("bootstrap.servers", kafka.brokers()),
            (
                "key.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
            (
                "value.converter",
                "org.apache.kafka.connect.json.JsonConverter",
            ),
            ("value.converter.schemas.enable", "true"),
            (
                "offset.storage.file.filename",
                &dir.join("offsets").display().to_string(),
            ),
            ("listeners", &format!("http://127.0.0.1:{}", free_port())),
            ("offset.flush.interval.ms", "1000"),
        ],
    );
    let sink = properties(
        &dir,
        "sink.properties",
        &[
            ("name", &connector),
            ("connector.class", "rs.rebound.writers.DiscardingSink"),
            ("tasks.max", "1"),
            ("topics", &source),
            ("errors.tolerance", "all"),
            ("errors.deadletterqueue.topic.name", &dlq),
            ("errors.deadletterqueue.topic.replication.factor", "1"),
            ("errors.deadletterqueue.context.headers.enable", "true"),
        ],
    );
    let mut worker = java(
        &dir,
        "connect",
        "org.apache.kafka.connect.cli.ConnectStandalone",
        &[&worker, &sink],
    );

    let mut trace = Headers::new();
    trace.push("trace", "내용".as_bytes().to_vec());
    let producer = producer();
    let bad = "제목: not JSON";
    let (_, bad_offset) =
        produce(&producer, &source, None, Some("k1"), bad.as_bytes(), &trace).await;
    let good = r#"{"schema":{"type":"string"},"payload":"ok"}"#;
    produce(
        &producer,
        &source,
        None,
        Some("k2"),
        good.as_bytes(),
        &Headers::new(),
    )
    .await;
    let (_, worse_offset) = produce(
        &producer,
        &source,
        None,
        Some("k3"),
        &[0xff, 0xfe, b'{'],
        &Headers::new(),
    )
    .await;

    wait_for_records(&mut worker, "two dead letters in the Connect DLQ", &dlq, 2).await;
    let parked = read_all(&dlq);
    capture("connect", &parked);
    assert_eq!(parked.len(), 2, "the valid record is not parked");
    // The DLQ record carries the failed record's timestamp, not when it died.
    let sources = read_all(&source);
    assert_eq!(
        parked[0].timestamp(),
        sources[bad_offset as usize].timestamp()
    );
    let stats = rebound_cli(&["dlt", "stats", &dlq]);
    assert!(stats.contains("2 dead letters"), "{stats}");

    // list: Connect's dialect, the origin, the connector and its failure.
    let listed = rebound_ops::list(&kafka, &dlq, Source::Dlt, &Filter::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    let first = &listed[0].dead_letter;
    assert_eq!(first.dialect, Dialect::Connect);
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    let origin = first.origin.as_ref().expect("origin");
    assert_eq!(
        (origin.topic.as_str(), origin.partition, origin.offset),
        (source.as_str(), Some(0), Some(bad_offset))
    );
    assert_eq!(
        listed[1].dead_letter.origin.as_ref().unwrap().offset,
        Some(worse_offset)
    );
    match first.owner.as_ref().expect("owner") {
        Owner::Connector { name, task, stage } => {
            assert_eq!(name, &connector);
            assert_eq!(task.as_deref(), Some("0"));
            assert_eq!(stage.as_deref(), Some("VALUE_CONVERTER"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        first.error_class(),
        "org.apache.kafka.connect.errors.DataException"
    );
    assert!(first
        .failure
        .stacktrace
        .as_deref()
        .unwrap_or("")
        .contains("JsonConverter"));
    // The record itself is the failed one, its own header kept.
    assert_eq!(first.record.payload(), Some(bad.as_bytes()));
    assert_eq!(
        first.record.headers().text("trace").as_deref(),
        Some("내용")
    );

    // topics: told its name, it finds the DLQ under its source topic, in Connect's dialect.
    let chains = rebound_cli(&["topics", "--json", "--dlt", &dlq]);
    let dlq_topic = chains
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|c| c["main"] == source.as_str())
        .flat_map(|c| c["topics"].as_array().cloned().unwrap_or_default())
        .find(|t| t["name"] == dlq.as_str())
        .unwrap_or_else(|| panic!("{dlq} not under {source}: {chains}"));
    assert_eq!(
        (&dlq_topic["role"], &dlq_topic["dialect"]),
        (&"dlt".into(), &"connect".into())
    );
    let shown = rebound_cli(&["dlt", "show", &dlq, &first.position().to_string()]);
    assert!(shown.contains("dialect       connect"), "{shown}");
    assert!(
        shown.contains(&format!(
            "failed by     connector {connector} task 0 at VALUE_CONVERTER"
        )),
        "{shown}"
    );

    // show: the same by position.
    let shown = rebound_ops::show(&kafka, &dlq, Source::Dlt, first.position())
        .await
        .unwrap();
    assert_eq!(shown.dead_letter.dialect, Dialect::Connect);

    // redrive the first back to its source partition; read back there.
    let filter = Filter {
        positions: vec![first.position()],
        ..Filter::default()
    };
    let report = redrive_selected(&kafka, &dlq, &filter, "interop-test").await;
    assert_eq!(report.sent(), 1, "{report:?}");
    let back = read_all(&source);
    let copy = back.last().unwrap();
    assert_eq!(
        (copy.key(), copy.payload()),
        (Some(&b"k1"[..]), Some(bad.as_bytes()))
    );
    assert_eq!(copy.headers().text("trace").as_deref(), Some("내용"));
    assert_no_header_prefixed(copy, "__connect.errors.");
    // The worker fails it again: a third dead letter, stamped as redriven once.
    wait_for_records(&mut worker, "the redriven copy parked again", &dlq, 3).await;
    let again = rebound_ops::list(&kafka, &dlq, Source::Dlt, &Filter::default())
        .await
        .unwrap();
    assert_eq!(again[2].dead_letter.dialect, Dialect::Connect);
    assert_eq!(again[2].dead_letter.redrive_count, 1);
    assert_eq!(again[0].status, rebound_ops::Status::Redriven);

    // discard the second, archived with its headers.
    let second = Filter {
        positions: vec![listed[1].dead_letter.position()],
        ..Filter::default()
    };
    let report = discard_selected(&kafka, &dlq, &second, "not JSON at all", "interop-test").await;
    assert_eq!(report.archived.len(), 1, "{report:?}");
    let archived = rebound_ops::list(&kafka, &dlq, Source::Archive, &Filter::default())
        .await
        .unwrap();
    assert_eq!(archived[0].dead_letter.dialect, Dialect::Connect);
    worker.stop_within(Duration::from_secs(10));
}
