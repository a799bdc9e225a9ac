use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

use super::*;
use crate::policy::{Backoff, RetryPolicy};

/// The topics a worker of the whole chain reads (the DLT aside).
const TOPICS: [&str; 5] = [
    "email.send",
    "email.send-retry-1000",
    "email.send-retry-2000",
    "email.send-retry-4000",
    "email.send-retry-8000",
];

fn chain() -> TopicChain {
    let policy = RetryPolicy::new(5)
        .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
        .dlt_suffix(".dlt");
    TopicChain::new("email.send", &policy)
}

/// Every metric's key and value; a snapshot takes what it reads (counters restart at zero).
type Taken = Vec<(metrics_util::CompositeKey, DebugValue)>;

fn take(snapshotter: &Snapshotter) -> Taken {
    let all = snapshotter.snapshot().into_vec().into_iter();
    all.map(|(key, _, _, value)| (key, value)).collect()
}

/// The value of the metric `name` whose labels include every one of `labels`.
fn value<'a>(taken: &'a Taken, name: &str, labels: &[(&str, &str)]) -> Option<&'a DebugValue> {
    taken
        .iter()
        .find(|(key, _)| {
            let key = key.key();
            key.name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(_, value)| value)
}

#[test]
fn stages_are_named_by_their_place_in_the_chain() {
    let chain = chain();
    assert_eq!(stage_label(&chain, "email.send"), "main");
    assert_eq!(stage_label(&chain, "email.send-retry-2000"), "retry");
    assert_eq!(stage_label(&chain, "email.send.dlt"), "dlt");
    assert_eq!(stage_label(&chain, "elsewhere"), "other");
}

#[test]
fn lateness_is_how_far_past_the_due_time_and_never_negative() {
    let due = EpochMillis::new(1_000_000);
    assert_eq!(
        lateness(due, EpochMillis::new(1_000_250)),
        Duration::from_millis(250)
    );
    assert_eq!(lateness(due, EpochMillis::new(999_000)), Duration::ZERO);
}

#[test]
fn each_event_counts_under_its_topic_stage_and_group() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let metrics =
        metrics::with_local_recorder(&recorder, || ChainMetrics::new("g", &chain(), &TOPICS));
    metrics.handled("email.send", Duration::from_millis(20));
    metrics.handled("email.send", Duration::from_millis(30));
    metrics.failed(
        "email.send-retry-1000",
        FailureClass::Transient,
        Duration::ZERO,
    );
    metrics.retried("email.send-retry-1000");
    metrics.dead_lettered("email.send-retry-8000");
    let snapshotter = take(&snapshotter);
    let handled = [("group", "g"), ("topic", "email.send"), ("stage", "main")];
    assert_eq!(
        value(&snapshotter, RECORDS_HANDLED, &handled),
        Some(&DebugValue::Counter(2))
    );
    let failed = [
        ("topic", "email.send-retry-1000"),
        ("stage", "retry"),
        ("class", "transient"),
    ];
    assert_eq!(
        value(&snapshotter, RECORDS_FAILED, &failed),
        Some(&DebugValue::Counter(1))
    );
    let retried = [("topic", "email.send-retry-1000")];
    assert_eq!(
        value(&snapshotter, RECORDS_RETRIED, &retried),
        Some(&DebugValue::Counter(1))
    );
    let dead = [("topic", "email.send-retry-8000"), ("stage", "retry")];
    assert_eq!(
        value(&snapshotter, RECORDS_DEAD_LETTERED, &dead),
        Some(&DebugValue::Counter(1))
    );
    let Some(DebugValue::Histogram(seconds)) = value(&snapshotter, HANDLER_DURATION, &handled)
    else {
        panic!("no handler duration");
    };
    assert_eq!(seconds.len(), 2);
}

#[test]
fn a_copy_counts_in_flight_until_its_guard_drops() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let metrics =
        metrics::with_local_recorder(&recorder, || ChainMetrics::new("g", &chain(), &TOPICS));
    let gauge = |snapshotter: &Snapshotter| match value(&take(snapshotter), COPIES_IN_FLIGHT, &[]) {
        Some(DebugValue::Gauge(v)) => v.into_inner(),
        other => panic!("{other:?}"),
    };
    let copies = metrics.copies();
    let (first, second, third) = (copies.count(), copies.count(), copies.count());
    drop(first);
    // Dropped with its future whether acknowledged or stopped: only the two left count.
    assert_eq!(gauge(&snapshotter), 2.0);
    drop((second, third));
}

#[test]
fn without_a_recorder_nothing_is_recorded_and_nothing_fails() {
    let metrics = ChainMetrics::new("g", &chain(), &TOPICS);
    metrics.handled("email.send", Duration::from_millis(1));
    metrics.handled("not-in-the-chain", Duration::from_millis(1));
    drop(metrics.copies().count());
}

#[test]
fn lateness_is_recorded_on_retry_topics_alone() {
    use crate::headers::{encode_big_integer, Headers, BACKOFF_TIMESTAMP};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let metrics =
        metrics::with_local_recorder(&recorder, || ChainMetrics::new("g", &chain(), &TOPICS));
    let due_a_second_ago = |topic: &str| {
        let mut headers = Headers::new();
        let due = EpochMillis::now().as_i64() - 1_000;
        headers.push(BACKOFF_TIMESTAMP, encode_big_integer(due));
        Record::new(topic.to_string(), 0, 0).with_headers(headers)
    };
    metrics.started(&due_a_second_ago("email.send-retry-2000"));
    metrics.started(&due_a_second_ago("email.send"));
    let taken = take(&snapshotter);
    let retry = [("topic", "email.send-retry-2000")];
    let Some(DebugValue::Histogram(late)) = value(&taken, LATENESS, &retry) else {
        panic!("no lateness on the retry topic");
    };
    assert_eq!(late.len(), 1);
    assert!((1.0..5.0).contains(&late[0].into_inner()), "{late:?}");
    assert_eq!(value(&taken, LATENESS, &[("topic", "email.send")]), None);
}
