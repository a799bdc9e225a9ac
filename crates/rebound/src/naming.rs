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

/// A DLT of its own for the failures a [`DltRoute`](crate::DltRoute) chooses (Spring's
/// exception-based DLT routing): `<main><route suffix><dlt suffix>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedDlt {
    /// The route's suffix (`-invalid`).
    pub suffix: String,
    /// The topic's name (`orders-invalid-dlt`).
    pub name: String,
}

/// The main topic, its retry topics in order, and its dead-letter topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicChain {
    /// The topic producers write to (empty for a consumer of a DLT alone).
    pub main: String,
    /// The retry topics, shortest delay first.
    pub retries: Vec<RetryTopic>,
    /// The dead-letter topic, unless the policy has none.
    pub dlt: Option<String>,
    /// The DLTs of the policy's routes, in its order (none without a DLT).
    pub routed_dlts: Vec<RoutedDlt>,
}

/// Where a topic sits in a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage<'a> {
    /// The main topic: first deliveries.
    Main,
    /// A retry topic, with the deliveries it makes.
    Retry(&'a RetryTopic),
    /// A dead-letter topic: the DLT, or a routed DLT.
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
        let dlt = policy
            .has_dlt()
            .then(|| dlt_topic(main, &policy.dlt_suffix));
        let mut routed_dlts: Vec<RoutedDlt> = Vec::new();
        if let Some(dlt) = &dlt {
            for route in policy.dlt_routes() {
                // As Spring's `createCustomDltProperties`: the route's suffix, then the DLT's.
                let name = dlt_topic(&format!("{main}{}", route.suffix), &policy.dlt_suffix);
                if name != *dlt && !routed_dlts.iter().any(|r| r.name == name) {
                    routed_dlts.push(RoutedDlt {
                        suffix: route.suffix.clone(),
                        name,
                    });
                }
            }
        }
        TopicChain {
            main: main.to_string(),
            retries,
            dlt,
            routed_dlts,
        }
    }

    /// Every topic of the chain in Spring's order: main first, then the retry topics, the routed
    /// DLTs, and the DLT last.
    pub fn topic_names(&self) -> Vec<&str> {
        let mut names = vec![self.main.as_str()];
        names.extend(self.retries.iter().map(|r| r.name.as_str()));
        names.extend(self.dead_letter_topics());
        names
    }

    /// The chain's DLTs: the routed ones, then the DLT (none without a DLT).
    pub fn dead_letter_topics(&self) -> impl Iterator<Item = &str> {
        self.routed_dlts
            .iter()
            .map(|r| r.name.as_str())
            .chain(self.dlt.as_deref())
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
        if self.dead_letter_topics().any(|dlt| dlt == topic) {
            return Some(Stage::Dlt);
        }
        self.retries
            .iter()
            .find(|r| r.name == topic)
            .map(Stage::Retry)
    }
}

/// Spring collapses the chain into one `-retry` topic when topics are reused
/// (`SINGLE_TOPIC`) and there is a single retry, or every delay is the same. One topic per
/// attempt (`MULTIPLE_TOPICS`) never collapses: a single retry's topic is `-retry-<delay>`
/// (`DestinationTopicPropertiesFactory.getTopicSuffix`).
fn single_topic(policy: &RetryPolicy, delays: &[Duration]) -> bool {
    let fixed =
        matches!(policy.backoff, Backoff::Fixed(_)) || delays.iter().all(|d| *d == delays[0]);
    policy.reuse == TopicReuse::SingleTopic && (delays.len() == 1 || fixed)
}

fn per_delay_topics(base: &str, policy: &RetryPolicy, delays: &[Duration]) -> Vec<RetryTopic> {
    // Spring's `isFixedDelay`: index suffixes, or more than one delay, all the same.
    let all_equal = delays.len() > 1 && delays.iter().all(|d| *d == delays[0]);
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
    /// A dead-letter topic: `<main>-dlt`, `<main>.dlt`, `<main>-DLT` or `<main>.DLT`, or a
    /// routed DLT, `<main><route suffix><dlt suffix>` (see [`chains_among`]).
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

/// The chains of a cluster's topics (`topics`: every topic's name): each chain's main topic and
/// its topics with their roles, as [`classify`] tells them, with routed DLTs put in their chain.
///
/// A routed DLT's name alone reads as the DLT of another main topic: `orders-invalid-dlt` as the
/// DLT of `orders-invalid`. Among the cluster's topics it is told apart: a chain that has no main
/// topic on the cluster and nothing but DLTs (and their ledgers and archives), whose main name
/// starts with the main name of another chain (one that has topics or a main topic on the
/// cluster), belongs to the longest such chain. So `orders-invalid-dlt` goes with `orders` when
/// `orders`, `orders-retry` or `orders-dlt` is there and `orders-invalid` is not.
///
/// ```
/// use rebound::naming::{chains_among, TopicRole};
/// let chains = chains_among(["orders", "orders-retry", "orders-dlt", "orders-invalid-dlt"]);
/// assert_eq!(chains.len(), 1);
/// assert_eq!(chains["orders"], [
///     ("orders-retry".to_string(), TopicRole::Retry),
///     ("orders-dlt".to_string(), TopicRole::Dlt),
///     ("orders-invalid-dlt".to_string(), TopicRole::Dlt),
/// ]);
/// ```
///
/// The main topic itself is not listed (only the cluster can say whether it exists).
pub fn chains_among<'a>(
    topics: impl IntoIterator<Item = &'a str>,
) -> std::collections::BTreeMap<String, Vec<(String, TopicRole)>> {
    let names: std::collections::BTreeSet<&str> = topics.into_iter().collect();
    let mut chains: std::collections::BTreeMap<String, Vec<(String, TopicRole)>> =
        std::collections::BTreeMap::new();
    for name in &names {
        if let Some((main, role)) = classify(name) {
            chains
                .entry(main)
                .or_default()
                .push((name.to_string(), role));
        }
    }
    let routed: Vec<(String, String)> = chains
        .iter()
        .filter(|(main, topics)| {
            !names.contains(main.as_str())
                && topics.iter().all(|(_, role)| {
                    matches!(
                        role,
                        TopicRole::Dlt | TopicRole::Ledger | TopicRole::Archive
                    )
                })
        })
        .filter_map(|(main, _)| {
            let owner = main
                .char_indices()
                .map(|(i, _)| &main[..i])
                .rfind(|prefix| {
                    !prefix.is_empty() && (chains.contains_key(*prefix) || names.contains(prefix))
                })?;
            Some((main.clone(), owner.to_string()))
        })
        .collect();
    for (main, owner) in routed {
        if let Some(topics) = chains.remove(&main) {
            chains.entry(owner).or_default().extend(topics);
        }
    }
    for topics in chains.values_mut() {
        topics.sort_by(|a, b| {
            a.1.cmp(&b.1)
                .then_with(|| retry_order(&a.0).cmp(&retry_order(&b.0)))
                .then_with(|| a.0.cmp(&b.0))
        });
    }
    chains
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
    fn one_retry_of_its_own_topic_is_named_by_its_delay() {
        // `MULTIPLE_TOPICS` (`RetryTopicConfigurationBuilder`'s default) never collapses to
        // `-retry`, as measured against spring-kafka 3.3 and 4.0 (INTEROP.md test 5).
        let per_attempt = |p: RetryPolicy| names("t", p.topic_reuse(TopicReuse::TopicPerAttempt));
        assert_eq!(per_attempt(exp(2)), ["t", "t-retry-1000", "t-dlt"]);
        let fixed = RetryPolicy::new(2).backoff(Backoff::Fixed(Duration::from_millis(200)));
        assert_eq!(per_attempt(fixed.clone()), ["t", "t-retry-200", "t-dlt"]);
        let by_index = fixed.topic_suffixing(TopicSuffixing::IndexValue);
        assert_eq!(per_attempt(by_index), ["t", "t-retry-0", "t-dlt"]);
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

    #[derive(Debug, thiserror::Error)]
    #[error("invalid")]
    struct Invalid;

    fn routed() -> RetryPolicy {
        use crate::policy::DltRoute;
        exp(3)
            .dlt_suffix(".dlt")
            .dlt_route(DltRoute::new("-invalid").on::<Invalid>())
            .dlt_route(DltRoute::new(".deserialization").on::<Invalid>())
            // No DLT of its own: an empty suffix, and a route naming the DLT again.
            .dlt_route(DltRoute::new("").on::<Invalid>())
    }

    #[test]
    fn routed_dlts_put_the_route_before_the_dlt_suffix() {
        let chain = TopicChain::new("email.send", &routed());
        assert_eq!(
            chain.topic_names(),
            [
                "email.send",
                "email.send-retry-1000",
                "email.send-retry-2000",
                "email.send-invalid.dlt",
                "email.send.deserialization.dlt",
                "email.send.dlt"
            ]
        );
        assert_eq!(
            chain.routed_dlts[0],
            RoutedDlt {
                suffix: "-invalid".into(),
                name: "email.send-invalid.dlt".into()
            }
        );
        for dlt in chain.dead_letter_topics() {
            assert_eq!(chain.stage_of(dlt), Some(Stage::Dlt), "{dlt}");
        }
        // Spring's stage group of a routed DLT: the group plus its suffix, as any stage.
        let groups: Vec<(&str, String)> = chain
            .stage_groups("g")
            .into_iter()
            .map(|s| (s.topic, s.group))
            .filter(|(_, g)| g.ends_with("dlt"))
            .collect();
        assert_eq!(
            groups,
            [
                ("email.send-invalid.dlt", "g-invalid.dlt".to_string()),
                (
                    "email.send.deserialization.dlt",
                    "g.deserialization.dlt".to_string()
                ),
                ("email.send.dlt", "g.dlt".to_string()),
            ]
        );
    }

    #[test]
    fn chains_among_a_clusters_topics_take_their_routed_dlts() {
        let chains = |topics: &[&str]| -> Vec<(String, Vec<String>)> {
            chains_among(topics.iter().copied())
                .into_iter()
                .map(|(main, topics)| (main, topics.into_iter().map(|t| t.0).collect()))
                .collect()
        };
        let chain = |main: &str, topics: &[&str]| {
            (
                main.to_string(),
                topics.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            )
        };
        // (the cluster's topics, the chains found)
        type Chains = Vec<(String, Vec<String>)>;
        let cases: &[(&[&str], Chains)] = &[
            (
                &["orders", "orders-retry", "orders-dlt", "orders-invalid-dlt"],
                vec![chain(
                    "orders",
                    &["orders-retry", "orders-dlt", "orders-invalid-dlt"],
                )],
            ),
            // The routed DLT's ledger and archive go with it.
            (
                &[
                    "orders-dlt",
                    "orders-invalid-dlt",
                    "orders-invalid-dlt.ledger",
                    "orders-invalid-dlt.archive",
                ],
                vec![chain(
                    "orders",
                    &[
                        "orders-dlt",
                        "orders-invalid-dlt",
                        "orders-invalid-dlt.ledger",
                        "orders-invalid-dlt.archive",
                    ],
                )],
            ),
            // With the main topic alone on the cluster.
            (
                &["orders", "orders.deserialization.dlt"],
                vec![chain("orders", &["orders.deserialization.dlt"])],
            ),
            // A main topic of its own name: its DLT stays its own.
            (
                &["orders", "orders-dlt", "orders-eu", "orders-eu-dlt"],
                vec![
                    chain("orders", &["orders-dlt"]),
                    chain("orders-eu", &["orders-eu-dlt"]),
                ],
            ),
            // A chain with retry topics is never someone's routed DLT.
            (
                &["orders-dlt", "orders-eu-retry", "orders-eu-dlt"],
                vec![
                    chain("orders", &["orders-dlt"]),
                    chain("orders-eu", &["orders-eu-retry", "orders-eu-dlt"]),
                ],
            ),
            // No chain to belong to: a DLT of its own.
            (
                &["payments-dlt", "orders-invalid-dlt"],
                vec![
                    chain("orders-invalid", &["orders-invalid-dlt"]),
                    chain("payments", &["payments-dlt"]),
                ],
            ),
            // The longest chain that fits.
            (
                &["a", "a-b", "a-b-dlt", "a-b-c-dlt"],
                vec![chain("a-b", &["a-b-c-dlt", "a-b-dlt"])],
            ),
        ];
        for (topics, expected) in cases {
            assert_eq!(&chains(topics), expected, "{topics:?}");
        }
    }

    #[test]
    fn every_derived_routed_dlt_is_found_in_its_chain() {
        for policy in [
            routed(),
            routed().dlt_suffix("-dlt"),
            routed().dlt_suffix(".DLT"),
        ] {
            let chain = TopicChain::new("email.send", &policy);
            let names = chain.topic_names();
            let found = chains_among(names.iter().copied());
            assert_eq!(found.len(), 1, "{names:?}");
            let roles: Vec<(&str, TopicRole)> = found["email.send"]
                .iter()
                .map(|(t, r)| (t.as_str(), *r))
                .collect();
            let mut expected: Vec<(&str, TopicRole)> = chain
                .retries
                .iter()
                .map(|r| (r.name.as_str(), TopicRole::Retry))
                .collect();
            let mut dlts: Vec<&str> = chain.dead_letter_topics().collect();
            dlts.sort();
            expected.extend(dlts.into_iter().map(|d| (d, TopicRole::Dlt)));
            assert_eq!(roles, expected);
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
