//! Processes by pid: alive, signalled, their command line, their log's last lines.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// True if the process exists and is not a zombie.
pub(crate) fn is_alive(pid: u32) -> bool {
    if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) state ...": comm may hold spaces or parentheses, so read after the last ')'.
        return match stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
        {
            Some(state) => state != "Z" && state != "X",
            None => true,
        };
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The process's command line, arguments separated by spaces.
pub(crate) fn cmdline(pid: u32) -> Option<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
}

/// Signals the process group `pid` leads (brokers are started as group leaders, so a JVM's or
/// Tansu's children go too), falling back to the process alone.
pub(crate) fn signal(pid: u32, sig: &str) -> Result<()> {
    let kill = |target: String| {
        Command::new("kill")
            .args([format!("-{sig}"), "--".to_string(), target])
            .stderr(Stdio::null())
            .status()
            .context("could not run `kill`")
    };
    if kill(format!("-{pid}"))?.success() {
        return Ok(());
    }
    let status = kill(pid.to_string())?;
    if !status.success() && is_alive(pid) {
        bail!("`kill -{sig} {pid}` failed ({status})");
    }
    Ok(())
}

/// The last `lines` lines of a log file, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(could not read {}: {err})", path.display()),
    }
}

/// The pid of a broker process on this machine (Kafka or Tansu, started by this crate or not)
/// whose client listener is `address` (`127.0.0.1:9092`), if any: the benchmarks report its CPU.
pub fn broker_pid(address: &str) -> Option<u32> {
    let tansu_listener = format!("tcp://{address}");
    let kafka_listener = format!("PLAINTEXT://{address}");
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let tansu = args.first().is_some_and(|a| a.ends_with("tansu"))
            && args
                .windows(2)
                .any(|w| w[0] == "--listener-url" && w[1] == tansu_listener);
        // Kafka: `... kafka.Kafka <server.properties>`, the listener inside the file.
        let kafka = args
            .iter()
            .position(|a| a == "kafka.Kafka")
            .is_some_and(|i| {
                args.get(i + 1)
                    .and_then(|file| fs::read_to_string(file).ok())
                    .is_some_and(|props| {
                        props.lines().any(|l| {
                            l.strip_prefix("listeners=")
                                .is_some_and(|v| v.split(',').any(|x| x == kafka_listener))
                        })
                    })
            });
        if tansu || kafka {
            return Some(pid);
        }
    }
    None
}
