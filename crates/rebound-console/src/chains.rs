//! The chains on the cluster, asked for in the background and kept, so `/` answers at once.
//! Finding them (`rebound_ops::topics::discover`) asks every consumer group for its offsets: a
//! minute and more on a cluster with hundreds of chains and thousands of groups, far too long
//! for a page. One task asks again after each answer (every 30 seconds, or twice as long as the
//! last answer took, whichever is longer), measures each DLT's inflow of the last 24 hours
//! (`rebound_ops::inflow`: a few small requests per DLT, no record read), starts the index of the
//! fullest DLTs it finds (up to 16; others start when first asked for), and stops when the
//! console is dropped. The chains are shown as soon as they are read, the inflows when measured
//! (until then, the last read's). A DLT whose inflow cannot be measured keeps its error in the
//! snapshot ("inflow unknown" on the page); the other DLTs and the chains are shown all the same.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rebound::naming::TopicRole;
use rebound::{EpochMillis, KafkaConfig};
use rebound_ops::inflow::{inflow, next_boundary, Inflow};
use rebound_ops::topics::ChainInfo;

use crate::Shared;

/// At most this many DLTs are indexed ahead of being asked for.
const PREWARM: usize = 16;

/// The least time between two reads of the cluster's chains.
const EVERY: Duration = Duration::from_secs(30);

/// A DLT's inflow is counted in this many buckets of this width: the last day, by the hour.
pub(crate) const INFLOW_BUCKETS: usize = 24;
pub(crate) const INFLOW_WIDTH: Duration = Duration::from_secs(3600);

/// DLTs whose inflow is measured at once (each is a Kafka client on the blocking pool).
const INFLOW_AT_ONCE: usize = 4;

/// Each DLT's inflow, or why it could not be measured.
pub(crate) type Inflows = BTreeMap<String, Result<Inflow, String>>;

/// The chains as last read.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) chains: Arc<Vec<ChainInfo>>,
    /// The inflow of every DLT of `chains`.
    pub(crate) inflows: Arc<Inflows>,
    /// When the read finished.
    pub(crate) at: EpochMillis,
    /// How long it took.
    pub(crate) took: Duration,
}

/// The kept chains and whether the task reading them runs.
#[derive(Debug, Default)]
pub(crate) struct Chains {
    latest: RwLock<Option<Snapshot>>,
    error: RwLock<Option<String>>,
    started: std::sync::atomic::AtomicBool,
}

impl Chains {
    /// The chains as last read (`None` before the first read ends) and the last error.
    pub(crate) fn latest(&self) -> (Option<Snapshot>, Option<String>) {
        (
            self.latest.read().expect("chains lock").clone(),
            self.error.read().expect("chains lock").clone(),
        )
    }

    /// Starts the reading task once (on a Tokio runtime).
    pub(crate) fn start(&self, shared: &Arc<Shared>) {
        if !self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            tokio::spawn(refresh(Arc::downgrade(shared)));
        }
    }
}

async fn refresh(shared: Weak<Shared>) {
    loop {
        let Some(kafka) = shared.upgrade().map(|s| s.kafka.clone()) else {
            return;
        };
        let started = Instant::now();
        let read = rebound_ops::topics::discover(&kafka).await;
        let took = started.elapsed();
        let Some(console) = shared.upgrade() else {
            return;
        };
        match read {
            Ok(chains) => {
                // Each index is two followers with a Kafka client each: only the DLTs that
                // hold dead letters, the fullest first, up to a bound; others start when asked.
                let mut dlts: Vec<_> = chains
                    .iter()
                    .flat_map(|c| &c.topics)
                    .filter(|t| t.role == TopicRole::Dlt && t.records > 0)
                    .collect();
                dlts.sort_by_key(|t| std::cmp::Reverse(t.records));
                for topic in dlts.into_iter().take(PREWARM) {
                    let _ = console.indexes.get(&topic.name).await;
                }
                // The chains are shown at once, with the inflows measured last time; the new
                // inflows follow (on a cluster of hundreds of DLTs they take seconds more).
                let chains = Arc::new(chains);
                let previous = console.chains.latest().0.map(|s| s.inflows);
                *console.chains.latest.write().expect("chains lock") = Some(Snapshot {
                    chains: chains.clone(),
                    inflows: previous.unwrap_or_default(),
                    at: EpochMillis::now(),
                    took,
                });
                *console.chains.error.write().expect("chains lock") = None;
                drop(console);
                let measured = Arc::new(inflows(&kafka, &chains).await);
                let Some(console) = shared.upgrade() else {
                    return;
                };
                let mut latest = console.chains.latest.write().expect("chains lock");
                if let Some(snapshot) = latest.as_mut() {
                    snapshot.inflows = measured;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the chains on the cluster");
                *console.chains.error.write().expect("chains lock") = Some(e.to_string());
                drop(console);
            }
        }
        tokio::time::sleep(EVERY.max(took * 2)).await;
    }
}

/// The inflow of every DLT of `chains` in the last [`INFLOW_BUCKETS`] hours, up to the hour now
/// filling; a few DLTs at a time. A DLT that cannot be measured is logged and keeps its error.
async fn inflows(kafka: &KafkaConfig, chains: &[ChainInfo]) -> Inflows {
    let end = next_boundary(EpochMillis::now(), INFLOW_WIDTH);
    let dlts: Vec<(KafkaConfig, String)> = chains
        .iter()
        .flat_map(|c| &c.topics)
        .filter(|t| t.role == TopicRole::Dlt)
        .map(|t| (kafka.clone(), t.name.clone()))
        .collect();
    // Each measurement owns its settings and name: `tokio::spawn` of the refresh loop needs
    // futures that borrow nothing across the stream's closure.
    futures::stream::iter(dlts)
        .map(|(kafka, dlt)| async move {
            let measured = inflow(&kafka, &dlt, INFLOW_BUCKETS, INFLOW_WIDTH, end).await;
            let measured = measured.map_err(|e| {
                tracing::warn!(error = %e, "could not measure the inflow of {dlt}");
                e.to_string()
            });
            (dlt, measured)
        })
        .buffer_unordered(INFLOW_AT_ONCE)
        .collect()
        .await
}
