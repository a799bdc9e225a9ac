//! A dead letter as an operator sees it: the DLT record with its failure headers decoded, from
//! Rebound, from Spring's retry-topic chain (`kafka_original-*`) or Spring's plain dead-letter
//! publisher (`kafka_dlt-*`), or with no headers at all.

use std::str::FromStr;

use rebound::headers::{DeadLetterMarks, FailureInfo, Provenance};
use rebound::{EpochMillis, Record};

use crate::error::ParseError;
use crate::id::Position;

/// The handling state of a dead letter, from the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// Nobody has handled it (or a redrive of it was released unsent).
    Pending,
    /// A copy was sent back and acknowledged.
    Redriven,
    /// Archived, not to be redriven from the DLT.
    Discarded,
}

impl Status {
    /// Its name, as output and parsed: `pending`, `redriven` or `discarded`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Redriven => "redriven",
            Status::Discarded => "discarded",
        }
    }
}

impl FromStr for Status {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Status::Pending),
            "redriven" => Ok(Status::Redriven),
            "discarded" => Ok(Status::Discarded),
            other => Err(ParseError::UnknownStatus(other.to_string())),
        }
    }
}

/// A decoded dead letter.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The DLT (or archive) record as read: key, payload and every header.
    pub record: Record,
    /// Where it first came from, when the headers say.
    pub origin: Option<Provenance>,
    /// Its last failure (every field empty when the headers say nothing).
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

    /// Where it sits in the topic it was read from.
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

    /// How Rebound classed the failure (`transient`, `permanent`, …), else the failure's type
    /// (Spring's exception class), else `-`.
    pub fn error_class(&self) -> &str {
        self.failure
            .class
            .map(|class| class.as_str())
            .or(self.failure.fqcn.as_deref())
            .unwrap_or("-")
    }
}
