//! The three ways a failure is routed, and their names in the `rebound-failure-class` header.

use std::fmt;

/// How a failure is routed. Serialized as [`FailureClass::as_str`] writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureClass {
    /// Might work later: retried (blocking retries, then the retry topics).
    Transient,
    /// Will never work: straight to the dead-letter topic.
    Permanent,
    /// The payload could not be decoded: straight to the dead-letter topic.
    Undecodable,
}

impl FailureClass {
    /// The lower-case name written in the `rebound-failure-class` header.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Transient => "transient",
            FailureClass::Permanent => "permanent",
            FailureClass::Undecodable => "undecodable",
        }
    }

    /// Whether records failing this way go through the retry topics.
    pub fn is_retryable(self) -> bool {
        self == FailureClass::Transient
    }
}

impl std::str::FromStr for FailureClass {
    type Err = UnknownFailureClass;

    /// Reads what [`FailureClass::as_str`] writes (the `rebound-failure-class` header).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "transient" => Ok(FailureClass::Transient),
            "permanent" => Ok(FailureClass::Permanent),
            "undecodable" => Ok(FailureClass::Undecodable),
            other => Err(UnknownFailureClass(other.to_string())),
        }
    }
}

/// A failure class name this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown failure class `{0}` (transient, permanent, undecodable)")]
pub struct UnknownFailureClass(pub String);

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
