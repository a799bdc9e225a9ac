//! Dead-letter dialects: who wrote a dead letter, and its headers read into one view.
//!
//! Every Kafka tool that parks records writes its own headers. This module is the one place that
//! knows them (one file per writer, each with its header table) and reads any of them into the
//! same [`DialectView`]: where the record came from, how often it was delivered, the failure, when
//! it died and who failed it. Reading never fails: a header that is missing, of the wrong form or
//! not UTF-8 reads as absent and leaves a warning in [`DialectView::warnings`].
//!
//! | dialect | written by | recognised by |
//! |---|---|---|
//! | [`Dialect::Spring`] | Rebound, Spring Kafka's retry topics and its dead-letter publisher | `kafka_original-*`, `kafka_dlt-*`, `kafka_exception-*`, `retry_topic-*`, `rebound-*` |
//! | [`Dialect::Connect`] | a Kafka Connect sink with `errors.deadletterqueue.context.headers.enable` | `__connect.errors.*` |
//! | [`Dialect::ShareGroup`] | the broker, for a share group's rejected records (KIP-1191, Kafka 4.4) | `__dlq.errors.*` |
//! | [`Dialect::Streams`] | a Kafka Streams application's dead-letter handler (KIP-1034, Kafka 4.2) | `__streams.errors.*` |
//! | [`Dialect::Unknown`] | anything else: the record as it is, no failure known | none of the above |

pub mod connect;
mod decimal;
pub mod share_group;
mod spring;
pub mod streams;

use rebound::headers::{FailureInfo, Headers, Provenance};
use rebound::{EpochMillis, Record};

pub use connect::CONNECT_HEADERS;
pub use share_group::SHARE_GROUP_HEADERS;
pub use streams::STREAMS_HEADERS;

/// Who wrote a dead letter, told by its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Dialect {
    /// Rebound or Spring Kafka (`kafka_*`, `retry_topic-*`, `rebound-*`).
    Spring,
    /// A Kafka Connect sink connector's DLQ (`__connect.errors.*`).
    Connect,
    /// A share group's DLQ, written by the broker (`__dlq.errors.*`).
    ShareGroup,
    /// A Kafka Streams dead-letter handler (`__streams.errors.*`).
    Streams,
    /// No known failure headers.
    Unknown,
}

impl Dialect {
    /// Whether `record`, a dead letter read as this dialect, is a pointer to its source rather
    /// than a copy: a share group's DLQ record the broker wrote without key or value (see
    /// [`crate::pointer`]).
    pub(crate) fn is_pointer(self, record: &Record) -> bool {
        self == Dialect::ShareGroup && record.key().is_none() && record.payload().is_none()
    }

    /// Its name, as shown and parsed: `spring`, `connect`, `share-group`, `streams`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Spring => "spring",
            Dialect::Connect => "connect",
            Dialect::ShareGroup => "share-group",
            Dialect::Streams => "streams",
            Dialect::Unknown => "unknown",
        }
    }

    /// Every dialect, in the order they are tried on a record.
    pub const ALL: [Dialect; 5] = [
        Dialect::Spring,
        Dialect::Connect,
        Dialect::ShareGroup,
        Dialect::Streams,
        Dialect::Unknown,
    ];

    /// The dialect whose headers `headers` carries: that of the last header any dialect knows
    /// (the latest writer wins: a Connect DLQ copies the failed record's own headers, Spring's
    /// among them, before adding its own). A Rebound redrive's stamp counts for none.
    pub fn detect(headers: &Headers) -> Dialect {
        headers
            .iter()
            .filter_map(|h| Dialect::of_header(&h.key))
            .last()
            .unwrap_or(Dialect::Unknown)
    }

    /// The dialect a header name belongs to, if any (operators' stamps belong to none).
    pub fn of_header(key: &str) -> Option<Dialect> {
        if CONNECT_HEADERS.contains(&key) {
            Some(Dialect::Connect)
        } else if SHARE_GROUP_HEADERS.contains(&key) {
            Some(Dialect::ShareGroup)
        } else if STREAMS_HEADERS.contains(&key) {
            Some(Dialect::Streams)
        } else if spring::is_spring_header(key) {
            Some(Dialect::Spring)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Dialect {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                format!("unknown dialect {s:?} (spring, connect, share-group, streams, unknown)")
            })
    }
}

/// Who failed a record: a consumer group, a connector (and its task) or a Streams application.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Owner {
    /// A consumer group (Spring) or a share group.
    Group {
        /// The group id.
        name: String,
    },
    /// A Kafka Connect connector.
    Connector {
        /// The connector's name.
        name: String,
        /// The task that failed the record, when the headers say.
        task: Option<String>,
        /// The stage that failed (`VALUE_CONVERTER`, `TASK_PUT`, …), when the headers say.
        stage: Option<String>,
    },
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Group { name } => write!(f, "group {name}"),
            Owner::Connector { name, task, stage } => {
                write!(f, "connector {name}")?;
                if let Some(task) = task {
                    write!(f, " task {task}")?;
                }
                if let Some(stage) = stage {
                    write!(f, " at {stage}")?;
                }
                Ok(())
            }
        }
    }
}

/// A dead letter's headers read in its dialect: the same fields whoever wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialectView {
    /// Who wrote it.
    pub dialect: Dialect,
    /// Where it first came from, when the headers say (a topic at least).
    pub origin: Option<Provenance>,
    /// Its failure (every field empty when the headers say nothing).
    pub failure: FailureInfo,
    /// Deliveries made before it died (Spring's attempts, a share group's delivery count).
    pub attempts: Option<u32>,
    /// When it died, when the headers say (else the record's timestamp is the best guess).
    pub died_at: Option<EpochMillis>,
    /// Who failed it.
    pub owner: Option<Owner>,
    /// What could not be read, one line each (a header missing, malformed or not UTF-8).
    pub warnings: Vec<String>,
}

impl DialectView {
    /// Reads `headers` in their own dialect ([`Dialect::detect`]).
    pub fn read(headers: &Headers) -> DialectView {
        DialectView::read_as(Dialect::detect(headers), headers)
    }

    /// Reads `headers` as `dialect`, whatever they carry.
    pub fn read_as(dialect: Dialect, headers: &Headers) -> DialectView {
        let mut view = match dialect {
            Dialect::Spring => spring::read(headers),
            Dialect::Connect => connect::read(headers),
            Dialect::ShareGroup => share_group::read(headers),
            Dialect::Streams => streams::read(headers),
            Dialect::Unknown => DialectView::empty(Dialect::Unknown),
        };
        view.dialect = dialect;
        view
    }

    fn empty(dialect: Dialect) -> DialectView {
        DialectView {
            dialect,
            origin: None,
            failure: FailureInfo::default(),
            attempts: None,
            died_at: None,
            owner: None,
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
