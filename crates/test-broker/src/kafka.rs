//! Apache Kafka in KRaft mode: the jars, the Java check, each node's configuration and its
//! one-time storage format.
//!
//! Every node is a combined broker and controller (`process.roles=broker,controller`) with a static
//! quorum of all nodes, which is what a small production cluster runs and needs no separate
//! controller processes. The settings are sized for a 2-core machine running a test suite.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::{workspace_root, Node};

/// The pom that pins the Kafka version and lists the server's jars.
pub fn pom() -> PathBuf {
    workspace_root().join("xtask/kafka/pom.xml")
}

/// The Kafka version `xtask/kafka/pom.xml` pins (its `<kafka.version>` property).
pub fn version() -> Result<String> {
    let pom = pom();
    let text =
        fs::read_to_string(&pom).with_context(|| format!("could not read {}", pom.display()))?;
    let start = text
        .find("<kafka.version>")
        .map(|i| i + "<kafka.version>".len())
        .with_context(|| format!("{} has no <kafka.version> property", pom.display()))?;
    let end = text[start..]
        .find('<')
        .with_context(|| format!("{}: <kafka.version> is not closed", pom.display()))?;
    Ok(text[start..start + end].trim().to_string())
}

/// The folder with the Kafka server's runtime jars, copied there from Maven Central on first use
/// (about 45 MB; Maven keeps its own copy in `~/.m2`, so a second copy needs no network).
pub fn classpath_dir() -> Result<PathBuf> {
    let version = version()?;
    let dir = workspace_root()
        .join("target/kafka")
        .join(&version)
        .join("libs");
    if dir.join(format!("kafka_2.13-{version}.jar")).exists() {
        return Ok(dir);
    }
    let maven = which("mvn").context(
        "Apache Kafka's jars come from Maven Central through Maven, and `mvn` is not on PATH: \
         install Maven 3.6+ (Debian: `apt-get install maven`), or set REBOUND_BROKER=tansu to use \
         the broker without a JVM",
    )?;
    // Copy into a folder of our own, then rename: tests that start private brokers at the same
    // time may all find the jars missing, and none may see a half-filled folder.
    let staging = dir.with_file_name(format!("libs.partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    eprintln!(
        "test-broker: copying Apache Kafka {version}'s jars from Maven Central into {} (once; about 45 MB)",
        dir.display()
    );
    let status = Command::new(maven)
        .args(["-B", "-q", "-f"])
        .arg(pom())
        .args(["dependency:copy-dependencies", "-DincludeScope=runtime"])
        .arg(format!("-DoutputDirectory={}", staging.display()))
        .stdin(Stdio::null())
        .status()
        .context("could not run mvn")?;
    if !status.success() {
        let _ = fs::remove_dir_all(&staging);
        bail!(
            "`mvn dependency:copy-dependencies -f {}` failed ({status}); Maven Central must be reachable \
             the first time (later runs use ~/.m2)",
            pom().display()
        );
    }
    if fs::rename(&staging, &dir).is_err() {
        // Another process won the race; its copy is as good as ours.
        let _ = fs::remove_dir_all(&staging);
    }
    if !dir.join(format!("kafka_2.13-{version}.jar")).exists() {
        bail!(
            "the jars were copied but {} lacks kafka_2.13-{version}.jar",
            dir.display()
        );
    }
    Ok(dir)
}

/// The `java` to run: `$JAVA_HOME/bin/java`, else the one on PATH; it must be Java 17 or newer.
pub fn java() -> Result<PathBuf> {
    let java = match std::env::var_os("JAVA_HOME") {
        Some(home) if Path::new(&home).join("bin/java").exists() => {
            Path::new(&home).join("bin/java")
        }
        _ => which("java").context(
            "Apache Kafka needs Java 17 or newer and `java` is not on PATH (nor in $JAVA_HOME): \
             install a JDK or JRE 17+ (Debian: `apt-get install openjdk-17-jre-headless`), or set \
             REBOUND_BROKER=tansu to use the broker without a JVM",
        )?,
    };
    let out = Command::new(&java)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run {} -version", java.display()))?;
    // `java -version` writes to stderr: `openjdk version "17.0.15" 2025-04-15`.
    let text = String::from_utf8_lossy(&out.stderr);
    match java_major(&text) {
        Some(major) if major >= 17 => Ok(java),
        Some(major) => bail!(
            "{} is Java {major}; Apache Kafka 4 needs Java 17 or newer: install a JDK 17+ and put it \
             first on PATH or in JAVA_HOME",
            java.display()
        ),
        None => bail!("could not tell the version of {} from: {text}", java.display()),
    }
}

/// The major version in `java -version` output (`"17.0.15"` → 17, `"1.8.0_392"` → 8).
fn java_major(version_output: &str) -> Option<u32> {
    let quoted = version_output.split('"').nth(1)?;
    let mut parts = quoted.split(['.', '-', '+', '_']);
    let first: u32 = parts.next()?.parse().ok()?;
    if first == 1 {
        parts.next()?.parse().ok()
    } else {
        Some(first)
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// The `controller.quorum.voters` of a cluster: every node votes.
pub fn voters(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
        .collect::<Vec<_>>()
        .join(",")
}

/// `server.properties` for `node` in a cluster of `nodes`.
pub fn server_properties(node: &Node, nodes: &[Node]) -> String {
    // Replicated like production when there are three nodes or more: a write is acknowledged by
    // two replicas, so one node may die without losing an acknowledged record.
    let replication = nodes.len().min(3);
    let min_isr = if replication >= 3 { 2 } else { 1 };
    let data = node.dir.join("data");
    // The relayed listener, when a test asked for one (see `Relay`).
    let (relay_listener, relay_advertised, relay_protocol) = match node.relay {
        Some(relay) => (
            format!(",RELAYED://127.0.0.1:{}", relay.port),
            format!(",RELAYED://127.0.0.1:{}", relay.advertised),
            ",RELAYED:PLAINTEXT",
        ),
        None => (String::new(), String::new(), ""),
    };
    format!(
        "# Written by the test-broker crate on each start; edits are overwritten.
process.roles=broker,controller
node.id={id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}{relay_listener}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}{relay_advertised}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT{relay_protocol}
log.dirs={data}
# Rebound creates its topics; a typo must not create one.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor={replication}
min.insync.replicas={min_isr}
offsets.topic.replication.factor={replication}
transaction.state.log.replication.factor={replication}
transaction.state.log.min.isr={min_isr}
share.coordinator.state.topic.replication.factor={replication}
share.coordinator.state.topic.min.isr={min_isr}
# Fewer coordinator partitions than the default 50: faster first group, same behaviour.
offsets.topic.num.partitions=8
# A test's first member should not wait 3 s for others that never come.
group.initial.rebalance.delay.ms=0
# Tests create thousands of small topics; keep each one's files small.
log.segment.bytes=67108864
log.index.size.max.bytes=1048576
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=2
",
        id = node.id,
        voters = voters(nodes),
        port = node.port,
        controller = node.controller_port,
        data = data.display(),
    )
}

fn log4j_config(node: &Node) -> String {
    format!(
        "Configuration:
  Appenders:
    File:
      name: file
      fileName: \"{log}\"
      PatternLayout:
        pattern: \"[%d] %p %m (%c)%n\"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: file
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: INFO
",
        log = node.log_file().display()
    )
}

/// The heap of one node: enough for a test suite's thousands of partitions, bounded so three nodes
/// and the tests fit beside each other.
const HEAP: &str = "-Xmx768m";

/// Writes `node`'s configuration, formats its storage once (with `cluster_id`, the same for every
/// node of a cluster), and returns the command that runs it, without spawning it.
pub fn prepare(node: &Node, nodes: &[Node], cluster_id: &str) -> Result<Command> {
    let java = java()?;
    let classpath = classpath_dir()?.join("*");
    fs::create_dir_all(&node.dir)
        .with_context(|| format!("could not create {}", node.dir.display()))?;
    let properties = node.dir.join("server.properties");
    fs::write(&properties, server_properties(node, nodes))
        .with_context(|| format!("could not write {}", properties.display()))?;
    let log4j = node.dir.join("log4j2.yaml");
    fs::write(&log4j, log4j_config(node))
        .with_context(|| format!("could not write {}", log4j.display()))?;

    let java_command = |main: &str| {
        let mut cmd = Command::new(&java);
        cmd.arg(HEAP)
            .arg("-Xms128m")
            .arg("-XX:+UseG1GC")
            .arg("-Djava.awt.headless=true")
            .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
            .arg("-cp")
            .arg(&classpath)
            .arg(main);
        cmd
    };

    if !node.dir.join("data/meta.properties").exists() {
        let out = java_command("kafka.tools.StorageTool")
            // `--cluster-id=<id>` as one argument: an id may start with `-`.
            .args(["format", "--ignore-formatted"])
            .arg(format!("--cluster-id={cluster_id}"))
            .arg("--config")
            .arg(&properties)
            .stdin(Stdio::null())
            .output()
            .context("could not run Kafka's storage tool")?;
        if !out.status.success() {
            bail!(
                "formatting {}'s storage failed ({}):\n{}{}",
                node.dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let mut cmd = java_command("kafka.Kafka");
    cmd.arg(&properties);
    Ok(cmd)
}

/// A new cluster id: 16 random bytes in URL-safe base64 without padding, as `kafka-storage
/// random-uuid` prints them.
pub fn new_cluster_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    base64_url(&bytes)
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Reads the cluster id kept in `file`, or makes one and keeps it there.
pub fn cluster_id_in(file: &Path) -> Result<String> {
    if let Ok(id) = fs::read_to_string(file) {
        if !id.trim().is_empty() {
            return Ok(id.trim().to_string());
        }
    }
    let id = new_cluster_id();
    if let Some(parent) = file.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(file, format!("{id}\n"))
        .with_context(|| format!("could not write {}", file.display()))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_versions_old_and_new() {
        assert_eq!(
            java_major("openjdk version \"17.0.15\" 2025-04-15"),
            Some(17)
        );
        assert_eq!(java_major("openjdk version \"25\" 2025-09-16"), Some(25));
        assert_eq!(java_major("java version \"1.8.0_392\""), Some(8));
        assert_eq!(java_major("no quotes"), None);
    }

    #[test]
    fn cluster_ids_are_22_url_safe_characters() {
        let id = new_cluster_id();
        assert_eq!(id.len(), 22, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        assert_ne!(id, new_cluster_id());
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn three_nodes_replicate_three_times_and_vote_together() {
        let nodes: Vec<Node> = (1..=3)
            .map(|id| Node {
                id,
                port: 9090 + 2 * id as u16,
                controller_port: 9091 + 2 * id as u16,
                dir: PathBuf::from(format!("/tmp/n{id}")),
                relay: None,
            })
            .collect();
        let props = server_properties(&nodes[1], &nodes);
        assert!(props.contains("node.id=2\n"));
        assert!(props.contains(
            "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097\n"
        ));
        assert!(
            props.contains("listeners=PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095\n")
        );
        assert!(props.contains("default.replication.factor=3\nmin.insync.replicas=2\n"));
        let single = server_properties(&nodes[0], &nodes[..1]);
        assert!(single.contains("offsets.topic.replication.factor=1\n"));
        assert!(single.contains("min.insync.replicas=1\n"));
        assert!(!single.contains("RELAYED"));
    }

    #[test]
    fn a_relayed_listener_advertises_the_port_in_front_of_it() {
        let node = Node {
            id: 1,
            port: 9092,
            controller_port: 9093,
            dir: PathBuf::from("/tmp/n1"),
            relay: Some(crate::Relay {
                port: 9094,
                advertised: 9095,
            }),
        };
        let props = server_properties(&node, std::slice::from_ref(&node));
        assert!(props.contains(
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,RELAYED://127.0.0.1:9094\n"
        ));
        assert!(props.contains(
            "advertised.listeners=PLAINTEXT://127.0.0.1:9092,RELAYED://127.0.0.1:9095\n"
        ));
        assert!(props.contains(
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,RELAYED:PLAINTEXT\n"
        ));
        // Brokers talk to each other on the ordinary listener, never through the relay.
        assert!(props.contains("inter.broker.listener.name=PLAINTEXT\n"));
    }
}
