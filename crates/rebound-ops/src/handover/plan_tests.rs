//! The rules of a hand-over as tables: which group gives and takes each stage, what is written
//! on each partition, and which group states refuse it.

use std::collections::BTreeMap;
use std::time::Duration;

use rebound::naming::{TopicChain, TopicRole};
use rebound::{Backoff, RetryPolicy};

use super::error::HandoverError;
use super::plan::*;

fn scenario() -> TopicChain {
    let policy = RetryPolicy::new(5)
        .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
        .dlt_suffix(".dlt");
    TopicChain::new("t", &policy)
}

fn rows(stages: &[StagePlan]) -> Vec<(&str, &str, &str, Option<Left>)> {
    stages
        .iter()
        .map(|s| (s.topic.as_str(), s.from.as_str(), s.to.as_str(), s.left))
        .collect()
}

#[test]
fn spring_stages_to_one_group() {
    let stages = stages(&scenario(), "G", GroupLayout::Single, false);
    assert_eq!(
        rows(&stages),
        [
            ("t", "G", "G", Some(Left::SameGroup)),
            ("t-retry-1000", "G-retry-1000", "G", None),
            ("t-retry-2000", "G-retry-2000", "G", None),
            ("t-retry-4000", "G-retry-4000", "G", None),
            ("t-retry-8000", "G-retry-8000", "G", None),
            ("t.dlt", "G.dlt", "G", Some(Left::DltNotRead)),
        ]
    );
    assert_eq!(stages[1].role, TopicRole::Retry);
    let with_dlt = super::plan::stages(&scenario(), "G", GroupLayout::Single, true);
    assert_eq!(rows(&with_dlt)[5], ("t.dlt", "G.dlt", "G", None));
}

#[test]
fn one_group_to_spring_stages() {
    let stages = stages(&scenario(), "G", GroupLayout::SpringStages, true);
    assert_eq!(
        rows(&stages),
        [
            ("t", "G", "G", Some(Left::SameGroup)),
            ("t-retry-1000", "G", "G-retry-1000", None),
            ("t-retry-2000", "G", "G-retry-2000", None),
            ("t-retry-4000", "G", "G-retry-4000", None),
            ("t-retry-8000", "G", "G-retry-8000", None),
            ("t.dlt", "G", "G.dlt", None),
        ]
    );
}

fn committed(entries: &[(&str, &str, i32, i64, &str)]) -> BTreeMap<String, Committed> {
    let mut groups: BTreeMap<String, Committed> = BTreeMap::new();
    for (group, topic, partition, offset, metadata) in entries {
        groups.entry(group.to_string()).or_default().insert(
            (topic.to_string(), *partition),
            (*offset, metadata.to_string()),
        );
    }
    groups
}

#[test]
fn each_partition_takes_its_source_offset_or_nothing() {
    let stages = stages(&scenario(), "G", GroupLayout::Single, false);
    let partitions: BTreeMap<String, i32> = scenario()
        .topic_names()
        .into_iter()
        .map(|t| (t.to_string(), 2))
        .collect();
    let sources = committed(&[
        ("G-retry-1000", "t-retry-1000", 0, 17, ""),
        ("G-retry-1000", "t-retry-1000", 1, 4, "rebound-done:1:4:01"),
        ("G-retry-2000", "t-retry-2000", 1, 9, ""),
        ("G.dlt", "t.dlt", 0, 3, ""),
    ]);
    let targets = committed(&[
        ("G", "t-retry-1000", 0, 5, ""),
        ("G", "t-retry-8000", 1, 2, ""),
    ]);
    type Row = (String, i32, Option<i64>, Option<i64>, Outcome);
    let table = |dry_run| -> Vec<Row> {
        moves(&stages, &partitions, &sources, &targets, dry_run)
            .into_iter()
            .map(|m| (m.topic, m.partition, m.offset, m.target_before, m.outcome))
            .collect()
    };
    use Outcome::*;
    let row = |t: &str, p, o, b, outcome| (t.to_string(), p, o, b, outcome);
    assert_eq!(
        table(true),
        [
            row("t-retry-1000", 0, Some(17), Some(5), WouldWrite),
            row("t-retry-1000", 1, Some(4), None, WouldWrite),
            row("t-retry-2000", 0, None, None, NoSourceOffset),
            row("t-retry-2000", 1, Some(9), None, WouldWrite),
            row("t-retry-4000", 0, None, None, NoSourceOffset),
            row("t-retry-4000", 1, None, None, NoSourceOffset),
            row("t-retry-8000", 0, None, None, NoSourceOffset),
            row("t-retry-8000", 1, None, Some(2), NoSourceOffset),
        ]
    );
    assert_eq!(table(false)[0].4, Written);
    let all = moves(&stages, &partitions, &sources, &targets, false);
    assert_eq!(all[1].metadata, "rebound-done:1:4:01");
    assert_eq!(
        (all[1].from.as_str(), all[1].to.as_str()),
        ("G-retry-1000", "G")
    );
}

fn state(group: &str, state: &str, members: usize) -> (String, GroupState) {
    let described = GroupState {
        group: group.into(),
        state: state.into(),
        members,
    };
    (group.to_string(), described)
}

#[test]
fn live_or_invisible_groups_refuse() {
    let single = stages(&scenario(), "G", GroupLayout::Single, false);
    let spring = stages(&scenario(), "G", GroupLayout::SpringStages, false);
    let offsets = committed(&[("G-retry-2000", "t-retry-2000", 0, 1, "")]);
    let none = BTreeMap::new();
    let check = |stages: &[StagePlan], states: &[(String, GroupState)], sources| {
        let states = states.iter().cloned().collect();
        match check_groups(stages, &states, sources) {
            Ok(()) => "ok".to_string(),
            Err(HandoverError::SourceActive { group, members, .. }) => {
                format!("source {group} {members}")
            }
            Err(HandoverError::TargetActive { group, members, .. }) => {
                format!("target {group} {members}")
            }
            Err(HandoverError::Undescribable(group)) => format!("invisible {group}"),
            Err(other) => panic!("{other}"),
        }
    };
    type Case<'a> = (
        &'a [StagePlan],
        Vec<(String, GroupState)>,
        &'a BTreeMap<String, Committed>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            &single,
            vec![state("G-retry-1000", "Empty", 0)],
            &none,
            "ok",
        ),
        (&single, vec![], &none, "ok"),
        (
            &single,
            vec![state("G-retry-1000", "Stable", 2)],
            &none,
            "source G-retry-1000 2",
        ),
        (&single, vec![state("G", "Stable", 1)], &none, "target G 1"),
        // The DLT is not handed over: Spring's DLT container may go on.
        (&single, vec![state("G.dlt", "Stable", 1)], &none, "ok"),
        (&single, vec![state("G-retry-2000", "Dead", 0)], &none, "ok"),
        (
            &single,
            vec![state("G-retry-2000", "Dead", 0)],
            &offsets,
            "invisible G-retry-2000",
        ),
        (
            &spring,
            vec![state("G", "PreparingRebalance", 3)],
            &none,
            "source G 3",
        ),
        (
            &spring,
            vec![state("G-retry-8000", "Stable", 1)],
            &none,
            "target G-retry-8000 1",
        ),
        (&spring, vec![state("G-retry-8000", "Dead", 0)], &none, "ok"),
    ];
    for (stages, states, sources, expected) in cases {
        assert_eq!(check(stages, &states, sources), expected, "{states:?}");
    }
}
