//! The claim rule on range entries: unit tables (runs racing on overlapping ranges, stale and
//! forced range claims, releases of either form) and a property: a ledger of range entries grants
//! what the same ledger written as single entries grants.

use proptest::prelude::*;
use rebound::EpochMillis;

use crate::id::{DeadLetterId, Position};
use crate::ledger::entry::test_entry as entry;
use crate::ledger::range::ranged;
use crate::ledger::range::tests::{forced, ranges, texts};
use crate::ledger::{Action, Entry, Ledger, STALE_CLAIM};

#[test]
fn racing_runs_on_overlapping_ranges_split_them_by_ledger_order() {
    let ledger = Ledger {
        entries: vec![
            ranges("0@1", &[[1, 10]], Action::Claim, "a", 0),
            ranges("0@5", &[[5, 15]], Action::Claim, "b", 1),
            entry("0@20", Action::Claim, "b", 1),
            ranges("0@18", &[[18, 22]], Action::Claim, "a", 2),
        ],
    };
    let now = EpochMillis::new(10);
    let a = texts(ledger.granted("a", now));
    let b = texts(ledger.granted("b", now));
    let expected_a: Vec<String> = (1..=10)
        .chain([18, 19, 21, 22])
        .map(|o| format!("0@{o}"))
        .collect();
    let expected_b: Vec<String> = (11..=15).chain([20]).map(|o| format!("0@{o}")).collect();
    assert_eq!(a, expected_a);
    assert_eq!(b, expected_b);
}

/// What is checked, the ledger, the run, when, and the dead letters granted to it.
type Case = (
    &'static str,
    Vec<(i64, Entry)>,
    &'static str,
    EpochMillis,
    Vec<&'static str>,
);

#[test]
fn the_claim_rule_reads_both_forms_alike() {
    let stale = EpochMillis::new(STALE_CLAIM.as_millis() as i64 + 1);
    let now = EpochMillis::new(10);
    let cases: Vec<Case> = vec![
        (
            "a stale range claim gives way; a fresh one does not",
            vec![
                ranges("0@1", &[[1, 5]], Action::Claim, "crashed", 0),
                ranges("0@3", &[[3, 7]], Action::Claim, "b", 2),
            ],
            "b",
            stale,
            vec!["0@3", "0@4", "0@5", "0@6", "0@7"],
        ),
        (
            "a fresh range claim blocks its offsets only",
            vec![
                ranges("0@1", &[[1, 5]], Action::Claim, "crashed", 0),
                ranges("0@3", &[[3, 7]], Action::Claim, "b", 2),
            ],
            "b",
            now,
            vec!["0@6", "0@7"],
        ),
        (
            "a run that died between copies and entries: the rest is another's once stale",
            vec![
                ranges("0@1", &[[1, 4]], Action::Claim, "crashed", 0),
                entry("0@1", Action::Redriven, "crashed", 1),
                entry("0@2", Action::Redriven, "crashed", 1),
                ranges("0@1", &[[1, 4]], Action::Claim, "b", 2),
            ],
            "b",
            stale,
            vec!["0@3", "0@4"],
        ),
        (
            "... and not before",
            vec![
                ranges("0@1", &[[1, 4]], Action::Claim, "crashed", 0),
                entry("0@1", Action::Redriven, "crashed", 1),
                ranges("0@1", &[[1, 4]], Action::Claim, "b", 2),
            ],
            "b",
            now,
            vec![],
        ),
        (
            "a forced range claim after a redriven single",
            vec![
                entry("0@3", Action::Claim, "a", 0),
                entry("0@3", Action::Redriven, "a", 1),
                forced(ranges("0@1", &[[1, 4]], Action::Claim, "c", 2)),
            ],
            "c",
            now,
            vec!["0@1", "0@2", "0@3", "0@4"],
        ),
        (
            "a range claim not forced skips the redriven single",
            vec![
                entry("0@3", Action::Claim, "a", 0),
                entry("0@3", Action::Redriven, "a", 1),
                ranges("0@1", &[[1, 4]], Action::Claim, "b", 2),
            ],
            "b",
            now,
            vec!["0@1", "0@2", "0@4"],
        ),
        (
            "a released range, then a single claim",
            vec![
                ranges("0@1", &[[1, 5]], Action::Claim, "a", 0),
                ranges("0@1", &[[1, 5]], Action::Released, "a", 1),
                entry("0@3", Action::Claim, "b", 2),
            ],
            "b",
            now,
            vec!["0@3"],
        ),
        (
            "a single release frees one offset of a range claim",
            vec![
                ranges("0@1", &[[1, 5]], Action::Claim, "a", 0),
                entry("0@2", Action::Released, "a", 1),
                ranges("0@1", &[[1, 3]], Action::Claim, "b", 2),
            ],
            "b",
            now,
            vec!["0@2"],
        ),
        (
            "a ranged redriven answers the range claim; another run's release does not",
            vec![
                ranges("0@1", &[[1, 3]], Action::Claim, "a", 0),
                ranges("0@1", &[[1, 2]], Action::Redriven, "a", 1),
                ranges("0@1", &[[1, 3]], Action::Released, "b", 2),
                forced(ranges("0@1", &[[1, 3]], Action::Claim, "b", 3)),
            ],
            "b",
            now,
            vec!["0@1", "0@2"],
        ),
        (
            "ranges of another partition or of the archive are other dead letters",
            vec![
                ranges("1@1", &[[1, 3]], Action::Claim, "a", 0),
                ranges("archive:0@1", &[[1, 3]], Action::Claim, "a", 0),
                ranges("0@2", &[[2, 3]], Action::Claim, "b", 1),
            ],
            "b",
            now,
            vec!["0@2", "0@3"],
        ),
    ];
    for (what, entries, run, at, expected) in cases {
        assert_eq!(
            texts(Ledger { entries }.granted(run, at)),
            expected,
            "{what}"
        );
    }
}

/// A ledger of entries of both forms over 2 partitions × 24 offsets, by 3 runs.
fn any_ledger() -> impl Strategy<Value = Vec<(i64, Entry)>> {
    let action = prop_oneof![
        4 => Just(Action::Claim),
        2 => Just(Action::Redriven),
        2 => Just(Action::Released),
        1 => Just(Action::Discarded),
    ];
    let one = (
        action,
        0..3usize,
        0..2i32,
        prop::collection::btree_set(0..24i64, 1..8),
        0..(2 * STALE_CLAIM.as_millis() as i64),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(action, run, partition, offsets, at, force)| {
            let offsets: Vec<i64> = offsets.into_iter().collect();
            let (_, template) = entry(&format!("{partition}@0"), action, ["a", "b", "c"][run], at);
            let template = Entry { force, ..template };
            let letters = offsets
                .iter()
                .map(|o| {
                    (
                        DeadLetterId::new(
                            crate::Source::Dlt,
                            Position {
                                partition,
                                offset: *o,
                            },
                        ),
                        None,
                    )
                })
                .collect();
            ranged(&template, letters)
        });
    prop::collection::vec(one, 0..24).prop_map(|entries| {
        let entries = entries.into_iter().flatten();
        entries.enumerate().map(|(at, e)| (at as i64, e)).collect()
    })
}

proptest! {
    #[test]
    fn range_entries_grant_what_their_single_entries_grant(
        entries in any_ledger(),
        now in 0..(3 * STALE_CLAIM.as_millis() as i64),
    ) {
        let expanded = Ledger {
            entries: entries
                .iter()
                .flat_map(|(offset, e)| e.singles().map(move |(_, single)| (*offset, single)))
                .collect(),
        };
        prop_assert!(expanded.entries.iter().all(|(_, e)| e.runs.is_empty()));
        let ranged = Ledger { entries };
        for run in ["a", "b", "c"] {
            let now = EpochMillis::new(now);
            prop_assert_eq!(ranged.granted(run, now), expanded.granted(run, now));
        }
        prop_assert_eq!(ranged.histories(), expanded.histories());
    }
}
