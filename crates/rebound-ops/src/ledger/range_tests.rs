//! Range entries: their JSON, what they name, how they are built, and the histories read from
//! them. The claim rule's tables for them are in `claims_range_tests.rs`.

use super::*;
use crate::ledger::entry::test_entry as entry;
use crate::ledger::{Action, Ledger};

pub(crate) fn id(text: &str) -> DeadLetterId {
    text.parse().unwrap()
}

pub(crate) fn texts(ids: Vec<DeadLetterId>) -> Vec<String> {
    ids.iter().map(DeadLetterId::to_string).collect()
}

/// A range entry of `action` by `run` at `at` ms about `runs` of `dead_letter`'s partition.
pub(crate) fn ranges(
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

pub(crate) fn forced((offset, e): (i64, Entry)) -> (i64, Entry) {
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
