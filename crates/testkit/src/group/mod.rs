//! Consumer groups in tests. Here: a group as the broker sees it, its state, its members and which
//! partitions each one was assigned (a test asks the broker rather than the members' logs when it
//! must know that a member left or who owns a partition); `offsets`: committed offsets arranged
//! and read back; `member`: a live member that holds partitions until dropped.

mod member;
mod offsets;

pub use member::{live_member, live_member_with};
pub use offsets::{commit_offsets, committed_offsets, Committed};

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::broker::Cluster;

/// A topic and partition.
pub type Partition = (String, i32);

/// A classic consumer group now.
#[derive(Debug, Clone, Default)]
pub struct GroupView {
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty`, `Dead`.
    pub state: String,
    /// Its members now.
    pub members: Vec<Member>,
}

/// One member of a group.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member id. A static member's (`group.instance.id`) starts with its instance id and a
    /// dash: Kafka names it `<instance id>-<uuid>`.
    pub id: String,
    /// The partitions of its assignment (empty while the group rebalances).
    pub partitions: BTreeSet<Partition>,
}

impl GroupView {
    /// The member whose static instance id is `instance`, if it is in the group.
    pub fn instance(&self, instance: &str) -> Option<&Member> {
        let prefix = format!("{instance}-");
        self.members.iter().find(|m| m.id.starts_with(&prefix))
    }

    /// Every partition assigned to some member.
    pub fn assigned(&self) -> BTreeSet<Partition> {
        self.members
            .iter()
            .flat_map(|m| m.partitions.iter().cloned())
            .collect()
    }
}

impl Cluster {
    /// What the broker says of consumer group `group` now; `None` when it cannot be asked.
    /// Blocking (a request to the group coordinator).
    pub fn group(&self, group: &str) -> Option<GroupView> {
        let consumer: BaseConsumer = self.0.client_config(&[]).create().ok()?;
        let list = consumer
            .fetch_group_list(Some(group), Duration::from_secs(5))
            .ok()?;
        let info = list.groups().iter().find(|g| g.name() == group)?;
        Some(GroupView {
            state: info.state().to_string(),
            members: info
                .members()
                .iter()
                .map(|m| Member {
                    id: m.id().to_string(),
                    partitions: m.assignment().map(assignment).unwrap_or_default(),
                })
                .collect(),
        })
    }
}

/// The partitions of a classic consumer protocol `Assignment` (version, then an array of topics
/// each with an array of partitions; user data after, ignored). Nothing for bytes it cannot read.
fn assignment(bytes: &[u8]) -> BTreeSet<Partition> {
    fn read(bytes: &[u8]) -> Option<BTreeSet<Partition>> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let slice = bytes.get(at..at + n)?;
            at += n;
            Some(slice)
        };
        let _version = take(2)?;
        let topics = i32::from_be_bytes(take(4)?.try_into().ok()?);
        let mut out = BTreeSet::new();
        for _ in 0..topics.max(0) {
            let len = i16::from_be_bytes(take(2)?.try_into().ok()?);
            let topic = String::from_utf8(take(len.max(0) as usize)?.to_vec()).ok()?;
            let partitions = i32::from_be_bytes(take(4)?.try_into().ok()?);
            for _ in 0..partitions.max(0) {
                let partition = i32::from_be_bytes(take(4)?.try_into().ok()?);
                out.insert((topic.clone(), partition));
            }
        }
        Some(out)
    }
    read(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_lists_its_topics_partitions() {
        let mut bytes = vec![0, 1]; // version 1
        bytes.extend(2i32.to_be_bytes());
        for (topic, partitions) in [("a", vec![0i32, 1]), ("bb", vec![3])] {
            bytes.extend((topic.len() as i16).to_be_bytes());
            bytes.extend(topic.as_bytes());
            bytes.extend((partitions.len() as i32).to_be_bytes());
            for p in partitions {
                bytes.extend(p.to_be_bytes());
            }
        }
        bytes.extend((-1i32).to_be_bytes()); // no user data
        let expected: BTreeSet<Partition> = [("a", 0), ("a", 1), ("bb", 3)]
            .into_iter()
            .map(|(t, p)| (t.to_string(), p))
            .collect();
        assert_eq!(assignment(&bytes), expected);
        assert!(assignment(&bytes[..7]).is_empty(), "cut short");
        assert!(assignment(&[]).is_empty());
    }
}
