//! Whether [`ProcessingOrder::Key`] can keep a key's order through the retry chain on this
//! cluster, checked before the consumer joins its group.
//!
//! A record keeps its partition number on each hop, so key order holds across the chain when
//! the member that consumes partition *p* of the main topic also consumes partition *p* of every
//! retry topic: the chain's topics have the same partition count and the group's assignor gives
//! each member the same partition numbers of every topic (the range assignor does; round-robin
//! and the sticky assignors do not).

use std::collections::HashMap;

use crate::consumer::settings::{ProcessingOrder, Settings};
use crate::error::Error;

/// Refuses settings key order cannot keep, saying what to change: checked when the consumer is
/// built, before anything touches the cluster.
pub(crate) fn check_settings(settings: &Settings) -> Result<(), Error> {
    if settings.hold_until_redriven {
        if settings.order != ProcessingOrder::Key {
            return Err(Error::KeyOrder(
                "hold_until_redriven keeps a key's order, so it needs .processing_order(ProcessingOrder::Key)".into(),
            ));
        }
        if settings.chain.dlt.is_none() {
            return Err(Error::KeyOrder(
                "hold_until_redriven parks a key behind its dead letter, so the retry policy needs a dead-letter topic".into(),
            ));
        }
        if !settings.chain.routed_dlts.is_empty() {
            return Err(Error::KeyOrder(
                "hold_until_redriven follows one DLT and its ledger, so it cannot be used with DLT routes (RetryPolicy::dlt_route)".into(),
            ));
        }
    }
    if settings.group_per_stage && settings.order == ProcessingOrder::Key {
        return Err(Error::KeyOrder(
            "Key order needs one member to own partition p of every stage, and Spring's group per stage assigns each stage's partitions on its own: use ProcessingOrder::Partition or Unordered with group_per_stage, or one group for the chain".into(),
        ));
    }
    Ok(())
}

/// Refuses `Key` order when the condition cannot hold, saying why and what to change.
pub(crate) fn check_key_order(
    settings: &Settings,
    partitions: &HashMap<String, i32>,
) -> Result<(), Error> {
    if settings.order != ProcessingOrder::Key || settings.chain.retries.is_empty() {
        return Ok(());
    }
    let chain = &settings.chain;
    let count = |topic: &str| partitions.get(topic).copied();
    let main = count(&chain.main);
    for retry in &chain.retries {
        if count(&retry.name) != main {
            return Err(Error::KeyOrder(format!(
                "{} has {} partitions and {} has {}: a key's retry would land on another partition \
                 number, which another member may own; give the chain's topics the same partition count",
                chain.main,
                main.map_or("no".into(), |n| n.to_string()),
                retry.name,
                count(&retry.name).map_or("no".into(), |n| n.to_string()),
            )));
        }
    }
    let strategy = settings
        .kafka
        .properties()
        .iter()
        .rev()
        .find(|(key, _)| key == "partition.assignment.strategy")
        .map(|(_, value)| value.as_str());
    if let Some(strategy) = strategy {
        let first = strategy.split(',').next().unwrap_or("").trim();
        if first != "range" {
            return Err(Error::KeyOrder(format!(
                "partition.assignment.strategy={strategy} may give partition p of the main topic \
                 and of a retry topic to different members; use range (librdkafka's default)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KafkaConfig, Record, RetryPolicy, RetryingConsumer};

    fn settings(order: ProcessingOrder, kafka: KafkaConfig) -> Settings {
        RetryingConsumer::builder(kafka, "t", "g")
            .policy(RetryPolicy::new(3))
            .processing_order(order)
            .handler(|_: Record| async { Ok(()) })
            .into_settings()
    }

    fn counts(pairs: &[(&str, i32)]) -> HashMap<String, i32> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn key_order_needs_equal_partition_counts_and_a_range_assignor() {
        let kafka = || KafkaConfig::new("b:9092");
        let equal = counts(&[("t", 8), ("t-retry", 8), ("t-dlt", 8)]);
        let fewer = counts(&[("t", 8), ("t-retry", 4), ("t-dlt", 8)]);
        let sticky = kafka().property("partition.assignment.strategy", "cooperative-sticky");
        let range = kafka().property("partition.assignment.strategy", "range,roundrobin");
        let cases = [
            (ProcessingOrder::Key, kafka(), &equal, true),
            (ProcessingOrder::Key, range, &equal, true),
            (ProcessingOrder::Key, kafka(), &fewer, false),
            (ProcessingOrder::Key, sticky.clone(), &equal, false),
            (ProcessingOrder::Unordered, sticky, &fewer, true),
            (ProcessingOrder::Partition, kafka(), &fewer, true),
        ];
        for (order, kafka, partitions, ok) in cases {
            let result = check_key_order(&settings(order, kafka), partitions);
            assert_eq!(result.is_ok(), ok, "{order:?} {partitions:?}: {result:?}");
        }
        let err = check_key_order(
            &settings(ProcessingOrder::Key, KafkaConfig::new("b")),
            &fewer,
        );
        assert!(err.unwrap_err().to_string().contains("t-retry has 4"));
    }
}
