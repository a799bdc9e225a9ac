//! Which stages of its chain a consumer reads ([`Stages`]), and in which consumer groups: one
//! group for every stage (Rebound's way), or Spring's group per stage, so that a Spring service
//! and a Rebound worker can share each stage's group while a shop moves from one to the other.

use super::builder::RetryingConsumerBuilder;
use super::settings::{subscribed_topics, Settings};
use crate::naming::stage_group;

/// Which stages of the chain a consumer reads. The DLT is read when the consumer has a
/// dead-letter hook ([`dlt_handler`](super::RetryingConsumerBuilder::dlt_handler)), whatever
/// this says.
///
/// ```no_run
/// use rebound::{KafkaConfig, Record, RetryingConsumer, Stages};
/// // A worker that only drains the retry topics, beside a Spring service that reads the main topic.
/// let consumer = RetryingConsumer::builder(KafkaConfig::from_env(), "email.send", "email-send-group")
///     .group_per_stage(true)
///     .stages(Stages::RETRIES)
///     .handler(|_: Record| async { Ok(()) })
///     .build()?;
/// # Ok::<(), rebound::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    main: bool,
    retries: bool,
}

impl Stages {
    /// The main topic and every retry topic (the default).
    pub const ALL: Stages = Stages {
        main: true,
        retries: true,
    };
    /// The main topic alone: failed records are still sent on to the retry topics, for whoever
    /// reads them.
    pub const MAIN: Stages = Stages {
        main: true,
        retries: false,
    };
    /// The retry topics alone.
    pub const RETRIES: Stages = Stages {
        main: false,
        retries: true,
    };

    /// Whether the main topic is read.
    pub fn main(&self) -> bool {
        self.main
    }

    /// Whether the retry topics are read.
    pub fn retries(&self) -> bool {
        self.retries
    }
}

impl Default for Stages {
    fn default() -> Self {
        Stages::ALL
    }
}

/// The options of [`RetryingConsumerBuilder`] for a shop moving between Spring Kafka and Rebound.
impl RetryingConsumerBuilder {
    /// Consumes each stage of the chain in the consumer group Spring Kafka's `@RetryableTopic`
    /// reads it in: the main topic in the group given, each retry topic in that group plus the
    /// topic's suffix (`email-send-group-retry-1000`), the DLT (with a
    /// [`dlt_handler`](Self::dlt_handler)) in the group plus the DLT suffix
    /// (`email-send-group.dlt`). Default: one group for every stage.
    ///
    /// With it, a Spring service and a Rebound worker share each stage's group at the same time
    /// (Kafka splits the partitions between them), so a shop moves one consumer at a time, and
    /// back, with nothing handled twice beyond the records in hand when a member leaves: each
    /// stage's committed offsets are the ones Spring committed. See INTEROP.md's migration guide.
    ///
    /// [`ProcessingOrder::Key`](crate::ProcessingOrder::Key) needs the member that owns partition *p* of the main topic to own
    /// *p* of every retry topic, which separate groups do not give: [`build`](RetryingConsumerBuilder::build)
    /// refuses the two together.
    pub fn group_per_stage(mut self, per_stage: bool) -> Self {
        self.settings.group_per_stage = per_stage;
        self
    }

    /// Which stages of the chain this consumer reads (default [`Stages::ALL`]); with
    /// [`Stages::RETRIES`] a worker drains the retry topics while another service reads the
    /// main topic. The DLT follows the [`dlt_handler`](Self::dlt_handler).
    pub fn stages(mut self, stages: Stages) -> Self {
        self.settings.stages = stages;
        self
    }
}

/// One consumer group this consumer joins, and the chain's topics it reads there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member<'a> {
    pub group: String,
    pub topics: Vec<&'a str>,
}

/// The groups this consumer joins: one with every topic it reads, or with
/// [`group_per_stage`](super::RetryingConsumerBuilder::group_per_stage) one per stage, named as
/// Spring names them ([`stage_group`]): `G` for the main topic, `G-retry-1000` for
/// `T-retry-1000`, `G.dlt` for `T.dlt`. A retry topic shared by several attempts is one stage.
pub(crate) fn members(settings: &Settings) -> Vec<Member<'_>> {
    let topics = subscribed_topics(settings);
    if !settings.group_per_stage {
        return vec![Member {
            group: settings.group.clone(),
            topics,
        }];
    }
    let mut members: Vec<Member<'_>> = Vec::new();
    for topic in topics {
        let suffix = settings.chain.suffix_of(topic).unwrap_or("");
        let group = stage_group(&settings.group, suffix);
        match members.iter_mut().find(|m| m.group == group) {
            Some(member) => member.topics.push(topic),
            None => members.push(Member {
                group,
                topics: vec![topic],
            }),
        }
    }
    members
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Backoff, KafkaConfig, Record, RetryPolicy, RetryingConsumer};

    fn scenario() -> RetryPolicy {
        RetryPolicy::new(5)
            .backoff(Backoff::exponential(Duration::from_secs(1), 2.0))
            .dlt_suffix(".dlt")
    }

    fn groups(stages: Stages, per_stage: bool, hook: bool) -> Vec<(String, Vec<String>)> {
        let mut builder = RetryingConsumer::builder(
            KafkaConfig::new("localhost:9092"),
            "email.send",
            "email-send-group",
        )
        .policy(scenario())
        .stages(stages)
        .group_per_stage(per_stage)
        .handler(|_: Record| async { Ok(()) });
        if hook {
            builder = builder.dlt_handler(|_: Record| async { Ok(()) });
        }
        let settings = builder.into_settings();
        members(&settings)
            .into_iter()
            .map(|m| (m.group, m.topics.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    fn member(group: &str, topics: &[&str]) -> (String, Vec<String>) {
        (
            group.to_string(),
            topics.iter().map(|t| t.to_string()).collect(),
        )
    }

    #[test]
    fn one_group_reads_every_stage_unless_asked_for_springs() {
        let all = [
            "email.send",
            "email.send-retry-1000",
            "email.send-retry-2000",
            "email.send-retry-4000",
            "email.send-retry-8000",
        ];
        assert_eq!(
            groups(Stages::ALL, false, false),
            [member("email-send-group", &all)]
        );
        assert_eq!(
            groups(Stages::ALL, true, true),
            [
                member("email-send-group", &["email.send"]),
                member("email-send-group-retry-1000", &["email.send-retry-1000"]),
                member("email-send-group-retry-2000", &["email.send-retry-2000"]),
                member("email-send-group-retry-4000", &["email.send-retry-4000"]),
                member("email-send-group-retry-8000", &["email.send-retry-8000"]),
                member("email-send-group.dlt", &["email.send.dlt"]),
            ]
        );
    }

    #[test]
    fn a_worker_reads_only_the_stages_it_is_given() {
        assert_eq!(
            groups(Stages::MAIN, true, false),
            [member("email-send-group", &["email.send"])]
        );
        let retries = groups(Stages::RETRIES, true, false);
        assert_eq!(retries.len(), 4);
        assert_eq!(
            retries[0],
            member("email-send-group-retry-1000", &["email.send-retry-1000"])
        );
        assert_eq!(
            groups(Stages::RETRIES, false, false)[0].1.len(),
            4,
            "one group, the retry topics alone"
        );
    }
}
