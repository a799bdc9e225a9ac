//! Which run wins a dead letter when several claim it at once. Claims are arbitrated by reading
//! the ledger back, not by a lock: the ledger's single partition puts every claim in one order,
//! and every run applies the same rule to that order, so they all agree on one winner.

use std::collections::HashMap;
use std::time::Duration;

use rebound::EpochMillis;

use crate::id::DeadLetterId;

use super::{Action, Ledger};

/// A claim older than this without an answer is taken as abandoned (its run crashed).
pub const STALE_CLAIM: Duration = Duration::from_secs(600);

impl Ledger {
    /// The dead letters whose claim by `run` is granted: no claim of another run precedes it
    /// unanswered (unless older than [`STALE_CLAIM`]), and, for a claim that is not forced, no
    /// `redriven` or `discarded` entry precedes it. `now` ages the claims.
    pub fn granted(&self, run: &str, now: EpochMillis) -> Vec<DeadLetterId> {
        // The rule is the same for a single entry and for each dead letter a range entry names,
        // in ledger order; a claim that holds a dead letter is kept as the entry's index.
        #[derive(Default)]
        struct State {
            active: Option<usize>,
            done: bool,
        }
        let mut states: HashMap<DeadLetterId, State> = HashMap::new();
        let mut granted = Vec::new();
        for (index, (_, entry)) in self.entries.iter().enumerate() {
            for dead_letter in entry.dead_letters() {
                let state = states.entry(dead_letter).or_default();
                let held_by = |state: &State| state.active.map(|i| &self.entries[i].1);
                let active_elsewhere = held_by(state).is_some_and(|claim| {
                    claim.run != entry.run
                        && now.since(claim.at).is_none_or(|age| age < STALE_CLAIM)
                });
                let held_by_this_run = held_by(state).is_some_and(|claim| claim.run == entry.run);
                match entry.action {
                    Action::Claim => {
                        let blocked = active_elsewhere || (state.done && !entry.force);
                        if !blocked {
                            state.active = Some(index);
                            if entry.run == run {
                                granted.push(dead_letter);
                            }
                        }
                    }
                    Action::Redriven | Action::Discarded => {
                        state.done = true;
                        if held_by_this_run {
                            state.active = None;
                        }
                    }
                    Action::Released => {
                        if held_by_this_run {
                            state.active = None;
                        }
                    }
                }
            }
        }
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::entry::test_entry as entry;
    use crate::ledger::Entry;

    fn texts(ids: Vec<DeadLetterId>) -> Vec<String> {
        ids.iter().map(DeadLetterId::to_string).collect()
    }

    #[test]
    fn first_claim_wins() {
        let ledger = Ledger {
            entries: vec![
                entry("0@1", Action::Claim, "a", 0),
                entry("0@1", Action::Claim, "b", 1),
                entry("0@2", Action::Claim, "b", 1),
                entry("0@2", Action::Claim, "a", 2),
            ],
        };
        assert_eq!(texts(ledger.granted("a", EpochMillis::new(10))), ["0@1"]);
        assert_eq!(texts(ledger.granted("b", EpochMillis::new(10))), ["0@2"]);
    }

    #[test]
    fn a_claim_after_the_redrive_is_refused_without_force() {
        let mut entries = vec![
            entry("0@1", Action::Claim, "a", 0),
            entry("0@1", Action::Redriven, "a", 1),
            entry("0@1", Action::Claim, "b", 2),
        ];
        assert!(Ledger {
            entries: entries.clone()
        }
        .granted("b", EpochMillis::new(10))
        .is_empty());
        entries.push((
            0,
            Entry {
                force: true,
                ..entry("0@1", Action::Claim, "c", 3).1
            },
        ));
        assert_eq!(
            texts(Ledger { entries }.granted("c", EpochMillis::new(10))),
            ["0@1"]
        );
    }

    #[test]
    fn released_and_stale_claims_free_the_dead_letter() {
        let ledger = Ledger {
            entries: vec![
                entry("0@1", Action::Claim, "a", 0),
                entry("0@1", Action::Released, "a", 1),
                entry("0@1", Action::Claim, "b", 2),
                entry("0@2", Action::Claim, "crashed", 0),
                entry("0@2", Action::Claim, "b", 2),
            ],
        };
        let later = EpochMillis::new(STALE_CLAIM.as_millis() as i64 + 1);
        assert_eq!(texts(ledger.granted("b", later)), ["0@1", "0@2"]);
        assert_eq!(texts(ledger.granted("b", EpochMillis::new(10))), ["0@1"]);
    }
}

#[cfg(test)]
#[path = "claims_range_tests.rs"]
mod range_tests;
