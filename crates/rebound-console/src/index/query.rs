//! Filters and paging over an index. Filters arrive as query parameters (so a filtered page is a
//! link to share, and works with JavaScript off) and are data: the key, origin and fingerprint
//! are compared as text, the error is a substring or a size-limited regular expression (the
//! `regex` crate runs in linear time, so no pattern can hang the console), times are RFC 3339 or
//! ages. Each filter means exactly what the same `rebound dlt` flag means, so the list a person
//! sees is what an action on it selects: [`Compiled::ops_filter`] builds that selection and
//! [`Query::cli_args`] the flags. The selection names its [`Source`] too (`source=archive`,
//! `--archived`), so an action started from the archive page acts on archived copies.

use std::borrow::Cow;
use std::collections::HashSet;

use regex::{Regex, RegexBuilder};

use rebound::EpochMillis;
use rebound_ops::{parse_time_bound_now, Filter, Position, Source, Status};

use super::store::{Group, Letters, Summary};

/// Dead letters per page.
pub const PER_PAGE: usize = 50;
/// The longest error filter accepted.
const MAX_PATTERN: usize = 1_000;

/// A selection of dead letters, as typed (query parameters or form fields).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Exact key.
    pub key: String,
    /// Error text: a substring, or a regular expression with `regex`.
    pub error: String,
    /// `error` is a regular expression.
    pub regex: bool,
    /// Original topic.
    pub origin: String,
    /// Failure fingerprint (one group).
    pub fingerprint: String,
    /// Died at or after: RFC 3339 or an age (`2h`).
    pub since: String,
    /// Died before: RFC 3339 or an age.
    pub until: String,
    /// `pending`, `redriven`, `discarded`, or empty for all.
    pub status: String,
    /// Only these positions (checked boxes, or one dead letter).
    pub at: Vec<Position>,
    /// Read from the DLT (the default) or its archive (`source=archive`).
    pub source: Source,
    /// The page, from 1.
    pub page: usize,
}

/// A [`Query`] checked and ready to match.
#[derive(Debug, Clone)]
pub struct Compiled {
    key: Option<Vec<u8>>,
    error: Option<Regex>,
    origin: Option<String>,
    fingerprint: Option<String>,
    since: Option<EpochMillis>,
    until: Option<EpochMillis>,
    status: Option<Status>,
    positions: HashSet<Position>,
}

impl Query {
    /// Reads the fields it knows from `pairs` (others are ignored: forms carry more).
    pub fn from_pairs<'a>(
        pairs: impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
    ) -> Result<Query, String> {
        let mut query = Query::default();
        for (name, value) in pairs {
            let value = value.trim();
            match name.as_ref() {
                "key" => query.key = value.to_string(),
                "error" => query.error = value.to_string(),
                "regex" => query.regex = !value.is_empty() && value != "0",
                "origin" => query.origin = value.to_string(),
                "fingerprint" => query.fingerprint = value.to_string(),
                "since" => query.since = value.to_string(),
                "until" => query.until = value.to_string(),
                "status" => query.status = value.to_string(),
                "source" => {
                    query.source = match value {
                        "" | "dlt" => Source::Dlt,
                        "archive" => Source::Archive,
                        other => {
                            return Err(format!("source `{other}` is neither dlt nor archive"))
                        }
                    }
                }
                "at" if !value.is_empty() => query.at.push(
                    value
                        .parse()
                        .map_err(|e| format!("the selection is wrong: {e}"))?,
                ),
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

    /// Reads a query string (`key=a&at=0@1&at=0@2`).
    pub fn from_query_string(text: &str) -> Result<Query, String> {
        Query::from_pairs(form_urlencoded::parse(text.as_bytes()))
    }

    /// Checks every field; the message says which one is wrong and how.
    pub fn compile(&self) -> Result<Compiled, String> {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let error = match self.error.as_str() {
            "" => None,
            text if text.len() > MAX_PATTERN => {
                return Err(format!(
                    "the error filter is longer than {MAX_PATTERN} characters"
                ))
            }
            text => Some(
                RegexBuilder::new(&self.error_pattern(text))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        format!("the error filter is not a valid regular expression: {e}")
                    })?,
            ),
        };
        let status = match self.status.as_str() {
            "" | "all" => None,
            text => Some(text.parse::<Status>().map_err(|e| e.to_string())?),
        };
        Ok(Compiled {
            key: some(&self.key).map(String::into_bytes),
            error,
            origin: some(&self.origin),
            fingerprint: some(&self.fingerprint),
            since: parse_time("since", &self.since)?,
            until: parse_time("until", &self.until)?,
            status,
            positions: self.at.iter().copied().collect(),
        })
    }

    /// The error filter as the regular expression `rebound dlt --error` takes.
    fn error_pattern(&self, text: &str) -> String {
        if self.regex {
            text.to_string()
        } else {
            regex::escape(text)
        }
    }

    /// The fields that select (not the page), as `(name, value)`, for links and hidden fields.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        for (name, value) in [
            ("key", &self.key),
            ("error", &self.error),
            ("origin", &self.origin),
            ("fingerprint", &self.fingerprint),
            ("since", &self.since),
            ("until", &self.until),
            ("status", &self.status),
        ] {
            if !value.is_empty() {
                pairs.push((name, value.clone()));
            }
        }
        if self.regex && !self.error.is_empty() {
            pairs.push(("regex", "1".into()));
        }
        for position in &self.at {
            pairs.push(("at", position.to_string()));
        }
        if self.source == Source::Archive {
            pairs.push(("source", "archive".into()));
        }
        pairs
    }

    /// The selecting fields as a query string (empty when nothing is selected), with `extra`.
    pub fn query_string(&self, extra: &[(&str, String)]) -> String {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.pairs() {
            serializer.append_pair(name, value);
        }
        for (name, value) in extra {
            serializer.append_pair(name, value);
        }
        serializer.finish()
    }

    /// Whether it selects everything its source holds.
    pub fn selects_all(&self) -> bool {
        self.pairs().iter().all(|(name, _)| *name == "source")
    }

    /// The `rebound dlt` selection flags meaning the same.
    pub fn cli_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut flag = |name: &str, value: &str| {
            if !value.is_empty() {
                args.push(format!("--{name}"));
                args.push(value.to_string());
            }
        };
        flag("key", &self.key);
        if !self.error.is_empty() {
            flag("error", &self.error_pattern(&self.error));
        }
        flag("origin", &self.origin);
        flag("fingerprint", &self.fingerprint);
        flag("since", &self.since);
        flag("until", &self.until);
        if self.status != "all" {
            flag("status", &self.status);
        }
        for position in &self.at {
            flag("at", &position.to_string());
        }
        if self.source == Source::Archive {
            args.push("--archived".into());
        }
        args
    }
}

impl Compiled {
    /// The same selection for `rebound_ops` (redrive, discard).
    pub fn ops_filter(&self) -> Filter {
        let mut positions: Vec<Position> = self.positions.iter().copied().collect();
        positions.sort();
        Filter {
            key: self
                .key
                .as_ref()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            error: self.error.clone(),
            since: self.since,
            until: self.until,
            status: self.status,
            positions,
            origin: self.origin.clone(),
            fingerprint: self.fingerprint.clone(),
            limit: None,
        }
    }

    /// Whether `summary` is selected; `group` is the fingerprint filter's group id, looked up
    /// once (`None` with a fingerprint filter: no group has it, nothing matches); `error` says
    /// whether its message matches the error filter.
    fn matches(
        &self,
        summary: &Summary,
        group: Option<Option<u32>>,
        error: &mut impl FnMut(u32) -> bool,
    ) -> bool {
        let died = summary.died_at.unwrap_or_default();
        self.key
            .as_deref()
            .is_none_or(|k| summary.key.as_deref() == Some(k))
            && self.status.is_none_or(|s| s == summary.status)
            && group.is_none_or(|g| g == Some(summary.group))
            && self
                .origin
                .as_deref()
                .is_none_or(|o| summary.origin.as_deref() == Some(o))
            && self.since.is_none_or(|t| died >= t)
            && self.until.is_none_or(|t| died < t)
            && (self.positions.is_empty() || self.positions.contains(&summary.position))
            && (self.error.is_none() || error(summary.message))
    }
}

/// One page of a selection, with the groups of the whole selection.
#[derive(Debug)]
pub(crate) struct Results {
    /// How many dead letters the selection holds.
    pub total: usize,
    /// This page's, newest first.
    pub rows: Vec<Summary>,
    /// The selection's groups, the largest first: the group, and its count, first and last
    /// death within the selection.
    pub groups: Vec<(Group, usize, Option<EpochMillis>, Option<EpochMillis>)>,
    /// The page shown, from 1 (at most the last).
    pub page: usize,
    /// Pages in all (at least 1).
    pub pages: usize,
}

/// The selection of `compiled` in `state` (the DLT's or the archive's): one pass over the
/// summaries, newest first.
pub(crate) fn select(state: &Letters, compiled: &Compiled, page: usize) -> Results {
    let group = compiled.fingerprint.as_deref().map(|f| state.group_id(f));
    let mut counts: Vec<(usize, Option<EpochMillis>, Option<EpochMillis>)> =
        vec![(0, None, None); state.groups.len()];
    let mut total = 0;
    let mut selected_pages = Vec::with_capacity(PER_PAGE);
    let page = page.max(1);
    let first = (page - 1) * PER_PAGE;
    let mut last_page_start = None;
    // Each distinct message is matched once: 0 not yet, 1 matches, 2 does not.
    let mut matched = vec![0u8; state.messages.len()];
    let mut error = |message: u32| {
        let slot = &mut matched[message as usize];
        if *slot == 0 {
            let hit = compiled
                .error
                .as_ref()
                .is_none_or(|re| re.is_match(&state.messages[message as usize]));
            *slot = if hit { 1 } else { 2 };
        }
        *slot == 1
    };
    for &index in state.order.iter().rev() {
        let summary = &state.letters[index as usize];
        if !compiled.matches(summary, group, &mut error) {
            continue;
        }
        if total >= first && total < first + PER_PAGE {
            selected_pages.push(index);
        }
        if total % PER_PAGE == 0 {
            last_page_start = Some(total);
        }
        total += 1;
        let slot = &mut counts[summary.group as usize];
        slot.0 += 1;
        if let Some(at) = summary.died_at {
            slot.1 = Some(slot.1.map_or(at, |f: EpochMillis| f.min(at)));
            slot.2 = Some(slot.2.map_or(at, |l: EpochMillis| l.max(at)));
        }
    }
    let pages = total.div_ceil(PER_PAGE).max(1);
    // A page past the end shows the last one.
    if page > pages {
        if let Some(start) = last_page_start {
            selected_pages = state
                .order
                .iter()
                .rev()
                .filter(|&&i| compiled.matches(&state.letters[i as usize], group, &mut error))
                .skip(start)
                .take(PER_PAGE)
                .copied()
                .collect();
        }
    }
    let mut groups: Vec<_> = counts
        .into_iter()
        .enumerate()
        .filter(|(_, c)| c.0 > 0)
        .map(|(id, (count, first, last))| (state.groups[id].clone(), count, first, last))
        .collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.fingerprint.cmp(&b.0.fingerprint)));
    Results {
        total,
        rows: selected_pages
            .into_iter()
            .map(|i| state.letters[i as usize].clone())
            .collect(),
        groups,
        page: page.min(pages),
        pages,
    }
}

/// The `since` or `until` field (`name`), read as `rebound dlt --since` reads it
/// ([`rebound_ops::parse_time_bound`]); empty is no bound.
pub(crate) fn parse_time(name: &str, text: &str) -> Result<Option<EpochMillis>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    parse_time_bound_now(text)
        .map(Some)
        .map_err(|e| format!("{name} {e}"))
}

#[cfg(test)]
mod tests {
    use rebound_ops::ledger::Action;

    use super::super::store::tests::{entry, record};
    use super::super::store::DltState;
    use super::*;

    fn query(text: &str) -> Query {
        Query::from_query_string(text).unwrap()
    }

    fn state() -> DltState {
        let mut state = DltState::default();
        for i in 0..120 {
            let (key, error) = if i % 3 == 0 {
                ("nobody@naver.com", format!("550 no such user {i}"))
            } else {
                ("fail@naver.com", format!("451 mailbox busy ({i})"))
            };
            state.add_record(Source::Dlt, record(0, i, key, &error, 1_000 + i));
        }
        state.add_entry(0, entry("0@0", Action::Discarded));
        state
    }

    fn offsets(results: &Results) -> Vec<i64> {
        results.rows.iter().map(|s| s.position.offset).collect()
    }

    #[test]
    fn pages_are_newest_first_and_count_the_whole_selection() {
        let state = state();
        let all = select(&state.dlt, &query("").compile().unwrap(), 1);
        assert_eq!((all.total, all.pages, all.rows.len()), (120, 3, PER_PAGE));
        assert_eq!(offsets(&all)[..3], [119, 118, 117]);
        let third = select(&state.dlt, &query("").compile().unwrap(), 3);
        assert_eq!(offsets(&third), (0..20).rev().collect::<Vec<_>>());
        let beyond = select(&state.dlt, &query("").compile().unwrap(), 9);
        assert_eq!((beyond.page, offsets(&beyond)), (3, offsets(&third)));
    }

    #[test]
    fn filters_select_as_the_command_does() {
        let state = state();
        let count = |text: &str| select(&state.dlt, &query(text).compile().unwrap(), 1).total;
        assert_eq!(count("key=nobody%40naver.com"), 40);
        assert_eq!(count("key=nobody"), 0, "keys are exact");
        assert_eq!(count("error=mailbox+busy"), 80);
        assert_eq!(
            count("error=(11"),
            8,
            "a substring, not a pattern: (11), (110) to (119)"
        );
        assert_eq!(count("error=%5E550&regex=1"), 40);
        assert_eq!(count("fingerprint=%3Cn%3E+no+such+user+%3Cn%3E"), 40);
        assert_eq!(count("fingerprint=unknown"), 0);
        assert_eq!(count("origin=email.send"), 120);
        assert_eq!(count("origin=email"), 0);
        assert_eq!(count("status=discarded"), 1);
        assert_eq!(count("status=pending"), 119);
        assert_eq!(count("since=1970-01-01T00:00:01.100Z"), 20);
        assert_eq!(count("until=1970-01-01T00:00:01.010Z"), 10);
        assert_eq!(count("at=0@5&at=0@7"), 2);
        let groups = select(&state.dlt, &query("").compile().unwrap(), 1).groups;
        assert_eq!(groups[0].0.fingerprint, "<n> mailbox busy (<n>)");
        assert_eq!(groups[0].1, 80);
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let error = |text: &str| query(text).compile().unwrap_err();
        assert!(error("error=(&regex=1").contains("not a valid regular expression"));
        assert!(error("since=yesterday-ish").contains("since `yesterday-ish`"));
        assert!(error("since=18446744073709551615s")
            .contains("since `18446744073709551615s` reaches back before 1970"));
        assert!(error("status=lost").contains("unknown status"));
        assert!(Query::from_query_string("at=zero").is_err());
        let huge = format!("error={}", "a".repeat(2_000));
        assert!(error(&huge).contains("longer than"));
    }

    #[test]
    fn the_command_line_and_the_ops_filter_mean_the_same() {
        let q = query("key=a+b&error=1.5+(x)&origin=email.send&status=pending&at=0@3");
        assert_eq!(
            q.cli_args(),
            [
                "--key",
                "a b",
                "--error",
                r"1\.5 \(x\)",
                "--origin",
                "email.send",
                "--status",
                "pending",
                "--at",
                "0@3"
            ]
        );
        let filter = q.compile().unwrap().ops_filter();
        assert_eq!(filter.key.as_deref(), Some("a b"));
        assert_eq!(filter.error.unwrap().as_str(), r"1\.5 \(x\)");
        assert_eq!(filter.status, Some(Status::Pending));
        assert_eq!(
            filter.positions,
            [Position {
                partition: 0,
                offset: 3
            }]
        );
        // Links carry the same selection back.
        assert_eq!(Query::from_query_string(&q.query_string(&[])).unwrap(), q);
    }

    #[test]
    fn an_archive_selection_says_so_everywhere() {
        let q = query("source=archive&key=a");
        assert_eq!(q.source, Source::Archive);
        assert_eq!(q.cli_args(), ["--key", "a", "--archived"]);
        assert_eq!(Query::from_query_string(&q.query_string(&[])).unwrap(), q);
        assert!(query("source=archive").selects_all(), "all of the archive");
        assert!(!q.selects_all());
        assert_eq!(query("source=dlt").source, Source::Dlt);
        assert!(Query::from_query_string("source=elsewhere").is_err());
    }
}
