//! Tansu 0.6.0 with its SQLite engine: the broker without a JVM.
//!
//! What earlier measurements found (RELIABILITY.md and BENCHMARKS.md keep the figures): each header
//! is an SQLite row, so header-heavy traffic such as retry copies is 5-20 times slower than on
//! Kafka; a group can wait up to 300 s for a new member after several members were killed (static
//! membership brings a restarted worker back in about 7 s); no transactions, no CreatePartitions,
//! no KIP-848 groups. Its memory engine loses records after a rebalance, hence SQLite.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::Node;

/// The Tansu version the project runs.
pub const VERSION: &str = "0.6.0";

/// Path of a Tansu 0.6.0 binary; installs it with `cargo install` when neither PATH nor
/// `$CARGO_HOME/bin` has it (about 10 minutes on 2 cores).
pub fn program() -> Result<PathBuf> {
    let cargo_bin = cargo_home().map(|h| h.join("bin").join("tansu"));
    let mut candidates = vec![PathBuf::from("tansu")];
    candidates.extend(cargo_bin);
    if let Some(found) = candidates.iter().find(|c| version_ok(c)) {
        return Ok(found.clone());
    }
    eprintln!("test-broker: tansu {VERSION} not found; installing it with cargo install (about 10 minutes on 2 cores)...");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["install", "tansu", "--version", VERSION, "--locked"])
        .args(["--no-default-features", "--features", "libsql"])
        .status()
        .context("could not run cargo install tansu")?;
    if !status.success() {
        bail!("`cargo install tansu --version {VERSION}` failed ({status})");
    }
    candidates
        .iter()
        .rev()
        .find(|c| version_ok(c))
        .cloned()
        .with_context(|| {
            format!("tansu was installed but `tansu --version` does not answer {VERSION}")
        })
}

fn version_ok(program: &Path) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| {
            out.status.success()
                && String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .any(|w| w.trim_start_matches('v') == VERSION)
        })
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

/// The command that runs `node`, without spawning it.
pub fn prepare(node: &Node) -> Result<Command> {
    let program = program()?;
    std::fs::create_dir_all(&node.dir)
        .with_context(|| format!("could not create {}", node.dir.display()))?;
    let url = format!("tcp://{}", node.address());
    let mut cmd = Command::new(program);
    cmd.arg("broker")
        .args(["--listener-url", &url])
        .args(["--advertised-listener-url", &url])
        // Tansu 0.6.0 resolves `sqlite:///abs/path` against its working directory (measured:
        // it opened <cwd>/abs/path), so the path is relative to the node's folder.
        .args(["--storage-engine", "sqlite://tansu.db"])
        .current_dir(&node.dir);
    Ok(cmd)
}

/// Whether `dir` holds Tansu's data files.
pub fn is_data_file(name: &str) -> bool {
    name.starts_with("tansu.db")
}
