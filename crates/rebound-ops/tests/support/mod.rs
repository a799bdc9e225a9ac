//! What the rebound-ops integration tests share: the broker from `KAFKA_BROKERS`, topic names
//! no other run uses (they share one broker), and dead letters written as a DLT holds them.

// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rebound::headers as h;
use rebound::{KafkaConfig, RELIABLE_PRODUCER};

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

/// A producer with Rebound's reliable settings, for writing dead letters.
pub(crate) fn producer() -> FutureProducer {
    kafka().client_config(RELIABLE_PRODUCER).create().unwrap()
}

/// A dead letter's origin headers: the topic it failed on and, when given, its partition there
/// (without a topic, a redrive skips the dead letter).
pub(crate) fn origin(topic: Option<&str>, partition: Option<i32>) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(topic) = topic {
        headers = headers.insert(Header {
            key: h::ORIGINAL_TOPIC,
            value: Some(topic.as_bytes()),
        });
    }
    if let Some(partition) = partition {
        headers = headers.insert(Header {
            key: h::ORIGINAL_PARTITION,
            value: Some(&h::encode_i32(partition)[..]),
        });
    }
    headers
}

/// Writes `record` and waits for the broker's acknowledgement.
pub(crate) async fn send(producer: &FutureProducer, record: FutureRecord<'_, str, str>) {
    producer
        .send(record, std::time::Duration::from_secs(10))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}
