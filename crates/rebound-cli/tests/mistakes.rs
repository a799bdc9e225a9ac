//! A person's mistakes get one sentence to act on, never an empty answer or a panic: a DLT name
//! with a typo, a `--since` no clock can reach.

mod support;

use support::{rebound, rebound_refused};

use testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dlt_that_does_not_exist_is_refused_naming_those_that_do() {
    let dlt = unique("typo") + ".dlt";
    create_topic(&dlt, 1).await;
    assert_eq!(
        rebound(&["dlt", "list", &dlt]).lines().count(),
        1,
        "a header alone"
    );

    // One character off: the DLT that exists is the closest name.
    let typo = dlt.replace(".dlt", ".dtl");
    let commands: [&[&str]; 7] = [
        &["dlt", "list", &typo],
        &["dlt", "list", &typo, "--archived"],
        &["dlt", "show", &typo, "0@0"],
        &["dlt", "stats", &typo],
        &["dlt", "archive", &typo],
        &["dlt", "redrive", &typo, "--dry-run"],
        &["dlt", "discard", &typo, "--reason", "typo", "--dry-run"],
    ];
    for args in commands {
        let (code, stderr) = rebound_refused(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "topic {typo} does not exist; the dead-letter topics on this cluster are {dlt}"
            )),
            "{args:?} names the DLT that exists first: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    }
    // `tail` would otherwise wait for dead letters that can never come.
    let (code, stderr) = rebound_refused(&["dlt", "tail", &typo]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&dlt), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_age_before_1970_is_refused_not_a_panic() {
    let dlt = unique("ages") + ".dlt";
    create_topic(&dlt, 1).await;
    for flag in ["--since", "--until"] {
        let (code, stderr) = rebound_refused(&["dlt", "list", &dlt, flag, "18446744073709551615s"]);
        assert_eq!(code, Some(1), "not a panic (101): {stderr}");
        assert!(
            stderr.contains(&format!(
                "{flag} `18446744073709551615s` reaches back before 1970, earlier than any record"
            )),
            "{stderr}"
        );
        let (code, stderr) = rebound_refused(&["dlt", "stats", &dlt, flag, "yesterday"]);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "{flag} `yesterday` is neither a time (2026-11-28T09:00:00Z) nor an age (2h)"
            )),
            "{stderr}"
        );
    }
    // The forms that are meant still work.
    for since in ["2h", "2026-11-28T09:00:00Z", "20000d"] {
        assert_eq!(
            rebound(&["dlt", "list", &dlt, "--since", since])
                .lines()
                .count(),
            1
        );
    }
}
