//! The library's errors: what went wrong and what a person can do about it.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kafka client error: {0}")]
    Kafka(#[from] KafkaError),
    #[error(
        "could not create topic {topic}: {code} (check the broker's permissions and settings)"
    )]
    CreateTopic {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("topics {0:?} did not appear in the cluster metadata within 30 s")]
    TopicsMissing(Vec<String>),
    #[error("the consumer has no handler: call `.handler(...)` before `run`")]
    NoHandler,
    #[error("could not read {topic} to its end: partitions {partitions:?} stopped answering")]
    Incomplete { topic: String, partitions: Vec<i32> },
    #[error("{0}")]
    Operation(String),
    #[error("the consumer thread stopped unexpectedly: {0}")]
    Crashed(String),
}
