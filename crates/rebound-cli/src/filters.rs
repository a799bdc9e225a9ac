//! The selection flags shared by `dlt list`, `redrive`, `discard`, `archive` and `stats`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use clap::Args;
use rebound::EpochMillis;
use rebound_ops::{Filter, Position, Status};

#[derive(Args, Debug, Clone, Default)]
pub struct Selection {
    /// Only dead letters with this exact key (the scenario keys e-mails by recipient).
    #[arg(long)]
    pub key: Option<String>,
    /// Only dead letters whose failure message matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub error: Option<String>,
    /// Only dead letters that died at or after this time: RFC 3339 (2026-11-28T09:00:00Z) or an
    /// age (30m, 2h, 1d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only dead letters that died before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only dead letters in this state: pending, redriven or discarded.
    #[arg(long)]
    pub status: Option<Status>,
    /// Only dead letters sent to the DLT from this original topic (their provenance headers).
    #[arg(long, value_name = "TOPIC")]
    pub origin: Option<String>,
    /// Only dead letters whose failure message has this fingerprint: one group of `dlt stats`
    /// (`<n> mailbox busy`), as the web console groups them.
    #[arg(long, value_name = "TEXT")]
    pub fingerprint: Option<String>,
    /// Only these dead letters, by partition@offset (repeatable).
    #[arg(long = "at", value_name = "P@O")]
    pub positions: Vec<Position>,
    /// At most this many, oldest first.
    #[arg(long)]
    pub limit: Option<usize>,
}

impl Selection {
    pub fn filter(&self) -> anyhow::Result<Filter> {
        Ok(Filter {
            key: self.key.clone(),
            error: self
                .error
                .as_deref()
                .map(regex::Regex::new)
                .transpose()
                .context("--error is not a valid regular expression")?,
            since: self.since.as_deref().map(parse_time).transpose()?,
            until: self.until.as_deref().map(parse_time).transpose()?,
            status: self.status,
            positions: self.positions.clone(),
            origin: self.origin.clone(),
            fingerprint: self.fingerprint.clone(),
            limit: self.limit,
        })
    }
}

/// RFC 3339, or an age before now.
pub fn parse_time(text: &str) -> anyhow::Result<EpochMillis> {
    let time = match humantime::parse_rfc3339_weak(text) {
        Ok(time) => time,
        Err(_) => {
            let age: Duration = humantime::parse_duration(text).map_err(|_| {
                anyhow!("`{text}` is neither a time (2026-11-28T09:00:00Z) nor an age (2h)")
            })?;
            SystemTime::now() - age
        }
    };
    Ok(EpochMillis::new(
        time.duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    ))
}

pub use rebound_ops::describe::format_time;
