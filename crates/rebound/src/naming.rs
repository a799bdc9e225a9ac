//! Topic names of a retry chain, derived exactly as Spring Kafka derives them, so that Rust and
//! Java workers of one fleet agree on where a record goes next.
//!
//! This module is the one place that knows the naming rules, both ways: [`TopicChain::new`] derives
//! a chain's names from its policy, [`classify`] tells from a name alone which chain a topic
//! belongs to and its role there (what `rebound topics` needs on a cluster it did not configure),
//! and [`ledger_topic`] / [`archive_topic`] name the topics an operator's actions go to
//! ([`dlt_topic`] names a DLT for a service that has no policy yet).
//! [`TopicChain::stage_groups`] names the consumer group Spring reads each stage in ([`stage_group`]).

use std::time::Duration;

use crate::policy::{Backoff, RetryPolicy, TopicReuse, TopicSuffixing};

mod groups;
pub use groups::{stage_group, StageGroup};

/// One retry topic of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryTopic {
    /// The topic's name.
    pub name: String,
    /// The nominal delay a record waits on this topic before it is handled again.
    pub delay: Duration,
    /// The attempt numbers delivered from this topic (2 is the first retry). Several when
    /// trailing equal delays share one topic.
    pub attempts: std::ops::RangeInclusive<u32>,
}

/// The main topic, its retry topics in order, and its dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicChain {
    /// The topic producers write to (empty for a consumer of a DLT alone).
    pub main: String,
    /// The retry topics, shortest delay first.
    pub retries: Vec<RetryTopic>,
    /// The dead-letter topic, unless the policy has none.
    pub dlt: Option<String>,
}

/// Where a topic sits in a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage<'a> {
    /// The main topic: first deliveries.
    Main,
    /// A retry topic, with the deliveries it makes.
    Retry(&'a RetryTopic),
    /// The dead-letter topic.
    Dlt,
}

impl TopicChain {
    /// Derives the chain of `main` under `policy`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rebound::naming::TopicChain;
    /// use rebound::{Backoff, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new(5)
    ///     .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
    ///     .dlt_suffix(".dlt");
    /// let chain = TopicChain::new("email.send", &policy);
    /// assert_eq!(chain.topic_names(), [
    ///     "email.send", "email.send-retry-1000", "email.send-retry-2000",
    ///     "email.send-retry-4000", "email.send-retry-8000", "email.send.dlt",
    /// ]);
    /// ```
    pub fn new(main: &str, policy: &RetryPolicy) -> Self {
        let delays = policy.retry_delays();
        let base = format!("{main}{}", policy.retry_suffix);
        let retries = if delays.is_empty() {
            Vec::new()
        } else if single_topic(policy, &delays) {
            vec![RetryTopic {
                name: base,
                delay: delays[0],
                attempts: 2..=policy.attempts,
            }]
        } else {
            per_delay_topics(&base, policy, &delays)
        };
        TopicChain {
            main: main.to_string(),
            retries,
            dlt: policy
                .has_dlt()
                .then(|| dlt_topic(main, &policy.dlt_suffix)),
        }
    }

    /// Every topic of the chain, main first, DLT last.
    pub fn topic_names(&self) -> Vec<&str> {
        let mut names = vec![self.main.as_str()];
        names.extend(self.retries.iter().map(|r| r.name.as_str()));
        names.extend(self.dlt.as_deref());
        names
    }

    /// The topic that delivers attempt `attempt` (2 or more), if the chain has one.
    pub fn retry_topic_for(&self, attempt: u32) -> Option<&RetryTopic> {
        self.retries.iter().find(|r| r.attempts.contains(&attempt))
    }

    /// Where `topic` sits in this chain, if it belongs to it.
    pub fn stage_of(&self, topic: &str) -> Option<Stage<'_>> {
        if topic == self.main {
            return Some(Stage::Main);
        }
        if self.dlt.as_deref() == Some(topic) {
            return Some(Stage::Dlt);
        }
        self.retries
            .iter()
            .find(|r| r.name == topic)
            .map(Stage::Retry)
    }
}

/// Spring collapses the chain into one `-retry` topic when there is a single retry, or when every
/// delay is the same and topics are reused.
fn single_topic(policy: &RetryPolicy, delays: &[Duration]) -> bool {
    let fixed =
        matches!(policy.backoff, Backoff::Fixed(_)) || delays.iter().all(|d| *d == delays[0]);
    delays.len() == 1 || (fixed && policy.reuse == TopicReuse::SingleTopic)
}

fn per_delay_topics(base: &str, policy: &RetryPolicy, delays: &[Duration]) -> Vec<RetryTopic> {
    let all_equal = delays.iter().all(|d| *d == delays[0]);
    let mut topics: Vec<RetryTopic> = Vec::new();
    for (index, delay) in delays.iter().enumerate() {
        let attempt = index as u32 + 2;
        let same_as_previous = index > 0 && delays[index - 1] == *delay;
        if same_as_previous && policy.reuse == TopicReuse::SingleTopic {
            // Trailing equal delays (the back-off hit its cap) share the previous topic.
            let last = topics.last_mut().expect("a previous topic exists");
            last.attempts = *last.attempts.start()..=attempt;
            continue;
        }
        let name = if policy.suffixing == TopicSuffixing::IndexValue || all_equal {
            format!("{base}-{index}")
        } else {
            let repeats = delays.iter().filter(|d| *d == delay).count();
            let ms = delay.as_millis();
            if repeats > 1 && policy.reuse == TopicReuse::TopicPerAttempt {
                let nth = delays[..index].iter().filter(|d| *d == delay).count();
                format!("{base}-{ms}-{nth}")
            } else {
                format!("{base}-{ms}")
            }
        };
        topics.push(RetryTopic {
            name,
            delay: *delay,
            attempts: attempt..=attempt,
        });
    }
    topics
}

/// What a topic is to its chain, told from its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TopicRole {
    /// The topic producers write to.
    Main,
    /// A retry topic: `<main>-retry`, `<main>-retry-<delay or index>`, `<main>-retry-<delay>-<n>`.
    Retry,
    /// The dead-letter topic: `<main>-dlt`, `<main>.dlt`, `<main>-DLT` or `<main>.DLT`.
    Dlt,
    /// The ledger of a DLT's handling: `<dlt>.ledger`.
    Ledger,
    /// The archive of discarded dead letters: `<dlt>.archive`.
    Archive,
}

/// The suffixes a DLT may carry: Spring's default (`-dlt`), the scenario's (`.dlt`), and the
/// upper-case forms other tools write.
const DLT_SUFFIXES: [&str; 4] = ["-dlt", ".dlt", "-DLT", ".DLT"];

/// Which chain `topic` belongs to (its main topic's name) and its role there, by Spring's naming
/// rules; `None` for a name no chain gives (a main topic alone cannot be told from its name).
///
/// ```
/// use rebound::naming::{classify, TopicRole};
/// assert_eq!(classify("email.send-retry-1000"), Some(("email.send".into(), TopicRole::Retry)));
/// assert_eq!(classify("email.send.dlt.ledger"), Some(("email.send".into(), TopicRole::Ledger)));
/// assert_eq!(classify("email.send"), None);
/// ```
pub fn classify(topic: &str) -> Option<(String, TopicRole)> {
    for (suffix, role) in [
        (".ledger", TopicRole::Ledger),
        (".archive", TopicRole::Archive),
    ] {
        if let Some(dlt) = topic.strip_suffix(suffix) {
            if let Some((main, TopicRole::Dlt)) = classify(dlt) {
                return Some((main, role));
            }
        }
    }
    for suffix in DLT_SUFFIXES {
        if let Some(main) = topic.strip_suffix(suffix).filter(|m| !m.is_empty()) {
            return Some((main.to_string(), TopicRole::Dlt));
        }
    }
    retry_main(topic).map(|main| (main.to_string(), TopicRole::Retry))
}

/// The main topic of a retry topic's name: `<main>-retry` followed by at most two `-<digits>`.
fn retry_main(topic: &str) -> Option<&str> {
    let (main, tail) = topic.rsplit_once("-retry")?;
    let numbers: Vec<&str> = tail.split('-').skip(1).collect();
    let well_formed = (tail.is_empty() || tail.starts_with('-'))
        && numbers.len() <= 2
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    (well_formed && !main.is_empty()).then_some(main)
}

/// The numbers after `-retry` in a retry topic's name (its delay, or index, and repeat), for
/// ordering a chain's retry topics as their delays grow.
pub fn retry_order(topic: &str) -> Vec<u64> {
    topic
        .rsplit("-retry")
        .next()
        .unwrap_or("")
        .split('-')
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The dead-letter topic of `main` with the policy's `dlt_suffix` (what [`TopicChain::new`]
/// names it): for a service that names its DLT before it has a policy.
///
/// ```
/// assert_eq!(rebound::naming::dlt_topic("email.send", ".dlt"), "email.send.dlt");
/// ```
pub fn dlt_topic(main: &str, dlt_suffix: &str) -> String {
    format!("{main}{dlt_suffix}")
}

/// The ledger topic of a DLT: one JSON entry per operator action on its dead letters.
pub fn ledger_topic(dlt: &str) -> String {
    format!("{dlt}.ledger")
}

/// The archive topic of a DLT: a copy of each discarded dead letter.
pub fn archive_topic(dlt: &str) -> String {
    format!("{dlt}.archive")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(main: &str, policy: RetryPolicy) -> Vec<String> {
        TopicChain::new(main, &policy)
            .topic_names()
            .into_iter()
            .map(String::from)
            .collect()
    }

    fn exp(attempts: u32) -> RetryPolicy {
        RetryPolicy::new(attempts).backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
    }

    #[test]
    fn scenario_chain() {
        assert_eq!(
            names("email.send", exp(5).dlt_suffix(".dlt")),
            [
                "email.send",
                "email.send-retry-1000",
                "email.send-retry-2000",
                "email.send-retry-4000",
                "email.send-retry-8000",
                "email.send.dlt"
            ]
        );
    }

    #[test]
    fn capped_delays_share_the_last_topic() {
        let policy = RetryPolicy::new(5).backoff(
            Backoff::exponential(Duration::from_secs(1), 2.0).with_max(Duration::from_secs(4)),
        );
        let chain = TopicChain::new("t", &policy);
        assert_eq!(
            chain.topic_names(),
            ["t", "t-retry-1000", "t-retry-2000", "t-retry-4000", "t-dlt"]
        );
        assert_eq!(chain.retry_topic_for(4).unwrap().name, "t-retry-4000");
        assert_eq!(chain.retry_topic_for(5).unwrap().name, "t-retry-4000");
        assert!(chain.retry_topic_for(6).is_none());
    }

    #[test]
    fn capped_delays_one_topic_per_attempt() {
        let policy = RetryPolicy::new(5)
            .backoff(
                Backoff::exponential(Duration::from_secs(1), 2.0).with_max(Duration::from_secs(4)),
            )
            .topic_reuse(TopicReuse::TopicPerAttempt);
        assert_eq!(
            names("t", policy),
            [
                "t",
                "t-retry-1000",
                "t-retry-2000",
                "t-retry-4000-0",
                "t-retry-4000-1",
                "t-dlt"
            ]
        );
    }

    #[test]
    fn fixed_backoff_single_topic() {
        let policy = RetryPolicy::new(5).backoff(Backoff::Fixed(Duration::from_secs(1)));
        assert_eq!(names("t", policy.clone()), ["t", "t-retry", "t-dlt"]);
        let chain = TopicChain::new("t", &policy);
        assert_eq!(chain.retries[0].attempts, 2..=5);
    }

    #[test]
    fn fixed_backoff_topic_per_attempt() {
        let policy = RetryPolicy::new(5)
            .backoff(Backoff::Fixed(Duration::from_secs(1)))
            .topic_reuse(TopicReuse::TopicPerAttempt);
        assert_eq!(
            names("t", policy),
            [
                "t",
                "t-retry-0",
                "t-retry-1",
                "t-retry-2",
                "t-retry-3",
                "t-dlt"
            ]
        );
    }

    #[test]
    fn two_attempts_use_plain_retry() {
        assert_eq!(names("t", exp(2)), ["t", "t-retry", "t-dlt"]);
    }

    #[test]
    fn index_suffixing() {
        let policy = exp(4).topic_suffixing(TopicSuffixing::IndexValue);
        assert_eq!(
            names("t", policy),
            ["t", "t-retry-0", "t-retry-1", "t-retry-2", "t-dlt"]
        );
    }

    #[test]
    fn no_dlt_and_no_retries() {
        assert_eq!(names("t", RetryPolicy::new(1).without_dlt()), ["t"]);
    }

    #[test]
    fn stage_lookup() {
        let chain = TopicChain::new("email.send", &exp(5).dlt_suffix(".dlt"));
        assert_eq!(chain.stage_of("email.send"), Some(Stage::Main));
        assert_eq!(chain.stage_of("email.send.dlt"), Some(Stage::Dlt));
        match chain.stage_of("email.send-retry-4000") {
            Some(Stage::Retry(r)) => assert_eq!(r.attempts, 4..=4),
            other => panic!("{other:?}"),
        }
        assert_eq!(chain.stage_of("other"), None);
    }

    #[test]
    fn names_tell_their_chain_and_role() {
        let cases: &[(&str, Option<(&str, TopicRole)>)] = &[
            (
                "email.send-retry-1000",
                Some(("email.send", TopicRole::Retry)),
            ),
            ("email.send-retry", Some(("email.send", TopicRole::Retry))),
            (
                "email.send-retry-4000-1",
                Some(("email.send", TopicRole::Retry)),
            ),
            ("t-retry-0", Some(("t", TopicRole::Retry))),
            ("email.send.dlt", Some(("email.send", TopicRole::Dlt))),
            ("orders-dlt", Some(("orders", TopicRole::Dlt))),
            ("orders.DLT", Some(("orders", TopicRole::Dlt))),
            ("orders-DLT", Some(("orders", TopicRole::Dlt))),
            (
                "email.send.dlt.ledger",
                Some(("email.send", TopicRole::Ledger)),
            ),
            (
                "email.send.dlt.archive",
                Some(("email.send", TopicRole::Archive)),
            ),
            ("email.send", None),
            ("audit.ledger", None),
            (".dlt", None),
            ("-retry-1000", None),
            ("t-retry-1-2-3", None),
            ("t-retry-x", None),
            ("t-retry-", None),
            ("t-retryable", None),
        ];
        for (name, expected) in cases {
            let expected = expected.map(|(main, role)| (main.to_string(), role));
            assert_eq!(classify(name), expected, "{name}");
        }
    }

    #[test]
    fn every_derived_name_is_recognised_back() {
        for policy in [
            exp(5).dlt_suffix(".dlt"),
            exp(2),
            RetryPolicy::new(5).backoff(Backoff::Fixed(Duration::from_secs(1))),
            exp(5).topic_reuse(TopicReuse::TopicPerAttempt).backoff(
                Backoff::exponential(Duration::from_secs(1), 2.0).with_max(Duration::from_secs(4)),
            ),
            exp(4).topic_suffixing(TopicSuffixing::IndexValue),
        ] {
            let chain = TopicChain::new("email.send", &policy);
            for retry in &chain.retries {
                assert_eq!(
                    classify(&retry.name),
                    Some(("email.send".into(), TopicRole::Retry))
                );
            }
            let dlt = chain.dlt.as_deref().unwrap();
            assert_eq!(classify(dlt), Some(("email.send".into(), TopicRole::Dlt)));
            assert_eq!(
                classify(&ledger_topic(dlt)),
                Some(("email.send".into(), TopicRole::Ledger))
            );
            assert_eq!(
                classify(&archive_topic(dlt)),
                Some(("email.send".into(), TopicRole::Archive))
            );
        }
    }

    #[test]
    fn retry_topics_sort_by_delay() {
        let mut names = vec![
            "t-retry-8000",
            "t-retry-1000",
            "t-retry-16000",
            "t-retry-2000",
        ];
        names.sort_by_key(|n| retry_order(n));
        assert_eq!(
            names,
            [
                "t-retry-1000",
                "t-retry-2000",
                "t-retry-8000",
                "t-retry-16000"
            ]
        );
    }
}
