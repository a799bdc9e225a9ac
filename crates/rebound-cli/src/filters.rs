//! The selection flags shared by `dlt list`, `redrive`, `discard`, `archive` and `stats`.

use anyhow::{anyhow, Context};
use clap::Args;
use rebound::EpochMillis;
use rebound_ops::{parse_time_bound_now, Filter, Position, Status};

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
            since: time_bound("since", self.since.as_deref())?,
            until: time_bound("until", self.until.as_deref())?,
            status: self.status,
            positions: self.positions.clone(),
            origin: self.origin.clone(),
            fingerprint: self.fingerprint.clone(),
            limit: self.limit,
        })
    }
}

/// `--since` or `--until` (`flag`), read by the one rule ([`rebound_ops::parse_time_bound`]);
/// the error names the flag.
fn time_bound(flag: &str, text: Option<&str>) -> anyhow::Result<Option<EpochMillis>> {
    text.map(|text| parse_time_bound_now(text).map_err(|e| anyhow!("--{flag} {e}")))
        .transpose()
}

pub use rebound_ops::describe::format_time;
