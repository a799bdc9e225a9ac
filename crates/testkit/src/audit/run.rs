//! The start of a run of the test workers: the topic they read, the chain they build on it, and
//! the folder of the run's journal and logs.

use std::path::PathBuf;
use std::time::Duration;

use rebound::naming::TopicChain;
use rebound::{Backoff, RetryPolicy};

use crate::{unique, Cluster};

/// A run of the test workers (`chaos-worker`, `chain-worker`), as its [`audit`](super::audit)
/// reads it.
pub struct WorkerRun {
    /// The main topic, created.
    pub topic: String,
    /// The chain the workers build on it: `--dlt-suffix .dlt`, back-off doubling from `--delay-ms`.
    pub chain: TopicChain,
    /// The chain's DLT.
    pub dlt: String,
    /// The run's folder (in the system's temporary folder): the journal and the workers' logs.
    pub dir: PathBuf,
    /// The journal the workers append to.
    pub journal: PathBuf,
}

impl WorkerRun {
    /// Creates a unique main topic named after `name` with `partitions` on `cluster`, and the
    /// run's folder; the chain is that of `attempts` deliveries, `delay` doubling. Prints where
    /// the logs go.
    pub async fn start(
        cluster: &Cluster,
        name: &str,
        partitions: i32,
        attempts: u32,
        delay: Duration,
    ) -> WorkerRun {
        let topic = unique(name);
        cluster.create_topic(&topic, partitions).await;
        let policy = RetryPolicy::new(attempts)
            .backoff(Backoff::exponential(delay, 2.0))
            .dlt_suffix(".dlt");
        let chain = TopicChain::new(&topic, &policy);
        let dlt = chain.dlt.clone().expect("a chain with a DLT");
        let dir = std::env::temp_dir().join(unique(name));
        std::fs::create_dir_all(&dir).expect("the run's folder");
        println!(
            "{name}: chain {:?}; logs in {}",
            chain.topic_names(),
            dir.display()
        );
        WorkerRun {
            journal: dir.join("journal"),
            topic,
            chain,
            dlt,
            dir,
        }
    }
}
