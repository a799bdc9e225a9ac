//! Reading a DLT for the audit: every dead letter's id and the two headers the audit checks.

use rebound::headers as h;

use crate::Cluster;

/// One dead letter: the record's id (`None` when its payload is not `{"id": N, …}`), its
/// `rebound-failure-class` and its `retry_topic-attempts` as written.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// From the payload `{"id": N, …}`.
    pub id: Option<u64>,
    /// `rebound-failure-class`, as text.
    pub class: Option<String>,
    /// `retry_topic-attempts`, the bytes as written.
    pub attempts: Option<Vec<u8>>,
}

/// Every dead letter now in `dlt`, read with [`Cluster::read_each`] (which waits on a slow broker
/// as long as it makes progress), only what the audit checks kept of each.
pub fn read_dead_letters(cluster: &Cluster, dlt: &str) -> Vec<DeadLetter> {
    let mut letters = Vec::new();
    cluster.read_each(dlt, |record| {
        letters.push(DeadLetter {
            id: record
                .json::<serde_json::Value>()
                .ok()
                .and_then(|v| v.get("id")?.as_u64()),
            class: record.headers().text(h::FAILURE_CLASS),
            attempts: record.headers().last(h::ATTEMPTS).map(<[u8]>::to_vec),
        });
    });
    letters
}
