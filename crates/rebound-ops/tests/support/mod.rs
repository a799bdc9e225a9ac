//! What the rebound-ops integration tests share: the broker from `KAFKA_BROKERS`, and topic
//! names no other run uses (they share one broker).

use rebound::KafkaConfig;

pub(crate) fn kafka() -> KafkaConfig {
    KafkaConfig::from_env()
}

/// A topic name no other run uses.
pub(crate) fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}
