//! The broker that Rebound's demo, tests and benchmarks run on, started by the project itself.
//!
//! Two flavours, chosen with `REBOUND_BROKER`:
//!
//! * `kafka` (the default): Apache Kafka 4.x in KRaft mode, each node a combined broker and
//!   controller. Its jars come from Maven Central through `xtask/kafka/pom.xml`, which pins the
//!   version; they are copied once into `target/kafka/<version>/libs` and reused after.
//! * `tansu`: Tansu 0.6.0 with its SQLite engine, the option without a JVM (installed with
//!   `cargo install` on first use, about 10 minutes on 2 cores). Single node only.
//!
//! Two lifecycles share the same node definitions:
//!
//! * [`daemon`]: the long-lived broker of `cargo xtask broker start|stop|status`, detached, with
//!   pid files under `target/broker/`;
//! * [`PrivateCluster`]: a broker (or a three-node cluster) owned by one test, on free ports and a
//!   temporary folder, that the test may kill with SIGKILL and restart.
//!
//! The crate has no Kafka client: readiness is asked with two hand-written requests
//! ([`probe`]), so starting a broker never waits for librdkafka to compile.

mod cluster;
pub mod daemon;
mod flavor;
pub mod kafka;
mod private;
pub mod probe;
mod process;
pub mod tansu;
pub mod zipkin;

pub use cluster::{free_ports, Layout, READY_TIMEOUT};
pub use flavor::Flavor;
pub use private::PrivateCluster;
pub use process::broker_pid;

use std::path::{Path, PathBuf};

/// The workspace root (where `Cargo.toml` and `target/` are).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/test-broker sits two folders below the workspace root")
        .to_path_buf()
}

/// One broker process of a cluster: where it listens and where it keeps its data.
#[derive(Debug, Clone)]
pub struct Node {
    /// `node.id`, from 1.
    pub id: u32,
    /// The client (PLAINTEXT) port on 127.0.0.1.
    pub port: u16,
    /// The KRaft controller port on 127.0.0.1 (unused by Tansu).
    pub controller_port: u16,
    /// This node's own folder: configuration, data, log.
    pub dir: PathBuf,
    /// A second client listener whose clients are told to connect elsewhere (Kafka only).
    pub relay: Option<Relay>,
}

/// A node's second client listener (`RELAYED`, plain text), for a test that puts something
/// between one client and the broker (testkit's network-fault proxy): the node listens on
/// `127.0.0.1:<port>` and tells the clients that bootstrap there that it is at
/// `127.0.0.1:<advertised>`, so every later connection of theirs (to the partition leaders, to the
/// group coordinator) goes to `advertised` too. A proxy only on the bootstrap address would cut
/// nothing: librdkafka connects to the advertised address after its first Metadata answer.
/// Clients of the ordinary listener ([`Node::address`]) and the other nodes are not affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relay {
    /// Where the node listens for the relayed clients (the proxy's upstream).
    pub port: u16,
    /// The port the node advertises to them (where the proxy listens).
    pub advertised: u16,
}

impl Node {
    /// `127.0.0.1:<port>`: advertise the address, not `localhost`, so clients never try IPv6 first.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The file the node's own output (and, for Kafka, its log4j log) goes to.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }
}

/// The bootstrap list of `nodes`, as `KAFKA_BROKERS` takes it.
pub fn bootstrap(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(Node::address)
        .collect::<Vec<_>>()
        .join(",")
}
