//! What can go wrong while operating dead letters: [`Error`] for an operation (the text of a
//! position, id or status, from a person's flags or the ledger, is `parse_error.rs`'s).

use crate::id::Position;

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
    /// A DLT a person named is not on the cluster (a typo, most often): the message names the
    /// dead-letter topics that are, so it does not read as "no dead letters".
    #[error("topic {topic} does not exist{}", existing_dlts(nearest, *more))]
    NoSuchDlt {
        /// The name asked for.
        topic: String,
        /// The dead-letter topics on the cluster with the names closest to it, closest first.
        nearest: Vec<String>,
        /// How many other dead-letter topics the cluster has.
        more: usize,
    },
    /// A blocking read was cut off (the runtime is shutting down).
    #[error("a blocking read did not finish: {0}")]
    Interrupted(String),
}

/// The end of [`Error::NoSuchDlt`]'s message: the DLTs that do exist.
fn existing_dlts(nearest: &[String], more: usize) -> String {
    if nearest.is_empty() {
        return ", and this cluster has no dead-letter topic".into();
    }
    let mut text = format!(
        "; the dead-letter topics on this cluster are {}",
        nearest.join(", ")
    );
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}
