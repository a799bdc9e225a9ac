//! The pure part of a hand-over: which group gives and which takes each stage's offsets, what is
//! written on each partition, and which groups refuse it. No I/O; the table tests are its rules.

use std::collections::BTreeMap;

use rebound::naming::{Stage, TopicChain, TopicRole};

use super::error::HandoverError;

/// How a chain's stages are read: the shape the offsets are handed over to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupLayout {
    /// Rebound's: the main topic and every retry topic in the one group (the DLT too when the
    /// consumer has a `dlt_handler`).
    Single,
    /// Spring's: each stage in the main group plus the stage's topic suffix
    /// ([`rebound::naming::stage_group`]).
    SpringStages,
}

/// Why a stage moves no offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Left {
    /// Both layouts read it in the same group (the main topic).
    SameGroup,
    /// The DLT, and Rebound's group does not read it (no `--include-dlt`).
    DltNotRead,
}

/// One stage of the chain: its topic and the group that gives and takes its offsets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StagePlan {
    /// The stage's topic.
    pub topic: String,
    /// Its place in the chain.
    pub role: TopicRole,
    /// The group whose committed offsets are read.
    pub from: String,
    /// The group they are written to.
    pub to: String,
    /// Why nothing moves, if it does not.
    pub left: Option<Left>,
}

/// What happens to one partition's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A dry run: it would be written.
    WouldWrite,
    /// Written, and read back.
    Written,
    /// The source group has no committed offset here: nothing is written, the target keeps what
    /// it has.
    NoSourceOffset,
}

/// One partition of a stage that moves (one line of `rebound groups handover --json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Move {
    /// The stage's place in the chain.
    pub role: TopicRole,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The group the offset is read from.
    pub from: String,
    /// The group it is written to.
    pub to: String,
    /// The source group's committed offset (the next record it would read).
    pub offset: Option<i64>,
    /// The commit's metadata, copied with the offset.
    pub metadata: String,
    /// The target group's committed offset before the hand-over.
    pub target_before: Option<i64>,
    /// What was (or would be) done.
    pub outcome: Outcome,
}

/// A group as Kafka's DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupState {
    /// The group.
    pub group: String,
    /// Its state (`Empty`, `Stable`, `Dead`, …; empty when Kafka does not know the group).
    pub state: String,
    /// Its live members.
    pub members: usize,
}

/// A committed offset and its metadata.
pub(crate) type Committed = BTreeMap<(String, i32), (i64, String)>;

/// Every stage of `chain` with the group that gives and the group that takes its offsets, when
/// they go `to` a layout from the other, for the listener group `group`.
pub(crate) fn stages(
    chain: &TopicChain,
    group: &str,
    to: GroupLayout,
    include_dlt: bool,
) -> Vec<StagePlan> {
    chain
        .stage_groups(group)
        .into_iter()
        .map(|stage| {
            let (role, spring) = match stage.stage {
                Stage::Main => (TopicRole::Main, stage.group),
                Stage::Retry(_) => (TopicRole::Retry, stage.group),
                Stage::Dlt => (TopicRole::Dlt, stage.group),
            };
            let (from, to) = match to {
                GroupLayout::Single => (spring, group.to_string()),
                GroupLayout::SpringStages => (group.to_string(), spring),
            };
            let left = if from == to {
                Some(Left::SameGroup)
            } else if role == TopicRole::Dlt && !include_dlt {
                Some(Left::DltNotRead)
            } else {
                None
            };
            StagePlan {
                topic: stage.topic.to_string(),
                role,
                from,
                to,
                left,
            }
        })
        .collect()
}

/// The partitions of the stages that move: the source's offset where it has one, which is
/// written (or would be, in a dry run); none where it has none, and nothing is written there.
pub(crate) fn moves(
    stages: &[StagePlan],
    partitions: &BTreeMap<String, i32>,
    sources: &BTreeMap<String, Committed>,
    targets: &BTreeMap<String, Committed>,
    dry_run: bool,
) -> Vec<Move> {
    let mut moves = Vec::new();
    for stage in stages.iter().filter(|s| s.left.is_none()) {
        for partition in 0..partitions.get(&stage.topic).copied().unwrap_or(0) {
            let key = (stage.topic.clone(), partition);
            let source = sources.get(&stage.from).and_then(|c| c.get(&key));
            let target = targets.get(&stage.to).and_then(|c| c.get(&key));
            let outcome = match (source, dry_run) {
                (None, _) => Outcome::NoSourceOffset,
                (Some(_), true) => Outcome::WouldWrite,
                (Some(_), false) => Outcome::Written,
            };
            moves.push(Move {
                role: stage.role,
                topic: stage.topic.clone(),
                partition,
                from: stage.from.clone(),
                to: stage.to.clone(),
                offset: source.map(|(offset, _)| *offset),
                metadata: source.map(|(_, m)| m.clone()).unwrap_or_default(),
                target_before: target.map(|(offset, _)| *offset),
                outcome,
            });
        }
    }
    moves
}

/// Refuses when a group that gives offsets has live members (its offsets still move) or cannot
/// be described while it holds offsets, and when a group that takes them has live members.
pub(crate) fn check_groups(
    stages: &[StagePlan],
    states: &BTreeMap<String, GroupState>,
    sources: &BTreeMap<String, Committed>,
) -> Result<(), HandoverError> {
    let moving: Vec<&StagePlan> = stages.iter().filter(|s| s.left.is_none()).collect();
    for stage in &moving {
        let Some(state) = states.get(&stage.from) else {
            continue;
        };
        if state.members > 0 {
            return Err(HandoverError::SourceActive {
                group: state.group.clone(),
                members: state.members,
                state: state.state.clone(),
            });
        }
        let holds_offsets = sources
            .get(&stage.from)
            .is_some_and(|c| c.keys().any(|(topic, _)| *topic == stage.topic));
        if state.state == "Dead" && holds_offsets {
            return Err(HandoverError::Undescribable(state.group.clone()));
        }
    }
    for stage in &moving {
        if let Some(state) = states.get(&stage.to).filter(|s| s.members > 0) {
            return Err(HandoverError::TargetActive {
                group: state.group.clone(),
                members: state.members,
                state: state.state.clone(),
            });
        }
    }
    Ok(())
}
