//! The long-lived broker of `cargo xtask broker start|stop|status|restart|reset`: detached from
//! the terminal, pid files and data under `target/broker/`, found again by later commands.
//!
//! Each layout has its own data folder (`kafka-1n`, `kafka-3n`, `tansu`), because a Kafka
//! node's storage is formatted for one set of voters; `target/broker/running` names the one that
//! runs, so `stop`, `status` and `cargo xtask test` find it whatever flavour or size it is.

use std::fs;
use std::path::PathBuf;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cluster::addr;
use crate::process::{cmdline, is_alive, signal};
use crate::{probe, workspace_root, Flavor, Layout};

/// The client port of the first node unless `REBOUND_BROKER_PORT` says otherwise; node `i` (from
/// 0) listens on `port + 2i`, its controller on `port + 2i + 1` (Kafka's own 9092/9093 habit).
pub const DEFAULT_PORT: u16 = 9092;
/// The variable that moves the ports.
pub const PORT_ENV: &str = "REBOUND_BROKER_PORT";

/// How long a node gets to stop after SIGTERM (Kafka's controlled shutdown) before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// The project's detached broker, one layout of it.
pub struct Daemon {
    layout: Layout,
}

/// The folder of every layout, and of the `running` marker.
pub fn base_dir() -> PathBuf {
    workspace_root().join("target/broker")
}

fn running_marker() -> PathBuf {
    base_dir().join("running")
}

impl Daemon {
    /// The layout a `start` would run: `REBOUND_BROKER`'s flavour, `nodes` nodes, ports from
    /// `REBOUND_BROKER_PORT`.
    pub fn configured(nodes: usize) -> Result<Daemon> {
        let flavor = Flavor::from_env()?;
        let port = match std::env::var(PORT_ENV) {
            Ok(s) => s
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0 && u32::from(*p) + 2 * nodes as u32 <= 65535)
                .with_context(|| format!("{PORT_ENV}={s:?} is not a usable TCP port"))?,
            Err(_) => DEFAULT_PORT,
        };
        Daemon::new(flavor, nodes as u16, port)
    }

    /// The layout that `target/broker/running` names, if any of its nodes is alive.
    pub fn running() -> Result<Option<Daemon>> {
        let Ok(text) = fs::read_to_string(running_marker()) else {
            return Ok(None);
        };
        // "<flavour> <nodes> <first port>"
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [flavor, nodes, port] = fields[..] else {
            let _ = fs::remove_file(running_marker());
            return Ok(None);
        };
        let flavor = match flavor {
            "tansu" => Flavor::Tansu,
            _ => Flavor::Kafka,
        };
        let (Ok(nodes), Ok(port)) = (nodes.parse::<u16>(), port.parse::<u16>()) else {
            let _ = fs::remove_file(running_marker());
            return Ok(None);
        };
        let daemon = Daemon::new(flavor, nodes, port)?;
        if (0..daemon.layout.nodes.len()).any(|i| daemon.pid(i).is_some()) {
            Ok(Some(daemon))
        } else {
            let _ = fs::remove_file(running_marker());
            Ok(None)
        }
    }

    /// `nodes` nodes from `port` on, in the layout's own data folder.
    fn new(flavor: Flavor, nodes: u16, port: u16) -> Result<Daemon> {
        let name = match flavor {
            Flavor::Kafka => format!("kafka-{nodes}n"),
            Flavor::Tansu => "tansu".to_string(),
        };
        let ports: Vec<u16> = (0..2 * nodes).map(|i| port + i).collect();
        Ok(Daemon {
            layout: Layout::new(flavor, base_dir().join(name), &ports)?,
        })
    }

    /// The cluster's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The bootstrap list for `KAFKA_BROKERS`.
    pub fn bootstrap(&self) -> String {
        self.layout.bootstrap()
    }

    fn pid_file(&self, index: usize) -> PathBuf {
        self.layout.nodes[index].dir.join("node.pid")
    }

    /// The pid of node `index` if its pid file names a live broker of this layout; a stale pid
    /// file is removed.
    fn pid(&self, index: usize) -> Option<u32> {
        let file = self.pid_file(index);
        let pid = fs::read_to_string(&file).ok()?.trim().parse::<u32>().ok();
        match pid {
            Some(pid) if is_alive(pid) && self.is_ours(index, pid) => Some(pid),
            _ => {
                let _ = fs::remove_file(file);
                None
            }
        }
    }

    /// Guards against a recycled pid: the process must run this node's configuration.
    fn is_ours(&self, index: usize, pid: u32) -> bool {
        let node = &self.layout.nodes[index];
        match cmdline(pid) {
            None => !std::path::Path::new("/proc/self").exists(),
            Some(c) => match self.layout.flavor {
                Flavor::Kafka => {
                    c.contains(&node.dir.join("server.properties").display().to_string())
                }
                Flavor::Tansu => c.contains("tansu") && c.contains(&node.address()),
            },
        }
    }

    /// Starts every node not running yet and waits until the cluster is ready. Refuses when
    /// another layout runs, or when a port belongs to some other process.
    pub fn start(&self) -> Result<()> {
        if let Some(other) = Daemon::running()? {
            if other.layout.dir != self.layout.dir || other.bootstrap() != self.bootstrap() {
                bail!(
                    "another test broker runs ({}, {}): stop it first with `cargo xtask broker stop`",
                    other.describe(),
                    other.bootstrap()
                );
            }
        }
        let mut spawned = Vec::new();
        for (index, node) in self.layout.nodes.iter().enumerate() {
            if self.pid(index).is_some() {
                continue;
            }
            for port in [node.port, node.controller_port] {
                if self.layout.flavor == Flavor::Tansu && port == node.controller_port {
                    continue;
                }
                if probe::accepts(std::net::SocketAddr::from(([127, 0, 0, 1], port))) {
                    bail!(
                        "port {port} on 127.0.0.1 is in use by another process (not this project's broker); \
                         stop it, or move the broker's ports with {PORT_ENV}=<port>"
                    );
                }
            }
            let child = self.layout.spawn(index)?;
            fs::write(self.pid_file(index), format!("{}\n", child.id()))
                .with_context(|| format!("could not write {}", self.pid_file(index).display()))?;
            println!(
                "starting {} node {} (pid {}) on {}, data in {}",
                self.layout.flavor.name(),
                node.id,
                child.id(),
                node.address(),
                node.dir.display()
            );
            spawned.push(index);
        }
        let first_port = self.layout.nodes[0].port;
        fs::write(
            running_marker(),
            format!(
                "{} {} {first_port}\n",
                self.layout.flavor.name(),
                self.layout.nodes.len()
            ),
        )?;
        if spawned.is_empty() && self.ready() {
            println!(
                "broker already running ({}) on {}",
                self.describe(),
                self.bootstrap()
            );
            return Ok(());
        }
        let started = Instant::now();
        for index in 0..self.layout.nodes.len() {
            let waited = self.layout.wait_ready(index, || self.pid(index).is_some());
            if let Err(err) = waited {
                eprintln!("test-broker: the broker did not become ready; stopping it");
                let _ = self.stop();
                return Err(err);
            }
        }
        println!(
            "broker ready ({}) on {} after {:.1} s",
            self.describe(),
            self.bootstrap(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Whether every node serves clients and sees the whole cluster.
    pub fn ready(&self) -> bool {
        (0..self.layout.nodes.len()).all(|i| self.layout.node_ready(i))
    }

    /// SIGTERM to every node, SIGKILL to those still there after 20 s; data is kept.
    pub fn stop(&self) -> Result<()> {
        let pids: Vec<u32> = (0..self.layout.nodes.len())
            .filter_map(|i| self.pid(i))
            .collect();
        if pids.is_empty() {
            println!("broker not running");
            let _ = fs::remove_file(running_marker());
            return Ok(());
        }
        for pid in &pids {
            signal(*pid, "TERM")?;
        }
        let deadline = Instant::now() + STOP_GRACE;
        while pids.iter().any(|p| is_alive(*p)) && Instant::now() < deadline {
            sleep(Duration::from_millis(100));
        }
        for pid in pids.iter().filter(|p| is_alive(**p)) {
            println!(
                "broker (pid {pid}) still running {} s after SIGTERM; sending SIGKILL",
                STOP_GRACE.as_secs()
            );
            signal(*pid, "KILL")?;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while pids.iter().any(|p| is_alive(*p)) && Instant::now() < deadline {
            sleep(Duration::from_millis(100));
        }
        if let Some(pid) = pids.iter().find(|p| is_alive(**p)) {
            bail!("broker (pid {pid}) survived SIGKILL");
        }
        for index in 0..self.layout.nodes.len() {
            let _ = fs::remove_file(self.pid_file(index));
        }
        let _ = fs::remove_file(running_marker());
        println!("broker stopped ({}, pids {pids:?})", self.describe());
        Ok(())
    }

    /// One line per node: pid, port, and whether it is ready or merely started.
    pub fn status(&self) -> String {
        let mut out = format!(
            "broker: {}, data in {}\n",
            self.describe(),
            self.layout.dir.display()
        );
        for (index, node) in self.layout.nodes.iter().enumerate() {
            let state = match (self.pid(index), self.layout.view(index)) {
                (None, _) => "not running".to_string(),
                (Some(pid), None) => {
                    format!("pid {pid}, started but not answering Metadata requests yet")
                }
                // The controller id of a KRaft Metadata answer is any live broker, not the
                // active controller, so it is not shown.
                (Some(pid), Some(view)) if self.layout.node_ready(index) => {
                    format!("pid {pid}, ready (sees brokers {:?})", view.brokers)
                }
                (Some(pid), Some(view)) => format!(
                    "pid {pid}, answering but the cluster is incomplete (sees brokers {:?})",
                    view.brokers
                ),
            };
            out.push_str(&format!(
                "  node {} on {}: {state}\n",
                node.id,
                node.address()
            ));
        }
        out.push_str(&format!("KAFKA_BROKERS={}", self.bootstrap()));
        out
    }

    /// Deletes the data of this layout (the broker must be stopped).
    pub fn delete_data(&self) -> Result<()> {
        if (0..self.layout.nodes.len()).any(|i| self.pid(i).is_some()) {
            bail!("the broker runs; stop it before deleting its data");
        }
        match self.layout.flavor {
            Flavor::Kafka => {
                if self.layout.dir.exists() {
                    fs::remove_dir_all(&self.layout.dir).with_context(|| {
                        format!("could not delete {}", self.layout.dir.display())
                    })?;
                    println!("deleted {}", self.layout.dir.display());
                }
            }
            Flavor::Tansu => {
                let Ok(entries) = fs::read_dir(&self.layout.dir) else {
                    return Ok(());
                };
                for entry in entries {
                    let entry = entry?;
                    if crate::tansu::is_data_file(&entry.file_name().to_string_lossy()) {
                        fs::remove_file(entry.path())?;
                        println!("deleted {}", entry.path().display());
                    }
                }
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let n = self.layout.nodes.len();
        match self.layout.flavor {
            Flavor::Kafka => format!(
                "Apache Kafka {}, {n} node{}",
                crate::kafka::version().unwrap_or_else(|_| "?".into()),
                if n == 1 { "" } else { "s" }
            ),
            Flavor::Tansu => format!("Tansu {}", crate::tansu::VERSION),
        }
    }

    /// The address of node `index`, for probes.
    pub fn address(&self, index: usize) -> std::net::SocketAddr {
        addr(&self.layout.nodes[index])
    }
}
