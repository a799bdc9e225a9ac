//! The chain follows its main topic's growth. A partition added to the main topic is consumed
//! once librdkafka's metadata refresh sees it (`topic.metadata.refresh.interval.ms`, 5 s for
//! this consumer, 5 minutes by librdkafka's default), and its failed records' copies must keep
//! their partition number on every hop: the retry topics and the DLT are grown to match, or,
//! when this consumer does not manage topics, a person is told loudly which to grow.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::producer::Forwarder;
use super::settings::{all_chain_topics, Settings};
use crate::admin;

/// How often the chain's partition counts are compared.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Compares the chain's partition counts every [`CHECK_EVERY`] until dropped (the runtime
/// aborts it when the consumer stops).
pub(crate) async fn follow_growth(settings: Arc<Settings>, forwarder: Arc<Forwarder>) {
    let mut told: HashSet<(String, i32)> = HashSet::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = forwarder.growth_asked() => {}
        }
        if let Err(e) = check(&settings, &forwarder, &mut told).await {
            tracing::warn!(error = %e, "could not compare the chain's partition counts; trying again in 10 s");
        }
    }
}

/// One comparison: grows (or names) every chain topic with fewer partitions than the main topic.
async fn check(
    settings: &Settings,
    forwarder: &Arc<Forwarder>,
    told: &mut HashSet<(String, i32)>,
) -> Result<(), crate::Error> {
    let chain = &settings.chain;
    if chain.main.is_empty() {
        return Ok(());
    }
    let topics = all_chain_topics(settings);
    let counts = admin::partition_counts_of(&settings.kafka, &topics).await?;
    let Some(&main) = counts.get(&chain.main) else {
        return Ok(());
    };
    let behind: Vec<&str> = topics[1..]
        .iter()
        .copied()
        .filter(|t| counts.get(*t).is_some_and(|n| *n < main))
        .collect();
    for (topic, count) in &counts {
        forwarder.grown(topic, *count);
    }
    if behind.is_empty() {
        return Ok(());
    }
    if settings.create_topics {
        admin::grow_topics(&settings.kafka, &behind, main).await?;
        let grown: Vec<String> = behind.iter().map(|t| t.to_string()).collect();
        let refreshing = forwarder.clone();
        let _ = tokio::task::spawn_blocking(move || refreshing.refresh_metadata(&grown)).await;
        behind.iter().for_each(|t| forwarder.grown(t, main));
        return Ok(());
    }
    for topic in behind {
        if told.insert((topic.to_string(), main)) {
            tracing::error!(
                "{} has {main} partitions and {topic} has {}: copies of records from the main topic's \
                 partitions {}..{main} cannot keep their partition number (and Key order cannot hold for \
                 their keys); grow it: kafka-topics.sh --alter --topic {topic} --partitions {main}",
                chain.main,
                counts[topic],
                counts[topic],
            );
        }
    }
    Ok(())
}
