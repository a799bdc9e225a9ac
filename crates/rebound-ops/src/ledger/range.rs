//! Range entries (`v: 2`): one entry naming runs of offsets of one partition, and what every
//! reader asks of an entry whichever its form: which dead letters it names, whether it names one,
//! that one's copy, and the entry as it is about that one alone.

use serde::{Deserialize, Deserializer};

use crate::id::{DeadLetterId, Position};

use super::entry::{Entry, MAX_NAMED};

/// Runs one range entry holds at most (its JSON stays a few kilobytes).
pub(crate) const MAX_RUNS: usize = 512;

/// Reads `runs`, refusing runs out of order, overlapping, touching, negative or naming more than
/// [`MAX_NAMED`] dead letters: each dead letter is named once, in ascending order.
pub(super) fn runs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<[i64; 2]>, D::Error> {
    let runs = Vec::<[i64; 2]>::deserialize(deserializer)?;
    let mut named: u64 = 0;
    let mut after: Option<i64> = None;
    for [first, last] in &runs {
        let ordered = *first >= 0
            && first <= last
            && after.is_none_or(|previous| previous.checked_add(1).is_some_and(|n| *first > n));
        if !ordered {
            return Err(serde::de::Error::custom(
                "runs must be ascending, apart and not negative",
            ));
        }
        named = named.saturating_add((last - first) as u64 + 1);
        if named > MAX_NAMED {
            return Err(serde::de::Error::custom(
                "a range entry names too many dead letters",
            ));
        }
        after = Some(*last);
    }
    Ok(runs)
}

impl Entry {
    /// Every dead letter this entry is about, in order: its `dead_letter`, or for a range entry
    /// each offset of its runs.
    pub fn dead_letters(&self) -> impl Iterator<Item = DeadLetterId> + '_ {
        let single = self.runs.is_empty().then_some(self.dead_letter);
        let of = self.dead_letter;
        single
            .into_iter()
            .chain(self.runs.iter().flat_map(move |[first, last]| {
                (*first..=*last).map(move |offset| {
                    DeadLetterId::new(
                        of.source,
                        Position {
                            partition: of.position.partition,
                            offset,
                        },
                    )
                })
            }))
    }

    /// How many dead letters this entry is about.
    pub fn named(&self) -> u64 {
        match self.runs.is_empty() {
            true => 1,
            false => self.runs.iter().map(|[f, l]| (l - f) as u64 + 1).sum(),
        }
    }

    /// Whether this entry is about `id`.
    pub fn names(&self, id: DeadLetterId) -> bool {
        self.index_of(id).is_some()
    }

    /// Where `id` is among the dead letters this entry names.
    fn index_of(&self, id: DeadLetterId) -> Option<usize> {
        if self.runs.is_empty() {
            return (id == self.dead_letter).then_some(0);
        }
        let (of, offset) = (self.dead_letter, id.position.offset);
        if id.source != of.source || id.position.partition != of.position.partition {
            return None;
        }
        // Runs are ascending: the one that may hold `offset` is the last starting at or before it.
        let run = self.runs.partition_point(|[first, _]| *first <= offset);
        let [first, last] = *self.runs.get(run.checked_sub(1)?)?;
        if offset > last {
            return None;
        }
        let before: u64 = self.runs[..run - 1]
            .iter()
            .map(|[f, l]| (l - f) as u64 + 1)
            .sum();
        Some((before + (offset - first) as u64) as usize)
    }

    /// The copy of `id` this entry records (`redriven`, `discarded`), in either form.
    pub fn copy_of(&self, id: DeadLetterId) -> Option<Position> {
        let index = self.index_of(id)?;
        match self.runs.is_empty() {
            true => self.copy,
            false => self.copies.get(index).copied(),
        }
    }

    /// This entry as a single entry about `id` alone (its copy in `copy`), or `None` when it is
    /// not about `id`: what a reader that follows one dead letter keeps.
    pub fn about(&self, id: DeadLetterId) -> Option<Entry> {
        self.index_of(id)?;
        Some(self.single(id, self.copy_of(id)))
    }

    /// Each dead letter this entry is about, with the entry as a single entry about it alone
    /// (what [`about`](Self::about) gives), in order.
    pub fn singles(&self) -> impl Iterator<Item = (DeadLetterId, Entry)> + '_ {
        self.dead_letters().enumerate().map(move |(index, id)| {
            let copy = match self.runs.is_empty() {
                true => self.copy,
                false => self.copies.get(index).copied(),
            };
            (id, self.single(id, copy))
        })
    }

    fn single(&self, id: DeadLetterId, copy: Option<Position>) -> Entry {
        Entry {
            v: 1,
            dead_letter: id,
            action: self.action,
            run: self.run.clone(),
            by: self.by.clone(),
            at: self.at,
            to: self.to.clone(),
            copy,
            reason: self.reason.clone(),
            force: self.force,
            runs: Vec::new(),
            copies: Vec::new(),
        }
    }

    /// The dead letters it names as text: `3@17` for a single entry, `3@17-40,45` for a range
    /// entry (`archive:` before an archive's).
    pub fn dead_letters_text(&self) -> String {
        if self.runs.is_empty() {
            return self.dead_letter.to_string();
        }
        let first = DeadLetterId::new(
            self.dead_letter.source,
            Position {
                partition: self.dead_letter.position.partition,
                offset: self.runs[0][0],
            },
        );
        let mut text = first.to_string();
        for (i, [f, l]) in self.runs.iter().enumerate() {
            if i > 0 {
                text.push_str(&format!(",{f}"));
            }
            if l > f {
                text.push_str(&format!("-{l}"));
            }
        }
        text
    }
}

/// Entries like `template` about `letters` (each with its copy, for `redriven`): a range entry for
/// each partition's dead letters (in offset order, at most [`MAX_RUNS`] runs each), a single entry
/// where a partition has one. `letters` names each dead letter once.
pub(crate) fn ranged(
    template: &Entry,
    mut letters: Vec<(DeadLetterId, Option<Position>)>,
) -> Vec<Entry> {
    letters.sort_by_key(|(id, _)| *id);
    let same_partition = |a: &DeadLetterId, b: &DeadLetterId| {
        a.source == b.source && a.position.partition == b.position.partition
    };
    let mut entries = Vec::new();
    let mut rest = letters.as_slice();
    while let Some((first, _)) = rest.first() {
        // This entry's dead letters: the partition's, up to MAX_RUNS runs or MAX_NAMED letters.
        let mut runs: Vec<[i64; 2]> = Vec::new();
        let mut taken = 0;
        for (id, _) in rest {
            let offset = id.position.offset;
            if !same_partition(first, id) || taken as u64 >= MAX_NAMED {
                break;
            }
            let extends = runs
                .last()
                .is_some_and(|run| run[1].checked_add(1) == Some(offset));
            if extends {
                if let Some(run) = runs.last_mut() {
                    run[1] = offset;
                }
            } else if runs.len() == MAX_RUNS {
                break;
            } else {
                runs.push([offset, offset]);
            }
            taken += 1;
        }
        let (these, after) = rest.split_at(taken);
        rest = after;
        let copies: Vec<Position> = these.iter().filter_map(|(_, copy)| *copy).collect();
        let entry = match these {
            [(id, copy)] => Entry {
                v: 1,
                dead_letter: *id,
                copy: *copy,
                runs: Vec::new(),
                copies: Vec::new(),
                ..template.clone()
            },
            _ => Entry {
                v: 2,
                dead_letter: *first,
                copy: None,
                // A copy for every dead letter, or none at all.
                copies: if copies.len() == these.len() {
                    copies
                } else {
                    Vec::new()
                },
                runs,
                ..template.clone()
            },
        };
        entries.push(entry);
    }
    entries
}

#[cfg(test)]
#[path = "range_tests.rs"]
pub(super) mod tests;
