//! Consumer lag per partition, from librdkafka's statistics: each partition's high watermark as
//! the last fetch response gave it, minus the offset the engine stored for commit (the first
//! record not yet finished). librdkafka knows both without asking the broker, so the only cost
//! is the statistics JSON it writes every [`STATISTICS_INTERVAL_MS`] and the parse of the few
//! fields read here; fetching watermarks instead would be a broker round trip per partition.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use metrics::{gauge, Gauge};
use serde::Deserialize;

use super::CONSUMER_LAG;

/// How often librdkafka writes its statistics (`statistics.interval.ms`), unless the service's
/// configuration says otherwise (`0` turns them, and the lag, off).
pub(crate) const STATISTICS_INTERVAL_MS: &str = "5000";

#[derive(Deserialize)]
struct Statistics {
    #[serde(default)]
    topics: HashMap<String, TopicStatistics>,
}

#[derive(Deserialize)]
struct TopicStatistics {
    #[serde(default)]
    partitions: HashMap<String, PartitionStatistics>,
}

#[derive(Deserialize)]
struct PartitionStatistics {
    partition: i32,
    /// Whether this member consumes it (assigned).
    #[serde(default)]
    desired: bool,
    /// `-1` until librdkafka knows the high watermark and a stored or committed offset.
    #[serde(default = "unknown")]
    consumer_lag_stored: i64,
}

fn unknown() -> i64 {
    -1
}

/// One partition in the statistics: its lag if this member consumes it and it is known.
#[derive(Debug, PartialEq)]
pub(crate) struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// `None` when the partition is not this member's (any more), or its lag is not known yet.
    pub lag: Option<i64>,
    pub ours: bool,
}

/// The partitions of a statistics JSON (librdkafka's internal partition `-1` left out).
pub(crate) fn partitions_of(json: &[u8]) -> Result<Vec<PartitionLag>, serde_json::Error> {
    let statistics: Statistics = serde_json::from_slice(json)?;
    let mut lags = Vec::new();
    for (topic, topic_statistics) in statistics.topics {
        for p in topic_statistics.partitions.into_values() {
            if p.partition < 0 {
                continue;
            }
            lags.push(PartitionLag {
                topic: topic.clone(),
                partition: p.partition,
                lag: (p.desired && p.consumer_lag_stored >= 0).then_some(p.consumer_lag_stored),
                ours: p.desired,
            });
        }
    }
    Ok(lags)
}

/// The lag gauges of one member, set from each statistics report.
pub(crate) struct LagGauges {
    group: String,
    /// The partitions reported so far: one that leaves the member is set to 0 once, so a sum
    /// over members does not count it twice when its new owner reports it.
    reported: Mutex<HashMap<(String, i32), Gauge>>,
}

impl LagGauges {
    pub(crate) fn new(group: &str) -> Self {
        LagGauges {
            group: group.to_string(),
            reported: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the gauges from one statistics report; a report that does not parse is skipped.
    pub(crate) fn update(&self, json: &[u8]) {
        let lags = match partitions_of(json) {
            Ok(lags) => lags,
            Err(e) => {
                tracing::debug!(error = %e, "librdkafka statistics not understood; lag not updated");
                return;
            }
        };
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        for PartitionLag {
            topic,
            partition,
            lag,
            ours,
        } in lags
        {
            let key = (topic, partition);
            match (lag, ours) {
                (Some(lag), _) => {
                    let gauge = reported.entry(key).or_insert_with_key(|(topic, partition)| {
                        gauge!(CONSUMER_LAG, "group" => self.group.clone(), "topic" => topic.clone(), "partition" => partition.to_string())
                    });
                    gauge.set(lag as f64);
                }
                (None, false) => {
                    if let Some(gauge) = reported.remove(&key) {
                        gauge.set(0.0);
                    }
                }
                (None, true) => {}
            }
        }
    }
}

#[cfg(test)]
#[path = "lag_tests.rs"]
mod tests;
