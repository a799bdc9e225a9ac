//! Filters and paging over a DLT's ledger, for `/dlt/{topic}/ledger`: by action, by who, by run,
//! by dead letter, and a time range, as query parameters (a filtered ledger is a link to share,
//! and works with JavaScript off), newest first. The ledger is in memory in ledger order, so the
//! unfiltered page is a slice from the end, and a filtered one is one pass over the entries
//! (identifiers compared as text, nothing parsed per entry): at 100,000 entries, a page deep in a
//! filtered ledger costs what the first one does.

use rebound::EpochMillis;
use rebound_ops::ledger::{Action, Entry};
use rebound_ops::DeadLetterId;

use super::query::parse_time;

/// Entries per page.
pub const PER_PAGE: usize = 100;

/// The actions a filter may name, as the ledger spells them.
pub const ACTIONS: [&str; 4] = ["claim", "redriven", "released", "discarded"];

/// A selection of ledger entries, as typed (query parameters).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LedgerQuery {
    /// `claim`, `redriven`, `released`, `discarded`, or empty for all.
    pub action: String,
    /// Who: a part of the entry's `by` (`olga` finds `olga` and `olga@laptop`).
    pub by: String,
    /// Exact run id.
    pub run: String,
    /// Exact dead letter id, as the ledger writes it: `0@5`, or `archive:0@5`.
    pub dead_letter: String,
    /// Written at or after: RFC 3339 or an age (`2h`).
    pub since: String,
    /// Written before: RFC 3339 or an age.
    pub until: String,
    /// The page, from 1.
    pub page: usize,
}

/// A [`LedgerQuery`] checked and ready to match.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    action: Option<Action>,
    by: Option<String>,
    run: Option<String>,
    dead_letter: Option<DeadLetterId>,
    since: Option<EpochMillis>,
    until: Option<EpochMillis>,
}

impl LedgerQuery {
    /// Reads a query string (`action=redriven&run=…&page=2`); unknown names are ignored.
    pub fn from_query_string(text: &str) -> Result<LedgerQuery, String> {
        let mut query = LedgerQuery::default();
        for (name, value) in form_urlencoded::parse(text.as_bytes()) {
            let value = value.trim().to_string();
            match name.as_ref() {
                "action" => query.action = value,
                "by" => query.by = value,
                "run" => query.run = value,
                "dead_letter" => query.dead_letter = value,
                "since" => query.since = value,
                "until" => query.until = value,
                "page" if !value.is_empty() => {
                    query.page = value
                        .parse()
                        .map_err(|_| format!("page `{value}` is not a number"))?
                }
                _ => {}
            }
        }
        query.page = query.page.max(1);
        Ok(query)
    }

    /// Checks every field; the message says which one is wrong and how.
    pub fn compile(&self) -> Result<LedgerFilter, String> {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let action = match self.action.as_str() {
            "" | "all" => None,
            "claim" => Some(Action::Claim),
            "redriven" => Some(Action::Redriven),
            "released" => Some(Action::Released),
            "discarded" => Some(Action::Discarded),
            other => {
                return Err(format!(
                    "action `{other}` is none of {}",
                    ACTIONS.join(", ")
                ))
            }
        };
        let dead_letter = match self.dead_letter.as_str() {
            "" => None,
            text => Some(text.parse::<DeadLetterId>().map_err(|e| {
                format!("the dead letter `{text}` is not an id (0@5, or archive:0@5): {e}")
            })?),
        };
        Ok(LedgerFilter {
            action,
            by: some(&self.by),
            run: some(&self.run),
            dead_letter,
            since: parse_time("since", &self.since)?,
            until: parse_time("until", &self.until)?,
        })
    }

    /// The fields that select (not the page) as a query string, with `extra`.
    pub fn query_string(&self, extra: &[(&str, String)]) -> String {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("action", &self.action),
            ("by", &self.by),
            ("run", &self.run),
            ("dead_letter", &self.dead_letter),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !value.is_empty() {
                serializer.append_pair(name, value);
            }
        }
        for (name, value) in extra {
            serializer.append_pair(name, value);
        }
        serializer.finish()
    }

    /// Whether it selects every entry.
    pub fn selects_all(&self) -> bool {
        self.query_string(&[]).is_empty()
    }
}

impl LedgerFilter {
    fn selects_all(&self) -> bool {
        self.action.is_none()
            && self.by.is_none()
            && self.run.is_none()
            && self.dead_letter.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }

    /// Whether `entry` is selected.
    fn matches(&self, entry: &Entry) -> bool {
        self.action.is_none_or(|a| a == entry.action)
            && self.run.as_deref().is_none_or(|r| r == entry.run)
            && self.dead_letter.is_none_or(|d| entry.names(d))
            && self.by.as_deref().is_none_or(|b| entry.by.contains(b))
            && self.since.is_none_or(|t| entry.at >= t)
            && self.until.is_none_or(|t| entry.at < t)
    }
}

/// One page of a ledger selection.
#[derive(Debug)]
pub(crate) struct LedgerPage<'a> {
    /// How many entries the selection holds.
    pub total: usize,
    /// This page's entries with their offsets, newest first.
    pub rows: Vec<&'a (i64, Entry)>,
    /// The page shown, from 1 (at most the last).
    pub page: usize,
    /// Pages in all (at least 1).
    pub pages: usize,
}

/// The page `page` of what `filter` selects from `ledger` (in ledger order), newest first; a
/// page past the end shows the last one.
pub(crate) fn select<'a>(
    ledger: &'a [(i64, Entry)],
    filter: &LedgerFilter,
    page: usize,
) -> LedgerPage<'a> {
    let page = page.max(1);
    let newest_first = || ledger.iter().rev();
    if filter.selects_all() {
        let total = ledger.len();
        let pages = total.div_ceil(PER_PAGE).max(1);
        let page = page.min(pages);
        let rows = newest_first()
            .skip((page - 1) * PER_PAGE)
            .take(PER_PAGE)
            .collect();
        return LedgerPage {
            total,
            rows,
            page,
            pages,
        };
    }
    // One pass counts the selection and keeps the page asked for.
    let first = (page - 1) * PER_PAGE;
    let mut total = 0;
    let mut rows = Vec::with_capacity(PER_PAGE);
    for row in newest_first().filter(|(_, e)| filter.matches(e)) {
        if total >= first && rows.len() < PER_PAGE {
            rows.push(row);
        }
        total += 1;
    }
    let pages = total.div_ceil(PER_PAGE).max(1);
    if page > pages {
        // Past the end: the last page, found by a second pass.
        rows = newest_first()
            .filter(|(_, e)| filter.matches(e))
            .skip((pages - 1) * PER_PAGE)
            .collect();
    }
    LedgerPage {
        total,
        rows,
        page: page.min(pages),
        pages,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// 100,000 entries: runs of a claim and a redriven entry, every tenth run a discard.
    fn ledger() -> Vec<(i64, Entry)> {
        let mut ledger = Vec::new();
        let mut push = |id: String, action: Action, run: String, by: &str| {
            let offset = ledger.len() as i64;
            ledger.push((
                offset,
                Entry {
                    v: 1,
                    dead_letter: id.parse().unwrap(),
                    action,
                    run,
                    by: by.into(),
                    at: EpochMillis::new(1_000 + offset),
                    to: None,
                    copy: None,
                    reason: None,
                    force: false,
                    runs: Vec::new(),
                    copies: Vec::new(),
                },
            ));
        };
        for i in 0..50_000 {
            let run = format!("run-{i}");
            if i % 10 == 0 {
                push(
                    format!("0@{i}"),
                    Action::Discarded,
                    run.clone(),
                    "olga@laptop",
                );
                push(format!("archive:0@{i}"), Action::Claim, run, "oncall");
            } else {
                push(format!("0@{i}"), Action::Claim, run.clone(), "oncall");
                push(format!("0@{i}"), Action::Redriven, run, "oncall");
            }
        }
        ledger
    }

    fn filter(text: &str) -> LedgerFilter {
        LedgerQuery::from_query_string(text)
            .unwrap()
            .compile()
            .unwrap()
    }

    fn offsets(page: &LedgerPage<'_>) -> Vec<i64> {
        page.rows.iter().map(|(offset, _)| *offset).collect()
    }

    #[test]
    fn filters_narrow_and_pages_are_newest_first() {
        let ledger = ledger();
        let count = |text: &str| select(&ledger, &filter(text), 1).total;
        assert_eq!(count(""), 100_000);
        assert_eq!(count("action=discarded"), 5_000);
        assert_eq!(count("action=claim"), 50_000);
        assert_eq!(count("action=released"), 0);
        assert_eq!(count("by=olga"), 5_000, "a part of who");
        assert_eq!(count("run=run-7"), 2);
        assert_eq!(count("run=run-"), 0, "runs are exact");
        assert_eq!(count("dead_letter=0%4010"), 1);
        assert_eq!(count("dead_letter=archive%3A0%4010"), 1);
        assert_eq!(
            count("since=1970-01-01T00:00:01.100Z&until=1970-01-01T00:00:01.110Z"),
            10
        );
        assert_eq!(count("action=redriven&run=run-7"), 1);
        let all = select(&ledger, &filter(""), 1);
        assert_eq!(offsets(&all)[..3], [99_999, 99_998, 99_997]);
        assert_eq!((all.page, all.pages, all.rows.len()), (1, 1_000, PER_PAGE));
        let discards = select(&ledger, &filter("action=discarded"), 2);
        // Discards are every 20th entry, from 99,980 down: page 2 starts 100 discards later.
        assert_eq!(discards.rows[0].0, 99_980 - 100 * 20);
        assert!(discards
            .rows
            .iter()
            .all(|(_, e)| e.action == Action::Discarded));
        let beyond = select(&ledger, &filter("action=discarded"), 999);
        assert_eq!((beyond.page, beyond.pages), (50, 50));
        assert_eq!(
            beyond.rows.last().unwrap().0,
            0,
            "the last page ends with the oldest"
        );
    }

    #[test]
    fn a_deep_filtered_page_at_100k_entries_is_one_pass() {
        let ledger = ledger();
        let filter = filter("by=oncall&action=claim");
        let started = Instant::now();
        let page = select(&ledger, &filter, 400);
        let took = started.elapsed();
        assert_eq!((page.total, page.page), (50_000, 400));
        // The bound catches a pass per entry (quadratic), not a constant factor: generous for a
        // debug build on a busy 2-core machine.
        assert!(took.as_millis() < 500, "{took:?}");
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let error = |text: &str| {
            LedgerQuery::from_query_string(text)
                .unwrap()
                .compile()
                .unwrap_err()
        };
        assert!(error("action=deleted").contains("action `deleted` is none of claim"));
        assert!(error("dead_letter=17").contains("not an id"));
        assert!(error("dead_letter=%2B0%401").contains("not an id"));
        assert!(error("until=tomorrow").contains("until `tomorrow`"));
        assert!(LedgerQuery::from_query_string("page=x").is_err());
        let q = LedgerQuery::from_query_string("action=claim&by=a+b&dead_letter=archive%3A0%405")
            .unwrap();
        assert_eq!(
            LedgerQuery::from_query_string(&q.query_string(&[])).unwrap(),
            q
        );
        assert!(!q.selects_all());
        assert!(LedgerQuery::from_query_string("page=3")
            .unwrap()
            .selects_all());
    }
}
