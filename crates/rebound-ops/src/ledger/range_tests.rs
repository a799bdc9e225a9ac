//! Range entries: their JSON, what they name, how they are built, and the claim rule applied to
//! them as to single entries (unit tables and a property: a ledger of range entries grants what
//! the same ledger written as single entries grants).

use proptest::prelude::*;
use rebound::EpochMillis;

use super::*;
use crate::ledger::entry::test_entry as entry;
use crate::ledger::{Action, Ledger, STALE_CLAIM};

fn id(text: &str) -> DeadLetterId {
    text.parse().unwrap()
}

fn texts(ids: Vec<DeadLetterId>) -> Vec<String> {
    ids.iter().map(DeadLetterId::to_string).collect()
}

/// A range entry of `action` by `run` at `at` ms about `runs` of `dead_letter`'s partition.
fn ranges(
    dead_letter: &str,
    runs: &[[i64; 2]],
    action: Action,
    run: &str,
    at: i64,
) -> (i64, Entry) {
    let (offset, mut e) = entry(dead_letter, action, run, at);
    e.v = 2;
    e.runs = runs.to_vec();
    (offset, e)
}

fn forced((offset, e): (i64, Entry)) -> (i64, Entry) {
    (offset, Entry { force: true, ..e })
}

#[test]
fn a_range_entry_keeps_its_json() {
    let claim = Entry {
        to: Some("email.send".into()),
        ..ranges(
            "3@17",
            &[[17, 40], [45, 45]],
            Action::Claim,
            "r1",
            1_764_320_000_000,
        )
        .1
    };
    let json = r#"{"v":2,"dead_letter":"3@17","action":"claim","run":"r1","by":"tester","at":1764320000000,"to":"email.send","runs":[[17,40],[45,45]]}"#;
    assert_eq!(serde_json::to_string(&claim).unwrap(), json);
    assert_eq!(serde_json::from_str::<Entry>(json).unwrap(), claim);
    let redriven = Entry {
        to: Some("email.send".into()),
        copies: vec!["2@40".parse().unwrap(), "0@7".parse().unwrap()],
        ..ranges("3@17", &[[17, 18]], Action::Redriven, "r1", 5).1
    };
    let json = r#"{"v":2,"dead_letter":"3@17","action":"redriven","run":"r1","by":"tester","at":5,"to":"email.send","runs":[[17,18]],"copies":["2@40","0@7"]}"#;
    assert_eq!(serde_json::to_string(&redriven).unwrap(), json);
    assert_eq!(serde_json::from_str::<Entry>(json).unwrap(), redriven);
    // Runs out of order, overlapping, touching, reversed, negative or too many: unreadable.
    for runs in [
        "[[5,9],[1,2]]",
        "[[1,5],[5,9]]",
        "[[1,5],[6,9]]",
        "[[9,5]]",
        "[[-1,5]]",
        "[[0,2000000]]",
    ] {
        let bad = json.replace("[[17,18]]", runs);
        assert!(serde_json::from_str::<Entry>(&bad).is_err(), "{runs}");
    }
}

#[test]
fn a_range_entry_names_its_runs_of_its_partition_and_source() {
    let (_, e) = ranges("3@17", &[[17, 19], [25, 25]], Action::Redriven, "r", 0);
    let e = Entry {
        copies: ["1@0", "1@1", "1@2", "1@3"]
            .map(|c| c.parse().unwrap())
            .into(),
        ..e
    };
    assert_eq!(
        texts(e.dead_letters().collect()),
        ["3@17", "3@18", "3@19", "3@25"]
    );
    assert_eq!(e.named(), 4);
    assert_eq!(e.dead_letters_text(), "3@17-19,25");
    for (text, names, copy) in [
        ("3@17", true, Some("1@0")),
        ("3@19", true, Some("1@2")),
        ("3@25", true, Some("1@3")),
        ("3@20", false, None),
        ("3@16", false, None),
        ("3@26", false, None),
        ("2@18", false, None),
        ("archive:3@18", false, None),
    ] {
        assert_eq!(e.names(id(text)), names, "{text}");
        assert_eq!(
            e.copy_of(id(text)),
            copy.map(|c| c.parse().unwrap()),
            "{text}"
        );
        let single = e.about(id(text));
        assert_eq!(
            single.as_ref().map(|s| s.dead_letter),
            names.then(|| id(text))
        );
        assert_eq!(
            single.and_then(|s| s.copy),
            copy.map(|c| c.parse().unwrap())
        );
    }
    let (_, single) = entry("archive:0@5", Action::Discarded, "r", 0);
    assert_eq!(texts(single.dead_letters().collect()), ["archive:0@5"]);
    assert_eq!(single.dead_letters_text(), "archive:0@5");
    assert!(single.names(id("archive:0@5")) && !single.names(id("0@5")));
}

#[test]
fn ranged_writes_one_entry_per_partition_and_singles_alone() {
    let (_, template) = entry("0@0", Action::Redriven, "r", 0);
    let letters = [
        "1@4",
        "0@3",
        "1@5",
        "0@1",
        "0@2",
        "2@9",
        "1@7",
        "archive:0@4",
    ]
    .into_iter()
    .enumerate()
    .map(|(i, t)| {
        (
            id(t),
            Some(Position {
                partition: 9,
                offset: i as i64,
            }),
        )
    })
    .collect();
    let entries = ranged(&template, letters);
    let shapes: Vec<(String, u32, Vec<i64>)> = entries
        .iter()
        .map(|e| {
            let copies = match e.runs.is_empty() {
                true => vec![e.copy.unwrap().offset],
                false => e.copies.iter().map(|c| c.offset).collect(),
            };
            (e.dead_letters_text(), e.v, copies)
        })
        .collect();
    assert_eq!(
        shapes,
        [
            ("0@1-3".to_string(), 2, vec![3, 4, 1]),
            ("1@4-5,7".to_string(), 2, vec![0, 2, 6]),
            ("2@9".to_string(), 1, vec![5]),
            ("archive:0@4".to_string(), 1, vec![7]),
        ]
    );
    // Claims carry no copies; a partition of scattered offsets is split at MAX_RUNS runs.
    let (_, claim) = entry("0@0", Action::Claim, "r", 0);
    let scattered = (0..MAX_RUNS as i64 + 3)
        .map(|i| (id(&format!("0@{}", i * 2)), None))
        .collect();
    let entries = ranged(&claim, scattered);
    assert_eq!(
        entries.iter().map(|e| e.runs.len()).collect::<Vec<_>>(),
        [MAX_RUNS, 3]
    );
    assert!(entries
        .iter()
        .all(|e| e.copies.is_empty() && e.copy.is_none()));
    assert_eq!(entries[1].dead_letter, id(&format!("0@{}", MAX_RUNS * 2)));
}

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

#[test]
fn histories_read_range_entries_with_each_copy() {
    let redriven = Entry {
        to: Some("email.send".into()),
        copies: vec!["2@40".parse().unwrap(), "2@41".parse().unwrap()],
        ..ranges("0@1", &[[1, 2]], Action::Redriven, "a", 1).1
    };
    let ledger = Ledger {
        entries: vec![
            ranges("0@1", &[[1, 3]], Action::Claim, "a", 0),
            (1, redriven),
            entry("0@3", Action::Released, "a", 2),
            ranges("0@5", &[[5, 6]], Action::Discarded, "b", 3),
        ],
    };
    let h = ledger.histories();
    assert_eq!(h[&id("0@2")].status(), crate::dead_letter::Status::Redriven);
    assert_eq!(h[&id("0@2")].redrives, 1);
    let last = h[&id("0@2")].last.as_ref().unwrap();
    assert_eq!(
        (last.dead_letter, last.copy),
        (id("0@2"), Some("2@41".parse().unwrap()))
    );
    assert!(last.runs.is_empty() && last.copies.is_empty());
    assert_eq!(h[&id("0@3")].status(), crate::dead_letter::Status::Pending);
    assert_eq!(
        h[&id("0@3")].last.as_ref().unwrap().action,
        Action::Released
    );
    assert_eq!(
        h[&id("0@6")].status(),
        crate::dead_letter::Status::Discarded
    );
    assert_eq!(h.len(), 5);
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
