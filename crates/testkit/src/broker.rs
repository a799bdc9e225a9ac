//! Which broker a test talks to: the shared test broker (`KAFKA_BROKERS`, default
//! `127.0.0.1:9092`, the one `cargo xtask broker start` runs), or a [`PrivateBroker`] of the
//! test's own.

use std::time::Duration;

use rebound::KafkaConfig;

/// The shared test broker.
pub fn kafka() -> KafkaConfig {
    KafkaConfig::from_env()
}

/// A cluster to talk to: the shared test broker by default, or a [`PrivateBroker`].
#[derive(Clone)]
pub struct Cluster(pub KafkaConfig);

impl Default for Cluster {
    fn default() -> Self {
        Cluster(kafka())
    }
}

/// A broker of a test's own (Apache Kafka, or Tansu with `REBOUND_BROKER=tansu`, on free ports
/// with its data in a temporary folder), for tests that kill and restart the broker without
/// disturbing the tests that share the main one. Dropping it kills it and deletes its data.
pub struct PrivateBroker(test_broker::PrivateCluster);

impl PrivateBroker {
    /// One node, ready to serve.
    pub fn start() -> PrivateBroker {
        Self::cluster(1)
    }

    /// `nodes` nodes (three: replication factor 3, `min.insync.replicas=2`), every one ready and
    /// seeing the others.
    pub fn cluster(nodes: usize) -> PrivateBroker {
        PrivateBroker(test_broker::PrivateCluster::start(nodes).expect("start a private broker"))
    }

    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig::new(self.0.bootstrap())
    }

    /// Kills every node (SIGKILL): the data stays on disk.
    pub fn stop(&mut self) {
        for index in 0..self.0.layout().nodes.len() {
            self.0.kill(index);
        }
    }

    /// Starts every node again on the same ports and data, and waits until it serves clients.
    pub fn restart(&mut self) {
        self.0.restart_all().expect("restart the broker");
    }

    /// Kills the node whose Kafka `node.id` is `id` (SIGKILL), as a crash would.
    pub fn kill_node(&mut self, id: i32) {
        let index = self.0.index_of(id).expect("no such node");
        self.0.kill(index);
    }

    /// Starts node `id` again and returns how long it took to serve clients and see the cluster.
    pub fn restart_node(&mut self, id: i32) -> Duration {
        let index = self.0.index_of(id).expect("no such node");
        self.0.restart(index).expect("restart a broker node")
    }
}
