//! Why a hand-over refused or stopped, with what to do in each message.

use rdkafka::error::KafkaError;

/// A hand-over's error. Every refusal comes before anything is written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandoverError {
    /// The main group is empty (or only whitespace): Spring gives such a listener no stage groups.
    #[error("the group is empty: give the listener's group id (--group)")]
    NoGroup,
    /// A topic of the chain is not on the cluster.
    #[error(
        "topic {0} of the chain does not exist: check the retry flags against `rebound topics`"
    )]
    NoSuchTopic(String),
    /// A group whose offsets would be read has live members: its offsets are still moving.
    #[error(
        "{group} has {members} live member(s) (state {state}): stop every consumer in it before \
         handing its offsets over, or they move on after they were read"
    )]
    SourceActive {
        /// The group.
        group: String,
        /// How many members it has.
        members: usize,
        /// Its state as Kafka reports it.
        state: String,
    },
    /// A group whose offsets would be written has live members: they would overwrite them.
    #[error(
        "the target group {group} has {members} live member(s) (state {state}): stop them first; \
         Kafka takes offsets from outside a group only while it has no members"
    )]
    TargetActive {
        /// The group.
        group: String,
        /// How many members it has.
        members: usize,
        /// Its state as Kafka reports it.
        state: String,
    },
    /// A group holds committed offsets but the classic DescribeGroups request does not know it:
    /// a group of the consumer protocol (KIP-848), whose members this command cannot see.
    #[error(
        "{0} holds committed offsets but Kafka describes it as Dead: a group of the consumer \
         protocol (group.protocol=consumer), whose members this command cannot see; check it is \
         stopped with `kafka-consumer-groups.sh --describe --group {0} --members` and move its \
         offsets with `kafka-consumer-groups.sh --reset-offsets`"
    )]
    Undescribable(String),
    /// Kafka refused the offsets for a target group (a member joined it since it was described).
    #[error(
        "Kafka refused the offsets for {group}: {source} (a member joined it?); written before \
         it: {written:?}; the hand-over can be run again once the group is stopped"
    )]
    Refused {
        /// The group.
        group: String,
        /// Kafka's answer.
        source: Box<KafkaError>,
        /// The target groups written before it.
        written: Vec<String>,
    },
    /// The offsets read back after writing are not the ones written.
    #[error("after writing, {group} has {found:?} on {topic}-{partition}, not {expected}")]
    NotReadBack {
        /// The target group.
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset written.
        expected: i64,
        /// The offset read back, if any.
        found: Option<i64>,
    },
    /// The cluster could not be asked.
    #[error(transparent)]
    Ops(#[from] crate::Error),
}

impl From<KafkaError> for HandoverError {
    fn from(error: KafkaError) -> Self {
        HandoverError::Ops(crate::Error::Kafka(error))
    }
}
