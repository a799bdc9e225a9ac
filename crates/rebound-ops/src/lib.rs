//! # rebound-ops: operating dead letters
//!
//! What a person on call does with a retry chain, as a library: list, show, redrive, discard and
//! archive dead letters, count them, follow a DLT live, and find the chains on a cluster. The
//! `rebound` command is a thin face over this crate, so a web console can be another; a consumer
//! service depends on `rebound` alone and carries none of this.
//!
//! Handling state lives in Kafka, in a ledger topic beside each DLT (see [`ledger`]), so every
//! operator on every machine sees the same state and no database is needed.
//!
//! ```no_run
//! use rebound::KafkaConfig;
//! use rebound_ops::{Filter, Source};
//!
//! # fn main() -> Result<(), rebound_ops::Error> {
//! let kafka = KafkaConfig::from_env();
//! for listed in rebound_ops::list(&kafka, "email.send.dlt", Source::Dlt, &Filter::default())? {
//!     let dead_letter = &listed.dead_letter;
//!     println!("{} {} {}", dead_letter.position(), listed.status.as_str(), dead_letter.error_message());
//! }
//! # Ok(())
//! # }
//! ```

pub mod dead_letter;
pub mod discard;
mod error;
pub mod ledger;
pub mod reader;
pub mod redrive;
pub mod stats;
pub mod topics;
mod write;

use std::collections::HashMap;

use regex::Regex;

pub use dead_letter::{DeadLetter, Position, Status};
pub use error::Error;
pub use ledger::{History, Ledger};

use rebound::{EpochMillis, KafkaConfig};

/// Which dead letters an operation applies to. Every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Exact record key.
    pub key: Option<String>,
    /// Matched against the failure message.
    pub error: Option<Regex>,
    /// Died at or after.
    pub since: Option<EpochMillis>,
    /// Died before.
    pub until: Option<EpochMillis>,
    pub status: Option<Status>,
    /// Only these positions.
    pub positions: Vec<Position>,
    /// At most this many (the oldest first).
    pub limit: Option<usize>,
}

impl Filter {
    fn matches(&self, listed: &Listed) -> bool {
        let dl = &listed.dead_letter;
        let key_ok = self
            .key
            .as_deref()
            .is_none_or(|k| dl.record.key() == Some(k.as_bytes()));
        let error_ok = self
            .error
            .as_ref()
            .is_none_or(|re| re.is_match(dl.error_message()));
        let died = dl.died_at().unwrap_or_default();
        let since_ok = self.since.is_none_or(|t| died >= t);
        let until_ok = self.until.is_none_or(|t| died < t);
        let status_ok = self.status.is_none_or(|s| s == listed.status);
        let position_ok = self.positions.is_empty() || self.positions.contains(&dl.position());
        key_ok && error_ok && since_ok && until_ok && status_ok && position_ok
    }
}

/// A dead letter with its handling state.
#[derive(Debug, Clone)]
pub struct Listed {
    pub dead_letter: DeadLetter,
    pub status: Status,
    pub history: History,
    /// Its key in the ledger: `p@o`, or `archive:p@o` for an archived copy.
    pub ledger_key: String,
}

/// Where dead letters are read from: the DLT itself, or the archive of discarded ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    #[default]
    Dlt,
    Archive,
}

/// The dead letters of `dlt` (or of its archive) that `filter` selects, oldest first.
pub fn list(
    kafka: &KafkaConfig,
    dlt: &str,
    source: Source,
    filter: &Filter,
) -> Result<Vec<Listed>, Error> {
    let ledger = Ledger::read(kafka, dlt)?;
    let histories = ledger.histories();
    list_with(kafka, dlt, source, filter, &histories)
}

pub(crate) fn list_with(
    kafka: &KafkaConfig,
    dlt: &str,
    source: Source,
    filter: &Filter,
    histories: &HashMap<String, History>,
) -> Result<Vec<Listed>, Error> {
    let (topic, prefix) = match source {
        Source::Dlt => (dlt.to_string(), ""),
        Source::Archive => (rebound::naming::archive_topic(dlt), "archive:"),
    };
    let mut listed: Vec<Listed> = reader::read_to_end(kafka, &topic)?
        .into_iter()
        .map(|record| {
            let dead_letter = DeadLetter::from_record(record);
            let ledger_key = format!("{prefix}{}", dead_letter.position());
            let history = histories.get(&ledger_key).cloned().unwrap_or_default();
            Listed {
                status: history.status(),
                dead_letter,
                history,
                ledger_key,
            }
        })
        .filter(|l| filter.matches(l))
        .collect();
    listed.sort_by_key(|l| {
        (
            l.dead_letter.died_at().unwrap_or_default(),
            l.dead_letter.position(),
        )
    });
    if let Some(limit) = filter.limit {
        listed.truncate(limit);
    }
    Ok(listed)
}

/// One dead letter by position, whatever its state.
pub fn show(
    kafka: &KafkaConfig,
    dlt: &str,
    source: Source,
    position: Position,
) -> Result<Listed, Error> {
    let filter = Filter {
        positions: vec![position],
        ..Filter::default()
    };
    list(kafka, dlt, source, &filter)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::NotFound {
            topic: dlt.to_string(),
            position,
        })
}

/// `user@host` of whoever runs the operation, for the ledger.
pub fn operator_name() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// A fresh identifier for one run of an operation.
pub(crate) fn run_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}
