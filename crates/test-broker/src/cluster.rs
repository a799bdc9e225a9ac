//! A cluster's layout (flavour, nodes, ports, folders), how to start one of its nodes, and when
//! it is ready. Both lifecycles, [`crate::daemon`] and [`crate::PrivateCluster`], start from here.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::probe::{self, ClusterView};
use crate::process::tail;
use crate::{kafka, tansu, Flavor, Node};

/// How long a start may take before it counts as failed. Measured: a single Kafka node answers
/// in 6-10 s on 2 cores (storage format included), Tansu in under 1 s.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The nodes of one cluster and the folder that holds them.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The broker software every node runs.
    pub flavor: Flavor,
    /// The nodes in `node.id` order (from 1); Tansu runs a single one.
    pub nodes: Vec<Node>,
    /// Holds one folder per node and the cluster id.
    pub dir: PathBuf,
}

impl Layout {
    /// `count` nodes under `dir`; node `i` (from 0) listens on `ports[2i]` for clients and on
    /// `ports[2i + 1]` for its controller.
    pub fn new(flavor: Flavor, dir: PathBuf, ports: &[u16]) -> Result<Layout> {
        let count = ports.len() / 2;
        if count == 0 {
            bail!("a cluster needs at least one node");
        }
        if flavor == Flavor::Tansu && count > 1 {
            bail!("Tansu runs as a single node here; use REBOUND_BROKER=kafka for a cluster");
        }
        let nodes = (0..count)
            .map(|i| Node {
                id: i as u32 + 1,
                port: ports[2 * i],
                controller_port: ports[2 * i + 1],
                dir: if flavor == Flavor::Tansu {
                    dir.clone()
                } else {
                    dir.join(format!("node-{}", i + 1))
                },
                relay: None,
            })
            .collect();
        Ok(Layout { flavor, nodes, dir })
    }

    /// The bootstrap list for `KAFKA_BROKERS`.
    pub fn bootstrap(&self) -> String {
        crate::bootstrap(&self.nodes)
    }

    /// Starts node `index` in its own process group, output to its log file (the previous run's
    /// log is kept beside it as `server.log.1`).
    pub fn spawn(&self, index: usize) -> Result<Child> {
        let node = &self.nodes[index];
        let mut cmd = match self.flavor {
            Flavor::Kafka => {
                let cluster_id = kafka::cluster_id_in(&self.dir.join("cluster.id"))?;
                kafka::prepare(node, &self.nodes, &cluster_id)?
            }
            Flavor::Tansu => tansu::prepare(node)?,
        };
        let log = node.log_file();
        if log.exists() {
            let _ = fs::rename(&log, log.with_extension("log.1"));
        }
        // Kafka's log4j appends to the same file; its stdout only carries JVM-level messages.
        let out =
            File::create(&log).with_context(|| format!("could not create {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            // Own process group: Ctrl-C in the terminal that started it does not stop it.
            .process_group(0);
        cmd.spawn()
            .with_context(|| format!("could not start node {} ({})", node.id, self.flavor.name()))
    }

    /// What node `index` answers to a Metadata request, if anything.
    pub fn view(&self, index: usize) -> Option<ClusterView> {
        probe::metadata(addr(&self.nodes[index]))
    }

    /// Whether node `index` serves clients and sees every node of the cluster as a live broker
    /// (Kafka), or answers at all (Tansu).
    pub fn node_ready(&self, index: usize) -> bool {
        match (self.flavor, self.view(index)) {
            (_, None) => false,
            (Flavor::Tansu, Some(_)) => true,
            (Flavor::Kafka, Some(view)) => {
                view.controller >= 0
                    && self
                        .nodes
                        .iter()
                        .all(|n| view.brokers.contains(&(n.id as i32)))
            }
        }
    }

    /// Waits until node `index` is ready; `alive` tells whether its process still runs (a node that
    /// died during start-up fails at once, with its log's tail).
    pub fn wait_ready(&self, index: usize, mut alive: impl FnMut() -> bool) -> Result<Duration> {
        let node = &self.nodes[index];
        let started = Instant::now();
        loop {
            if self.node_ready(index) {
                return Ok(started.elapsed());
            }
            if !alive() {
                bail!(
                    "broker node {} exited during start-up; last lines of {}:\n{}",
                    node.id,
                    node.log_file().display(),
                    tail(&node.log_file(), 30)
                );
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "broker node {} did not answer a Metadata request listing all {} node(s) on {} within {} s; \
                     last lines of {}:\n{}",
                    node.id,
                    self.nodes.len(),
                    node.address(),
                    READY_TIMEOUT.as_secs(),
                    node.log_file().display(),
                    tail(&node.log_file(), 30)
                );
            }
            sleep(Duration::from_millis(200));
        }
    }
}

/// The client address of `node`.
pub(crate) fn addr(node: &Node) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], node.port))
}

/// `count` distinct free TCP ports on 127.0.0.1 (all held open until chosen, so none repeats).
pub fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}
