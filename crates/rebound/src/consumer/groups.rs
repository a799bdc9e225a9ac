//! In which consumer groups a consumer reads its stages: one group for every stage (Rebound's
//! way), or Spring's group per stage, so that a Spring service and a Rebound worker can share each
//! stage's group while a shop moves from one to the other.

use super::settings::{subscribed_topics, Settings};
use crate::naming::stage_group;

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
    use crate::consumer::stages::Stages;
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
