//! The consumer group Spring Kafka reads each stage of a chain in.
//!
//! Spring gives every stage of a `@RetryableTopic` its own listener container, and each container
//! its own group: the listener's group id plus the stage's topic suffix, verbatim
//! (`EndpointCustomizerFactory` sets the endpoint's group to
//! `SuffixingRetryTopicNamesProvider.getGroupId`, which is `Suffixer.maybeAddTo(groupId)`; the
//! same in spring-kafka 3.3 and 4.0). So `email-send-group` reads `email.send`,
//! `email-send-group-retry-1000` reads `email.send-retry-1000`, and `email-send-group.dlt` reads
//! `email.send.dlt`. Rebound reads the main topic and its retry topics in one group; moving a
//! chain from one to the other moves offsets between these groups (`rebound groups handover`).

use super::{Stage, TopicChain};

/// One stage of a chain and the group Spring's container for it reads in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageGroup<'a> {
    /// The stage's topic.
    pub topic: &'a str,
    /// Its place in the chain.
    pub stage: Stage<'a>,
    /// Spring's consumer group for it.
    pub group: String,
}

/// Spring's group for the stage whose topic is the main topic's name plus `suffix`, when the
/// listener's group is `group`: `group` + `suffix`, verbatim. As Spring's `Suffixer`, neither is
/// trimmed, and a `group` or `suffix` without text (empty, or only whitespace) leaves `group` as
/// it is: the main topic's stage (no suffix) reads in `group` itself, and a listener without a
/// group id gets no stage groups (every container then falls back to the consumer factory's
/// `group.id`).
///
/// ```
/// use rebound::naming::stage_group;
/// assert_eq!(stage_group("email-send-group", "-retry-1000"), "email-send-group-retry-1000");
/// assert_eq!(stage_group("email-send-group", ".dlt"), "email-send-group.dlt");
/// assert_eq!(stage_group("email-send-group", ""), "email-send-group");
/// ```
pub fn stage_group(group: &str, suffix: &str) -> String {
    if has_text(group) && has_text(suffix) {
        format!("{group}{suffix}")
    } else {
        group.to_string()
    }
}

/// Spring's `StringUtils.hasText`: some character that is not whitespace.
fn has_text(text: &str) -> bool {
    text.chars().any(|c| !c.is_whitespace())
}

impl TopicChain {
    /// What the topic of a stage adds to the main topic's name: `""` for the main topic,
    /// `-retry-1000`, `-retry`, `-retry-4000-0`, `.dlt`. `None` for a topic outside the chain;
    /// `""` for every stage of a chain without a main topic (a consumer of a DLT alone, which
    /// Spring would read with a plain listener in the group as given).
    pub fn suffix_of<'t>(&self, topic: &'t str) -> Option<&'t str> {
        self.stage_of(topic)?;
        if self.main.is_empty() {
            return Some("");
        }
        topic.strip_prefix(self.main.as_str())
    }

    /// Every stage of the chain, main first and DLT last, with the group Spring reads it in when
    /// the listener's group is `group` (see [`stage_group`]). A retry topic shared by several
    /// attempts is one stage, read by one container.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rebound::naming::TopicChain;
    /// use rebound::{Backoff, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new(3)
    ///     .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
    ///     .dlt_suffix(".dlt");
    /// let chain = TopicChain::new("email.send", &policy);
    /// let groups: Vec<(&str, String)> =
    ///     chain.stage_groups("g").into_iter().map(|s| (s.topic, s.group)).collect();
    /// assert_eq!(groups, [
    ///     ("email.send", "g".to_string()),
    ///     ("email.send-retry-1000", "g-retry-1000".to_string()),
    ///     ("email.send-retry-2000", "g-retry-2000".to_string()),
    ///     ("email.send.dlt", "g.dlt".to_string()),
    /// ]);
    /// ```
    pub fn stage_groups(&self, group: &str) -> Vec<StageGroup<'_>> {
        self.topic_names()
            .into_iter()
            .filter(|topic| !topic.is_empty())
            .filter_map(|topic| {
                let stage = self.stage_of(topic)?;
                let suffix = self.suffix_of(topic)?;
                Some(StageGroup {
                    topic,
                    stage,
                    group: stage_group(group, suffix),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::{Backoff, RetryPolicy, TopicReuse, TopicSuffixing};

    fn exp(attempts: u32) -> RetryPolicy {
        RetryPolicy::new(attempts).backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
    }

    fn capped(attempts: u32) -> RetryPolicy {
        RetryPolicy::new(attempts).backoff(
            Backoff::exponential(Duration::from_secs(1), 2.0).with_max(Duration::from_secs(4)),
        )
    }

    fn fixed(attempts: u32) -> RetryPolicy {
        RetryPolicy::new(attempts).backoff(Backoff::Fixed(Duration::from_secs(1)))
    }

    fn groups(chain: &TopicChain, group: &str) -> Vec<(String, String)> {
        chain
            .stage_groups(group)
            .into_iter()
            .map(|s| (s.topic.to_string(), s.group))
            .collect()
    }

    /// What a case is about, the policy, and each topic of the chain with its group.
    type Case = (
        &'static str,
        RetryPolicy,
        &'static [(&'static str, &'static str)],
    );

    /// Each chain's topics with Spring's group for each, for the listener group `G`.
    #[test]
    fn spring_groups_of_each_stage() {
        let cases: &[Case] = &[
            (
                "the scenario: delays 1000/2000/4000/8000, `.dlt`",
                exp(5).dlt_suffix(".dlt"),
                &[
                    ("t", "G"),
                    ("t-retry-1000", "G-retry-1000"),
                    ("t-retry-2000", "G-retry-2000"),
                    ("t-retry-4000", "G-retry-4000"),
                    ("t-retry-8000", "G-retry-8000"),
                    ("t.dlt", "G.dlt"),
                ],
            ),
            (
                "Spring's default DLT suffix",
                exp(3),
                &[
                    ("t", "G"),
                    ("t-retry-1000", "G-retry-1000"),
                    ("t-retry-2000", "G-retry-2000"),
                    ("t-dlt", "G-dlt"),
                ],
            ),
            (
                "fixed back-off: one reused `-retry` topic, one group",
                fixed(5),
                &[("t", "G"), ("t-retry", "G-retry"), ("t-dlt", "G-dlt")],
            ),
            (
                "a single retry: plain `-retry`",
                exp(2).dlt_suffix(".dlt"),
                &[("t", "G"), ("t-retry", "G-retry"), ("t.dlt", "G.dlt")],
            ),
            (
                "capped delays share the last topic, and its group",
                capped(5),
                &[
                    ("t", "G"),
                    ("t-retry-1000", "G-retry-1000"),
                    ("t-retry-2000", "G-retry-2000"),
                    ("t-retry-4000", "G-retry-4000"),
                    ("t-dlt", "G-dlt"),
                ],
            ),
            (
                "capped delays, a topic per attempt: index after the delay",
                capped(5).topic_reuse(TopicReuse::TopicPerAttempt),
                &[
                    ("t", "G"),
                    ("t-retry-1000", "G-retry-1000"),
                    ("t-retry-2000", "G-retry-2000"),
                    ("t-retry-4000-0", "G-retry-4000-0"),
                    ("t-retry-4000-1", "G-retry-4000-1"),
                    ("t-dlt", "G-dlt"),
                ],
            ),
            (
                "fixed back-off, a topic per attempt",
                fixed(4).topic_reuse(TopicReuse::TopicPerAttempt),
                &[
                    ("t", "G"),
                    ("t-retry-0", "G-retry-0"),
                    ("t-retry-1", "G-retry-1"),
                    ("t-retry-2", "G-retry-2"),
                    ("t-dlt", "G-dlt"),
                ],
            ),
            (
                "index suffixing",
                exp(4).topic_suffixing(TopicSuffixing::IndexValue),
                &[
                    ("t", "G"),
                    ("t-retry-0", "G-retry-0"),
                    ("t-retry-1", "G-retry-1"),
                    ("t-retry-2", "G-retry-2"),
                    ("t-dlt", "G-dlt"),
                ],
            ),
            (
                "custom suffixes, verbatim",
                exp(2).retry_suffix(".again").dlt_suffix("_DEAD"),
                &[("t", "G"), ("t.again", "G.again"), ("t_DEAD", "G_DEAD")],
            ),
            (
                "no retries, no DLT",
                RetryPolicy::new(1).without_dlt(),
                &[("t", "G")],
            ),
        ];
        for (what, policy, expected) in cases {
            let chain = TopicChain::new("t", policy);
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(t, g)| (t.to_string(), g.to_string()))
                .collect();
            assert_eq!(groups(&chain, "G"), expected, "{what}");
        }
    }

    #[test]
    fn suffixes_only_a_group_with_text() {
        let cases = [
            ("G", "-retry-1000", "G-retry-1000"),
            ("G", ".dlt", "G.dlt"),
            ("G", "", "G"),
            ("G", " ", "G"),
            ("", "-retry-1000", ""),
            (" ", "-retry-1000", " "),
            (" G ", "-retry", " G -retry"),
        ];
        for (group, suffix, expected) in cases {
            assert_eq!(
                stage_group(group, suffix),
                expected,
                "{group:?} + {suffix:?}"
            );
        }
    }

    #[test]
    fn stages_keep_their_place() {
        let chain = TopicChain::new("t", &capped(5));
        let stages = chain.stage_groups("G");
        assert_eq!(stages[0].stage, Stage::Main);
        match stages[3].stage {
            Stage::Retry(retry) => assert_eq!(retry.attempts, 4..=5),
            other => panic!("{other:?}"),
        }
        assert_eq!(stages[4].stage, Stage::Dlt);
        assert_eq!(chain.suffix_of("t-retry-2000"), Some("-retry-2000"));
        assert_eq!(chain.suffix_of("other"), None);
    }

    #[test]
    fn a_dead_letter_consumer_keeps_its_group() {
        let chain = TopicChain {
            main: String::new(),
            retries: Vec::new(),
            dlt: Some("t.dlt".into()),
            routed_dlts: Vec::new(),
        };
        assert_eq!(groups(&chain, "G.dlt"), [("t.dlt".into(), "G.dlt".into())]);
    }
}
