//! A dead letter as an operator sees it: the DLT record with its failure headers decoded, from
//! Rebound, from Spring's retry-topic chain (`kafka_original-*`) or Spring's plain dead-letter
//! publisher (`kafka_dlt-*`), or with no headers at all.

use std::fmt;
use std::str::FromStr;

use rebound::headers::{DeadLetterMarks, FailureInfo, Provenance};
use rebound::{EpochMillis, Record};

/// Where a dead letter sits in its DLT: `partition@offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.partition, self.offset)
    }
}

impl FromStr for Position {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (p, o) = s
            .split_once('@')
            .ok_or_else(|| format!("`{s}` is not partition@offset (example: 0@17)"))?;
        Ok(Position {
            partition: p
                .trim()
                .parse()
                .map_err(|_| format!("bad partition in `{s}`"))?,
            offset: o
                .trim()
                .parse()
                .map_err(|_| format!("bad offset in `{s}`"))?,
        })
    }
}

/// The handling state of a dead letter, from the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Redriven,
    Discarded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Redriven => "redriven",
            Status::Discarded => "discarded",
        }
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Status::Pending),
            "redriven" => Ok(Status::Redriven),
            "discarded" => Ok(Status::Discarded),
            other => Err(format!(
                "unknown status `{other}` (pending, redriven, discarded)"
            )),
        }
    }
}

/// A decoded dead letter.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub record: Record,
    pub origin: Option<Provenance>,
    pub failure: FailureInfo,
    /// Deliveries made before it died, when the headers say.
    pub attempts: Option<u32>,
    /// When it first failed, when the headers say.
    pub first_failed_at: Option<EpochMillis>,
    /// How many times it was redriven before.
    pub redrive_count: u32,
    /// Why its payload is missing, when the DLT refused the full copy (it cannot be redriven).
    pub payload_omitted: Option<String>,
}

impl DeadLetter {
    /// Decodes the headers of a DLT (or archive) record.
    pub fn from_record(record: Record) -> DeadLetter {
        let headers = record.headers();
        let marks = DeadLetterMarks::read(headers);
        DeadLetter {
            origin: Provenance::read(headers),
            failure: FailureInfo::read(headers),
            attempts: marks.deliveries,
            first_failed_at: marks.first_failed_at,
            redrive_count: marks.redrive_count,
            payload_omitted: marks.payload_omitted,
            record,
        }
    }

    pub fn position(&self) -> Position {
        Position {
            partition: self.record.partition(),
            offset: self.record.offset(),
        }
    }

    /// When it reached the DLT: the DLT record's timestamp.
    pub fn died_at(&self) -> Option<EpochMillis> {
        self.record.timestamp()
    }

    /// The failure message, or a placeholder when the record carries none.
    pub fn error_message(&self) -> &str {
        self.failure
            .message
            .as_deref()
            .unwrap_or("(no failure headers)")
    }

    pub fn error_class(&self) -> &str {
        self.failure
            .class
            .map(|class| class.as_str())
            .or(self.failure.fqcn.as_deref())
            .unwrap_or("-")
    }
}
