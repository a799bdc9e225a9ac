//! Handing a chain's committed offsets over between Spring Kafka's stage groups and Rebound's
//! single group, both ways (`rebound groups handover`).
//!
//! Spring reads each stage of a chain in its own group (`G`, `G-retry-1000`, …, `G.dlt`:
//! [`rebound::naming::stage_group`]); Rebound reads the main topic and every retry topic in `G`.
//! Replacing one by the other without moving offsets makes the new side start each retry topic
//! from `auto.offset.reset` (Rebound: the earliest retained record, handled again). A hand-over
//! reads the source groups' committed offsets on each stage's partitions and commits them, with
//! their metadata, for the target groups:
//!
//! - to [`GroupLayout::Single`] (Spring → Rebound): `G-retry-N`'s offsets on each retry topic
//!   become `G`'s; to [`GroupLayout::SpringStages`] (Rebound → Spring) the reverse. The main
//!   topic is read in `G` either way and moves nothing.
//! - The DLT moves only with `include_dlt`: Rebound's group reads it only when the consumer has
//!   a `dlt_handler`. Without one, Spring's DLT container (`G.dlt`) may keep running, or a Rebound
//!   consumer of the DLT alone (`RetryingConsumer::dead_letters`) can be given the group `G.dlt`
//!   and needs no hand-over.
//! - A partition without a committed offset in its source group is left as it is: nothing is
//!   invented, and the target keeps what it had.
//!
//! It refuses, before writing anything, while a group it reads from or writes to has live
//! members (both sides must be stopped: a live source moves on after it was read, a live target
//! overwrites what was written), and when a source holds offsets but the classic DescribeGroups
//! cannot see it (a `group.protocol=consumer` group; rdkafka 0.39 has no ConsumerGroupDescribe).
//! Kafka itself refuses a commit from outside a group that has members, which covers a member
//! joining in between. Each target group is written in one request, then read back. Running it
//! again writes the same offsets, so a hand-over stopped half-way is finished by running it again.

mod error;
mod kafka;
mod plan;
#[cfg(test)]
mod plan_tests;

use std::collections::{BTreeMap, BTreeSet};

use rebound::naming::TopicChain;
use rebound::KafkaConfig;

pub use error::HandoverError;
pub use plan::{GroupLayout, GroupState, Left, Move, Outcome, StagePlan};

use crate::reader::blocking::assigning_consumer;
use crate::reader::unblock;
use plan::Committed;

/// What to hand over.
#[derive(Debug, Clone)]
pub struct HandoverRequest {
    /// The chain, from the retry policy both sides use.
    pub chain: TopicChain,
    /// The listener's (Rebound's) group: `G`.
    pub group: String,
    /// The layout the offsets go to; they come from the other.
    pub to: GroupLayout,
    /// Hand the DLT's offsets over too (Rebound's group reads the DLT: a `dlt_handler`).
    pub include_dlt: bool,
    /// Read and check everything, write nothing.
    pub dry_run: bool,
}

/// What a hand-over found, and wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Handover {
    /// Every stage of the chain with its groups, and why it moves nothing when it does not.
    pub stages: Vec<StagePlan>,
    /// Every group that gives or takes offsets, as described before anything was written.
    pub groups: Vec<GroupState>,
    /// Each partition of the stages that move.
    pub moves: Vec<Move>,
    /// Retry topics and DLTs of the same main topic on the cluster that the chain does not have
    /// (the retry flags may not be the policy's); left alone.
    pub strays: Vec<String>,
    /// Nothing was written.
    pub dry_run: bool,
}

impl Handover {
    /// The partitions whose offset is (or would be) written.
    pub fn writes(&self) -> impl Iterator<Item = &Move> {
        self.moves.iter().filter(|m| m.offset.is_some())
    }

    /// The groups written to (or that would be), each once.
    pub fn targets(&self) -> Vec<&str> {
        let groups: BTreeSet<&str> = self.writes().map(|m| m.to.as_str()).collect();
        groups.into_iter().collect()
    }
}

/// Hands the committed offsets of `request.chain` over to `request.to`'s groups from the other
/// layout's, after checking that no group involved has live members; with `dry_run`, only reads
/// and checks.
pub async fn handover(
    kafka: &KafkaConfig,
    request: &HandoverRequest,
) -> Result<Handover, HandoverError> {
    let (kafka, request) = (kafka.clone(), request.clone());
    unblock(move || Ok(run(&kafka, &request))).await?
}

/// [`handover`] on the calling thread.
fn run(kafka: &KafkaConfig, request: &HandoverRequest) -> Result<Handover, HandoverError> {
    if request.group.trim().is_empty() {
        return Err(HandoverError::NoGroup);
    }
    let stages = plan::stages(
        &request.chain,
        &request.group,
        request.to,
        request.include_dlt,
    );
    let moving: Vec<&StagePlan> = stages.iter().filter(|s| s.left.is_none()).collect();
    let consumer = assigning_consumer(kafka)?;
    let (partitions, strays) = kafka::topics(&consumer, &request.chain)?;
    if let Some(missing) = moving.iter().find(|s| !partitions.contains_key(&s.topic)) {
        return Err(HandoverError::NoSuchTopic(missing.topic.clone()));
    }
    let involved: BTreeSet<&str> = moving
        .iter()
        .flat_map(|s| [s.from.as_str(), s.to.as_str()])
        .collect();
    let mut states = BTreeMap::new();
    for group in involved {
        states.insert(group.to_string(), kafka::describe(&consumer, group)?);
    }
    let sources = read(kafka, &moving, |s| &s.from, &partitions)?;
    let targets = read(kafka, &moving, |s| &s.to, &partitions)?;
    plan::check_groups(&stages, &states, &sources)?;
    let moves = plan::moves(&stages, &partitions, &sources, &targets, request.dry_run);
    if !request.dry_run {
        write_all(kafka, &moves, &partitions)?;
    }
    Ok(Handover {
        stages,
        groups: states.into_values().collect(),
        moves,
        strays,
        dry_run: request.dry_run,
    })
}

/// The committed offsets of each group `side` picks from a stage, on the topics of its stages.
fn read(
    kafka: &KafkaConfig,
    moving: &[&StagePlan],
    side: fn(&StagePlan) -> &String,
    partitions: &BTreeMap<String, i32>,
) -> Result<BTreeMap<String, Committed>, HandoverError> {
    let mut topics_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for stage in moving {
        topics_of.entry(side(stage)).or_default().push(&stage.topic);
    }
    let mut read = BTreeMap::new();
    for (group, topics) in topics_of {
        let committed = kafka::committed(kafka, group, &topics, partitions)?;
        read.insert(group.to_string(), committed);
    }
    Ok(read)
}

/// Writes each target group's offsets in one request, then reads them back.
fn write_all(
    kafka: &KafkaConfig,
    moves: &[Move],
    partitions: &BTreeMap<String, i32>,
) -> Result<(), HandoverError> {
    let mut by_group: BTreeMap<&str, Vec<(&str, i32, i64, &str)>> = BTreeMap::new();
    for m in moves {
        if let Some(offset) = m.offset {
            let entry = (m.topic.as_str(), m.partition, offset, m.metadata.as_str());
            by_group.entry(&m.to).or_default().push(entry);
        }
    }
    let mut written: Vec<String> = Vec::new();
    for (group, offsets) in by_group {
        kafka::write(kafka, group, &offsets).map_err(|source| HandoverError::Refused {
            group: group.to_string(),
            source: Box::new(source),
            written: written.clone(),
        })?;
        let topics: BTreeSet<&str> = offsets.iter().map(|(topic, ..)| *topic).collect();
        let topics: Vec<&str> = topics.into_iter().collect();
        let back = kafka::committed(kafka, group, &topics, partitions)?;
        for (topic, partition, expected, _) in &offsets {
            let found = back.get(&(topic.to_string(), *partition)).map(|c| c.0);
            if found != Some(*expected) {
                return Err(HandoverError::NotReadBack {
                    group: group.to_string(),
                    topic: topic.to_string(),
                    partition: *partition,
                    expected: *expected,
                    found,
                });
            }
        }
        written.push(group.to_string());
    }
    Ok(())
}
