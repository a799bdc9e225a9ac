//! Developer tasks for the Rebound workspace (`cargo xtask ...`).
//!
//! The test broker is Tansu 0.6.0 with its SQLite storage engine (see DESIGN.md,
//! "The test broker: Tansu, measured here"). Its data, log and pid file live in
//! `target/broker/` under the workspace root.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

const TANSU_VERSION: &str = "0.6.0";
const DEFAULT_PORT: u16 = 9092;
const PORT_ENV: &str = "REBOUND_BROKER_PORT";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks for the Rebound workspace"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Manage the local Tansu test broker (127.0.0.1:9092, or $REBOUND_BROKER_PORT)
    Broker {
        #[command(subcommand)]
        action: BrokerCmd,
    },
    /// Start the broker if needed, then `cargo test --workspace --locked [ARGS]`
    Test {
        /// Extra arguments for `cargo test` (e.g. `-p rebound -- --nocapture`)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Start the broker if needed, then run the mailer demo (release build)
    Demo {
        /// Extra arguments for `mailer demo`
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Start the broker if needed, then run the benchmarks (release build; see BENCHMARKS.md)
    Bench {
        /// Arguments for `rebound-bench` (e.g. `--quick`, `--scenario happy,delay`, `--help`)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

#[derive(Subcommand)]
enum BrokerCmd {
    /// Install Tansu if missing, start it detached and wait until it answers
    Start,
    /// Stop the broker (SIGTERM, then SIGKILL after 5 s); data is kept
    Stop,
    /// Show whether the broker runs, its pid and port
    Status,
    /// Stop then start; data is kept
    Restart,
    /// Stop, delete the broker's data (target/broker/tansu.db*), start
    Reset,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Cmd) -> Result<ExitCode> {
    let broker = Broker::new()?;
    match cmd {
        Cmd::Broker { action } => {
            match action {
                BrokerCmd::Start => broker.start()?,
                BrokerCmd::Stop => broker.stop()?,
                BrokerCmd::Status => broker.status(),
                BrokerCmd::Restart => {
                    broker.stop()?;
                    broker.start()?;
                }
                BrokerCmd::Reset => {
                    broker.stop()?;
                    broker.delete_data()?;
                    broker.start()?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Test { args } => {
            broker.start()?;
            // `--workspace` together with `-p` would test everything anyway; let `-p` win.
            let selects_package = args.iter().take_while(|a| *a != "--").any(|a| {
                a == "-p" || a == "--package" || a.to_string_lossy().starts_with("--package=")
            });
            let mut cmd = cargo();
            cmd.arg("test");
            if !selects_package {
                cmd.arg("--workspace");
            }
            cmd.arg("--locked").args(&args);
            run_forwarding_exit(cmd, &broker)
        }
        Cmd::Demo { args } => {
            broker.start()?;
            let mut cmd = cargo();
            cmd.args(["run", "--locked", "--release", "-p", "mailer", "--", "demo"])
                .args(&args);
            run_forwarding_exit(cmd, &broker)
        }
        Cmd::Bench { args } => {
            broker.start()?;
            // The API scenario starts the real `mailer api`, found beside the bench binary,
            // so both are built in release mode before anything is measured.
            let mut build = cargo();
            build.args([
                "build",
                "--locked",
                "--release",
                "-p",
                "bench",
                "-p",
                "mailer",
            ]);
            let built = run_forwarding_exit(build, &broker)?;
            if built != ExitCode::SUCCESS {
                return Ok(built);
            }
            let target_dir = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| broker.root.join("target"));
            let bench = broker.root.join(target_dir).join("release/rebound-bench");
            let mut cmd = Command::new(bench);
            cmd.args(&args);
            run_forwarding_exit(cmd, &broker)
        }
    }
}

/// Runs `cmd` in the workspace root with `KAFKA_BROKERS` pointing at the test broker,
/// and returns its exit code.
fn run_forwarding_exit(mut cmd: Command, broker: &Broker) -> Result<ExitCode> {
    cmd.current_dir(&broker.root)
        .env("KAFKA_BROKERS", broker.bootstrap());
    eprintln!(
        "xtask: running {} (KAFKA_BROKERS={})",
        describe(&cmd),
        broker.bootstrap()
    );
    let status = cmd
        .status()
        .with_context(|| format!("could not run {}", describe(&cmd)))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => {
            eprintln!("xtask: {} was killed by a signal", describe(&cmd));
            ExitCode::FAILURE
        }
    })
}

/// The cargo that runs us (`$CARGO`), or `cargo` from PATH.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

struct Broker {
    root: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Broker {
    fn new() -> Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask has no parent directory")?
            .to_path_buf();
        let port = match std::env::var(PORT_ENV) {
            Ok(s) => s
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .with_context(|| format!("{PORT_ENV}={s:?} is not a valid TCP port"))?,
            Err(_) => DEFAULT_PORT,
        };
        let dir = root.join("target").join("broker");
        Ok(Broker { root, dir, port })
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("tansu.pid")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("tansu.log")
    }

    fn db_file(&self) -> PathBuf {
        self.dir.join("tansu.db")
    }

    /// The pid recorded in the pid file, if that process is alive and is a Tansu broker.
    /// A stale pid file is removed.
    fn recorded_pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.pid_file()).ok()?;
        match text.trim().parse::<u32>() {
            Ok(pid) if is_alive(pid) && is_tansu(pid) => Some(pid),
            _ => {
                let _ = fs::remove_file(self.pid_file());
                None
            }
        }
    }

    fn start(&self) -> Result<()> {
        let tansu = ensure_tansu()?;

        if let Some(pid) = self.recorded_pid() {
            if !cmdline(pid).is_none_or(|c| c.contains(&self.listener_url())) {
                bail!(
                    "the test broker (pid {pid}) is running with another port than {}; \
                     run `cargo xtask broker stop` with its {PORT_ENV} first",
                    self.port
                );
            }
            if accepts(self.addr()) && answers_api_versions(self.addr()) {
                println!("broker already running (pid {pid}) on {}", self.bootstrap());
                return Ok(());
            }
            // Ours, but not answering (yet): perhaps still starting up. Give it the usual time.
            println!("broker pid {pid} is alive but not answering yet; waiting...");
            return self.wait_ready(pid, None);
        }

        if accepts(self.addr()) {
            bail!(
                "port {port} on 127.0.0.1 is already in use by another process (not the Rebound \
                 test broker), and Tansu would panic on it. Stop that process, or choose another \
                 port with {PORT_ENV}=<port>",
                port = self.port
            );
        }

        fs::create_dir_all(&self.dir)
            .with_context(|| format!("could not create {}", self.dir.display()))?;
        // Keep the previous run's log, for crash forensics.
        if self.log_file().exists() {
            let _ = fs::rename(self.log_file(), self.dir.join("tansu.log.1"));
        }
        let log = File::create(self.log_file())
            .with_context(|| format!("could not create {}", self.log_file().display()))?;
        let log_err = log.try_clone()?;

        // Tansu 0.6.0 resolves `sqlite:///abs/path` against its working directory
        // (measured: it opened <cwd>/abs/path), so give it a path relative to `self.dir`.
        let storage = "sqlite://tansu.db";
        let mut cmd = Command::new(&tansu);
        cmd.arg("broker")
            .args(["--listener-url", &self.listener_url()])
            .args(["--advertised-listener-url", &self.listener_url()])
            .args(["--storage-engine", storage])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Own process group: Ctrl-C in the terminal that started it does not stop it.
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("could not start {}", describe(&cmd)))?;
        let pid = child.id();
        fs::write(self.pid_file(), format!("{pid}\n"))
            .with_context(|| format!("could not write {}", self.pid_file().display()))?;
        println!(
            "starting tansu {TANSU_VERSION} (pid {pid}) on {}, data in {}",
            self.bootstrap(),
            self.db_file().display()
        );
        self.wait_ready(pid, Some(child))
    }

    fn listener_url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Waits until the broker accepts TCP connections and answers ApiVersions.
    fn wait_ready(&self, pid: u32, mut child: Option<Child>) -> Result<()> {
        let started = Instant::now();
        let deadline = started + READY_TIMEOUT;
        loop {
            let exited = match child.as_mut() {
                Some(c) => c.try_wait()?.map(|s| s.to_string()),
                None => (!is_alive(pid)).then(|| "gone".to_string()),
            };
            if let Some(how) = exited {
                let _ = fs::remove_file(self.pid_file());
                bail!(
                    "the broker (pid {pid}) exited during startup ({how}); last lines of {}:\n{}",
                    self.log_file().display(),
                    tail(&self.log_file(), 30)
                );
            }
            if accepts(self.addr()) && answers_api_versions(self.addr()) {
                println!(
                    "broker ready (pid {pid}) on {} after {:.1} s",
                    self.bootstrap(),
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log_tail = tail(&self.log_file(), 30);
                eprintln!("xtask: the broker (pid {pid}) is not answering; stopping it");
                if let Err(err) = self.stop() {
                    eprintln!("xtask: {err:#}");
                }
                bail!(
                    "the broker (pid {pid}) did not answer a Kafka ApiVersions request on {} \
                     within {} s. Last lines of {}:\n{log_tail}",
                    self.bootstrap(),
                    READY_TIMEOUT.as_secs(),
                    self.log_file().display(),
                );
            }
            sleep(Duration::from_millis(200));
        }
    }

    fn stop(&self) -> Result<()> {
        let Some(pid) = self.recorded_pid() else {
            println!("broker not running");
            return Ok(());
        };
        signal(pid, "TERM")?;
        let deadline = Instant::now() + STOP_GRACE;
        while is_alive(pid) && Instant::now() < deadline {
            sleep(Duration::from_millis(100));
        }
        if is_alive(pid) {
            println!(
                "broker (pid {pid}) still running {} s after SIGTERM; sending SIGKILL",
                STOP_GRACE.as_secs()
            );
            signal(pid, "KILL")?;
            let deadline = Instant::now() + Duration::from_secs(5);
            while is_alive(pid) && Instant::now() < deadline {
                sleep(Duration::from_millis(100));
            }
            if is_alive(pid) {
                bail!("broker (pid {pid}) survived SIGKILL");
            }
        }
        let _ = fs::remove_file(self.pid_file());
        println!("broker stopped (pid {pid})");
        Ok(())
    }

    fn status(&self) {
        match self.recorded_pid() {
            Some(pid) => {
                let answering = accepts(self.addr()) && answers_api_versions(self.addr());
                println!(
                    "broker running: pid {pid}, port {}, {}",
                    self.port,
                    if answering {
                        "answering Kafka requests"
                    } else {
                        "NOT answering on this port"
                    }
                );
            }
            None => {
                let port_note = if accepts(self.addr()) {
                    " (but something else is listening on it)"
                } else {
                    ""
                };
                println!("broker not running; port {}{port_note}", self.port);
            }
        }
        println!("data: {}", self.dir.display());
    }

    fn delete_data(&self) -> Result<()> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Ok(());
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with("tansu.db") {
                fs::remove_file(entry.path())
                    .with_context(|| format!("could not delete {}", entry.path().display()))?;
                println!("deleted {}", entry.path().display());
            }
        }
        Ok(())
    }
}

/// Path of a Tansu 0.6.0 binary; installs it with cargo when neither PATH nor
/// `$CARGO_HOME/bin` (default `~/.cargo/bin`) has it.
fn ensure_tansu() -> Result<PathBuf> {
    let cargo_bin = cargo_home().map(|h| h.join("bin").join("tansu"));
    let mut candidates = vec![PathBuf::from("tansu")];
    candidates.extend(cargo_bin.clone());
    for candidate in &candidates {
        if tansu_version_ok(candidate) {
            return Ok(candidate.clone());
        }
    }
    println!(
        "tansu {TANSU_VERSION} not found; installing it with cargo install (takes about 8 minutes on 2 cores)..."
    );
    let mut cmd = cargo();
    cmd.args(["install", "tansu", "--version", TANSU_VERSION, "--locked"])
        .args(["--no-default-features", "--features", "libsql"]);
    let status = cmd
        .status()
        .with_context(|| format!("could not run {}", describe(&cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(&cmd));
    }
    for candidate in candidates.iter().rev() {
        if tansu_version_ok(candidate) {
            return Ok(candidate.clone());
        }
    }
    bail!("tansu was installed but `tansu --version` still does not answer {TANSU_VERSION}")
}

fn tansu_version_ok(program: &Path) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| {
            out.status.success()
                && String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .any(|w| w.trim_start_matches('v') == TANSU_VERSION)
        })
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Sends a Kafka ApiVersions v0 request and checks that a response with the same
/// correlation id comes back.
fn answers_api_versions(addr: SocketAddr) -> bool {
    api_versions(addr).unwrap_or(false)
}

fn api_versions(addr: SocketAddr) -> std::io::Result<bool> {
    const API_KEY_API_VERSIONS: i16 = 18;
    const CORRELATION_ID: i32 = 0x5245_4244; // "REBD"
    let client_id = b"rebound-xtask";

    let mut body = Vec::new();
    body.extend_from_slice(&API_KEY_API_VERSIONS.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes()); // api_version 0
    body.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    body.extend_from_slice(client_id);
    let mut request = (body.len() as i32).to_be_bytes().to_vec();
    request.extend_from_slice(&body);

    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(&request)?;
    let mut header = [0u8; 8]; // int32 length, int32 correlation_id
    stream.read_exact(&mut header)?;
    let length = i32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let correlation = i32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    Ok(length >= 4 && correlation == CORRELATION_ID)
}

/// True if the process exists and is not a zombie.
fn is_alive(pid: u32) -> bool {
    if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Format: "pid (comm) state ..."; comm may contain spaces or parentheses.
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

fn cmdline(pid: u32) -> Option<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
}

/// Guards against a recycled pid: where /proc exists, the process must be a Tansu broker.
fn is_tansu(pid: u32) -> bool {
    match cmdline(pid) {
        Some(c) => c.contains("tansu") && c.contains("broker"),
        None => !Path::new("/proc/self").exists(),
    }
}

/// Signals the broker's process group (it leads its own group, see `process_group(0)`),
/// falling back to the process alone.
fn signal(pid: u32, sig: &str) -> Result<()> {
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

fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) => format!("(could not read the log: {err})"),
    }
}
