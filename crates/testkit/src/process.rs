//! Services as real processes: a test starts the workspace's binaries (`mailer`, the test
//! workers) or a peer (the Spring service) the way they run in production, sends their output to
//! a log file the test can read and print, and never leaves one running after it ends.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rebound::KafkaConfig;
use serde_json::Value;

use crate::broker::kafka;
use crate::names::unique;

/// The log filter of a service under test: its own lines at info, librdkafka's errors only.
pub const SERVICE_LOG: &str = "info,rdkafka=warn,librdkafka=error";

/// A child process, killed when dropped, its output (stdout and stderr) in a log file.
pub struct Process {
    child: Child,
    /// The name it was started under, for failure messages.
    pub name: String,
    /// The file its stdout and stderr are appended to.
    pub log: PathBuf,
}

impl Process {
    /// Starts `command` on the shared test broker (`KAFKA_BROKERS`), its output in
    /// `<dir>/<name>.log`.
    pub fn spawn(dir: &Path, name: &str, command: &mut Command) -> Process {
        Process::spawn_on(&kafka(), &dir.join(format!("{name}.log")), name, command)
    }

    /// Starts `command` on the cluster `kafka` (a private broker, say), its output appended to
    /// `log`: a process started again under the same name adds to the same log.
    pub fn spawn_on(kafka: &KafkaConfig, log: &Path, name: &str, command: &mut Command) -> Process {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        let child = command
            .env("KAFKA_BROKERS", kafka.brokers())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process {
            child,
            name: name.to_string(),
            log: log.to_path_buf(),
        }
    }

    /// The operating system's id of the process.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs (an exited one is reaped).
    pub fn alive(&mut self) -> bool {
        self.exited().is_none()
    }

    /// How the process ended, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// SIGKILL, as a crash would, and waits until it is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as a service manager stops a service; [`Process::stop_within`] waits for it.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.id().to_string()])
            .status();
    }

    /// Waits until the process has exited (after [`Process::terminate`]), and kills it when it
    /// is still there after `grace`.
    pub fn stop_within(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    /// Waits for the process to exit; panics with its log if it failed or took too long.
    pub fn wait_success(mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                assert!(
                    status.success(),
                    "{} failed ({status}):\n{}",
                    self.name,
                    self.log_text()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running after {timeout:?}:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything the process has written so far (empty if its log cannot be read).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A service binary of this workspace (`mailer …`) as a process on the shared test broker, with
/// [`SERVICE_LOG`]'s log filter.
pub fn service(dir: &Path, name: &str, binary: &Path, args: &[&str]) -> Process {
    let mut command = Command::new(binary);
    command.args(args).env("RUST_LOG", SERVICE_LOG);
    Process::spawn(dir, name, &mut command)
}

/// A temporary folder of a test's own (logs, journals, files a service writes).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The JSON lines of a file a service appends to (lines that are not JSON are skipped; a file
/// not written yet has none).
pub fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A TCP port on 127.0.0.1 that nobody listens on now, for a service to listen on.
pub fn free_port() -> u16 {
    test_broker::free_ports(1)[0]
}

/// The last `n` lines of `text` (of a log, for a failure message).
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The newest modification time under `path` (a file, or a folder walked recursively); `None`
/// when something there cannot be read. Whether a built binary or jar is older than its sources.
pub fn newest(path: &Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    let mut time = meta.modified().ok()?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).ok()?.flatten() {
            time = time.max(newest(&entry.path())?);
        }
    }
    Some(time)
}
