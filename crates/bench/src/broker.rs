//! `--private-broker`: a fresh broker of the benchmark's own (the flavour of `REBOUND_BROKER`:
//! Apache Kafka by default, or Tansu), on free ports, deleted when the benchmark ends.
//!
//! Why: a broker that served a day of tests measures its own history. On Tansu 0.6.0 that is
//! acute: its SQLite schema has no index on `header (topition, offset_id)` and its fetch looks up
//! the headers of every record it returns, so each read scans the whole header table. On Tansu the
//! private broker gets that one index (`--no-header-index` leaves Tansu as it ships), so the
//! benchmark measures the clients.

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Result};
use test_broker::{Flavor, PrivateCluster};

pub struct PrivateBroker {
    cluster: PrivateCluster,
    pub address: String,
    header_index: bool,
}

impl PrivateBroker {
    pub fn start(header_index: bool) -> Result<PrivateBroker> {
        let cluster = PrivateCluster::start(1)?;
        let broker = PrivateBroker {
            address: cluster.bootstrap(),
            header_index: header_index && cluster.layout().flavor == Flavor::Tansu,
            cluster,
        };
        if broker.header_index {
            broker.add_header_index()?;
        }
        Ok(broker)
    }

    /// What runs, for the report's header.
    pub fn describe(&self) -> String {
        match self.cluster.layout().flavor {
            Flavor::Kafka => format!(
                "Apache Kafka {} (one KRaft node, data in {})",
                test_broker::kafka::version().unwrap_or_default(),
                self.cluster.layout().dir.display()
            ),
            Flavor::Tansu => format!(
                "Tansu {} (SQLite, data in {}){}",
                test_broker::tansu::VERSION,
                self.cluster.layout().dir.display(),
                if self.header_index {
                    ", with the index `header (topition, offset_id)` added"
                } else {
                    ", schema as shipped"
                }
            ),
        }
    }

    /// `create index header_topition_offset on header (topition, offset_id)`, with the sqlite3
    /// command (the schema exists once the broker listens).
    fn add_header_index(&self) -> Result<()> {
        let db = self.cluster.layout().nodes[0].dir.join("tansu.db");
        let sql =
            "create index if not exists header_topition_offset on header (topition, offset_id);";
        let mut last = String::new();
        for _ in 0..50 {
            match Command::new("sqlite3").arg(&db).arg(sql).output() {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => last = String::from_utf8_lossy(&out.stderr).into_owned(),
                Err(e) => bail!("the sqlite3 command is needed to add the header index ({e}); or pass --no-header-index"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("could not add the header index: {last}")
    }
}
