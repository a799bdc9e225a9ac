//! A broker of one test's own: free ports, a temporary folder, killed and restarted at will.

use std::process::Child;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::{free_ports, Flavor, Layout, Relay};

/// A new folder name for one private cluster's data.
fn temp_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "rebound-broker-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ))
}

/// A single broker or a cluster that belongs to one test (the flavour of `REBOUND_BROKER`), for
/// tests that kill and restart the broker without disturbing the tests sharing the main one.
/// Dropping it kills every node and deletes its data.
pub struct PrivateCluster {
    layout: Layout,
    children: Vec<Option<Child>>,
}

impl PrivateCluster {
    /// Starts `nodes` nodes and waits until every one lists all of them as live brokers.
    pub fn start(nodes: usize) -> Result<PrivateCluster> {
        let layout = Layout::new(Flavor::from_env()?, temp_dir(), &free_ports(2 * nodes))?;
        PrivateCluster::run(layout)
    }

    /// Starts one node per entry of `advertised`, each with a second client listener on a free
    /// port that advertises `127.0.0.1:<advertised[i]>` (a [`Relay`]: where the test's proxy
    /// listens, forwarding to the node's [`Relay::port`]). Apache Kafka only: Tansu advertises one
    /// listener.
    pub fn start_relayed(advertised: &[u16]) -> Result<PrivateCluster> {
        let flavor = Flavor::from_env()?;
        if flavor != Flavor::Kafka {
            bail!(
                "a relayed listener needs Apache Kafka (REBOUND_BROKER=kafka); {} advertises one listener",
                flavor.name()
            );
        }
        let count = advertised.len();
        // One call, so that no port is handed out twice.
        let ports = free_ports(3 * count);
        let mut layout = Layout::new(flavor, temp_dir(), &ports[..2 * count])?;
        for (i, node) in layout.nodes.iter_mut().enumerate() {
            node.relay = Some(Relay {
                port: ports[2 * count + i],
                advertised: advertised[i],
            });
        }
        PrivateCluster::run(layout)
    }

    fn run(layout: Layout) -> Result<PrivateCluster> {
        let mut cluster = PrivateCluster {
            children: (0..layout.nodes.len()).map(|_| None).collect(),
            layout,
        };
        cluster.restart_all()?;
        Ok(cluster)
    }

    /// Starts every node (killing those that run) and waits until each is ready. All are spawned
    /// first: a Kafka node waits for a quorum of its peers before it serves anyone.
    pub fn restart_all(&mut self) -> Result<()> {
        for index in 0..self.children.len() {
            self.spawn(index)?;
        }
        for index in 0..self.children.len() {
            self.wait_ready(index)?;
        }
        Ok(())
    }

    /// The bootstrap list for clients (`KafkaConfig::new`).
    pub fn bootstrap(&self) -> String {
        self.layout.bootstrap()
    }

    /// The nodes, their ids, ports and folders.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The index (from 0) of the node with Kafka `node.id` `id`.
    pub fn index_of(&self, id: i32) -> Option<usize> {
        self.layout.nodes.iter().position(|n| n.id as i32 == id)
    }

    /// Kills node `index` with SIGKILL, as a crash would; its data stays on disk.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.children[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `index` again on the same ports and data (killing it first if it runs), and
    /// waits until it serves clients and sees the whole cluster. Returns how long that took.
    pub fn restart(&mut self, index: usize) -> Result<Duration> {
        self.spawn(index)?;
        self.wait_ready(index)
    }

    /// Starts node `index` (killing it first if it runs) without waiting: to restart a whole
    /// Kafka cluster, spawn every node, then wait for each, since a node waits for its quorum.
    pub fn spawn(&mut self, index: usize) -> Result<()> {
        self.kill(index);
        self.children[index] = Some(self.layout.spawn(index)?);
        Ok(())
    }

    /// Waits until node `index` serves clients and sees the whole cluster; returns how long.
    pub fn wait_ready(&mut self, index: usize) -> Result<Duration> {
        let child = self.children[index].as_mut().context("node not started")?;
        self.layout
            .wait_ready(index, || matches!(child.try_wait(), Ok(None)))
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for index in 0..self.children.len() {
            self.kill(index);
        }
        let _ = std::fs::remove_dir_all(&self.layout.dir);
    }
}
