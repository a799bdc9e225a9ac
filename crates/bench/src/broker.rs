//! `--private-broker`: a fresh Tansu 0.6.0 (SQLite) of the benchmark's own, on a free port, with
//! its data in `target/bench-broker/`, stopped when the benchmark ends.
//!
//! Why: Tansu 0.6.0's SQLite schema has no index on `header (topition, offset_id)`, and its fetch
//! looks up the headers of every record it returns, so each record read scans the whole header
//! table: reads slow down with every header ever stored on the broker. On the shared test broker
//! (a day of tests) that makes a benchmark measure the broker's history, and its long fetches
//! stall the broker for everyone (its storage serves one request at a time). A fresh broker with
//! that one index added measures the clients. `--no-header-index` leaves Tansu as it ships.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub struct PrivateBroker {
    child: Child,
    pub address: String,
    pub dir: PathBuf,
}

fn tansu() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    cargo_home
        .map(|h| h.join("bin").join("tansu"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("tansu"))
}

/// `target/bench-broker` of the workspace this binary was built in.
fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-broker")
}

impl PrivateBroker {
    pub fn start(header_index: bool) -> Result<PrivateBroker> {
        let dir = default_dir();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        for entry in std::fs::read_dir(&dir)?.flatten() {
            if entry.file_name().to_string_lossy().starts_with("tansu.db") {
                std::fs::remove_file(entry.path())?;
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("tansu.log"))?;
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("could not start tansu (install it with `cargo xtask broker start`)")?;
        let mut broker = PrivateBroker {
            child,
            address: format!("127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = broker.child.try_wait()? {
                bail!(
                    "the private broker exited ({status}); see {}/tansu.log",
                    broker.dir.display()
                );
            }
            if Instant::now() > deadline {
                bail!("the private broker did not listen within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if header_index {
            broker.add_header_index()?;
        }
        Ok(broker)
    }

    /// `create index header_topition_offset on header (topition, offset_id)`, with the sqlite3
    /// command (the schema exists once the broker listens).
    fn add_header_index(&mut self) -> Result<()> {
        let sql =
            "create index if not exists header_topition_offset on header (topition, offset_id);";
        let mut last = String::new();
        for _ in 0..50 {
            match Command::new("sqlite3")
                .arg(self.dir.join("tansu.db"))
                .arg(sql)
                .output()
            {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => last = String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => bail!("the sqlite3 command is needed to add the header index ({e}); or pass --no-header-index"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("could not add the header index: {last}")
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
