//! What can go wrong while operating dead letters.

use crate::dead_letter::Position;

/// An operation's error, with what to do about it in its message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The cluster could not be asked, or refused (the message names the request).
    #[error("Kafka client error: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Creating the ledger or archive topic failed.
    #[error(transparent)]
    Rebound(#[from] rebound::Error),
    /// Partitions stopped answering while a topic was read to its end.
    #[error("could not read {topic} to its end: partitions {partitions:?} stopped answering")]
    Incomplete {
        /// The topic being read.
        topic: String,
        /// The partitions that never reached their end.
        partitions: Vec<i32>,
    },
    /// No record at that position (check `rebound dlt list`).
    #[error("no dead letter at {position} in {topic}")]
    NotFound {
        /// The DLT or archive that was searched.
        topic: String,
        /// The position asked for.
        position: Position,
    },
    /// The topic is not on the cluster.
    #[error("topic {0} does not exist")]
    NoSuchTopic(String),
    /// A blocking read was cut off (the runtime is shutting down).
    #[error("a blocking read did not finish: {0}")]
    Interrupted(String),
}
