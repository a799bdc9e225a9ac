//! A dead letter as an operator sees it: the DLT record with its failure headers decoded in
//! whichever dialect wrote them ([`crate::dialect`]: Rebound and Spring, Kafka Connect, a share
//! group's broker, Kafka Streams), or with no known headers at all.

use std::str::FromStr;

use rebound::headers::{DeadLetterMarks, FailureInfo, Provenance};

use crate::dialect::{Dialect, DialectView, Owner};
use rebound::{EpochMillis, Record};

use crate::id::Position;
use crate::parse_error::ParseError;

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
    /// Why its payload is missing, when the DLT refused the full copy or the record is a
    /// share-group pointer whose source is gone (it cannot be redriven).
    pub payload_omitted: Option<String>,
    /// Who wrote it.
    pub dialect: Dialect,
    /// Who failed it: a group, a connector, when the headers say.
    pub owner: Option<Owner>,
    /// When it died, when the headers say (Rebound's `rebound-failed-at`); else see [`Self::died_at`].
    pub failed_at: Option<EpochMillis>,
    /// What in its headers could not be read (missing, malformed, not UTF-8), one line each.
    pub warnings: Vec<String>,
    /// For a share-group DLQ record: the source record it points at or copies, once
    /// [`crate::pointer::resolve`] found it (redrive then sends the source, headers and all).
    pub source: Option<Record>,
}

impl DeadLetter {
    /// Decodes the headers of a DLT (or archive) record, in its own dialect.
    pub fn from_record(record: Record) -> DeadLetter {
        let headers = record.headers();
        let marks = DeadLetterMarks::read(headers);
        let view = DialectView::read(headers);
        if !view.warnings.is_empty() {
            tracing::warn!(
                topic = record.topic(),
                partition = record.partition(),
                offset = record.offset(),
                dialect = view.dialect.as_str(),
                "dead letter headers partly unreadable: {}",
                view.warnings.join("; ")
            );
        }
        let payload_omitted = marks.payload_omitted.or_else(|| {
            view.dialect.is_pointer(&record).then(|| {
                "a share-group pointer: its source record has not been read yet".to_string()
            })
        });
        DeadLetter {
            origin: view.origin,
            failure: view.failure,
            attempts: view.attempts,
            first_failed_at: marks.first_failed_at,
            redrive_count: marks.redrive_count,
            payload_omitted,
            dialect: view.dialect,
            owner: view.owner,
            failed_at: view.died_at,
            warnings: view.warnings,
            source: None,
            record,
        }
    }

    /// The record a redrive sends: the resolved source of a share-group dead letter, else the
    /// dead letter's own record.
    pub fn body(&self) -> &Record {
        self.source.as_ref().unwrap_or(&self.record)
    }

    /// Where it sits in the topic it was read from.
    pub fn position(&self) -> Position {
        Position {
            partition: self.record.partition(),
            offset: self.record.offset(),
        }
    }

    /// When it died: what its headers say, else the DLT record's timestamp (which for Kafka
    /// Connect and Streams is the failed record's own timestamp: they copy it).
    pub fn died_at(&self) -> Option<EpochMillis> {
        self.failed_at.or_else(|| self.record.timestamp())
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
