//! Developer tasks for the Rebound workspace (`cargo xtask ...`).
//!
//! The broker is Apache Kafka in KRaft mode by default, or Tansu with `REBOUND_BROKER=tansu`; the
//! `test-broker` crate runs it (data, logs and pid files under `target/broker/`). With
//! `KAFKA_BROKERS` set, `test`, `demo` and `bench` use that cluster and start nothing.

mod chromium;
mod public_api;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use test_broker::daemon::{Daemon, PORT_ENV};
use test_broker::zipkin;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks for the Rebound workspace",
    after_help = "The broker: Apache Kafka (KRaft) by default, its jars copied from Maven Central on first \
use; REBOUND_BROKER=tansu runs Tansu instead. REBOUND_BROKER_PORT moves its ports (default 9092). \
With KAFKA_BROKERS set, `test`, `demo` and `bench` use that cluster and start no broker."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Manage the local broker (Apache Kafka on 127.0.0.1:9092, or $REBOUND_BROKER_PORT)
    Broker {
        #[command(subcommand)]
        action: BrokerCmd,
    },
    /// Manage the local Zipkin (tracing backend; 127.0.0.1:9411, or $REBOUND_ZIPKIN_PORT)
    Zipkin {
        #[command(subcommand)]
        action: ZipkinCmd,
    },
    /// Start the broker if needed (and install Debian's Chromium for the console's browser
    /// tests if missing), then `cargo test --workspace --locked [ARGS]`
    Test {
        /// Extra arguments for `cargo test` (e.g. `-p rebound -- --nocapture`)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Start the broker and Zipkin if needed, then run the mailer demo (release build); it ends
    /// with the dead e-mails' trace URLs
    Demo {
        /// Extra arguments for `mailer demo`
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Compare the public API of `rebound` and `rebound-ops` with their committed listings
    /// (`crates/<crate>/public-api.txt`); fails naming what changed
    PublicApi {
        /// Write the listings from the code instead (after saying what changed in CHANGELOG.md)
        #[arg(long)]
        bless: bool,
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
    /// Start the broker detached (Kafka's jars are copied from Maven Central first if missing)
    /// and wait until every node answers a Metadata request listing the whole cluster
    Start {
        /// Nodes in the cluster: 1, or 3 for a production-like cluster (replication factor 3,
        /// min.insync.replicas 2) on ports 9092, 9094, 9096 (controllers on the odd ports)
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=5))]
        nodes: u16,
    },
    /// Stop the broker (SIGTERM, then SIGKILL after 20 s); data is kept
    Stop,
    /// Show each node: pid, port, and whether it is ready or merely started
    Status,
    /// Stop then start the same layout; data is kept
    Restart,
    /// Stop, delete the broker's data, start (a single node unless --nodes says otherwise)
    Reset {
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=5))]
        nodes: u16,
    },
}

#[derive(Subcommand)]
enum ZipkinCmd {
    /// Start zipkin-server (in-memory storage, detached; its exec jar is copied from Maven Central
    /// first if missing, about 130 MB) and wait until /health answers
    Start,
    /// Stop the Zipkin this task started (its traces are lost: in-memory storage)
    Stop,
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
    let root = test_broker::workspace_root();
    match cmd {
        Cmd::Broker { action } => {
            match action {
                BrokerCmd::Start { nodes } => Daemon::configured(nodes.into())?.start()?,
                BrokerCmd::Stop => match Daemon::running()? {
                    Some(daemon) => daemon.stop()?,
                    None => println!("broker not running"),
                },
                BrokerCmd::Status => match Daemon::running()? {
                    Some(daemon) => println!("{}", daemon.status()),
                    None => println!(
                        "broker not running (`cargo xtask broker start` starts it on 127.0.0.1:{})",
                        std::env::var(PORT_ENV).unwrap_or_else(|_| "9092".into())
                    ),
                },
                BrokerCmd::Restart => {
                    let daemon = match Daemon::running()? {
                        Some(daemon) => daemon,
                        None => Daemon::configured(1)?,
                    };
                    daemon.stop()?;
                    daemon.start()?;
                }
                BrokerCmd::Reset { nodes } => {
                    if let Some(daemon) = Daemon::running()? {
                        daemon.stop()?;
                    }
                    let daemon = Daemon::configured(nodes.into())?;
                    daemon.delete_data()?;
                    daemon.start()?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Zipkin { action } => {
            let port = zipkin::configured_port()?;
            match action {
                ZipkinCmd::Start => {
                    zipkin::start(port)?;
                    println!("Zipkin at {}", zipkin::url(port));
                }
                ZipkinCmd::Stop => {
                    if !zipkin::stop(port)? {
                        println!("no Zipkin of ours on port {port}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Test { args } => {
            let brokers = brokers()?;
            chromium::ensure()?;
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
            run_forwarding_exit(cmd, &root, &brokers)
        }
        Cmd::Demo { args } => {
            let brokers = brokers()?;
            // The demo's closing lines name `target/release/rebound`; build it beside the mailer.
            let mut build = cargo();
            build.args([
                "build",
                "--locked",
                "--release",
                "-p",
                "mailer",
                "-p",
                "rebound-cli",
            ]);
            let built = run_forwarding_exit(build, &root, &brokers)?;
            if built != ExitCode::SUCCESS {
                return Ok(built);
            }
            let mut cmd = Command::new(target_dir(&root).join("release/mailer"));
            cmd.arg("demo").args(&args);
            // The services export their spans to the project's Zipkin, and the demo ends with
            // the dead e-mails' trace URLs; without Zipkin the story runs untraced.
            if std::env::var_os("REBOUND_ZIPKIN_URL").is_none() {
                match zipkin::configured_port().and_then(|port| {
                    zipkin::start(port)?;
                    Ok(zipkin::url(port))
                }) {
                    Ok(url) => {
                        cmd.env("REBOUND_ZIPKIN_URL", url);
                    }
                    Err(e) => eprintln!(
                        "xtask: Zipkin did not start ({e:#}); the demo runs without traces"
                    ),
                }
            }
            run_forwarding_exit(cmd, &root, &brokers)
        }
        Cmd::PublicApi { bless } => {
            public_api::check(&root, &target_dir(&root), bless)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { args } => {
            let brokers = brokers()?;
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
            let built = run_forwarding_exit(build, &root, &brokers)?;
            if built != ExitCode::SUCCESS {
                return Ok(built);
            }
            let mut cmd = Command::new(target_dir(&root).join("release/rebound-bench"));
            cmd.args(&args);
            run_forwarding_exit(cmd, &root, &brokers)
        }
    }
}

/// The cluster to use: `KAFKA_BROKERS` when set (no broker is started), else the project's
/// running broker, else a single node started now.
fn brokers() -> Result<String> {
    if let Some(brokers) = std::env::var("KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        eprintln!("xtask: KAFKA_BROKERS is set; using {brokers} and starting no broker");
        return Ok(brokers);
    }
    let daemon = match Daemon::running()? {
        Some(daemon) => daemon,
        None => Daemon::configured(1)?,
    };
    daemon.start()?;
    Ok(daemon.bootstrap())
}

fn target_dir(root: &std::path::Path) -> PathBuf {
    root.join(
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| "target".into()),
    )
}

/// Runs `cmd` in the workspace root with `KAFKA_BROKERS` set to `brokers`, and returns its exit
/// code.
fn run_forwarding_exit(
    mut cmd: Command,
    root: &std::path::Path,
    brokers: &str,
) -> Result<ExitCode> {
    cmd.current_dir(root).env("KAFKA_BROKERS", brokers);
    eprintln!(
        "xtask: running {} (KAFKA_BROKERS={brokers})",
        describe(&cmd)
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
