//! Kafka Streams' dead letters (KIP-1034), written by a real application (kafka-streams 4.4.0,
//! interop/kafka-writers): it fails on values containing "fail", and the log-and-continue
//! processing handler with `errors.dead.letter.queue.topic.name` parks them. Rebound reads the
//! DLQ in the Streams dialect and redrives one to its input (read back there).

use std::time::Duration;

use interop::writers::{capture, java, wait_for_records};
use interop::*;
use rebound::headers::Headers;
use rebound_ops::dialect::Dialect;
use rebound_ops::{Filter, Source};
use testkit::{
    assert_no_header_prefixed, create_topic, produce, producer, read_all, redrive_all, unique,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_dead_letters_are_read_and_redriven() {
    let dir = temp_dir("streams-dlq");
    let app = unique("upper");
    let input = unique("words");
    let output = unique("upper-words");
    let dlq = format!("{app}.dlq");
    for topic in [&input, &output, &dlq] {
        create_topic(topic, 1).await;
    }
    let kafka = testkit::kafka();

    let mut trace = Headers::new();
    trace.push("trace", "내용".as_bytes().to_vec());
    let producer = producer();
    let failing = "fail 제목";
    let (_, failing_offset) = produce(
        &producer,
        &input,
        None,
        Some("f1"),
        failing.as_bytes(),
        &trace,
    )
    .await;
    produce(
        &producer,
        &input,
        None,
        Some("o1"),
        b"fine",
        &Headers::new(),
    )
    .await;

    let state = dir.join("state").display().to_string();
    let mut app_process = java(
        &dir,
        "streams",
        "rs.rebound.writers.StreamsDeadLetters",
        &[kafka.brokers(), &app, &input, &output, &dlq, &state],
    );
    let what = "the failing record in the Streams DLQ";
    wait_for_records(&mut app_process, what, &dlq, 1).await;
    let what = "the passing record in the output";
    wait_for_records(&mut app_process, what, &output, 1).await;
    let parked = read_all(&dlq);
    capture("streams", &parked);
    assert_eq!(parked.len(), 1);
    // The DLQ record carries the failed record's timestamp, not when it died.
    let inputs = read_all(&input);
    assert_eq!(
        parked[0].timestamp(),
        inputs[failing_offset as usize].timestamp()
    );

    let listed = rebound_ops::list(&kafka, &dlq, Source::Dlt, &Filter::default())
        .await
        .unwrap();
    let dl = &listed[0].dead_letter;
    assert_eq!(dl.dialect, Dialect::Streams);
    assert!(dl.warnings.is_empty(), "{:?}", dl.warnings);
    let origin = dl.origin.as_ref().expect("origin");
    assert_eq!(
        (origin.topic.as_str(), origin.partition, origin.offset),
        (input.as_str(), Some(0), Some(failing_offset))
    );
    assert_eq!(dl.error_class(), "java.lang.IllegalStateException");
    assert!(
        dl.error_message().contains("refused 제목"),
        "{}",
        dl.error_message()
    );
    assert!(dl
        .failure
        .stacktrace
        .as_deref()
        .unwrap_or("")
        .contains("StreamsDeadLetters"));
    assert_eq!(
        (dl.record.key(), dl.record.payload()),
        (Some(&b"f1"[..]), Some(failing.as_bytes()))
    );

    let report = redrive_all(&kafka, &dlq, "interop-test").await;
    assert_eq!(report.sent(), 1, "{report:?}");
    let copy = read_all(&input).into_iter().last().unwrap();
    assert_eq!(
        (copy.key(), copy.payload()),
        (Some(&b"f1"[..]), Some(failing.as_bytes()))
    );
    assert_no_header_prefixed(&copy, "__streams.");
    // The application fails it again: a second dead letter, stamped as redriven once.
    wait_for_records(&mut app_process, "the redriven copy parked again", &dlq, 2).await;
    let again = rebound_ops::list(&kafka, &dlq, Source::Dlt, &Filter::default())
        .await
        .unwrap();
    assert_eq!(
        (
            again[1].dead_letter.dialect,
            again[1].dead_letter.redrive_count
        ),
        (Dialect::Streams, 1)
    );
    app_process.stop_within(Duration::from_secs(15));
}
