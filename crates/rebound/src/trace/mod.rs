//! Tracing: one span per delivery attempt, and the W3C trace context carried onto every copy.
//!
//! [`traceparent`] is the header logic, always built (pure functions, no tracer). The spans
//! themselves exist only with the `opentelemetry` cargo feature: `AttemptSpan` is then a span
//! of OpenTelemetry's global tracer (the service installs the SDK and its exporter before the
//! consumer runs: the consumer looks once, and with no SDK behind the global tracer it makes no
//! spans at all), and without the feature a zero-sized type whose methods do nothing, so the
//! engine's call sites compile away. Without spans a copy keeps the record's headers as they
//! were.
//!
//! See ARCHITECTURE.md, "Tracing", for the span's attributes and the parent/child rules.

pub mod traceparent;

#[cfg(feature = "opentelemetry")]
mod attempt;
#[cfg(not(feature = "opentelemetry"))]
mod disabled;

#[cfg(feature = "opentelemetry")]
pub use attempt::sdk_behind;
#[cfg(feature = "opentelemetry")]
pub(crate) use attempt::{AttemptSpan, Tracer};
#[cfg(not(feature = "opentelemetry"))]
pub(crate) use disabled::{AttemptSpan, Tracer};

/// How an attempt ended, written as the span's `rebound.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The handler succeeded.
    Handled,
    /// Copied to a retry topic (`rebound.next_topic` names it).
    Retried,
    /// Copied to a dead-letter topic.
    DeadLettered,
    /// Failed with nowhere to go (no DLT): skipped.
    Dropped,
    /// The dead-letter hook took a record of the DLT.
    DeadLetterHandled,
}

impl Outcome {
    /// The attribute's value.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Handled => "handled",
            Outcome::Retried => "retried",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Dropped => "dropped",
            Outcome::DeadLetterHandled => "dead_letter_handled",
        }
    }
}
