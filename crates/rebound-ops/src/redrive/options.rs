//! How a redrive runs: its knobs and their defaults.

use crate::id::Source;

use super::Canary;

/// How a redrive runs. [`RedriveOptions::new`] gives the defaults; the fields are the knobs.
#[derive(Debug, Clone)]
pub struct RedriveOptions {
    /// Send here instead of each dead letter's original topic.
    pub to: Option<String>,
    /// Plan only: report what would be sent, write nothing (not even a claim).
    pub dry_run: bool,
    /// Records per second, at most.
    pub rate: Option<f64>,
    /// Redrive dead letters already redriven (and poison loops).
    pub force: bool,
    /// Who runs it, for the ledger and the headers.
    pub by: String,
    /// A dead letter redriven this many times already is a poison loop: skipped unless forced.
    pub poison_after: u32,
    /// Read from the archive of discarded dead letters instead of the DLT.
    pub source: Source,
    /// Start small: send the first few, then wait while watching the DLT before sending the
    /// rest (and pause then if [`pause_above`](Self::pause_above) says so).
    pub canary: Option<Canary>,
    /// Pause when more than this share (0 to 1) of the copies sent so far came back to the DLT:
    /// nothing more is sent and the rest are released, the reason in each ledger entry. Counted
    /// in the DLT being redriven from, so copies sent `--to` another chain come back elsewhere
    /// and are not counted.
    pub pause_above: Option<f64>,
}

impl RedriveOptions {
    /// A redrive run by `by` (who, for the ledger and the copies' headers: the library does not
    /// guess it from the environment, its caller knows who is acting): from the DLT, back to each
    /// dead letter's original topic, as fast as the cluster acknowledges, skipping what was
    /// redriven already and poison loops (3 redrives).
    pub fn new(by: impl Into<String>) -> Self {
        RedriveOptions {
            to: None,
            dry_run: false,
            rate: None,
            force: false,
            by: by.into(),
            poison_after: 3,
            source: Source::Dlt,
            canary: None,
            pause_above: None,
        }
    }
}
