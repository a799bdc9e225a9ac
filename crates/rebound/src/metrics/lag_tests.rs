use super::*;

/// Trimmed from a real librdkafka 2.12 consumer's statistics.
const STATISTICS: &str = r#"{
  "name": "rdkafka#consumer-1", "type": "consumer", "ts": 1,
  "brokers": {"localhost:9092/1": {"name": "localhost:9092/1", "toppars": {}}},
  "topics": {
    "email.send": {"topic": "email.send", "partitions": {
      "0": {"partition": 0, "desired": true, "hi_offset": 120, "stored_offset": 100, "consumer_lag": 30, "consumer_lag_stored": 20},
      "1": {"partition": 1, "desired": false, "hi_offset": 50, "consumer_lag": -1, "consumer_lag_stored": -1},
      "2": {"partition": 2, "desired": true, "hi_offset": -1, "consumer_lag": -1, "consumer_lag_stored": -1},
      "-1": {"partition": -1, "desired": false, "consumer_lag": -1, "consumer_lag_stored": -1}
    }}
  }
}"#;

#[test]
fn lag_is_read_for_the_members_partitions_alone() {
    let mut lags = partitions_of(STATISTICS.as_bytes()).unwrap();
    lags.sort_by_key(|l| l.partition);
    let expected = [(0, Some(20), true), (1, None, false), (2, None, true)];
    assert_eq!(lags.len(), expected.len());
    for (lag, (partition, value, ours)) in lags.iter().zip(expected) {
        assert_eq!(lag.topic, "email.send");
        assert_eq!((lag.partition, lag.lag, lag.ours), (partition, value, ours));
    }
}

#[test]
fn statistics_that_do_not_parse_are_an_error_not_a_panic() {
    assert!(partitions_of(b"{\"topics\": 7}").is_err());
    assert!(partitions_of(b"\xff").is_err());
    assert_eq!(partitions_of(b"{}").unwrap(), vec![]);
}

#[test]
fn a_partition_that_leaves_the_member_reads_zero_once() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let gauges = LagGauges::new("g");
    let lag_of_0 = || {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .find(|(key, ..)| {
                key.key()
                    .labels()
                    .any(|l| l.key() == "partition" && l.value() == "0")
            })
            .map(|(.., value)| value)
    };
    metrics::with_local_recorder(&recorder, || gauges.update(STATISTICS.as_bytes()));
    assert_eq!(lag_of_0(), Some(DebugValue::Gauge(20.0.into())));
    let revoked = STATISTICS.replace(
        r#""partition": 0, "desired": true"#,
        r#""partition": 0, "desired": false"#,
    );
    metrics::with_local_recorder(&recorder, || gauges.update(revoked.as_bytes()));
    assert_eq!(lag_of_0(), Some(DebugValue::Gauge(0.0.into())));
}
