//! Which dead letters an operation applies to. Every operation (list, redrive, discard, stats)
//! selects the same way, so what `list` shows is what `redrive` sends with the same flags.

use regex::Regex;

use rebound::EpochMillis;

use crate::dead_letter::{DeadLetter, Status};
use crate::id::Position;
use crate::listed::Listed;
use crate::stats::fingerprint;

/// Which dead letters an operation applies to. Every condition given must hold; the default
/// selects everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Exact record key.
    pub key: Option<String>,
    /// Matched against the failure message.
    pub error: Option<Regex>,
    /// Died at or after.
    pub since: Option<EpochMillis>,
    /// Died before.
    pub until: Option<EpochMillis>,
    /// In this handling state.
    pub status: Option<Status>,
    /// Only these positions.
    pub positions: Vec<Position>,
    /// Sent to the DLT from this original topic (its provenance headers name it).
    pub origin: Option<String>,
    /// Failure message with this fingerprint ([`fingerprint`]): one group of `stats`.
    pub fingerprint: Option<String>,
    /// At most this many (the oldest first).
    pub limit: Option<usize>,
}

impl Filter {
    /// Whether `dead_letter`, in handling state `status`, meets every condition but the limit
    /// (which depends on the others selected, see [`Filter::limit`]).
    pub fn matches(&self, dead_letter: &DeadLetter, status: Status) -> bool {
        let key_ok = self
            .key
            .as_deref()
            .is_none_or(|k| dead_letter.record.key() == Some(k.as_bytes()));
        let error_ok = self
            .error
            .as_ref()
            .is_none_or(|re| re.is_match(dead_letter.error_message()));
        // A record without a timestamp counts as dead at the epoch: `until` keeps it, `since`
        // drops it.
        let died = dead_letter.died_at().unwrap_or_default();
        let since_ok = self.since.is_none_or(|t| died >= t);
        let until_ok = self.until.is_none_or(|t| died < t);
        let status_ok = self.status.is_none_or(|s| s == status);
        let position_ok =
            self.positions.is_empty() || self.positions.contains(&dead_letter.position());
        let origin_ok = self.origin.as_deref().is_none_or(|topic| {
            dead_letter
                .origin
                .as_ref()
                .is_some_and(|o| o.topic == topic)
        });
        let fingerprint_ok = self
            .fingerprint
            .as_deref()
            .is_none_or(|f| fingerprint(dead_letter.error_message()) == f);
        key_ok
            && error_ok
            && since_ok
            && until_ok
            && status_ok
            && position_ok
            && origin_ok
            && fingerprint_ok
    }

    /// A collector of what this filter selects, for a read that offers dead letters one by one.
    pub(crate) fn selection(&self) -> Selection<'_> {
        Selection {
            filter: self,
            kept: Vec::new(),
        }
    }
}

/// The dead letters a [`Filter`] selects from a read, oldest first. With a limit it never holds
/// more than twice the limit, so a DLT of millions listed with a limit of 20 stays small.
pub(crate) struct Selection<'a> {
    filter: &'a Filter,
    kept: Vec<Listed>,
}

impl Selection<'_> {
    /// Keeps `listed` if the filter selects it.
    pub(crate) fn offer(&mut self, listed: Listed) {
        if !self.filter.matches(&listed.dead_letter, listed.status) {
            return;
        }
        self.kept.push(listed);
        if let Some(limit) = self.filter.limit {
            // Trimming at twice the limit sorts once per `limit` records offered, not each time.
            if self.kept.len() >= limit.saturating_mul(2).max(1) {
                self.trim(limit);
            }
        }
    }

    /// What was selected: the oldest first (by death, then position), at most the limit.
    pub(crate) fn finish(mut self) -> Vec<Listed> {
        self.trim(self.filter.limit.unwrap_or(usize::MAX));
        self.kept
    }

    fn trim(&mut self, limit: usize) {
        self.kept.sort_by_key(|l| {
            (
                l.dead_letter.died_at().unwrap_or_default(),
                l.dead_letter.position(),
            )
        });
        self.kept.truncate(limit);
    }
}

#[cfg(test)]
mod tests {
    use rebound::headers::{Headers, EXCEPTION_MESSAGE, ORIGINAL_TOPIC};
    use rebound::Record;

    use super::*;
    use crate::ledger::History;
    use crate::listed::Listed;

    /// A dead letter at `0@offset` with `key`, failure `error`, dead at `died` ms.
    fn dead(offset: i64, key: &str, error: &str, died: Option<i64>) -> DeadLetter {
        let mut headers = Headers::new();
        headers.push(EXCEPTION_MESSAGE, error.to_string());
        headers.push(ORIGINAL_TOPIC, "email.send".to_string());
        let mut record = Record::new("t.dlt", 0, offset)
            .with_key(key.to_string())
            .with_headers(headers);
        if let Some(died) = died {
            record = record.with_timestamp(EpochMillis::new(died));
        }
        DeadLetter::from_record(record)
    }

    fn at(offset: i64) -> Position {
        Position {
            partition: 0,
            offset,
        }
    }

    #[test]
    fn each_condition_selects_on_its_own() {
        let a = dead(1, "fail@naver.com", "451 mailbox busy", Some(1_000));
        let no_time = dead(2, "other@naver.com", "550 no such user", None);
        let bare = DeadLetter::from_record(Record::new("t.dlt", 0, 3));
        let filter = |f: fn(&mut Filter)| {
            let mut filter = Filter::default();
            f(&mut filter);
            filter
        };
        type Case<'a> = (&'a str, Filter, &'a DeadLetter, Status, bool);
        let cases: Vec<Case> = vec![
            (
                "nothing asked",
                Filter::default(),
                &a,
                Status::Pending,
                true,
            ),
            (
                "key equal",
                filter(|f| f.key = Some("fail@naver.com".into())),
                &a,
                Status::Pending,
                true,
            ),
            (
                "key is exact, not a prefix",
                filter(|f| f.key = Some("fail".into())),
                &a,
                Status::Pending,
                false,
            ),
            (
                "error regex matches",
                filter(|f| f.error = Some(Regex::new("^451").unwrap())),
                &a,
                Status::Pending,
                true,
            ),
            (
                "error regex does not match",
                filter(|f| f.error = Some(Regex::new("^550").unwrap())),
                &a,
                Status::Pending,
                false,
            ),
            (
                "error regex sees the placeholder without failure headers",
                filter(|f| f.error = Some(Regex::new("no failure headers").unwrap())),
                &bare,
                Status::Pending,
                true,
            ),
            (
                "since is inclusive",
                filter(|f| f.since = Some(EpochMillis::new(1_000))),
                &a,
                Status::Pending,
                true,
            ),
            (
                "since after its death",
                filter(|f| f.since = Some(EpochMillis::new(1_001))),
                &a,
                Status::Pending,
                false,
            ),
            (
                "until is exclusive",
                filter(|f| f.until = Some(EpochMillis::new(1_000))),
                &a,
                Status::Pending,
                false,
            ),
            (
                "until after its death",
                filter(|f| f.until = Some(EpochMillis::new(1_001))),
                &a,
                Status::Pending,
                true,
            ),
            (
                "no timestamp: before any since",
                filter(|f| f.since = Some(EpochMillis::new(1))),
                &no_time,
                Status::Pending,
                false,
            ),
            (
                "no timestamp: before any until",
                filter(|f| f.until = Some(EpochMillis::new(1))),
                &no_time,
                Status::Pending,
                true,
            ),
            (
                "status equal",
                filter(|f| f.status = Some(Status::Redriven)),
                &a,
                Status::Redriven,
                true,
            ),
            (
                "status differs",
                filter(|f| f.status = Some(Status::Pending)),
                &a,
                Status::Discarded,
                false,
            ),
            (
                "position listed",
                filter(|f| f.positions = vec![at(7), at(1)]),
                &a,
                Status::Pending,
                true,
            ),
            (
                "position not listed",
                filter(|f| f.positions = vec![at(2)]),
                &a,
                Status::Pending,
                false,
            ),
            (
                "origin equal",
                filter(|f| f.origin = Some("email.send".into())),
                &a,
                Status::Pending,
                true,
            ),
            (
                "origin differs",
                filter(|f| f.origin = Some("email.other".into())),
                &a,
                Status::Pending,
                false,
            ),
            (
                "no provenance: no origin matches",
                filter(|f| f.origin = Some("email.send".into())),
                &bare,
                Status::Pending,
                false,
            ),
            (
                "fingerprint equal (numbers vary)",
                filter(|f| f.fingerprint = Some("<n> mailbox busy".into())),
                &a,
                Status::Pending,
                true,
            ),
            (
                "fingerprint differs",
                filter(|f| f.fingerprint = Some("<n> no such user".into())),
                &a,
                Status::Pending,
                false,
            ),
            (
                "every condition must hold",
                filter(|f| {
                    f.key = Some("fail@naver.com".into());
                    f.error = Some(Regex::new("550").unwrap());
                }),
                &a,
                Status::Pending,
                false,
            ),
            (
                "the limit does not decide alone",
                filter(|f| f.limit = Some(0)),
                &a,
                Status::Pending,
                true,
            ),
        ];
        for (name, filter, dead_letter, status, expected) in cases {
            assert_eq!(filter.matches(dead_letter, status), expected, "{name}");
        }
    }

    fn listed(dead_letter: DeadLetter) -> Listed {
        Listed::new(dead_letter, crate::Source::Dlt, History::default())
    }

    #[test]
    fn the_limit_keeps_the_oldest_in_order() {
        // (offset, died) offered in this order; ties on time go by position.
        let offered = [(0, 50), (1, 10), (2, 40), (3, 10), (4, 30), (5, 20), (6, 5)];
        type Case = (Option<usize>, &'static [i64]);
        let cases: &[Case] = &[
            (None, &[6, 1, 3, 5, 4, 2, 0]),
            (Some(3), &[6, 1, 3]),
            (Some(1), &[6]),
            (Some(0), &[]),
            (Some(100), &[6, 1, 3, 5, 4, 2, 0]),
        ];
        for (limit, expected) in cases {
            let filter = Filter {
                limit: *limit,
                ..Filter::default()
            };
            let mut selection = filter.selection();
            for (offset, died) in offered {
                selection.offer(listed(dead(offset, "k", "boom", Some(died))));
            }
            let offsets: Vec<i64> = selection
                .finish()
                .iter()
                .map(|l| l.dead_letter.position().offset)
                .collect();
            assert_eq!(offsets, *expected, "limit {limit:?}");
        }
    }

    #[test]
    fn the_limit_counts_only_what_the_conditions_select() {
        let filter = Filter {
            key: Some("keep".into()),
            limit: Some(2),
            ..Filter::default()
        };
        let mut selection = filter.selection();
        for offset in 0..6 {
            let key = if offset % 2 == 0 { "keep" } else { "drop" };
            selection.offer(listed(dead(offset, key, "boom", Some(offset))));
        }
        let offsets: Vec<i64> = selection
            .finish()
            .iter()
            .map(|l| l.dead_letter.position().offset)
            .collect();
        assert_eq!(offsets, [0, 2]);
    }
}
