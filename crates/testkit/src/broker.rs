//! Which broker a test talks to: the shared test broker (`KAFKA_BROKERS`, default
//! `127.0.0.1:9092`, the one `cargo xtask broker start` runs), or a [`PrivateBroker`] of the
//! test's own.
//!
//! The shared broker is asked once per test process whether it answers: without one, every test
//! would otherwise fail slowly, each on its own timeout, and none would say why.

use std::net::ToSocketAddrs;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rebound::KafkaConfig;
use rebound::BROKERS_ENV;

use crate::proxy::Proxy;

/// How long the shared broker gets to answer the first time a test asks for it: a broker that
/// is up answers in milliseconds; a few seconds cover one still finishing its start.
const ANSWER_PATIENCE: Duration = Duration::from_secs(5);

/// The shared test broker. Panics, once per test and at once, with a line saying what to do
/// when no broker answers there (the first call in a process asks, for at most a few seconds).
pub fn kafka() -> KafkaConfig {
    static ANSWERS: OnceLock<Result<(), String>> = OnceLock::new();
    let kafka = KafkaConfig::from_env();
    if let Err(line) = ANSWERS.get_or_init(|| answers(kafka.brokers(), ANSWER_PATIENCE)) {
        panic!("{line}");
    }
    kafka
}

/// Whether any broker of the bootstrap list `brokers` answers a Kafka request within `patience`;
/// otherwise the line that tells a person what to do.
fn answers(brokers: &str, patience: Duration) -> Result<(), String> {
    let deadline = Instant::now() + patience;
    loop {
        if brokers.split(',').any(answers_at) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(match std::env::var(BROKERS_ENV) {
                Ok(_) => format!(
                    "no Kafka broker answers at {brokers} ({BROKERS_ENV}): start it, or unset \
                     {BROKERS_ENV} and run `cargo xtask broker start`"
                ),
                Err(_) => format!(
                    "no Kafka broker answers at {brokers}: run `cargo xtask broker start` (or set \
                     {BROKERS_ENV})"
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether the broker at `address` (`host:port`, optionally `PLAINTEXT://host:port`) answers an
/// ApiVersions request: a Kafka-speaking process is there, not merely an open port.
fn answers_at(address: &str) -> bool {
    let address = address.trim();
    let address = address.rsplit("://").next().unwrap_or(address);
    address
        .to_socket_addrs()
        .is_ok_and(|mut addrs| addrs.any(test_broker::probe::answers_api_versions))
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

    /// One node whose clients may go through a [`Proxy`] the test cuts and heals: the node
    /// advertises the proxy's address on a second listener (a [`test_broker::Relay`]), so a
    /// client configured with [`Proxy::kafka`] makes every connection through the proxy, while
    /// one configured with [`PrivateBroker::kafka`] talks to the node directly. Apache Kafka only.
    pub fn behind_proxy() -> (PrivateBroker, Proxy) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy's port");
        let port = listener.local_addr().unwrap().port();
        let cluster = test_broker::PrivateCluster::start_relayed(&[port])
            .expect("start a private broker behind a proxy");
        let relay = cluster.layout().nodes[0].relay.expect("a relayed listener");
        let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], relay.port));
        let proxy = Proxy::start(listener, upstream).expect("start the proxy");
        (PrivateBroker(cluster), proxy)
    }

    /// The client configuration of this broker: its nodes' bootstrap list, nothing else set.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_broker_is_one_line_that_says_what_to_do() {
        // A port nobody listens on.
        let port = test_broker::free_ports(1)[0];
        let line = answers(&format!("127.0.0.1:{port}"), Duration::ZERO).unwrap_err();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
        assert!(line.contains("cargo xtask broker start"), "{line}");
    }
}
