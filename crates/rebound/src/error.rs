//! The library's errors: what went wrong and what a person can do about it.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Why a consumer could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// librdkafka refused a setting or a request (the message names it).
    #[error("Kafka client error: {0}")]
    Kafka(#[from] KafkaError),
    /// A chain topic was missing and could not be created.
    #[error(
        "could not create topic {topic}: {code} (check the broker's permissions and settings)"
    )]
    CreateTopic {
        /// The topic that could not be created.
        topic: String,
        /// The broker's answer.
        code: RDKafkaErrorCode,
    },
    /// Topics were created (or expected) but never got a leader for every partition.
    #[error("topics {0:?} did not appear in the cluster metadata within 30 s")]
    TopicsMissing(Vec<String>),
    /// [`RetryingConsumerBuilder::build`](crate::RetryingConsumerBuilder::build) without a handler.
    #[error("the consumer has no handler: call `.handler(...)` before `run`")]
    NoHandler,
    /// [`ProcessingOrder::Key`](crate::ProcessingOrder::Key) cannot keep a key's order through
    /// the retry chain on this cluster (the message says why and what to change).
    #[error("key order cannot hold through the retry chain: {0}")]
    KeyOrder(String),
    /// The stages chosen leave nothing to read.
    #[error("the consumer would read no topic: {0}")]
    NoTopics(String),
    /// The polling thread could not be started or ended abnormally.
    #[error("the consumer thread stopped unexpectedly: {0}")]
    Crashed(String),
}
